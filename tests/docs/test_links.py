"""Does every link of the README and the docs lead somewhere a reader may go?

Each Markdown link (``[text](target)``) and each bare ``http(s)://`` address outside code, in
README.md and in every page of docs/:

- a relative target names a file of the repository that exists (from the page's folder), and
  an anchor into a Markdown page names one of its headings or explicit ids;
- an absolute one is ``https://`` on a public project's own site (the hosts below);
- every file the docs cite lives in this repository: no path in code climbs out of it
  (```../elsewhere/NOTES.md```), and every file of the framework, the tests, the benchmarks or
  the examples that a page names in code (```grader/sandbox/evidence.py```) exists.

The README is also short: what a newcomer needs, under 150 lines.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: the public projects the docs may link to: their own sites and documentation
PUBLIC_HOSTS = frozenset({
    "www.mkdocs.org", "squidfunk.github.io", "mkdocstrings.github.io", "numpy.org",
    "docs.python.org", "pypi.org", "github.com", "nbgrader.readthedocs.io",
    "jupyter.org", "docs.jupyter.org", "docs.dask.org", "distributed.dask.org",
    "gradescope-autograders.readthedocs.io", "help.gradescope.com", "www.gradescope.com",
    "otter-grader.readthedocs.io", "community.canvaslms.com", "canvas.instructure.com",
    "docs.moodle.org", "moodle.org", "copydetect.readthedocs.io", "theory.stanford.edu",
    "scikit-learn.org", "matplotlib.org", "playwright.dev",
    "json-schema.org", "docs.pytest.org", "packaging.python.org",
})

FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
BARE = re.compile(r"(?<![(<\w])https?://[^\s)>\]]+")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
CITED = re.compile(r"`((?:grader|tests|benchmarks|examples|\.ci)/[\w/.-]*\w"
                   r"\.(?:py|json|html|md|toml))`")
EXPLICIT_ID = re.compile(r"""\bid=["']([^"']+)["']""")


def prose(text: str) -> str:
    """The page without its fenced blocks and code spans."""
    return CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor a heading gets (Python-Markdown's toc, as MkDocs uses it; GitHub's agrees on
    the headings of these pages)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[`*_]", "", text).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[\s-]+", "-", text).strip("-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page: its headings', its explicit ids, and those of the entries that
    mkdocstrings renders for each ``::: module`` block (``module`` and ``module.name``)."""
    text = page.read_text(encoding="utf-8")
    found = {slug(h) for h in HEADING.findall(FENCE.sub("", text))}
    found |= set(EXPLICIT_ID.findall(text))
    for module in re.findall(r"^:::\s+([\w.]+)\s*$", text, re.MULTILINE):
        found |= {module} | {f"{module}.{name}" for name in vars(importlib.import_module(module))}
    return found


def targets(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    return LINK.findall(text) + BARE.findall(LINK.sub("", text))


def problem(page: Path, target: str) -> str | None:
    """Why ``target`` of ``page`` is not a link a reader may follow, or None."""
    parts = urlsplit(target)
    if parts.scheme:
        if parts.scheme != "https":
            return "is not https"
        if parts.hostname not in PUBLIC_HOSTS:
            return f"leads to {parts.hostname}, not a public project's site listed here"
        return None
    file, _, anchor = target.partition("#")
    linked = (page.parent / file).resolve() if file else page
    if not linked.is_relative_to(ROOT):
        return "leads outside the repository"
    if not linked.exists():
        return "names no file of the repository"
    if anchor and linked.suffix == ".md" and anchor not in anchors(linked):
        return f"names no heading #{anchor} of {linked.name}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_does_every_link_lead_somewhere(page: Path) -> None:
    broken = [f"{target}: {why}" for target in targets(page)
              if (why := problem(page, target)) is not None]
    assert broken == []


#: a relative path in code that climbs out of its folder (```../x/y.md```)
CLIMBING = re.compile(r"`((?:\.\./)+[\w./-]+)`")


def outside(page: Path, text: str | None = None) -> list[str]:
    """The paths that ``page`` (or ``text``, read as if it were the page) names in code and
    that lead outside the repository."""
    text = page.read_text(encoding="utf-8") if text is None else text
    return [path for path in CLIMBING.findall(text)
            if not (page.parent / path).resolve().is_relative_to(ROOT)]


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_does_no_page_cite_a_file_outside_the_repository(page: Path) -> None:
    assert outside(page) == []


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_does_every_file_a_page_names_exist(page: Path) -> None:
    named = set(CITED.findall(page.read_text(encoding="utf-8")))
    assert sorted(path for path in named if not (ROOT / path).exists()) == []


def test_does_the_checker_catch_bad_links(tmp_path: Path) -> None:
    """The rules above, on links that break each one."""
    page = ROOT / "docs" / "index.md"
    assert problem(page, "contract.md") is None
    assert problem(page, "nope.md") == "names no file of the repository"
    assert problem(page, "contract.md#no-such-heading") is not None
    assert problem(page, "../../etc/passwd") == "leads outside the repository"
    assert problem(page, "http://www.mkdocs.org/") == "is not https"
    assert problem(page, "https://intranet.example.edu/x") is not None
    assert problem(page, "https://www.mkdocs.org/") is None
    assert problem(page, "../../notes/CONTRACT.md") == "leads outside the repository"
    cited = "as `../../notes/CONTRACT.md` says; see `../docs/index.md`\n"
    assert outside(page, cited) == ["../../notes/CONTRACT.md"]
    assert slug("Starting a course (`grader new`)") == "starting-a-course-grader-new"
    sample = tmp_path / "p.md"
    sample.write_text("see [a](x.md), `[b](y.md)` and https://example.org/z\n"
                      "```\n[c](z.md)\n```\n", encoding="utf-8")
    assert targets(sample) == ["x.md", "https://example.org/z"]


def test_is_the_readme_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 150
