"""Inside a Jupyter kernel: sibling notebooks as modules, public checks, nbgrader's hidden tests.

The generated notebooks (``grader nbgrader generate``) call this module:

- ``install()`` lets ``from activations import sigmoid`` import the code cells of the
  ``activations.ipynb`` next to the running notebook, as last saved, so each notebook is one
  module (:mod:`grader.integrations.siblings`);
- ``check(module, function)`` runs that function's public checks, prints the report (lines of
  at most 90 columns) and raises `ChecksFailed` unless every check passed, so the cell turns
  red and ``nbgrader validate`` fails exactly when the report says so. A failure that comes
  from a function of another notebook names it ("this uses your sigmoid in
  activations.ipynb, which is not implemented yet") and says that the saved file is used.
  Under ``nbgrader autograde`` it prints nothing: the hidden tests report;
- ``grade(module, function)`` (in nbgrader's hidden test block) runs the hidden tests of the
  function, prints short feedback and returns the points earned, which nbgrader records as
  the cell's partial credit.

Where the course is (`locate_course`): an explicit ``course=`` (relative to the notebook's
folder); for the public checks, the public course released beside the notebooks
(``.public-course/``: ``course.toml`` and ``checks/``, written by ``grader nbgrader
generate``); else ``$GRADER_COURSE``; else the nearest folder with a ``course.toml`` from the
notebook's folder up. No generated notebook holds a path, so a course can move.

What a notebook loads once (the course, its checks, its reference solutions, the digest of
the student's files) is kept by its :class:`NotebookSession`, which lives in the notebook's
own namespace.

Tests here run in the student's kernel, as nbgrader always does; the sandboxed ``grader grade``
is the path to trust for a grade that matters (see the nbgrader page of the docs).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import sys
import textwrap
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from grader.batch.submissions import Submission, SubmissionError, unpack
from grader.course.config import Course, CourseError, TestSpec, find_course, load_course
from grader.engine import blame
from grader.engine.feedback import FunctionSummary, explain, summarise
from grader.engine.runner import PASSED, Outcome, run_tests
from grader.integrations import siblings
from grader.integrations.siblings import install
from grader.sandbox.inprocess import InProcess

__all__ = ["COURSE_ENV", "PUBLIC_COURSE", "ChecksFailed", "NoCourse", "NotebookSession",
           "check", "grade", "install", "locate_course", "session", "wrap"]

#: the course folder of notebooks whose cells name none (absolute, or relative to the notebook)
COURSE_ENV = "GRADER_COURSE"
#: the public course released beside the notebooks (course.toml and checks/, no secret)
PUBLIC_COURSE = ".public-course"
#: the folder in which ``nbgrader autograde`` runs notebooks: ``autograded/<student>/<assignment>``
AUTOGRADED = "autograded"
#: where a notebook's globals keep its `NotebookSession`
SESSION_NAME = "__grader_session__"
#: the widest line printed (nbgrader's feedback pages cut longer ones off)
WIDTH = 90
#: the most lines of explanation a hidden test's failure prints
MAX_LINES = 12
#: the widest line of a failed check's error (nbgrader validate shows 87 columns, indented
#: four, after ``ChecksFailed: ``)
ERROR_WIDTH = 68


class ChecksFailed(AssertionError):
    """A public check failed (the report above the error says which and why)."""


class NoCourse(CourseError):
    """No course for a notebook's checks: the message names the keyword to pass."""


def wrap(text: str, width: int = WIDTH) -> str:
    """``text`` with every line longer than ``width`` broken at spaces (long words too), its
    continuation lines indented four more than the line."""
    lines: list[str] = []
    for line in text.splitlines():
        if len(line) <= width:
            lines.append(line)
            continue
        indent = line[:len(line) - len(line.lstrip())][:width // 2]
        lines += textwrap.wrap(line.strip(), width, initial_indent=indent,
                               subsequent_indent=indent + "    ", break_on_hyphens=False)
    return "\n".join(lines)


def _student() -> str:
    """The student id: nbgrader grades in ``autograded/<student>/<assignment>/``."""
    parts = Path.cwd().parts
    if AUTOGRADED in parts[:-2]:
        return parts[parts.index(AUTOGRADED) + 1]
    return os.environ.get("JUPYTERHUB_USER") or os.environ.get("USER") or "notebook"


def _autograding() -> bool:
    """Whether ``nbgrader autograde`` runs this kernel (it says so in the environment)."""
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"


def locate_course(path: str | Path | None = None, *, folder: Path | None = None,
                  public: bool = False) -> Path:
    """The course folder of a notebook running in ``folder``.

    The first of: ``path``; with ``public``, the public course released beside the notebook
    (``folder/.public-course``); ``$GRADER_COURSE``; ``folder`` or the nearest of its parents
    with a ``course.toml``. Relative paths are relative to ``folder``. Inside nbgrader's
    ``autograded/<student>/<assignment>/`` the search upwards starts at the nbgrader course
    (the folder holding ``autograded/``), so a ``course.toml`` among a student's submitted
    files is never taken for the course.

    Parameters
    ----------
    path : str or Path, optional
        The course folder as the notebook names it (``course="../.."``).
    folder : Path, optional
        The notebook's folder (default: the current folder, which is the notebook's own in
        Jupyter and in ``nbgrader autograde``).
    public : bool
        Whether the public checks are wanted (the released public course serves them).

    Returns
    -------
    Path
        The course folder, absolute (it may still lack a ``course.toml``: `load_course` says
        so).

    Raises
    ------
    CourseError
        If none of these gives a folder.
    """
    here = (folder or Path.cwd()).resolve()
    if path:
        return (here / Path(path).expanduser()).resolve()
    if public and (here / PUBLIC_COURSE / "course.toml").is_file():
        return here / PUBLIC_COURSE
    named = os.environ.get(COURSE_ENV)
    if named:
        return (here / Path(named).expanduser()).resolve()
    parts = here.parts
    start = Path(*parts[:parts.index(AUTOGRADED)]) if AUTOGRADED in parts[:-2] else here
    try:
        return find_course(start)
    except CourseError:
        raise CourseError(f"no course.toml in {start} or its parents: set {COURSE_ENV} to the "
                          "course folder, or give course='<folder relative to the notebook>'"
                          ) from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No output on stderr: nbgrader gives 0 points to a test cell that writes there."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _notebook_names(text: str, modules: Sequence[str]) -> str:
    """Course modules named as the notebooks that hold them (``activations.ipynb``)."""
    for module in modules:
        text = text.replace(f" in {module}.py", f" in {module}.ipynb")
    return text


def _others(outcomes: Sequence[Outcome], module: str, modules: Sequence[str]) -> list[str]:
    """The other notebooks a failure of ``module`` is blamed on, in course order."""
    said = " ".join(o.feedback for o in outcomes if o.status != PASSED)
    return [m for m in modules if m != module and f" in {m}.py" in said]


class NotebookSession:
    """What one notebook keeps between its check and grade cells, loaded once: the courses,
    their checks, their reference solutions, and the digest of the student's files.

    A notebook's session lives in its own namespace (`session`), so nothing is kept in this
    module: two notebooks (or two tests) never share one by accident.

    Attributes
    ----------
    courses : dict
        ``(path, public)`` as given to `course` to the course loaded.
    checks : dict
        A course's root to its public checks, collected.
    references : dict
        A course's root to its reference solutions, by module name.
    digests : dict
        ``(folder, modules)`` to the digest of the student's code in that folder.
    """

    def __init__(self) -> None:
        self.courses: dict[tuple[str | None, bool], Course] = {}
        self.checks: dict[Path, list[TestSpec]] = {}
        self.references: dict[Path, dict[str, Any]] = {}
        self.digests: dict[tuple[str, tuple[str, ...]], str] = {}
        self.told = False  # whether a missing course was said on the log (`grade`)

    def course(self, path: str | None, *, public: bool = False) -> Course:
        """The course as `locate_course` finds it (loaded on first use)."""
        key = (path, public)
        if key not in self.courses:
            self.courses[key] = load_course(locate_course(path, public=public))
        return self.courses[key]

    def reference(self, course: Course) -> dict[str, Any]:
        """The course's reference solutions (imported on first use)."""
        if course.root not in self.references:
            self.references[course.root] = course.reference()
        return self.references[course.root]

    def public_checks(self, course: Course) -> list[TestSpec]:
        """The course's public checks (collected on first use)."""
        if course.root not in self.checks:
            self.checks[course.root] = course.collect(hidden=False)
        return self.checks[course.root]

    def digest(self, folder: str, modules: tuple[str, ...]) -> str:
        """The digest of the student's code in this notebook's folder, as `grader grade` reads
        it (the same files seed the same inputs there and here); empty if it cannot be read."""
        key = (folder, modules)
        if key not in self.digests:
            try:
                self.digests[key] = unpack(Submission("notebook", Path(folder)), modules).digest()
            except (SubmissionError, OSError):
                self.digests[key] = ""
        return self.digests[key]

    def run_checks(self, course: Course, module: str, functions: Sequence[str],
                   namespace: dict[str, Any]) -> list[Outcome]:
        """The public checks of ``functions`` of ``module`` on ``namespace``, then those of
        every function a failing one depends on (`grader.engine.blame`), blamed."""
        specs = self.public_checks(course)
        runner = InProcess({module: namespace}, course.limits)
        done = {f"{module}.{f}" for f in functions}
        wanted = [s for s in specs if f"{s.module}.{s.function}" in done]
        outcomes: list[Outcome] = []
        with _quiet():
            while wanted:
                outcomes += run_tests(wanted, runner, student="local", secret=None)
                more = {d for o in outcomes if o.status != PASSED
                        for d in blame.dependencies(o)
                        if d not in done and d.partition(".")[0] in course.modules}
                done |= more
                wanted = [s for s in specs if f"{s.module}.{s.function}" in more]
        implemented = siblings.implemented({module: namespace}, course.modules)
        return blame.apply(outcomes, implemented)

    def check(self, module: str, function: str | None, namespace: dict[str, Any], *,
              course: str | None = None) -> None:
        """Run the public checks of ``module`` (or of one function) on the functions of
        ``namespace`` (the notebook's globals), print the report and raise `ChecksFailed`
        unless every one passed. Under ``nbgrader autograde``: nothing."""
        __tracebackhide__ = True  # IPython shows the cell, not these frames
        if _autograding():
            return
        try:
            loaded = self.course(course, public=True)
        except CourseError as exc:
            call = f"check({module!r}, course='path/to/course')"
            why = (str(exc) if course is not None else f"no {PUBLIC_COURSE}/ beside this "
                   f"notebook and no course.toml in {Path.cwd()} or its parents")
            raise NoCourse(f"no course for these checks: {why}. Name the course folder (the "
                           f"one with course.toml), relative to this notebook: {call}"
                           ) from None
        reloaded = siblings.refresh(namespace)
        functions = [function] if function else loaded.functions(module)
        outcomes = self.run_checks(loaded, module, functions, namespace)
        summaries = summarise(module, functions, [o for o in outcomes if o.spec.module == module])
        implemented = siblings.implemented({module: namespace}, [module])
        lines = [f"(using {name} as last saved)" for name in reloaded]
        lines += [s.render() for s in summaries]
        others = _others(outcomes, module, loaded.modules)
        hint = "".join(f" Save {m}.ipynb after changing it, then run this cell again: the "
                       "saved file is used." for m in others).strip()
        if hint:
            lines.append(hint)
        print(wrap(_notebook_names("\n".join(lines), loaded.modules)))
        failing = [_failure(s) for s in summaries if s.status not in (PASSED, "no checks")]
        failing += [(s.function, "not implemented yet") for s in summaries
                    if s.status == "no checks" and f"{module}.{s.function}" not in implemented]
        if failing:
            raise ChecksFailed(_error(failing, others))

    def grade(self, module: str, function: str, namespace: dict[str, Any], *,
              course: str | None = None) -> float:
        """Run the hidden tests of one function on ``namespace``; print short feedback (lines
        of at most 90 columns, at most 12 lines of explanation per test) and return the
        points earned. Under ``nbgrader autograde`` a course not found is also said once in
        nbgrader's log (else the reason of every 0 is only in the autograded notebooks)."""
        try:
            loaded = self.course(course)
        except CourseError as exc:
            if _autograding() and not self.told:
                self.told = True
                _to_log(f"grader: ERROR: {module}'s hidden tests cannot run (its test cells "
                        f"score 0): {exc}. Keep the nbgrader course inside the grader course (or "
                        f"where it was, beside it), or set {COURSE_ENV}; `grader grade "
                        "--nbgrader-course` needs neither")
            raise
        siblings.refresh(namespace)
        specs = [s for s in loaded.collect([module], hidden=True) if s.function == function]
        runner = InProcess({module: namespace}, loaded.limits)
        with _quiet():
            outcomes = run_tests(specs, runner, student=_student(),
                                 secret=loaded.secret, reference=self.reference(loaded),
                                 digest=self.digest(str(Path.cwd()), tuple(loaded.modules)))
        score = 0.0
        lines = []
        for outcome in outcomes:
            points = f"{outcome.score:g}/{outcome.spec.points:g}"
            if outcome.status == PASSED:
                lines.append(f"passed  {points}  {outcome.spec.name}")
            elif outcome.not_implemented:
                lines.append(f"{outcome.status.upper():<7} {points}  {outcome.spec.name}: not "
                             "implemented yet")
            else:
                lines.append(f"{outcome.status.upper():<7} {points}  {outcome.spec.name}")
                body = wrap(explain(outcome), WIDTH - 4).splitlines()
                if len(body) > MAX_LINES:
                    body = [*body[:MAX_LINES - 1], f"... ({len(body) - MAX_LINES + 1} more "
                            "lines: `grader grade` writes them all)"]
                lines += ["    " + line for line in body]
            score += outcome.score
        print(wrap("\n".join(lines)))
        return round(score, 6)


def _to_log(message: str) -> None:
    """One line on the kernel process's own stderr (nbgrader's log); never fails."""
    stream = sys.__stderr__
    if stream is not None:
        with contextlib.suppress(OSError, ValueError):
            print(message, file=stream, flush=True)


def _failure(summary: FunctionSummary) -> tuple[str, str]:
    """One failing function and its status as the report's first line gives it (FAILED)."""
    function, _, label = summary.render().splitlines()[0].strip().partition(" ")
    return function, label.strip()


def _error(failing: Sequence[tuple[str, str]], others: Sequence[str]) -> str:
    """The short message `ChecksFailed` carries (the report above it says why): which
    functions, the notebooks at fault; lines of at most `ERROR_WIDTH` columns."""
    if len(failing) == 1:
        head = f"{failing[0][0]}: {failing[0][1]}"
    else:
        head = (f"{len(failing)} functions fail their public checks: "
                + ", ".join(function for function, _ in failing))
    cause = f" (because of {', '.join(f'{m}.ipynb' for m in others)})" if others else ""
    return wrap(f"{head}{cause}; see the report above", ERROR_WIDTH)


def _caller() -> dict[str, Any]:
    """The globals of the notebook cell that called `check` or `grade`."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None and frame.f_back.f_back is not None
    return frame.f_back.f_back.f_globals


def session(namespace: dict[str, Any]) -> NotebookSession:
    """The session of the notebook whose globals are ``namespace`` (made on first use and kept
    there as ``__grader_session__``, a name the isolation of calls leaves alone)."""
    found = namespace.get(SESSION_NAME)
    if not isinstance(found, NotebookSession):
        found = namespace[SESSION_NAME] = NotebookSession()
    return found


def check(module: str, function: str | None = None, *, course: str | None = None) -> None:
    """Run the public checks of ``module`` (or of one of its functions) on this notebook;
    print the report and raise `ChecksFailed` unless every check passed.

    ``course`` is the course folder, relative to the notebook's folder (default: found by
    `locate_course`)."""
    __tracebackhide__ = True
    caller = _caller()
    session(caller).check(module, function, caller, course=course)


def grade(module: str, function: str, *, course: str | None = None) -> float:
    """Run the hidden tests of one function in this kernel; print the feedback and return the
    points earned (nbgrader's partial credit for the test cell).

    ``course`` is the course folder, relative to the notebook's folder (default: found by
    `locate_course`)."""
    caller = _caller()
    return session(caller).grade(module, function, caller, course=course)
