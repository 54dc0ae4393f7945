"""A batch no student can stop: a worker that does not finish a submission within that
submission's budget (plus its last call's deadline and a slack) is killed and replaced, the
student gets an error result, and everyone else is graded. Real CLI, real worker processes.

The hang is on the grader's side, where no sandbox deadline reaches: the course's hidden test
itself blocks (with SIGTERM blocked too, so only SIGKILL ends it) when the student's function
returns 42, as a grader stuck in a pipe write to a child that never reads would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TOY_SOLUTION, make_toy_course

from grader.engine import results

HANGING_TESTS = '''\
"""Hidden tests of the toy module; one hangs in the grader's own process on request."""

import signal
import time

from grader.authoring import graded


@graded("add_one", points=2.0, visibility="visible")
def test_add_one_matches_reference(ctx):
    """add_one matches the reference on random inputs"""
    x = ctx.rng.normal(size=(4,))
    out = ctx.student.add_one(x)
    if out is not None and float(out[0]) == 42.0:  # grader-side hang: no sandbox deadline
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        time.sleep(3600)
    ctx.expect_close(out, ctx.ref.add_one(x), rtol=1e-12, atol=1e-12)
'''
STUCK = "import numpy as np\n\n\ndef add_one(x):\n    return np.full(np.shape(x), 42.0)\n"
CALL, BUDGET, SLACK = 1.0, 2.0, 1.0


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    root = tmp_path / "course"
    make_toy_course(root, call_timeout=CALL, submission_timeout=BUDGET)
    (root / "autograde_tests" / "test_toy.py").write_text(HANGING_TESTS)
    return root


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_is_a_stuck_worker_replaced_and_the_batch_finished(course: Path, tmp_path: Path,
                                                           jobs: str) -> None:
    """Two students whose grading hangs, between honest ones: does the batch end within the
    sum of the budgets, with an error result for each stuck student and normal results for
    the others?"""
    klass = tmp_path / "class"
    for student, source in (("alice", TOY_SOLUTION), ("mallory", STUCK), ("bob", TOY_SOLUTION),
                            ("trudy", STUCK), ("carol", TOY_SOLUTION)):
        (klass / student).mkdir(parents=True)
        (klass / student / "toy.py").write_text(source)
    out = tmp_path / "out"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out), "--course",
         str(course), "--jobs", jobs],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "GRADER_WORKER_SLACK": str(SLACK)})
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    per_student = BUDGET + CALL + SLACK
    assert elapsed < 5 * per_student + 15  # the sum of the budgets, and startup
    graded = {r["student"]: r for r in results.load_all(out)}
    assert sorted(graded) == ["alice", "bob", "carol", "mallory", "trudy"]
    for student in ("alice", "bob", "carol"):
        assert graded[student]["score"] == 2.0
    for student in ("mallory", "trudy"):
        result = graded[student]
        assert result["score"] == 0.0
        assert any(f"did not finish within {per_student:g} s" in e for e in result["errors"])
        assert "files_digest" in result  # charged to these files: a rerun keeps it
    assert "grading stopped (replaced the worker): mallory, trudy" in proc.stdout
    assert (out / "gradebook.csv").read_text().count("\n") == 6


def test_does_gradescope_write_results_json_when_grading_hangs(course: Path,
                                                                tmp_path: Path) -> None:
    """A grading that hangs in the grader's own code inside Gradescope's container: does
    `grader gradescope` still end, within the deadline, with a valid results.json?"""
    upload = tmp_path / "submission"
    upload.mkdir()
    (upload / "toy.py").write_text(STUCK)
    target = tmp_path / "results" / "results.json"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "gradescope", "--submission", str(upload),
         "--results", str(target), "--metadata", str(tmp_path / "none.json"), "--course",
         str(course)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "GRADER_WORKER_SLACK": str(SLACK)})
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < BUDGET + CALL + SLACK + 15
    payload = json.loads(target.read_text())
    assert payload["score"] == 0
    assert "did not finish within" in payload["tests"][0]["output"]


def test_is_a_stuck_dask_job_given_up_and_its_worker_restarted(course: Path,
                                                                tmp_path: Path) -> None:
    """On a Dask cluster, a job whose grading hangs in the grader's own code: does the client
    give it up past twice the local deadline (a job may queue behind one other on its thread),
    write an error result for that student, restart the worker and grade everyone else?"""
    distributed = pytest.importorskip("distributed")
    klass = tmp_path / "class"
    for student, source in (("alice", TOY_SOLUTION), ("mallory", STUCK), ("bob", TOY_SOLUTION)):
        (klass / student).mkdir(parents=True)
        (klass / student / "toy.py").write_text(source)
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": ":0"}) as cluster:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out),
             "--course", str(course), "--executor", "dask", "--scheduler",
             cluster.scheduler_address],
            capture_output=True, text=True, timeout=180,
            env={**os.environ, "GRADER_WORKER_SLACK": str(SLACK)})
        elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    allowance = 2 * (BUDGET + CALL + SLACK)
    assert elapsed < 3 * allowance + 60  # the stuck job's allowance, restarts and startup
    graded = {r["student"]: r for r in results.load_all(out)}
    assert sorted(graded) == ["alice", "bob", "mallory"]
    assert graded["alice"]["score"] == graded["bob"]["score"] == 2.0
    assert graded["mallory"]["score"] == 0.0
    assert any(f"did not finish within {allowance:g} s" in e for e in graded["mallory"]["errors"])
    assert "grading stopped (replaced the worker): mallory" in proc.stdout
