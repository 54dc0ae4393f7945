"""The ``grader`` command: parse, call the API, render, exit.

Exit codes: 0 the job ran (for ``check``: every check passed), 1 the job could not complete
(for ``check``: a check failed), 2 usage errors (unknown module, missing folder, bad option).

The commands live in :mod:`grader.cli.student` (``check``, ``submit``, ``list``),
:mod:`grader.cli.instructor` (``grade``, ``report``, ``schema``, ``release``, ``gradescope``,
``doctor``), :mod:`grader.cli.nbgrader` (``nbgrader generate``), :mod:`grader.cli.author`
(``selftest``) and :mod:`grader.cli.scaffold` (``new course``, ``new module``); the course in
use adds its own (:mod:`grader.cli.course_commands`).
"""

from __future__ import annotations

import click

from grader import __version__
from grader.cli import author, exports, instructor, nbgrader, scaffold, student
from grader.cli.common import EXIT_CODES
from grader.cli.course_commands import CourseGroup

__all__ = ["main"]


@click.group(cls=CourseGroup, epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="grader")
def main() -> None:
    """Auto-graded exercises: check your work, grade a class."""


for _command in (student.check, student.list_, instructor.grade, instructor.report_,
                 instructor.schema, instructor.release, instructor.gradescope,
                 instructor.doctor, nbgrader.nbgrader):
    main.add_command(_command)
main.add_command(student.submit)
main.add_command(author.selftest)
main.add_command(scaffold.new)
main.add_command(exports.export)
main.add_command(exports.similarity)
