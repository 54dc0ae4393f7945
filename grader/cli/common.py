"""What the grader's commands share: the exit codes, the ``--course`` option and how a
command that runs the student's code ends on an error."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from grader.course.config import CourseError
from grader.util import inert


def exit_codes(ok: str, failed: str | None,
               misuse: str = "unknown module, missing folder, bad option") -> str:
    """The ``Exit codes:`` epilog of one command, true for that command.

    Parameters
    ----------
    ok : str
        What exit code 0 means here ("every public check passed").
    failed : str or None
        What exit code 1 means here; None for a command that never exits 1.
    misuse : str
        What counts as a usage error (exit code 2) here.

    Returns
    -------
    str
        The epilog, kept as written by click (``\\b``).
    """
    lines = ["\b", "Exit codes:", f"  0  {ok}"]
    if failed is not None:
        lines.append(f"  1  {failed}")
    lines.append(f"  2  usage error ({misuse})")
    return "\n".join(lines)


#: the group's own epilog: what the codes mean across commands (each command says its own)
EXIT_CODES = exit_codes("the command did its job (for check: every public check passed)",
                        "it could not, or something it checks failed (each command's --help "
                        "says which)",
                        "no command or an unknown one, unknown module, missing folder, bad "
                        "option")

course_option = click.option(
    "--course", type=click.Path(path_type=Path, file_okay=False),
    help="The grader course: the folder holding course.toml (default: the current folder or "
         "its nearest parent with one).",
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
