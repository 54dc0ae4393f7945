"""The Python API behind every command: keyword-only functions the CLI calls unchanged."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from grader.course import Course, CourseError, find_course, load_course
from grader.feedback import FunctionSummary, summarise
from grader.runner import PASSED, run_tests
from grader.sandbox import Sandbox

PUBLIC_NOTE = (
    "These are the public checks only. The graded run also compares every function with a\n"
    "reference solution on new random inputs (different for every student), so passing here\n"
    "is necessary but not sufficient for full marks."
)


class UsageError(CourseError):
    """Bad arguments: an unknown module, a missing folder (exit code 2)."""


@dataclass(frozen=True)
class CheckReport:
    """The result of ``grader check``: one summary per function checked."""

    functions: tuple[FunctionSummary, ...]

    @property
    def ok(self) -> bool:
        """True when every function passed all its public checks."""
        return all(f.status == PASSED for f in self.functions)

    def counts(self) -> dict[str, int]:
        """How many functions are in each status."""
        counts: dict[str, int] = {}
        for f in self.functions:
            counts[f.status] = counts.get(f.status, 0) + 1
        return counts

    def render(self) -> str:
        """The report as a student reads it."""
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
        lines.append(f"{counts.get(PASSED, 0)} of {total} functions pass their public checks"
                     + (f" ({others})." if others else "."))
        lines.append(PUBLIC_NOTE)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<CheckReport: {self.counts().get(PASSED, 0)}/{len(self.functions)} passed>"


def resolve_modules(course: Course, requested: Sequence[str], folder: Path) -> list[str]:
    """The modules to check: the requested ones (validated), else those present in ``folder``."""
    unknown = [m for m in requested if m.removesuffix(".py") not in course.modules]
    if unknown:
        raise UsageError(f"unknown module {', '.join(unknown)}; "
                         f"the modules are: {', '.join(course.modules)}")
    if requested:
        return [m.removesuffix(".py") for m in requested]
    present = [m for m in course.modules if (folder / f"{m}.py").is_file()]
    if not present:
        raise UsageError(f"no exercise modules in {folder} (expected e.g. "
                         f"{course.modules[0]}.py)")
    return present


def check(
    *modules: str,
    path: str | Path | None = None,
    course: str | Path | None = None,
    echo: bool = True,
    stream: TextIO | None = None,
) -> CheckReport:
    """Run the public checks on the student's own code.

    Parameters
    ----------
    *modules : str
        Modules to check (``"neuron"``); default: every course module found in ``path``.
    path : str or Path, optional
        Folder of the student's modules (default: the course's ``exercises/``).
    course : str or Path, optional
        Course folder (default: found from the current folder or from ``path``).
    echo : bool
        Print the report (to ``stream``, default stdout), as in a notebook.

    Returns
    -------
    CheckReport
        Its ``ok`` is True when every check passed.
    """
    loaded, given = locate(path, course)
    folder = given or loaded.exercises
    if not folder.is_dir():
        raise UsageError(f"no such folder: {folder}")
    selected = resolve_modules(loaded, modules, folder)
    summaries: list[FunctionSummary] = []
    functions = {m: loaded.functions(m) for m in loaded.modules}
    with Sandbox(folder, loaded.limits, course=functions,
                 helpers=loaded.helper_sources()) as sandbox:
        for module in selected:
            specs = loaded.collect([module], hidden=False)
            outcomes = run_tests(specs, sandbox, student="local", secret=None)
            summaries.extend(summarise(module, loaded.functions(module), outcomes))
    report = CheckReport(tuple(summaries))
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


def listing(course: Course) -> dict[str, dict[str, float]]:
    """Modules -> functions -> points: from the hidden tests when present, else from the
    ``[points]`` table of ``course.toml`` (as in a student release)."""
    hidden = course.hidden_tests.is_dir()
    result: dict[str, dict[str, float]] = {}
    for module in course.modules:
        functions = dict.fromkeys(course.functions(module), 0.0)
        if hidden:
            for spec in course.collect([module], hidden=True):
                functions[spec.function] = functions.get(spec.function, 0.0) + spec.points
        else:
            for name in functions:
                functions[name] = course.points.get(f"{module}.{name}", 0.0)
        result[module] = functions
    return result


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

    from grader import batch, export, results
    from grader.grading import warm_up
    from grader.submissions import Submission

    student = "submission"
    if metadata is not None and metadata.is_file():
        try:
            data = json.loads(metadata.read_text(encoding="utf-8"))
            student = str(data.get("id") or student)
        except (OSError, ValueError, AttributeError):
            pass
    try:
        specs, reference = course.collect(hidden=True), course.reference()
        warm_up(specs, reference)
        job = batch.read_submission(Submission(student, submission), course.modules)
        result = batch.grade_job(job, course, specs, reference, course.secret)
        results.validate(result)
        payload = export.gradescope(result)
    except Exception as exc:  # the grader failed: still give Gradescope a valid file
        payload = {"score": 0.0, "output": f"The autograder failed: {type(exc).__name__}: "
                                           f"{exc}. Tell your instructor.", "tests": []}
    results.write_json(payload, results_file)
    return float(payload["score"])
