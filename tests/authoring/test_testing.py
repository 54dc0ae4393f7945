"""The test API (grader.authoring): what a course's checks and tests can ask of the context."""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from grader.authoring import Context, Marker, raised_in
from grader.course.config import TestSpec as Spec
from grader.engine.runner import FAILED, PASSED, Outcome, run_test
from grader.sandbox.box import Sandbox, StudentError
from grader.sandbox.limits import Limits

STUDENT = """\
import numpy as np


def double(x):
    return 2.0 * np.asarray(x, dtype=np.float64)


def half(x):
    return np.asarray(x, dtype=np.float64) / 2


def stub(x):
    raise NotImplementedError


def calls_stub(x):
    return stub(x) + 1.0


def scale_in_place(x):
    x *= 2.0
    return x
"""


def reference_double(x: object) -> object:
    return 2.0 * np.asarray(x, dtype=np.float64)


REFERENCE = {"toy": types.SimpleNamespace(double=reference_double)}


@pytest.fixture
def sandbox(tmp_path: Path, modules: Callable[..., Path]) -> Iterator[Sandbox]:
    with Sandbox(modules(tmp_path / "submission", toy=STUDENT),
                 Limits(call_timeout=5.0, submission_timeout=60.0)) as box:
        yield box


def run(func: Callable[[Context], None], sandbox: Sandbox, function: str = "double") -> Outcome:
    spec = Spec(func, "toy", func.__name__, f"toy::{func.__name__}",
                Marker(function, 1.0, "hidden", None, False))
    return run_test(spec, sandbox, seed=1, reference=REFERENCE)  # type: ignore[arg-type]


# -- expect_gradient -----------------------------------------------------------------------------
def test_does_expect_gradient_pass_a_gradient_within_tolerance(sandbox: Sandbox) -> None:
    def check(ctx: Context) -> None:
        x = ctx.rng.normal(size=4)
        ctx.expect_gradient(ctx.student.double(x), 2.0 * x + 1e-9, what="dx")

    assert run(check, sandbox).status == PASSED


def test_does_expect_gradient_name_the_mistake_a_variant_matches(sandbox: Sandbox) -> None:
    def check(ctx: Context) -> None:
        x = ctx.rng.uniform(1.0, 2.0, size=4)
        ctx.expect_gradient(ctx.student.half(x), 2.0 * x, what="dx",
                            variants={"activation_instead_of_derivative": x / 2})

    outcome = run(check, sandbox, "half")
    assert outcome.status == FAILED
    assert outcome.feedback.startswith("dx: analytic and numerical gradients differ")
    assert outcome.diagnosis is not None
    assert outcome.diagnosis.key == "activation_instead_of_derivative"


def test_does_expect_gradient_diagnose_a_factor_of_n_given_the_batch_size(
    sandbox: Sandbox,
) -> None:
    def check(ctx: Context) -> None:
        x = ctx.rng.uniform(1.0, 2.0, size=4)
        ctx.expect_gradient(ctx.student.double(x), x / 2, what="dx", batch_size=4)

    outcome = run(check, sandbox)
    assert outcome.diagnosis is not None and outcome.diagnosis.key == "sum_instead_of_mean"


def test_does_a_larger_floor_forgive_round_off_in_tiny_entries(sandbox: Sandbox) -> None:
    def check(floor: float) -> Callable[[Context], None]:
        def check_with_floor(ctx: Context) -> None:
            x = np.array([1.0, 1e-12])  # the numerical 2e-12 came out as 3e-12
            ctx.expect_gradient(ctx.student.double(x), np.array([2.0, 3e-12]), floor=floor)
        return check_with_floor

    assert run(check(1e-8), sandbox).status == FAILED
    assert run(check(1e-4), sandbox).status == PASSED


# -- expect_close(misconception=...) -------------------------------------------------------------
def test_does_expect_close_name_the_misconception_it_is_given(sandbox: Sandbox) -> None:
    def check(ctx: Context) -> None:
        x = ctx.rng.uniform(1.0, 2.0, size=3)
        ctx.expect_close(ctx.student.half(x), 2.0 * x, rtol=1e-9, atol=0.0,
                         misconception="sign_error")

    outcome = run(check, sandbox, "half")
    assert outcome.status == FAILED
    assert outcome.diagnosis is not None and outcome.diagnosis.key == "sign_error"


def test_does_expect_close_with_a_misconception_still_pass_a_right_value(
    sandbox: Sandbox,
) -> None:
    def check(ctx: Context) -> None:
        ctx.expect_close(ctx.student.double(1.5), 3.0, rtol=1e-12, atol=0.0,
                         misconception="sign_error")

    assert run(check, sandbox).status == PASSED


# -- blame_other_stubs ---------------------------------------------------------------------------
def test_is_a_stub_that_the_checked_function_calls_named_as_that_stub(sandbox: Sandbox) -> None:
    def check(ctx: Context) -> None:
        with ctx.blame_other_stubs("calls_stub"):
            ctx.expect(ctx.student.calls_stub(1.0) == 2.0, "unreachable")

    outcome = run(check, sandbox, "calls_stub")
    assert outcome.status == FAILED and not outcome.not_implemented
    assert outcome.feedback == ("calls_stub calls your stub, which is not implemented yet: "
                                "implement it first")


def test_is_a_stub_that_the_check_uses_named_as_used(sandbox: Sandbox) -> None:
    def check(ctx: Context) -> None:
        with ctx.blame_other_stubs("double"):
            ctx.expect(ctx.student.stub(1.0) == 2.0, "unreachable")

    outcome = run(check, sandbox)
    assert outcome.feedback == ("this check uses your stub, which is not implemented yet: "
                                "implement stub first")


def test_does_a_stub_checked_function_still_read_as_not_implemented(sandbox: Sandbox) -> None:
    def check(ctx: Context) -> None:
        with ctx.blame_other_stubs("stub"):
            ctx.expect(ctx.student.stub(1.0) == 2.0, "unreachable")

    outcome = run(check, sandbox, "stub")
    assert outcome.status == FAILED and outcome.not_implemented


def test_is_a_stub_outside_the_block_not_blamed(sandbox: Sandbox) -> None:
    def check(ctx: Context) -> None:
        with ctx.blame_other_stubs("calls_stub"):
            pass
        ctx.expect(ctx.student.calls_stub(1.0) == 2.0, "unreachable")

    assert run(check, sandbox, "calls_stub").not_implemented


def test_does_raised_in_name_the_innermost_function() -> None:
    traceback = ('Traceback (most recent call last):\n  File "toy.py", line 17, in calls_stub\n'
                 '    return stub(x) + 1.0\n  File "toy.py", line 13, in stub\n'
                 "    raise NotImplementedError\nNotImplementedError\n")
    assert raised_in(StudentError("NotImplementedError", "", traceback)) == "stub"
    assert raised_in(StudentError("NotImplementedError", "")) == ""


# -- expect_any ----------------------------------------------------------------------------------
def test_does_expect_any_pass_on_a_later_try_and_say_which(sandbox: Sandbox) -> None:
    numbers: list[int] = []

    def check(ctx: Context) -> None:
        tries = [lambda: ctx.student.half(2.0), lambda: ctx.student.double(2.0)]
        numbers.append(ctx.expect_any(
            tries, lambda out: ctx.expect_close(out, 4.0, rtol=1e-12, atol=0.0)))

    assert run(check, sandbox).status == PASSED
    assert numbers == [1]


def test_does_expect_any_fail_as_the_first_try_when_none_passes(sandbox: Sandbox) -> None:
    def check(ctx: Context) -> None:
        tries = [lambda: ctx.student.half(2.0), lambda: ctx.student.double(2.0)]
        ctx.expect_any(tries, lambda out: ctx.expect_close(out, 2.0, rtol=1e-12, atol=0.0,
                                                           what="f(2.0)"))

    outcome = run(check, sandbox, "half")
    assert outcome.status == FAILED
    assert outcome.diagnosis is not None and outcome.diagnosis.key == "missing_factor_2"


def test_is_a_first_try_that_is_a_stub_not_implemented(sandbox: Sandbox) -> None:
    def check(ctx: Context) -> None:
        tries = [lambda: ctx.student.stub(2.0), lambda: ctx.student.double(2.0)]
        ctx.expect_any(tries, lambda out: ctx.expect_close(out, 4.0, rtol=1e-12, atol=0.0))

    assert run(check, sandbox, "stub").not_implemented


def test_does_expect_unchanged_after_expect_any_see_the_passing_call(sandbox: Sandbox) -> None:
    def check(ctx: Context) -> None:
        x = np.ones(3)
        ctx.expect_any([lambda: ctx.student.scale_in_place(x)],
                       lambda out: ctx.expect_close(out, 2.0 * x, rtol=1e-12, atol=0.0))
        ctx.expect_unchanged()

    outcome = run(check, sandbox, "scale_in_place")
    assert outcome.diagnosis is not None and outcome.diagnosis.key == "modified_input"


# -- entry, seed ---------------------------------------------------------------------------------
def test_does_entry_fail_on_a_missing_key_without_recording_a_pass(sandbox: Sandbox) -> None:
    def check(ctx: Context) -> None:
        ctx.entry({"dW": 1.0}, "db", what="backward(...)")

    outcome = run(check, sandbox)
    assert outcome.status == FAILED
    assert outcome.feedback == ("backward(...) should be a dict with the key 'db', got dict "
                                "with keys ['dW']")


def test_are_seeds_drawn_from_the_tests_rng(sandbox: Sandbox) -> None:
    seeds: list[int] = []

    def check(ctx: Context) -> None:
        seeds.extend([ctx.seed(), ctx.seed()])
        ctx.passed()

    run(check, sandbox)
    run(check, sandbox)
    assert seeds[0] == seeds[2] != seeds[1] == seeds[3]


# -- what a failure may have come through; hidden expected values --------------------------------
def test_does_the_outcome_record_the_student_functions_called_before_the_end(
        sandbox: Sandbox) -> None:
    """Each student function once, in call order, up to the failure (for grader.engine.blame)."""
    def check(ctx: Context) -> None:
        x = np.ones(3)
        ctx.student.half(x)
        ctx.student.double(x)
        ctx.student.half(x)
        ctx.fail("stop here")
        ctx.student.scale_in_place(x)

    assert run(check, sandbox).calls == ("toy.half", "toy.double")


def test_does_a_hidden_expected_value_stay_out_of_a_gradient_message(sandbox: Sandbox) -> None:
    """With show_expected False, expect_gradient says where and by about how much, not the
    numerical gradient (the answer) nor the analytic one (with the error, it gives the
    answer away); the diagnosis is kept."""
    def check(ctx: Context) -> None:
        x = np.array([1.25, 1.5, 1.75])
        ctx.expect_gradient(ctx.student.double(x), x, what="dx")

    spec = Spec(check, "toy", "check", "toy::check", Marker("double", 1.0, "hidden", None, False),
                show_expected=False)
    outcome = run_test(spec, sandbox, seed=1, reference=REFERENCE)  # type: ignore[arg-type]
    assert re.fullmatch(r"dx: analytic and numerical gradients differ by about \d+% at index "
                        r"\(2,\) \(relative error .* above 1e-06\)", outcome.feedback)
    assert "2.5" not in outcome.feedback and "3.5" not in outcome.feedback
    assert outcome.diagnosis is not None and outcome.diagnosis.key == "extra_factor_2"
