"""A course: the folder with ``course.toml``, exercises, solutions, checks and hidden tests.

The grader knows nothing about any particular course. A course is found in the current folder
(or ``--course DIR``) and lays out, for each module ``m`` listed in ``course.toml``:
``exercises/m.py`` (the stub), ``solutions/m.py`` (the reference), ``checks/check_m.py``
(public checks) and ``autograde_tests/test_m.py`` (hidden tests).

Shared by a course's checks and tests:

- ``checks/misconceptions.toml`` (or the file ``[course] misconceptions`` names): the course's
  own misconceptions, one table per key with ``title``, ``hint`` and an optional ``symptom``.
  `Course.collect` registers them in `grader.authoring.misconceptions.CATALOGUE` (replacing an entry
  of the same key) before it imports any check or test; no file means none.
- Modules in ``checks/`` besides the checks (``checks/course_helpers.py``): while
  `Course.collect` imports check and test files, ``checks/`` is first on ``sys.path``, so
  either kind imports them by bare name (``from course_helpers import FLOOR``). They ship to
  students with the checks, so nothing in them may come from the reference solutions. Each
  `Course.collect` imports them afresh and leaves ``sys.modules`` as it found it, so another
  course's helpers of the same name never stand in for them.

Declared calls (``[calls]`` of ``course.toml``): what each graded function may call among the
student's functions, and so what its hidden tests may swap for the reference
(`grader.authoring.testing.Context.isolated`)::

    [calls]
    "layer.backward" = ["activations.sigmoid_prime", "forward"]  # bare: the same module

Only declared calls are ever swapped; everything else a function calls runs as the student's
own code. Declare what the contract lets a function build on, never a function whose reference
computes the declaring function's own quantity (``layer.backward`` does not declare
``backward_loops``: the same gradients with loops), or the reference would hand the function
its own answer; ``tests/test_delegation.py`` grades, for every contract function, submissions
that do nothing but delegate to its siblings and proves they earn nothing. A function without
an entry may call anything but is tested with nothing swapped.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import os
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.authoring import misconceptions as _misconceptions
from grader.authoring.misconceptions import Misconception
from grader.authoring.testing import Marker, TestFunction
from grader.sandbox.limits import Limits

SECRET_ENV = "GRADER_SECRET"
MISCONCEPTIONS = "checks/misconceptions.toml"
"""Default path, relative to the course folder, of the course's misconceptions."""
_MISCONCEPTION_FIELDS = {"title": True, "hint": True, "symptom": False}  # field: required


class CourseError(Exception):
    """The course folder is missing or malformed (a usage error: exit code 2)."""


@dataclass(frozen=True)
class TestSpec:
    """One collected check or hidden test.

    Attributes
    ----------
    func : callable
        The test function, called with a :class:`grader.authoring.testing.Context`.
    module : str
        Course module (``"neuron"``).
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
        (``"activations.sigmoid"``): its ``[calls]`` entry, qualified.
    course_calls : tuple of (str, tuple of str)
        The course's whole ``[calls]`` table as pairs: what
        `grader.authoring.testing.Context.isolated` may swap for each function a test calls (a test
        of ``backward`` calls ``forward`` too).
    """

    func: TestFunction
    module: str
    name: str
    test_id: str
    marker: Marker
    show_expected: bool = True
    declared_calls: tuple[str, ...] = ()
    course_calls: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def function(self) -> str:
        """The contract function the test grades."""
        return self.marker.function

    @property
    def points(self) -> float:
        """Points awarded when the test passes."""
        return self.marker.points


@dataclass(frozen=True)
class Course:
    """A course folder and its settings (from ``course.toml``)."""

    root: Path
    name: str
    assignment: str
    modules: tuple[str, ...]
    secret: str | None
    limits: Limits
    points: Mapping[str, float] = field(default_factory=dict)
    function_table: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    misconceptions_file: str = MISCONCEPTIONS
    sandbox_helpers: tuple[str, ...] = ()
    show_expected: bool = True
    calls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """``[calls]``: ``"module.function"`` to the qualified functions it may call (see the
    module docstring)."""

    @property
    def allow_imports(self) -> tuple[str, ...]:
        """``[grading] allow_imports``: packages a submission may import besides numpy and
        the standard library (in the sandbox of ``grader grade`` and ``grader check``)."""
        return self.limits.allow_imports

    @property
    def exercises(self) -> Path:
        """Folder of the student stubs."""
        return self.root / "exercises"

    @property
    def solutions(self) -> Path:
        """Folder of the reference solutions (absent from a student release)."""
        return self.root / "solutions"

    @property
    def checks(self) -> Path:
        """Folder of the public checks."""
        return self.root / "checks"

    @property
    def hidden_tests(self) -> Path:
        """Folder of the hidden tests (absent from a student release)."""
        return self.root / "autograde_tests"

    def helper_sources(self) -> dict[str, str]:
        """The public helper modules that run inside the sandbox (``[grading]
        sandbox_helpers``, modules of ``checks/``), name to source."""
        sources = {}
        for name in self.sandbox_helpers:
            path = self.checks / f"{name}.py"
            try:
                sources[name] = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise CourseError(f"course.toml lists the sandbox helper {name!r}, but "
                                  f"{path} cannot be read: {exc}") from None
        return sources

    def functions(self, module: str) -> list[str]:
        """The contract functions of a module, in order: the ``[functions]`` table of
        ``course.toml``, else the stub's functions that raise ``NotImplementedError``."""
        if module in self.function_table:
            return list(self.function_table[module])
        return self.stub_functions(module)

    def declared_calls(self, module: str, function: str) -> tuple[str, ...]:
        """What ``module.function`` may call and have swapped for the reference in its hidden
        tests (qualified names, ``()`` when it declares nothing)."""
        return tuple(self.calls.get(f"{module}.{function}", ()))

    def stub_functions(self, module: str) -> list[str]:
        """The stub's functions that raise ``NotImplementedError`` (provided code is not
        graded), in file order."""
        path = self.exercises / f"{module}.py"
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError) as exc:
            raise CourseError(f"cannot read the stub {path}: {exc}") from exc
        return [node.name for node in tree.body
                if isinstance(node, ast.FunctionDef) and _is_stub(node)]

    @property
    def misconceptions(self) -> Path:
        """File of the course's own misconceptions (``[course] misconceptions``)."""
        return self.root / self.misconceptions_file

    def load_misconceptions(self) -> list[Misconception]:
        """Read the course's misconceptions file (none if it does not exist).

        Raises
        ------
        CourseError
            If the file is not valid TOML, or an entry is not a table of non-empty strings
            ``title``, ``hint`` and optionally ``symptom`` (and nothing else).
        """
        path = self.misconceptions
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CourseError(f"cannot read the misconceptions {path}: {exc}") from exc
        return [_misconception(path, key, entry) for key, entry in data.items()]

    def collect(self, modules: list[str] | None = None, *, hidden: bool) -> list[TestSpec]:
        """Register the course's misconceptions, then import the check files (or hidden test
        files) and return their tests in order."""
        for entry in self.load_misconceptions():
            _misconceptions.register(entry, replace=True)
        folder, prefix = (self.hidden_tests, "test_") if hidden else (self.checks, "check_")
        specs: list[TestSpec] = []
        with _importable(self.checks):
            for module in modules or list(self.modules):
                path = folder / f"{prefix}{module}.py"
                if not path.is_file():
                    if hidden:
                        raise CourseError(f"missing hidden tests {path}")
                    continue
                kind = "tests" if hidden else "checks"
                loaded = _import_file(path, f"_grader_{kind}_{module}")
                for attr, value in vars(loaded).items():
                    marker = getattr(value, "__grader_marker__", None)
                    if isinstance(marker, Marker) and marker.public != hidden:
                        doc = (value.__doc__ or "").strip().splitlines()
                        specs.append(TestSpec(value, module, doc[0] if doc else attr,
                                              f"{module}::{attr}", marker,
                                              show_expected=self.show_expected or not hidden,
                                              declared_calls=self.declared_calls(
                                                  module, marker.function),
                                              course_calls=tuple(self.calls.items())))
        return specs

    def reference(self) -> dict[str, ModuleType]:
        """Import the reference solutions (in this trusted process only)."""
        if not self.solutions.is_dir():
            raise CourseError(f"no reference solutions at {self.solutions}")
        return load_modules(self.solutions, self.modules, prefix="_grader_reference_")


def _misconception(path: Path, key: str, entry: object) -> Misconception:
    """One entry of a misconceptions file, checked."""
    where = f"{path}: [{key}]"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise CourseError(f"{where}: a key is a stable identifier (letters, digits, _)")
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


def _is_stub(node: ast.FunctionDef) -> bool:
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return (len(body) == 1 and isinstance(body[0], ast.Raise) and body[0].exc is not None
            and "NotImplementedError" in ast.unparse(body[0].exc))


def _import_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CourseError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise CourseError(f"{path} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def load_modules(folder: Path, names: tuple[str, ...], *, prefix: str) -> dict[str, ModuleType]:
    """Import a folder of course modules that import each other by bare name.

    While loading, each module is registered under its bare name so that
    ``from activations import sigmoid`` finds the sibling; afterwards the bare names are removed
    from ``sys.modules`` so they cannot shadow another folder's modules.
    """
    loaded: dict[str, ModuleType] = {}
    saved = {n: sys.modules.get(n) for n in names}
    try:
        for name in names:
            path = folder / f"{name}.py"
            module = _import_file(path, prefix + name)
            sys.modules[name] = module
            loaded[name] = module
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
    return loaded


def find_course(start: Path | None = None) -> Path:
    """The course folder: ``start`` (or the current folder) or its nearest parent with a
    ``course.toml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "course.toml").is_file():
            return folder
    raise CourseError(
        f"no course.toml in {here} or its parents: run inside a course folder or pass --course"
    )


def load_course(root: Path | None = None, *, secret: str | None = None) -> Course:
    """Read ``course.toml``.

    Parameters
    ----------
    root : Path, optional
        The course folder (default: found from the current folder).
    secret : str, optional
        Overrides ``$GRADER_SECRET`` and the config's secret.
    """
    folder = find_course(root) if root is None else Path(root).resolve()
    config_path = folder / "course.toml"
    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CourseError(f"{folder} is not a course folder (no course.toml)") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"cannot read {config_path}: {exc}") from exc
    course: dict[str, Any] = config.get("course", {})
    grading: dict[str, Any] = config.get("grading", {})
    modules = tuple(course.get("modules", ()))
    if not modules:
        raise CourseError(f"{config_path} lists no modules ([course] modules = [...])")
    misconceptions = course.get("misconceptions", MISCONCEPTIONS)
    if not isinstance(misconceptions, str) or not misconceptions:
        raise CourseError(f"{config_path}: [course] misconceptions must be a path relative to "
                          "the course folder")
    show_expected = grading.get("show_expected", True)
    if not isinstance(show_expected, bool):
        raise CourseError(f"{config_path}: [grading] show_expected must be true or false")
    allow = grading.get("allow_imports", [])
    if not isinstance(allow, list) or not all(
            isinstance(n, str) and re.fullmatch(r"[A-Za-z_][\w.-]*", n) for n in allow):
        raise CourseError(f"{config_path}: [grading] allow_imports must be a list of package "
                          'names, e.g. ["scipy"]')
    limits = Limits(
        call_timeout=float(grading.get("call_timeout", Limits.call_timeout)),
        submission_timeout=float(grading.get("submission_timeout", Limits.submission_timeout)),
        memory_mb=int(grading.get("memory_mb", Limits.memory_mb)),
        message_mb=int(grading.get("message_mb", Limits.message_mb)),
        callback_mb=int(grading.get("callback_mb", Limits.callback_mb)),
        allow_imports=tuple(allow),
    )
    return Course(
        root=folder,
        name=str(course.get("name", folder.name)),
        assignment=str(course.get("assignment", folder.name)),
        modules=modules,
        secret=secret or os.environ.get(SECRET_ENV) or grading.get("secret"),
        limits=limits,
        points={str(k): float(v) for k, v in config.get("points", {}).items()},
        function_table={str(k): tuple(str(f) for f in v)
                        for k, v in config.get("functions", {}).items()},
        misconceptions_file=misconceptions,
        sandbox_helpers=tuple(str(h) for h in grading.get("sandbox_helpers", ())),
        # false: hidden tests' feedback says where and how much, not the expected values
        show_expected=show_expected,
        calls=_declared_calls(config.get("calls", {}), modules, config_path),
    )


def _declared_calls(table: object, modules: tuple[str, ...],
                    path: Path) -> dict[str, tuple[str, ...]]:
    """The ``[calls]`` table, checked, with every name qualified (``module.function``)."""
    if not isinstance(table, dict):
        raise CourseError(f"{path}: [calls] must be a table")

    def qualified(name: object, module: str, where: str) -> str:
        if not isinstance(name, str) or not re.fullmatch(r"([A-Za-z_]\w*\.)?[A-Za-z_]\w*", name):
            raise CourseError(f"{path}: [calls] {where}: {name!r} is not a function name "
                              "(function, or module.function)")
        owner, _, function = name.rpartition(".")
        if (owner or module) not in modules:
            raise CourseError(f"{path}: [calls] {where}: {owner!r} is not a course module")
        return f"{owner or module}.{function}"

    declared: dict[str, tuple[str, ...]] = {}
    for key, calls in table.items():
        if "." not in key:
            raise CourseError(f"{path}: [calls] {key!r}: name the module (module.function)")
        function = qualified(key, "", repr(key))
        if not isinstance(calls, list):
            raise CourseError(f"{path}: [calls] {key!r} must be a list of function names")
        names = tuple(dict.fromkeys(qualified(c, function.rpartition(".")[0], repr(key))
                                    for c in calls))
        if function in names:
            raise CourseError(f"{path}: [calls] {key!r} declares itself: the reference of a "
                              "function would hand it its own answer")
        declared[function] = names
    return declared
