"""Grading one submission: the sandbox a course opens on a folder, and every hidden test of the
course run in it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from pathlib import Path
from types import ModuleType

from grader.course.config import Course, TestSpec
from grader.engine.runner import Outcome, run_tests
from grader.sandbox.box import Sandbox
from grader.sandbox.limits import Limits


def open_sandbox(course: Course, folder: Path, unavailable: Mapping[str, str] | None = None,
                 *, limits: Limits | None = None, copy: bool = True) -> Sandbox:
    """The sandbox on a folder of the student's modules, set up from the course: the one way
    every command (``grader grade``, ``grader check``, the course's own commands) builds it.

    The sandbox knows the course's modules and contract functions (a missing or broken module
    costs only its own points) and runs its public helper modules (``[grading]
    sandbox_helpers``). It starts when entered (``with open_sandbox(...) as sandbox:``).

    Parameters
    ----------
    course : Course
        Gives the modules, functions, helpers and limits.
    folder : Path
        Folder holding the submission's ``<module>.py`` files.
    unavailable : mapping of str to str, optional
        Modules that could not be read from the submission, with the reason given to students.
    limits : Limits, optional
        Instead of the course's limits (a long training run lifts the submission's budget).
    copy : bool, default True
        False: ``folder`` is a private temporary copy its maker gives up, which the sandbox
        adopts instead of copying (``Sandbox(copy=False)``).

    Returns
    -------
    Sandbox
        Not started yet.
    """
    functions = {m: course.functions(m) for m in course.modules}
    return Sandbox(folder, limits if limits is not None else course.limits, unavailable,
                   course=functions, helpers=course.helper_sources(), copy=copy)


def warm_up(specs: Sequence[TestSpec], reference: Mapping[str, ModuleType]) -> None:
    """Call the ``warm_up(reference)`` hook of every hidden test module that defines one.

    A test module loads its expensive fixtures there (a data set, say) once, before workers
    are forked, instead of once per worker inside a test's time.
    """
    seen = set()
    for spec in specs:
        module = sys.modules.get(spec.func.__module__)
        hook = getattr(module, "warm_up", None)
        if module is not None and callable(hook) and module.__name__ not in seen:
            seen.add(module.__name__)
            hook(reference)


def grade_folder(
    course: Course,
    folder: Path,
    *,
    student: str,
    secret: str | None = None,
    specs: Sequence[TestSpec] | None = None,
    reference: Mapping[str, ModuleType] | None = None,
    progress: Callable[[Outcome], None] | None = None,
    unavailable: Mapping[str, str] | None = None,
    digest: str = "",
    attempts: list[str] | None = None,
    copy: bool = True,
    confirmed: MutableMapping[str, bool] | None = None,
) -> list[Outcome]:
    """Run the hidden tests on a folder of student modules.

    Parameters
    ----------
    course : Course
        The course (its hidden tests and reference solutions are used).
    folder : Path
        Folder holding the submission's ``<module>.py`` files.
    student : str
        Student id (seeds the per-student inputs together with the secret).
    secret : str, optional
        Course secret (default: the course's).
    specs, reference : optional
        Already collected tests and loaded reference (to share them across submissions).
    unavailable : mapping of str to str, optional
        Modules that could not be read from the submission, with the reason.
    digest : str
        Digest of the files graded: with the student id it seeds the inputs, so changed
        files get fresh ones (`grader.engine.runner.seed_for`).
    attempts : list of str, optional
        Filled with the blocked or suspicious actions the sandbox saw (``Sandbox.attempts``).
    copy : bool, default True
        False: ``folder`` is a private temporary copy, adopted by the sandbox rather than
        copied again (`open_sandbox`).
    confirmed : mutable mapping of str to bool, optional
        Tests the reference was seen to pass, shared across one worker's submissions
        (`grader.engine.runner.confirm`).

    Returns
    -------
    list of Outcome
        One per hidden test, in collection order.
    """
    specs = list(specs) if specs is not None else course.collect(hidden=True)
    reference = reference if reference is not None else course.reference()
    with open_sandbox(course, folder, unavailable, copy=copy) as sandbox:
        outcomes = run_tests(specs, sandbox, student=student,
                             secret=secret if secret is not None else course.secret,
                             reference=reference, progress=progress, digest=digest,
                             confirmed=confirmed)
        if attempts is not None:
            attempts.extend(getattr(sandbox, "attempts", []))
        return outcomes
