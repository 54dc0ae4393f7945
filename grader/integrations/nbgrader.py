"""The nbgrader bridge: source notebooks generated from the course, scores into the gradebook.

``generate`` writes one nbgrader source notebook per course module into
``<nbgrader course>/source/<assignment>/``: the module's notes (LaTeX), a locked cell with the
module's own conventions (`grader.integrations.conventions`) and provided code, one solution
cell per contract function (the reference body
between ``### BEGIN SOLUTION`` / ``### END SOLUTION``, so ``nbgrader generate_assignment``
releases the stub), and after each, an autograder test cell worth the function's points that
runs the public checks and, in ``### BEGIN HIDDEN TESTS``, the hidden tests through
:mod:`grader.integrations.notebook`. One notebook per module keeps each notebook the size of one
idea, lets the course's modules import each other as in ``exercises/`` (``from activations import
...`` imports ``activations.ipynb``), and maps module points onto nbgrader's per-notebook scores.

Beside the notebooks goes the public course, ``.public-course/`` (``course.toml`` without the
secret, and ``checks/``): ``nbgrader generate_assignment`` releases it with them, so a student
who has only the released folder and the installed grader runs the public checks (and
``nbgrader autograde`` copies it back over whatever a student submitted).

No generated notebook holds a path: the test cells call ``grade(module, function)``, which
finds the course as :func:`grader.integrations.notebook.locate_course` says (``$GRADER_COURSE``,
else the nearest ``course.toml`` above the nbgrader course). An nbgrader course inside the
grader course needs nothing more; for one elsewhere, the ``nbgrader_config.py`` written here
sets ``GRADER_COURSE`` to the course's path relative to that file, so the two folders can move
together (the kernels nbgrader starts inherit its environment).

``write_gradebook`` stores ``grader grade`` results in the course's gradebook through
nbgrader's own API (``nbgrader.api.Gradebook``), so formgrader and ``nbgrader export`` show
them.

Everything here but `notebook` needs the ``nbgrader`` extra; without it, `require` raises
`MissingExtra` (a `CourseError`: the commands exit 2 with its message).
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from grader.batch.submissions import Submission
from grader.course.config import Course, CourseError
from grader.course.points import listing
from grader.course.release import _student_config
from grader.engine.results import Result
from grader.integrations.conventions import own_docstring
from grader.integrations.notebook import COURSE_ENV, PUBLIC_COURSE
from grader.util.files import atomic_write

SCHEMA_VERSION = 3
#: what to do without the nbgrader extra
INSTALL = "install the nbgrader extra: pip install 'backprop-grader[nbgrader]'"
SETUP = """\
# Provided: lets this notebook import the assignment's other notebooks
{example}try:
    import grader.integrations.notebook
except ImportError as exc:
    raise ImportError("this notebook needs the grader installed in the Python of its "
                      "kernel: pip install the course's student bundle") from exc

grader.integrations.notebook.install()"""
CONFIG = """\
c = get_config()  # noqa: F821 (nbgrader's config object)
c.CourseDirectory.course_id = {course_id!r}
# Student code and the tests share one kernel in nbgrader; `grader grade` sandboxes it.
c.Execute.timeout = 300
"""
COURSE_LINES = """
# Where the notebooks' tests find the grader course: its folder relative to this file, so the
# two folders can move together ({env} set in the environment wins).
import os

os.environ.setdefault(
    {env!r}, os.path.join(os.path.dirname(os.path.abspath(__file__)), {relative!r}))
"""


class MissingExtra(CourseError):
    """The nbgrader extra is not installed (the message says how to install it)."""


def require(*modules: str) -> None:
    """Import ``modules`` (default: nbformat and nbgrader's API) or raise `MissingExtra`."""
    for name in modules or ("nbformat", "nbgrader.api"):
        try:
            importlib.import_module(name)
        except ImportError:
            raise MissingExtra(INSTALL) from None


def _cell(kind: str, source: str, **nbgrader: Any) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "id": nbgrader.get("grade_id", kind),
                            "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    if nbgrader:
        cell["metadata"]["nbgrader"] = {"schema_version": SCHEMA_VERSION, "grade": False,
                                        "solution": False, "locked": False, **nbgrader}
    return cell


def _segments(path: Path, names: Sequence[str]) -> tuple[str, dict[str, str]]:
    """Split a module into its provided code and the source of each named function."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    functions: dict[str, str] = {}
    keep = [True] * len(lines)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            functions[node.name] = "".join(lines[start:node.end_lineno])
            for i in range(start, node.end_lineno or start):
                keep[i] = False
    provided = "".join(line for line, k in zip(lines, keep, strict=True) if k)
    while "\n\n\n\n" in provided:
        provided = provided.replace("\n\n\n\n", "\n\n\n")
    return provided.strip() + "\n", functions


def _solution_source(function_source: str) -> str:
    """The function with its body (after the docstring) between the solution markers."""
    node = ast.parse(function_source).body[0]
    assert isinstance(node, ast.FunctionDef)
    lines = function_source.splitlines(keepends=True)
    first = node.body[0]
    has_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    body_start = (node.body[1] if has_doc and len(node.body) > 1 else first).lineno - 1
    indent = " " * (len(lines[body_start]) - len(lines[body_start].lstrip()))
    return ("".join(lines[:body_start]) + f"{indent}### BEGIN SOLUTION\n"
            + "".join(lines[body_start:]).rstrip("\n") + f"\n{indent}### END SOLUTION\n")


def notebook(course: Course, module: str, points: dict[str, float]) -> dict[str, Any]:
    """The nbgrader source notebook of one course module (as nbformat 4 JSON)."""
    functions = course.functions(module)
    provided, _ = _segments(course.exercises / f"{module}.py", functions)
    _, solved = _segments(course.solutions / f"{module}.py", functions)
    missing = [f for f in functions if f not in solved]
    if missing:
        raise CourseError(f"solutions/{module}.py lacks {', '.join(missing)}")
    notes = course.root / "notes" / f"{module}.md"
    intro = notes.read_text(encoding="utf-8") if notes.is_file() else f"# {module}.py"
    other = next((m for m in course.modules if m != module), None)
    example = (f"# (`from {other} import ...` reads {other}.ipynb as last saved).\n"
               if other else "")
    cells = [
        _cell("markdown", intro, grade_id=f"intro-{module}", locked=True),
        _cell("code", SETUP.format(example=example), grade_id=f"setup-{module}", locked=True),
        _cell("code", own_docstring(provided, course, module), grade_id=f"{module}-provided",
              locked=True),
    ]
    for function in functions:
        cells.append(_cell("code", _solution_source(solved[function]),
                           grade_id=f"{module}-{function}", solution=True))
        cells.append(_cell(
            "code",
            f"# Checks of {function} (run this cell as often as you like: it fails until\n"
            "# every check passes).\n"
            f"grader.integrations.notebook.check({module!r}, {function!r})\n"
            "### BEGIN HIDDEN TESTS\n"
            f"grader.integrations.notebook.grade({module!r}, {function!r})\n"
            "### END HIDDEN TESTS",
            grade_id=f"{module}-{function}-test", grade=True, locked=True,
            points=points.get(function, 0.0)))
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"},
                         "language_info": {"name": "python"}}}


def config(course: Course, root: Path) -> str:
    """The ``nbgrader_config.py`` of the nbgrader course ``root``: the course id, the kernel's
    timeout and, unless ``root`` lies inside the grader course, where that course is (relative
    to the file, see the module docstring)."""
    text = CONFIG.format(course_id=course.assignment)
    here, there = root.resolve(), course.root.resolve()
    if here != there and there not in here.parents:
        text += COURSE_LINES.format(env=COURSE_ENV, relative=os.path.relpath(there, here))
    return text


def public_course(course: Course, folder: Path,
                  points: dict[str, dict[str, float]]) -> list[Path]:
    """Write the public course into ``folder`` (replacing it): ``course.toml`` as the student
    bundle has it (no secret, ``[points]``), without ``[commands]`` (not shipped here), and
    ``checks/``.

    Returns
    -------
    list of Path
        The files written.
    """
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    text = re.sub(r"\n\[commands\]\n.*?(?=\n\[|\Z)", "\n", _student_config(course, points),
                  flags=re.S)
    atomic_write(folder / "course.toml", text)
    if course.checks.is_dir():
        for path in sorted(course.checks.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                target = folder / "checks" / path.relative_to(course.checks)
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(target, path.read_bytes())
    return sorted(p for p in folder.rglob("*") if p.is_file())


def generate(course: Course, root: Path, assignment: str | None = None) -> list[Path]:
    """Write the source notebooks and the public course (`public_course`) into
    ``root/source/<assignment>/`` (and a ``nbgrader_config.py`` if the nbgrader course has
    none: `config`).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    MissingExtra
        Without the nbgrader extra.
    CourseError
        The course's public checks do not load, or a module has no reference.
    """
    require("nbformat")
    import nbformat

    course.collect(hidden=False)  # the public checks load as the notebooks will load them
    name = assignment or course.assignment
    folder = root / "source" / name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    settings = root / "nbgrader_config.py"
    if not settings.exists():
        atomic_write(settings, config(course, root))
        written.append(settings)
    points = listing(course)
    written += public_course(course, folder / PUBLIC_COURSE, points)
    for module in course.modules:
        nb = nbformat.from_dict(notebook(course, module, points[module]))
        nbformat.validate(nb)
        path = folder / f"{module}.ipynb"
        atomic_write(path, nbformat.writes(nb))
        written.append(path)
    return written


def submissions(root: Path, assignment: str) -> list[Submission]:
    """``root/submitted/<student>/<assignment>/`` folders, one per student (`MissingExtra`
    first without the nbgrader extra: their scores go into its gradebook)."""
    require()
    folder = root / "submitted"
    if not folder.is_dir():
        raise CourseError(f"{root} has no submitted/ folder (is it an nbgrader course?)")
    found = [Submission(p.name, p / assignment) for p in sorted(folder.iterdir())
             if (p / assignment).is_dir()]
    if not found:
        raise CourseError(f"no submissions of {assignment!r} in {folder}")
    return found


def write_gradebook(root: Path, assignment: str, results: Iterable[Result]) -> int:
    """Store each result's per-function scores as the autograde scores of the matching test
    cells (``<module>-<function>-test``) in the nbgrader gradebook of ``root``.

    Returns
    -------
    int
        The number of grades written.
    """
    require()
    from nbgrader.api import Gradebook, MissingEntry

    written = 0
    url = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(url) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise CourseError(f"the gradebook has no assignment {assignment!r}: run "
                              f"`nbgrader generate_assignment {assignment}` first") from None
        for result in results:
            student = result["student"]
            gb.update_or_create_student(student)
            try:
                gb.find_submission(assignment, student)
            except MissingEntry:
                gb.add_submission(assignment, student)
            scores: dict[tuple[str, str], float] = {}
            for test in result["tests"]:
                key = (test["module"], test["function"])
                scores[key] = scores.get(key, 0.0) + float(test["score"])
            for (module, function), score in scores.items():
                try:
                    grade = gb.find_grade(f"{module}-{function}-test", module, assignment,
                                          student)
                except MissingEntry:
                    continue
                grade.auto_score = score
                written += 1
            gb.db.commit()
    return written
