"""Do the course authors' pages say what the package does?

- docs/authoring.md is what docs/gen_author_api.py writes from the docstrings today (after a
  docstring of grader/authoring/ changes, run ``python docs/gen_author_api.py``), and it has
  an entry for every public name and a row for every built-in misconception;
- docs/environment.md lists every ``GRADER_...`` variable the package reads, and no other;
- the links between the pages lead somewhere.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import grader.authoring
from grader.authoring.misconceptions import Catalogue

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ENV_NAME = re.compile(r"GRADER_[A-Z0-9_]+")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_author_api", DOCS / "gen_author_api.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_is_the_author_api_page_up_to_date() -> None:
    """The committed page equals a fresh rendering (else: python docs/gen_author_api.py)."""
    page = (DOCS / "authoring.md").read_text(encoding="utf-8")
    assert page == _generator().render(), "docs/authoring.md is out of date: run " \
                                          "python docs/gen_author_api.py"


def test_does_every_public_name_have_an_entry() -> None:
    """Each name of each module's ``__all__`` has an entry in that module's section, or a link
    there to the entry of the module it comes from; each name of ``grader.authoring.__all__``
    a row linking to its entry."""
    page = (DOCS / "authoring.md").read_text(encoding="utf-8")
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', page))
    sections = dict(re.findall(r"^## `(grader\.authoring\.\w+)`\n(.*?)(?=^## |\Z)", page,
                               flags=re.MULTILINE | re.DOTALL))
    missing = []
    for info in pkgutil.iter_modules(grader.authoring.__path__):
        module = importlib.import_module(f"grader.authoring.{info.name}")
        prefix = module.__name__.replace(".", "-").replace("_", "-").lower()
        for name in getattr(module, "__all__", []):
            own = f"{prefix}-{name.replace('_', '-').lower()}"
            linked = re.search(rf"\[`{name}`\]\(#([^)]+)\)", sections.get(module.__name__, ""))
            if own not in anchors and not (linked and linked.group(1) in anchors):
                missing.append(f"{module.__name__}.{name}")
    for name in grader.authoring.__all__:
        row = re.search(rf"^\| \[`{name}`\]\(#([^)]+)\) \|", page, flags=re.MULTILINE)
        if not (row and row.group(1) in anchors):
            missing.append(f"grader.authoring.{name}")
    assert missing == []


def test_does_the_page_list_every_built_in_misconception() -> None:
    page = (DOCS / "authoring.md").read_text(encoding="utf-8")
    for m in Catalogue.builtin().values():
        assert f"| `{m.key}` | {m.title} |" in page, m.key


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
    assert {"GRADER_COURSE", "GRADER_SECRET", "GRADER_WARM_START"} <= read
    assert rows == read


def test_do_the_links_between_the_pages_lead_somewhere() -> None:
    """Each relative link of docs/*.md names an existing file, and if it names an anchor, an
    explicit one (``<a id="...">``) of that file."""
    broken = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (page.parent / file) if file else page
            if not linked.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and f'id="{anchor}"' not in linked.read_text(encoding="utf-8"):
                broken.append(f"{page.name}: {target}")
    assert broken == []
