"""Worker processes with a deadline per job: a worker that overruns is killed and replaced.

A job's deadline covers everything its worker does, the grader's own code included, where no
sandbox deadline reaches (a test that blocks writing to a child that never reads, say). So no
job can hold the pool past its own deadline: the others go on, on the remaining workers and
on the replacement. Each worker is forked from this process (it inherits the loaded course)
and gets a temporary folder of its own, removed when it ends, however it ends.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
#: seconds a worker gets to end after SIGTERM before SIGKILL
GRACE = 2.0


@dataclass(frozen=True)
class Done(Generic[Item]):
    """A job's end: ``kind`` is ``"done"`` (``value`` is what the job returned),
    ``"failed"`` (``value`` is the exception, as ``"Type: message"``), ``"stuck"`` (its
    worker overran the deadline and was killed; ``value`` is the deadline in seconds) or
    ``"died"`` (its worker ended without an answer; ``value`` describes the exit)."""

    item: Item
    kind: str
    value: Any


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    tmp: Path
    slot: int
    job: Any = None
    started: float = 0.0


def _serve(conn: Connection, tmp: str, slot: int, job: Callable[[Any], Any],
           initializer: Callable[[int], None] | None) -> None:
    """A worker's loop: run each job received, send back its value or its exception."""
    tempfile.tempdir = tmp  # whatever the job leaves behind goes with the worker's folder
    if initializer is not None:
        initializer(slot)
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[bool, Any] = (True, job(item))
        except Exception as exc:
            answer = (False, f"{type(exc).__name__}: {exc}")
        conn.send(answer)


def _stop(workers: Iterable[_Worker]) -> None:
    """End workers: SIGTERM (each cleans up), then SIGKILL for any not ended in time."""
    workers = list(workers)
    for worker in workers:
        if worker.process.is_alive() and worker.process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.process.pid, signal.SIGTERM)
    ends = time.monotonic() + GRACE
    for worker in workers:
        worker.process.join(max(0.0, ends - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.conn.close()
        shutil.rmtree(worker.tmp, ignore_errors=True)


def run(items: Iterable[Item], job: Callable[[Item], Any], *, workers: int, deadline: float,
        initializer: Callable[[int], None] | None = None) -> Iterator[Done[Item]]:
    """Run ``job`` on every item in ``workers`` forked processes, each job under ``deadline``.

    Parameters
    ----------
    items : iterable
        The jobs' inputs (picklable).
    job : callable
        What a worker does with one item; its return value must be picklable.
    workers : int
        Worker processes (at least 1).
    deadline : float
        Seconds one job may take, from the moment its worker receives it.
    initializer : callable, optional
        Called in each new worker with its slot number (0 .. workers - 1); a replacement
        worker gets the slot of the one it replaces.

    Yields
    ------
    Done
        One per item, as each ends (in no particular order).
    """
    context = multiprocessing.get_context("fork")
    waiting = deque(items)
    pool: list[_Worker] = []

    def start(slot: int) -> _Worker:
        ours, theirs = context.Pipe()
        tmp = Path(tempfile.mkdtemp(prefix="grader-worker-"))
        tmp.chmod(0o711)  # a sandbox running as another uid may pass through, not list
        process = context.Process(target=_serve, args=(theirs, str(tmp), slot, job,
                                                       initializer), daemon=True)
        process.start()
        theirs.close()
        return _Worker(process, ours, tmp, slot)

    def feed(worker: _Worker) -> None:
        """Give a worker the next item; one that cannot take it is replaced."""
        while waiting:
            worker.job, worker.started = waiting.popleft(), time.monotonic()
            try:
                worker.conn.send(worker.job)
                return
            except OSError:  # it is gone: the item goes to its replacement
                waiting.appendleft(worker.job)
                worker = replace(worker, feed_it=False)
        worker.job = None

    def replace(worker: _Worker, feed_it: bool = True) -> _Worker:
        _stop([worker])
        fresh = pool[pool.index(worker)] = start(worker.slot)
        if feed_it:
            feed(fresh)
        return fresh

    try:
        for slot in range(min(workers, len(waiting))):
            pool.append(start(slot))
            feed(pool[-1])
        while busy := [w for w in pool if w.job is not None]:
            left = min(w.started + deadline for w in busy) - time.monotonic()
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                         timeout=max(0.0, left))
            now = time.monotonic()
            for worker in busy:
                item = worker.job
                if worker.conn in ready or worker.process.sentinel in ready:
                    try:
                        ok, value = worker.conn.recv()
                    except (EOFError, OSError):  # it ended without an answer
                        worker.process.join(GRACE)
                        code = worker.process.exitcode
                        replace(worker)
                        yield Done(item, "died", _describe(code))
                        continue
                    feed(worker)
                    yield Done(item, "done" if ok else "failed", value)
                elif now >= worker.started + deadline:
                    replace(worker)
                    yield Done(item, "stuck", deadline)
    finally:  # the end, Ctrl-C or a stop: no worker outlives the pool
        _stop(pool)


def _describe(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
