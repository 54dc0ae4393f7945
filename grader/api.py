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
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TextIO

from grader.batch.submissions import Submission, SubmissionError, Unpacked, unpack
from grader.course.bundle_project import upload_name
from grader.course.config import Course, CourseError, TestSpec, find_course, load_course
from grader.course.points import listing
from grader.engine import blame
from grader.engine.check_report import PUBLIC_NOTE, CheckReport, elsewhere
from grader.engine.checks import run_checks
from grader.engine.feedback import FunctionSummary, summarise
from grader.engine.grading import open_sandbox
from grader.engine.results import Result
from grader.sandbox.box import Runner, SandboxCrash, StudentError, StudentTimeout
from grader.sandbox.inprocess import InProcess
from grader.util import inert
from grader.util.files import atomic_write
from grader.util.inert import terminal

if TYPE_CHECKING:
    from grader.batch.pipeline import Job
    from grader.exports.gradebook import GradescopeResult

# Course, InProcess, Runner, Sandbox*, Student*, terminal: for a course's own commands
__all__ = [
    "PUBLIC_NOTE", "CheckReport", "Course", "CourseError", "InProcess", "Runner", "SandboxCrash",
    "StudentError", "StudentTimeout", "UploadError", "UsageError", "check", "gradescope_run",
    "listing", "locate", "open_sandbox", "resolve_modules", "run_checks", "student_code",
    "submit", "terminal",
]

#: what a student may check besides a folder: one notebook is a whole submission
NOTEBOOK = (".ipynb",)


class UsageError(CourseError):
    """Bad arguments: an unknown module, a missing folder (exit code 2)."""


class UploadError(Exception):
    """The upload zip of ``grader submit`` (``grader check --zip``) cannot be written (exit
    code 1)."""


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
    found = found if found is not None else student_code(folder, course)
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
        return unpack(Submission("local", folder), course.modules, course.stubs)
    except SubmissionError as exc:
        raise UsageError(str(exc)) from None


def _shown(folder: Path, found: Unpacked) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The files taken, as paths from the current folder, and what is not graded."""
    try:
        where = os.path.relpath(folder)
    except ValueError:
        where = str(folder)
    prefix = "" if where == "." else f"{where}/"
    if folder.is_file():  # one notebook: its origins name it
        prefix = prefix.rpartition(folder.name)[0]
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
        Folder of the student's modules, their whole release folder, or one notebook
        (``work.ipynb``, read as ``grader grade`` reads it; default: the course's
        ``exercises/``).
    course : str or Path, optional
        Course folder (default: found from the current folder or from ``path``).
    echo : bool
        Print the report (to ``stream``, default stdout), as in a notebook.
    upload : str or Path, optional
        Also write the upload zip: exactly the files ``grader grade`` will take, flat;
        written once the checks have run, whatever they found.

    Returns
    -------
    CheckReport
        Its ``ok`` is True when every check passed.

    Raises
    ------
    UsageError
        An unknown module, a missing folder or notebook, a notebook that cannot be read, or
        no module in it.
    UploadError
        ``upload`` cannot be written.
    """
    try:
        loaded, given = locate(path, course, files=NOTEBOOK)
    except CourseError as exc:
        if not echo or course is not None or isinstance(exc, UsageError):
            raise  # the command line's (echo=False) says --course
        call = f"check({''.join(f'{m!r}, ' for m in modules)}course='path/to/course')"
        raise UsageError(f"no course.toml in {Path.cwd()} or its parents: run this in the "
                         f"course folder, or name it (the folder with course.toml): {call}"
                         ) from None
    folder = given or loaded.exercises
    if not folder.exists():
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
        absent = set(found.missing(loaded.modules))
        with open_sandbox(loaded, workdir / "submission", unavailable) as sandbox:
            raw = run_checks(loaded, sandbox, selected)
        outcomes = blame.apply(raw, implemented, absent)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for module in selected:
        summaries.extend(summarise(module, loaded.functions(module),
                                   [o for o in outcomes if o.spec.module == module]))
    if upload is not None:
        _write_upload(Path(upload), found.zip_bytes())
    report = CheckReport(tuple(summaries), *_shown(folder, found),
                         Path(upload) if upload is not None else None,
                         tuple(f"{s.module}.{s.function}" for s in summaries
                               if f"{s.module}.{s.function}" not in implemented),
                         tuple(m for m in loaded.modules if m not in found.modules)
                         if upload is not None else (),
                         elsewhere(folder, blame.excused(raw, absent), selected))
    if echo:
        print(report.render(), file=stream or sys.stdout)
    return report


def submit(
    *,
    path: str | Path | None = None,
    course: str | Path | None = None,
    out: str | Path | None = None,
    echo: bool = True,
    stream: TextIO | None = None,
) -> CheckReport:
    """Run every module's public checks, then write the upload zip, whatever they found.

    The one mechanism of `check` with ``upload``: the zip holds exactly the files ``grader
    grade`` will take. It is written even when checks fail or functions are not written yet
    (partial work is handed in as it is; the report's ``ok`` says whether all passed).

    Parameters
    ----------
    path : str or Path, optional
        As in `check`: a folder, a release folder or one notebook.
    course : str or Path, optional
        As in `check`.
    out : str or Path, optional
        The zip to write (a ``.zip`` name); default: ``<assignment>-submission.zip`` in the
        current folder (`grader.course.bundle_project.upload_name`).
    echo, stream
        As in `check`.

    Returns
    -------
    CheckReport
        Its ``upload`` is the zip written.

    Raises
    ------
    UsageError
        As in `check`, or ``out`` not a ``.zip`` name.
    UploadError
        The zip cannot be written.
    """
    loaded, _ = locate(path, course, files=NOTEBOOK)
    target = Path(out) if out is not None else Path(upload_name(loaded))
    if target.suffix.lower() != ".zip":
        raise UsageError(f"{target} does not end in .zip; name the upload file like "
                         f"{upload_name(loaded)}")
    if target.is_dir():
        raise UsageError(f"{target} is a folder; give the zip's file name")
    return check(path=path, course=loaded.root, echo=echo, stream=stream, upload=target)


def _write_upload(target: Path, data: bytes) -> None:
    """Write the upload zip (`grader.util.files.atomic_write`) into an existing folder."""
    if not target.parent.is_dir():
        raise UploadError(f"cannot write {target}: no such folder {target.parent}")
    try:
        atomic_write(target, data)
    except OSError as exc:
        raise UploadError(f"cannot write {target}: {exc.strerror or exc}") from None


def locate(path: str | Path | None, course: str | Path | None,
           error: type[CourseError] = UsageError,
           files: Sequence[str] = ()) -> tuple[Course, Path | None]:
    """The course and the student's folder, as every student command finds them.

    Parameters
    ----------
    path : str, Path or None
        The student's folder (``--path``), or a file with one of the suffixes ``files``; it
        must exist.
    course : str, Path or None
        The course folder (``--course``); default: the course around the current folder,
        else the one around ``path``.
    error : type of CourseError
        What a missing folder raises (a command's own usage error).
    files : sequence of str
        The suffixes of files that may stand for the folder (``(".ipynb",)``: one notebook
        is a submission); none by default.

    Returns
    -------
    course : Course
    folder : Path or None
        ``path``, resolved; None when not given (the caller picks its default).
    """
    folder = Path(path).resolve() if path is not None else None
    if folder is not None and not folder.is_dir():
        kinds = "".join(f" or {suffix} file" for suffix in files)
        if not folder.exists():
            raise error(f"no such folder{kinds}: {folder}")
        if not folder.is_file() or folder.suffix.lower() not in files:
            raise error(f"{folder} is not a folder{kinds}: give the folder of your modules"
                        + "".join(f" or your {suffix} notebook" for suffix in files))
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
    student: str = "submission",
) -> tuple[float, str | None]:
    """Grade one submission inside Gradescope's autograder and write its ``results.json``.

    ``student`` seeds the per-student inputs (`grader.integrations.gradescope.identify` of
    the submission's metadata), so `grader grade` of the same files under that id gives the
    same result.

    Whatever goes wrong, a valid ``results.json`` is written: if the grader itself fails, score
    0 and a generic message (`grader.integrations.gradescope.failure`), since the student reads
    that file; the reason (which names the host's paths) is returned, for the instructor-only
    output.

    Returns
    -------
    tuple of (float, str or None)
        The score written, and the traceback of the grader's failure (None when graded).
    """

    import traceback

    from grader.batch import pipeline as batch
    from grader.batch.submissions import Submission
    from grader.engine import results
    from grader.engine.grading import warm_up
    from grader.exports import gradebook as export
    from grader.integrations import gradescope

    student = inert.text(student)
    problem: str | None = None
    try:
        specs, reference = course.collect(hidden=True), course.reference()
        warm_up(specs, reference)
        job = batch.read_submission(Submission(student, submission), course)
        result = _graded_in_time(job, course, specs, reference)
        results.validate(result)
        payload: GradescopeResult = export.gradescope(result)
    except Exception as exc:  # the grader failed: still give Gradescope a valid file
        payload, problem = gradescope.failure(), "".join(traceback.format_exception(exc))
    results.write_json(payload, results_file)  # any text: lone surrogates are escaped
    return float(payload["score"]), problem


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
