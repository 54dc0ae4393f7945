"""The deck's two computational graphs (the worked example, one neuron) and :func:`graph`.

Each graph is defined here as trusted ops (:class:`commands.compgraph.GraphSpec`); the student's
functions are called only through a :class:`grader.api.Runner` (the sandbox, or the
reference solutions in this process with ``reference=True``) and their results mapped onto it:

worked example  ``forward`` -> values of z, h, y_in, y; ``loss`` -> L; ``output_deltas`` ->
                dL/dy_in; ``grad_V`` and ``gradient_vector`` -> dL/dv; ``grad_h`` -> dL/dh;
                ``gradient_vector`` -> dL/dw (slide order w11, w21, w12, w22, v11, v12, v21,
                v22)
neuron          ``forward`` -> z, a; ``cost`` -> C0; ``chain_factors`` -> the edges w->z,
                z->a, a->C0 (and dC0/da); ``backward`` -> dC0/dw, dC0/db, dC0/da_prev
"""

from __future__ import annotations

import ast
import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from grader.api import (
    Course,
    InProcess,
    Runner,
    SandboxCrash,
    StudentError,
    StudentTimeout,
    UsageError,
    locate,
    open_sandbox,
)

from .compgraph import (
    ERROR,
    NOT_IMPLEMENTED,
    OK,
    ComputationalGraph,
    GraphSpec,
    Op,
    StudentResults,
    as_floats,
    assemble,
    claims,
    failed,
)

GRAPHS = {"worked-example": "worked_example", "neuron": "neuron"}
"""Graph names and the course module each one evaluates."""
NEURON_DEFAULTS = {"w": 1.5, "b": -0.5, "a_prev": 0.8, "y": 1.0}
"""The neuron graph's inputs when none are given."""
T = TypeVar("T")
SIGMA = "\u03c3"  # the Greek letter, for the edge labels


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _dot2(a: float, b: float, c: float, d: float) -> float:
    return a * b + c * d


def worked_example_spec(x: np.ndarray, t: np.ndarray, W: np.ndarray, V: np.ndarray,
                        example: int) -> GraphSpec:
    """The 2-2-2 sigmoid network of the worked example, no biases, for one example.

    Parameters
    ----------
    x, t : np.ndarray, shape (2,)
        The example's input and target.
    W, V : np.ndarray, shape (2, 2)
        The weights in the slide's indexing: W[i, j] from x_{i+1} to h_{j+1}, V[i, j] = v_{i+1,j+1}.
    example : int
        Its number (1-based), for the title.
    """
    leaves = {"x1": x[0], "x2": x[1], "t1": t[0], "t2": t[1]}
    leaves |= {f"w{i}{j}": W[i - 1, j - 1] for i in (1, 2) for j in (1, 2)}
    leaves |= {f"v{i}{j}": V[i - 1, j - 1] for i in (1, 2) for j in (1, 2)}
    ops: dict[str, Op] = {}
    for j in (1, 2):
        ops[f"z{j}"] = Op(("x1", f"w1{j}", "x2", f"w2{j}"), _dot2, (f"w1{j}", "x1", f"w2{j}", "x2"))
    for j in (1, 2):
        ops[f"h{j}"] = Op((f"z{j}",), _sigmoid, (f"{SIGMA}'(z{j})",))
    for j in (1, 2):
        ops[f"y{j}_in"] = Op(("h1", f"v1{j}", "h2", f"v2{j}"), _dot2,
                             (f"v1{j}", "h1", f"v2{j}", "h2"))
    for j in (1, 2):
        ops[f"y{j}"] = Op((f"y{j}_in",), _sigmoid, (f"{SIGMA}'(y{j}_in)",))
    for j in (1, 2):
        ops[f"e{j}"] = Op((f"y{j}", f"t{j}"), lambda y, t: y - t, ("1", "-1"))
    ops["L"] = Op(("e1", "e2"), lambda a, b: a * a + b * b, ("2 e1", "2 e2"))
    # The network's own layers are the columns; the weights sit where their edges stay clear.
    positions = {"w11": (0, 0), "w21": (0, 1), "x1": (0, 2.5), "x2": (0, 3.5), "w12": (0, 5),
                 "w22": (0, 6), "z1": (1, 1.5), "z2": (1, 4.5), "h1": (2, 1.5), "h2": (2, 4.5),
                 "v11": (3, 0), "v21": (3, 1), "v12": (3, 5), "v22": (3, 6),
                 "y1_in": (4, 1.5), "y2_in": (4, 4.5), "y1": (5, 1.5), "y2": (5, 4.5),
                 "t1": (5, 0), "t2": (5, 6), "e1": (6, 1.5), "e2": (6, 4.5), "L": (7, 3)}
    title = (f"Worked example, example {example}: x = ({x[0]:g}, {x[1]:g}), "
             f"t = ({t[0]:g}, {t[1]:g}), L = (y1 - t1)² + (y2 - t2)²")
    return GraphSpec(title, {k: float(v) for k, v in leaves.items()}, ops, "L", positions,
                     {"e1": "y1 - t1", "e2": "y2 - t2"})


def neuron_spec(w: float, b: float, a_prev: float, y: float) -> GraphSpec:
    """One sigmoid neuron: z = w a_prev + b, a = sigma(z), C0 = (a - y)²."""
    ops = {"z": Op(("w", "a_prev", "b"), lambda w_, a_, b_: w_ * a_ + b_,
                   ("a_prev", "w", "1")),
           "a": Op(("z",), _sigmoid, (f"{SIGMA}'(z)",)),
           "C0": Op(("a", "y"), lambda a_, y_: (a_ - y_) ** 2, ("2(a - y)", "-2(a - y)"))}
    positions = {"w": (0, 0), "a_prev": (0, 1.2), "b": (0, 2.4), "z": (1.3, 1.2),
                 "a": (2.6, 1.2), "y": (2.6, 2.6), "C0": (3.9, 1.2)}  # wide: the edges talk
    title = f"One neuron: w = {w:g}, b = {b:g}, a_prev = {a_prev:g}, y = {y:g}; C0 = (a - y)²"
    return GraphSpec(title, {"w": w, "b": b, "a_prev": a_prev, "y": y}, ops, "C0", positions)


def _get(runner: Runner, module: str, function: str, args: tuple[Any, ...],
         parse: Callable[[Any], T], problems: list[str], stand_in: str = "",
         ) -> tuple[T | None, str]:
    """Call the student's function and parse its result; on failure, note it in ``problems``
    and return ``(None, status)``. Only the grader's own failures propagate."""
    try:
        return parse(runner.call(module, function, args).value), OK
    except StudentError as exc:
        status, reason = (NOT_IMPLEMENTED if exc.not_implemented else ERROR), str(exc)
    except (StudentTimeout, SandboxCrash) as exc:
        status, reason = ERROR, str(exc)
    except ValueError as exc:  # the result was not what the contract says
        status, reason = ERROR, str(exc)
    problems.append(failed(f"{module}.{function}", status, reason, stand_in))
    return None, status


def _entries(value: Any, keys: tuple[str, ...], shape: tuple[int, ...]) -> list[list[float]]:
    if isinstance(value, tuple | list) and len(value) == len(keys) and keys[0].isdigit():
        items = list(value)
    elif isinstance(value, dict):
        missing = [k for k in keys if k not in value]
        if missing:
            raise ValueError(f"returned a dict without {', '.join(map(repr, missing))}")
        items = [value[k] for k in keys]
    else:
        raise ValueError(f"returned {type(value).__name__}, expected "
                         + ("a tuple" if keys[0].isdigit() else f"a dict of {', '.join(keys)}"))
    return [as_floats(v, shape) for v in items]


def _worked_example(runner: Runner, spec: GraphSpec, x: np.ndarray, t: np.ndarray,
                    W: np.ndarray, V: np.ndarray) -> StudentResults:
    m, out = "worked_example", StudentResults()
    truth, numerical = spec.forward(), spec.numerical_gradients()
    fwd, status = _get(runner, m, "forward", (x, W, V),
                       lambda v: _entries(v, ("z", "h", "y_in", "y"), (2,)), out.problems,
                       "the grader's forward values are shown and passed on")
    names = (["z1", "z2"], ["h1", "h2"], ["y1_in", "y2_in"], ["y1", "y2"])
    for i, pair in enumerate(names):
        out.values |= claims("forward", pair, fwd[i] if fwd else None, status)
    h = np.array(fwd[1] if fwd else [truth["h1"], truth["h2"]])
    y = np.array(fwd[3] if fwd else [truth["y1"], truth["y2"]])
    loss, status = _get(runner, m, "loss", (y, t), lambda v: as_floats(v, ()), out.problems)
    out.values |= claims("loss", ["L"], loss, status)
    delta, status = _get(runner, m, "output_deltas", (y, t), lambda v: as_floats(v, (2,)),
                         out.problems, "grad_V and grad_h get the numerical dL/dy_in")
    found = {"output_deltas": claims("output_deltas", ["y1_in", "y2_in"], delta, status)}
    delta_used = np.array(delta or [numerical["y1_in"], numerical["y2_in"]])
    dv, status = _get(runner, m, "grad_V", (h, delta_used), lambda v: as_floats(v, (2, 2)),
                      out.problems)
    found["grad_V"] = claims("grad_V", ["v11", "v12", "v21", "v22"], dv, status)
    dh, status = _get(runner, m, "grad_h", (V, delta_used), lambda v: as_floats(v, (2,)),
                      out.problems)
    found["grad_h"] = claims("grad_h", ["h1", "h2"], dh, status)
    vector, status = _get(runner, m, "gradient_vector", (x, t, W, V),
                          lambda v: as_floats(v, (8,)), out.problems)
    found["gradient_vector"] = claims(
        "gradient_vector", ["w11", "w21", "w12", "w22", "v11", "v12", "v21", "v22"], vector,
        status)
    for named in found.values():
        for name, claim in named.items():
            out.gradients.setdefault(name, []).append(claim)
    return out


def _neuron(runner: Runner, spec: GraphSpec) -> StudentResults:
    m, out = "neuron", StudentResults()
    w, b, a_prev, y = (spec.leaves[k] for k in ("w", "b", "a_prev", "y"))
    fwd, status = _get(runner, m, "forward", (w, b, a_prev),
                       lambda v: _entries(v, ("0", "1"), ()), out.problems,
                       "the grader's forward values are shown and passed on")
    out.values |= claims("forward", ["z", "a"], [f[0] for f in fwd] if fwd else None, status)
    a = fwd[1][0] if fwd else spec.forward()["a"]
    cost, status = _get(runner, m, "cost", (a, y), lambda v: as_floats(v, ()), out.problems)
    out.values |= claims("cost", ["C0"], cost, status)
    factors, status = _get(runner, m, "chain_factors", (w, b, a_prev, y),
                           lambda v: _entries(v, ("dz_dw", "da_dz", "dC_da"), ()),
                           out.problems)
    edges = claims("chain_factors", ["w->z", "z->a", "a->C0"],
                   [f[0] for f in factors] if factors else None, status)
    out.edges = {(k.split("->")[0], k.split("->")[1]): c for k, c in edges.items()}
    out.gradients["a"] = [edges["a->C0"]]
    grads, status = _get(runner, m, "backward", (w, b, a_prev, y),
                         lambda v: _entries(v, ("dw", "db", "da_prev"), ()), out.problems)
    named = claims("backward", ["w", "b", "a_prev"], [g[0] for g in grads] if grads else None,
                   status)
    for name, claim in named.items():
        out.gradients.setdefault(name, []).append(claim)
    return out


def provided_constants(course: Course) -> dict[str, np.ndarray]:
    """X, T, W, V of the worked example, read (never executed) from the course's solution, or
    from its stub when there are no solutions (a student release)."""
    path = course.solutions / "worked_example.py"
    if not path.is_file():
        path = course.exercises / "worked_example.py"
    found: dict[str, np.ndarray] = {}
    try:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id in ("X", "T", "W", "V")
                    and isinstance(node.value, ast.Call) and node.value.args):
                found[node.targets[0].id] = np.array(ast.literal_eval(node.value.args[0]),
                                                     dtype=np.float64)
    except (OSError, SyntaxError, ValueError) as exc:
        raise UsageError(f"cannot read the worked example's X, T, W, V from {path}: {exc}") \
            from exc
    if sorted(found) != ["T", "V", "W", "X"]:
        raise UsageError(f"{path} does not define X, T, W, V as np.array([...]) literals")
    return found


def _load(path: str | Path | None, course: str | Path | None, reference: bool,
          ) -> tuple[Course, Path]:
    if path is not None and reference:
        raise UsageError("--path and --reference exclude each other")
    loaded, folder = locate(path, course)
    if reference:
        if not loaded.solutions.is_dir():
            raise UsageError(f"no reference solutions at {loaded.solutions} (a student "
                             "release has none): drop --reference")
        return loaded, loaded.solutions
    folder = folder or loaded.exercises
    if not folder.is_dir():
        raise UsageError(f"no such folder: {folder}")
    return loaded, folder


def graph(name: str, *, example: int | None = None, reference: bool = False,
          path: str | Path | None = None, course: str | Path | None = None,
          w: float | None = None, b: float | None = None, a_prev: float | None = None,
          y: float | None = None) -> ComputationalGraph:
    """Evaluate one of the deck's computational graphs on the student's code (or the reference).

    Parameters
    ----------
    name : {"worked-example", "neuron"}
        Which graph.
    example : int, optional
        Worked example only: which training example, 1 (default) or 2 (``X[n - 1]``).
    reference : bool
        Evaluate the course's solutions instead of the student's code.
    path : str or Path, optional
        Folder of the student's modules (default: the course's ``exercises/``).
    course : str or Path, optional
        Course folder (default: found from the current folder or from ``path``).
    w, b, a_prev, y : float, optional
        Neuron only: its inputs (defaults: ``NEURON_DEFAULTS``).

    Returns
    -------
    ComputationalGraph
        ``.nodes`` (value, gradient, numerical gradient, status per node), ``.wrong`` (the
        names marked red), ``.save(path)``; it renders inline in a notebook.

    Raises
    ------
    UsageError
        Unknown graph, an option of the other graph, a bad example, a missing folder or module.
    """
    if name not in GRAPHS:
        raise UsageError(f"unknown graph {name!r}; the graphs are: {', '.join(GRAPHS)}")
    given = {"w": w, "b": b, "a_prev": a_prev, "y": y}
    if name == "worked-example" and any(v is not None for v in given.values()):
        raise UsageError("--w, --b, --a-prev and --y belong to the neuron graph")
    if name == "neuron" and example is not None:
        raise UsageError("--example belongs to the worked-example graph")
    loaded, folder = _load(path, course, reference)
    module = GRAPHS[name]
    if not (folder / f"{module}.py").is_file():
        raise UsageError(f"no {module}.py in {folder}")
    if name == "worked-example":
        constants = provided_constants(loaded)
        n = 1 if example is None else example
        if not 1 <= n <= len(constants["X"]):
            raise UsageError(f"--example is 1 to {len(constants['X'])}, not {n}")
        x, t = constants["X"][n - 1], constants["T"][n - 1]
        spec = worked_example_spec(x, t, constants["W"], constants["V"], n)
    else:
        spec = neuron_spec(**{k: float(NEURON_DEFAULTS[k] if v is None else v)
                              for k, v in given.items()})
    whose = ("the reference solutions" if reference else "your code") + f" in {folder}"
    with _runner(loaded, folder, reference) as runner:
        if name == "worked-example":
            results = _worked_example(runner, spec, x, t, constants["W"], constants["V"])
        else:
            results = _neuron(runner, spec)
    return assemble(spec, results, whose)


@contextlib.contextmanager
def _runner(course: Course, folder: Path, reference: bool) -> Iterator[Runner]:
    """The sandbox on the student's folder, or the reference solutions in this process."""
    if reference:
        yield InProcess(course.reference(), course.limits)
        return
    with open_sandbox(course, folder) as sandbox:
        yield sandbox
