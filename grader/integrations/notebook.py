"""Inside a Jupyter kernel: sibling notebooks as modules, public checks, nbgrader's hidden tests.

The generated notebooks (``grader nbgrader generate``) call this module:

- ``install()`` lets ``from activations import sigmoid`` import the code cells of the
  ``activations.ipynb`` next to the running notebook, so each notebook is one module;
- ``check(module, function)`` runs that function's public checks and prints the report;
- ``grade(module, function)`` (in nbgrader's hidden test block) runs the hidden tests of the
  function, prints the explained feedback and returns the points earned, which nbgrader records
  as the cell's partial credit.

Both find the course as `locate_course` says: an explicit ``course=`` (relative to the
notebook's folder), else ``$GRADER_COURSE``, else the nearest folder with a ``course.toml`` from
the notebook's folder up. No generated notebook holds a path, so a course can move.

What a notebook loads once (the course, its reference solutions, the digest of the student's
files) is kept by its :class:`NotebookSession`, which lives in the notebook's own namespace.

Tests here run in the student's kernel, as nbgrader always does; the sandboxed ``grader grade``
is the path to trust for a grade that matters (see the README).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import inspect
import io
import json
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.batch.submissions import Submission, SubmissionError, notebook_modules, unpack
from grader.course.config import Course, CourseError, find_course, load_course
from grader.engine.feedback import explain, summarise
from grader.engine.runner import PASSED, run_tests
from grader.sandbox.inprocess import InProcess

#: the course folder of notebooks whose cells name none (absolute, or relative to the notebook)
COURSE_ENV = "GRADER_COURSE"
#: the folder in which ``nbgrader autograde`` runs notebooks: ``autograded/<student>/<assignment>``
AUTOGRADED = "autograded"
#: where a notebook's globals keep its `NotebookSession`
SESSION_NAME = "__grader_session__"


class NotebookFinder(importlib.abc.MetaPathFinder):
    """Imports ``<name>.ipynb`` of a folder as module ``name`` (its module's code cells)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        notebook = self.folder / f"{fullname}.ipynb"
        if "." in fullname or not notebook.is_file():
            return None
        return importlib.util.spec_from_loader(fullname, NotebookLoader(notebook),
                                               origin=str(notebook))


class NotebookLoader(importlib.abc.Loader):
    """Runs the code cells that belong to a notebook's module."""

    def __init__(self, notebook: Path) -> None:
        self.notebook = notebook

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        name = module.__name__
        try:
            cells = json.loads(self.notebook.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ImportError(f"cannot read {self.notebook.name}: {exc}") from None
        source = notebook_modules(cells, [name]).modules.get(name)
        if source is None:
            raise ImportError(f"{self.notebook.name} has no code cells of module {name}")
        module.__file__ = str(self.notebook)
        exec(compile(source, str(self.notebook), "exec"), vars(module))


def install(folder: str | Path | None = None) -> None:
    """Let this kernel import the notebooks of ``folder`` (default: the current folder)."""
    place = Path(folder or Path.cwd()).resolve()
    if not any(isinstance(f, NotebookFinder) and f.folder == place for f in sys.meta_path):
        sys.meta_path.append(NotebookFinder(place))


def _student() -> str:
    """The student id: nbgrader grades in ``autograded/<student>/<assignment>/``."""
    parts = Path.cwd().parts
    if AUTOGRADED in parts[:-2]:
        return parts[parts.index(AUTOGRADED) + 1]
    return os.environ.get("JUPYTERHUB_USER") or os.environ.get("USER") or "notebook"


def locate_course(path: str | Path | None = None, *, folder: Path | None = None) -> Path:
    """The course folder of a notebook running in ``folder``.

    The first of: ``path``; ``$GRADER_COURSE``; ``folder`` or the nearest of its parents with a
    ``course.toml``. Relative paths are relative to ``folder``. Inside nbgrader's
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

    Returns
    -------
    Path
        The course folder, absolute (it may still lack a ``course.toml``: `load_course` says
        so).

    Raises
    ------
    CourseError
        If neither is given and no folder from ``folder`` up holds a ``course.toml``.
    """
    here = (folder or Path.cwd()).resolve()
    named = path or os.environ.get(COURSE_ENV)
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


def _namespaces(module: str, caller: dict[str, Any]) -> dict[str, ModuleType | dict[str, Any]]:
    return {module: caller}


@contextlib.contextmanager
def _quiet() -> Any:
    """No output on stderr: nbgrader gives 0 points to a test cell that writes there."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


class NotebookSession:
    """What one notebook keeps between its check and grade cells, loaded once: the courses,
    their reference solutions, and the digest of the student's files.

    A notebook's session lives in its own namespace (`session`), so nothing is kept in this
    module: two notebooks (or two tests) never share one by accident.

    Attributes
    ----------
    courses : dict
        The course path given to `check` or `grade` (None: found by `locate_course`) to the
        course loaded.
    references : dict
        A course's root to its reference solutions, by module name.
    digests : dict
        ``(folder, modules)`` to the digest of the student's code in that folder.
    """

    def __init__(self) -> None:
        self.courses: dict[str | None, Course] = {}
        self.references: dict[Path, dict[str, ModuleType]] = {}
        self.digests: dict[tuple[str, tuple[str, ...]], str] = {}

    def course(self, path: str | None) -> Course:
        """The course at ``path``, else at ``$GRADER_COURSE``, else around the notebook's
        folder (`locate_course`; loaded on first use)."""
        if path not in self.courses:
            self.courses[path] = load_course(locate_course(path))
        return self.courses[path]

    def reference(self, course: Course) -> dict[str, ModuleType]:
        """The course's reference solutions (imported on first use)."""
        if course.root not in self.references:
            self.references[course.root] = course.reference()
        return self.references[course.root]

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

    def check(self, module: str, function: str | None, namespace: dict[str, Any], *,
              course: str | None = None) -> None:
        """Run the public checks of ``module`` (or of one function) on the functions of
        ``namespace`` (the notebook's globals) and print the report."""
        try:
            loaded = self.course(course)
        except CourseError as exc:
            hint = "" if COURSE_ENV in str(exc) else f" Set {COURSE_ENV} to your course folder."
            print(f"Public checks unavailable: {exc}.{hint}")
            return
        specs = [s for s in loaded.collect([module], hidden=False)
                 if function is None or s.function == function]
        runner = InProcess(_namespaces(module, namespace), loaded.limits)
        with _quiet():
            outcomes = run_tests(specs, runner, student="local", secret=None)
        functions = [function] if function else loaded.functions(module)
        for summary in summarise(module, functions, outcomes):
            print(summary.render())

    def grade(self, module: str, function: str, namespace: dict[str, Any], *,
              course: str | None = None) -> float:
        """Run the hidden tests of one function on ``namespace``; print the feedback and
        return the points earned."""
        loaded = self.course(course)
        specs = [s for s in loaded.collect([module], hidden=True) if s.function == function]
        runner = InProcess(_namespaces(module, namespace), loaded.limits)
        with _quiet():
            outcomes = run_tests(specs, runner, student=_student(),
                                 secret=loaded.secret, reference=self.reference(loaded),
                                 digest=self.digest(str(Path.cwd()), tuple(loaded.modules)))
        score = 0.0
        for outcome in outcomes:
            points = f"{outcome.score:g}/{outcome.spec.points:g}"
            if outcome.status == PASSED:
                print(f"passed  {points}  {outcome.spec.name}")
            else:
                print(f"{outcome.status.upper():<7} {points}  {outcome.spec.name}")
                print("    " + explain(outcome).replace("\n", "\n    "))
            score += outcome.score
        return round(score, 6)


def session(namespace: dict[str, Any]) -> NotebookSession:
    """The session of the notebook whose globals are ``namespace`` (made on first use and kept
    there as ``__grader_session__``, a name the isolation of calls leaves alone)."""
    found = namespace.get(SESSION_NAME)
    if not isinstance(found, NotebookSession):
        found = namespace[SESSION_NAME] = NotebookSession()
    return found


def check(module: str, function: str | None = None, *, course: str | None = None) -> None:
    """Run the public checks of ``module`` (or of one of its functions) on this notebook.

    ``course`` is the course folder, relative to the notebook's folder (default: found by
    `locate_course`)."""
    caller = inspect.stack()[1].frame.f_globals
    session(caller).check(module, function, caller, course=course)


def grade(module: str, function: str, *, course: str | None = None) -> float:
    """Run the hidden tests of one function in this kernel; print the feedback and return the
    points earned (nbgrader's partial credit for the test cell).

    ``course`` is the course folder, relative to the notebook's folder (default: found by
    `locate_course`)."""
    caller = inspect.stack()[1].frame.f_globals
    return session(caller).grade(module, function, caller, course=course)
