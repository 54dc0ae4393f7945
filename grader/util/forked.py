"""``forked_map``: a function over many items, in forked copies of this process.

For trusted work that needs this process's state (imported modules, loaded data) and returns
plain, picklable data: each child inherits everything, computes every ``jobs``-th item and
pickles its results back through a pipe, in order.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO, TypeVar

__all__ = ["WorkerFailed", "forked_map"]

T = TypeVar("T")
R = TypeVar("R")


class WorkerFailed(RuntimeError):
    """The work raised, or a child ended before giving all its results."""


def forked_map(work: Callable[[T], R], items: Sequence[T], jobs: int) -> Iterator[R]:
    """``work(item)`` for every item, in order, computed by up to ``jobs`` forked children.

    Child ``k`` computes items ``k``, ``k + jobs`` ... and the results are yielded as soon as
    each is known and all before it have been yielded. With ``jobs`` below 2, a single item,
    or no ``os.fork``, everything runs here.

    Parameters
    ----------
    work : callable
        Called in a child (not pickled: inherited); its result must be picklable.
    items : sequence
        The items (not pickled either).
    jobs : int
        How many children at most.

    Yields
    ------
    object
        ``work(item)``, in the order of ``items``.

    Raises
    ------
    WorkerFailed
        ``work`` raised (its type and message are given), or a child died.
    """
    jobs = min(jobs, len(items))
    if jobs < 2 or not hasattr(os, "fork"):
        yield from map(work, items)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    readers: list[BinaryIO] = []
    pids: list[int] = []
    try:
        for k in range(jobs):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns
                os.close(read)
                _child(work, items[k::jobs], write)
            os.close(write)
            readers.append(os.fdopen(read, "rb"))
            pids.append(pid)
        for i in range(len(items)):
            try:
                kind, value = pickle.load(readers[i % jobs])
            except (EOFError, pickle.UnpicklingError) as exc:
                raise WorkerFailed(f"a worker ended before item {i}: {exc or 'no result'}") \
                    from None
            if kind == "error":
                raise WorkerFailed(value)
            yield value
    finally:
        for reader in readers:  # a child still writing gets a broken pipe and stops
            reader.close()
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _child(work: Callable[[T], R], items: Sequence[T], fd: int) -> None:
    """In a child: pickle ``("ok", work(item))`` or ``("error", text)`` for each item into
    ``fd``, then end the process (without running the parent's exit handlers)."""
    try:
        with os.fdopen(fd, "wb") as out:
            for item in items:
                try:
                    result: tuple[str, object] = ("ok", work(item))
                except Exception as exc:
                    result = ("error", f"{type(exc).__name__}: {exc}")
                pickle.dump(result, out)
                out.flush()
                if result[0] == "error":
                    break
    finally:
        os._exit(0)
