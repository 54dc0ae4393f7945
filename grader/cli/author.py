"""The course authors' commands: ``grader selftest``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from grader.cli.common import course_option, exit_codes, usage
from grader.course.config import CourseError, load_course
from grader.util import inert

SELFTEST_EXIT_CODES = exit_codes("every check passed",
                                 "some check failed (the table says which, and why)",
                                 "no course, a course that cannot be graded, bad option")


@click.command(epilog=SELFTEST_EXIT_CODES)
@click.option("--ids", type=click.IntRange(min=1), default=20, show_default=True,
              help="Student ids the reference is graded for (selftest-0, selftest-1 ...).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Forked copies of this process that grade at once (default: the CPU count).")
@course_option
def selftest(ids: int, jobs: int | None, course: Path | None) -> None:
    """Check the course's own tests: can students trust them?

    The reference (solutions/) must score full marks for every id and pass every public
    check; the stubs (exercises/) must score 0, every test "not implemented"; every function
    needs a public check and a hidden test; the points must add up to course.toml's [points];
    each mutant of mutants/ must lose points in its own function only, be named in the
    feedback where it says so, and fail a public check of its function; grading twice must
    give the same results. The course's own code is graded in this process, not in the
    sandbox: never point this at students' code.
    """
    from grader.engine.selftest import selftest as run

    started = time.perf_counter()
    try:
        loaded = load_course(course)
        click.echo(inert.terminal(f"selftest of {loaded.name} ({loaded.root}), {ids} "
                                  f"student id{'s' if ids != 1 else ''}"))
        report = run(loaded, ids=ids, jobs=jobs or os.cpu_count() or 1,
                     progress=lambda row: click.echo(inert.terminal(row.render())))
    except CourseError as exc:
        raise usage(exc) from exc
    click.echo(f"{report.summary()} in {time.perf_counter() - started:.1f} s")
    raise SystemExit(0 if report.ok else 1)
