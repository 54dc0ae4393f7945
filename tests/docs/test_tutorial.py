"""Does docs/tutorial.md work as written?

Every file the tutorial shows (a fenced block right after a line ``File `PATH`:``) is written
and every command of its ``console`` blocks (a line starting with ``$ ``) is run, in page
order, in a temporary folder: through bash, exactly as written, except that ``grader`` becomes
``python -m grader`` when no ``grader`` script is on PATH; ``cd DIR`` moves the folder the next
commands run in. Each command must exit with 0, or with the code its comment names
(``# exit code 1: ...``), and print every line the tutorial shows after it, where ``...``
stands for any text (a line of only ``...``: lines left out).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(\S*)\s*$")
FILE = re.compile(r"^File `([^`]+)`:$")
EXIT = re.compile(r"#.*\bexit code (\d+)")


@dataclass
class Command:
    """A command of a console block, with what the tutorial shows it printing."""

    line: str
    shown: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        found = EXIT.search(self.line)
        return int(found.group(1)) if found else 0


@dataclass
class File:
    """A file the tutorial shows, by its path relative to the course folder."""

    path: str
    text: str


def steps(markdown: str) -> list[Command | File]:
    """The tutorial's files and commands, in page order."""
    found: list[Command | File] = []
    lines = markdown.splitlines()
    previous = ""  # the last non-blank line outside a block
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            if lines[i].strip():
                previous = lines[i]
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        body = lines[i + 1:end]
        named = FILE.match(previous)
        if named:
            found.append(File(named.group(1), "\n".join(body) + "\n"))
        elif opening.group(1) == "console":
            for line in body:
                if line.startswith("$ "):
                    found.append(Command(line[2:]))
                elif line.strip():
                    command = found[-1]
                    assert isinstance(command, Command), f"output before a command: {line}"
                    command.shown.append(line.rstrip())
        previous = ""
        i = end + 1
    return found


def _shell(line: str) -> str:
    """The command as bash runs it: ``grader`` through this Python if no script is on PATH."""
    if shutil.which("grader"):
        return line
    return re.sub(r"(^|&&\s*|\|\|\s*|;\s*|\|\s*)grader\b", rf"\1{sys.executable} -m grader", line)


def _matches(shown: str, printed: list[str]) -> bool:
    pattern = ".*".join(re.escape(part) for part in shown.split("..."))
    return any(re.fullmatch(pattern, line) for line in printed)


def test_the_tutorial_has_files_and_commands() -> None:
    """The parts the test relies on: files with paths, commands, an expected failure."""
    found = steps(TUTORIAL.read_text(encoding="utf-8"))
    files = {s.path for s in found if isinstance(s, File)}
    assert {"course.toml", "exercises/moments.py", "solutions/moments.py",
            "checks/check_moments.py", "autograde_tests/test_moments.py"} <= files
    commands = [s for s in found if isinstance(s, Command)]
    assert any(c.exit_code == 1 for c in commands)
    words = {c.line.split()[1] for c in commands if c.line.startswith("grader ")}
    assert {"check", "grade", "release"} <= words


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    """Every file written, every command run: the exit codes and lines the tutorial shows."""
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_SECRET", "GRADER_COURSE")}
    here = tmp_path
    for step in steps(TUTORIAL.read_text(encoding="utf-8")):
        if isinstance(step, File):
            target = here / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text, encoding="utf-8")
            continue
        moved = re.fullmatch(r"cd (\S+)", step.line.strip())
        if moved:
            here = (here / moved.group(1)).resolve()
            assert here.is_dir(), step.line
            continue
        proc = subprocess.run(["bash", "-c", _shell(step.line)], cwd=here, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        printed = [line.rstrip() for line in proc.stdout.splitlines()]
        assert proc.returncode == step.exit_code, (step.line, proc.returncode, proc.stdout)
        missing = [s for s in step.shown if s != "..." and not _matches(s, printed)]
        assert not missing, (step.line, missing, proc.stdout)


@pytest.mark.parametrize("shown, ok", [("total: 10 points", True), ("total: ... points", True),
                                       ("...  Divided by n - 1", True), ("total: 9", False)])
def test_what_a_shown_line_matches(shown: str, ok: bool) -> None:
    printed = ["moments.py  (10 points)", "total: 10 points", "     1  Divided by n - 1"]
    assert _matches(shown, printed) is ok
