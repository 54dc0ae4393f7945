"""A command whose library is not installed (the student package installs only what students
need) ends in one line naming the package and what to install, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Blocks the instructor-only libraries the way a student install lacks them: `import x` of a
# module whose sys.modules entry is None raises ModuleNotFoundError naming x.
_RUN = """
import sys
for name in ("jsonschema", "tqdm"):
    sys.modules[name] = None
from grader.cli import main
main(sys.argv[1:], prog_name="grader")
"""


def test_grading_without_its_libraries_names_the_package_and_the_install(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, "grade", str(ROOT / "examples" / "submissions" / "ada.zip"),
         "--out", str(tmp_path / "out"), "--course", str(ROOT)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "`grader grade` needs the Python package" in proc.stderr
    assert "pip install path/to/backprop-grader" in proc.stderr


def test_checking_needs_neither_library(tmp_path: Path) -> None:
    """What a student runs works without them: the failure above is the library, not the CLI."""
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, "check", "activations", "--path",
         str(ROOT / "solutions"), "--course", str(ROOT)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "needs the Python package" not in proc.stderr
