"""One submission's grading, wherever it runs: read it (`read_submission`), grade it
(`grade_job`), write its result (`BatchState.write`).

Every executor (`grader.batch.executors`) grades through these functions: the local executor in
worker processes forked from the main process, Dask on the workers of a cluster. What a run
shares (the course, its hidden tests and reference, the secret, the output folder) is one
`BatchState`, loaded once in the main process and handed to the executor; no module keeps state
of its own.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from grader.batch.submissions import SubmissionError, unpack
from grader.batch.unpacked import Submission, Unpacked
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
    #: each module's maximum points, as the result states them
    maxima: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, result: results.Result, *, skipped: bool = False,
           stuck: bool = False) -> Graded:
        """Summarise a result."""
        found = tuple((d["key"], d["title"]) for t in result["tests"]
                      if (d := t.get("diagnosis")) and d["key"] != "not_implemented")
        modules = result["modules"]
        return cls(result["student"], float(result["score"]), float(result["max_score"]),
                   {m: float(v["score"]) for m, v in modules.items()}, found,
                   skipped, float(result.get("seconds", 0.0)), len(result.get("attempts", [])),
                   stuck, {m: float(v["max_score"]) for m, v in modules.items()})


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


def read_submission(submission: Submission, course: Course) -> Job:
    """Read a submission's files into a job (an unreadable entry becomes the job's error),
    as `grader check` reads them: the course's modules, an untouched stub never preferred
    to another file of the same module."""
    source, student = str(submission.path), inert.text(submission.student)
    try:
        return Job(student, source, unpack(submission, course.modules, course.stubs))
    except SubmissionError as exc:
        return Job(student, source, None, str(exc))
    except Exception as exc:  # an input we did not foresee: still a result, with the cause
        return Job(student, source, None,
                   f"the submission could not be read: {type(exc).__name__}: {exc}")


def grade_job(job: Job, course: Course, specs: Sequence[TestSpec],
              reference: Mapping[str, ModuleType], secret: str | None,
              confirmed: MutableMapping[str, bool] | None = None) -> results.Result:
    """Run the hidden tests on a job's modules in one sandbox and build its result.

    Both executors grade through this one function: the local executor in a forked worker,
    Dask on a cluster worker (`grader.batch.executors`).

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
    confirmed : mutable mapping of str to bool, optional
        Tests the reference was seen to pass in this worker (`grader.engine.runner.confirm`).

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
    try:  # the one copy of the files: written here, then the sandbox's own (adopted)
        folder = workdir / "submission"
        unpacked.write(folder)
        outcomes = grade_folder(course, folder, student=job.student, secret=secret,
                                specs=specs, reference=reference,
                                unavailable={**unavailable, **missing}, digest=digest,
                                attempts=attempts, copy=False, confirmed=confirmed)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results.build(course, job.student, outcomes, errors=errors, source=job.source,
                         seconds=time.perf_counter() - started, files=unpacked.files(),
                         files_digest=digest, attempts=attempts)


@dataclass(frozen=True, eq=False)
class BatchState:
    """What every worker of one ``grader grade`` run shares: loaded once, in the main process,
    before any worker starts, and handed to the executor (`grader.batch.executors`).

    The local executor's workers are forked from the main process and so inherit it as it
    is; the Dask executor keeps it on the client, which writes the results (its workers load
    their own copy of the course, `grader.batch.executors.dask`). It is never changed.

    Attributes
    ----------
    course : Course
        The course (settings, paths).
    specs : list of TestSpec
        The course's hidden tests, collected.
    reference : dict of str to module
        The reference solutions, loaded: module name to module.
    out : Path
        The output folder: ``<student>.json`` (and ``<student>.gradescope.json``).
    secret : str or None
        Course secret for the per-student inputs.
    gradescope : bool
        Whether Gradescope files are written beside the results.
    """

    course: Course
    specs: list[TestSpec]
    reference: dict[str, ModuleType]
    out: Path
    secret: str | None
    gradescope: bool
    #: tests the reference was seen to pass, filled as this worker grades (each forked
    #: worker fills its own copy): a failing test is re-run on the reference once per
    #: worker, not once per student (`grader.engine.runner.confirm`)
    confirmed: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def load(cls, course: Course, out: Path, *, secret: str | None = None,
             gradescope: bool = False) -> BatchState:
        """Collect the course's hidden tests and load its reference (``secret`` defaults to
        the course's)."""
        return cls(course, course.collect(hidden=True), course.reference(), out,
                   secret if secret is not None else course.secret, gradescope)

    def grade_submission(self, submission: Submission) -> Graded:
        """Read, grade and write one submission's result (and Gradescope file) atomically:
        what a local worker does with each submission."""
        job = read_submission(submission, self.course)
        result = grade_job(job, self.course, self.specs, self.reference, self.secret,
                           self.confirmed)
        self.write(result)
        return Graded.of(result)

    def write(self, result: results.Result) -> None:
        """Write a result (and, if asked, its Gradescope file) into the output folder
        atomically, under file names one-to-one with the student id
        (`grader.util.inert.filename`)."""
        results.write(result, results.result_path(self.out, result["student"]))
        if self.gradescope:
            export.write_gradescope(result, results.gradescope_path(self.out, result["student"]))

    def fail(self, student: str, why: str, *, source: str, files_digest: str | None = None,
             stuck: bool = False) -> Graded:
        """Write a result of every test 0 with ``why`` as its error (a duplicate id, a
        grading stopped past its deadline) and return its summary."""
        result = results.failed_result(self.course, student, self.specs, why, source=source,
                                       files_digest=files_digest)
        self.write(result)
        return Graded.of(result, stuck=stuck)
