"""``grader selftest`` through the real command line: exit 0 on this course (what CI runs),
1 with the cause on a broken course, 2 on usage errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "stats_course"


def selftest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m grader selftest ARGS`` in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "grader", "selftest", *args], cwd=cwd,
                          text=True, capture_output=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "GRADER_SECRET": ""})


def test_does_selftest_pass_on_this_course() -> None:
    """The CI check: the reference, stubs, coverage, points, every mutant of mutants/ and a
    second grading all hold for 5 student ids."""
    done = selftest("--ids", "5")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("selftest of Backpropagation with numpy")
    assert "PASS  reference: full marks" in done.stdout
    assert "5 ids x" in done.stdout
    assert "FAIL" not in done.stdout
    assert sum(line.startswith("PASS  mutant ") for line in lines) >= 15
    assert lines[-1].startswith(f"{len(lines) - 2} of {len(lines) - 2} checks passed in ")


def test_does_selftest_exit_1_naming_the_cause(tmp_path: Path) -> None:
    """A mutant that costs another function points: exit 1, its row FAIL with the cause."""
    course = Path(shutil.copytree(FIXTURE, tmp_path / "stats"))
    (course / "mutants" / "moments.py").write_text(
        'MUTANTS = [{"key": "sum_instead_of_mean", "module": "moments", "function": "mean", '
        '"old": "float(np.sum(x) / len(x))", "new": "float(np.sum(x))"}]\n', encoding="utf-8")
    done = selftest("--ids", "2", "--course", str(course), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  mutant moments-0-sum_instead_of_mean" in done.stdout
    assert "moments.variance loses 6 points too" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("7 of 8 checks passed, 1 FAILED in ")


def test_are_usage_errors_exit_2(tmp_path: Path) -> None:
    """No course around, or fewer than one id: exit 2 with the reason."""
    done = selftest(cwd=tmp_path)
    assert done.returncode == 2 and "no course.toml" in done.stderr, done.stderr
    done = selftest("--ids", "0", "--course", str(FIXTURE), cwd=tmp_path)
    assert done.returncode == 2 and "--ids" in done.stderr, done.stderr
