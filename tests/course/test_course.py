"""The course itself: stubs and solutions are twins, the contract's points, conventions."""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from pathlib import Path

import pytest

from grader.api import listing
from grader.authoring.misconceptions import Catalogue, Misconception
from grader.course.config import Course, CourseError, load_course

ROOT = Path(__file__).resolve().parents[2]
COURSE = load_course(ROOT)
CONTRACT_POINTS = {"activations": 12, "neuron": 14, "layer": 12, "worked_example": 12,
                   "losses": 10, "gradcheck": 10, "mlp": 16, "sgd": 14}
CONTRACT_FUNCTIONS = {
    "activations": ["sigmoid", "sigmoid_prime", "relu", "relu_prime", "softmax",
                    "softmax_backward", "compose_linear"],
    "neuron": ["forward", "cost", "chain_factors", "backward", "average_gradient",
               "chain_backward"],
    "layer": ["forward", "cost", "backward_loops", "backward"],
    "worked_example": ["forward", "loss", "output_deltas", "grad_V", "grad_h",
                       "gradient_vector", "batch_gradient"],
    "losses": ["sse", "sse_grad", "one_hot", "softmax_cross_entropy"],
    "gradcheck": ["numerical_gradient", "relative_error", "find_buggy_parameters"],
    "mlp": ["init_params", "affine_forward", "affine_backward", "forward", "backward",
            "loss_and_grads", "gradient_vector", "predict", "accuracy"],
    "sgd": ["minibatches", "sgd_step", "train"],
}


def _tree(folder: str, module: str) -> ast.Module:
    return ast.parse((ROOT / folder / f"{module}.py").read_text(encoding="utf-8"))


def _shape(node: ast.FunctionDef) -> tuple[str, str | None]:
    return ast.dump(node.args) + ast.dump(node.returns or ast.Constant(None)), \
        ast.get_docstring(node)


def test_course_modules_are_the_contracts() -> None:
    """Does course.toml list exactly the contract's eight modules, in order?"""
    assert COURSE.modules == tuple(CONTRACT_POINTS)


@pytest.mark.parametrize("module", list(CONTRACT_FUNCTIONS))
def test_stub_functions_are_the_contracts(module: str) -> None:
    """Does every stub define exactly the contract's functions (as NotImplementedError stubs),
    as course.toml's [functions] table lists them?"""
    assert COURSE.stub_functions(module) == CONTRACT_FUNCTIONS[module]
    assert COURSE.functions(module) == CONTRACT_FUNCTIONS[module]


@pytest.mark.parametrize("module", list(CONTRACT_FUNCTIONS))
def test_stubs_and_solutions_are_twins(module: str) -> None:
    """Same module docstring, imports, provided code, signatures and docstrings?"""
    stub, solution = _tree("exercises", module), _tree("solutions", module)
    assert ast.get_docstring(stub) == ast.get_docstring(solution)
    stub_functions = {n.name: n for n in stub.body if isinstance(n, ast.FunctionDef)}
    solution_functions = {n.name: n for n in solution.body if isinstance(n, ast.FunctionDef)}
    assert stub_functions.keys() == solution_functions.keys()
    for name, node in stub_functions.items():
        assert _shape(node) == _shape(solution_functions[name]), name
        assert ast.get_docstring(node), f"{module}.{name} has no docstring"
        if name in CONTRACT_FUNCTIONS[module]:
            assert "Parameters" in (ast.get_docstring(node) or ""), name
        else:  # provided code is identical
            assert ast.dump(node) == ast.dump(solution_functions[name]), name
    others = [ast.dump(n) for n in stub.body if not isinstance(n, ast.FunctionDef)]
    assert others == [ast.dump(n) for n in solution.body if not isinstance(n, ast.FunctionDef)]


@pytest.mark.parametrize("module", list(CONTRACT_FUNCTIONS))
def test_every_module_states_the_conventions(module: str) -> None:
    """Does each exercise module restate the contract's conventions at the top?"""
    doc = ast.get_docstring(_tree("exercises", module)) or ""
    assert "Conventions" in doc
    assert "float64" in doc and "NotImplementedError" in doc


def test_points_follow_the_contract() -> None:
    """Do the hidden tests give each module the contract's points, 100 in all?"""
    points = listing(COURSE)
    assert {m: sum(f.values()) for m, f in points.items()} == CONTRACT_POINTS
    for module, functions in points.items():
        missing = [f for f, p in functions.items() if p <= 0]
        assert not missing, f"{module}: functions without points {missing}"


def test_every_function_has_public_checks_and_hidden_tests() -> None:
    """Is every contract function covered by at least one public check and one hidden test?"""
    public = {(s.module, s.function) for s in COURSE.collect(hidden=False)}
    hidden = {(s.module, s.function) for s in COURSE.collect(hidden=True)}
    for module, functions in CONTRACT_FUNCTIONS.items():
        for function in functions:
            assert (module, function) in public, f"no public check of {module}.{function}"
            assert (module, function) in hidden, f"no hidden test of {module}.{function}"


def test_hidden_tests_have_visibility_and_a_name() -> None:
    """Does every hidden test carry a docstring name and one of Gradescope's visibilities?"""
    for spec in COURSE.collect(hidden=True):
        assert spec.name != spec.test_id.split("::")[1], f"{spec.test_id} has no docstring"
        assert spec.marker.visibility in ("hidden", "after_due_date", "after_published",
                                          "visible")


# -- what checks and tests share: misconceptions, helpers ----------------------------------------
def test_are_the_course_misconceptions_registered_from_one_file_only() -> None:
    """Does every check and test take the course's misconceptions from
    checks/misconceptions.toml (none registered in code), each with a title and a hint?"""
    for path in [*(ROOT / "checks").glob("*.py"), *(ROOT / "autograde_tests").glob("*.py")]:
        assert "register(" not in path.read_text(encoding="utf-8"), path.name
    entries = COURSE.load_misconceptions()
    assert len({m.key for m in entries}) == len(entries) >= 30
    catalogue = COURSE.collect(hidden=False)[0].catalogue
    for m in entries:
        assert catalogue[m.key] == m and m.title and m.hint


def test_does_every_catalogued_mutant_name_a_registered_misconception() -> None:
    """Is every misconception a mutant of mutants/ expects in the catalogue once the
    course is collected?"""
    catalogue = COURSE.collect(hidden=True)[0].catalogue
    for path in (ROOT / "mutants").glob("*.py"):
        namespace: dict[str, object] = {}
        exec(path.read_text(encoding="utf-8"), namespace)
        for mutant in namespace["MUTANTS"]:  # type: ignore[attr-defined]
            assert mutant["key"] in catalogue, (path.name, mutant["key"])


TOY_TESTS = '''
    from grader.authoring import graded

    @graded("add_one", points=1.0)
    def test_add_one(ctx):
        """add_one matches the reference"""
        ctx.expect_close(ctx.student.add_one(1.0), ctx.ref.add_one(1.0), rtol=0, atol=0)
'''


def _course(root: Path, *, checks: dict[str, str], tests: str = TOY_TESTS,
            config: str = "") -> Course:
    """A one-module course (``toy.add_one``) with the given files in ``checks/``."""
    files = {"exercises/toy.py": "def add_one(x):\n    raise NotImplementedError\n",
             "solutions/toy.py": "def add_one(x):\n    return x + 1.0\n",
             "autograde_tests/test_toy.py": tests,
             **{f"checks/{name}": text for name, text in checks.items()}}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "course.toml").write_text(f'[course]\nmodules = ["toy"]\n{config}\n',
                                      encoding="utf-8")
    return load_course(root)


MISTAKE = '''
    [toy_off_by_one]
    title = "Off by one"
    hint = "add_one adds 1, not 2."
    symptom = "is one too large"
'''


def test_does_collect_register_the_misconceptions_file(tmp_path: Path) -> None:
    """Are the entries of checks/misconceptions.toml in the course's catalogue (the one its
    collected tests get), with their title, hint and symptom?"""
    course = _course(tmp_path, checks={"misconceptions.toml": MISTAKE})
    assert "toy_off_by_one" not in Catalogue.builtin()
    (spec,) = course.collect(hidden=True)
    assert spec.catalogue["toy_off_by_one"] == Misconception(
        "toy_off_by_one", "Off by one", "add_one adds 1, not 2.", "is one too large")


def test_is_the_misconceptions_path_configurable(tmp_path: Path) -> None:
    """Does ``[course] misconceptions`` name another file, relative to the course folder?"""
    course = _course(tmp_path, checks={"mistakes.toml": MISTAKE},
                     config='misconceptions = "checks/mistakes.toml"')
    (spec,) = course.collect(hidden=True)
    assert spec.catalogue["toy_off_by_one"].title == "Off by one"


def test_is_a_missing_misconceptions_file_nothing_to_register(tmp_path: Path) -> None:
    """Does a course without the file collect as before?"""
    before = dict(Catalogue.builtin())
    course = _course(tmp_path, checks={})
    specs = course.collect(hidden=True)
    assert len(specs) == 1
    assert dict(specs[0].catalogue) == before


@pytest.mark.parametrize(("text", "complaint"), [
    ("[toy_off_by_one\ntitle = 'x'", "cannot read the misconceptions"),
    ("toy_off_by_one = 'Off by one'", "must be a table"),
    ("[toy_off_by_one]\ntitle = 'Off by one'", "hint must be a non-empty string"),
    ("[toy_off_by_one]\ntitle = 'Off by one'\nhint = ''", "hint must be a non-empty string"),
    ("[toy_off_by_one]\ntitle = 'Off by one'\nhint = 'x'\nsymptom = 3", "symptom must be"),
    ("[toy_off_by_one]\ntitle = 'Off'\nhint = 'x'\nhnit = 'y'", "unknown fields ['hnit']"),
    ("['off by one']\ntitle = 'Off'\nhint = 'x'", "stable identifier"),
])
def test_is_a_malformed_misconceptions_file_a_course_error(
    tmp_path: Path, text: str, complaint: str,
) -> None:
    """Does a malformed file or entry stop collection with a message naming it?"""
    course = _course(tmp_path, checks={"misconceptions.toml": text})
    with pytest.raises(CourseError, match=re.escape(complaint)) as caught:
        course.collect(hidden=False)
    assert "misconceptions.toml" in str(caught.value)


HELPERS_CHECK = '''
    from grader.authoring import public
    from course_helpers import ANSWER

    @public("add_one")
    def check_answer(ctx):
        """the helper module was found"""
        ctx.expect(ANSWER == {answer}, "wrong helper")
'''


def test_do_checks_and_tests_import_helpers_from_the_checks_folder(tmp_path: Path) -> None:
    """Do check and test files import ``checks/`` modules by bare name, each course its own,
    with ``sys.path`` and ``sys.modules`` as they were afterwards?"""
    path_before = list(sys.path)
    found = []
    for answer in (1, 2):
        course = _course(
            tmp_path / f"course{answer}",
            checks={"course_helpers.py": f"ANSWER = {answer}\n",
                    "check_toy.py": HELPERS_CHECK.format(answer=answer)},
            tests="from course_helpers import ANSWER\n" + textwrap.dedent(TOY_TESTS))
        (check,) = course.collect(hidden=False)
        found.append(check.func.__globals__["ANSWER"])
        tests = course.collect(hidden=True)
        found.append(tests[0].func.__globals__["ANSWER"])
    assert found == [1, 1, 2, 2]
    assert sys.path == path_before
    assert "course_helpers" not in sys.modules
