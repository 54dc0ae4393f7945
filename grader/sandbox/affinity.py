"""Which CPU a grading worker runs on: one each, shared with its sandbox.

A worker and its sandboxed child take turns: the worker sends a call and waits, the child
runs it and waits for the next. On a virtual machine, waking a process that sleeps on another
CPU costs tens of microseconds more than switching on the same CPU, and a submission's
grading is hundreds of such hand-overs (calls and callbacks). So each worker is pinned to a
CPU of its own, and the sandbox it starts inherits the pin: measured on the 2-CPU benchmark
machine, a callback's round trip fell from about 150 to about 80 microseconds and a
submission's grading by about 18%.

Pinning applies only while there are at least as many CPUs as workers; ``GRADER_PIN_CPUS=0``
turns it off (a machine busy with other work may prefer the scheduler's choice).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from multiprocessing.sharedctypes import Synchronized

ENV_PIN = "GRADER_PIN_CPUS"


def available() -> list[int]:
    """The CPUs this process may run on, in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return []


def enabled(workers: int) -> bool:
    """Whether ``workers`` grading processes are pinned, one CPU each."""
    return os.environ.get(ENV_PIN, "1") != "0" and 1 <= workers <= len(available())


def pin(index: int) -> None:
    """Pin the calling process to the ``index``-th available CPU (modulo their number)."""
    cpus = available()
    if cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpus[index % len(cpus)]})


def pin_next(counter: Synchronized[int]) -> None:
    """Pin a pool worker to the next CPU, counting workers in the shared ``counter``."""
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    pin(index)


@contextlib.contextmanager
def pinned(active: bool) -> Iterator[None]:
    """Run the block pinned to one CPU (the first available), then restore the affinity."""
    before = set(available())
    if not active or not before:
        yield
        return
    pin(0)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, before)
