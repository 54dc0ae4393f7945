"""The course authors' scaffolding: ``grader new course`` and ``grader new module``."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click

from grader.cli.common import course_option, exit_codes, usage
from grader.course.config import CourseError, load_course
from grader.util import inert

_EXIT_CODES = exit_codes("the files were written", "a file could not be written",
                         "a folder that is not empty, a name taken or invalid")


def _cannot_write(exc: OSError) -> NoReturn:
    """End with exit code 1: a file could not be written (and nothing was left behind)."""
    click.echo(inert.terminal(f"Error: nothing written: {exc}"), err=True)
    raise SystemExit(1) from None


@click.group(epilog=exit_codes(
    "the command wrote its files", "a file could not be written",
    "no command given (`new course` or `new module`), a folder that is not empty, a name "
    "taken or invalid"))
def new() -> None:
    """Start a course, or add a module to one."""


@new.command("course", epilog=_EXIT_CODES)
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--name", help="The course's name (default: DIR's name).")
def new_course(folder: Path, name: str | None) -> None:
    """Write a minimal working course into DIR, a new or empty folder.

    The course has one module, `example` (the squared error of a batch and its gradient):
    its stub in exercises/, its reference in solutions/, a public check in checks/, a hidden
    test in autograde_tests/ and a classic mistake in mutants/ that the hidden test catches.
    Replace it with your own modules (`grader new module`).
    """
    from grader.course.scaffold import new_course as write_course

    try:
        written = write_course(folder, name=name)
    except CourseError as exc:
        raise usage(exc) from exc
    except OSError as exc:
        _cannot_write(exc)
    root = folder.absolute()
    for path in written:
        click.echo(f"wrote {path.relative_to(root).as_posix()}")
    click.echo(f"\nA course in {inert.one_line(str(root))}. Next, from that folder:\n"
               "  grader check --path solutions   # the reference passes its public checks\n"
               "  grader check                    # the stubs are not implemented yet\n"
               "  grader new module NAME --functions f,g   # add a module of your own")


@new.command("module", epilog=_EXIT_CODES)
@click.argument("name")
@click.option("--functions", metavar="F,G",
              help="The module's functions, comma-separated (default: the stubs of an "
                   "existing exercises/NAME.py).")
@course_option
def new_module(name: str, functions: str | None, course: Path | None) -> None:
    """Add the module NAME to the course: exercises/NAME.py (unless it exists),
    solutions/NAME.py, checks/check_NAME.py and autograde_tests/test_NAME.py, and its
    entries in course.toml (comments and order kept).

    The functions come from --functions (each taking one array x), or from the signatures of
    the stubs (functions raising NotImplementedError) of an existing exercises/NAME.py. The
    reference is a placeholder that the generated check and test accept: write the real one,
    and the known values of the check, where the files say TODO.
    """
    from grader.course.scaffold import new_module as write_module

    names = [f.strip() for f in functions.split(",") if f.strip()] if functions else None
    try:
        loaded = load_course(course)
        written = write_module(loaded, name, names)
    except CourseError as exc:
        raise usage(exc) from exc
    except OSError as exc:
        _cannot_write(exc)
    for path in written:
        verb = "updated" if path.name == "course.toml" else "wrote"
        click.echo(f"{verb} {path.relative_to(loaded.root).as_posix()}")
