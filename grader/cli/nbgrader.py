"""``grader nbgrader generate``: the nbgrader source notebooks of a course.

``--course`` is the grader course, as in every command; the nbgrader course (the folder
holding ``source/``) is ``--nbgrader-course``, as in ``grader grade --nbgrader-course``.
``--from`` (the grader course, before ``--course`` meant it) is kept as a hidden alias.
"""

from __future__ import annotations

from pathlib import Path

import click

from grader.cli.common import course_option, exit_codes, usage
from grader.course.config import CourseError, load_course


@click.group(epilog=exit_codes("the notebooks were written", None,
                               "no command given, no course, the nbgrader extra missing"))
def nbgrader() -> None:
    """The nbgrader bridge: source notebooks for an nbgrader course (needs the nbgrader
    extra: pip install 'backprop-grader[nbgrader]')."""


@nbgrader.command("generate", epilog=exit_codes(
    "the notebooks were written", None,
    "no course, a course whose public checks do not load, the nbgrader extra missing, bad "
    "option"))
@click.option("--nbgrader-course", type=click.Path(path_type=Path, file_okay=False),
              required=True,
              help="The nbgrader course folder (source/ goes in it; made if missing).")
@click.option("--assignment", help="Assignment name (default: the course's).")
@course_option
@click.option("--from", "source", type=click.Path(path_type=Path, file_okay=False),
              hidden=True, help="Deprecated: the grader course (use --course).")
def generate(nbgrader_course: Path, assignment: str | None, course: Path | None,
             source: Path | None) -> None:
    """Write nbgrader source notebooks (one per module) and the public checks they run into
    NBGRADER_COURSE/source/ASSIGNMENT/.

    Then, in the nbgrader course: `nbgrader generate_assignment ASSIGNMENT` releases the
    notebooks with their public checks (a student needs only that folder and the grader).
    """
    from grader.integrations.nbgrader import generate as write
    from grader.integrations.notebook import PUBLIC_COURSE

    if course is not None and source is not None:
        raise click.UsageError("give the grader course once: --course (--from is its old name)")
    try:
        loaded = load_course(course or source)
        written = write(loaded, nbgrader_course, assignment)
    except CourseError as exc:
        raise usage(exc) from exc
    for path in written:
        if path.suffix == ".ipynb" or path.name == "nbgrader_config.py":
            click.echo(f"wrote {path}")
    folder = nbgrader_course / "source" / (assignment or loaded.assignment)
    click.echo(f"wrote the public checks they run: {folder / PUBLIC_COURSE}")
