"""The students' commands: ``grader check`` and ``grader list``."""

from __future__ import annotations

from pathlib import Path

import click

from grader.cli.common import course_option, exit_codes, student_errors, usage
from grader.course.config import CourseError, load_course


@click.command(epilog=exit_codes("every public check passed", "some public check failed, or "
                                 "the sandbox could not start"))
@click.argument("modules", nargs=-1)
@click.option("--path", type=click.Path(path_type=Path),
              help="Folder of your modules, or your whole release folder (default: the "
                   "course's exercises/).")
@click.option("--zip", "upload", type=click.Path(path_type=Path, dir_okay=False),
              metavar="FILE",
              help="Also write FILE, the zip to upload: exactly the files `grader grade` "
                   "will take (listed under 'will be graded').")
@course_option
def check(modules: tuple[str, ...], path: Path | None, upload: Path | None,
          course: Path | None) -> None:
    """Run the public checks on your code (all modules, or MODULES such as `neuron`).

    Your code is taken as `grader grade` takes it: the course's modules and your own helper
    modules beside them (from exercises/ in a release folder, or from notebooks); the report
    ends with the files that will be graded and any near-miss name to fix
    ("found Neuron.py: rename it to neuron.py").
    """
    from grader import api

    with student_errors(api.UploadError):
        report = api.check(*modules, path=path, course=course, echo=False, upload=upload)
    click.echo(report.render())
    raise SystemExit(0 if report.ok else 1)


@click.command("list", epilog=exit_codes("the list was printed", None,
                                         "no course, bad option"))
@course_option
def list_(course: Path | None) -> None:
    """Show the course's modules, functions and points."""
    from grader import api

    try:
        loaded = load_course(course)
        listing = api.listing(loaded)
    except CourseError as exc:
        raise usage(exc) from exc
    total = 0.0
    for module, functions in listing.items():
        module_points = sum(p for p in functions.values())
        total += module_points
        click.echo(f"{module}.py  ({module_points:g} points)")
        for function, points in functions.items():
            click.echo(f"  {function:<26} {points:g}")
    click.echo(f"total: {total:g} points")
