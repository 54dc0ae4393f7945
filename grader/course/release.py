"""The student bundle: stubs, public checks, the course's own commands and the grader, without
solutions or hidden tests. Nothing in it is particular to one course but what the course
folder holds: its ``pyproject.toml`` is written from the grader's own requirements and the
course's ``[course] dependencies``."""

from __future__ import annotations

import importlib.metadata
import os
import re
import secrets
import shutil
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

from grader.course.config import Course
from grader.course.points import listing, verify

#: what a release may never contain (folders of the course root)
SECRET_PARTS = ("solutions", "autograde_tests")


def release(course: Course, out: Path) -> list[Path]:
    """Write the student bundle into ``out``.

    The bundle holds ``course.toml`` (without the secret, with a ``[points]`` table so
    ``grader list`` still shows the points, and the ``[calls]`` the graded run isolates),
    ``exercises/``, ``checks/``, the folder of the course's own commands (``[commands]``), the
    ``grader`` package, a ``pyproject.toml`` that installs it with the grader's requirements
    and the course's ``[course] dependencies``, and a short README. Nothing of ``solutions/``
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
        _write(course, building, points)
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


def _write(course: Course, out: Path, points: Mapping[str, Mapping[str, float]]) -> None:
    """Write the bundle's files into the folder ``out`` (``points``: the course's points,
    module to function to points, for the bundle's ``[points]`` table)."""
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
    (out / "pyproject.toml").write_text(_pyproject(course, out / "grader"), encoding="utf-8")
    (out / "course.toml").write_text(_student_config(course, points), encoding="utf-8")
    (out / "README.md").write_text(_readme(course), encoding="utf-8")


def _command_parts(course: Course) -> list[str]:
    """What ships of the course's own commands: the top folder (or file) of each command's
    file, as a path relative to the course folder."""
    parts = (Path(target.rpartition(":")[0]).parts for target in course.commands.values())
    return sorted({p[0] for p in parts if p and p[0] not in SECRET_PARTS})


def _framework(package: Path) -> tuple[str, str, list[str]]:
    """The grader's own version, Python requirement and runtime requirements: from the
    ``pyproject.toml`` beside the package (a source checkout), else from the installed
    distribution that provides it."""
    pyproject = package.parent / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if "dependencies" in project:
            # a checkout that is a course too installs that course's dependencies: not the
            # grader's (a course's own go into its release from its course.toml)
            beside = _course_dependencies(package.parent / "course.toml")
            return (str(project.get("version", "0")), str(project.get("requires-python", "")),
                    [str(d) for d in project["dependencies"] if str(d) not in beside])
    for name in importlib.metadata.packages_distributions().get(package.name, []):
        meta = importlib.metadata.metadata(name)
        requires = importlib.metadata.requires(name) or []
        return (meta["Version"] or "0", meta["Requires-Python"] or "",
                [r for r in requires if "extra ==" not in r])
    raise RuntimeError(f"cannot tell what the grader at {package} requires: no pyproject.toml "
                       "beside it and no installed distribution provides it")


def _course_dependencies(config: Path) -> set[str]:
    """``[course] dependencies`` of a ``course.toml`` (none if it cannot be read)."""
    try:
        table = tomllib.loads(config.read_text(encoding="utf-8")).get("course", {})
    except (OSError, tomllib.TOMLDecodeError):
        return set()
    found = table.get("dependencies", [])
    return {str(d) for d in found} if isinstance(found, list) else set()


def _pyproject(course: Course, package: Path) -> str:
    """The bundle's ``pyproject.toml``: the copied grader package, its console script, and the
    grader's requirements followed by the course's own."""
    version, python, framework = _framework(Path(__file__).resolve().parents[1])
    requirements = list(dict.fromkeys([*framework, *course.dependencies]))
    data = sorted(str(p.relative_to(package)) for p in package.rglob("*")
                  if p.is_file() and p.suffix != ".py")
    name = re.sub(r"[^a-z0-9]+", "-", course.assignment.lower()).strip("-") or "course"
    lines = ["[build-system]", 'requires = ["setuptools>=68"]',
             'build-backend = "setuptools.build_meta"', "", "[project]",
             f"name = {_toml(name + '-exercises')}", f"version = {_toml(version)}",
             f"description = {_toml(course.name)}"]
    if python:
        lines.append(f"requires-python = {_toml(python)}")
    lines += ["dependencies = [", *(f"    {_toml(r)}," for r in requirements), "]", "",
              "[project.scripts]", 'grader = "grader.cli:main"', "",
              "[tool.setuptools.packages.find]", 'include = ["grader", "grader.*"]', "",
              "[tool.setuptools.package-data]",
              "grader = [" + ", ".join(_toml(d) for d in data) + "]"]
    return "\n".join(lines) + "\n"


def _student_config(course: Course, points: Mapping[str, Mapping[str, float]]) -> str:
    config = tomllib.loads((course.root / "course.toml").read_text(encoding="utf-8"))
    section = config.get("course", {})
    grading = config.get("grading", {})
    lines = ["# Student copy: no secret, points listed for `grader list`.", "[course]"]
    for key in ("name", "assignment"):
        lines.append(f"{key} = {_toml(section.get(key, ''))}")
    lines.append("modules = [" + ", ".join(_toml(m) for m in course.modules) + "]")
    if course.dependencies:
        lines.append("dependencies = [" + ", ".join(_toml(d) for d in course.dependencies)
                     + "]")
    if "misconceptions" in section:  # the file ships with the checks; keep its path
        lines.append(f"misconceptions = {_toml(course.misconceptions_file)}")
    lines += ["", "[grading]"]
    for key, value in grading.items():
        if key != "secret":
            lines.append(f"{key} = {_toml(value)}")
    lines += ["", "[functions]"]
    for module in course.modules:
        lines.append(f"{module} = [" + ", ".join(_toml(f) for f in course.functions(module))
                     + "]")
    if course.calls:  # which calls the graded run isolates; `grader check` blames along them
        lines += ["", "[calls]"]
        for function, calls in course.calls.items():
            lines.append(f"{_toml(function)} = [" + ", ".join(_toml(c) for c in calls) + "]")
    if course.commands:  # the course's own commands ship with it
        lines += ["", "[commands]"]
        lines += [f"{name} = {_toml(target)}" for name, target in course.commands.items()]
    lines += ["", "[points]"]
    for module, functions in points.items():
        for function, value in functions.items():
            lines.append(f'"{module}.{function}" = {value:g}')
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):  # TOML's booleans are lower case (str(True) is not TOML)
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def _readme(course: Course) -> str:
    first = course.modules[0]
    commands = "".join(f"    grader {name} --help\n" for name in course.commands)
    own = f"\nThe course's own commands:\n\n{commands}" if commands else ""
    if not course.checks.is_dir():
        return f"""# {course.name}

Fill in the functions in `exercises/` (each raises `NotImplementedError` until you do). This
course has no public checks: your work is graded by comparing every function with a reference
solution on random inputs, different for every student.

    pip install -e .
    grader list             # modules, functions and points
{own}"""
    return f"""# {course.name}

Fill in the functions in `exercises/` (each raises `NotImplementedError` until you do), then
check your work:

    pip install -e .
    grader check            # every module
    grader check {first:<10} # one module
    grader list             # modules, functions and points
{own}
In a notebook: `from grader import check; check("{first}")`.

These are the public checks. The graded run also compares every function with a reference
solution on new random inputs, different for every student.
"""
