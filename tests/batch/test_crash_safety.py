"""Crash safety of `grader grade` as a real process: SIGKILL in the middle of a batch, Ctrl-C,
and two runs on one output folder."""

from __future__ import annotations

import csv
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.engine import results

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class of eight: correct ones, stubs, and a few with a classic mistake."""
    folder = tmp_path_factory.mktemp("crash-class")
    for i in range(4):
        shutil.copytree(ROOT / "solutions", folder / f"ok{i}")
    shutil.copytree(ROOT / "exercises", folder / "stub")
    for name, module, old, new in (
        ("ben", "neuron", "delta = sigmoid_prime(z) * 2.0 * (a - y)",
         "delta = sigmoid_prime(z) * (a - y)"),
        ("eve", "losses", "return 2.0 * (A - Y) / A.shape[0]", "return 2.0 * (A - Y)"),
        ("dev", "mlp", "return dZ @ W, dZ.T @ A_prev, dZ.sum(axis=0)",
         "return dZ @ W, A_prev.T @ dZ, dZ.sum(axis=0)"),
    ):
        shutil.copytree(ROOT / "solutions", folder / name)
        path = folder / name / f"{module}.py"
        path.write_text(path.read_text().replace(old, new), encoding="utf-8")
    return folder


def _grade(klass: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out),
         "--course", str(ROOT), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_results(out: Path, count: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if len(results.load_all(out)) >= count if out.is_dir() else False:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no results appeared")


def _gradebook(out: Path) -> list[dict[str, str]]:
    with open(out / "gradebook.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def uninterrupted(klass: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    proc = _grade(klass, out, "--jobs", "2")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return out


def test_sigkill_then_rerun_gives_the_same_gradebook(klass: Path, uninterrupted: Path,
                                                     tmp_path: Path) -> None:
    """Killed with SIGKILL mid-batch, does the rerun resume (keeping what was done), leave no
    invalid result file, and end with the gradebook of an uninterrupted run?"""
    out = tmp_path / "out"
    proc = _grade(klass, out, "--jobs", "2")
    _wait_for_results(out, 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    assert kept and len(kept) < 8
    for path in out.glob("*.json"):
        assert results.load(path) is not None, f"{path.name} is not a valid result"
    rerun = _grade(klass, out, "--jobs", "2")
    report, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert f"{len(kept)} kept (files unchanged)" in report
    for name, mtime in kept.items():
        assert (out / name).stat().st_mtime_ns == mtime, f"{name} was regraded"
    assert _gradebook(out) == _gradebook(uninterrupted)


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(klass: Path, tmp_path: Path) -> None:
    """Does Ctrl-C (SIGINT to the whole process group) stop the batch within seconds, exit 1,
    say how to resume, leave only valid results, and a rerun finish the class?"""
    out = tmp_path / "out"
    proc = _grade(klass, out, "--jobs", "2")
    _wait_for_results(out, 1, proc)
    os.killpg(proc.pid, signal.SIGINT)
    started = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - started < 30
    assert proc.returncode == 1
    assert "interrupted after" in err and "run the same command again to resume" in err
    for path in out.glob("*.json"):
        assert results.load(path) is not None
    rerun = _grade(klass, out, "--jobs", "2")
    rerun.communicate(timeout=600)
    assert rerun.returncode == 0
    assert len(results.load_all(out)) == 8


def test_two_runs_on_one_folder_do_not_mix(klass: Path, tmp_path: Path) -> None:
    """While another run holds the output folder, does a second one refuse with a clear
    message (exit 1) and write nothing?"""
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".grader.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.write("4242")
        fh.flush()
        proc = _grade(klass, out)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "another `grader grade` (pid 4242) is writing to" in err
    assert list(out.glob("*.json")) == []


def test_a_sandbox_that_cannot_start_fails_the_run_not_the_students(tmp_path: Path) -> None:
    """When the sandbox cannot start at all (here: a memory limit too small for Python), does
    `grader grade` exit 1 naming the problem, instead of giving every student zero?"""
    course = tmp_path / "course"
    for name in ("exercises", "solutions", "checks", "autograde_tests"):
        shutil.copytree(ROOT / name, course / name, ignore=shutil.ignore_patterns("__pycache__"))
    config = (ROOT / "course.toml").read_text(encoding="utf-8")
    (course / "course.toml").write_text(config.replace("memory_mb = 2048", "memory_mb = 30"),
                                        encoding="utf-8")
    shutil.copytree(ROOT / "solutions", tmp_path / "class" / "ada")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(tmp_path / "class"), "--out", str(out),
         "--course", str(course)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "could not start" in proc.stderr + proc.stdout
    assert not (out / "ada.json").exists()
