"""The resource limits of one submission's child: what ``[limits]`` of ``course.toml`` sets."""

from __future__ import annotations

from dataclasses import dataclass

from grader.sandbox import wire

__all__ = ["Limits"]


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's child process.

    Attributes
    ----------
    call_timeout : float
        Wall-clock seconds one call may take (the import of its module included).
    submission_timeout : float
        Wall-clock seconds all calls of one submission may take together.
    memory_mb : int
        Address-space limit of the child (``RLIMIT_AS``), in MiB.
    file_size_mb : int
        Largest file the child may write (``RLIMIT_FSIZE``), its captured output included.
    output_bytes : int
        How much of the child's stdout and stderr is kept for feedback.
    message_mb : int
        Largest message between grader and child, in MiB: one from the child is refused at
        its header, a callback reply over it is the student's error.
    callback_mb : int
        How much a callback (the grader's function run at the child's request) may grow the
        grading process's address space, in MiB.
    allow_imports : tuple of str
        Packages a submission may import besides numpy and the standard library.
    """

    call_timeout: float = 10.0
    submission_timeout: float = 300.0
    memory_mb: int = 2048
    file_size_mb: int = 64
    output_bytes: int = 16 * 1024
    message_mb: int = 32
    callback_mb: int = 256
    allow_imports: tuple[str, ...] = ()

    @property
    def message_memory_bytes(self) -> int:
        """The most the grader's memory grows while it reads one message from the child
        (``wire.READ_FACTOR * message_mb``, see :mod:`grader.sandbox.wire`)."""
        return wire.READ_FACTOR * (self.message_mb << 20)

    @property
    def grader_memory_bytes(self) -> int:
        """The most one child can make its grading process allocate beyond the grader's own
        memory: reading one message, plus one callback's budget (its reply included)."""
        return self.message_memory_bytes + (self.callback_mb << 20)
