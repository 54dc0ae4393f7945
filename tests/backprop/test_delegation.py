"""Can a function earn points by handing its work to a sibling that the grader swaps for the
reference? Each submission here is graded by the real CLI (``python -m grader grade``) in a
real process, on real folders built from the course's own stubs.

Isolation swaps a function's *declared calls* (``[calls]`` of ``course.toml``) for the
reference; the course is tested for delegation as a whole, generated from the course rather
than hand-listed: for every contract function, submissions that implement nothing but
delegation to each sibling of the same arity (rings of them: every function of every module
delegates at once) must earn nothing for it.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.course.config import load_course
from grader.engine import results

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Signature:
    """A contract function's parameters, from its stub."""

    module: str
    name: str
    params: tuple[str, ...]
    required: int

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}"


def signatures(root: Path = ROOT) -> dict[str, Signature]:
    """Every contract function of the course at ``root``, by qualified name, in course order."""
    course = load_course(root)
    found: dict[str, Signature] = {}
    for module in course.modules:
        tree = ast.parse((course.exercises / f"{module}.py").read_text(encoding="utf-8"))
        nodes = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        for name in course.functions(module):
            args = nodes[name].args
            params = tuple(a.arg for a in args.posonlyargs + args.args)
            found[f"{module}.{name}"] = Signature(module, name, params,
                                                  len(params) - len(args.defaults))
    return found


def with_bodies(source: str, bodies: dict[str, str], header: str = "") -> str:
    """``source`` (a stub module) with the body of each function named in ``bodies`` replaced
    (its docstring kept), and ``header`` inserted after the module docstring."""
    tree = ast.parse(source)
    lines = source.splitlines()
    for node in sorted((n for n in tree.body if isinstance(n, ast.FunctionDef)
                        and n.name in bodies), key=lambda n: -n.lineno):
        body = node.body
        first = body[1] if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(
            body[0].value, ast.Constant) else body[0]
        end = node.end_lineno or node.lineno
        code = [f"    {line}" if line else "" for line in bodies[node.name].splitlines()]
        lines[first.lineno - 1:end] = code
    if header:
        doc = tree.body[0]
        at = doc.end_lineno if isinstance(doc, ast.Expr) and isinstance(
            doc.value, ast.Constant) else 0
        lines[at:at] = ["", *header.splitlines()]
    return "\n".join(lines) + "\n"


def grade(class_dir: Path, out: Path, *, root: Path = ROOT, code: int = 0) -> dict[str, dict]:
    """Grade every submission folder of ``class_dir`` with the real CLI; results by student.
    ``code`` is the exit code expected (1 where a test of the course is at fault)."""
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(class_dir), "--out", str(out),
         "--jobs", "2", "--course", str(root)],
        capture_output=True, text=True, timeout=900, cwd=root)
    assert proc.returncode == code, proc.stderr[-3000:]
    return {r["student"]: dict(r) for r in results.load_all(out)}


def earned(result: dict, qualified: str) -> float:
    """Points a result earned in the tests of one function (``"layer.backward"``)."""
    module, _, function = qualified.rpartition(".")
    return sum(t["score"] for t in result["tests"]
               if t["module"] == module and t["function"] == function)


# -- the reported attack -----------------------------------------------------------------------
ATTACK = {
    "layer": {
        "backward_loops": "return backward(W, b, a_prev, y)",
        "backward": "return backward_loops(W, b, a_prev, y)",
    },
    "worked_example": {
        "gradient_vector": (
            "g = batch_gradient(np.asarray(x)[None, :], np.asarray(t)[None, :], W, V)\n"
            "return np.concatenate([np.asarray(g['dW']).T.ravel(), np.asarray(g['dV']).ravel()])"),
        "batch_gradient": (
            "g = np.mean([gradient_vector(x, t, W, V) for x, t in zip(X, T)], axis=0)\n"
            "return {'dW': g[:4].reshape(2, 2).T, 'dV': g[4:].reshape(2, 2)}"),
    },
}
HONEST = {"layer": {"forward": "z = W @ a_prev + b\nreturn z, sigmoid(z)"}}


def honest_twin(folder: Path, root: Path = ROOT) -> Path:
    """The stubs, a correct activations.py and a correct layer.forward."""
    shutil.copytree(root / "exercises", folder)
    shutil.copy2(root / "solutions" / "activations.py", folder / "activations.py")
    layer = folder / "layer.py"
    layer.write_text(with_bodies(layer.read_text(encoding="utf-8"), HONEST["layer"]),
                     encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The honest twin and the same work plus the reported sibling delegation, graded."""
    base = tmp_path_factory.mktemp("attack")
    honest_twin(base / "class" / "honest")
    attacker = honest_twin(base / "class" / "delegating")
    for module, bodies in ATTACK.items():
        path = attacker / f"{module}.py"
        bodies = {**HONEST.get(module, {}), **bodies}
        source = (ROOT / "exercises" / f"{module}.py").read_text(encoding="utf-8")
        path.write_text(with_bodies(source, bodies), encoding="utf-8")
    return grade(base / "class", base / "out")


def test_sibling_delegation_scores_no_more_than_its_honest_twin(attack: dict[str, dict]) -> None:
    """Does backward <-> backward_loops and gradient_vector <-> batch_gradient delegation,
    with neither implemented, score exactly what the same submission scores without it?"""
    assert attack["delegating"]["score"] == attack["honest"]["score"]
    for function in ("layer.backward", "layer.backward_loops",
                     "worked_example.gradient_vector", "worked_example.batch_gradient"):
        assert earned(attack["delegating"], function) == 0, function


# -- every contract function, delegating to every sibling --------------------------------------
def delegation_plan(sigs: dict[str, Signature]) -> list[dict[str, str]]:
    """Submissions as maps function -> the sibling it delegates to.

    Siblings are the contract functions of the whole course with as many required parameters
    (four or more count as one arity, so that find_buggy_parameters has siblings too).
    Submission k makes every function of a group delegate to the k-th next one of its group
    (a shift: its cycles are rings of delegation), so that over all submissions every function
    delegates once to every sibling, while every other function delegates too.
    """
    groups: dict[int, list[str]] = defaultdict(list)
    for name, sig in sigs.items():
        groups[min(sig.required, 4)].append(name)
    plan = []
    for k in range(1, max(len(g) for g in groups.values())):
        plan.append({g[i]: g[(i + 1 + (k - 1) % (len(g) - 1)) % len(g)]
                     for g in groups.values() if len(g) > 1 for i in range(len(g))})
    return plan


def delegating_submission(folder: Path, sigs: dict[str, Signature],
                          delegate: dict[str, str], root: Path = ROOT) -> None:
    """The stubs, every function of ``delegate`` replaced by a call of its sibling with as
    many of its own arguments as the sibling takes."""
    folder.mkdir(parents=True)
    for module in load_course(root).modules:
        source = (root / "exercises" / f"{module}.py").read_text(encoding="utf-8")
        bodies, imports = {}, set()
        for name, target in delegate.items():
            sig, other = sigs[name], sigs[target]
            if sig.module != module:
                continue
            args = ", ".join(sig.params[:len(other.params)])
            call = other.name if other.module == module else f"{other.module}.{other.name}"
            if other.module != module:
                imports.add(other.module)
            bodies[sig.name] = f"return {call}({args})"
        header = "\n".join(f"import {m}" for m in sorted(imports))
        (folder / f"{module}.py").write_text(with_bodies(source, bodies, header),
                                             encoding="utf-8")


SIGNATURES = signatures()
PLAN = delegation_plan(SIGNATURES)


@pytest.fixture(scope="module")
def delegating(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every submission of the plan, graded in one run of the real CLI."""
    base = tmp_path_factory.mktemp("delegation")
    for k, delegate in enumerate(PLAN):
        delegating_submission(base / "class" / f"ring-{k:02d}", SIGNATURES, delegate)
    return grade(base / "class", base / "out")


def test_the_plan_pairs_every_function_with_every_sibling() -> None:
    """Does the generated plan make every contract function delegate to each sibling of its
    arity, in submissions where all the others delegate too?"""
    for name, sig in SIGNATURES.items():
        siblings = {n for n, s in SIGNATURES.items()
                    if min(s.required, 4) == min(sig.required, 4)} - {name}
        assert {d[name] for d in PLAN if name in d} == siblings, name
    assert len(PLAN) >= 10 and all(len(d) >= 40 for d in PLAN)


@pytest.mark.parametrize("function", list(SIGNATURES))
def test_pure_delegation_earns_nothing(delegating: dict[str, dict], function: str) -> None:
    """Does a function that only calls a sibling (the reference, where isolation swaps it in)
    earn no point, whichever sibling and whatever the others delegate to?"""
    gained = {f"ring-{k:02d} -> {d[function]}": earned(delegating[f"ring-{k:02d}"], function)
              for k, d in enumerate(PLAN) if function in d}
    assert gained, "no submission delegates it (no sibling of its arity)"
    assert all(points == 0 for points in gained.values()), gained


# -- the table itself ---------------------------------------------------------------------------
TWO_STUB = '''\
def add_one(x):
    """x + 1."""
    raise NotImplementedError


def add_two(x):
    """x + 2."""
    raise NotImplementedError
'''
TWO_SOLUTION = '''\
def add_one(x):
    """x + 1."""
    return x + 1.0


def add_two(x):
    """x + 2."""
    return add_one(add_one(x))
'''
TWO_TESTS = '''\
from grader.authoring import graded


@graded("add_two", points=1.0)
def test_add_two_isolated(ctx):
    """add_two with its declared call swapped"""
    with ctx.isolated():
        ctx.expect_close(ctx.student.add_two(1.0), 3.0, rtol=0, atol=1e-12)


@graded("add_one", points=1.0)
def test_add_one_isolates_add_two(ctx):
    """add_one isolated from a function it does not declare"""
    with ctx.isolated("add_two"):
        ctx.expect_close(ctx.student.add_one(1.0), 2.0, rtol=0, atol=1e-12)
'''


def two_function_course(root: Path, calls: str) -> Path:
    """A course of one module with add_one and add_two (which calls add_one)."""
    for folder, name, text in (("exercises", "two", TWO_STUB), ("solutions", "two", TWO_SOLUTION),
                               ("autograde_tests", "test_two", TWO_TESTS)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"{name}.py").write_text(text, encoding="utf-8")
    (root / "course.toml").write_text(
        '[course]\nname = "Two"\nmodules = ["two"]\n[grading]\nsecret = "s"\n' + calls,
        encoding="utf-8")
    return root


@pytest.mark.parametrize(("calls", "message"), [
    ('[calls]\n"two.add_two" = ["add_two"]\n', "declares itself"),
    ('[calls]\n"two.add_two" = ["other.add_one"]\n', "is not a course module"),
    ('[calls]\n"add_two" = ["add_one"]\n', "name the module"),
    ('[calls]\n"two.add_two" = "add_one"\n', "must be a list"),
])
def test_a_malformed_calls_table_stops_the_course_from_loading(
        tmp_path: Path, calls: str, message: str) -> None:
    """Is a [calls] table that declares a function itself, an unknown module, a bare key or a
    non-list refused when the course loads, saying what is wrong?"""
    from grader.course.config import CourseError

    with pytest.raises(CourseError, match=message):
        load_course(two_function_course(tmp_path, calls))


def test_only_declared_calls_are_swapped(tmp_path: Path) -> None:
    """Does ctx.isolated() swap the declared call (add_two passes with a wrong add_one), and is
    isolating an undeclared function refused in the test's feedback?"""
    root = two_function_course(tmp_path / "course", '[calls]\n"two.add_two" = ["add_one"]\n')
    student = tmp_path / "class" / "wrong_add_one"
    student.mkdir(parents=True)
    (student / "two.py").write_text(TWO_SOLUTION.replace("x + 1.0", "x + 7.0"), encoding="utf-8")
    # isolating an undeclared call is the course's mistake: a grader error, exit code 1
    result = grade(tmp_path / "class", tmp_path / "out", root=root, code=1)["wrong_add_one"]
    by_function = {t["function"]: t for t in result["tests"]}
    assert by_function["add_two"]["status"] == "passed"
    assert by_function["add_one"]["status"] != "passed"
    assert "does not declare" in by_function["add_one"]["feedback"]
