"""The contract is what the stubs' docstrings say, one reading: what a correct submission may do
scores full marks, and what a hidden test grades, a public check exercises too."""

from __future__ import annotations

import ast
import inspect
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.authoring import Context
from grader.course.config import load_course
from grader.engine.runner import PASSED, run_tests
from grader.sandbox import wire
from grader.sandbox.box import CallResult
from grader.sandbox.inprocess import InProcess

ROOT = Path(__file__).resolve().parents[2]
COURSE = load_course(ROOT)
MODULES = list(COURSE.modules)
# Functions applied entry by entry: their hidden tests must reach the boundary (exact zeros,
# tiny values of both signs, huge values), and so must their public checks.
ELEMENTWISE = {"activations.sigmoid", "activations.sigmoid_prime", "activations.relu",
               "activations.relu_prime"}


# -- the stubs say it -----------------------------------------------------------------------------
@pytest.mark.parametrize("module", MODULES)
def test_does_every_stub_say_what_a_correct_submission_may_do(module: str) -> None:
    """Does each stub's module docstring state the freedoms the hidden tests honour?"""
    doc = ast.get_docstring(ast.parse((ROOT / "exercises" / f"{module}.py").read_text()))
    assert doc is not None
    section = doc[doc.index("What a correct submission may do"):]
    for phrase in ("any real number where a scalar is returned", "max(0, z) returns the int 0",
                   "extra keys are ignored", "cache layout", "is a suggestion",
                   "tables, closures or functools.partial", "any of its submodules",
                   "helper\n  modules of its own", "numerically sound formula",
                   "if __name__ == \"__main__\":", "exercised by a public\ncheck"):
        assert phrase in section, phrase
    # aliasing is advice, and the stub says it is not graded (expect_fresh grades nothing)
    assert "Return new arrays rather than an argument itself" in doc
    assert "though not graded" in doc


# -- a submission using the contract's freedoms --------------------------------------------------
FREEDOMS = [  # (module, old, new): the reference written as the contract allows
    ("activations", '''    z = np.asarray(z, dtype=np.float64)
    return np.maximum(z, 0.0)''', '''    if np.ndim(z) == 0:
        return max(0, z)  # the int 0 for z <= 0: a real number where a scalar is returned
    z = np.asarray(z, dtype=np.float64)
    return np.maximum(z, 0.0)'''),
    ("neuron", 'return {"dw": a_prev * delta, "db": delta, "da_prev": w * delta}',
     'return {"dw": a_prev * delta, "db": delta, "da_prev": w * delta, "dz": delta}'),
    ("layer", 'return {"dW": np.outer(delta, a_prev), "db": delta, "da_prev": W.T @ delta}',
     'return {"dW": np.outer(delta, a_prev), "db": delta, "da_prev": W.T @ delta,\n'
     '            "dz": delta.copy()}'),
    ("worked_example", 'return {"z": z, "h": h, "y_in": y_in, "y": sigmoid(y_in)}',
     'return {"z": z, "h": h, "y_in": y_in, "y": sigmoid(y_in), "x": np.array(x, float)}'),
    ("neuron", 'return {"dw": float(np.mean(grads["dw"])), "db": float(np.mean(grads["db"]))}',
     'return {"dw": float(np.mean(grads["dw"])), "db": float(np.mean(grads["db"])),\n'
     '            "n": len(np.atleast_1d(a_prev))}'),
]


def free_submission(folder: Path) -> Path:
    """The reference, with an int-returning scalar relu and extra keys in returned dicts."""
    shutil.copytree(ROOT / "solutions", folder)
    for module, old, new in FREEDOMS:
        path = folder / f"{module}.py"
        source = path.read_text(encoding="utf-8")
        assert source.count(old) == 1, (module, old)
        path.write_text(source.replace(old, new), encoding="utf-8")
    return folder


def test_does_a_submission_using_the_contracts_freedoms_score_full_marks(
        tmp_path: Path) -> None:
    """relu(-0.99) returning the int 0 and extra keys (a "dz" beside dw, db, da_prev) lose no
    point in `grader grade` and pass every public check in `grader check`."""
    free_submission(tmp_path / "class" / "free")
    graded = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(tmp_path / "class"), "--out",
         str(tmp_path / "out"), "--course", str(ROOT), "--jobs", "1"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    result = json.loads((tmp_path / "out" / "free.json").read_text())
    failing = [(t["id"], t["feedback"][:200]) for t in result["tests"]
               if t["status"] != "passed"]
    assert failing == []
    assert result["score"] == 100
    checked = subprocess.run(
        [sys.executable, "-m", "grader", "check", "--path", str(tmp_path / "class" / "free"),
         "--course", str(ROOT)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout
    assert "43 of 43 functions pass their public checks." in checked.stdout


# -- what a hidden test grades, a public check exercises -----------------------------------------
def kinds(value: Any, *, values: bool) -> set[str]:
    """The property classes an argument exercises: its structure (a scalar, an array of some
    dimension, an empty array, a zero count, an activation's name ...) and, with ``values``,
    the boundary of its float entries (exact zeros, tiny and huge magnitudes)."""
    if isinstance(value, wire.Callback | wire.Helper) or callable(value):
        return {"callable"}
    if isinstance(value, bool | str):
        return {f"value {value!r}"}
    if isinstance(value, int | np.integer):
        return {"int"} | ({"zero"} if value == 0 else set())
    if isinstance(value, np.random.Generator):
        return {"rng"}
    if isinstance(value, dict):
        return {"dict"}
    if isinstance(value, list | tuple):
        return {"sequence"} | ({"empty sequence"} if not value else set())
    array = np.asarray(value)
    found = {"scalar" if array.ndim == 0 else f"{array.ndim}-d array"}
    if array.size == 0:
        found.add("empty")
    if values and array.dtype.kind == "f" and array.size:
        magnitude = np.abs(array[np.isfinite(array)])
        found |= {name for name, hit in (("exact zero", bool((array == 0).any())),
                                          ("tiny", bool(((magnitude > 0) & (magnitude < 1e-6))
                                                        .any())),
                                          ("huge", bool((magnitude >= 700).any()))) if hit}
    return found


class Recorder(InProcess):
    """The reference, called as the student's code, recording what each call exercises."""

    def __init__(self, reference: dict[str, Any]) -> None:
        super().__init__({m: dict(vars(module)) for m, module in reference.items()})
        self.reference = reference
        self.seen: dict[str, set[str]] = {}
        self.function = ""

    def call(self, module: str, function: str, args: Any = (), kwargs: Any = None,
             **options: Any) -> CallResult:
        self.function = f"{module}.{function}"
        seen = self.seen.setdefault(self.function, set())
        target = getattr(self.reference[module], function)
        bound = inspect.signature(target).bind(*args, **(kwargs or {})).arguments
        for name, value in bound.items():
            seen.update(f"{name}: {k}" for k in kinds(value, values=self.function in ELEMENTWISE))
        if options.get("errstate"):
            seen.add(f"errstate={options['errstate']}")
        return super().call(module, function, args, kwargs, **options)


@pytest.fixture(scope="module")
def exercised() -> Iterator[dict[bool, dict[str, set[str]]]]:
    """For the hidden tests (True) and the public checks (False): per function, what its
    calls exercised, with the reference standing in for the student."""
    reference = COURSE.reference()
    patch = pytest.MonkeyPatch()
    for prop in ("expect_unchanged", "expect_fresh"):
        original = getattr(Context, prop)

        def record(ctx: Context, original: Any = original, prop: str = prop) -> None:
            recorder = ctx._sandbox
            assert isinstance(recorder, Recorder)
            recorder.seen.setdefault(recorder.function, set()).add(prop)
            original(ctx)

        patch.setattr(Context, prop, record)
    found = {}
    try:
        for hidden in (True, False):
            recorder = Recorder(reference)
            outcomes = run_tests(COURSE.collect(hidden=hidden), recorder, student="contract",
                                 secret="contract", reference=reference if hidden else None)
            assert [o.spec.test_id for o in outcomes if o.status != PASSED] == []
            found[hidden] = recorder.seen
    finally:
        patch.undo()
    yield found


def test_does_a_public_check_exercise_every_property_a_hidden_test_grades(
        exercised: dict[bool, dict[str, set[str]]]) -> None:
    """For every function, is every property class its hidden tests exercise (scalar or array
    arguments of each dimension, empty inputs and zero counts, each activation name, floating
    point errors raised, inputs left unchanged, new arrays returned, the boundary of an
    elementwise function) also exercised by one of its public checks?"""
    gaps = {function: sorted(properties - exercised[False].get(function, set()))
            for function, properties in exercised[True].items()}
    assert {f: g for f, g in gaps.items() if g} == {}


def test_do_hidden_tests_reach_the_boundary_of_every_elementwise_function(
        exercised: dict[bool, dict[str, set[str]]]) -> None:
    """Does every elementwise function (and derivative) get exact zeros, tiny values and huge
    values in its hidden tests?"""
    for function in ELEMENTWISE:
        for boundary in ("exact zero", "tiny", "huge"):
            assert f"z: {boundary}" in exercised[True][function], (function, boundary)


# -- no free oracle ------------------------------------------------------------------------------
EXPECTED_NUMBER = re.compile(r"(expected|numerical|actual|analytic) -?\d")


def hiding_course(folder: Path, show: bool) -> Path:
    """A copy of this course whose course.toml sets [grading] show_expected."""
    for part in ("exercises", "solutions", "checks", "autograde_tests"):
        shutil.copytree(ROOT / part, folder / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    config = (ROOT / "course.toml").read_text(encoding="utf-8")
    assert config.count("\nshow_expected = true\n") == 1
    folder.joinpath("course.toml").write_text(
        config.replace("\nshow_expected = true\n", f"\nshow_expected = {str(show).lower()}\n"),
        encoding="utf-8")
    return folder


@pytest.mark.parametrize("show", [True, False])
def test_does_a_course_that_hides_expected_values_keep_them_out_of_feedback(
        tmp_path: Path, show: bool) -> None:
    """With show_expected = false a failed hidden test says where and by about how much the
    result differs, and still names the mistake, but prints no expected (or returned) number;
    by default it prints them."""
    course = hiding_course(tmp_path / "course", show)
    student = tmp_path / "class" / "halved"
    shutil.copytree(ROOT / "solutions", student)
    path = student / "losses.py"
    source = path.read_text(encoding="utf-8")
    old = "return float(np.mean(np.sum((A - Y) ** 2, axis=1)))"
    assert source.count(old) == 1
    path.write_text(source.replace(old, "return float(np.mean(np.sum((A - Y) ** 2, axis=1))) / 2")
                    .replace("return 2.0 * (A - Y) / A.shape[0]",
                             "return 2.0 * (A - Y) / A.shape[0] * 5"), encoding="utf-8")
    graded = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(tmp_path / "class"), "--out",
         str(tmp_path / "out"), "--course", str(course), "--jobs", "1"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert graded.returncode in (0, 1), graded.stdout + graded.stderr
    result = json.loads((tmp_path / "out" / "halved.json").read_text())
    failed = {t["id"]: t for t in result["tests"] if t["status"] != "passed"}
    assert {"losses::test_sse_matches_reference", "losses::test_sse_grad_matches_reference",
            "losses::test_sse_grad_numerical"} <= set(failed)
    feedback = "\n".join(t["feedback"] for t in failed.values())
    assert bool(EXPECTED_NUMBER.search(feedback)) is show, feedback
    sse = failed["losses::test_sse_matches_reference"]
    assert sse["diagnosis"]["key"] == "half_in_cost"
    if not show:
        assert "differs from the expected value by about 50%" in sse["feedback"]
        grad = failed["losses::test_sse_grad_matches_reference"]
        assert "Largest differences at index" in grad["feedback"]
        assert "about 400%" in grad["feedback"]
        assert grad["diagnosis"]["key"] == "scaled_by_constant"  # times 5, said as such
        assert "differ by about" in failed["losses::test_sse_grad_numerical"]["feedback"]


def test_are_batches_drawn_with_replacement_named_by_check_and_grade(tmp_path: Path) -> None:
    """minibatches that sample with replacement (rng.integers) fail a public check and the
    hidden tests with "Examples repeated or left out", saying which index repeats."""
    student = tmp_path / "class" / "drawn"
    shutil.copytree(ROOT / "solutions", student)
    path = student / "sgd.py"
    source = path.read_text(encoding="utf-8")
    old = "    perm = rng.permutation(n)\n"
    assert source.count(old) == 1
    path.write_text(source.replace(old, "    perm = rng.integers(0, n, size=n)\n"),
                    encoding="utf-8")
    checked = subprocess.run(
        [sys.executable, "-m", "grader", "check", "sgd", "--path", str(student), "--course",
         str(ROOT)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert "Likely mistake: Examples repeated or left out." in checked.stdout
    assert re.search(r"repeats \d+ of the \d+ examples \(index \d+ is in it \d times\)",
                     checked.stdout), checked.stdout
    graded = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(tmp_path / "class"), "--out",
         str(tmp_path / "out"), "--course", str(ROOT), "--jobs", "1"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert graded.returncode in (0, 1), graded.stderr
    result = json.loads((tmp_path / "out" / "drawn.json").read_text())
    named = {t["id"] for t in result["tests"]
             if (t["diagnosis"] or {}).get("key") == "batches_repeat_or_miss"}
    assert {"sgd::test_minibatches_matches_reference", "sgd::test_minibatches_partition"} <= named


def test_is_a_show_expected_that_is_not_a_boolean_a_course_error(tmp_path: Path) -> None:
    from grader.course.config import CourseError
    config = (ROOT / "course.toml").read_text(encoding="utf-8")
    (tmp_path / "course.toml").write_text(
        config.replace("\nshow_expected = true\n", '\nshow_expected = "no"\n'),
        encoding="utf-8")
    with pytest.raises(CourseError, match="show_expected must be true or false"):
        load_course(tmp_path)
    assert load_course(ROOT).show_expected is True
    assert all(spec.show_expected for spec in COURSE.collect(hidden=True))
