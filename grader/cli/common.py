"""What the grader's commands share: the exit codes, the ``--course`` option and how a
command that runs the student's code ends on an error."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from grader.course.config import CourseError
from grader.util import inert

EXIT_CODES = """\b
Exit codes:
  0  the job ran (check: every public check passed)
  1  the job could not complete (check: some check failed)
  2  usage error (unknown module, missing folder, bad option)"""

course_option = click.option(
    "--course", type=click.Path(path_type=Path, file_okay=False),
    help="Course folder (default: the current folder or its nearest parent with course.toml).",
)


@contextlib.contextmanager
def student_errors(*failures: type[Exception]) -> Iterator[None]:
    """How a command that runs the student's code ends on an error: a course or usage problem
    exits 2; a sandbox that cannot start (or one of ``failures``) exits 1 with its message."""
    from grader.sandbox.box import SandboxUnavailable

    fatal: tuple[type[Exception], ...] = (SandboxUnavailable, *failures)
    try:
        yield
    except CourseError as exc:
        raise usage(exc) from exc
    except fatal as exc:
        click.echo(inert.terminal(f"Error: {exc}"), err=True)
        raise SystemExit(1) from None


def usage(exc: Exception) -> click.UsageError:
    """``exc`` as a usage error (exit code 2), its text made inert."""
    return click.UsageError(inert.terminal(str(exc)))


def warn_isolation() -> None:
    """Print, in red, what this machine's sandbox cannot enforce (nothing when all is on)."""
    from grader.sandbox.isolation import detect

    warning = detect().warning
    if warning:
        click.secho(warning, err=True, fg="red", bold=True)
