"""Scaffolding: a new course, or a new module in a course (``grader new course`` and
``grader new module``), as ``nbgrader quickstart`` and ``otter assign`` do for theirs.

`new_course` writes a minimal working course from the templates of
``grader/course/templates/course/``: ``course.toml`` (name, assignment, modules, functions,
limits and a secret to replace), a README, and one module, ``example`` (the squared error of a
batch and its gradient), with its stub, its reference, a public check, a hidden test and one
mutant (``mutants/example.py``: a classic mistake injected into the reference, which its
hidden test must catch). The course is written into a hidden folder beside the target and
moved into place once complete, so a failure never leaves half a course.

`new_module` adds a module to an existing course from its functions' names, or from the
signatures of a stub already in ``exercises/`` (`grader.course.scaffold_sources`), and
registers it in ``course.toml`` without touching the file's comments or order
(`grader.course.scaffold_toml`).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import re
import secrets
import shutil
import string
import sys
import uuid
from collections.abc import Sequence
from importlib.resources.abc import Traversable
from pathlib import Path

from grader.course import scaffold_sources as sources
from grader.course.config import Course, load_course
from grader.course.loading import CourseError, stub_functions
from grader.course.scaffold_toml import register_module
from grader.util.files import atomic_write

__all__ = ["check_module_name", "new_course", "new_module"]

#: module names a course may not use: what a submission or the grader imports by that name
#: (besides the standard library's, and the helper modules of the course's checks/)
_RESERVED = frozenset({"numpy", "np", "grader", "course_helpers"})


def new_course(folder: Path, *, name: str | None = None) -> list[Path]:
    """Write a minimal working course into ``folder``.

    Parameters
    ----------
    folder : Path
        A folder that does not exist yet, or an empty one (its parents are created).
    name : str, optional
        The course's name (default: the folder's name); the assignment's name is its
        lower-case slug.

    Returns
    -------
    list of Path
        Every file written, in ``folder``.

    Raises
    ------
    CourseError
        If ``folder`` holds anything or is a file, or ``name`` is not one printable line.
        Nothing is written then.
    OSError
        If a file cannot be written; nothing is left behind (but any parents made).
    """
    folder = Path(folder).absolute()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        what = "is a file" if not folder.is_dir() else "is not empty"
        raise CourseError(f"{folder} {what}: give a new (or empty) folder for the course")
    title = folder.name if name is None else name.strip()
    if not title or not title.isprintable() or len(title) > 200:
        raise CourseError("the course's name must be one printable line (at most 200 "
                          "characters)")
    assignment = re.sub(r"[^a-z0-9_]+", "-", title.lower()).strip("-_") or "assignment"
    values = {  # what each template file has filled in ($name ...)
        "course.toml": {"name": title.replace("\\", "\\\\").replace('"', '\\"'),
                        "assignment": assignment,
                        "secret": f"replace-this-secret-{secrets.token_hex(12)}"},
        "README.md": {"name": title}}
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:12]}.new"
    staging.mkdir()
    try:
        written = _write_templates(importlib.resources.files("grader.course") / "templates"
                                   / "course", staging, values)
        load_course(staging)  # the course reads back
        if folder.is_dir():  # empty, and perhaps someone's current folder: keep it
            _move_into(staging, folder)
        else:
            os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [folder / path.relative_to(staging) for path in written]


def _move_into(staging: Path, folder: Path) -> None:
    """Move the entries of ``staging`` into the empty ``folder``, all or none."""
    moved: list[Path] = []
    try:
        for entry in sorted(staging.iterdir()):
            if (folder / entry.name).exists():
                raise FileExistsError(f"{folder / entry.name} appeared meanwhile")
            entry.rename(folder / entry.name)
            moved.append(folder / entry.name)
    except BaseException:
        for path in moved:
            path.rename(staging / path.name)
        raise
    staging.rmdir()


def _write_templates(source: Traversable, target: Path,
                     values: dict[str, dict[str, str]]) -> list[Path]:
    """Copy the template tree ``source`` into ``target`` (each ``X.tmpl`` as ``X``, with
    ``values[X]`` substituted where given); return the files written."""
    written = []
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            (target / entry.name).mkdir()
            written += _write_templates(entry, target / entry.name, values)
        elif entry.name.endswith(".tmpl"):
            name = entry.name.removesuffix(".tmpl")
            text = entry.read_text(encoding="utf-8")
            if name in values:
                text = string.Template(text).substitute(values[name])
            atomic_write(target / name, text)
            written.append(target / name)
    return written


def check_module_name(name: str) -> None:
    """Refuse a name no course module may have.

    Raises
    ------
    CourseError
        If ``name`` is not a lower-case Python identifier (letters, digits, ``_``; not
        private, not a keyword), or names a module of the standard library, numpy or the
        grader, which the student's module would shadow.
    """
    if not sources.valid_name(name):
        raise CourseError(f"{name!r} is not a module name: use lower-case letters, digits and "
                          "_, starting with a letter (e.g. losses, layer_2)")
    if name in sys.stdlib_module_names or name in _RESERVED:
        raise CourseError(f"{name!r} is the name of a module Python or the grader imports: "
                          "choose another name")


def new_module(course: Course, module: str,
               functions: Sequence[str] | None = None) -> list[Path]:
    """Add ``module`` to ``course``: its stub, reference, public check and hidden test, and
    its entries in ``course.toml`` (``[course] modules``, ``[functions]``, and ``[points]``
    when the file has that table).

    Parameters
    ----------
    course : Course
        The course (its ``course.toml`` is edited in place, comments and order kept).
    module : str
        The new module's name (see `check_module_name`).
    functions : sequence of str, optional
        Its contract functions. When ``exercises/<module>.py`` exists already, its functions
        that raise ``NotImplementedError`` are taken with their signatures (``functions``,
        if given, chooses among them); otherwise ``functions`` is required and each function
        takes one array ``x``.

    Returns
    -------
    list of Path
        The files written, then ``course.toml``.

    Raises
    ------
    CourseError
        If the name is invalid or taken (a module of the course, or one of the files exists),
        a function name is invalid or repeated, or ``course.toml`` cannot be read or edited
        safely. Nothing is written then.
    OSError
        If a file cannot be written; none of the module's files is left behind then.
    """
    check_module_name(module)
    if module in course.modules:
        raise CourseError(f"{module!r} is already a module of the course")
    if (course.checks / f"{module}.py").exists():
        raise CourseError(f"{module!r} is a helper module of the course's checks/: choose "
                          "another name")
    names = list(functions or ())
    for function in names:
        if not sources.valid_name(function) or function == "np":
            raise CourseError(f"{function!r} is not a function name: use lower-case letters, "
                              "digits and _, starting with a letter")
    if len(set(names)) != len(names):
        raise CourseError("a function is named twice")
    paths = {"stub": course.exercises / f"{module}.py",
             "solution": course.solutions / f"{module}.py",
             "check": course.checks / f"check_{module}.py",
             "test": course.hidden_tests / f"test_{module}.py"}
    for key in ("solution", "check", "test"):
        if paths[key].exists():
            raise CourseError(f"{paths[key]} exists already: choose another module name")
    files: dict[Path, str] = {}
    if paths["stub"].exists():
        contract = stub_functions(paths["stub"])  # a CourseError if it cannot be read
        stub = paths["stub"].read_text(encoding="utf-8")
        unknown = [f for f in names if f not in contract]
        if unknown:
            raise CourseError(f"{paths['stub']} has no stub {unknown[0]!r} (a function that "
                              "raises NotImplementedError)")
        names = names or contract
        if not names:
            raise CourseError(f"{paths['stub']} has no function that raises "
                              "NotImplementedError: write the stubs first")
        signatures = sources.signatures(stub, names)
    elif not names:
        raise CourseError(f"give the module's functions (--functions f,g), or write "
                          f"{paths['stub']} first")
    else:
        signatures = [sources.Signature(f) for f in names]
        stub = files[paths["stub"]] = sources.stub_source(module, signatures)
    files[paths["solution"]] = sources.solution_source(stub, signatures)
    files[paths["check"]] = sources.check_source(module, signatures)
    files[paths["test"]] = sources.test_source(module, signatures)
    config = course.root / "course.toml"
    try:
        edited = register_module(config.read_text(encoding="utf-8"), module,
                                 dict.fromkeys((s.name for s in signatures), sources.POINTS))
    except OSError as exc:
        raise CourseError(f"cannot read {config}: {exc}") from None
    _write_new(files)
    try:
        atomic_write(config, edited)
    except BaseException:
        for path in files:
            path.unlink()
        raise
    return [*files, config]


def _write_new(files: dict[Path, str]) -> None:
    """Create each file (never over an existing one), or none of them."""
    created: list[Path] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as fh:
                created.append(path)
                fh.write(text)
    except BaseException:
        for path in created:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
