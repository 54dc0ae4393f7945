"""Expectations: what a check or test records about the values it got, passes and failures.

A test passes when it recorded at least one passing expectation and no failure: positive
evidence only. A failed expectation raises `CheckFailed` with the explanation and, where the
mistake is recognised, its `grader.authoring.misconceptions.Diagnosis`, worded by the course's
catalogue (`Expectations.catalogue`). A mistake in the test's own code that the grader can
recognise as one (a misconception key the catalogue does not hold) raises `AuthorError`: the
test, not the student, is at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from grader.authoring.compare import compare
from grader.authoring.gradcheck import REL_FLOOR, SMOOTH_TOL
from grader.authoring.gradient_checks import ERROR_FORMULA, check_gradient
from grader.authoring.misconceptions import Catalogue, Diagnosis
from grader.authoring.wording import about
from grader.sandbox.box import CallResult, StudentError

__all__ = ["AuthorError", "CheckFailed", "Expectations"]


class CheckFailed(Exception):
    """Raised by a failed expectation; ends the test with status ``failed``."""

    def __init__(self, message: str, diagnosis: Diagnosis | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.diagnosis = diagnosis


class AuthorError(Exception):
    """A mistake in a check's or test's own code, never the student's: a misconception key
    the course does not register, a call isolated that the function does not declare, the
    reference asked for in a public check. The runner reports the test as a grader error
    (`grader.engine.runner`) and charges the student nothing."""


class Expectations:
    """The expectations of a check or test, and the evidence they recorded.

    The base of `grader.authoring.context.Context`, which adds the student's code.

    Parameters
    ----------
    show_expected : bool, optional
        False: failure messages say where and by about how much a value differs but print no
        expected value (a course's ``[grading] show_expected = false``, for hidden tests).
    catalogue : Catalogue, optional
        The course's misconceptions, which name a recognised mistake in a failure (default:
        the built-in ones, `grader.authoring.misconceptions.Catalogue.builtin`).

    Attributes
    ----------
    passes : int
        Passing expectations recorded so far.
    last : CallResult or None
        The last student call (what `expect_unchanged` looks at).
    """

    def __init__(self, *, show_expected: bool = True,
                 catalogue: Catalogue | None = None) -> None:
        self.passes = 0
        self.last: CallResult | None = None
        self.show_expected = show_expected
        self.catalogue = catalogue if catalogue is not None else Catalogue.builtin()

    def _named(self, key: str | None) -> Diagnosis | None:
        """The diagnosis naming catalogued misconception ``key`` with its hint (None for None).

        Raises
        ------
        AuthorError
            If the catalogue does not hold ``key``.
        """
        if key is None:
            return None
        self._registered([key], "misconception")
        return self.catalogue.named(key)

    def _registered(self, keys: Iterable[str], how: str) -> None:
        """Raise `AuthorError` unless the catalogue holds every key (``how``: the argument
        that named them, ``"variants"`` or ``"misconception"``)."""
        unknown = [key for key in keys if key not in self.catalogue]
        if unknown:
            raise AuthorError(
                f"{how} names {', '.join(map(repr, unknown))}, which the course's catalogue "
                "of misconceptions does not hold: add it to checks/misconceptions.toml or fix "
                "the key")

    def passed(self) -> None:
        """Record one passing expectation (for checks written with plain ``if``)."""
        self.passes += 1

    def fail(self, message: str, *, misconception: str | None = None) -> None:
        """Fail the test with ``message`` (and the catalogued misconception, if given)."""
        raise CheckFailed(message, self._named(misconception))

    def expect(self, condition: bool, message: str, *, misconception: str | None = None) -> None:
        """Record a pass if ``condition`` holds, else fail with ``message``."""
        if misconception is not None:
            self._registered([misconception], "misconception")
        if not condition:
            self.fail(message, misconception=misconception)
        self.passed()

    def expect_close(
        self,
        actual: Any,
        expected: Any,
        *,
        rtol: float,
        atol: float,
        what: str = "result",
        variants: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
        check_dtype: bool = True,
        misconception: str | None = None,
    ) -> None:
        """Compare with explicit tolerances; on failure explain the difference and diagnose it.

        Parameters
        ----------
        actual, expected : Any
            Student value and expected value (arrays, numbers, or dicts/tuples of them).
        rtol, atol : float
            ``|actual - expected| <= atol + rtol * |expected|`` elementwise.
        what : str
            How the value is named in the message (``"dW"``, ``"forward(...)[1]"``).
        variants : mapping, optional
            Misconception key -> the output that mistake would give, tried first.
        batch_size : int, optional
            N, so that a sum-instead-of-mean (factor N) is recognised.
        check_dtype : bool
            Whether a dtype other than the expected one fails the comparison.
        misconception : str, optional
            The catalogued mistake to name on failure instead of diagnosing the values: for a
            mistake the test recognised by a property of ``actual`` (its rows sum to 1 down
            the wrong axis, say) rather than by what it would equal.

        Raises
        ------
        CheckFailed
            If the values differ.
        AuthorError
            If a key of ``variants`` or ``misconception`` is not in the catalogue (checked
            whether or not the values differ).
        """
        self._registered(variants or {}, "variants")
        if misconception is not None:
            self._registered([misconception], "misconception")
        result = compare(actual, expected, rtol=rtol, atol=atol, name=what,
                         check_dtype=check_dtype, show_expected=self.show_expected)
        if not result.ok:
            diagnosis = self._named(misconception) or self.catalogue.diagnose(
                actual, expected, batch_size=batch_size, variants=variants,
                rtol=max(rtol, 1e-9), atol=max(atol, 1e-12), name=what)
            raise CheckFailed(result.message, diagnosis)
        self.passed()

    def expect_any(self, tries: Sequence[Callable[[], Any]],
                   expect: Callable[[Any], None]) -> int:
        """Pass if the value of one of several student calls passes ``expect``; else fail as
        the first call did.

        For a function that calls others: the first try is the fully isolated call, later ones
        give a student whose own intermediate format differs from the documented one (a cache,
        a generator passed by keyword) a second chance with their own pieces::

            number = ctx.expect_any(tries, lambda out: ctx.expect_close(out, expected, ...))
            ctx.expect_unchanged()  # of the call that passed

        Parameters
        ----------
        tries : sequence of callables
            Each makes one student call and returns its value, in order of preference.
        expect : callable
            Records expectations about one value (``ctx.expect_close(value, ...)``); a try
            passes when it raises no `CheckFailed`.

        Returns
        -------
        int
            The number of the first try that passed.

        Raises
        ------
        StudentError
            If the first try is not implemented (so that reads as "not implemented yet"), or
            the first failing try raised.
        CheckFailed
            The first failing try's failure, when no try passed.
        """
        first: StudentError | CheckFailed | None = None
        for number, attempt in enumerate(tries):
            try:
                value = attempt()
            except StudentError as exc:
                if exc.not_implemented and number == 0:
                    raise
                first = first or exc
                continue
            try:
                expect(value)
            except CheckFailed as failure:
                first = first or failure
                continue
            return number
        if first is None:
            raise ValueError("expect_any needs at least one try")
        raise first

    def expect_gradient(
        self,
        analytic: Any,
        numeric: Any,
        *,
        tol: float = SMOOTH_TOL,
        what: str = "gradient",
        floor: float = REL_FLOOR,
        variants: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> None:
        """Compare an analytic gradient with a numerical one; on failure explain and diagnose.

        The error is elementwise relative, ``|a - n| / (floor + max(|a|, |n|))``, and its largest
        value must be at most ``tol`` (see
        `grader.authoring.gradient_checks.check_gradient`).

        Parameters
        ----------
        analytic : Any
            The student's gradient, expected to be an array of the shape of ``numeric``.
        numeric : array_like
            The numerical gradient (`grader.authoring.gradcheck.stencil_gradient`).
        tol : float
            Largest relative error accepted: `grader.authoring.gradcheck.SMOOTH_TOL` for smooth
            functions, `grader.authoring.gradcheck.KINK_TOL` where a ReLU is involved.
        what : str
            How the gradient is named in the message.
        floor : float
            Floor of the denominator (`grader.authoring.gradcheck.REL_FLOOR`). Raise it where
            entries can be tiny: numerical differences leave round-off of about 1e-11 |f| in them,
            which reads as a large relative error below the floor.
        variants : mapping, optional
            Misconception key -> the gradient that mistake would give, tried first when a
            failure is diagnosed (`grader.authoring.misconceptions.Catalogue.diagnose`).
        batch_size : int, optional
            N, so that a sum-instead-of-mean (factor N) is recognised.

        Raises
        ------
        CheckFailed
            If the gradients differ.
        AuthorError
            If a key of ``variants`` is not in the catalogue.
        """
        self._registered(variants or {}, "variants")
        result = check_gradient(analytic, numeric, tol=tol, name=what, floor=floor)
        if not result.ok:
            message = result.message
            if not self.show_expected and result.worst_index is not None \
                    and result.numeric is not None:  # the numerical gradient is the answer
                message = (f"{what}: analytic and numerical gradients differ by "
                           f"{about(result.max_rel_error)} at index "
                           f"{result.worst_index} (relative error "
                           f"{ERROR_FORMULA.replace('floor', f'{floor:g}')} "
                           f"above {tol:g})")
            raise CheckFailed(message, self.catalogue.diagnose(
                analytic, numeric, batch_size=batch_size, variants=variants, name=what))
        self.passed()

    def entry(self, out: Any, key: str, *, what: str = "the result") -> Any:
        """``out[key]``, or a failed test saying that ``out`` is not a dict with that key (no
        pass is recorded: a key is no evidence of a right value)."""
        if not isinstance(out, dict) or key not in out:
            keys = f" with keys {sorted(map(str, out))}" if isinstance(out, dict) else ""
            raise CheckFailed(f"{what} should be a dict with the key {key!r}, got "
                              f"{type(out).__name__}{keys}")
        return out[key]

    def expect_unchanged(self) -> None:
        """The last student call left its array arguments as they were.

        Decided on the grader's own observation (`grader.sandbox.box.CallResult.mutated`): a
        change fails. A pass is recorded only when the grader could see every argument that
        could change, so a call that was given a value kept in the sandbox (a handle, such as
        a cache the student's forward returned) records none, and neither does no call.
        """
        last = self.last
        if last is None:
            return
        if last.mutated:
            raise CheckFailed(
                "your function changed its input in place: " + ", ".join(last.mutated),
                self.catalogue.mutation_diagnosis(last.mutated))
        if not last.unobserved:
            self.passed()

    def expect_fresh(self) -> None:
        """Records nothing, and fails nothing.

        Whether a returned array shares memory with an argument can only be seen inside the
        sandbox, where the student's code runs and could say anything, so it earns no points
        (issue 11: nothing that decides points is computed there). A function that returns
        its changed input still fails `expect_unchanged`. Kept so that tests calling it run.
        """


