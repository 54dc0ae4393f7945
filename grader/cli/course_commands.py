"""The course's own commands (``[commands]`` of ``course.toml``) beside the grader's.

:class:`CourseGroup` is the ``grader`` group: its commands are the grader's own, then those of
the course in use, found as every command finds it: the folder given with ``--course`` after
the command's name, else the current folder or its nearest parent with ``course.toml``. With
no course (or a course that cannot be read) there are simply no extra commands; ``grader
--help`` never fails because of a course. A command of the grader's own name wins over the
course's.

A course command is a click command object in a file of the course::

    [commands]
    plot = "commands/plot.py:plot"

The file is imported as a module of a package private to its folder (the folder's
``__init__.py`` runs first when there is one), so the files of one folder import each other
relatively (``from .figures import draw``) and never collide with another course's. The
command runs with the grader's usual errors (`grader.cli.common.student_errors`): a
`grader.api.CourseError` (such as `grader.api.UsageError`) exits 2, a sandbox that cannot
start exits 1 with its message. A command that cannot be loaded (a missing file, an import
error, no click command of that name) is listed with the reason and exits 2 when run.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from grader.cli.common import student_errors, usage
from grader.course.config import Course, CourseError, load_course
from grader.util import inert

_META = "grader.course_commands"
"""Key in ``ctx.meta`` of the commands found, per ``--course`` value (None: not given)."""


@dataclass
class CourseCommands:
    """The course found for one ``--course`` value and its commands, each loaded once.

    Attributes
    ----------
    course : Course or None
        The course, or None when there is none (or it cannot be read).
    problem : str
        Why there is no course (empty when there is one).
    loaded : dict of str to click.Command
        The commands loaded so far, guarded (see the module docstring).
    """

    course: Course | None
    problem: str = ""
    loaded: dict[str, click.Command] = field(default_factory=dict)

    @classmethod
    def find(cls, folder: str | None) -> CourseCommands:
        """The course of ``--course folder``, or the one around the current folder."""
        try:
            return cls(load_course(Path(folder) if folder is not None else None))
        except CourseError as exc:
            return cls(None, str(exc))
        except OSError as exc:  # an unreadable current folder, for one
            return cls(None, f"no course: {exc}")

    @property
    def names(self) -> list[str]:
        """The course's command names (none without a course)."""
        return list(self.course.commands) if self.course is not None else []

    def get(self, name: str) -> click.Command | None:
        """The course's command ``name`` (None if the course has none of that name)."""
        if self.course is None or name not in self.course.commands:
            return None
        if name not in self.loaded:
            try:
                command = load_command(self.course, name)
            except CourseError as exc:
                command = _unloadable(name, str(exc))
            self.loaded[name] = command
        return self.loaded[name]


def load_command(course: Course, name: str) -> click.Command:
    """Import the course's command ``name`` and return it, guarded by the grader's errors.

    Raises
    ------
    CourseError
        The file is missing or fails to import, or holds no click command of that name.
    """
    target = course.commands[name]
    file, _, attribute = target.rpartition(":")
    path = course.root / file
    where = f"the course's command {name!r} ({target})"
    if not path.is_file():
        raise CourseError(f"{where}: no file {path}")
    module = _import(path)
    command = getattr(module, attribute, None)
    if not isinstance(command, click.Command):
        raise CourseError(f"{where}: {file} has no click command {attribute!r}")
    return _guarded(command)


def _import(path: Path) -> ModuleType:
    """Import the file ``path`` as a module of the package private to its folder."""
    folder = path.resolve().parent
    package = "_grader_course_" + hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    try:
        if package not in sys.modules:
            init = folder / "__init__.py"
            if init.is_file():
                spec = importlib.util.spec_from_file_location(
                    package, init, submodule_search_locations=[str(folder)])
            else:
                spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
                spec.submodule_search_locations = [str(folder)]
            if spec is None:
                raise ImportError(f"cannot import {folder} as a package")
            module = importlib.util.module_from_spec(spec)
            sys.modules[package] = module
            try:
                if spec.loader is not None:
                    spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[package]
                raise
        return importlib.import_module(f"{package}.{path.stem}")
    except Exception as exc:  # the course's code: any failure is the course's problem
        raise CourseError(f"{path} failed to import: {type(exc).__name__}: {exc}") from exc


def _guarded(command: click.Command) -> click.Command:
    """A copy of ``command`` whose callback ends on an error as the grader's own commands do."""
    callback = command.callback
    if callback is None:
        return command
    guarded = copy.copy(command)

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        with student_errors():
            return callback(*args, **kwargs)

    guarded.callback = run
    return guarded


def _unloadable(name: str, problem: str) -> click.Command:
    """A stand-in for a command that cannot be loaded: listed with the reason, exit 2 when
    run."""

    def fail(**_: object) -> None:
        raise usage(CourseError(problem))

    return click.Command(name, callback=fail, help=f"(cannot be loaded) {problem}",
                         add_help_option=False,
                         context_settings={"ignore_unknown_options": True,
                                           "allow_extra_args": True})


def _course_argument(args: list[str]) -> str | None:
    """The value of ``--course`` among a command's arguments (None if not given)."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--course" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--course="):
            return arg.partition("=")[2]
    return None


class CourseGroup(click.Group):
    """The ``grader`` group: the grader's commands, then the course's own (see the module
    docstring)."""

    def _course(self, ctx: click.Context) -> CourseCommands:
        folder: str | None = ctx.meta.get(f"{_META}.course")
        found: dict[str | None, CourseCommands] = ctx.meta.setdefault(_META, {})
        if folder not in found:
            found[folder] = CourseCommands.find(folder)
        return found[folder]

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The grader's command names and the course's, sorted."""
        return sorted({*super().list_commands(ctx), *self._course(ctx).names})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The grader's command ``cmd_name``, else the course's (None if neither has it)."""
        return super().get_command(ctx, cmd_name) or self._course(ctx).get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a library it needs that is not installed (the student package
        holds only what students need) ends in one line saying what to install, exit 2."""
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "a package").partition(".")[0]
            command = ctx.invoked_subcommand or "this command"
            raise click.UsageError(inert.terminal(
                f"`grader {command}` needs the Python package {missing!r}, which is not "
                "installed here. A course's student package installs only what students "
                "need (check, submit, list and the course's own commands); to grade, install "
                "the grader itself from its repository, in its own environment: "
                "pip install path/to/backprop-grader"), ctx) from None

    def resolve_command(self, ctx: click.Context, args: list[str],
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        """Find the command of ``args[0]`` in the course given by ``--course`` among its
        arguments; an unknown name says why the course offers no commands, if it does not."""
        name = args[0] if args else ""
        if name and super().get_command(ctx, name) is None:
            ctx.meta[f"{_META}.course"] = _course_argument(args[1:])
            found = self._course(ctx)
            if found.get(name) is None and found.course is None \
                    and not name.startswith("-"):
                raise click.UsageError(inert.terminal(
                    f"No such command {name!r} (and no course's own commands: "
                    f"{found.problem})."), ctx)
        return super().resolve_command(ctx, args)

