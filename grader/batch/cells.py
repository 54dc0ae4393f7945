"""Notebook cells as modules: which code cells make which file, as running the notebook would.

One reading of a notebook's cells, shared by `grader grade` (`grader.batch.submissions`), `grader
check` and the kernel-side importer of the nbgrader notebooks (`grader.integrations.notebook`):

- ``%%writefile [-a|--append] <path>/<name>.py`` (or ``%%file``): the rest of the cell is
  written to ``<name>.py``; without ``-a`` it replaces what earlier cells wrote, with it it is
  appended, exactly as IPython does;
- ``# module: <name>`` as the first line: the cell belongs to ``<name>.py`` (cells joined in
  order, the marker line kept as a comment);
- an nbgrader cell whose ``grade_id`` is a course module's name or starts with it followed by
  ``-``, ``_``, ``.`` or ``:`` belongs to that module (autograder test cells never do).

A name that is not a course module is the student's own helper module, taken when its name can
be imported and does not hide a module of the standard library or numpy.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from grader.util.tree import SubmissionError

#: the first line of a cell that belongs to a module by its marker comment
_MODULE_LINE = re.compile(r"^\s*#\s*module\s*:\s*([A-Za-z_]\w*)\s*$", re.ASCII)
_WRITEFILE = re.compile(r"^\s*%%(?:writefile|file)\s+(.*)$")
_PY_NAME = re.compile(r"[A-Za-z_]\w*\.py", re.ASCII)
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


def cell_files(cells: Sequence[object], modules: Sequence[str]) -> CellFiles:
    """The files the code cells of a notebook make (see the module docstring).

    Parameters
    ----------
    cells : sequence
        The notebook's ``cells`` (nbformat 4), in order.
    modules : sequence of str
        The course's module names.

    Returns
    -------
    CellFiles
        Course modules and helper modules, name (without ``.py``) to source.
    """
    known = set(modules)
    texts: dict[str, str] = {}
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(str(s) for s in source) if isinstance(source, list) else str(source)
        lines = text.splitlines()
        first = next((i for i, line in enumerate(lines) if line.strip()), None)
        if first is not None and (magic := _WRITEFILE.match(lines[first])):
            target = _writefile_target(magic.group(1))
            if target is not None:
                written, append = target
                body = "\n".join(lines[first + 1:]) + "\n"  # IPython ends the file so
                texts[written] = texts.get(written, "") + body if append else body
            continue  # a cell magic: never Python of any module itself
        marker = _MODULE_LINE.match(lines[first]) if first is not None else None
        name = marker.group(1) if marker else _grade_id_module(cell, modules)
        if name is not None:
            texts[name] = f"{texts[name]}\n\n{text}" if name in texts else text
    found = CellFiles()
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
