"""Grading a class: every submission graded in parallel, each result written as it finishes.

Workers are forked from a process that has already loaded the course, its hidden tests and the
reference, so a submission costs its own checks plus one sandbox start. Each worker writes its
student's result atomically; the main process only keeps a few numbers per student. A rerun
skips students whose valid result is already there (unless ``force``).

Past one machine, `grader.executors` runs the same `grade_job` on the workers of a Dask
cluster: this process reads each submission (`read_submission`) and writes each result that
comes back.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from grader import affinity, export, launch, results
from grader.course import Course, TestSpec
from grader.grading import grade_folder, warm_up
from grader.isolation import detect, protect
from grader.submissions import Submission, SubmissionError, Unpacked, discover, unpack


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

    @classmethod
    def of(cls, result: results.Result, *, skipped: bool = False) -> Graded:
        """Summarise a result."""
        found = tuple((t["diagnosis"]["key"], t["diagnosis"]["title"]) for t in result["tests"]
                      if t.get("diagnosis") and t["diagnosis"]["key"] != "not_implemented")
        return cls(result["student"], float(result["score"]), float(result["max_score"]),
                   {m: float(v["score"]) for m, v in result["modules"].items()}, found,
                   skipped, float(result.get("seconds", 0.0)))


@dataclass
class BatchReport:
    """The outcome of ``grader grade``."""

    graded: list[Graded] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every submission got a result."""
        return not self.failures

    def render(self, modules: Sequence[str]) -> str:
        """The instructor's summary: count, mean, median, per-module means, misconceptions."""
        scores = [g.score for g in self.graded]
        lines = [f"graded: {len(self.graded)} submissions"
                 f" ({sum(g.skipped for g in self.graded)} already graded, kept)"]
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
        for failure in self.failures:
            lines.append(f"GRADER FAILURE: {failure}")
        return "\n".join(lines)


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


def read_submission(submission: Submission, modules: Sequence[str]) -> Job:
    """Read a submission's modules into a job (an unreadable entry becomes the job's error)."""
    source = str(submission.path)
    try:
        return Job(submission.student, source, unpack(submission, modules))
    except SubmissionError as exc:
        return Job(submission.student, source, None, str(exc))
    except Exception as exc:  # an input we did not foresee: still a result, with the cause
        return Job(submission.student, source, None,
                   f"the submission could not be read: {type(exc).__name__}: {exc}")


def grade_job(job: Job, course: Course, specs: Sequence[TestSpec],
              reference: Mapping[str, ModuleType], secret: str | None) -> results.Result:
    """Run the hidden tests on a job's modules in one sandbox and build its result.

    Both executors grade through this one function: the local pool in a forked worker, Dask
    on a cluster worker (`grader.executors`).

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
    grader.results.Result
        The student's result (plain JSON data), not yet written.
    """
    unpacked = job.unpacked
    if unpacked is None:
        return results.failed_result(course, job.student, specs, job.error or "unreadable",
                                     source=job.source)
    started = time.perf_counter()
    unavailable = {m: f"{m}.py could not be used: {why}" for m, why in unpacked.problems.items()}
    missing = [m for m in course.modules
               if m not in unpacked.modules and m not in unpacked.problems]
    errors = [*unpacked.notes, *unavailable.values()]
    errors += [f"missing file: {m}.py is not in the submission" for m in missing]
    workdir = Path(tempfile.mkdtemp(prefix="grader-submission-"))
    try:
        folder = workdir / "submission"
        unpacked.write(folder)
        outcomes = grade_folder(course, folder, student=job.student, secret=secret,
                                specs=specs, reference=reference, unavailable=unavailable)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results.build(course, job.student, outcomes, errors=errors, source=job.source,
                         seconds=time.perf_counter() - started)


def grade_submission(submission: Submission, shared: _Shared | None = None) -> Graded:
    """Read, grade and write one submission's result (and Gradescope file) atomically."""
    shared = shared or _SHARED
    assert shared is not None, "grade_submission needs the shared course state"
    job = read_submission(submission, shared.course.modules)
    result = grade_job(job, shared.course, shared.specs, shared.reference, shared.secret)
    write_result(result, shared)
    return Graded.of(result)


def write_result(result: results.Result, shared: _Shared) -> None:
    """Write a result (and, if asked, its Gradescope file) into the output folder atomically."""
    results.write(result, results.result_path(shared.out, result["student"]))
    if shared.gradescope:
        export.write_gradescope(result, shared.out / f"{result['student']}.gradescope.json")


def _duplicate_result(shared: _Shared, student: str, sources: Sequence[Path]) -> Graded:
    where = ", ".join(str(p) for p in sources)
    result = results.failed_result(
        shared.course, student, shared.specs,
        f"{len(sources)} submissions share the student id {student!r} ({where}); "
        "keep one of them and grade again", source=where)
    write_result(result, shared)
    return Graded.of(result)


def _worker_init(shared: _Shared, cpus: Synchronized[int] | None) -> None:
    global _SHARED
    _SHARED = shared
    if cpus is not None:
        affinity.pin_next(cpus)  # this worker and its sandboxes on a CPU of their own
    launch.prestart(detect())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C
    signal.signal(signal.SIGTERM, _stop_worker)  # stopped: clean up sandbox and temp files


def _stop_worker(signum: int, frame: object) -> None:
    raise SystemExit(1)


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
        Regrade students whose valid result already exists.
    log : TextIO, optional
        Where progress goes (default stderr).
    executor : {"local", "dask"}
        Where submissions are graded: worker processes on this machine, or the workers of a
        Dask cluster (`grader.executors`; results come back here and are written here).
    scheduler : str, optional
        The Dask scheduler's address (required with ``executor="dask"``).

    Raises
    ------
    grader.submissions.SubmissionError
        A path does not exist or holds no submission (a usage error).
    grader.executors.ExecutorError
        The executor is unknown, lacks its scheduler, or dask is not installed (a usage error).
    grader.executors.ClusterError
        The cluster cannot be reached or cannot grade this course.
    """
    from grader.executors import executor_for

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
    report = BatchReport()
    by_id: dict[str, list[Submission]] = {}
    for submission in submissions:
        by_id.setdefault(submission.student, []).append(submission)
    todo: list[Submission] = []
    for student, entries in by_id.items():
        if len(entries) > 1:
            report.graded.append(_duplicate_result(shared, student, [e.path for e in entries]))
            print(f"{student}: duplicate student id, not graded", file=stream)
            continue
        existing = None if force else results.load(results.result_path(out, student))
        if existing is not None:
            report.graded.append(Graded.of(existing, skipped=True))
        else:
            todo.append(entries[0])
    done = 0

    def progress(graded: Graded) -> None:
        nonlocal done
        done += 1
        report.graded.append(graded)
        print(f"[{done}/{len(todo)}] {graded.student}: {graded.score:g}/{graded.max_score:g} "
              f"({graded.seconds:.1f} s)", file=stream, flush=True)

    try:
        for item in run(todo, shared, stream):
            if isinstance(item, Graded):
                progress(item)
            else:
                report.failures.append(item)
                print(f"grader failure: {item}", file=stream, flush=True)
    except KeyboardInterrupt:
        raise Interrupted(done, len(todo)) from None
    export.write_gradebook(results.iter_results(out), course.modules, out / "gradebook.csv")
    report.graded.sort(key=lambda g: g.student)
    return report


def run_local(todo: Sequence[Submission], shared: _Shared, stream: TextIO,
              jobs: int) -> Iterator[Graded | str]:
    """Grade in ``jobs`` processes forked from this one, which loads the course's fixtures
    first (`Run`)."""
    course = shared.course
    if detect().level == "uid":  # the child's uid must not read what decides a grade
        for path in protect([course.solutions, course.hidden_tests, course.root / "course.toml",
                             shared.out]):
            print(f"made {path} unreadable to other users (the sandbox runs as one)",
                  file=stream)
    warm_up(shared.specs, shared.reference)
    if jobs <= 1 or len(todo) <= 1:
        with affinity.pinned(affinity.enabled(1)):
            launch.prestart(detect())
            for submission in todo:
                yield _guarded(grade_submission, submission, shared)
        return
    context = multiprocessing.get_context("fork")
    workers = min(jobs, len(todo))
    cpus = context.Value("i", 0) if affinity.enabled(workers) else None
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=_worker_init, initargs=(shared, cpus))
    try:
        futures: dict[Future[Graded], Submission] = {
            pool.submit(grade_submission, s): s for s in todo}
        for future in as_completed(futures):
            submission = futures[future]
            try:
                yield future.result()
            except Exception as exc:  # a worker died: the grader failed for this student
                yield f"{submission.student}: {type(exc).__name__}: {exc}"
    except BaseException:
        # Ctrl-C (or a stop): drop what has not started, stop the workers now; their
        # sandboxes die with them, and every result already written is complete.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        raise
    pool.shutdown(wait=True)


def _guarded(function: Callable[..., Graded], *args: Any) -> Graded | str:
    try:
        return function(*args)
    except Exception as exc:
        return f"{args[0].student}: {type(exc).__name__}: {exc}"
