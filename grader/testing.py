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

Helpers shared by one course's checks and tests live with the course, not here
(``checks/course_helpers.py``, see `grader.course`).
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
from grader.sandbox import CallResult, Runner, StudentError
from grader.wire import Callback, Helper

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


def raised_in(exc: StudentError) -> str:
    """The name of the student's function in which ``exc`` was raised (``""`` if unknown).

    Parameters
    ----------
    exc : StudentError
        An exception of the student's code, with the child's traceback.

    Returns
    -------
    str
        The function of the innermost frame (``"relu"`` when ``mlp.forward`` called a stub
        ``relu``), or ``""`` when the traceback names none.
    """
    frames = [line for line in exc.traceback.splitlines() if line.lstrip().startswith("File ")]
    return frames[-1].rsplit(" in ", 1)[-1].strip() if frames else ""


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
    sandbox : Runner
        Runs the student's code.
    rng : numpy.random.Generator
        Seeded from the course secret, the student id and the test's id.
    reference : mapping of str to module, optional
        The reference solutions (hidden tests only).
    timeout : float, optional
        Per-call deadline for this test.
    """

    def __init__(self, module: str, sandbox: Runner, rng: np.random.Generator,
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
        self._checked: list[str] = []

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

    def seed(self) -> int:
        """A new seed drawn from ``rng``, for a generator handed to the student's code
        (``np.random.default_rng(ctx.seed())``) or rebuilt to replay the same draws."""
        return int(self.rng.integers(2**62))

    def callback(self, function: Callable[..., Any]) -> Callback:
        """Offer a grader-side function to the student's code (it is called through the
        sandbox channel and only plain data crosses)."""
        name = f"{getattr(function, '__name__', 'function')}#{next(self._names)}"
        self._callbacks[name] = function
        return Callback(name)

    def helper(self, function: Callable[..., Any]) -> Helper:
        """Offer a public course helper (a function of a ``[grading] sandbox_helpers`` module
        of ``checks/``) to the student's code: it runs in the sandbox itself, so a function
        called thousands of times (a loss in a gradient check) costs no round trips. Only
        public code may be offered this way: the student can read it."""
        helper = Helper(function.__module__, function.__name__)
        self._callbacks[helper.key] = function  # where no sandbox runs it (in process)
        return helper

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

    @contextlib.contextmanager
    def blame_other_stubs(self, function: str) -> Iterator[None]:
        """Within the block, a ``NotImplementedError`` raised in any of the student's functions
        but ``function`` fails the test with a message that names the stub, instead of reading
        as "``function`` is not implemented yet".

        For a check that runs the student's own code around the function it checks: ``forward``
        calling a stub ``relu``, or finite differences of the student's ``sse`` in a check of
        ``sse_grad``. A stub ``function`` itself still reads as not implemented.

        Parameters
        ----------
        function : str
            The function the test checks (a name of this test's module).
        """
        self._checked.append(function)
        try:
            yield
        finally:
            self._checked.pop()

    def _call(self, function: StudentFunction, args: Sequence[Any],
              kwargs: Mapping[str, Any]) -> CallResult:
        try:
            result = self._sandbox.call(
                function.module, function.name, args, kwargs, callbacks=self._callbacks,
                patch=list(self._patches), errstate=function._errstate,
                timeout=function._timeout or self._timeout)
        except StudentError as exc:
            self._blame_stub(function, exc)
            raise
        self.last = result
        return result

    def _blame_stub(self, function: StudentFunction, exc: StudentError) -> None:
        """Fail with a message naming the stub, if ``exc`` is one to blame on another function
        (see `blame_other_stubs`)."""
        if not (self._checked and exc.not_implemented):
            return
        where, checked = raised_in(exc), self._checked[-1]
        if where in ("", checked):
            return
        called = function.name if function.module == self.module \
            else f"{function.module}.{function.name}"
        if where == function.name:
            message = (f"this check uses your {called}, which is not implemented yet: "
                       f"implement {called} first")
        else:
            message = (f"{called} calls your {where}, which is not implemented yet: "
                       "implement it first")
        raise CheckFailed(message) from exc

    # -- expectations -----------------------------------------------------------------------
    def passed(self) -> None:
        """Record one passing expectation (for checks written with plain ``if``)."""
        self.passes += 1

    def fail(self, message: str, *, misconception: str | None = None) -> None:
        """Fail the test with ``message`` (and the catalogued misconception, if given)."""
        raise CheckFailed(message, _catalogued(misconception))

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
        """
        result = _compare.compare(actual, expected, rtol=rtol, atol=atol, name=what,
                                  check_dtype=check_dtype)
        if not result.ok:
            diagnosis = _catalogued(misconception) or _misconceptions.diagnose(
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
        tol: float = _gradcheck.SMOOTH_TOL,
        what: str = "gradient",
        floor: float = _gradcheck.REL_FLOOR,
        variants: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> None:
        """Compare an analytic gradient with a numerical one; on failure explain and diagnose.

        The error is elementwise relative, ``|a - n| / max(floor, |a| + |n|)``, and its largest
        value must be at most ``tol`` (see `grader.gradcheck.check_gradient`).

        Parameters
        ----------
        analytic : Any
            The student's gradient, expected to be an array of the shape of ``numeric``.
        numeric : array_like
            The numerical gradient (central differences).
        tol : float
            Largest relative error accepted: `grader.gradcheck.SMOOTH_TOL` for smooth
            functions, `grader.gradcheck.KINK_TOL` where a ReLU is involved.
        what : str
            How the gradient is named in the message.
        floor : float
            Floor of the denominator (`grader.gradcheck.REL_FLOOR`). Raise it where entries can
            be tiny: central differences leave round-off of about 1e-11 |f| in them, which
            reads as a large relative error below the floor.
        variants : mapping, optional
            Misconception key -> the gradient that mistake would give, tried first when a
            failure is diagnosed (`grader.misconceptions.diagnose`).
        batch_size : int, optional
            N, so that a sum-instead-of-mean (factor N) is recognised.
        """
        result = _gradcheck.check_gradient(analytic, numeric, tol=tol, name=what, floor=floor)
        if not result.ok:
            raise CheckFailed(result.message, _misconceptions.diagnose(
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
        """The last student call left its arguments as they were."""
        if self.last is not None and self.last.mutated:
            raise CheckFailed(
                "your function changed its input in place: " + ", ".join(self.last.mutated),
                _misconceptions.mutation_diagnosis(self.last.mutated))
        self.passed()

    def expect_fresh(self) -> None:
        """The last student call returned new arrays, not views of its arguments."""
        if self.last is not None and self.last.aliased:
            raise CheckFailed(
                "the returned array shares memory with the input "
                + ", ".join(self.last.aliased),
                _catalogued("output_aliases_input"))
        self.passed()


def _catalogued(key: str | None) -> Diagnosis | None:
    """The diagnosis naming catalogued misconception ``key`` with its hint (None for None)."""
    if key is None:
        return None
    known = _misconceptions.CATALOGUE[key]
    return Diagnosis(known.key, known.title, known.hint)
