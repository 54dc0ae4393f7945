"""A budget for grader code run at the child's request (callbacks): a deadline and a memory cap.

A callback is the grader's own function (a reference implementation) run on arguments the
student's code chose, so its time and memory are the student's to spend, within bounds:

Time
    In the process's main thread (every grading worker runs its sandbox there), an interval
    timer (``SIGALRM``) is set to each sandbox call's deadline (:func:`calling`); if it fires
    while a callback runs (:func:`serving`), the callback is interrupted with
    :class:`OutOfTime`, and otherwise it does nothing (the channel's reads end at the same
    deadline by themselves). Python runs the handler between bytecodes, so one long numpy
    operation finishes first; the memory cap bounds how long that can be. Elsewhere (a thread
    of a Dask worker) no timer is set, and the caller refuses a callback that ended past the
    deadline.
Memory
    While a callback runs, the soft ``RLIMIT_AS`` of this process is lowered to its current
    address space plus the budget and restored afterwards, so an allocation past the budget
    raises ``MemoryError`` there, whatever allocates it. The limit is per process, so it is
    lowered only while no other sandbox call of this process is in progress (:func:`calling`
    counts them, and a new call waits for a running callback to end): a second grading thread
    is never the one that fails. Threads that do not grade (a Dask worker's communication
    threads) share the cap for those milliseconds.

Cost: three system calls per callback (a ``/proc/self/statm`` read, two ``setrlimit``) and
four per call (the timer checked, set and cleared, ``getrlimit``): about 13 microseconds of
the grader's CPU per callback, measured in a running sandbox on a loaded machine, so about 6
ms for the 430 callbacks of a whole submission (1% of its grading time). The ``SIGALRM``
handler is installed once per process and kept: it does nothing unless a callback runs, and
code that installs another handler for a while (`grader.sandbox.inprocess`) restores it.

The timer and the address-space limit belong to the process, so one :class:`Budget` keeps
their state for the whole process (:func:`process_budget`); each sandbox holds it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

_PAGE = os.sysconf("SC_PAGE_SIZE")


class OutOfTime(Exception):
    """The callback ran into the call's deadline."""


class Budget:
    """The callback budget of one process: its sandbox calls in progress, the callback
    running, the address-space limit as the current call found it, and its timer."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # reentrant: a callback that calls the sandbox fails
        self._active = 0  # sandbox calls in progress in this process
        self._serving = False  # whether a callback runs (the timer interrupts only then)
        self._limits: tuple[int, int] | None = None  # RLIMIT_AS as the current call found it
        self._statm: tuple[int, int] | None = None  # (pid, fd of /proc/self/statm), once open
        self._handler = self._expire  # bound once: the installed handler is recognised by it

    @contextlib.contextmanager
    def calling(self, deadline: float) -> Iterator[None]:
        """One sandbox call in progress: counted (see Memory) and, in the main thread, timed
        to ``deadline`` (a ``time.monotonic()`` instant)."""
        with self._lock:
            self._active += 1
            self._limits = resource.getrlimit(resource.RLIMIT_AS)
        armed = False
        try:
            armed = self._arm(deadline - time.monotonic())
            yield
        finally:
            try:
                if armed:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            finally:
                with self._lock:
                    self._active -= 1

    @contextlib.contextmanager
    def serving(self, deadline: float, memory_bytes: int) -> Iterator[None]:
        """Run a callback within the call's ``deadline`` and ``memory_bytes`` more address
        space.

        Parameters
        ----------
        deadline : float
            The call's deadline, a ``time.monotonic()`` instant.
        memory_bytes : int
            How much the process's address space may grow in the block.

        Raises
        ------
        OutOfTime
            The deadline has passed, or came during the block (main thread only).
        MemoryError
            An allocation in the block went past the budget.
        """
        if time.monotonic() >= deadline:
            raise OutOfTime
        with self._lock:  # held for the block: no other call of this process starts meanwhile
            restore = self._cap(memory_bytes) if self._active <= 1 else None
            try:
                self._serving = True
                try:
                    yield
                finally:
                    self._serving = False  # from here on the timer interrupts nothing
            finally:
                if restore is not None:
                    resource.setrlimit(resource.RLIMIT_AS, restore)

    def _cap(self, memory_bytes: int) -> tuple[int, int] | None:
        """Lower the soft address-space limit to the current size plus ``memory_bytes``; the
        limits to restore, or None if they stay as they were."""
        soft, hard = self._limits or resource.getrlimit(resource.RLIMIT_AS)
        size = self.address_space()
        if size <= 0:
            return None
        wanted = size + memory_bytes
        if hard != resource.RLIM_INFINITY:
            wanted = min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft <= wanted:
            return None
        resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
        return soft, hard

    def address_space(self) -> int:
        """This process's address space in bytes (what ``RLIMIT_AS`` counts), 0 if unknown."""
        pid = os.getpid()
        if self._statm is None or self._statm[0] != pid:  # first use, or a forked worker
            if self._statm is not None:
                with contextlib.suppress(OSError):
                    os.close(self._statm[1])
            try:
                self._statm = (pid, os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC))
            except OSError:
                self._statm = None
                return 0
        try:
            return int(os.pread(self._statm[1], 64, 0).split()[0]) * _PAGE
        except (OSError, ValueError, IndexError):
            return 0

    def _expire(self, signum: int, frame: FrameType | None) -> None:
        if self._serving:
            self._serving = False  # one interruption per callback
            raise OutOfTime

    def _arm(self, seconds: float) -> bool:
        """Start the timer, in the main thread and when no other timer runs; whether it was."""
        if seconds <= 0 or threading.current_thread() is not threading.main_thread():
            return False
        if signal.getitimer(signal.ITIMER_REAL) != (0.0, 0.0):
            return False  # someone else's timer: leave it, the caller checks the time after
        if signal.getsignal(signal.SIGALRM) is not self._handler:
            # installed once and kept (``signal.signal`` costs 6 microseconds): it does
            # nothing unless a callback runs, and whoever installs another handler for a
            # while restores it
            signal.signal(signal.SIGALRM, self._handler)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        return True


_PROCESS = Budget()


def process_budget() -> Budget:
    """This process's budget (the timer and the address-space limit are the process's)."""
    return _PROCESS
