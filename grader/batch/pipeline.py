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
regraded (with fresh inputs), and the summary says how many were new, regraded and kept
(``force`` regrades everyone). Student ids reach the terminal, the CSV and file names only
through `grader.util.inert`.

`Graded`, `Job`, `read_submission` and `grade_job` (`grader.batch.jobs`) are importable from
here too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import statistics
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from grader.batch.executors import Executor, executor_for
from grader.batch.jobs import BatchState, Graded, Job, grade_job, read_submission
from grader.batch.submissions import discover
from grader.batch.unpacked import Submission
from grader.course.config import Course
from grader.engine import results
from grader.exports import gradebook as export
from grader.util import inert

__all__ = ["BatchReport", "Graded", "Interrupted", "Job", "OutputLocked", "grade",
           "grade_job", "read_submission"]


@dataclass
class BatchReport:
    """The outcome of ``grader grade``."""

    graded: list[Graded] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: students graded for the first time, and regraded because their files changed
    new: int = 0
    changed: int = 0
    forced: bool = False
    #: tests that failed through their own fault (`grader.engine.runner`), by id, with the
    #: students of this run whose results say so; and how many results were regraded for
    #: holding one (a grader error is never kept: a rerun after the fix grades again)
    grader_errors: dict[str, list[str]] = field(default_factory=dict)
    retried: int = 0

    @property
    def ok(self) -> bool:
        """True when every submission got a result and no test failed through its own
        fault."""
        return not self.failures and not self.grader_errors

    def render(self, modules: Sequence[str]) -> str:
        """The instructor's summary: count, what was regraded and why, mean, median,
        per-module means, misconceptions, attempts, stuck gradings and failures (student
        text made safe for a terminal)."""
        return inert.terminal("\n".join(self._lines(modules)))

    def _lines(self, modules: Sequence[str]) -> list[str]:
        scores = [g.score for g in self.graded]
        kept = sum(g.skipped for g in self.graded)
        lines = [f"graded: {len(self.graded)} submissions: "
                 + (f"{len(self.graded) - kept} regraded (--force)" if self.forced else
                    f"{self.new} new, {self.changed} regraded (files changed), {kept} kept "
                    "(files unchanged)"
                    + (f", {self.retried} regraded (grader errors before)" if self.retried
                       else ""))]
        if scores:
            top = self.graded[0].max_score
            lines.append(f"mean: {statistics.fmean(scores):.2f} / {top:g}   "
                         f"median: {statistics.median(scores):g}   "
                         f"min: {min(scores):g}   max: {max(scores):g}")
            lines.append("per module (mean):")
            for module in modules:
                values = [g.modules.get(module, 0.0) for g in self.graded]
                lines.append(f"  {module:<16} {statistics.fmean(values):.2f}")
            counts = Counter(m for g in self.graded for m in set(g.misconceptions))
            if counts:
                lines.append("most common misconceptions (students):")
                for (_, title), n in counts.most_common(8):
                    lines.append(f"  {n:>4}  {title}")
        tried = sorted((g for g in self.graded if g.attempts), key=lambda g: -g.attempts)
        if tried:
            lines.append("attempts blocked: " + ", ".join(
                f"{inert.one_line(g.student)} ({g.attempts})" for g in tried))
        stuck = [inert.one_line(g.student) for g in self.graded if g.stuck]
        if stuck:
            lines.append("grading stopped (replaced the worker): " + ", ".join(stuck))
        for test_id, students in self.grader_errors.items():
            shown = ", ".join(inert.one_line(s) for s in students[:5])
            more = f" and {len(students) - 5} more" if len(students) > 5 else ""
            lines.append(f"GRADER ERROR: the test {test_id} failed through its own fault for "
                         f"{len(students)} student{'' if len(students) == 1 else 's'} "
                         f"({shown}{more}); they keep its points. Fix the test (each "
                         "result's feedback says what went wrong) and grade again: those "
                         "results are regraded")
        for failure in self.failures:
            lines.append(f"GRADER FAILURE: {failure}")
        return lines


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

    Raises
    ------
    grader.batch.submissions.SubmissionError
        A path does not exist or holds no submission (a usage error).
    grader.batch.executors.ExecutorError
        The executor is unknown, lacks its scheduler, or dask is not installed (a usage error).
    grader.batch.executors.ClusterError
        The cluster cannot be reached or cannot grade this course.
    """
    where = (executor_for(executor, jobs=jobs, scheduler=scheduler)
             if isinstance(executor, str) else executor)
    stream = log or sys.stderr
    submissions = [p for p in paths if isinstance(p, Submission)]
    submissions += discover([p for p in paths if not isinstance(p, Submission)], course.modules)
    out.mkdir(parents=True, exist_ok=True)
    with _lock(out):
        return _grade_locked(submissions, course, out, where, secret, gradescope, force, stream)


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
    with open(path, "a+") as fh:
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
                  stream: TextIO) -> BatchReport:
    state = BatchState.load(course, out, secret=secret, gradescope=gradescope)
    report = BatchReport(forced=force)
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
        elif existing.get("files_digest") == read_submission(entries[0], course.modules).digest:
            report.graded.append(Graded.of(existing, skipped=True))
            continue
        else:  # its files changed (or the result cannot tell): grade them again
            report.changed += 1
        todo.append(entries[0])
    done = 0

    def progress(graded: Graded) -> None:
        nonlocal done
        done += 1
        report.graded.append(graded)
        print(f"[{done}/{len(todo)}] {inert.one_line(graded.student)}: {graded.score:g}/"
              f"{graded.max_score:g} ({graded.seconds:.1f} s)", file=stream, flush=True)

    try:
        for item in where.run(todo, state, stream):
            if isinstance(item, Graded):
                progress(item)
            else:
                report.failures.append(item)
                print(f"grader failure: {inert.terminal(item)}", file=stream, flush=True)
    except KeyboardInterrupt:
        raise Interrupted(done, len(todo)) from None
    ours = {g.student for g in report.graded}
    export.write_gradebook(_noting_grader_errors(results.iter_results(out), ours, report),
                           course.modules, out / "gradebook.csv")
    report.graded.sort(key=lambda g: g.student)
    return report


def _noting_grader_errors(found: Iterator[results.Result], students: set[str],
                          report: BatchReport) -> Iterator[results.Result]:
    """``found``, unchanged, noting in ``report`` the grader errors of the results of
    ``students`` (this run's) as they pass."""
    for result in found:
        if result["student"] in students:
            for test_id in results.grader_errors(result):
                report.grader_errors.setdefault(test_id, []).append(result["student"])
        yield result


def _duplicate(state: BatchState, student: str, sources: Sequence[Path]) -> Graded:
    """Write the error result of a student id that several submissions share."""
    where = ", ".join(str(p) for p in sources)
    return state.fail(student, f"{len(sources)} submissions share the student id {student!r} "
                      f"({where}); keep one of them and grade again", source=where)
