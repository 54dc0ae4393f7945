"""The test API for course authors: markers for checks and tests, and the test context.

A public check (``checks/check_<module>.py``) or a hidden test
(``autograde_tests/test_<module>.py``) is a function of one argument, the :class:`Context`::

    from grader.testing import Context, graded

    @graded("sigmoid", points=1.0, visibility="visible")
    def test_sigmoid_matches_reference(ctx: Context) -> None:
        \"\"\"sigmoid matches the reference on random inputs\"\"\"
        z = ctx.rng.normal(0.0, 3.0, size=(4, 5))
        ctx.expect_close(ctx.student.sigmoid(z), ctx.ref.sigmoid(z), rtol=1e-10, atol=1e-12)

The first docstring line is the name a student sees. ``ctx.student.<function>(...)`` runs the
student's function in the sandbox and returns plain data rebuilt in this process;
``ctx.ref`` is the reference solution (hidden tests only). A test passes when it recorded at
least one passing expectation and no failure: positive evidence only.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, TypeVar

import numpy as np

from grader import compare as _compare
from grader import gradcheck as _gradcheck
from grader import misconceptions as _misconceptions
from grader.misconceptions import Diagnosis
from grader.sandbox import CallResult, Sandbox
from grader.wire import Callback

Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]
VISIBILITIES: tuple[str, ...] = ("hidden", "after_due_date", "after_published", "visible")
TestFunction = Callable[["Context"], None]
F = TypeVar("F", bound=TestFunction)


@dataclass(frozen=True)
class Marker:
    """What a decorator records on a test function.

    Attributes
    ----------
    function : str
        The contract function the test grades (its points belong to that function).
    points : float
        Points of the test (0 for public checks).
    visibility : str
        Gradescope's visibility word.
    timeout : float or None
        Seconds each student call in this test may take (None: the course default).
    public : bool
        True for a public check (runs on the student's machine, needs no reference).
    """

    function: str
    points: float
    visibility: str
    timeout: float | None
    public: bool


def graded(
    function: str,
    *,
    points: float,
    visibility: Visibility = "hidden",
    timeout: float | None = None,
) -> Callable[[F], F]:
    """Mark a hidden test of ``function`` worth ``points``.

    Parameters
    ----------
    function : str
        Name of the contract function graded (in the test file's module).
    points : float
        Points awarded when the test passes (all or nothing).
    visibility : {"hidden", "after_due_date", "after_published", "visible"}
        When students see the test's result (Gradescope's words).
    timeout : float, optional
        Per-call deadline in seconds for this test's student calls.
    """
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES}, not {visibility!r}")
    if points < 0:
        raise ValueError("points must be >= 0")

    def mark(func: F) -> F:
        func.__grader_marker__ = Marker(function, float(points), visibility, timeout, False)  # type: ignore[attr-defined]
        return func

    return mark


def public(function: str, *, timeout: float | None = None) -> Callable[[F], F]:
    """Mark a public check of ``function`` (no points; needs no reference solution)."""

    def mark(func: F) -> F:
        func.__grader_marker__ = Marker(function, 0.0, "visible", timeout, True)  # type: ignore[attr-defined]
        return func

    return mark


class CheckFailed(Exception):
    """Raised by a failed expectation; ends the test with status ``failed``."""

    def __init__(self, message: str, diagnosis: Diagnosis | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.diagnosis = diagnosis


class StudentFunction:
    """A callable standing for one of the student's functions in the sandbox."""

    def __init__(self, ctx: Context, module: str, name: str,
                 errstate: str | None = None, timeout: float | None = None) -> None:
        self._ctx = ctx
        self.module = module
        self.name = name
        self._errstate = errstate
        self._timeout = timeout

    def options(self, *, errstate: str | None = None,
                timeout: float | None = None) -> StudentFunction:
        """The same function called under ``np.errstate(all=errstate, under="ignore")`` (so
        ``"raise"`` turns overflow, invalid values and division by zero into
        ``FloatingPointError``), or with another deadline."""
        return StudentFunction(self._ctx, self.module, self.name,
                               errstate or self._errstate, timeout or self._timeout)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._ctx._call(self, args, kwargs).value


class StudentModule:
    """Attribute access gives :class:`StudentFunction` objects of one student module."""

    def __init__(self, ctx: Context, module: str) -> None:
        self._ctx = ctx
        self._module = module

    def __getattr__(self, name: str) -> StudentFunction:
        if name.startswith("_"):
            raise AttributeError(name)
        return StudentFunction(self._ctx, self._module, name)


class Context:
    """What a check or test works with: the student's code, the reference, a seeded rng.

    Parameters
    ----------
    module : str
        The course module the test file belongs to.
    sandbox : Sandbox
        Runs the student's code.
    rng : numpy.random.Generator
        Seeded from the course secret, the student id and the test's id.
    reference : mapping of str to module, optional
        The reference solutions (hidden tests only).
    timeout : float, optional
        Per-call deadline for this test.
    """

    def __init__(self, module: str, sandbox: Sandbox, rng: np.random.Generator,
                 reference: Mapping[str, ModuleType] | None = None,
                 timeout: float | None = None) -> None:
        self.module = module
        self.rng = rng
        self.passes = 0
        self.last: CallResult | None = None
        self._sandbox = sandbox
        self._reference = reference
        self._timeout = timeout
        self._callbacks: dict[str, Callable[..., Any]] = {}
        self._patches: list[tuple[str, str, str]] = []
        self._names = itertools.count(1)

    # -- the student's code and the reference ------------------------------------------------
    @property
    def student(self) -> StudentModule:
        """The student's version of this test's module."""
        return StudentModule(self, self.module)

    def student_module(self, name: str) -> StudentModule:
        """The student's version of another course module."""
        return StudentModule(self, name)

    @property
    def ref(self) -> ModuleType:
        """The reference solution of this test's module (hidden tests only)."""
        return self.reference(self.module)

    def reference(self, name: str) -> ModuleType:
        """The reference solution of a course module (hidden tests only)."""
        if self._reference is None:
            raise RuntimeError("public checks have no reference solution")
        return self._reference[name]

    def callback(self, function: Callable[..., Any]) -> Callback:
        """Offer a grader-side function to the student's code (it is called through the
        sandbox channel and only plain data crosses)."""
        name = f"{getattr(function, '__name__', 'function')}#{next(self._names)}"
        self._callbacks[name] = function
        return Callback(name)

    @contextlib.contextmanager
    def isolated(self, *functions: str) -> Iterator[None]:
        """Within the block, the named student functions (``"mlp.loss_and_grads"``) are
        replaced by the reference, so that a mistake there does not cost this test."""
        added = []
        for qualname in functions:
            module, _, name = qualname.rpartition(".")
            module = module or self.module
            target = getattr(self.reference(module), name)
            callback = self.callback(target)
            added.append((module, name, callback.name))
        self._patches.extend(added)
        try:
            yield
        finally:
            del self._patches[len(self._patches) - len(added):]

    def _call(self, function: StudentFunction, args: Sequence[Any],
              kwargs: Mapping[str, Any]) -> CallResult:
        result = self._sandbox.call(
            function.module, function.name, args, kwargs, callbacks=self._callbacks,
            patch=list(self._patches), errstate=function._errstate,
            timeout=function._timeout or self._timeout)
        self.last = result
        return result

    # -- expectations -----------------------------------------------------------------------
    def passed(self) -> None:
        """Record one passing expectation (for checks written with plain ``if``)."""
        self.passes += 1

    def fail(self, message: str, *, misconception: str | None = None) -> None:
        """Fail the test with ``message`` (and the catalogued misconception, if given)."""
        diagnosis = None
        if misconception is not None:
            known = _misconceptions.CATALOGUE[misconception]
            diagnosis = Diagnosis(known.key, known.title, known.hint)
        raise CheckFailed(message, diagnosis)

    def expect(self, condition: bool, message: str, *, misconception: str | None = None) -> None:
        """Record a pass if ``condition`` holds, else fail with ``message``."""
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
        """
        result = _compare.compare(actual, expected, rtol=rtol, atol=atol, name=what,
                                  check_dtype=check_dtype)
        if not result.ok:
            diagnosis = _misconceptions.diagnose(actual, expected, batch_size=batch_size,
                                                 variants=variants, rtol=max(rtol, 1e-9),
                                                 atol=max(atol, 1e-12), name=what)
            raise CheckFailed(result.message, diagnosis)
        self.passed()

    def expect_gradient(self, analytic: Any, numeric: Any, *,
                        tol: float = _gradcheck.SMOOTH_TOL, what: str = "gradient",
                        floor: float = _gradcheck.REL_FLOOR) -> None:
        """Compare an analytic gradient with a numerical one (elementwise relative error
        ``|a - n| / max(floor, |a| + |n|)``; raise ``floor`` where entries can be tiny and
        finite differences leave round-off of about 1e-10 in them)."""
        result = _gradcheck.check_gradient(analytic, numeric, tol=tol, name=what, floor=floor)
        if not result.ok:
            raise CheckFailed(result.message)
        self.passed()

    def expect_unchanged(self) -> None:
        """The last student call left its arguments as they were."""
        if self.last is not None and self.last.mutated:
            raise CheckFailed(
                "your function changed its input in place: " + ", ".join(self.last.mutated),
                _misconceptions.mutation_diagnosis(self.last.mutated))
        self.passed()

    def expect_fresh(self) -> None:
        """The last student call returned new arrays, not views of its arguments."""
        if self.last is not None and self.last.aliased:
            known = _misconceptions.CATALOGUE["output_aliases_input"]
            raise CheckFailed(
                "the returned array shares memory with the input "
                + ", ".join(self.last.aliased),
                Diagnosis(known.key, known.title, known.hint))
        self.passed()
