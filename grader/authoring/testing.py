"""The test API for course authors: markers for checks and tests, and the test context.

A public check (``checks/check_<module>.py``) or a hidden test
(``autograde_tests/test_<module>.py``) is a function of one argument, the :class:`Context`::

    from grader.authoring.testing import Context, graded

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
(``checks/course_helpers.py``, see `grader.course.config`).

Isolation: a hidden test of a function that calls other graded functions calls it ``with
ctx.isolated():``, so that a mistake in those costs this test nothing. Only the called
function's *declared calls* are swapped for the reference: the ``[calls]`` table of
``course.toml`` (`grader.course.config.Course.calls`), one entry per function for the whole course
rather than an argument of each test's marker, so that every test of a function isolates the
same things and a test generated from the course can check the table
(``tests/test_delegation.py``). A function is never handed its own answer: its declared calls
never include a function whose reference computes the same quantity (``layer.backward`` does
not declare ``backward_loops``), and whatever else it calls runs as the student's own code.
``ctx.isolated("mlp.forward")`` swaps a subset of the declared calls; a name that the function
called does not declare raises `UndeclaredCall`. The swap reaches every place the student's
code holds the function (tables, closures, default arguments, ``functools.partial``, class
attributes: `grader.sandbox.swapping`); where it cannot, the feedback of a failed test says which
calls may have run unisolated (`Context.isolation_note`).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, TypeVar

import numpy as np

from grader.authoring import compare as _compare
from grader.authoring import gradcheck as _gradcheck
from grader.authoring import misconceptions as _misconceptions
from grader.authoring.misconceptions import Diagnosis
from grader.sandbox.box import CallResult, Runner, StudentError
from grader.sandbox.wire import Callback, Helper

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
    uses : tuple of str
        Other student functions a public check depends on beyond those it calls itself
        (``"activations.sigmoid_prime"``, or a bare name of the same module): what the
        function under test may call inside the student's code, where the check cannot see.
    """

    function: str
    points: float
    visibility: str
    timeout: float | None
    public: bool
    uses: tuple[str, ...] = ()


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


def public(function: str, *, uses: Sequence[str] = (),
           timeout: float | None = None) -> Callable[[F], F]:
    """Mark a public check of ``function`` (no points; needs no reference solution).

    Parameters
    ----------
    function : str
        Name of the contract function checked (in the check file's module).
    uses : sequence of str, optional
        Other student functions the result depends on that the check does not call itself:
        those ``function`` may call in the student's code (``"cost"`` of the same module,
        ``"activations.sigmoid_prime"`` of another). When one of them, or a function the
        check calls itself, fails its own check, ``grader check`` reports this check's
        failure as that function's instead of diagnosing ``function`` (`grader.engine.blame`).
    timeout : float, optional
        Per-call deadline in seconds for this check's student calls.
    """

    def mark(func: F) -> F:
        func.__grader_marker__ = Marker(function, 0.0, "visible", timeout, True,  # type: ignore[attr-defined]
                                        tuple(uses))
        return func

    return mark


class UndeclaredCall(Exception):
    """A test isolated a function that the function under test does not declare (course.toml
    ``[calls]``): swapping it for the reference could hand the function its own answer."""


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
    show_expected : bool, optional
        False: failure messages say where and by about how much a value differs but print no
        expected value (a course's ``[grading] show_expected = false``, for hidden tests).
    declared_calls : mapping of str to sequence of str, optional
        The course's ``[calls]`` table: what each student function (``"layer.backward"``) may
        call and have swapped for the reference (``"activations.sigmoid"``), all that
        `isolated` may swap when that function is called.

    Attributes
    ----------
    calls : list of str
        The student functions called so far, as ``module.function``, each once, in order
        (what a failure may have come through).
    """

    def __init__(self, module: str, sandbox: Runner, rng: np.random.Generator,
                 reference: Mapping[str, ModuleType] | None = None,
                 timeout: float | None = None, show_expected: bool = True,
                 declared_calls: Mapping[str, Sequence[str]] | None = None) -> None:
        self.module = module
        self.rng = rng
        self.passes = 0
        self.last: CallResult | None = None
        self.calls: list[str] = []
        self.show_expected = show_expected
        self._sandbox = sandbox
        self._reference = reference
        self._timeout = timeout
        self._callbacks: dict[str, Callable[..., Any]] = {}
        self._isolating: list[tuple[str, ...] | None] = []  # one entry per isolated block
        self._declared = {k: tuple(v) for k, v in (declared_calls or {}).items()}
        self._unisolated: dict[str, None] = {}  # what a swap could not reach, in order
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
        """Within the block, each student function called runs with its declared calls
        (course.toml ``[calls]``) swapped for the reference, so that a mistake in those does
        not cost this test.

        Parameters
        ----------
        *functions : str
            Which declared calls to swap (``"mlp.forward"``, or a bare name of this test's
            module); none: every declared call of each function called in the block.

        Raises
        ------
        UndeclaredCall
            At a call in the block, if a name is not a declared call of the function called.
        """
        self._isolating.append(tuple(self._qualified(f) for f in functions) if functions
                               else None)
        try:
            yield
        finally:
            self._isolating.pop()

    def _swaps(self, function: StudentFunction) -> list[str]:
        """The qualified functions to swap for the reference in a call of ``function``."""
        if not self._isolating:
            return []
        called = f"{function.module}.{function.name}"
        declared = self._declared.get(called, ())
        wanted: dict[str, None] = {}
        for names in self._isolating:
            wanted.update(dict.fromkeys(declared if names is None else names))
        undeclared = [name for name in wanted if name not in declared]
        if undeclared:
            raise UndeclaredCall(
                f"the test isolates {', '.join(undeclared)} in a call of {called}, which does "
                f"not declare it in course.toml [calls] (it declares: "
                f"{', '.join(declared) or 'nothing'})")
        return list(wanted)

    def _qualified(self, name: str) -> str:
        return name if "." in name else f"{self.module}.{name}"

    def isolation_note(self) -> str:
        """What the swaps of `isolated` could not reach, as a paragraph for the feedback of a
        failed test (``""`` when every isolated call reached the reference)."""
        if not self._unisolated:
            return ""
        return ("\nSome of the functions this test swaps for the reference could not be "
                "swapped everywhere your code holds them, so your own version may have run "
                "instead:\n" + "\n".join(f"  {line}" for line in self._unisolated))

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
        qualified = f"{function.module}.{function.name}"
        if qualified not in self.calls:
            self.calls.append(qualified)
        patches = []
        for qualname in self._swaps(function):
            module, _, name = qualname.rpartition(".")
            callback = self.callback(getattr(self.reference(module), name))
            patches.append((module, name, callback.name))
        try:
            result = self._sandbox.call(
                function.module, function.name, args, kwargs, callbacks=self._callbacks,
                patch=patches, errstate=function._errstate,
                timeout=function._timeout or self._timeout)
        except StudentError as exc:
            self._blame_stub(function, exc)
            raise
        finally:
            for _, _, callback_name in patches:  # callable during this call only
                del self._callbacks[callback_name]
        self.last = result
        for line in getattr(result, "unisolated", ()):
            self._unisolated.setdefault(line)
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
                                  check_dtype=check_dtype, show_expected=self.show_expected)
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

        The error is elementwise relative, ``|a - n| / (floor + max(|a|, |n|))``, and its largest
        value must be at most ``tol`` (see `grader.authoring.gradcheck.check_gradient`).

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
            failure is diagnosed (`grader.authoring.misconceptions.diagnose`).
        batch_size : int, optional
            N, so that a sum-instead-of-mean (factor N) is recognised.
        """
        result = _gradcheck.check_gradient(analytic, numeric, tol=tol, name=what, floor=floor)
        if not result.ok:
            message = result.message
            if not self.show_expected and result.worst_index is not None \
                    and result.numeric is not None:  # the numerical gradient is the answer
                message = (f"{what}: analytic and numerical gradients differ by "
                           f"{_compare.about(result.max_rel_error)} at index "
                           f"{result.worst_index} (relative error "
                           f"{_gradcheck.ERROR_FORMULA.replace('floor', f'{floor:g}')} "
                           f"above {tol:g})")
            raise CheckFailed(message, _misconceptions.diagnose(
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
                _misconceptions.mutation_diagnosis(last.mutated))
        if not last.unobserved:
            self.passed()

    def expect_fresh(self) -> None:
        """Records nothing, and fails nothing.

        Whether a returned array shares memory with an argument can only be seen inside the
        sandbox, where the student's code runs and could say anything, so it earns no points
        (issue 11: nothing that decides points is computed there). A function that returns
        its changed input still fails `expect_unchanged`. Kept so that tests calling it run.
        """


def _catalogued(key: str | None) -> Diagnosis | None:
    """The diagnosis naming catalogued misconception ``key`` with its hint (None for None)."""
    if key is None:
        return None
    known = _misconceptions.CATALOGUE[key]
    return Diagnosis(known.key, known.title, known.hint)
