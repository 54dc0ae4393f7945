"""Does every command of the README and of the docs' quick starts work as written?

The commands are the fenced ``bash`` blocks of README.md, and in each page of docs/ the ONE
``bash`` block of a section whose heading contains "Quick start" (the convention of these
pages; a quick-start section without exactly one such block fails here). Each block runs as
a reader runs it: ``bash -euo pipefail`` on the block as written, in a fresh copy of the
repository (the files git lists, tracked and new), with one virtual environment for the whole
module (made with ``--system-site-packages``, so what this Python has is there and ``pip
install .`` builds only this project) whose ``bin`` comes first on PATH. A block that exits
non-zero fails its test, with its output; none is skipped.

Three of the README's blocks need more than an exit code:

- ``pip install . && grader grade examples/submissions --out results`` runs for real; then the
  venv must hold this project (its name and version, installed into the venv), and the
  results must be what the README says of the example class;
- ``pip install -e ".[test]" && python -m pytest -q`` is this test run itself: .ci/run must
  run that line verbatim;
- ``... && mkdocs serve`` runs until the site answers at http://127.0.0.1:8000, then stops.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\S*)\s*$")
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
TIMEOUT = 900  # seconds for one block
SERVE = ("127.0.0.1", 8000)
TEST_COMMAND = 'pip install -e ".[test]" && python -m pytest -q'


@dataclass(frozen=True)
class Block:
    """One block of commands, where it comes from, and what is wrong with it if it cannot
    be run (a quick-start section that breaks the convention)."""

    page: str
    index: int
    text: str
    problem: str = ""

    @property
    def id(self) -> str:
        return f"{self.page}#{self.index}"


def fenced(lines: list[str]) -> list[tuple[str, str]]:
    """The fenced blocks of some lines, as (language, text); headings in a fence are text."""
    blocks: list[tuple[str, str]] = []
    language, body = None, []
    for line in lines:
        fence = FENCE.match(line)
        if language is None and fence:
            language, body = fence.group(1), []
        elif language is not None and line.strip() == "```":
            blocks.append((language, "\n".join(body) + "\n"))
            language = None
        elif language is not None:
            body.append(line)
    return blocks


def quick_start_sections(text: str) -> list[list[str]]:
    """The lines under each heading that contains "Quick start", up to the next heading
    (headings inside fenced blocks do not count)."""
    sections: list[list[str]] = []
    current: list[str] | None = None
    in_fence = False
    for line in text.splitlines():
        heading = None if in_fence else HEADING.match(line)
        if FENCE.match(line) or (in_fence and line.strip() == "```"):
            in_fence = not in_fence
        if heading:
            current = [] if "quick start" in heading.group(2).lower() else None
            if current is not None:
                sections.append(current)
        elif current is not None:
            current.append(line)
    return sections


def blocks() -> list[Block]:
    """The README's bash blocks, then each docs page's quick start, in page order."""
    readme = fenced((ROOT / "README.md").read_text("utf-8").splitlines())
    found = [Block("README.md", i, text) for i, text in
             enumerate((text for language, text in readme if language == "bash"), 1)]
    for page in sorted((ROOT / "docs").glob("*.md")):
        name = page.relative_to(ROOT).as_posix()
        for i, section in enumerate(quick_start_sections(page.read_text("utf-8")), 1):
            bash = [text for language, text in fenced(section) if language == "bash"]
            if len(bash) == 1:
                found.append(Block(name, i, bash[0]))
            else:
                found.append(Block(name, i, "", f"{name}: its quick start #{i} has {len(bash)} "
                                                "bash blocks; the convention is exactly one"))
    return found


BLOCKS = blocks()


@dataclass(frozen=True)
class Env:
    """The venv and the repository's files, shared by the module's blocks."""

    venv: Path
    files: tuple[str, ...]
    scratch: Path

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
        env.update(PATH=f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
                   VIRTUAL_ENV=str(self.venv), PIP_DISABLE_PIP_VERSION_CHECK="1",
                   PIP_ROOT_USER_ACTION="ignore", NO_MKDOCS_2_WARNING="1")
        return env

    def copy(self, name: str) -> Path:
        """A fresh copy of the repository's files."""
        target = self.scratch / name
        for file in self.files:
            source, dest = ROOT / file, target / file
            if source.is_file() and not source.is_symlink():
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(source.read_bytes())
        return target


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    scratch = tmp_path_factory.mktemp("quickstarts")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    files = tuple(sorted({f for f in listed.stdout.decode().split("\0") if f}))
    venv = scratch / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, capture_output=True)
    return Env(venv, files, scratch)


def run(block: Block, env: Env, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = cwd / ".quickstart.sh"
    script.write_text(block.text, encoding="utf-8")
    done = subprocess.run(["bash", "-euo", "pipefail", str(script)], cwd=cwd, text=True,
                          capture_output=True, env=env.environ(), timeout=TIMEOUT)
    assert done.returncode == 0, (
        f"{block.id} exited {done.returncode}:\n{block.text}\n--- stdout\n{done.stdout[-4000:]}"
        f"\n--- stderr\n{done.stderr[-4000:]}")
    return done


def serve(block: Block, env: Env, cwd: Path) -> None:
    """Run a block that ends in ``mkdocs serve`` until the site answers, then stop it."""
    with socket.socket() as probe:
        assert probe.connect_ex(SERVE) != 0, f"port {SERVE[1]} is taken: stop what serves it"
    script = cwd / ".quickstart.sh"
    script.write_text(block.text, encoding="utf-8")
    log = cwd / ".serve.log"
    with log.open("w") as out:
        child = subprocess.Popen(["bash", "-euo", "pipefail", str(script)], cwd=cwd, text=True,
                                 stdout=out, stderr=subprocess.STDOUT, env=env.environ(),
                                 start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        page = ""
        while time.monotonic() < deadline and child.poll() is None and not page:
            try:
                with urllib.request.urlopen(f"http://{SERVE[0]}:{SERVE[1]}/", timeout=5) as r:
                    page = r.read().decode("utf-8", "replace")
            except OSError:
                time.sleep(1)
        assert page, f"{block.id}: no site at port {SERVE[1]}:\n{log.read_text()[-4000:]}"
        assert "<title>backprop-grader</title>" in page
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(timeout=30)


def check_example_class(env: Env, cwd: Path, stdout: str) -> None:
    """What the README says of ``pip install . && grader grade examples/submissions``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    python = env.venv / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import grader, importlib.metadata as m; "
                            f"print(grader.__file__); print(m.version({project['name']!r}))"],
        cwd=env.scratch, capture_output=True, text=True, check=True, env=env.environ())
    module_file, version = where.stdout.split()
    assert Path(module_file).is_relative_to(env.venv), "pip install . did not install grader"
    assert version == project["version"]
    assert (env.venv / "bin" / "grader").is_file()

    with (cwd / "results" / "gradebook.csv").open(newline="", encoding="utf-8") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    students = {p.stem for p in (cwd / "examples" / "submissions").iterdir()}
    assert set(rows) == students
    assert {p.stem for p in (cwd / "results").glob("*.json")} == students
    modules = tomllib.loads((cwd / "course.toml").read_text("utf-8"))["course"]["modules"]
    full = {m: float(rows["ada"][m]) for m in modules}
    for student in ("ada", "fay"):
        assert float(rows[student]["total"]) == float(rows[student]["max_score"]) == 100
    mistakes = {"ben": "missing factor 2", "cleo": "overflow in exp",
                "dev": "transposed gradient", "eve": "sum instead of mean"}
    for student, title in mistakes.items():
        lost = [m for m in modules if float(rows[student][m]) < full[m]]
        assert len(lost) == 1, (student, lost)
        assert any(title in line.lower() and student in line for line in stdout.splitlines()), \
            f"the summary does not name {student}'s {title}"
    assert float(rows["mallory"]["total"]) == 26
    assert float(rows["mallory"]["total"]) == full["activations"] + full["neuron"]


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_does_the_block_work_as_written(block: Block, env: Env) -> None:
    assert not block.problem, block.problem
    commands = [line.strip() for line in block.text.splitlines() if line.strip()]
    if block.page == "README.md" and commands == [TEST_COMMAND]:
        ci = (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
        assert commands[0] in (line.strip() for line in ci), ".ci/run must run the README's test"
        return
    cwd = env.copy(block.id.replace("/", "_").replace("#", "-"))
    if commands and commands[-1].endswith("mkdocs serve"):
        serve(block, env, cwd)
        return
    done = run(block, env, cwd)
    if "grader grade examples/submissions --out results" in block.text:
        check_example_class(env, cwd, done.stdout)


def test_are_the_readme_commands_there() -> None:
    """The README's quick start is what this module runs."""
    texts = [b.text.strip() for b in BLOCKS if b.page == "README.md"]
    assert "pip install . && grader grade examples/submissions --out results" in texts
    assert TEST_COMMAND in texts


def test_does_the_collector_follow_the_convention() -> None:
    """A quick start's one bash block is found, a heading in a fence ends nothing, and the
    section ends at the next heading."""
    page = ("# T\n## Quick start\ntext\n```bash\necho a\n```\n```python\n# not a heading\n"
            "```\n### sub\n```bash\necho b\n```\n## Quick start, again\n```bash\necho c\n```\n"
            "```bash\necho d\n```\n")
    sections = quick_start_sections(page)
    assert [[t for lang, t in fenced(s) if lang == "bash"] for s in sections] == \
        [["echo a\n"], ["echo c\n", "echo d\n"]]
    assert quick_start_sections("## Quick start\n\n## Other\n") == [[""]]
