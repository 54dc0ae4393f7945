"""Grading a class: every submission graded in parallel, each result written as it finishes.

`grade` loads the course, its hidden tests and the reference once, into the run's
`grader.batch.jobs.BatchState`, and hands it to an executor (`grader.batch.executors`): worker
processes forked from this one, so a submission costs its own checks plus one sandbox start, or
the workers of a Dask cluster, where this process reads each submission and writes each result
that comes back. Each result is written atomically as it finishes; the main process only keeps
a few numbers per student (`Graded`); a worker that overruns a submission's deadline is
replaced.

Each result records the digest of the files it graded (`grader.batch.unpacked.Unpacked.digest`),
which also seeds that student's inputs. A rerun reads every submission that already has a
valid result and keeps the result only while the digest is unchanged: changed files are
regraded (with fresh inputs), and the summary (`grader.batch.summary`) says how many were new,
regraded and kept, and describes every result of the output folder (``force`` regrades
everyone). Progress goes to the log as it goes (`grader.batch.progress`). Student ids reach the
terminal, the CSV and file names only through `grader.util.inert`.

`Graded`, `Job`, `read_submission` and `grade_job` (`grader.batch.jobs`) are importable from
here too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from grader.batch.executors import Executor, executor_for
from grader.batch.jobs import BatchState, Graded, Job, grade_job, read_submission
from grader.batch.progress import MODES, Progress
from grader.batch.submissions import discover
from grader.batch.summary import BatchReport
from grader.batch.unpacked import Submission
from grader.course.config import Course
from grader.engine import results
from grader.exports import gradebook as export
from grader.util import inert
from grader.util.files import FILE_MODE

__all__ = ["BatchReport", "Graded", "Interrupted", "Job", "OutputLocked", "grade",
           "grade_job", "read_submission"]


# -- the class ------------------------------------------------------------------------------------
def grade(
    paths: Sequence[Path | Submission],
    *,
    course: Course,
    out: Path,
    jobs: int | None = None,
    secret: str | None = None,
    gradescope: bool = False,
    force: bool = False,
    log: TextIO | None = None,
    executor: str | Executor = "local",
    scheduler: str | None = None,
    progress: str = "auto",
) -> BatchReport:
    """Grade submissions into ``out``: ``<student>.json``, ``gradebook.csv`` and, with
    ``gradescope``, ``<student>.gradescope.json``.

    Parameters
    ----------
    paths : sequence of Path or Submission
        Submissions (folders, zips, notebooks) or folders of them; a ``Submission`` names
        its student explicitly (as in nbgrader's ``submitted/<student>/<assignment>``).
    course : Course
        The course, with hidden tests and reference solutions.
    out : Path
        Output folder (created).
    jobs : int, optional
        Parallel workers of the local executor (default: the CPU count).
    secret : str, optional
        Course secret for the per-student inputs (default: the course's).
    gradescope : bool
        Also write Gradescope ``results.json`` files.
    force : bool
        Regrade every student, also those whose result is valid and whose files are
        unchanged (without it, only new students and changed files are graded).
    log : TextIO, optional
        Where progress goes (default stderr).
    executor : {"local", "dask"} or Executor
        Where submissions are graded: worker processes on this machine, or the workers of a
        Dask cluster (`grader.batch.executors`; results come back here and are written here);
        or an executor already made by `grader.batch.executors.executor_for` (then ``jobs``
        and ``scheduler`` are not used).
    scheduler : str, optional
        The Dask scheduler's address (required with ``executor="dask"``).
    progress : {"auto", "steps", "each"}
        How progress is shown on ``log`` (`grader.batch.progress.Progress`): a bar on a
        terminal and a line per 5 % of the class elsewhere, always such lines, or a line per
        student.

    Raises
    ------
    grader.batch.submissions.SubmissionError
        A path does not exist or holds no submission (a usage error).
    grader.batch.executors.ExecutorError
        The executor is unknown, lacks its scheduler, or dask is not installed (a usage error).
    grader.batch.executors.ClusterError
        The cluster cannot be reached or cannot grade this course.
    """
    if progress not in MODES:
        raise ValueError(f"unknown progress mode {progress!r}: use one of {', '.join(MODES)}")
    where = (executor_for(executor, jobs=jobs, scheduler=scheduler)
             if isinstance(executor, str) else executor)
    stream = log or sys.stderr
    submissions = [p for p in paths if isinstance(p, Submission)]
    submissions += discover([p for p in paths if not isinstance(p, Submission)], course.modules)
    out.mkdir(parents=True, exist_ok=True)
    with _lock(out):
        return _grade_locked(submissions, course, out, where, secret, gradescope, force,
                             stream, progress)


class OutputLocked(Exception):
    """Another ``grader grade`` is writing to the same output folder."""


class Interrupted(Exception):
    """Grading was stopped (Ctrl-C); what was finished is kept."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"interrupted after {done} of {total} submissions")
        self.done = done
        self.total = total


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """Hold ``out/.grader.lock`` so that two runs cannot write one folder at once."""
    path = out / ".grader.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    with contextlib.suppress(OSError):  # the mode of every file the grader writes
        os.fchmod(fd, FILE_MODE)  # (not the umask's); a lock of another user's stays as is
    with os.fdopen(fd, "r+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise OutputLocked(
                f"another `grader grade` (pid {holder}) is writing to {out}; wait for it to "
                "finish or choose another --out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def _grade_locked(submissions: Sequence[Submission], course: Course, out: Path,
                  where: Executor, secret: str | None, gradescope: bool, force: bool,
                  stream: TextIO, mode: str) -> BatchReport:
    state = BatchState.load(course, out, secret=secret, gradescope=gradescope)
    report = BatchReport(forced=force, out=out)
    by_id: dict[str, list[Submission]] = {}
    for submission in submissions:  # ids as written in results: valid Unicode text
        student = inert.text(submission.student)
        by_id.setdefault(student, []).append(dataclasses.replace(submission, student=student))
    todo: list[Submission] = []
    for student, entries in by_id.items():
        if len(entries) > 1:
            report.graded.append(_duplicate(state, student, [e.path for e in entries]))
            print(f"{inert.one_line(student)}: duplicate student id, not graded", file=stream)
            continue
        existing = None if force else results.load(results.result_path(out, student))
        if existing is None:
            report.new += not force
        elif results.grader_errors(existing):  # a test was at fault: grade it again
            report.retried += 1
        elif existing.get("files_digest") == read_submission(entries[0], course).digest:
            report.graded.append(Graded.of(existing, skipped=True))
            continue
        else:  # its files changed (or the result cannot tell): grade them again
            report.changed += 1
        todo.append(entries[0])
    with Progress(len(todo), stream, mode) as progress:
        try:
            for item in where.run(todo, state, progress.log):
                if isinstance(item, Graded):
                    report.graded.append(item)
                    progress.advance(item)
                else:
                    report.failures.append(item)
                    progress.failed(item)
        except KeyboardInterrupt:
            raise Interrupted(progress.done, len(todo)) from None
    ours = {g.student for g in report.graded}
    export.write_gradebook(_noting(results.iter_results(out), ours, report),
                           course.modules, out / "gradebook.csv")
    report.graded.sort(key=lambda g: g.student)
    return report


def _noting(found: Iterator[results.Result], students: set[str],
            report: BatchReport) -> Iterator[results.Result]:
    """``found``, unchanged, noting in ``report`` the summary of every result in the
    output folder (`BatchReport.folder`) and the grader errors of the results of
    ``students`` (this run's) as they pass."""
    for result in found:
        report.folder.append(Graded.of(result))
        if result["student"] in students:
            for test_id in results.grader_errors(result):
                report.grader_errors.setdefault(test_id, []).append(result["student"])
        yield result


def _duplicate(state: BatchState, student: str, sources: Sequence[Path]) -> Graded:
    """Write the error result of a student id that several submissions share."""
    where = ", ".join(str(p) for p in sources)
    return state.fail(student, f"{len(sources)} submissions share the student id {student!r} "
                      f"({where}); keep one of them and grade again", source=where)
