"""A course's mutants: known mistakes injected into its reference solutions, which its hidden
tests and public checks must catch (``grader selftest``, `grader.engine.selftest`).

The mutants live in ``mutants/`` of the course folder, one or more Python files (by
convention one per module, ``mutants/<module>.py``), each defining ``MUTANTS``, a list of
dicts::

    MUTANTS = [
        {
            "key": "sigmoid_sign",            # a misconception of the course's catalogue
            "module": "activations",          # the course module it is injected into
            "function": "sigmoid",            # the contract function the mistake is in
            "old": "np.minimum(z, 0.0)",      # text of solutions/activations.py ...
            "new": "np.minimum(-z, 0.0)",     # ... replaced (first occurrence) by this
            "test": "test_sigmoid_matches_reference",  # optional: the hidden test meant to
                                              # catch it (a function of test_<module>.py)
            "title_in_feedback": True,        # optional (default false): that test's feedback
                                              # must name the misconception's title
            "also_costs": [],                 # optional: other functions it is known to cost
        },
    ]

Instead of ``old`` and ``new``, an entry may give ``source``: the whole wrong function (its
``def`` line, docstring and body), which replaces the reference's function of that name.

A mutant must cost points in its own function only. Where a hidden test of another function
runs the student's own version of this one on purpose (a capstone that trains with the
student's whole pipeline), ``also_costs`` names those functions (``"train"`` in the same
module, or ``"module.function"``), with a comment saying why; each must then lose points, so
the list stays true.

The files are the author's own code, imported in the grader's process; they never ship to
students (``grader release`` copies none of them) since they quote the solutions.
"""

from __future__ import annotations

import ast
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

from grader.course.loading import CourseError, where_raised

__all__ = ["MUTANTS_FOLDER", "Mutant", "MutantError", "load_mutants"]

MUTANTS_FOLDER = "mutants"
"""The mutants' folder, relative to the course folder."""
_REQUIRED = ("key", "module", "function")
_OPTIONAL = ("old", "new", "source", "test", "title_in_feedback", "also_costs")


class MutantError(CourseError):
    """A mutants file is malformed, or a mutant cannot be injected into its module."""


@dataclass(frozen=True)
class Mutant:
    """One known mistake, injected into a reference module.

    Attributes
    ----------
    key : str
        The misconception it is (a key of the course's catalogue).
    module, function : str
        Where the mistake is: a course module and one of its contract functions.
    old, new : str or None
        The reference's text to replace (first occurrence) and its replacement.
    source : str or None
        Instead of ``old`` and ``new``: the whole wrong function.
    test : str or None
        The hidden test meant to catch it (a test function's name in ``test_<module>.py``).
    title_in_feedback : bool
        Whether that test's feedback must name the misconception's title.
    also_costs : tuple of str
        Other functions it is known to cost points, qualified (``"sgd.train"``).
    name : str
        A unique, stable name: ``<file stem>-<index>-<key>`` (``activations-0-sigmoid_sign``).
    """

    key: str
    module: str
    function: str
    old: str | None = None
    new: str | None = None
    source: str | None = None
    test: str | None = None
    title_in_feedback: bool = False
    also_costs: tuple[str, ...] = ()
    name: str = ""

    def apply(self, text: str) -> str:
        """The module's source ``text`` with this mistake injected.

        Raises
        ------
        MutantError
            ``old`` is not in ``text``, or (``source``) the function is not defined at the top
            of ``text`` or ``source`` is not one function of that name.
        """
        if self.source is None:
            assert self.old is not None and self.new is not None  # checked when loaded
            if self.old not in text:
                raise MutantError(f"mutant {self.name}: its old text is not in {self.module}.py: "
                                  f"{self.old[:60]!r}")
            return text.replace(self.old, self.new, 1)
        return self._replace_function(text)

    def _replace_function(self, text: str) -> str:
        assert self.source is not None
        wrong = textwrap.dedent(self.source).strip("\n") + "\n"
        try:
            defined = [n for n in ast.parse(wrong).body if isinstance(n, ast.FunctionDef)]
        except SyntaxError as exc:
            raise MutantError(f"mutant {self.name}: its source is not valid Python: {exc}") \
                from None
        if [n.name for n in defined] != [self.function]:
            raise MutantError(f"mutant {self.name}: its source must define one function, "
                              f"{self.function}")
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            raise MutantError(f"mutant {self.name}: {self.module}.py does not parse: {exc}") \
                from None
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == self.function:
                lines = text.splitlines(keepends=True)
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
                last = node.end_lineno or node.lineno
                return "".join([*lines[:first], wrong, *lines[last:]])
        raise MutantError(f"mutant {self.name}: {self.module}.py defines no function "
                          f"{self.function}")

    def write(self, solutions: Path, folder: Path) -> Path:
        """Copy the reference ``solutions`` into the new ``folder`` with this mistake injected.

        Returns
        -------
        Path
            ``folder``.
        """
        shutil.copytree(solutions, folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        path = folder / f"{self.module}.py"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MutantError(f"mutant {self.name}: cannot read {path}: {exc}") from None
        path.write_text(self.apply(text), encoding="utf-8")
        return folder


def load_mutants(course_root: Path) -> list[Mutant]:
    """Every mutant of ``course_root/mutants/*.py``, files in name order (none without the
    folder).

    Raises
    ------
    MutantError
        A file does not import, has no list ``MUTANTS``, or an entry is malformed (unknown or
        missing fields, neither ``old`` and ``new`` nor ``source``).
    """
    found: list[Mutant] = []
    for path in sorted((course_root / MUTANTS_FOLDER).glob("*.py")):
        namespace: dict[str, object] = {"__name__": f"_grader_mutants_{path.stem}",
                                        "__file__": str(path)}
        try:  # run from its source: no bytecode cache to go stale between two quick edits
            exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
        except Exception as exc:
            raise MutantError(f"{where_raised(path, exc)}: failed to import: "
                              f"{type(exc).__name__}: {exc}") from exc
        entries = namespace.get("MUTANTS")
        if not isinstance(entries, list):
            raise MutantError(f"{path} must define MUTANTS, a list of dicts")
        found += [_mutant(path, i, entry) for i, entry in enumerate(entries)]
    return found


def _mutant(path: Path, index: int, entry: object) -> Mutant:
    """Entry ``index`` of the file ``path``, checked."""
    where = f"{path}: MUTANTS[{index}]"
    if not isinstance(entry, dict):
        raise MutantError(f"{where} must be a dict, not a {type(entry).__name__}")
    unknown = sorted(set(entry) - {*_REQUIRED, *_OPTIONAL})
    if unknown:
        raise MutantError(f"{where} has unknown fields {unknown} (allowed: "
                          f"{', '.join((*_REQUIRED, *_OPTIONAL))})")
    for name in (*_REQUIRED, "old", "source", "test"):
        value = entry.get(name)
        if (value is None and name in _REQUIRED) or (
                value is not None and not (isinstance(value, str) and value)):
            raise MutantError(f"{where}: {name} must be a non-empty string")
    if not isinstance(entry.get("new", ""), str):
        raise MutantError(f"{where}: new must be a string (empty to delete the old text)")
    if not isinstance(entry.get("title_in_feedback", False), bool):
        raise MutantError(f"{where}: title_in_feedback must be true or false")
    also = entry.get("also_costs", [])
    if not isinstance(also, list | tuple) or not all(isinstance(f, str) and f for f in also):
        raise MutantError(f"{where}: also_costs must be a list of function names")
    replaces = entry.get("old") is not None and entry.get("new") is not None
    if replaces == (entry.get("source") is not None) or (
            not replaces and ("old" in entry or "new" in entry)):
        raise MutantError(f"{where}: give either old and new, or source (the whole wrong "
                          "function)")
    qualified = tuple(f if "." in f else f"{entry['module']}.{f}" for f in also)
    return Mutant(**{**entry, "also_costs": qualified}, name=f"{path.stem}-{index}-{entry['key']}")
