"""The ``grader`` command: parse, call the API, render, exit.

Exit codes: 0 the job ran (for ``check``: every check passed), 1 the job could not complete
(for ``check``: a check failed), 2 usage errors (unknown module, missing folder, bad option).
"""

from __future__ import annotations

from pathlib import Path

import click

from grader import __version__, api
from grader.course import CourseError, load_course

EXIT_CODES = """\b
Exit codes:
  0  the job ran (check: every public check passed)
  1  the job could not complete (check: some check failed)
  2  usage error (unknown module, missing folder, bad option)"""

course_option = click.option(
    "--course", type=click.Path(path_type=Path, file_okay=False),
    help="Course folder (default: the current folder or its nearest parent with course.toml).",
)


def _usage(exc: Exception) -> click.UsageError:
    return click.UsageError(str(exc))


@click.group(epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="grader")
def main() -> None:
    """Auto-graded backpropagation exercises: check your work, grade a class."""


@main.command(epilog=EXIT_CODES)
@click.argument("modules", nargs=-1)
@click.option("--path", type=click.Path(path_type=Path),
              help="Folder of your modules (default: the course's exercises/).")
@course_option
def check(modules: tuple[str, ...], path: Path | None, course: Path | None) -> None:
    """Run the public checks on your code (all modules, or MODULES such as `neuron`)."""
    try:
        report = api.check(*modules, path=path, course=course, echo=False)
    except CourseError as exc:
        raise _usage(exc) from exc
    click.echo(report.render())
    raise SystemExit(0 if report.ok else 1)


@main.command("list", epilog=EXIT_CODES)
@course_option
def list_(course: Path | None) -> None:
    """Show the course's modules, functions and points."""
    try:
        loaded = load_course(course)
        listing = api.listing(loaded)
    except CourseError as exc:
        raise _usage(exc) from exc
    total = 0.0
    for module, functions in listing.items():
        module_points = sum(p for p in functions.values())
        total += module_points
        click.echo(f"{module}.py  ({module_points:g} points)")
        for function, points in functions.items():
            click.echo(f"  {function:<26} {points:g}")
    click.echo(f"total: {total:g} points")
