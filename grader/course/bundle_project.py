"""The student bundle's ``pyproject.toml``: what ``pip install ./bundle`` installs.

The bundle is a distribution of its own, named after the course, that installs the copied
``grader`` package with its ``grader`` console script and exactly what a student's commands
need: the grader's runtime requirements that ``check``, ``submit``, ``list`` and the course's
own commands import (`STUDENT_RUNTIME`), then the course's ``[course] dependencies``. The
instructor's libraries (result validation, the report's figures, nbgrader, Dask, similarity)
are not installed on a student's machine.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
import unicodedata
from pathlib import Path

from grader.course.config import Course
from grader.course.loading import CourseError

__all__ = ["STUDENT_RUNTIME", "distribution_name", "framework", "project_text", "pyproject",
           "student_requirements", "toml", "upload_name"]

#: The grader's own requirements (by distribution name) that a student's commands import:
#: numpy for the checks and the sandbox, click for the command line. Their version bounds are
#: taken from the grader's own requirements when it states them.
STUDENT_RUNTIME = ("numpy", "click")

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _slug(*texts: str) -> str:
    """The first of ``texts`` that leaves anything as lower-case ASCII letters and digits
    joined by ``-`` (accents dropped, every other run of characters one ``-``); else ""."""
    for text in texts:
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
        if slug:
            return slug
    return ""


def distribution_name(course: Course) -> str:
    """The bundle's distribution name: the course's ``name`` (else its ``assignment``) as a
    valid, normalised Python distribution name ("Backpropagation with numpy" gives
    ``backpropagation-with-numpy``)."""
    return _slug(course.name, course.assignment) or "course"


def upload_name(course: Course) -> str:
    """The zip ``grader submit`` writes by default: ``<assignment>-submission.zip``
    (``backprop-submission.zip``), the assignment as in `distribution_name`."""
    return f"{_slug(course.assignment, course.name) or 'course'}-submission.zip"


def requirement_name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (``"numpy>=1.24"``: numpy)."""
    match = _NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else requirement.lower()


def student_requirements(course: Course) -> list[str]:
    """What the bundle depends on: each of `STUDENT_RUNTIME` as the grader requires it (its
    version bound, else the bare name), then the course's ``[course] dependencies``."""
    framework_requirements = {requirement_name(r): r for r in framework()[2]}
    runtime = [framework_requirements.get(name, name) for name in STUDENT_RUNTIME]
    taken = {requirement_name(r) for r in runtime}
    own = [d for d in course.dependencies if requirement_name(d) not in taken]
    return list(dict.fromkeys([*runtime, *own]))


def framework() -> tuple[str, str, list[str]]:
    """The grader's own version, Python requirement and runtime requirements: from the
    ``pyproject.toml`` beside the package (a source checkout), else from the installed
    distribution that provides it.

    A checkout that is a course too (this repository) lists that course's ``[course]
    dependencies`` among its own: they are left out, since each course adds its own.

    Raises
    ------
    CourseError
        Neither a ``pyproject.toml`` beside the package nor an installed distribution says.
    """
    package = Path(__file__).resolve().parents[1]
    project_file = package.parent / "pyproject.toml"
    if project_file.is_file():
        project = tomllib.loads(project_file.read_text(encoding="utf-8")).get("project", {})
        if "dependencies" in project:
            beside = _course_dependencies(package.parent / "course.toml")
            return (str(project.get("version", "0")), str(project.get("requires-python", "")),
                    [str(d) for d in project["dependencies"] if str(d) not in beside])
    for name in importlib.metadata.packages_distributions().get(package.name, []):
        meta = importlib.metadata.metadata(name)
        requires = importlib.metadata.requires(name) or []
        return (meta["Version"] or "0", meta["Requires-Python"] or "",
                [r for r in requires if "extra ==" not in r])
    raise CourseError(f"cannot tell what the grader at {package} requires: no pyproject.toml "
                      "beside it and no installed distribution provides it")


def _course_dependencies(config: Path) -> set[str]:
    """``[course] dependencies`` of a ``course.toml`` (none if it cannot be read)."""
    try:
        table = tomllib.loads(config.read_text(encoding="utf-8")).get("course", {})
    except (OSError, tomllib.TOMLDecodeError):
        return set()
    found = table.get("dependencies", []) if isinstance(table, dict) else []
    return {str(d) for d in found} if isinstance(found, list) else set()


def pyproject(course: Course, package: Path) -> str:
    """The bundle's ``pyproject.toml`` text.

    Parameters
    ----------
    course : Course
        The course released.
    package : Path
        The bundle's copy of the ``grader`` package (its data files are listed).

    Returns
    -------
    str
        A setuptools project: the course's distribution name, the grader's version and
        Python requirement, `student_requirements`, the ``grader`` console script.
    """
    return project_text(distribution_name(course), course.name, student_requirements(course),
                        package)


def project_text(name: str, description: str, requirements: list[str], package: Path,
                 readme: str | None = "README.md") -> str:
    """A ``pyproject.toml`` installing a copy of the ``grader`` package as ``name``.

    Parameters
    ----------
    name, description : str
        The distribution's name and one-line description.
    requirements : list of str
        What it depends on.
    package : Path
        The copy of the ``grader`` package: its data files (every file but Python source and
        caches) are listed as package data.
    readme : str or None
        The project's README file, beside the ``pyproject.toml``; None for none.

    Returns
    -------
    str
        A setuptools project with the grader's version and Python requirement (`framework`)
        and the ``grader`` console script.
    """
    version, python, _ = framework()
    data = sorted(p.relative_to(package).as_posix() for p in package.rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc")
                  and "__pycache__" not in p.parts)
    lines = ["[build-system]", 'requires = ["setuptools>=68"]',
             'build-backend = "setuptools.build_meta"', "", "[project]",
             f"name = {toml(name)}", f"version = {toml(version)}",
             f"description = {toml(description)}"]
    if readme is not None:
        lines.append(f"readme = {toml(readme)}")
    if python:
        lines.append(f"requires-python = {toml(python)}")
    lines += ["dependencies = [", *(f"    {toml(r)}," for r in requirements),
              "]", "", "[project.scripts]", 'grader = "grader.cli:main"', "",
              "[tool.setuptools.packages.find]", 'include = ["grader", "grader.*"]', "",
              "[tool.setuptools.package-data]",
              "grader = [" + ", ".join(toml(d) for d in data) + "]"]
    return "\n".join(lines) + "\n"


def toml(value: object) -> str:
    """``value`` (a string, number or boolean) as a TOML value."""
    if isinstance(value, bool):  # TOML's booleans are lower case (str(True) is not TOML)
        return "true" if value else "false"
    if isinstance(value, str):  # a basic string: backslash, quote and controls escaped
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}",
                            escaped) + '"'
    return str(value)
