"""A failing test is never the student's fault by default: a test that fails through its own
code, or that the reference does not pass either, is a grader error. The student keeps its
points, the result lists it, and `grader grade` exits 1 naming it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from grader.authoring import Context, Marker
from grader.course.config import Course
from grader.course.config import TestSpec as Spec
from grader.engine import results
from grader.engine.feedback import FunctionSummary
from grader.engine.runner import (
    ERROR,
    FAILED,
    NO_CALL_NOTE,
    NO_CHECK_NOTE,
    PASSED,
    Outcome,
    run_test,
    run_tests,
)
from grader.sandbox.inprocess import InProcess

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "stats_course"


def _add_one(x: Any) -> Any:
    return np.asarray(x, dtype=np.float64) + 1.0


def _add_one_wrong(x: Any) -> Any:
    return np.asarray(x, dtype=np.float64) + 2.0


def _stub(x: Any) -> Any:
    raise NotImplementedError


REFERENCE = {"toy": types.ModuleType("toy_reference")}
REFERENCE["toy"].add_one = _add_one  # type: ignore[attr-defined]


def student(add_one: Callable[[Any], Any] = _add_one) -> InProcess:
    """The student's toy module, run in this process."""
    return InProcess({"toy": {"add_one": add_one}})


def spec(func: Callable[[Context], None], *, points: float = 1.0,
         public: bool = False) -> Spec:
    return Spec(func, "toy", func.__name__, f"toy::{func.__name__}",
                    Marker("add_one", points, "hidden", None, public))


def graded(func: Callable[[Context], None], runner: InProcess | None = None,
           **marker: Any) -> Outcome:
    """One test run as `grader grade` runs it: with the reference, so doubts are settled."""
    (outcome,) = run_tests([spec(func, **marker)], runner or student(), student="alice",
                           secret="s", reference=REFERENCE)
    return outcome


# -- the test's own code fails ----------------------------------------------------------------
def test_is_an_exception_before_any_student_call_a_grader_error() -> None:
    """The test raised before it called the student's code: not the student's fault, who
    keeps the test's points; the feedback names the exception and the test's line."""
    def wrong_shape(ctx: Context) -> None:
        x = ctx.rng.normal(size=3).reshape(2, 2)
        ctx.expect_close(ctx.student.add_one(x), x + 1, rtol=0, atol=0)

    outcome = run_test(spec(wrong_shape, points=3.0), student(), seed=1, reference=REFERENCE)
    assert outcome.grader_error and outcome.status == ERROR
    assert outcome.score == 3.0
    assert "ValueError: cannot reshape array of size 3" in outcome.feedback
    assert "(test_grader_errors.py, line " in outcome.feedback
    assert "costs you nothing" in outcome.feedback


def test_is_a_name_error_after_a_student_call_a_grader_error() -> None:
    """No value the student's code returns can make the test's code raise NameError."""
    def typo(ctx: Context) -> None:
        x = ctx.rng.normal(size=3)
        ctx.expect_close(ctx.student.add_one(x), undefined_name, rtol=0, atol=0)  # type: ignore[name-defined]  # noqa: F821

    outcome = run_test(spec(typo), student(), seed=1, reference=REFERENCE)
    assert outcome.grader_error and outcome.score == 1.0
    assert "NameError: name 'undefined_name' is not defined" in outcome.feedback


def test_is_an_unregistered_key_computed_at_run_time_a_grader_error() -> None:
    """A variants dict built at run time (loading cannot see it) naming no misconception."""
    def computed_key(ctx: Context) -> None:
        out = ctx.student.add_one(1.0)
        ctx.expect_close(out, 2.0, rtol=0, atol=0, variants={"off_" + "by_one": 3.0})

    outcome = graded(computed_key)
    assert outcome.grader_error and outcome.score == 1.0
    assert "variants names 'off_by_one'" in outcome.feedback


def test_are_a_missing_reference_function_and_ctx_ref_in_a_check_grader_errors() -> None:
    def misspelt(ctx: Context) -> None:
        out = ctx.student.add_one(1.0)
        ctx.expect_close(out, ctx.ref.add_onee(1.0), rtol=0, atol=0)

    def reference_in_a_check(ctx: Context) -> None:
        out = ctx.student.add_one(1.0)
        ctx.expect_close(out, ctx.ref.add_one(1.0), rtol=0, atol=0)

    assert "add_onee" in graded(misspelt).feedback
    assert graded(misspelt).grader_error
    check = run_test(spec(reference_in_a_check, points=0.0, public=True), student(), seed=1)
    assert check.grader_error and "public checks have no reference" in check.feedback


def test_is_a_result_the_test_cannot_read_the_student_s_error_when_the_reference_passes(
) -> None:
    """The test indexes what the function returned: the student who returned a float where
    the reference returns an array gets the error, not a grader error."""
    def indexes(ctx: Context) -> None:
        out = ctx.student.add_one(np.zeros(2))
        ctx.expect(out[0] == 1.0, "add_one(0) is 1")

    outcome = graded(indexes, student(lambda x: 1.0))
    assert outcome.status == ERROR and not outcome.grader_error
    assert outcome.feedback.startswith("the grader could not evaluate your result")
    assert outcome.score == 0.0


def test_is_a_test_the_reference_fails_a_grader_error_for_a_correct_student() -> None:
    """A test expecting the wrong value fails the reference too, on the same inputs: the
    student is not charged, and the feedback quotes what the reference got."""
    def wrong_expectation(ctx: Context) -> None:
        x = ctx.rng.normal(size=3)
        ctx.expect_close(ctx.student.add_one(x), x + 2.0, rtol=1e-12, atol=1e-12)

    outcome = graded(wrong_expectation)
    assert outcome.grader_error and outcome.score == 1.0
    assert "the reference solution does not pass this test either" in outcome.feedback
    # worth nothing, it costs no one anything: not run again, left as it was
    free = graded(wrong_expectation, points=0.0)
    assert free.status == FAILED and not free.grader_error
    # a wrong student of a sound test keeps the failure
    def sound(ctx: Context) -> None:
        x = ctx.rng.normal(size=3)
        ctx.expect_close(ctx.student.add_one(x), x + 1.0, rtol=1e-12, atol=1e-12)

    wrong = graded(sound, student(_add_one_wrong))
    assert wrong.status == FAILED and not wrong.grader_error and wrong.score == 0.0


def test_is_a_call_with_the_wrong_arguments_a_grader_error() -> None:
    """The test calls the function with an argument too many: the TypeError is raised in the
    student's code, but the reference raises it too."""
    def extra_argument(ctx: Context) -> None:
        ctx.expect_close(ctx.student.add_one(1.0, 2.0), 2.0, rtol=0, atol=0)

    outcome = graded(extra_argument)
    assert outcome.grader_error and "TypeError" in outcome.feedback


def test_is_a_stub_still_not_implemented() -> None:
    def sound(ctx: Context) -> None:
        ctx.expect(float(ctx.student.add_one(1.0)) == 2.0, "add_one(1.0) is 2.0")

    outcome = graded(sound, student(_stub))
    assert outcome.not_implemented and not outcome.grader_error and outcome.score == 0.0


def test_is_a_test_that_never_calls_the_student_a_grader_error() -> None:
    """``ctx.ref`` where ``ctx.student`` was meant: the test passes whatever the student
    wrote (a stub too), so it is the test's fault, and selftest's note tells the author."""
    def reference_with_itself(ctx: Context) -> None:
        x = ctx.rng.normal(size=3)
        ctx.expect_close(ctx.ref.add_one(x), ctx.ref.add_one(x), rtol=1e-12, atol=1e-12)

    for runner in (student(), student(_stub), student(_add_one_wrong)):
        outcome = graded(reference_with_itself, runner, points=2.0)
        assert outcome.grader_error and outcome.status == ERROR and outcome.score == 2.0
        assert "never called any of your functions" in outcome.feedback
        assert outcome.author_note == NO_CALL_NOTE


def test_does_a_test_that_records_nothing_tell_the_author_what_to_change() -> None:
    """The student reads "tell your instructor"; the author (selftest) reads what to use."""
    def forgets_to_check(ctx: Context) -> None:
        ctx.student.add_one(1.0)

    outcome = run_test(spec(forgets_to_check), student(), seed=1, reference=REFERENCE)
    assert outcome.status == ERROR and "tell your instructor" in outcome.feedback
    assert outcome.author_note == NO_CHECK_NOTE
    assert "ctx.expect_" in NO_CHECK_NOTE and "tell your instructor" not in NO_CHECK_NOTE
    confirmed = graded(forgets_to_check)  # the reference records nothing either
    assert confirmed.grader_error and confirmed.author_note == NO_CHECK_NOTE


# -- what reads the outcome -------------------------------------------------------------------
def test_does_the_result_list_the_grader_errors_and_charge_nothing(tmp_path: Path) -> None:
    """A result with a grader error: valid, the test's status ``error`` with its points, and
    its id in ``grader_errors``; a result without one lists none."""
    course = Course(tmp_path, "toy", "toy", ("toy",), None, limits=InProcess({}).limits)

    def typo(ctx: Context) -> None:
        raise KeyError("oops")

    def sound(ctx: Context) -> None:
        ctx.expect(float(ctx.student.add_one(1.0)) == 2.0, "add_one(1.0) is 2.0")

    outcomes = run_tests([spec(typo, points=2.0), spec(sound)], student(), student="alice",
                         secret="s", reference=REFERENCE)
    built = results.build(course, "alice", outcomes)
    results.validate(built)
    assert built["grader_errors"] == ["toy::typo"]
    assert results.grader_errors(built) == ["toy::typo"]
    assert built["score"] == built["max_score"] == 3.0
    assert [t["status"] for t in built["tests"]] == [ERROR, PASSED]
    clean = results.build(course, "bob", outcomes[1:])
    assert clean["grader_errors"] == [] and results.grader_errors(clean) == []
    old = {k: v for k, v in clean.items() if k != "grader_errors"}  # written before the key
    results.validate(old)
    assert results.grader_errors(old) == []  # type: ignore[arg-type]


def test_does_grader_check_say_the_check_is_at_fault() -> None:
    def typo(ctx: Context) -> None:
        raise KeyError("oops")

    outcome = run_test(spec(typo, points=0.0, public=True), student(), seed=1)
    summary = FunctionSummary("toy", "add_one", (outcome,))
    assert summary.status == "grader error"
    assert "GRADER ERROR (a check is at fault, not your code)" in summary.render()


# -- through the command line -----------------------------------------------------------------
def test_does_grade_exit_1_naming_the_test_and_charge_no_student(tmp_path: Path) -> None:
    """A hidden test with a typo before it calls the student: `grader grade` gives every
    student its points, writes the test's id in each result's grader_errors, exits 1 naming
    it; once the test is fixed, a rerun regrades those results and exits 0."""
    course = Path(shutil.copytree(FIXTURE, tmp_path / "stats",
                                  ignore=shutil.ignore_patterns("__pycache__")))
    tests = course / "autograde_tests" / "test_moments.py"
    sound = tests.read_text(encoding="utf-8")
    tests.write_text(sound.replace("        x = ctx.rng.normal(-1.0, 4.0, size=n)\n",
                                   "        x = ctx.rng.normal(-1.0, 4.0, size=nn)\n"),
                     encoding="utf-8")
    klass = tmp_path / "class"
    for name, folder in (("ada", "solutions"), ("bob", "exercises")):
        (klass / name).mkdir(parents=True)
        shutil.copy2(course / folder / "moments.py", klass / name / "moments.py")
    out = tmp_path / "out"

    def grade() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "grader", "grade", str(klass), "--out",
                               str(out), "--jobs", "1"], cwd=course, text=True,
                              capture_output=True, timeout=300,
                              env={**os.environ, "GRADER_SECRET": ""})

    proc = grade()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ("GRADER ERROR: the test moments::test_variance_matches_reference failed through "
            "its own fault for 2 students (ada, bob)") in proc.stdout
    for name, score in (("ada", 10.0), ("bob", 6.0)):  # bob's stubs: the mean's 4 lost
        result = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        assert result["score"] == score
        assert result["grader_errors"] == ["moments::test_variance_matches_reference"]
        (test,) = [t for t in result["tests"] if t["function"] == "variance"]
        assert test["status"] == "error" and test["score"] == 6.0
        assert "NameError: name 'nn' is not defined" in test["feedback"]
    tests.write_text(sound, encoding="utf-8")
    again = grade()
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 regraded (grader errors before)" in again.stdout
    bob = json.loads((out / "bob.json").read_text(encoding="utf-8"))
    assert bob["score"] == 0.0 and bob["grader_errors"] == []


def test_is_a_failing_test_run_on_the_reference_once_per_worker(tmp_path: Path) -> None:
    """A class of students failing the same test: the reference is run again on that test for
    the first of them only (the worker remembers it passed), and every student's outcome is
    the same as without the memo: a failure, not a grader error."""
    from conftest import TOY_SOLUTION, make_toy_course

    from grader.engine import runner
    from grader.engine.grading import grade_folder

    course = make_toy_course(tmp_path / "course")
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "toy.py").write_text(TOY_SOLUTION.replace("+ 1", "+ 2"), encoding="utf-8")
    reruns: list[str] = []
    real = runner.run_test

    def counting(spec, sandbox, **kwargs):  # type: ignore[no-untyped-def]
        if type(sandbox).__name__ == "InProcess":
            reruns.append(spec.test_id)
        return real(spec, sandbox, **kwargs)

    confirmed: dict[str, bool] = {}
    runner.run_test = counting  # type: ignore[assignment]
    try:
        outcomes = [grade_folder(course, wrong, student=s, confirmed=confirmed)
                    for s in ("s1", "s2", "s3")]
        plain = grade_folder(course, wrong, student="s4")
    finally:
        runner.run_test = real  # type: ignore[assignment]
    failed = [o.spec.test_id for o in outcomes[0]
              if o.status == runner.FAILED and o.spec.points > 0]
    assert failed, [o.status for o in outcomes[0]]
    assert reruns.count(failed[0]) == 2  # once with the memo (s1), once without it (s4)
    assert confirmed == dict.fromkeys(failed, True)
    for graded in (*outcomes, plain):
        assert [o.status for o in graded] == [o.status for o in outcomes[0]]
        assert not any(o.grader_error for o in graded)
