"""Resubmissions: a rerun regrades exactly the students whose files changed, and a changed
submission gets fresh inputs (no free oracle), while the same files get the same inputs.
Each run is the real CLI on the toy course."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_toy_course

from grader.batch.submissions import Submission, unpack
from grader.engine import results

SHOWS_INPUT = "toy::test_add_one_shows_its_input"
CORRECT = "import numpy as np\n\n\ndef add_one(x):\n    return np.asarray(x, dtype=float) + 1.0\n"


def grader(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], text=True,
                          capture_output=True, timeout=300)


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    make_toy_course(tmp_path / "course")
    return tmp_path / "course"


def grade(klass: Path, out: Path, course: Path) -> subprocess.CompletedProcess[str]:
    proc = grader("grade", str(klass), "--out", str(out), "--course", str(course),
                  "--jobs", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def shown_input(out: Path, student: str) -> str:
    result = results.load(results.result_path(out, student))
    assert result is not None
    (test,) = [t for t in result["tests"] if t["id"] == SHOWS_INPUT]
    match = re.search(r"input was (\d+)", test["feedback"])
    assert match, test["feedback"]
    return match.group(1)


def make_class(root: Path, count: int) -> Path:
    for i in range(count):
        (root / f"s{i}").mkdir(parents=True)
        (root / f"s{i}" / "toy.py").write_text(CORRECT)
    return root


def test_does_a_rerun_regrade_changed_files_and_keep_unchanged_ones(tmp_path: Path,
                                                                    course: Path) -> None:
    """Five graded; s1 fixes a typo, s3 adds a helper module: does the rerun regrade exactly
    those two, keep the three others untouched, and say how many of each?"""
    klass, out = make_class(tmp_path / "class", 5), tmp_path / "out"
    grade(klass, out, course)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    (klass / "s1" / "toy.py").write_text(CORRECT + "# fixed a typo\n")
    (klass / "s3" / "nn_utils.py").write_text("HELP = 1\n")
    proc = grade(klass, out, course)
    assert "5 submissions: 0 new, 2 regraded (files changed), 3 kept (files unchanged)" in \
        proc.stdout
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    changed = sorted(name for name in before if after[name] != before[name])
    assert changed == ["s1.json", "s3.json"]
    for student in ("s1", "s3"):
        result = results.load(out / f"{student}.json")
        assert result is not None
        files = unpack(Submission(student, klass / student), ["toy"])
        assert result["files_digest"] == files.digest()


def test_is_a_result_without_a_digest_regraded(tmp_path: Path, course: Path) -> None:
    """A result written before digests were recorded cannot prove its files are unchanged:
    is it regraded?"""
    klass, out = make_class(tmp_path / "class", 2), tmp_path / "out"
    grade(klass, out, course)
    old = json.loads((out / "s0.json").read_text())
    del old["files_digest"]
    (out / "s0.json").write_text(json.dumps(old))
    proc = grade(klass, out, course)
    assert "1 regraded (files changed), 1 kept (files unchanged)" in proc.stdout


def test_do_changed_files_get_fresh_inputs_and_the_same_files_the_same(tmp_path: Path,
                                                                      course: Path) -> None:
    """No free oracle: a resubmission with changed code sees new inputs on every test; the
    same files, regraded with --force or under another folder, see the same inputs."""
    klass, out = make_class(tmp_path / "class", 1), tmp_path / "out"
    grade(klass, out, course)
    first = shown_input(out, "s0")
    proc = grader("grade", str(klass), "--out", str(out), "--course", str(course), "--force")
    assert proc.returncode == 0
    assert shown_input(out, "s0") == first
    seen = {first}
    for attempt in range(3):
        (klass / "s0" / "toy.py").write_text(CORRECT + f"# attempt {attempt}\n")
        grade(klass, out, course)
        seen.add(shown_input(out, "s0"))
    assert len(seen) == 4


def test_does_gradescope_seed_from_the_files_too(tmp_path: Path, course: Path) -> None:
    """Does the Gradescope entry point give a changed upload fresh inputs, and the same
    upload the same ones?"""
    upload = tmp_path / "submission"
    upload.mkdir()
    outputs = []
    for text in (CORRECT, CORRECT, CORRECT + "# changed\n"):
        (upload / "toy.py").write_text(text)
        out = tmp_path / "results.json"
        proc = grader("gradescope", "--submission", str(upload), "--results", str(out),
                      "--metadata", str(tmp_path / "none.json"), "--course", str(course))
        assert proc.returncode == 0, proc.stderr
        (test,) = [t for t in json.loads(out.read_text())["tests"]
                   if "seeded input" in t["name"]]
        outputs.append(test["output"])
    assert outputs[0] == outputs[1] != outputs[2]
