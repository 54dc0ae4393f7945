"""An in-process stand-in for the sandbox, for grading inside a Jupyter kernel (nbgrader).

nbgrader runs the tests in the same kernel as the student's code; there is no boundary to keep
there. :class:`InProcess` gives the test API the same behaviour as
:class:`grader.sandbox.box.Sandbox` (plain data in and out, changed arguments reported, deadlines,
isolation by patching), so a hidden test means the same thing in both places — but a grade that
matters should come from the sandboxed ``grader grade``. What a call means (references
resolved, declared calls swapped, arguments watched) is one implementation for both,
:mod:`grader.sandbox.calls`.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import FrameType, ModuleType
from typing import Any

from grader.sandbox import wire
from grader.sandbox.calls import Caller, Namespace, error_text, walk
from grader.sandbox.limits import Limits
from grader.sandbox.runner import CallResult, StudentError, StudentTimeout


class InProcess(Caller):
    """Calls functions of modules loaded in this process, as the sandbox would.

    Parameters
    ----------
    namespaces : mapping of str to module or dict
        Where each course module's functions live (a notebook's globals for its own module).
    limits : Limits
        Only ``call_timeout`` applies (through ``SIGALRM``, in the main thread).
    """

    #: the grader holds no copy of the arguments of its own here: compare their bytes
    keep_bytes = True

    def __init__(self, namespaces: Mapping[str, ModuleType | dict[str, Any]],
                 limits: Limits | None = None) -> None:
        super().__init__()
        self.namespaces = dict(namespaces)
        self.limits = limits or Limits()
        #: the callbacks offered to the call in progress, by name
        self._offered: Mapping[str, Callable[..., Any]] = {}

    def output(self) -> str:
        """Nothing is captured in-process."""
        return ""

    def _namespace(self, module: str) -> dict[str, Any]:
        found = self.namespaces.get(module)
        if found is None:
            try:
                found = importlib.import_module(module)
            except Exception as exc:
                raise StudentError("ImportError", f"{module} could not be imported: {exc}") \
                    from None
            self.namespaces[module] = found
        return found if isinstance(found, dict) else vars(found)

    # -- where things are (see calls.Caller) --------------------------------------------------
    def callback(self, name: str) -> Callable[..., Any]:
        """The grader's function offered as ``name`` (run here, directly)."""
        return self._offered[name]

    def helper(self, reference: wire.Helper) -> Callable[..., Any]:
        """A course helper: offered among the callbacks, under its key."""
        return self._offered[reference.key]

    def source(self, module: str) -> Namespace | None:
        return self._namespace(module)

    def scope(self) -> tuple[Callable[[], list[Namespace]], None]:
        """Every namespace given (or imported since); the student's own functions are those
        whose globals are one of them."""
        return (lambda: [self._namespace(m) for m in list(self.namespaces)]), None

    # -- calling ------------------------------------------------------------------------------
    def call(
        self,
        module: str,
        function: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        callbacks: Mapping[str, Callable[..., Any]] | None = None,
        patch: Sequence[tuple[str, str, str]] = (),
        errstate: str | None = None,
        timeout: float | None = None,
    ) -> CallResult:
        """Call ``module.function`` with copies of the arguments; see ``Sandbox.call``.

        As in the sandbox, ``mutated`` lists the array arguments whose bytes the call changed
        (or whose entry it replaced), ``unobserved`` the handles passed back, and nothing is
        said about aliasing.
        """
        target = self._namespace(module).get(function)
        if not callable(target):
            raise StudentError("MissingFunction", f"{module} has no function {function!r}")
        self._offered = callbacks or {}
        given = (list(args), dict(kwargs or {}))
        copies = (copy.deepcopy(given[0]), copy.deepcopy(given[1]))
        try:
            call_args = self.resolve(copies[0])
            call_kwargs = self.resolve(copies[1])
        except ValueError as exc:  # a handle that names nothing kept
            raise StudentError("ValueError", str(exc)) from None
        limit = timeout or self.limits.call_timeout
        outcome = self.run(target, call_args, call_kwargs, patch, errstate, _deadline(limit))
        if isinstance(outcome.error, StudentTimeout):
            raise StudentTimeout(f"{module}.{function} did not return within {limit:g} s") \
                from None
        if outcome.error is not None and not isinstance(outcome.error, Exception):
            raise outcome.error  # KeyboardInterrupt, SystemExit: not the student's result
        if outcome.error is not None:
            raise StudentError(type(outcome.error).__name__, error_text(outcome.error),
                               mutated=outcome.changed) from None
        unobserved = [path for path, v in walk(("args", given[0]), ("kwargs", given[1]))
                      if isinstance(v, wire.Handle)]
        # plain data, as from the sandbox
        rebuilt = wire.decode(wire.encode(outcome.value, keep=self.kept))
        return CallResult(rebuilt, outcome.changed, unobserved, outcome.seconds,
                          unisolated=list(outcome.unisolated))


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise StudentTimeout in this (main) thread after ``seconds``."""
    def expire(signum: int, frame: FrameType | None) -> None:
        raise StudentTimeout("deadline")

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:  # not the main thread: no deadline
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

