"""A course: the folder with ``course.toml``, exercises, solutions, checks and hidden tests.

The grader knows nothing about any particular course. A course is found in the current folder
(or ``--course DIR``) and lays out, for each module ``m`` listed in ``course.toml``:
``exercises/m.py`` (the stub), ``solutions/m.py`` (the reference), ``checks/check_m.py``
(public checks) and ``autograde_tests/test_m.py`` (hidden tests). How those files are read and
imported is :mod:`grader.course.loading`; this module reads ``course.toml``.

Shared by a course's checks and tests:

- ``checks/misconceptions.toml`` (or the file ``[course] misconceptions`` names): the course's
  own misconceptions, one table per key with ``title``, ``hint`` and an optional ``symptom``.
  `Course.catalogue` adds them to the built-in ones (an entry of the same key replaces the
  built-in one), and `Course.collect` gives that catalogue to every test; no file means none.
- Modules in ``checks/`` besides the checks (``checks/course_helpers.py``): check and test
  files import them by bare name (``from course_helpers import FLOOR``). They ship to
  students with the checks, so nothing in them may come from the reference solutions.

Declared calls (``[calls]`` of ``course.toml``): what each graded function may call among the
student's functions, and so what its hidden tests may swap for the reference
(`grader.authoring.context.Context.isolated`)::

    [calls]
    "layer.backward" = ["activations.relu_prime", "forward"]  # bare: the same module

Only declared calls are ever swapped; everything else a function calls runs as the student's
own code. Declare what the contract lets a function build on, never a function whose reference
computes the declaring function's own quantity (``layer.backward`` does not declare
``backward_loops``: the same gradients with loops), or the reference would hand the function
its own answer; ``tests/test_delegation.py`` grades, for every contract function, submissions
that do nothing but delegate to its siblings and proves they earn nothing. A function without
an entry may call anything but is tested with nothing swapped.

The course's own commands and dependencies::

    [course]
    dependencies = ["scipy>=1.10"]   # what students install besides the grader's own

    [commands]
    plot = "commands/plot.py:plot"   # `grader plot` runs the click command `plot` of that file

A command's file is relative to the course folder; the grader's command line offers the
command only inside this course (or with ``--course`` naming it), and ``grader release`` ships
the folder it sits in. ``dependencies`` go into the release's ``pyproject.toml``.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.authoring.misconceptions import Catalogue, Misconception
from grader.course import loading, verify
from grader.course.loading import CourseError, TestSpec, load_modules
from grader.sandbox.limits import Limits

__all__ = ["MISCONCEPTIONS", "SECRET_ENV", "Course", "CourseError", "TestSpec", "find_course",
           "load_course", "load_modules"]

SECRET_ENV = "GRADER_SECRET"
MISCONCEPTIONS = "checks/misconceptions.toml"
"""Default path, relative to the course folder, of the course's misconceptions."""
_COMMAND_NAME = r"[a-z][a-z0-9-]*"
_COMMAND_TARGET = r"[^:]+\.py:[A-Za-z_]\w*"


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
    commands: Mapping[str, str] = field(default_factory=dict)
    """``[commands]``: the course's own command names to ``"file.py:object"`` (the file
    relative to the course folder; see the module docstring)."""
    dependencies: tuple[str, ...] = ()
    """``[course] dependencies``: requirements students install besides the grader's own
    (``"scipy>=1.10"``)."""

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

    @functools.cached_property
    def stubs(self) -> Mapping[str, str]:
        """The text of each module's stub (``exercises/<module>.py``) that can be read, read
        once per course: how a submission's reading tells an untouched stub when it sees one
        (`grader.batch.submissions.unpack`)."""
        texts: dict[str, str] = {}
        for module in self.modules:
            try:
                texts[module] = (self.exercises / f"{module}.py").read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError):
                continue
        return texts

    @property
    def private_paths(self) -> tuple[Path, ...]:
        """What no student code may read: the reference, the hidden tests, ``course.toml``
        (the secret), the course's mutants (they quote the reference) and its version
        control (every past state of all of these). At the uid isolation level, where the
        child can read what any user may, the grader takes the "other" permissions off them.
        """
        return (self.solutions, self.hidden_tests, self.root / "course.toml",
                self.root / "mutants", self.root / ".git")

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
        ``course.toml``, else the stub's functions that raise ``NotImplementedError``.

        Raises
        ------
        CourseError
            If the module has none: nothing of it would be graded.
        """
        if module in self.function_table:
            listed = list(self.function_table[module])
            if not listed:
                raise CourseError(f"{self.root / 'course.toml'}: [functions] {module} = [] "
                                  "lists no function: nothing of it would be graded")
            return listed
        found = self.stub_functions(module)
        if not found:
            raise CourseError(
                f"{self.exercises / f'{module}.py'}: no function raises NotImplementedError "
                f"and course.toml has no [functions] entry for {module}, so nothing of it "
                "would be graded: make each function students write raise "
                "NotImplementedError, or list them in [functions]")
        return found

    def declared_calls(self, module: str, function: str) -> tuple[str, ...]:
        """What ``module.function`` may call and have swapped for the reference in its hidden
        tests (qualified names, ``()`` when it declares nothing)."""
        return tuple(self.calls.get(f"{module}.{function}", ()))

    def stub_functions(self, module: str) -> list[str]:
        """The stub's functions that raise ``NotImplementedError`` (provided code is not
        graded), in file order."""
        return loading.stub_functions(self.exercises / f"{module}.py")

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
        return loading.read_misconceptions(self.misconceptions)

    def catalogue(self) -> Catalogue:
        """The misconceptions the course's tests name: the built-in ones, and the course's own
        from its misconceptions file (an entry of a built-in key replaces it).

        Raises
        ------
        CourseError
            If the misconceptions file is malformed (see `load_misconceptions`).
        """
        return Catalogue.builtin().extended(self.load_misconceptions(), replace=True)

    def collect(self, modules: list[str] | None = None, *, hidden: bool) -> list[TestSpec]:
        """Import the check files (or hidden test files) and return their tests in order, each
        with the course's catalogue of misconceptions.

        Everything about the files that can be checked before a student is graded is checked
        (`grader.course.verify`): each marker names a contract function, misconception keys
        are registered, no two tests share a name, no file belongs to no module; and, for
        the hidden tests (the instructor's side: a student's release holds none), each
        contract function of ``[functions]`` is a stub that raises ``NotImplementedError``
        and each ``[calls]`` entry is a contract function's.

        Raises
        ------
        CourseError
            Naming every mistake found, each with its file and line.
        """
        catalogue = self.catalogue()
        folder, prefix = (self.hidden_tests, "test_") if hidden else (self.checks, "check_")
        functions = {m: self.functions(m) for m in self.modules}
        problems = verify.stray_files(folder, prefix, self.modules)
        if hidden:
            for module in self.function_table:
                if module in self.modules:
                    problems += verify.stub_mistakes(self.exercises / f"{module}.py", module,
                                                     functions[module])
            problems += verify.calls_mistakes(self.root / "course.toml", self.calls, functions)
        return loading.collect(folder, prefix, modules or list(self.modules), hidden=hidden,
                               helpers=self.checks, show_expected=self.show_expected,
                               calls=self.calls, catalogue=catalogue, functions=functions,
                               found=problems)

    def reference(self) -> dict[str, ModuleType]:
        """Import the reference solutions (in this trusted process only)."""
        if not self.solutions.is_dir():
            raise CourseError(f"no reference solutions at {self.solutions}")
        return load_modules(self.solutions, self.modules, prefix="_grader_reference_")


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
        commands=_commands(config.get("commands", {}), config_path),
        dependencies=_dependencies(course.get("dependencies", []), config_path),
    )


def _commands(table: object, path: Path) -> dict[str, str]:
    """The ``[commands]`` table, checked: command names to ``"file.py:object"``, each file a
    relative path inside the course folder. Whether the file exists is checked when the
    command is used, so that a broken command never stops the others."""
    if not isinstance(table, dict):
        raise CourseError(f"{path}: [commands] must be a table")
    for name, target in table.items():
        where = f"{path}: [commands] {name!r}"
        if not re.fullmatch(_COMMAND_NAME, name):
            raise CourseError(f"{where}: a command name is lower-case letters, numbers and -")
        if not isinstance(target, str) or not re.fullmatch(_COMMAND_TARGET, target):
            raise CourseError(f'{where} must be "file.py:object", e.g. "commands/{name}.py:'
                              f'{name.replace("-", "_")}"')
        file = Path(target.rpartition(":")[0])
        if file.is_absolute() or ".." in file.parts:
            raise CourseError(f"{where}: the file must be inside the course folder (a "
                              "relative path without ..)")
    return {str(k): str(v) for k, v in table.items()}


def _dependencies(value: object, path: Path) -> tuple[str, ...]:
    """``[course] dependencies``, checked: a list of requirement strings."""
    if not isinstance(value, list) or not all(
            isinstance(d, str) and re.fullmatch(r"[A-Za-z0-9][^\n\r\"]*", d) for d in value):
        raise CourseError(f"{path}: [course] dependencies must be a list of requirements, "
                          'e.g. ["scipy>=1.10"]')
    return tuple(value)


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
