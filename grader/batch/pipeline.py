"""Grading a class: every submission graded in parallel, each result written as it finishes.

Workers are forked from a process that has already loaded the course, its hidden tests and the
reference, so a submission costs its own checks plus one sandbox start. Each worker writes its
student's result atomically; the main process only keeps a few numbers per student; a worker
that overruns a submission's deadline is replaced (`grader.batch.executors.run_local`).

Each result records the digest of the files it graded (`grader.batch.submissions.Unpacked.digest`),
which also seeds that student's inputs. A rerun reads every submission that already has a
valid result and keeps the result only while the digest is unchanged: changed files are
regraded (with fresh inputs), and the summary says how many were new, regraded and kept
(``force`` regrades everyone). Student ids reach the terminal, the CSV and file names only
through `grader.util.inert`.

Past one machine, `grader.batch.executors` runs the same `grade_job` on the workers of a Dask
cluster: this process reads each submission (`read_submission`) and writes each result that
comes back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TextIO

from grader.batch.submissions import Submission, SubmissionError, Unpacked, discover, unpack
from grader.course.config import Course, TestSpec
from grader.engine import results
from grader.engine.grading import grade_folder
from grader.exports import gradebook as export
from grader.util import inert


@dataclass(frozen=True)
class Graded:
    """What the main process keeps of one graded student."""

    student: str
    score: float
    max_score: float
    modules: dict[str, float]
    misconceptions: tuple[tuple[str, str], ...]
    skipped: bool = False
    seconds: float = 0.0
    attempts: int = 0
    stuck: bool = False

    @classmethod
    def of(cls, result: results.Result, *, skipped: bool = False,
           stuck: bool = False) -> Graded:
        """Summarise a result."""
        found = tuple((t["diagnosis"]["key"], t["diagnosis"]["title"]) for t in result["tests"]
                      if t.get("diagnosis") and t["diagnosis"]["key"] != "not_implemented")
        return cls(result["student"], float(result["score"]), float(result["max_score"]),
                   {m: float(v["score"]) for m, v in result["modules"].items()}, found,
                   skipped, float(result.get("seconds", 0.0)), len(result.get("attempts", [])),
                   stuck)


@dataclass
class BatchReport:
    """The outcome of ``grader grade``."""

    graded: list[Graded] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: students graded for the first time, and regraded because their files changed
    new: int = 0
    changed: int = 0
    forced: bool = False

    @property
    def ok(self) -> bool:
        """True when every submission got a result."""
        return not self.failures

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
                    "(files unchanged)")]
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
        for failure in self.failures:
            lines.append(f"GRADER FAILURE: {failure}")
        return lines


# -- one submission, in a worker ------------------------------------------------------------------
@dataclass
class _Shared:
    course: Course
    specs: list[TestSpec]
    reference: dict[str, ModuleType]
    out: Path
    secret: str | None
    gradescope: bool


_SHARED: _Shared | None = None


@dataclass(frozen=True)
class Job:
    """One submission, read: plain data, graded wherever the course is installed.

    Attributes
    ----------
    student : str
        Student id.
    source : str
        Where the submission came from (recorded in the result).
    unpacked : Unpacked or None
        The course modules found, as source text, and what went wrong reading them; None
        when the entry could not be read at all.
    error : str or None
        Why the entry could not be read at all.
    """

    student: str
    source: str
    unpacked: Unpacked | None
    error: str | None = None

    @property
    def digest(self) -> str:
        """The digest of the files graded (`Unpacked.digest`); for an entry that cannot be
        read, a digest of why, so that a rerun regrades it once it can be read."""
        if self.unpacked is not None:
            return self.unpacked.digest()
        return hashlib.sha256(f"unreadable\0{self.error}".encode("utf-8",
                                                                "surrogatepass")).hexdigest()


def read_submission(submission: Submission, modules: Sequence[str]) -> Job:
    """Read a submission's files into a job (an unreadable entry becomes the job's error)."""
    source, student = str(submission.path), inert.text(submission.student)
    try:
        return Job(student, source, unpack(submission, modules))
    except SubmissionError as exc:
        return Job(student, source, None, str(exc))
    except Exception as exc:  # an input we did not foresee: still a result, with the cause
        return Job(student, source, None,
                   f"the submission could not be read: {type(exc).__name__}: {exc}")


def grade_job(job: Job, course: Course, specs: Sequence[TestSpec],
              reference: Mapping[str, ModuleType], secret: str | None) -> results.Result:
    """Run the hidden tests on a job's modules in one sandbox and build its result.

    Both executors grade through this one function: the local pool in a forked worker, Dask
    on a cluster worker (`grader.batch.executors`).

    Parameters
    ----------
    job : Job
        The submission, read.
    course : Course
        The course (its settings: modules, limits, assignment).
    specs, reference
        The course's hidden tests and reference solutions, loaded in this process.
    secret : str or None
        Course secret for the per-student inputs.

    Returns
    -------
    grader.engine.results.Result
        The student's result (plain JSON data), not yet written.
    """
    unpacked = job.unpacked
    if unpacked is None:
        return results.failed_result(course, job.student, specs, job.error or "unreadable",
                                     source=job.source, files_digest=job.digest)
    started = time.perf_counter()
    unavailable = {m: f"{m}.py could not be used: {why}" for m, why in unpacked.problems.items()}
    missing = unpacked.missing(course.modules)
    errors = [*unpacked.notes, *unavailable.values()]
    errors += [f"missing file: {m}.py is not in the submission"
               + (f"; {unpacked.hints[m]}" if m in unpacked.hints else "") for m in missing]
    digest, attempts = unpacked.digest(), list[str]()
    workdir = Path(tempfile.mkdtemp(prefix="grader-submission-"))
    try:
        folder = workdir / "submission"
        unpacked.write(folder)
        outcomes = grade_folder(course, folder, student=job.student, secret=secret,
                                specs=specs, reference=reference,
                                unavailable={**unavailable, **missing}, digest=digest,
                                attempts=attempts)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results.build(course, job.student, outcomes, errors=errors, source=job.source,
                         seconds=time.perf_counter() - started, files=unpacked.files(),
                         files_digest=digest, attempts=attempts)


def grade_submission(submission: Submission, shared: _Shared | None = None) -> Graded:
    """Read, grade and write one submission's result (and Gradescope file) atomically."""
    shared = shared or _SHARED
    assert shared is not None, "grade_submission needs the shared course state"
    job = read_submission(submission, shared.course.modules)
    result = grade_job(job, shared.course, shared.specs, shared.reference, shared.secret)
    write_result(result, shared)
    return Graded.of(result)


def write_result(result: results.Result, shared: _Shared) -> None:
    """Write a result (and, if asked, its Gradescope file) into the output folder atomically,
    under file names one-to-one with the student id (`grader.util.inert.filename`)."""
    results.write(result, results.result_path(shared.out, result["student"]))
    if shared.gradescope:
        export.write_gradescope(result, results.gradescope_path(shared.out, result["student"]))


def _duplicate_result(shared: _Shared, student: str, sources: Sequence[Path]) -> Graded:
    where = ", ".join(str(p) for p in sources)
    result = results.failed_result(
        shared.course, student, shared.specs,
        f"{len(sources)} submissions share the student id {student!r} ({where}); "
        "keep one of them and grade again", source=where)
    write_result(result, shared)
    return Graded.of(result)


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
    executor: str = "local",
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
    executor : {"local", "dask"}
        Where submissions are graded: worker processes on this machine, or the workers of a
        Dask cluster (`grader.batch.executors`; results come back here and are written here).
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
    from grader.batch.executors import executor_for

    run = executor_for(executor, jobs=jobs, scheduler=scheduler)
    stream = log or sys.stderr
    submissions = [p for p in paths if isinstance(p, Submission)]
    submissions += discover([p for p in paths if not isinstance(p, Submission)], course.modules)
    out.mkdir(parents=True, exist_ok=True)
    with _lock(out):
        return _grade_locked(submissions, course, out, run, secret, gradescope, force, stream)


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


#: runs the jobs of a class, yielding each student's summary (or a grader failure) as it
#: finishes; every result is written into ``shared.out`` before it is yielded
Run = Callable[[Sequence[Submission], _Shared, TextIO], Iterator[Graded | str]]


def _grade_locked(submissions: Sequence[Submission], course: Course, out: Path, run: Run,
                  secret: str | None, gradescope: bool, force: bool,
                  stream: TextIO) -> BatchReport:
    shared = _Shared(course, course.collect(hidden=True), course.reference(), out,
                     secret if secret is not None else course.secret, gradescope)
    report = BatchReport(forced=force)
    by_id: dict[str, list[Submission]] = {}
    for submission in submissions:  # ids as written in results: valid Unicode text
        student = inert.text(submission.student)
        by_id.setdefault(student, []).append(dataclasses.replace(submission, student=student))
    todo: list[Submission] = []
    for student, entries in by_id.items():
        if len(entries) > 1:
            report.graded.append(_duplicate_result(shared, student, [e.path for e in entries]))
            print(f"{inert.one_line(student)}: duplicate student id, not graded", file=stream)
            continue
        existing = None if force else results.load(results.result_path(out, student))
        if existing is None:
            report.new += not force
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
        for item in run(todo, shared, stream):
            if isinstance(item, Graded):
                progress(item)
            else:
                report.failures.append(item)
                print(f"grader failure: {inert.terminal(item)}", file=stream, flush=True)
    except KeyboardInterrupt:
        raise Interrupted(done, len(todo)) from None
    export.write_gradebook(results.iter_results(out), course.modules, out / "gradebook.csv")
    report.graded.sort(key=lambda g: g.student)
    return report
