"""The test context: the student's code, the reference, a seeded rng, and isolation.

``ctx.student.<function>(...)`` runs the student's function in the sandbox and returns plain
data rebuilt in this process; ``ctx.ref`` is the reference solution (hidden tests only).

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
from types import ModuleType
from typing import Any

import numpy as np

from grader.authoring.expectations import AuthorError, CheckFailed, Expectations
from grader.authoring.misconceptions import Catalogue
from grader.sandbox.box import (
    CallResult,
    Runner,
    SandboxCrash,
    SandboxUnavailable,
    StudentError,
    StudentTimeout,
)
from grader.sandbox.wire import Callback, Helper

__all__ = ["Context", "StudentFunction", "StudentModule", "UndeclaredCall", "raised_in"]


class UndeclaredCall(AuthorError):
    """A test isolated a function that the function under test does not declare (course.toml
    ``[calls]``): swapping it for the reference could hand the function its own answer. A
    mistake of the test's, never the student's (`AuthorError`)."""


#: what a call of the student's code may raise about the student's code or the sandbox
_CALL_OUTCOMES = (StudentError, StudentTimeout, SandboxCrash, SandboxUnavailable)


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


class Context(Expectations):
    """What a check or test works with: the student's code, the reference, a seeded rng, and
    the expectations it records (`grader.authoring.expectations.Expectations`).

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
    catalogue : Catalogue, optional
        The course's misconceptions (`grader.course.config.Course.catalogue`), which name a
        recognised mistake in a failure; default: the built-in ones.

    Attributes
    ----------
    calls : list of str
        The student functions called so far, as ``module.function``, each once, in order
        (what a failure may have come through).
    """

    def __init__(self, module: str, sandbox: Runner, rng: np.random.Generator,
                 reference: Mapping[str, ModuleType] | None = None,
                 timeout: float | None = None, show_expected: bool = True,
                 declared_calls: Mapping[str, Sequence[str]] | None = None,
                 catalogue: Catalogue | None = None) -> None:
        super().__init__(show_expected=show_expected, catalogue=catalogue)
        self.module = module
        self.rng = rng
        self.calls: list[str] = []
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
        """The reference solution of a course module (hidden tests only).

        Raises
        ------
        AuthorError
            In a public check (it has no reference), or for a module the course lacks.
        """
        if self._reference is None:
            raise AuthorError("public checks have no reference solution (ctx.ref is for "
                              "hidden tests)")
        try:
            return self._reference[name]
        except KeyError:
            raise AuthorError(f"no reference module {name!r}: the course's modules are "
                              f"{', '.join(self._reference)}") from None

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
        except _CALL_OUTCOMES:
            raise
        except Exception as exc:  # the call could not be made: its arguments are the test's
            raise AuthorError(f"the test's call of {qualified} could not be made: "
                              f"{type(exc).__name__}: {exc}") from exc
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
