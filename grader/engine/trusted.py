"""Grading the course author's own code (reference, stubs, mutants) in this process.

Students' code always runs in the sandbox (`grader.engine.grading`). The course's own files
are trusted, so ``grader selftest`` grades them here instead, through
`grader.sandbox.inprocess.InProcess`: the same hidden tests (`grader.engine.runner.run_tests`)
and public checks (`grader.engine.checks.run_checks`), seeded the same way, without a
sandbox to start for each submission, which makes a self-test of many submissions take
seconds instead of minutes. Never give it a student's folder.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

from grader.course.config import Course, TestSpec, load_modules
from grader.engine.checks import run_checks
from grader.engine.grading import warm_up
from grader.engine.runner import Outcome, run_tests
from grader.sandbox.inprocess import InProcess

__all__ = ["TrustedGrader"]


class TrustedGrader:
    """Grades folders of the course author's own modules in this process.

    The course's hidden tests, public checks and reference are collected and loaded once (and
    the hidden tests' ``warm_up`` hooks called); every folder graded is imported afresh, as a
    new submission would be, under module names of its own.

    Parameters
    ----------
    course : Course
        The course: its hidden tests, public checks, reference and limits.

    Raises
    ------
    CourseError
        The hidden tests, checks or reference cannot be collected or imported.
    """

    def __init__(self, course: Course) -> None:
        self.course = course
        #: the hidden tests and the public checks, in collection order
        self.hidden: list[TestSpec] = course.collect(hidden=True)
        self.public: list[TestSpec] = course.collect(hidden=False)
        self.reference = course.reference()
        warm_up(self.hidden, self.reference)
        self._loaded = 0

    def grade(self, folder: Path, student: str) -> list[Outcome]:
        """Every hidden test on the modules of ``folder``, seeded for ``student``.

        Raises
        ------
        CourseError
            A module of ``folder`` is missing or does not import.
        """
        with self._modules(folder) as modules, _quiet():
            return run_tests(self.hidden, InProcess(modules, self.course.limits),
                             student=student, secret=self.course.secret,
                             reference=self.reference)

    def check(self, folder: Path, modules: Sequence[str]) -> list[Outcome]:
        """The public checks of ``modules`` on the modules of ``folder``, as ``grader check``
        runs them.

        Raises
        ------
        CourseError
            A module of ``folder`` is missing or does not import.
        """
        with self._modules(folder) as loaded, _quiet():
            return run_checks(self.course, InProcess(loaded, self.course.limits), modules,
                              checks=self.public)

    @contextlib.contextmanager
    def _modules(self, folder: Path) -> Iterator[dict[str, ModuleType]]:
        """The course modules of ``folder``, freshly imported; forgotten afterwards."""
        self._loaded += 1
        loaded = load_modules(folder, self.course.modules,
                              prefix=f"_grader_trusted_{self._loaded}_")
        try:
            yield dict(loaded)
        finally:
            for module in loaded.values():
                sys.modules.pop(module.__name__, None)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Within the block, what the graded code prints or warns is dropped (it would break the
    self-test's table; the sandbox captures it the same way)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
