"""The students' commands: ``grader check``, ``grader submit`` and ``grader list``."""

from __future__ import annotations

from pathlib import Path

import click

from grader.cli.common import course_option, exit_codes, student_errors, usage
from grader.course.config import CourseError, load_course


@click.command(epilog=exit_codes(
    "every public check passed",
    "a check failed or the sandbox could not start (--zip: or the zip lacks a module)",
    "unknown module, missing folder or notebook, unreadable notebook, bad option"))
@click.argument("modules", nargs=-1)
@click.option("--path", type=click.Path(path_type=Path),
              help="Folder of your modules, your whole release folder, or one notebook "
                   "(work.ipynb) (default: the course's exercises/).")
@click.option("--zip", "upload", type=click.Path(path_type=Path, dir_okay=False),
              metavar="FILE",
              help="Also write FILE, the zip to upload: exactly the files `grader grade` "
                   "will take (listed under 'will be graded'); written even when checks "
                   "fail (as `grader submit` does).")
@course_option
def check(modules: tuple[str, ...], path: Path | None, upload: Path | None,
          course: Path | None) -> None:
    """Run the public checks on your code (all modules, or MODULES such as `neuron`).

    Your code is taken as `grader grade` takes it: the course's modules and your own helper
    modules beside them (from exercises/ in a release folder, or from notebooks); the report
    ends with the files that will be graded and any near-miss name to fix
    ("found Neuron.py: rename it to neuron.py"). To hand in your work: `grader submit`.
    """
    from grader import api

    with student_errors(api.UploadError):
        report = api.check(*modules, path=path, course=course, echo=False, upload=upload)
    click.echo(report.render())
    raise SystemExit(0 if report.ok else 1)


@click.command(epilog=exit_codes(
    "every public check passed; the zip was written",
    "a check failed or a module is missing (the zip is still written); or no zip could be "
    "written, or the sandbox could not start",
    "missing folder or notebook, no module in it, an --out that is not a .zip"))
@click.option("--path", type=click.Path(path_type=Path),
              help="Folder of your modules, your whole release folder, or one notebook "
                   "(work.ipynb) (default: the course's exercises/).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE.zip",
              help="The zip to write (default: <assignment>-submission.zip in the current "
                   "folder).")
@course_option
def submit(path: Path | None, out: Path | None, course: Path | None) -> None:
    """Check every module, then write the zip to hand in.

    The zip holds exactly the files `grader grade` will take (listed under "will be
    graded"): the course's modules and your own helper modules beside them. It is written
    even when some checks fail or some functions are not written yet, so partial work can
    always be handed in: each function earns its own points.
    """
    from grader import api

    with student_errors(api.UploadError):
        report = api.submit(path=path, course=course, out=out, echo=False)
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
