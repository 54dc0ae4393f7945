"""A course's Python files, read and imported: its checks and hidden tests, its misconceptions,
its stubs' contract functions, its reference solutions.

Nothing here knows ``course.toml``: :mod:`grader.course.config` reads it and calls these with
the folders and settings it names.

- :func:`collect` imports the check files (``checks/check_<m>.py``) or hidden test files
  (``autograde_tests/test_<m>.py``) with ``checks/`` first on ``sys.path``, so either kind
  imports the course's shared helpers by bare name (``from course_helpers import FLOOR``);
  each call imports them afresh and leaves ``sys.modules`` as it found it, so another course's
  helpers of the same name never stand in for them. The files' own ``assert`` statements are
  rewritten to show their values (`grader.authoring.asserts`), and the files are checked
  for their authors' mistakes (`grader.course.verify`) before any student is graded: every
  mistake found is one line of a single `CourseError`.
- :func:`read_misconceptions` reads a misconceptions file: one table per key with ``title``,
  ``hint`` and an optional ``symptom``.
- :func:`load_modules` imports a folder of modules that import each other by bare name.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import re
import sys
import tomllib
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from grader.authoring import asserts
from grader.authoring.markers import Marker, TestFunction
from grader.authoring.misconceptions import Catalogue, Misconception
from grader.course import verify

_MISCONCEPTION_FIELDS = {"title": True, "hint": True, "symptom": False}  # field: required


class CourseError(Exception):
    """The course folder is missing or malformed (a usage error: exit code 2)."""

    @classmethod
    def of(cls, problems: Sequence[str]) -> CourseError:
        """One error for every problem found (one line each)."""
        if len(problems) == 1:
            return cls(problems[0])
        return cls(f"{len(problems)} mistakes in the course:\n" + "\n".join(
            f"  {problem}" for problem in problems))


@dataclass(frozen=True)
class TestSpec:
    """One collected check or hidden test.

    Attributes
    ----------
    func : callable
        The test function, called with a :class:`grader.authoring.context.Context`.
    module : str
        Course module (``"layer"``).
    name : str
        What the student sees: the docstring's first line (or the function name).
    test_id : str
        Stable id ``module::function_name``; also seeds the test's rng.
    marker : Marker
        Function graded, points, visibility, timeout.
    show_expected : bool
        Whether failure messages may print expected values (False for a hidden test of a
        course with ``[grading] show_expected = false``).
    declared_calls : tuple of str
        What the graded function may call and have swapped for the reference
        (``"activations.relu"``): its ``[calls]`` entry, qualified.
    course_calls : tuple of (str, tuple of str)
        The course's whole ``[calls]`` table as pairs: what
        `grader.authoring.context.Context.isolated` may swap for each function a test calls (a
        test of ``backward`` calls ``forward`` too).
    catalogue : Catalogue
        The misconceptions the test's failures may name: the built-in ones and the course's
        own (`grader.course.config.Course.catalogue`).
    """

    func: TestFunction
    module: str
    name: str
    test_id: str
    marker: Marker
    show_expected: bool = True
    declared_calls: tuple[str, ...] = ()
    course_calls: tuple[tuple[str, tuple[str, ...]], ...] = ()
    catalogue: Catalogue = field(default_factory=Catalogue.builtin)

    @property
    def function(self) -> str:
        """The contract function the test grades."""
        return self.marker.function

    @property
    def points(self) -> float:
        """Points awarded when the test passes."""
        return self.marker.points


def collect(folder: Path, prefix: str, modules: Sequence[str], *, hidden: bool,
            helpers: Path, show_expected: bool, calls: Mapping[str, tuple[str, ...]],
            catalogue: Catalogue, functions: Mapping[str, Sequence[str]] | None = None,
            found: Sequence[str] = ()) -> list[TestSpec]:
    """Import ``folder/<prefix><module>.py`` for each module and return their tests in order.

    Each file's own ``assert`` statements are rewritten (`grader.authoring.asserts`), and the
    file is checked (`grader.course.verify`): marked functions of one name, misconception keys
    the catalogue lacks, a marker of the other kind and, given ``functions``, a marker or
    ``uses=`` naming no contract function.

    Parameters
    ----------
    folder : Path
        The checks' or hidden tests' folder.
    prefix : str
        ``"check_"`` or ``"test_"``.
    modules : sequence of str
        The course modules whose files to import.
    hidden : bool
        Hidden tests (a missing file is an error) or public checks (a missing file has none).
    helpers : Path
        The folder whose modules the files import by bare name (``checks/``).
    show_expected : bool
        The course's ``[grading] show_expected`` (public checks always show expected values).
    calls : mapping of str to tuple of str
        The course's declared calls, ``"module.function"`` to qualified names.
    catalogue : Catalogue
        The course's misconceptions, given to every test.
    functions : mapping of str to sequence of str, optional
        Every course module's contract functions, which markers must name.
    found : sequence of str
        Mistakes the caller found already, reported with those of the files.

    Returns
    -------
    list of TestSpec
        The functions marked `public` (checks) or `graded` (hidden tests), in file order.

    Raises
    ------
    CourseError
        A file is missing (hidden tests), does not parse or import, or holds mistakes.
    """
    kind = "tests" if hidden else "checks"
    specs: list[TestSpec] = []
    problems = list(found)
    with _importable(helpers):
        for module in modules:
            path = folder / f"{prefix}{module}.py"
            if not path.is_file():
                if hidden:
                    raise CourseError(f"missing hidden tests {path}")
                continue
            loaded = import_file(path, f"_grader_{kind}_{module}", checked=catalogue,
                                 problems=problems)
            for attr, value in vars(loaded).items():
                marker = getattr(value, "__grader_marker__", None)
                if not isinstance(marker, Marker):
                    continue
                mine = getattr(value, "__module__", None) == loaded.__name__
                if marker.public == hidden and not mine:
                    continue  # a test of the other kind imported from another file
                problems += verify.marker_mistakes(path, module, attr, value, marker,
                                                   hidden=hidden, functions=functions)
                if marker.public == hidden:
                    continue
                doc = (value.__doc__ or "").strip().splitlines()
                specs.append(TestSpec(
                    value, module, doc[0] if doc else attr, f"{module}::{attr}", marker,
                    show_expected=show_expected or not hidden,
                    declared_calls=tuple(calls.get(f"{module}.{marker.function}", ())),
                    course_calls=tuple(calls.items()), catalogue=catalogue))
    if problems:
        raise CourseError.of(problems)
    return specs


def read_misconceptions(path: Path) -> list[Misconception]:
    """Read a course's misconceptions file (none if it does not exist).

    Raises
    ------
    CourseError
        If the file is not valid TOML, or an entry is not a table of non-empty strings
        ``title``, ``hint`` and optionally ``symptom`` (and nothing else).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"cannot read the misconceptions {path}: {exc}") from exc
    return [_misconception(path, key, entry) for key, entry in data.items()]


def _misconception(path: Path, key: str, entry: object) -> Misconception:
    """One entry of a misconceptions file, checked."""
    where = f"{path}: [{key}]"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise CourseError(f"{where}: a key is a stable identifier (letters, numbers, _)")
    if not isinstance(entry, dict):
        raise CourseError(f"{where} must be a table with title, hint and optional symptom, "
                          f"not a {type(entry).__name__}")
    unknown = sorted(set(entry) - set(_MISCONCEPTION_FIELDS))
    if unknown:
        raise CourseError(f"{where} has unknown fields {unknown} (allowed: title, hint, "
                          "symptom)")
    for name, required in _MISCONCEPTION_FIELDS.items():
        value = entry.get(name)
        if (value is None and required) or (value is not None and not (
                isinstance(value, str) and value.strip())):
            raise CourseError(f"{where}: {name} must be a non-empty string")
    return Misconception(key, entry["title"], entry["hint"], entry.get("symptom", ""))


def stub_functions(path: Path) -> list[str]:
    """The functions of the stub ``path`` that raise ``NotImplementedError`` (provided code is
    not graded), in file order."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError) as exc:
        raise CourseError(f"cannot read the stub {path}: {exc}") from exc
    return [node.name for node in tree.body
            if isinstance(node, ast.FunctionDef) and verify.is_stub(node)]


@contextlib.contextmanager
def _importable(folder: Path) -> Iterator[None]:
    """Within the block, the modules of ``folder`` import by bare name (and load from there,
    not from an earlier import); afterwards ``sys.modules`` holds what it held before."""
    names = {p.stem for p in folder.glob("*.py")} | {
        p.parent.name for p in folder.glob("*/__init__.py")}
    saved = {name: sys.modules.pop(name, None) for name in names}
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def import_file(path: Path, name: str, *, checked: Catalogue | None = None,
                problems: list[str] | None = None) -> ModuleType:
    """Import the file ``path`` as the module ``name`` (registered in ``sys.modules``).

    Parameters
    ----------
    path : Path
        The file.
    name : str
        The module's name.
    checked : Catalogue, optional
        For a check or test file: its ``assert`` statements are rewritten
        (`grader.authoring.asserts`) and its source checked against this catalogue
        (`grader.course.verify.source_mistakes`), the mistakes added to ``problems``.
    problems : list of str, optional
        Where the mistakes of a checked file go.

    Raises
    ------
    CourseError
        If it cannot be imported; it is then left out of ``sys.modules``.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CourseError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        if checked is None:
            spec.loader.exec_module(module)
        else:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, str(path))
            if problems is not None:
                problems += verify.source_mistakes(path, tree, checked)
            module.__dict__[asserts.HOOK] = asserts
            exec(compile(asserts.rewrite(tree, source), str(path), "exec"), module.__dict__)
    except SyntaxError as exc:
        del sys.modules[name]
        raise CourseError(f"{path}:{exc.lineno}: {exc.msg}") from exc
    except Exception as exc:
        del sys.modules[name]
        raise CourseError(f"{where_raised(path, exc)}: failed to import: "
                          f"{type(exc).__name__}: {exc}") from exc
    return module


def where_raised(path: Path, exc: BaseException) -> str:
    """``path:line``: the innermost line of the file ``path`` that ``exc`` was raised through
    (in a file being imported, the top-level statement that failed, e.g. an ``import`` of a
    missing package), else ``path``."""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
             if frame.filename == str(path) and frame.lineno]
    return f"{path}:{lines[-1]}" if lines else str(path)


def load_modules(folder: Path, names: tuple[str, ...], *, prefix: str) -> dict[str, ModuleType]:
    """Import a folder of course modules that import each other by bare name.

    While loading, each module is registered under its bare name so that
    ``from activations import relu`` finds the sibling; afterwards the bare names are removed
    from ``sys.modules`` so they cannot shadow another folder's modules.
    """
    loaded: dict[str, ModuleType] = {}
    saved = {n: sys.modules.get(n) for n in names}
    try:
        for name in names:
            path = folder / f"{name}.py"
            module = import_file(path, prefix + name)
            sys.modules[name] = module
            loaded[name] = module
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
    return loaded
