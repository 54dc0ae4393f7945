"""The student bundle: stubs, public checks, notes, the course's own commands and the grader,
without solutions or hidden tests; a folder that ``pip install`` installs. Nothing in it is
particular to one course but what the course folder holds: its ``pyproject.toml``
(`grader.course.bundle_project`) is written from what a student's commands need and the
course's ``[course] dependencies``, its README (`grader.course.bundle_readme`) from the
course's modules and ``[commands]``."""

from __future__ import annotations

import os
import secrets
import shutil
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

from grader.course.bundle_project import pyproject, toml, upload_name
from grader.course.bundle_readme import readme
from grader.course.config import Course
from grader.course.points import listing, verify
from grader.util.files import atomic_write

#: what a release may never contain (folders of the course root)
SECRET_PARTS = ("solutions", "autograde_tests")
#: the course's notes for students (``notes/<module>.md``), shipped when the course has them
NOTES = "notes"


def release(course: Course, out: Path) -> list[Path]:
    """Write the student bundle into ``out``.

    The bundle holds ``course.toml`` (without the secret, with a ``[points]`` table so
    ``grader list`` still shows the points, and the ``[calls]`` the graded run isolates),
    ``exercises/``, ``checks/``, ``notes/`` (when the course has it), the folder of the
    course's own commands (``[commands]``), the ``grader`` package, a ``pyproject.toml`` that
    installs it as a distribution named after the course with what a student's commands need
    and the course's ``[course] dependencies`` (``pip install ./out``), and a README for
    students: install, check, the course's commands, what to hand in. Nothing of ``solutions/``
    or ``autograde_tests/`` is copied, and nothing copied answers an exercise: the grader's
    own numerics are not the exercise's formulas (`grader.authoring.gradcheck`), which
    ``tests/test_bundle_answers.py`` proves by grading a submission built from the bundle's
    code.

    A course without ``checks/`` has no public checks, and its bundle none. Nothing is written
    unless the course loads as every command loads it: its public checks as ``grader check``
    collects them, its hidden tests as ``grader grade`` does, and its ``[points]`` table
    agreeing with the hidden tests (`grader.course.points.verify`), so no mistake of the
    author's reaches students. The bundle is written into a temporary folder beside ``out``
    and moved into place when complete, so a release that fails leaves no half-written folder.

    Returns
    -------
    list of Path
        Every file written.

    Raises
    ------
    CourseError
        The checks or hidden tests do not load, or ``[points]`` disagrees with the tests.
    FileExistsError
        ``out`` holds files.
    """
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new folder")
    course.collect(hidden=False)  # the public checks load as `grader check` loads them
    points = listing(course)  # the hidden tests load as `grader grade` loads them
    verify(course, points)
    out.parent.mkdir(parents=True, exist_ok=True)
    building = out.parent / f".{out.name}.partial-{secrets.token_hex(6)}"
    building.mkdir()  # (not mkdtemp: the bundle keeps the usual permissions)
    try:
        _write(course, building, points, out.name)
        leaked = [p for p in building.rglob("*") if p.is_file() and _leaks(p.relative_to(building))]
        if leaked:
            raise RuntimeError(f"release would leak instructor files: {leaked}")
        os.rename(building, out)  # replaces an empty folder
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return sorted(p for p in out.rglob("*") if p.is_file())


def _leaks(path: Path) -> bool:
    """Whether a file of the bundle (relative to it) lies in a folder of the instructor's."""
    return any(part in SECRET_PARTS for part in path.parts)


def _package_ignore(package: Path) -> Callable[[str, list[str]], set[str]]:
    """What the bundle's copy of the grader package leaves out: caches, and the course
    scaffolding's templates (`grader new` is the instructor's; they hold a course's
    ``solutions/`` and ``autograde_tests/``, which a bundle never contains)."""
    caches = shutil.ignore_patterns("__pycache__", "*.pyc")
    scaffolding = package / "course"

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(caches(folder, names))
        if Path(folder) == scaffolding:
            skipped.add("templates")
        return skipped

    return ignore


def _write(course: Course, out: Path, points: Mapping[str, Mapping[str, float]],
           name: str) -> None:
    """Write the bundle's files into the folder ``out`` (``points``: the course's points,
    module to function to points, for the bundle's ``[points]`` table; ``name``: the name
    of the bundle's folder once complete, for its README)."""
    package = Path(__file__).resolve().parents[1]
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(course.exercises, out / "exercises", ignore=ignore)
    if course.checks.is_dir():  # else the course has no public checks to ship
        shutil.copytree(course.checks, out / "checks", ignore=ignore)
    shutil.copytree(package, out / "grader", ignore=_package_ignore(package))
    for part in _command_parts(course):
        source = course.root / part
        if source.is_dir():
            shutil.copytree(source, out / part, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, out / part)
    notes = course.root / NOTES
    if notes.is_dir():
        shutil.copytree(notes, out / NOTES, ignore=ignore, dirs_exist_ok=True)
    files = {"pyproject.toml": pyproject(course, out / "grader"),
             "course.toml": _student_config(course, points),
             "README.md": readme(course, name, upload_name(course), notes.is_dir())}
    for file, text in files.items():
        atomic_write(out / file, text)


def _command_parts(course: Course) -> list[str]:
    """What ships of the course's own commands: the top folder (or file) of each command's
    file, as a path relative to the course folder."""
    parts = (Path(target.rpartition(":")[0]).parts for target in course.commands.values())
    return sorted({p[0] for p in parts if p and p[0] not in SECRET_PARTS})


def _student_config(course: Course, points: Mapping[str, Mapping[str, float]]) -> str:
    config = tomllib.loads((course.root / "course.toml").read_text(encoding="utf-8"))
    section = config.get("course", {})
    grading = config.get("grading", {})
    lines = ["# Student copy: no secret, points listed for `grader list`.", "[course]"]
    for key in ("name", "assignment"):
        lines.append(f"{key} = {toml(section.get(key, ''))}")
    lines.append("modules = [" + ", ".join(toml(m) for m in course.modules) + "]")
    if course.dependencies:
        lines.append("dependencies = [" + ", ".join(toml(d) for d in course.dependencies)
                     + "]")
    if "misconceptions" in section:  # the file ships with the checks; keep its path
        lines.append(f"misconceptions = {toml(course.misconceptions_file)}")
    lines += ["", "[grading]"]
    for key, value in grading.items():
        if key != "secret":
            lines.append(f"{key} = {toml(value)}")
    lines += ["", "[functions]"]
    for module in course.modules:
        lines.append(f"{module} = [" + ", ".join(toml(f) for f in course.functions(module))
                     + "]")
    if course.calls:  # which calls the graded run isolates; `grader check` blames along them
        lines += ["", "[calls]"]
        for function, calls in course.calls.items():
            lines.append(f"{toml(function)} = [" + ", ".join(toml(c) for c in calls) + "]")
    if course.commands:  # the course's own commands ship with it
        lines += ["", "[commands]"]
        lines += [f"{name} = {toml(target)}" for name, target in course.commands.items()]
    lines += ["", "[points]"]
    for module, functions in points.items():
        for function, value in functions.items():
            lines.append(f'"{module}.{function}" = {value:g}')
    return "\n".join(lines) + "\n"
