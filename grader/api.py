"""The Python API behind every command: keyword-only functions the CLI calls unchanged.

It is also what a course's own commands build on: the course (`locate`), the sandbox on a
student's folder (`open_sandbox`), the reference solutions in this process (`InProcess`), what
a call of student code may raise, and `terminal` to print student-derived text safely. Nothing
inside ``grader/`` but the CLI imports this module.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TextIO

from grader.batch.submissions import Submission, SubmissionError, Unpacked, unpack
from grader.course.config import Course, CourseError, TestSpec, find_course, load_course
from grader.course.points import listing
from grader.engine import blame
from grader.engine.checks import run_checks
from grader.engine.feedback import FunctionSummary, summarise
from grader.engine.grading import open_sandbox
from grader.engine.results import Result
from grader.engine.runner import PASSED
from grader.sandbox.box import Runner, SandboxCrash, StudentError, StudentTimeout
from grader.sandbox.inprocess import InProcess
from grader.util import inert
from grader.util.inert import terminal

if TYPE_CHECKING:
    from grader.batch.pipeline import Job
    from grader.exports.gradebook import GradescopeResult

# Course, InProcess, Runner, Sandbox*, Student*, terminal: for a course's own commands
__all__ = [
    "PUBLIC_NOTE", "CheckReport", "Course", "CourseError", "InProcess", "Runner", "SandboxCrash",
    "StudentError", "StudentTimeout", "UploadError", "UsageError", "check", "gradescope_run",
    "listing", "locate", "open_sandbox", "resolve_modules", "run_checks", "student_code",
    "terminal",
]

PUBLIC_NOTE = (
    "These are the public checks only. The graded run also compares every function with a\n"
    "reference solution on new random inputs (different for every student), so passing here\n"
    "is necessary but not sufficient for full marks."
)
NO_CHECKS_NOTE = (
    "The graded run compares every function with a reference solution on random inputs\n"
    "(different for every student)."
)


class UsageError(CourseError):
    """Bad arguments: an unknown module, a missing folder (exit code 2)."""


class UploadError(Exception):
    """The upload zip of ``grader check --zip`` cannot be written (exit code 1)."""


@dataclass(frozen=True)
class CheckReport:
    """The result of ``grader check``: one summary per function checked.

    Attributes
    ----------
    functions : tuple of FunctionSummary
        One per function checked.
    files : tuple of str
        The files `grader grade` will take from this folder (where each was read from).
    notes : tuple of str
        What will not be graded, and why (near-miss names, unreadable files).
    upload : Path or None
        The upload zip written (``grader check --zip``).
    unwritten : tuple of str
        The functions checked (``module.function``) whose code still only raises
        ``NotImplementedError`` (read, not run): what a report without checks still tells.
    """

    functions: tuple[FunctionSummary, ...]
    files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    upload: Path | None = None
    unwritten: tuple[str, ...] = ()

    @property
    def has_checks(self) -> bool:
        """Whether any public check ran (a course may have none: a release without checks)."""
        return any(f.outcomes for f in self.functions)

    @property
    def ok(self) -> bool:
        """True when every function passed all its public checks; without any checks, when
        every function is written (no check failed)."""
        if not self.has_checks:
            return not self.unwritten
        return all(f.status == PASSED for f in self.functions)

    def counts(self) -> dict[str, int]:
        """How many functions are in each status."""
        counts: dict[str, int] = {}
        for f in self.functions:
            counts[f.status] = counts.get(f.status, 0) + 1
        return counts

    def render(self) -> str:
        """The report as a student reads it (anything their code printed or raised shown as
        text: control characters and escape sequences are escaped, `grader.util.inert`)."""
        lines: list[str] = []
        module = None
        for f in self.functions:
            if f.module != module:
                module = f.module
                lines.append(("\n" if lines else "") + f"{module}.py")
            lines.append(f.render())
        counts = self.counts()
        total = len(self.functions)
        others = ", ".join(f"{n} {s if s != 'not implemented' else 'not implemented yet'}"
                           for s, n in counts.items() if s != PASSED)
        lines.append("")
        if self.has_checks:
            lines.append(f"{counts.get(PASSED, 0)} of {total} functions pass their public "
                         "checks" + (f" ({others})." if others else "."))
            lines.append(PUBLIC_NOTE)
        else:
            modules = ", ".join(dict.fromkeys(f.module for f in self.functions))
            lines.append(f"this course has no public checks for {modules}: nothing was run"
                         + (f"; not implemented yet: {', '.join(self.unwritten)}."
                            if self.unwritten else "."))
            lines.append(NO_CHECKS_NOTE)
        if self.files:
            lines.append("will be graded: " + ", ".join(self.files))
        lines.extend(f"not graded: {note}" for note in self.notes)
        if self.upload is not None:
            lines.append(f"wrote {self.upload}: upload it, it holds exactly these files")
        return inert.terminal("\n".join(lines))

    def __repr__(self) -> str:
        return f"<CheckReport: {self.counts().get(PASSED, 0)}/{len(self.functions)} passed>"


def resolve_modules(course: Course, requested: Sequence[str], folder: Path,
                    found: Unpacked | None = None) -> list[str]:
    """The modules to check: the requested ones (validated), else those present in ``folder``
    (``found``: the student's code read from it, `grader.batch.submissions.unpack`)."""
    unknown = [m for m in requested if m.removesuffix(".py") not in course.modules]
    if unknown:
        raise UsageError(f"unknown module {', '.join(unknown)}; "
                         f"the modules are: {', '.join(course.modules)}")
    if requested:
        return [m.removesuffix(".py") for m in requested]
    found = found if found is not None else unpack(Submission("local", folder), course.modules)
    present = [m for m in course.modules if m in found.modules or m in found.problems]
    if not present:
        hints = "".join(f"; {hint}" for hint in found.hints.values())
        raise UsageError(f"no exercise modules in {folder} (expected e.g. "
                         f"{course.modules[0]}.py){hints}")
    return present


def student_code(folder: Path, course: Course) -> Unpacked:
    """The student's code in ``folder``, exactly as ``grader grade`` takes it from a
    submission (`grader.batch.submissions.unpack`: a release-shaped folder is read from its
    ``exercises/``, helper modules beside the modules are taken, notebooks are read)."""
    try:
        return unpack(Submission("local", folder), course.modules)
    except SubmissionError as exc:
        raise UsageError(str(exc)) from None


def _shown(folder: Path, found: Unpacked) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The files taken, as paths from the current folder, and what is not graded."""
    try:
        where = os.path.relpath(folder)
    except ValueError:
        where = str(folder)
    prefix = "" if where == "." else f"{where}/"
    files = tuple(prefix + found.origins.get(name, name) for name in found.files())
    notes = (*found.hints.values(), *found.problems.values(), *found.notes)
    return files, tuple(notes)


def check(
    *modules: str,
    path: str | Path | None = None,
    course: str | Path | None = None,
    echo: bool = True,
    stream: TextIO | None = None,
    upload: str | Path | None = None,
) -> CheckReport:
    """Run the public checks on the student's own code, taken as ``grader grade`` takes it.

    The report ends with the files ``grader grade`` will take from the folder ("will be
    graded: exercises/neuron.py, exercises/nn_utils.py ...") and what it will not
    ("found Neuron.py: rename it to neuron.py").

    Parameters
    ----------
    *modules : str
        Modules to check (``"neuron"``); default: every course module found in ``path``.
    path : str or Path, optional
        Folder of the student's modules, or their whole release folder (default: the
        course's ``exercises/``).
    course : str or Path, optional
        Course folder (default: found from the current folder or from ``path``).
    echo : bool
        Print the report (to ``stream``, default stdout), as in a notebook.
    upload : str or Path, optional
        Also write the upload zip: exactly the files ``grader grade`` will take, flat.

    Returns
    -------
    CheckReport
        Its ``ok`` is True when every check passed.

    Raises
    ------
    UsageError
        An unknown module, a missing folder, or no module in it.
    UploadError
        ``upload`` cannot be written.
    """
    loaded, given = locate(path, course)
    folder = given or loaded.exercises
    if not folder.is_dir():
        raise UsageError(f"no such folder: {folder}")
    found = student_code(folder, loaded)
    selected = resolve_modules(loaded, modules, folder, found)
    summaries: list[FunctionSummary] = []
    unavailable = {**{m: f"{m}.py could not be used: {why}" for m, why in found.problems.items()},
                   **found.missing(loaded.modules)}
    workdir = Path(tempfile.mkdtemp(prefix="grader-check-"))
    try:
        found.write(workdir / "submission")
        implemented = blame.implemented_in(workdir / "submission", loaded.modules)
        with open_sandbox(loaded, workdir / "submission", unavailable) as sandbox:
            outcomes = blame.apply(run_checks(loaded, sandbox, selected), implemented)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for module in selected:
        summaries.extend(summarise(module, loaded.functions(module),
                                   [o for o in outcomes if o.spec.module == module]))
    if upload is not None:
        try:
            Path(upload).write_bytes(found.zip_bytes())
        except OSError as exc:
            raise UploadError(f"cannot write {upload}: {exc.strerror or exc}") from None
    report = CheckReport(tuple(summaries), *_shown(folder, found),
                         Path(upload) if upload is not None else None,
                         tuple(f"{s.module}.{s.function}" for s in summaries
                               if f"{s.module}.{s.function}" not in implemented))
    if echo:
        print(report.render(), file=stream or sys.stdout)
    return report


def locate(path: str | Path | None, course: str | Path | None,
           error: type[CourseError] = UsageError) -> tuple[Course, Path | None]:
    """The course and the student's folder, as every student command finds them.

    Parameters
    ----------
    path : str, Path or None
        The student's folder (``--path``); it must exist.
    course : str, Path or None
        The course folder (``--course``); default: the course around the current folder,
        else the one around ``path``.
    error : type of CourseError
        What a missing folder raises (a command's own usage error).

    Returns
    -------
    course : Course
    folder : Path or None
        ``path``, resolved; None when not given (the caller picks its default).
    """
    folder = Path(path).resolve() if path is not None else None
    if folder is not None and not folder.is_dir():
        raise error(f"no such folder: {folder}")
    if course is not None:
        return load_course(Path(course)), folder
    try:
        return load_course(), folder
    except CourseError:
        if folder is None:
            raise
        return load_course(find_course(folder)), folder


def gradescope_run(
    *,
    submission: Path,
    results_file: Path,
    course: Course,
    metadata: Path | None = None,
) -> float:
    """Grade one submission inside Gradescope's autograder and write its ``results.json``.

    Whatever goes wrong, a valid ``results.json`` is written (score 0 and the reason), so the
    student always sees an explanation rather than a bare autograder failure.

    Returns
    -------
    float
        The score written.
    """
    import json

    from grader.batch import pipeline as batch
    from grader.batch.submissions import Submission
    from grader.engine import results
    from grader.engine.grading import warm_up
    from grader.exports import gradebook as export

    student = "submission"
    if metadata is not None and metadata.is_file():
        try:
            data = json.loads(metadata.read_text(encoding="utf-8"))
            student = inert.text(str(data.get("id") or student))
        except (OSError, ValueError, AttributeError):
            pass
    try:
        specs, reference = course.collect(hidden=True), course.reference()
        warm_up(specs, reference)
        job = batch.read_submission(Submission(student, submission), course.modules)
        result = _graded_in_time(job, course, specs, reference)
        results.validate(result)
        payload: GradescopeResult = export.gradescope(result)
    except Exception as exc:  # the grader failed: still give Gradescope a valid file
        payload = {"score": 0.0, "output": f"The autograder failed: {type(exc).__name__}: "
                                           f"{exc}. Tell your instructor.", "tests": []}
    results.write_json(payload, results_file)  # any text: lone surrogates are escaped
    return float(payload["score"])


def _graded_in_time(job: Job, course: Course, specs: Sequence[TestSpec],
                    reference: Mapping[str, ModuleType]) -> Result:
    """Grade a job in a worker process under the batch's deadline (`grader.batch.pool`): a
    grading that hangs, even in the grader's own code, still ends in a result."""
    from grader.batch import pipeline as batch
    from grader.batch import pool
    from grader.batch.executors import worker_deadline
    from grader.engine import results

    deadline = worker_deadline(course, specs)
    for end in pool.run([job], lambda j: batch.grade_job(j, course, specs, reference,
                                                         course.secret),
                        workers=1, deadline=deadline):
        if end.kind == "done":
            value: Result = end.value
            return value
        if end.kind == "stuck":
            return results.failed_result(
                course, job.student, specs, f"grading stopped: it did not finish within "
                f"{deadline:g} s; tell your instructor", source=job.source,
                files_digest=job.digest)
        raise RuntimeError(f"the grading process failed: {end.value}")
    raise RuntimeError("the grading process gave no result")
