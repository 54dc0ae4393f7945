"""Do the course authors' pages say what the package does?

- docs/authoring.md renders the API reference from the docstrings (mkdocstrings' ``:::``
  blocks): it must name every module of ``grader.authoring``, and its table of the names
  ``from grader.authoring import ...`` gives must be exactly the package's ``__all__``, each
  linked to the module that defines it (tests/docs/test_site.py builds the site and checks
  that every link lands on a rendered entry);
- its table of built-in misconceptions is exactly ``Catalogue.builtin()``;
- docs/environment.md lists every ``GRADER_...`` variable the package reads, and no other.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import grader.authoring
from grader.authoring.misconceptions import Catalogue

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
AUTHORING = DOCS / "authoring.md"
ENV_NAME = re.compile(r"GRADER_[A-Z0-9_]+")


def _page() -> str:
    return AUTHORING.read_text(encoding="utf-8")


def defining_module(name: str) -> str:
    """The module of ``grader.authoring`` whose entry documents ``name`` of the package's
    ``__all__``: where a class or function is defined, else the module it is imported from."""
    init = ast.parse((ROOT / "grader" / "authoring" / "__init__.py").read_text(encoding="utf-8"))
    source = {alias.name: node.module for node in init.body
              if isinstance(node, ast.ImportFrom) for alias in node.names}
    obj = getattr(grader.authoring, name)
    if (inspect.isclass(obj) or inspect.isfunction(obj)) \
            and obj.__module__.startswith("grader.authoring."):
        return str(obj.__module__)
    return str(source[name])


def test_does_the_reference_render_every_module() -> None:
    """One ``::: grader.authoring.<module>`` block per module of the package, and no block
    naming a module that does not exist."""
    rendered = set(re.findall(r"^::: (grader\.authoring\.\w+)\s*$", _page(), flags=re.MULTILINE))
    modules = {f"grader.authoring.{info.name}"
               for info in pkgutil.iter_modules(grader.authoring.__path__)}
    assert rendered == modules


def test_does_the_import_table_list_the_packages_names() -> None:
    """The rows of "name | defined in" are ``grader.authoring.__all__``, in its order, each
    linked to the entry mkdocstrings writes for it (``#<module>.<name>``)."""
    rows = re.findall(r"^\| \[`(\w+)`\]\(#([\w.]+)\) \| `([\w.]+)` \|$", _page(),
                      flags=re.MULTILINE)
    assert [name for name, _, _ in rows] == list(grader.authoring.__all__)
    for name, anchor, module in rows:
        assert module == defining_module(name), name
        assert anchor == f"{module}.{name}", name
        assert hasattr(importlib.import_module(module), name), f"{module} has no {name}"


def test_does_the_page_list_every_built_in_misconception() -> None:
    """One row per built-in (key, title, hint as the catalogue holds them), and no other."""
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \| (.+?) \|$", _page(), flags=re.MULTILINE)
    builtin = [(m.key, m.title, m.hint) for m in Catalogue.builtin().values()]
    assert sorted(rows) == sorted(builtin), "update the table of docs/authoring.md"


def _variables_read() -> set[str]:
    """The ``GRADER_...`` names the package's code holds as strings (what it reads from the
    environment, or sets for a kernel)."""
    found: set[str] = set()
    for path in (ROOT / "grader").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and ENV_NAME.fullmatch(node.value):
                found.add(node.value)
    return found


def test_does_the_environment_page_list_every_variable() -> None:
    """Every variable of the package has a row, and every row is a variable of the
    package."""
    page = (DOCS / "environment.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(GRADER_[A-Z0-9_]+)` \|", page, flags=re.MULTILINE))
    read = _variables_read()
    assert {"GRADER_SECRET", "GRADER_WARM_START"} <= read
    assert rows == read
