"""Does the documentation site build, with every warning an error?

``mkdocs build --strict`` runs as a subprocess, as a reader would run it: a page missing from
the navigation, a broken link or anchor, or a docstring mkdocstrings cannot read fails it.
The built author guide then holds an entry for every public name of ``grader.authoring``
(each module's ``__all__``), rendered from the docstrings.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import grader.authoring

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    script = shutil.which("mkdocs")
    mkdocs = [script] if script else [sys.executable, "-m", "mkdocs"]
    done = subprocess.run([*mkdocs, "build", "--strict", "-d", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
    assert done.returncode == 0, "\n".join(warnings) or done.stderr[-3000:]
    return out


def test_does_every_page_of_the_nav_build(site: Path) -> None:
    """Each Markdown page of docs/ is a page of the site."""
    for page in (ROOT / "docs").glob("*.md"):
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), page.name


def test_does_the_api_reference_hold_every_public_name(site: Path) -> None:
    """An entry (an element with the name's full path as id) for every name of every
    module's ``__all__`` of grader.authoring, and one for the package itself."""
    html = (site / "authoring" / "index.html").read_text(encoding="utf-8")
    ids = set(re.findall(r'id="(grader\.authoring[\w.]*)"', html))
    expected = {"grader.authoring"}
    for info in pkgutil.iter_modules(grader.authoring.__path__):
        module = importlib.import_module(f"grader.authoring.{info.name}")
        expected |= {f"{module.__name__}.{name}" for name in getattr(module, "__all__", [])}
    assert expected - ids == set()
