"""The local executor: worker processes forked from this one (`grader.batch.pool`).

The main process loads the course, its hidden tests and the reference into the run's
`grader.batch.jobs.BatchState` and warms them up before the workers fork, so each worker
inherits them loaded and a submission costs its own checks plus one sandbox start. Each worker
grades and writes its student's result (`BatchState.grade_submission`); a worker that overruns
a submission's `grader.batch.executors.base.worker_deadline` is killed and replaced, and that
student gets an error result.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from grader.batch import pool
from grader.batch.executors.base import stuck_result, worker_deadline
from grader.batch.jobs import BatchState, Graded
from grader.batch.unpacked import Submission
from grader.engine.grading import warm_up
from grader.sandbox import affinity, launch
from grader.sandbox.isolation import detect, protect
from grader.util import inert


@dataclass(frozen=True)
class LocalExecutor:
    """Grade in ``jobs`` processes forked from this one (`grader.batch.executors.base.Executor`).

    Attributes
    ----------
    jobs : int
        Worker processes at most (no more are started than there are submissions).
    """

    jobs: int

    def run(self, todo: Sequence[Submission], state: BatchState,
            log: TextIO) -> Iterator[Graded | str]:
        """Grade ``todo`` (`grader.batch.executors.base.Executor.run`). A worker that does
        not finish a submission within `worker_deadline` is killed and replaced, and that
        student gets an error result; a worker that dies is the grader's failure for its
        student, and is replaced too."""
        course = state.course
        if detect().level == "uid":  # the child's uid must not read what decides a grade,
            # nor the other students' work (the class's own files, before their copies)
            for path in protect([*course.private_paths, state.out,
                                 *(submission.path for submission in todo)]):
                print(f"made {path} unreadable to other users (the sandbox runs as one)",
                      file=log)
        if not todo:
            return
        warm_up(state.specs, state.reference)
        workers = min(self.jobs, len(todo))
        pin = affinity.enabled(workers)
        deadline = worker_deadline(course, state.specs)
        # the workers are forked: each inherits ``state`` as loaded here
        for end in pool.run(todo, state.grade_submission, workers=workers, deadline=deadline,
                            initializer=lambda slot: _worker_init(state, pin, slot)):
            student = inert.text(end.item.student)
            if end.kind == "done":
                yield end.value
            elif end.kind == "stuck":
                yield stuck_result(state, end.item, deadline)
            else:
                why = end.value if end.kind == "failed" else f"its worker ended ({end.value})"
                yield f"{student}: {why}"


def _worker_init(state: BatchState, pin: bool, slot: int) -> None:
    """Set up a new worker process: signals, its CPU, and the zygote its sandboxes use."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C
    signal.signal(signal.SIGTERM, _stop_worker)  # stopped: clean up sandbox and temp files
    if pin:
        affinity.pin(slot)  # this worker and its sandboxes on a CPU of their own
    launch.prestart(detect().allowing(state.course.allow_imports))


def _stop_worker(signum: int, frame: object) -> None:
    raise SystemExit(1)
