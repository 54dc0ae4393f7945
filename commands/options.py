"""What this course's commands share: the ``--course`` option and the exit-code epilog, worded
as the grader's own commands word them."""

from __future__ import annotations

from pathlib import Path

import click

course_option = click.option(
    "--course", type=click.Path(path_type=Path, file_okay=False),
    help="The grader course: the folder holding course.toml (default: the current folder or "
         "its nearest parent with one).",
)


def exit_codes(ran: str, failed: str, misuse: str = "no course, bad option") -> str:
    """The ``--help`` epilog: what exit codes 0 (``ran``), 1 (``failed``) and 2 (``misuse``)
    mean for one command."""
    return f"""\b
Exit codes:
  0  the job ran ({ran})
  1  the job could not complete ({failed})
  2  usage error ({misuse})"""
