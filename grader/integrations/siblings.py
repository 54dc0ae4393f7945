"""Sibling notebooks as modules: ``from activations import sigmoid`` in ``neuron.ipynb`` runs the
code cells of the ``activations.ipynb`` beside it, as last saved.

A notebook saved after this kernel imported it is imported again by `refresh` (each check and
hidden test calls it first), and the names the importing notebook took from it (``from
activations import sigmoid``) are bound to the new functions, so a fix in a sibling notebook
is seen once that notebook is saved, without restarting this kernel.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.util
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

from grader.batch.submissions import notebook_modules
from grader.course.verify import is_stub

#: what a module imported from a notebook keeps of its source (read by `implemented`)
SOURCE_NAME = "__grader_source__"


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
    """Runs the code cells that belong to a notebook's module, and remembers which version
    of the file it ran (`changed`)."""

    def __init__(self, notebook: Path) -> None:
        self.notebook = notebook
        self.loaded: int | None = None

    def create_module(self, spec: Any) -> None:
        return None

    def _stamp(self) -> int | None:
        try:
            return self.notebook.stat().st_mtime_ns
        except OSError:
            return None

    def changed(self) -> bool:
        """Whether the notebook was saved since this loader ran it."""
        return self.loaded is not None and self._stamp() != self.loaded

    def exec_module(self, module: ModuleType) -> None:
        name = module.__name__
        self.loaded = self._stamp()
        try:
            cells = json.loads(self.notebook.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ImportError(f"cannot read {self.notebook.name}: {exc}") from None
        source = notebook_modules(cells, [name], stem=name).modules.get(name)
        if source is None:
            raise ImportError(f"{self.notebook.name} has no code cells of module {name}")
        module.__file__ = str(self.notebook)
        setattr(module, SOURCE_NAME, source)
        exec(compile(source, str(self.notebook), "exec"), vars(module))


def install(folder: str | Path | None = None) -> None:
    """Let this kernel import the notebooks of ``folder`` (default: the current folder)."""
    place = Path(folder or Path.cwd()).resolve()
    if not any(isinstance(f, NotebookFinder) and f.folder == place for f in sys.meta_path):
        sys.meta_path.append(NotebookFinder(place))


def loaded_notebooks() -> dict[str, ModuleType]:
    """The modules this kernel imported from notebooks, by name."""
    return {name: module for name, module in list(sys.modules.items())
            if isinstance(getattr(module, "__loader__", None), NotebookLoader)}


def refresh(namespace: dict[str, Any]) -> list[str]:
    """Import again every notebook saved since this kernel imported it, and bind the names
    ``namespace`` took from it to the new functions.

    Returns
    -------
    list of str
        The notebooks imported again (``activations.ipynb``).

    Raises
    ------
    ImportError
        A changed notebook that no longer imports (its message says which).
    """
    again = []
    for module in loaded_notebooks().values():
        loader = module.__loader__
        assert isinstance(loader, NotebookLoader)
        if not loader.changed():
            continue
        space = vars(module)
        try:
            importlib.reload(module)  # runs the saved cells in the same module namespace
        except Exception as exc:
            raise ImportError(f"{loader.notebook.name} was saved with an error, so it cannot "
                              f"be imported again: {type(exc).__name__}: {exc}. Fix it, save "
                              "it and run this cell again") from None
        for key, value in list(namespace.items()):
            if isinstance(value, FunctionType) and value.__globals__ is space:
                namespace[key] = space.get(value.__name__, value)
        again.append(Path(loader.notebook).name)
    return again


def implemented(namespaces: Mapping[str, Mapping[str, Any]], modules: Iterable[str]
                ) -> set[str]:
    """The functions (``module.function``) that are no longer stubs
    (`grader.course.verify.is_stub`): a notebook's own, from the source of its functions;
    an imported notebook's, from the cells it ran. Read, never run; a function whose source
    cannot be read is taken as written (as the student's own code, it is not blamed on
    another)."""
    found: set[str] = set()
    for module in modules:
        space = namespaces.get(module)
        if space is None:
            imported = loaded_notebooks().get(module)
            space = vars(imported) if imported is not None else None
        if space is None:
            continue
        source = space.get(SOURCE_NAME)
        if isinstance(source, str):
            found |= _not_stubs(source, module)
            continue
        for value in list(space.values()):
            if isinstance(value, FunctionType) and value.__globals__ is space:
                source = _source(value)
                found |= (_not_stubs(source, module) if source
                          else {f"{module}.{value.__name__}"})
    return found


def _source(function: FunctionType) -> str:
    import inspect
    import textwrap

    try:
        return textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return ""


def _not_stubs(source: str, module: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    return {f"{module}.{node.name}" for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not is_stub(node)}
