"""What an executor is, and what every executor shares: its errors and its deadline per job.

An executor grades the submissions of one run and yields each student's summary as it finishes
(`Executor.run`); it writes each result through the run's `grader.batch.jobs.BatchState`
before yielding it, so that an interrupted run keeps every result it yielded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Protocol, TextIO

from grader.batch.jobs import BatchState, Graded, read_submission
from grader.batch.unpacked import Submission
from grader.course.config import Course, TestSpec

#: extra seconds a local worker gets, beyond a submission's budget and its last call's
#: deadline, before it is taken for stuck and replaced (``GRADER_WORKER_SLACK`` overrides)
WORKER_SLACK = 40.0
ENV_SLACK = "GRADER_WORKER_SLACK"


class ExecutorError(Exception):
    """The executor cannot be used as asked (a usage error: exit code 2)."""


class ClusterError(Exception):
    """The cluster cannot be reached, or a worker cannot grade this course."""


class Executor(Protocol):
    """Where a class is graded (`grader.batch.executors.executor_for` makes one)."""

    def run(self, todo: Sequence[Submission], state: BatchState,
            log: TextIO) -> Iterator[Graded | str]:
        """Grade ``todo``.

        Parameters
        ----------
        todo : sequence of Submission
            The submissions to grade (each student once).
        state : BatchState
            The run's course, hidden tests, reference, secret and output folder.
        log : TextIO
            Where progress and warnings go.

        Yields
        ------
        Graded or str
            Each student's summary as it finishes (its result already written), or the
            grader's failure for one student, as ``"<student>: <why>"``.
        """
        ...


def worker_deadline(course: Course, specs: Sequence[TestSpec]) -> float:
    """Seconds a worker may spend on one submission before it is taken for stuck: the
    sandbox's submission budget, plus the longest call deadline (the last call may start
    just inside the budget), plus `WORKER_SLACK` (the sandbox's start and the grader's own
    work; ``GRADER_WORKER_SLACK`` sets it)."""
    longest = max([course.limits.call_timeout,
                   *(s.marker.timeout for s in specs if s.marker.timeout)])
    try:
        slack = float(os.environ.get(ENV_SLACK, WORKER_SLACK))
    except ValueError:
        slack = WORKER_SLACK
    return course.limits.submission_timeout + longest + max(0.0, slack)


def stuck_result(state: BatchState, submission: Submission, deadline: float) -> Graded:
    """Write the result of a student whose grading overran ``deadline`` seconds: every test
    0, charged to their files (a rerun keeps it while they are unchanged)."""
    limits = state.course.limits
    job = read_submission(submission, state.course)
    return state.fail(
        job.student,
        f"grading stopped: it did not finish within {deadline:g} s (the submission's time "
        f"budget of {limits.submission_timeout:g} s, its last call's deadline and a "
        "margin), so the grading process was replaced; tell your instructor",
        source=job.source, files_digest=job.digest, stuck=True)
