"""The runner: whatever a test or the student's code does becomes exactly one outcome."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from grader.authoring import Context, Marker
from grader.course.config import TestSpec as Spec
from grader.engine.runner import (
    ERROR,
    FAILED,
    NOT_IMPLEMENTED,
    PASSED,
    TIMEOUT,
    Outcome,
    run_test,
    run_tests,
    seed_for,
)
from grader.sandbox.box import Sandbox
from grader.sandbox.limits import Limits

STUDENT = """\
import os

import numpy as np


def add_one(x):
    return x + 1.0


def half(x):
    return (x + 1.0) / 2


def stub(x):
    raise NotImplementedError


def divide(x):
    return 1 / x


def shapes(x):
    return np.ones(3) + np.ones(4)


def loop(x):
    while True:
        pass


def die(x):
    print("about to die", flush=True)
    os._exit(9)
"""


def reference_add_one(x: object) -> object:
    return np.asarray(x, dtype=np.float64) + 1.0


REFERENCE = {"toy": types.SimpleNamespace(add_one=reference_add_one)}


def spec(func: Callable[[Context], None], *, function: str = "add_one", points: float = 1.0,
         timeout: float | None = None) -> Spec:
    return Spec(func, "toy", func.__name__, f"toy::{func.__name__}",
                Marker(function, points, "hidden", timeout, False))


@pytest.fixture
def sandbox(tmp_path: Path, modules: Callable[..., Path]) -> Iterator[Sandbox]:
    with Sandbox(modules(tmp_path / "submission", toy=STUDENT),
                 Limits(call_timeout=5.0, submission_timeout=60.0)) as box:
        yield box


def run(func: Callable[[Context], None], sandbox: Sandbox, **marker: object) -> Outcome:
    return run_test(spec(func, **marker), sandbox, seed=1, reference=REFERENCE)  # type: ignore[arg-type]


# -- positive evidence ---------------------------------------------------------------------------
def test_does_a_test_that_records_a_passing_expectation_pass(sandbox: Sandbox) -> None:
    def matches(ctx: Context) -> None:
        x = ctx.rng.normal(size=3)
        ctx.expect_close(ctx.student.add_one(x), ctx.ref.add_one(x), rtol=1e-12, atol=1e-12)

    outcome = run(matches, sandbox, points=2.5)
    assert (outcome.status, outcome.feedback, outcome.diagnosis) == (PASSED, "", None)
    assert outcome.score == 2.5
    assert outcome.seconds > 0


def test_is_a_test_that_records_no_expectation_an_error_not_a_pass(sandbox: Sandbox) -> None:
    def forgets_to_check(ctx: Context) -> None:
        ctx.student.add_one(1.0)

    outcome = run(forgets_to_check, sandbox)
    assert outcome.status == ERROR
    assert "recorded no check" in outcome.feedback
    assert outcome.score == 0.0


def test_is_a_test_that_fails_after_passing_once_failed(sandbox: Sandbox) -> None:
    def passes_then_fails(ctx: Context) -> None:
        ctx.expect(True, "fine")
        ctx.expect(ctx.student.add_one(1.0) == 3.0, "add_one(1.0) should be 3.0 here")

    outcome = run(passes_then_fails, sandbox)
    assert (outcome.status, outcome.feedback) == (FAILED, "add_one(1.0) should be 3.0 here")


# -- failures and diagnoses ----------------------------------------------------------------------
def test_does_a_failed_expectation_give_failed_with_its_diagnosis(sandbox: Sandbox) -> None:
    def names_the_mistake(ctx: Context) -> None:
        ctx.fail("dC/da is half the expected value", misconception="missing_factor_2")

    outcome = run(names_the_mistake, sandbox)
    assert outcome.status == FAILED
    assert outcome.feedback == "dC/da is half the expected value"
    assert outcome.diagnosis is not None and outcome.diagnosis.key == "missing_factor_2"


def test_does_a_wrong_value_give_failed_with_the_explained_difference(sandbox: Sandbox) -> None:
    def compares(ctx: Context) -> None:
        x = ctx.rng.uniform(1.0, 2.0, size=5)
        ctx.expect_close(ctx.student.half(x), ctx.ref.add_one(x), rtol=1e-9, atol=1e-12)

    outcome = run(compares, sandbox, function="half")
    assert outcome.status == FAILED
    assert outcome.feedback
    assert outcome.diagnosis is not None and outcome.diagnosis.key == "missing_factor_2"


def test_is_a_stub_failed_as_not_implemented(sandbox: Sandbox) -> None:
    def calls_stub(ctx: Context) -> None:
        ctx.expect(ctx.student.stub(1.0) == 1.0, "unreachable")

    outcome = run(calls_stub, sandbox, function="stub")
    assert outcome.status == FAILED
    assert outcome.diagnosis == NOT_IMPLEMENTED
    assert outcome.not_implemented
    assert "not implemented" in outcome.feedback


# -- errors --------------------------------------------------------------------------------------
def test_is_an_unexpected_exception_in_the_test_an_error_with_a_message(
    sandbox: Sandbox,
) -> None:
    def indexes_a_float(ctx: Context) -> None:
        value = ctx.student.add_one(1.0)
        ctx.expect(value["key"] == 1, "unreachable")

    outcome = run(indexes_a_float, sandbox)
    assert outcome.status == ERROR
    assert outcome.feedback.startswith("the grader could not evaluate your result (TypeError")
    assert "check the types and shapes" in outcome.feedback


def test_is_an_exception_in_the_students_code_an_error_with_its_traceback(
    sandbox: Sandbox,
) -> None:
    def divides(ctx: Context) -> None:
        ctx.expect(ctx.student.divide(0) == 0, "unreachable")

    outcome = run(divides, sandbox, function="divide")
    assert outcome.status == ERROR
    assert outcome.feedback.startswith("your code raised ZeroDivisionError: division by zero")
    assert "return 1 / x" in outcome.feedback


def test_is_a_shape_error_diagnosed(sandbox: Sandbox) -> None:
    def shapes(ctx: Context) -> None:
        ctx.expect(ctx.student.shapes(0) is not None, "unreachable")

    outcome = run(shapes, sandbox, function="shapes")
    assert outcome.status == ERROR
    assert outcome.diagnosis is not None and outcome.diagnosis.key == "shape_mismatch"


def test_is_a_missing_function_an_error_that_says_to_define_it(sandbox: Sandbox) -> None:
    def calls_missing(ctx: Context) -> None:
        ctx.expect(ctx.student.not_there(1.0) == 1.0, "unreachable")

    outcome = run(calls_missing, sandbox, function="not_there")
    assert outcome.status == ERROR
    assert "no function 'not_there'" in outcome.feedback
    assert "define it with the contract's name and signature" in outcome.feedback


def test_is_a_missing_module_an_error_that_names_the_file(sandbox: Sandbox) -> None:
    def calls_other_module(ctx: Context) -> None:
        ctx.expect(ctx.student_module("layer").forward(1.0) == 1.0, "unreachable")

    outcome = run(calls_other_module, sandbox)
    assert outcome.status == ERROR
    assert outcome.feedback == "missing file: layer.py is missing from the submission"


def test_is_a_crash_an_error_with_the_last_output(sandbox: Sandbox) -> None:
    def crashes(ctx: Context) -> None:
        ctx.expect(ctx.student.die(0) == 0, "unreachable")

    outcome = run(crashes, sandbox, function="die")
    assert outcome.status == ERROR
    assert "exited with code 9" in outcome.feedback
    assert "Last output:\nabout to die" in outcome.feedback


def test_does_a_call_past_its_deadline_time_out(sandbox: Sandbox) -> None:
    def loops(ctx: Context) -> None:
        ctx.expect(ctx.student.loop(0) == 0, "unreachable")

    outcome = run(loops, sandbox, function="loop", timeout=0.3)
    assert outcome.status == TIMEOUT
    assert "did not return within 0.3 s" in outcome.feedback
    assert "loop that never ends" in outcome.feedback
    assert outcome.seconds < 3.0


# -- a run of tests ------------------------------------------------------------------------------
def test_does_run_tests_give_one_outcome_per_test_whatever_happens(sandbox: Sandbox) -> None:
    def loops(ctx: Context) -> None:
        ctx.student.loop(0)

    def crashes(ctx: Context) -> None:
        ctx.student.die(0)

    def passes(ctx: Context) -> None:
        ctx.expect_close(ctx.student.add_one(1.0), 2.0, rtol=1e-12, atol=1e-12)

    seen: list[Outcome] = []
    outcomes = run_tests([spec(loops, timeout=0.3), spec(crashes), spec(passes)], sandbox,
                         student="alice", secret="s", reference=REFERENCE,
                         progress=seen.append)
    assert [o.status for o in outcomes] == [TIMEOUT, ERROR, PASSED]
    assert seen == outcomes


def test_is_the_rng_of_a_test_seeded_by_secret_student_and_test(sandbox: Sandbox) -> None:
    draws: dict[str, float] = {}

    def records(ctx: Context) -> None:
        draws["last"] = float(ctx.rng.random())
        ctx.passed()

    def draw(student: str, secret: str | None, func: Callable[[Context], None]) -> float:
        run_tests([spec(func)], sandbox, student=student, secret=secret)
        return draws["last"]

    def other(ctx: Context) -> None:
        records(ctx)

    first = draw("alice", "s", records)
    assert draw("alice", "s", records) == first
    assert draw("bob", "s", records) != first
    assert draw("alice", "t", records) != first
    assert draw("alice", "s", other) != first
    assert first == np.random.default_rng(seed_for("s", "alice", "toy::records")).random()


def test_is_the_seed_a_64_bit_hash_of_its_three_parts() -> None:
    seed = seed_for("secret", "alice", "toy::test")
    assert 0 <= seed < 2**64
    assert seed == seed_for("secret", "alice", "toy::test")
    assert len({seed, seed_for("secret", "bob", "toy::test"),
                seed_for("other", "alice", "toy::test"),
                seed_for("secret", "alice", "toy::test2"),
                seed_for(None, "alice", "toy::test")}) == 5
    # the parts are separated, so moving a character between them changes the seed
    assert seed_for("ab", "c", "t") != seed_for("a", "bc", "t")
