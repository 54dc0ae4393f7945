"""What the test API calls student code through, what a call gives back, and what it raises.

A :class:`Runner` is :class:`grader.sandbox.box.Sandbox` (the sandboxed child) or
:class:`grader.sandbox.inprocess.InProcess` (a notebook kernel); both answer a call with a
:class:`CallResult` or one of the exceptions here, so a test means the same thing in both.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class StudentError(Exception):
    """The student's code raised an exception (or could not be imported)."""

    def __init__(self, type_name: str, message: str, traceback: str = "",
                 mutated: list[str] | None = None) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        #: argument paths the call changed in place before it raised (see CallResult.mutated)
        self.mutated = mutated or []

    @property
    def not_implemented(self) -> bool:
        """Whether the function is still the stub (raises ``NotImplementedError``)."""
        return self.type_name == "NotImplementedError"


class StudentTimeout(Exception):
    """A call ran past its deadline, or the submission used up its time budget."""


class SandboxCrash(Exception):
    """The child process ended during a call (exit, signal, or a broken channel)."""


class SandboxUnavailable(Exception):
    """The child could not start at all, before any student code ran: the grader's problem
    (a broken installation, a memory limit too small), never a student's."""


@dataclass
class CallResult:
    """What one call returned, rebuilt in the grader's process.

    Attributes
    ----------
    value : Any
        The returned value: fresh numpy arrays, Python numbers, strings, containers.
    mutated : list of str
        Argument paths (``args[0]['W1']``) of arrays the call changed in place: the grader
        saw their bytes change (its own observation), or the child reported the entry
        replaced (its word against itself: it can add a failure, never remove one).
    unobserved : list of str
        Argument paths of handles: values kept in the child, whose changes the grader
        cannot see (a call with any is no evidence of leaving its arguments unchanged).
    seconds : float
        Time spent inside the student's function, as measured in the child.
    unisolated : list of str
        The child's word on functions it was asked to swap for the reference but could not
        reach everywhere the student's code holds them (`grader.sandbox.swapping`): feedback only.
    """

    value: Any
    mutated: list[str] = field(default_factory=list)
    unobserved: list[str] = field(default_factory=list)
    seconds: float = 0.0
    unisolated: list[str] = field(default_factory=list)


class Runner(Protocol):
    """What the test API calls student code through: :class:`Sandbox`, or
    :class:`grader.sandbox.inprocess.InProcess` inside a notebook kernel."""

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
        """Call ``module.function``; see :meth:`Sandbox.call`."""
        ...

    def output(self) -> str:
        """What the student's code printed, capped."""
        ...


def describe_exit(code: int | None) -> str:
    """How a child ended, in words, from its exit status (negative: the signal)."""
    if code is None:
        return "the process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if name == "SIGXFSZ":
            return "the process was killed for writing too much output (file size limit)"
        if name in ("SIGKILL", "SIGSEGV"):
            return f"the process was killed ({name}); a common cause is running out of memory"
        return f"the process was killed by {name}"
    return f"the process exited with code {code}"
