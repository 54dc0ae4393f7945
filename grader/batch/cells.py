"""Notebook cells as modules: which code cells make which file, as running the notebook would.

One reading of a notebook's cells, shared by `grader grade` (`grader.batch.submissions`), `grader
check` and the kernel-side importer of the nbgrader notebooks (`grader.integrations.notebook`):

- ``%%writefile [-a|--append] <path>/<name>.py`` (or ``%%file``): the rest of the cell is
  written to ``<name>.py``; without ``-a`` it replaces what earlier cells wrote, with it it is
  appended, exactly as IPython does;
- ``# module: <name>`` as the first line: the cell belongs to ``<name>.py`` (cells joined in
  order, the marker line kept as a comment);
- an nbgrader cell whose ``grade_id`` is a course module's name or starts with it followed by
  ``-``, ``_``, ``.`` or ``:`` belongs to that module (autograder test cells never do);
- **one notebook per module**: in a notebook named after a course module (``activations.ipynb``)
  that claims no other course module by a marker, ``%%writefile`` or ``grade_id``, every other
  code cell belongs to that module too (helpers in cells of their own included), except cells
  that start with a cell magic (``%%time``, ``%%bash`` ...) and nbgrader's own cells (the
  locked setup and test cells of a released notebook).

A cell taken into a module is read by `module_code`: what only Jupyter understands is blanked
(so every other line keeps its number): IPython lines (``%magic``, ``!shell``) of a cell
that does not compile with them, and top-level statements that run the
public checks (``check(...)``, ``grader.check(...)``, ``import grader``, ``from grader import
check``). A code cell that defines functions or classes but belongs to no module is named
(`CellFiles.unplaced`), so a helper left out of its module is not a silent ``NameError``.

A name that is not a course module is the student's own helper module, taken when its name can
be imported and does not hide a module of the standard library or numpy.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from grader.util.tree import SubmissionError

#: the first line of a cell that belongs to a module by its marker comment
_MODULE_LINE = re.compile(r"^\s*#\s*module\s*:\s*([A-Za-z_]\w*)\s*$", re.ASCII)
_WRITEFILE = re.compile(r"^\s*%%(?:writefile|file)\s+(.*)$")
_PY_NAME = re.compile(r"[A-Za-z_]\w*\.py", re.ASCII)
#: a line only IPython runs: a line magic, a shell command (``files = !ls`` too) or a help
#: request (``np.exp?``, ``??np.exp``)
_IPYTHON_LINE = re.compile(r"^\s*(?:[%!]|\?{1,2}[\w.]+\s*$|[\w.]+\?{1,2}\s*$"
                           r"|[\w.\[\], ]+=\s*[%!])")
#: the name of a cell magic (``%%time``)
_CELL_MAGIC = re.compile(r"^\s*(%%\S*)")
#: names a helper module may not have: it would hide the module the grader or numpy imports
#: (``sitecustomize`` and ``usercustomize`` would run at interpreter start)
BLOCKED_NAMES = frozenset(sys.stdlib_module_names) | {"numpy", "grader", "scipy",
                                                      "sitecustomize", "usercustomize"}


def helper_name_ok(name: str) -> bool:
    """Whether ``name`` (without ``.py``) can be a student's own helper module."""
    return (bool(_PY_NAME.fullmatch(f"{name}.py")) and not name.startswith("__")
            and name not in BLOCKED_NAMES)


@dataclass
class CellFiles:
    """The files a notebook's code cells make: course modules and other ``.py`` files."""

    modules: dict[str, str] = field(default_factory=dict)
    helpers: dict[str, str] = field(default_factory=dict)
    #: the names defined by code cells that belong to no module, one tuple per cell
    unplaced: list[tuple[str, ...]] = field(default_factory=list)
    #: functions and classes defined in cell-magic cells (not module code), name to the
    #: magic (``"relu": "%%time"``)
    in_magics: dict[str, str] = field(default_factory=dict)


def _writefile_target(arguments: str) -> tuple[str, bool] | None:
    """``(name, append)`` of a ``%%writefile`` line's arguments, or None when it writes no
    ``.py`` file of a valid module name."""
    try:
        words = shlex.split(arguments)
    except ValueError:
        return None
    append = any(w in ("-a", "--append") for w in words)
    paths = [w for w in words if not w.startswith("-")]
    if len(paths) != 1:
        return None
    base = re.split(r"[\\/]", paths[0])[-1]
    return (base[:-3], append) if _PY_NAME.fullmatch(base) else None


def _grade_id_module(cell: dict[str, object], modules: Sequence[str]) -> str | None:
    metadata = cell.get("metadata")
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    if not isinstance(nbgrader, dict):
        return None
    if nbgrader.get("grade") and not nbgrader.get("solution"):
        return None  # an autograder test cell: the grader's, not the student's code
    grade_id = nbgrader.get("grade_id")
    if not isinstance(grade_id, str):
        return None
    candidates = [m for m in modules if grade_id == m or re.match(rf"^{re.escape(m)}[-_.:]",
                                                                   grade_id)]
    return max(candidates, key=len) if candidates else None


def _source(cell: dict[str, object]) -> str:
    source = cell.get("source", "")
    return "".join(str(s) for s in source) if isinstance(source, list) else str(source)


def _parse(text: str) -> ast.Module | None:
    """The syntax tree of a cell, or None (a syntax error, or too deep to parse)."""
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _runs_checks(statement: ast.stmt) -> bool:
    """Whether a top-level statement only imports the grader or calls ``check(...)``."""
    if isinstance(statement, ast.Import):
        return all(a.name.partition(".")[0] == "grader" for a in statement.names)
    if isinstance(statement, ast.ImportFrom):
        return statement.level == 0 and (statement.module or "").partition(".")[0] == "grader"
    call = statement.value if isinstance(statement, ast.Expr) else None
    if not isinstance(call, ast.Call):
        return False
    function = call.func
    return ((isinstance(function, ast.Name) and function.id == "check")
            or (isinstance(function, ast.Attribute) and function.attr == "check"))


def module_code(text: str) -> str:
    """A cell's text as module code: what only Jupyter runs blanked, every line in place.

    IPython lines (a line starting with ``%`` or ``!``) are blanked when the cell does not
    compile with them (so a ``%`` line inside a string stays), then every top-level statement
    that imports the grader or calls ``check(...)`` (the public checks, which the grader runs
    itself). A cell that still does not compile is returned as written: its syntax error is
    the student's to see.
    """
    tree = _parse(text)
    if tree is None:
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        blanked = "\n".join("" if _IPYTHON_LINE.match(line) else line for line in lines)
        tree = _parse(blanked)
        if tree is None:  # an indented IPython line may have been a block's only statement
            passed = "\n".join(_as_pass(line) for line in lines)
            tree = _parse(passed)
            if tree is None:
                return blanked
            blanked = passed
        text = blanked
    drop: set[int] = set()
    keep: set[int] = set()
    for statement in tree.body:
        span = range(statement.lineno, (statement.end_lineno or statement.lineno) + 1)
        (drop if _runs_checks(statement) else keep).update(span)
    if not drop - keep:
        return text
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join("" if i + 1 in drop - keep else line for i, line in enumerate(lines))


def _as_pass(line: str) -> str:
    """An IPython line as ``pass`` at its indentation (blank at the top level)."""
    if not _IPYTHON_LINE.match(line):
        return line
    indent = line[: len(line) - len(line.lstrip())]
    return f"{indent}pass" if indent else ""


def _defined(text: str) -> tuple[str, ...]:
    """The functions and classes a cell defines at its top level."""
    tree = _parse(module_code(text))
    return tuple(s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.ClassDef,
                                                             ast.AsyncFunctionDef))
                 ) if tree is not None else ()


class _Cell(NamedTuple):
    """One code cell as `cell_files` reads it."""

    name: str | None  # the module or file it belongs to (None: no marker, no grade_id)
    text: str  # its source; for %%writefile, the file's text
    written: bool = False  # a %%writefile cell
    append: bool = False  # ... with -a
    free: bool = False  # neither marked nor nbgrader's: the student's own unmarked cell
    magic: str = ""  # a cell magic other than %%writefile (the cell is not module code)


def _read_cell(cell: object, modules: Sequence[str]) -> _Cell | None:
    """What one cell is, or None for a cell that is no code of any file (markdown, a cell
    magic other than ``%%writefile``)."""
    if not isinstance(cell, dict) or cell.get("cell_type") != "code":
        return None
    text = _source(cell)
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and (magic := _WRITEFILE.match(lines[first])):
        target = _writefile_target(magic.group(1))
        if target is None:
            return None
        body = "\n".join(lines[first + 1:]) + "\n"  # IPython ends the file so
        return _Cell(target[0], body, written=True, append=target[1])
    marker = _MODULE_LINE.match(lines[first]) if first is not None else None
    name = marker.group(1) if marker else _grade_id_module(cell, modules)
    if name is not None:
        return _Cell(name, text)
    if first is not None and (other := _CELL_MAGIC.match(lines[first])):
        # another cell magic (%%time, %%bash ...) of no module: not module code
        return _Cell(None, "\n".join(lines[first + 1:]), magic=other.group(1))
    metadata = cell.get("metadata")
    return _Cell(None, text, free=not (isinstance(metadata, dict) and "nbgrader" in metadata))


def cell_files(cells: Sequence[object], modules: Sequence[str],
               stem: str | None = None) -> CellFiles:
    """The files the code cells of a notebook make (see the module docstring).

    Parameters
    ----------
    cells : sequence
        The notebook's ``cells`` (nbformat 4), in order.
    modules : sequence of str
        The course's module names.
    stem : str, optional
        The notebook's file name without ``.ipynb``: a course module's name makes it that
        module's notebook (its unmarked code cells belong to the module).

    Returns
    -------
    CellFiles
        Course modules and helper modules, name (without ``.py``) to source, and the code
        cells that define something but belong to no module.
    """
    known = set(modules)
    read = [c for c in (_read_cell(cell, modules) for cell in cells) if c is not None]
    claimed = {c.name for c in read if c.name in known and not c.magic}
    own = stem if stem in known and claimed <= {stem} else None
    texts: dict[str, str] = {}
    found = CellFiles()
    for cell in read:
        if cell.magic:
            found.in_magics.update((n, cell.magic) for n in _defined(cell.text))
            continue
        if cell.written:  # %%writefile: the file as IPython writes it
            previous = texts.get(cell.name or "", "") if cell.append else ""
            texts[cell.name or ""] = previous + cell.text
            continue
        name = own if cell.name is None and cell.free else cell.name
        if name is not None:
            code = module_code(cell.text)
            texts[name] = f"{texts[name]}\n\n{code}" if name in texts else code
        elif cell.free and (defined := _defined(cell.text)):
            found.unplaced.append(defined)
    own_defs = _defined(texts[own]) if own in texts else ()
    found.in_magics = {n: m for n, m in found.in_magics.items() if n not in own_defs}
    for name, text in texts.items():
        if name in known:
            found.modules[name] = text
        elif helper_name_ok(name):
            found.helpers[name] = text
    return found


def parse_notebook(data: bytes, name: str) -> list[object]:
    """The cells of a notebook file's content.

    Raises
    ------
    grader.util.tree.SubmissionError
        It is not UTF-8, not JSON, not a notebook, or not nbformat 4 (the message says what
        to do).
    """
    try:
        notebook = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SubmissionError(f"{name} is not UTF-8 text; save it again from Jupyter") from None
    except ValueError as exc:
        raise SubmissionError(f"{name} is not valid notebook JSON ({exc}); open it in "
                              "Jupyter, save it, and resubmit") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise SubmissionError(f"{name} is not a Jupyter notebook (no list of cells)")
    if notebook.get("nbformat") != 4:
        raise SubmissionError(f"{name} is nbformat {notebook.get('nbformat')!r}; only "
                              "nbformat 4 notebooks are read (save it with Jupyter 4+)")
    cells: list[object] = notebook["cells"]
    return cells
