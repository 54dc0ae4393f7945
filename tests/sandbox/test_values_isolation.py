"""Does isolation reach a student's function wherever their code holds it, not only by name?

A correct ``mlp.py`` graded beside a wrong ``activations.py`` must keep every mlp point: its
tests swap the activations for the reference. Students hold them in tables, closures, default
arguments, partials and classes (4 of 9 real styles used a table), so each style below is a
real submission graded by the real CLI. Where a swap cannot reach (a holder the grader cannot
see into), the feedback says so. Every swap is undone exactly after the call, in the sandboxed
child and in the in-process runner of notebook kernels alike, and a hostile module cannot
make the search slow.
"""

from __future__ import annotations

import functools
import importlib
import re
import shutil
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from grader.engine import results
from grader.sandbox import swapping
from grader.sandbox.box import Sandbox
from grader.sandbox.inprocess import InProcess
from grader.sandbox.limits import Limits

ROOT = Path(__file__).resolve().parents[2]

#: activations.py with every function wrong (each by a different mistake)
BROKEN_ACTIVATIONS = '''
import functools
import numpy as np

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(np.asarray(z, dtype=np.float64)))

def _sigmoid_prime(z):
    s = 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))
    return 2.0 * s * (1.0 - s)

sigmoid_prime = {sigmoid_prime}

def relu(z):
    return 1.5 * np.maximum(z, 0.0)

def relu_prime(z):
    return (np.asarray(z) >= 0.0).astype(np.float64) * 0.5

def softmax(z):
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e)

def softmax_backward(s, ds):
    return s * (1.0 - s) * ds

def compose_linear(W1, b1, W2, b2):
    raise NotImplementedError
'''

CALLS = ["sigmoid(Z)", "relu(Z)", "softmax(Z)", "sigmoid_prime(Z)", "relu_prime(Z)",
         "softmax_backward(A, dA)"]
NAMES = ["sigmoid", "relu", "softmax", "sigmoid_prime", "relu_prime", "softmax_backward"]


def _each(template: str) -> dict[str, str]:
    """For every activation call, the same call through ``template`` ({i}: its index, {name}:
    its name, {args}: its arguments)."""
    return {call: template.format(i=i, name=name, args=call[call.index("(") + 1:-1])
            for i, (call, name) in enumerate(zip(CALLS, NAMES, strict=True))}


#: style -> (lines added after the imports of mlp.py, each activation call rewritten)
STYLES: dict[str, tuple[str, dict[str, str]]] = {
    "dict_of_pairs": (
        'ACTS = {"sigmoid": (sigmoid, sigmoid_prime), "relu": (relu, relu_prime),\n'
        '        "softmax": (softmax, softmax_backward)}',
        {"sigmoid(Z)": 'ACTS["sigmoid"][0](Z)', "relu(Z)": 'ACTS["relu"][0](Z)',
         "softmax(Z)": 'ACTS["softmax"][0](Z)', "sigmoid_prime(Z)": 'ACTS["sigmoid"][1](Z)',
         "relu_prime(Z)": 'ACTS["relu"][1](Z)',
         "softmax_backward(A, dA)": 'ACTS["softmax"][1](A, dA)'}),
    "list": (f"FUNCS = [{', '.join(NAMES)}]", _each("FUNCS[{i}]({args})")),
    "nested": (
        "TABLE = {'layers': [{'pair': (sigmoid, [sigmoid_prime])}, {'pair': (relu, "
        "[relu_prime])},\n                     {'pair': (softmax, [softmax_backward])}]}",
        {"sigmoid(Z)": "TABLE['layers'][0]['pair'][0](Z)",
         "relu(Z)": "TABLE['layers'][1]['pair'][0](Z)",
         "softmax(Z)": "TABLE['layers'][2]['pair'][0](Z)",
         "sigmoid_prime(Z)": "TABLE['layers'][0]['pair'][1][0](Z)",
         "relu_prime(Z)": "TABLE['layers'][1]['pair'][1][0](Z)",
         "softmax_backward(A, dA)": "TABLE['layers'][2]['pair'][1][0](A, dA)"}),
    "closures": (
        "def _wrap(f):\n    def inner(*args):\n        return f(*args)\n    return inner\n\n\n"
        f"WRAPPED = [_wrap(f) for f in ({', '.join(NAMES)})]",
        _each("WRAPPED[{i}]({args})")),
    "default_arguments": (  # positional defaults and keyword-only ones, in turn
        "\n".join(f"def _{name}(*args, f={name}):\n    return f(*args)\n" if i % 2 else
                   f"def _{name}(a, b=None, f={name}):\n    return f(a) if b is None else "
                   "f(a, b)\n" for i, name in enumerate(NAMES)),
        _each("_{name}({args})")),
    "partials": ("import functools\n\n" + "\n".join(
        f"P_{name} = functools.partial({name})" for name in NAMES),
        _each("P_{name}({args})")),
    "class_attributes": (
        "class Acts:\n" + "\n".join(f"    f_{name} = {name}" for name in NAMES),
        _each("Acts.f_{name}({args})")),
    "staticmethods": (
        "class _Acts:\n" + "\n".join(f"    {name} = staticmethod({name})" for name in NAMES)
        + "\n\n\nACTS_OBJ = _Acts()",
        _each("ACTS_OBJ.{name}({args})")),
    "instance_attributes": (
        "class _Net:\n    def __init__(self):\n        self.funcs = {"
        + ", ".join(f"'{name}': {name}" for name in NAMES) + "}\n\n\nNET = _Net()",
        _each("NET.funcs['{name}']({args})")),
    "imported_aliases": (
        "from activations import " + ", ".join(f"{name} as _a_{name}" for name in NAMES),
        _each("_a_{name}({args})")),
    "module_alias": ("import activations as act", _each("act.{name}({args})")),
    "c_holders": ("\n".join(
        f"V_{name} = np.vectorize({name}, signature="
        f"{'(m,n),(m,n)->(m,n)' if name == 'softmax_backward' else '(m,n)->(m,n)'!r})"
        for name in NAMES), _each("V_{name}({args})")),
}
#: held where no walk can reach: a mappingproxy over a dict, of a partial (not a def)
UNREACHABLE = (
    "import types\n\nDERIVATIVES = types.MappingProxyType({'sigmoid': sigmoid_prime})",
    {"sigmoid_prime(Z)": "DERIVATIVES['sigmoid'](Z)"})


def mlp_in_style(source: str, preamble: str, calls: dict[str, str]) -> str:
    """The reference mlp.py with its activation calls going through ``preamble``'s holders."""
    anchor = "from losses import softmax_cross_entropy, sse, sse_grad\n"
    assert anchor in source
    source = source.replace(anchor, anchor + "\n" + preamble + "\n\n")
    for call, through in calls.items():
        pattern = r"(?<![\w.])" + re.escape(call)
        assert re.search(pattern, source), call
        source = re.sub(pattern, lambda _, through=through: through, source)
    return source


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, results.Result]:
    """The class: the reference with a wrong activations.py and mlp.py in every style."""
    base = tmp_path_factory.mktemp("styles")
    mlp = (ROOT / "solutions" / "mlp.py").read_text(encoding="utf-8")
    cases = {"by_name": ("", {}), **STYLES, "unreachable": UNREACHABLE}
    for style, (preamble, calls) in cases.items():
        folder = base / "class" / style
        shutil.copytree(ROOT / "solutions", folder)
        for stub in ("neuron", "layer", "worked_example", "gradcheck", "sgd"):  # faster
            shutil.copy2(ROOT / "exercises" / f"{stub}.py", folder / f"{stub}.py")
        derivative = ("functools.partial(_sigmoid_prime)" if style == "unreachable"
                      else "_sigmoid_prime")
        (folder / "activations.py").write_text(
            BROKEN_ACTIVATIONS.format(sigmoid_prime=derivative), encoding="utf-8")
        (folder / "mlp.py").write_text(mlp_in_style(mlp, preamble, calls), encoding="utf-8")
    out = base / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(base / "class"), "--out", str(out),
         "--jobs", "2", "--course", str(ROOT)], capture_output=True, text=True, timeout=900,
        cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["student"]: r for r in results.load_all(out)}


@pytest.mark.parametrize("style", ["by_name", *STYLES])
def test_correct_mlp_keeps_every_point_beside_wrong_activations(
        graded: dict[str, results.Result], style: str) -> None:
    """Does a correct mlp.py keep all its points when its activations are wrong, however it
    holds them (tables, closures, defaults, partials, classes, aliases, C objects)?"""
    result = graded[style]
    mlp = result["modules"]["mlp"]
    lost = [(t["id"], t["feedback"][:300]) for t in result["tests"]
            if t["module"] == "mlp" and t["status"] != "passed"]
    assert mlp["score"] == mlp["max_score"], lost
    assert result["modules"]["activations"]["score"] < 3  # the activations are really wrong


def test_feedback_names_the_calls_it_could_not_isolate(graded: dict[str, results.Result]) -> None:
    """Where a swapped function is held out of the grader's reach, does the failing test's
    feedback say which call ran unisolated?"""
    failed = [t for t in graded["unreachable"]["tests"]
              if t["module"] == "mlp" and t["status"] != "passed"]
    assert failed, "the unreachable wrong derivative cost mlp nothing: it was reached after all"
    for test in failed:
        assert "could not be swapped" in test["feedback"], test["feedback"]
        assert "activations.sigmoid_prime" in test["feedback"], test["feedback"]


# -- the swap itself, in the sandboxed child and in process --------------------------------------
HOLDERS = '''
import functools
import types
import acts
from acts import sigmoid as alias


def _wrap(f):
    def inner(z):
        return f(z)
    return inner


def _call(f, z):
    return f(z)


class Table:
    attribute = acts.sigmoid
    static = staticmethod(acts.sigmoid)

    def __init__(self):
        self.own = acts.sigmoid


PAIR = (acts.sigmoid, 1)
NAMED = types.SimpleNamespace(f=acts.sigmoid)
NESTED = {"a": [(acts.sigmoid, {"b": (acts.sigmoid,)})]}
PARTIAL = functools.partial(_call, acts.sigmoid)
CLOSURE = _wrap(acts.sigmoid)
INSTANCE = Table()
LAMBDA = lambda z: acts.sigmoid(z)  # noqa: E731


def defaults(z, f=acts.sigmoid, *, g=acts.sigmoid):
    return f(z), g(z)


HELD = (PAIR, NAMED.__dict__, NESTED, PARTIAL, CLOSURE.__closure__, INSTANCE.__dict__,
        defaults.__defaults__, defaults.__kwdefaults__, Table.__dict__["static"])
BEFORE = [id(h) for h in HELD]


def probe(z):
    """Every way this module reaches acts.sigmoid, called."""
    return [alias(z), acts.sigmoid(z), PAIR[0](z), NAMED.f(z), NESTED["a"][0][0](z),
            NESTED["a"][0][1]["b"][0](z), PARTIAL(z), CLOSURE(z), Table.attribute(z),
            Table.static(z), INSTANCE.static(z), INSTANCE.own(z), LAMBDA(z), *defaults(z)]


def unchanged():
    """Whether every holder is the very object it was at import."""
    held = (PAIR, NAMED.__dict__, NESTED, PARTIAL, CLOSURE.__closure__, INSTANCE.__dict__,
            defaults.__defaults__, defaults.__kwdefaults__, Table.__dict__["static"])
    return [id(h) for h in held] == BEFORE
'''
ACTS = {"def": "def sigmoid(z):\n    return 'student'\n",
        "partial": "import functools\n\n\ndef _own(z):\n    return 'student'\n\n\n"
                   "sigmoid = functools.partial(_own)\n"}


@pytest.fixture(params=list(ACTS))
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """acts.py (sigmoid as a def, or as a partial) and holders.py, which holds it everywhere."""
    (tmp_path / "acts.py").write_text(ACTS[request.param], encoding="utf-8")
    (tmp_path / "holders.py").write_text(textwrap.dedent(HOLDERS), encoding="utf-8")
    return tmp_path


def reference(z: object) -> str:
    return "reference"


def test_sandbox_swaps_every_holder_and_restores_it(folder: Path) -> None:
    """In the sandboxed child, does one isolated call reach every holder, and does the next
    call find the student's own function in the very same holders?"""
    with Sandbox(folder, Limits(call_timeout=10.0, submission_timeout=60.0)) as box:
        isolated = box.call("holders", "probe", [0.0], callbacks={"ref#1": reference},
                            patch=[("acts", "sigmoid", "ref#1")])
        assert isolated.value == ["reference"] * 15
        assert isolated.unisolated == []
        assert box.call("holders", "probe", [0.0]).value == ["student"] * 15
        assert box.call("holders", "unchanged").value is True


def test_in_process_runner_swaps_the_same_way(folder: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Does the notebook kernel's in-process runner give the same isolation and restore?"""
    monkeypatch.syspath_prepend(str(folder))
    for name in ("acts", "holders"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    spaces = {name: importlib.import_module(name) for name in ("acts", "holders")}
    runner = InProcess(spaces)
    isolated = runner.call("holders", "probe", [0.0], callbacks={"ref#1": reference},
                           patch=[("acts", "sigmoid", "ref#1")])
    assert isolated.value == ["reference"] * 15
    assert isolated.unisolated == []
    assert runner.call("holders", "probe", [0.0]).value == ["student"] * 15
    assert runner.call("holders", "unchanged").value is True
    for name in ("acts", "holders"):
        sys.modules.pop(name, None)


def test_a_hostile_module_cannot_make_the_search_slow() -> None:
    """Does a module of a million values and a 100,000-deep nesting cost the walk a bounded
    time, and is the cut-off said (a def costs nothing either way)?"""
    def own(z: object) -> str:
        return "student"

    held = functools.partial(own)
    deep: list[object] = [held]
    for _ in range(100_000):
        deep = [deep]
    space = {"__name__": "hostile", "f": held, "wide": [[i, str(i)] for i in range(10**6)],
             "deep": deep}
    started = time.perf_counter()
    restore, unreached = swapping.swap_in([(space, "f", "m.f", reference)], [space])
    seconds = time.perf_counter() - started
    restore()
    assert seconds < 0.5
    assert unreached and "more values than the grader searches" in unreached[0]
    assert space["f"] is held

    code = types.FunctionType(own.__code__, space, "own")
    space["g"] = code
    started = time.perf_counter()
    restore, unreached = swapping.swap_in([(space, "g", "m.g", reference)], [space])
    assert time.perf_counter() - started < 0.01 and unreached == []
    assert space["g"](0) == "reference"
    restore()
    assert space["g"](0) == "student"


def test_is_what_a_call_means_one_implementation_in_the_child_and_in_process() -> None:
    """Do the sandboxed child and the in-process runner both run calls through
    ``grader.sandbox.calls.Caller`` (references, declared calls, watched arguments), each
    saying only where things are?"""
    from grader.sandbox import _child, calls

    for runner in (InProcess, _child.Child):
        assert issubclass(runner, calls.Caller)
        assert not {"resolve", "patch", "run"} & set(vars(runner)), runner


def test_are_replaced_and_changed_arguments_told_apart_even_when_made_cyclic() -> None:
    """Does the argument watch name an entry replaced, an array changed in place (with its
    bytes kept), and survive arguments the call made cyclic?"""
    import numpy as np

    from grader.sandbox.calls import Arguments

    params = {"W": np.zeros(2), "b": np.zeros(1)}
    rows = [np.ones(3)]
    watch = Arguments([params, rows], {}, keep_bytes=True)
    params["W"] = np.zeros(2)  # replaced
    rows[0] += 1  # changed in place
    assert watch.replaced([params, rows], {}) == ["args[0]['W']"]
    assert watch.changed([params, rows], {}) == ["args[0]['W']", "args[1][0]"]
    rows.append(rows)  # a cycle: nothing can be said of entries, bytes still can
    assert watch.replaced([params, rows], {}) == []
    assert watch.changed([params, rows], {}) == ["args[1][0]"]
