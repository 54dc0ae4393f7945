"""Grading on a Dask cluster (`grader grade --executor dask`): the same results as a local run.

A `distributed.LocalCluster` of two worker processes stands in for a cluster; its workers grade
in the same bubblewrap sandbox as local workers. The client (this process, or a `grader grade`
process) reads the submissions and writes every result.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import distributed
import pytest
from click.testing import CliRunner

from grader.batch import pipeline as batch
from grader.batch.executors import dask as executors
from grader.batch.submissions import Submission
from grader.cli import main
from grader.course.config import Course, load_course
from grader.engine import results

ROOT = Path(__file__).resolve().parents[2]
STUDENTS = ["ben", "broken", "ref", "stub"]


def local_cluster(workers: int, **options: Any) -> distributed.LocalCluster:
    """Worker processes of one thread each, like `dask worker --nthreads 1`; no dashboard, and
    the scheduler's HTTP server on a free port."""
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    dashboard_address=None,
                                    scheduler_kwargs={"dashboard_address": ":0"}, **options)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """The scheduler address of a local cluster: two worker processes, one thread each."""
    with local_cluster(2) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def course() -> Course:
    """This repository's course, with a secret of its own."""
    return load_course(ROOT, secret="dask-test-secret")


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference, a copy of the stubs, a mutant (the missing factor 2 of 2 (a - y)) and
    a zip that is not a zip."""
    folder = tmp_path_factory.mktemp("dask-class")
    shutil.copytree(ROOT / "solutions", folder / "ref")
    shutil.copytree(ROOT / "exercises", folder / "stub")
    shutil.copytree(ROOT / "solutions", folder / "ben")
    neuron = folder / "ben" / "neuron.py"
    text = neuron.read_text(encoding="utf-8")
    old = "delta = sigmoid_prime(z) * 2.0 * (a - y)"
    assert old in text
    neuron.write_text(text.replace(old, "delta = sigmoid_prime(z) * (a - y)"), encoding="utf-8")
    (folder / "broken.zip").write_bytes(b"PK\x03\x04 this is not a zip archive")
    return folder


@pytest.fixture(scope="module")
def local(klass: Path, course: Course, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The class graded on this machine: what every Dask run must reproduce (one process:
    forking the test process, where the cluster's threads run, is not safe)."""
    out = tmp_path_factory.mktemp("local")
    report = batch.grade([klass], course=course, out=out, jobs=1, gradescope=True,
                         log=io.StringIO())
    assert report.ok
    return out


def normalised(out: Path) -> dict[str, results.Result]:
    """Each student's result without what differs between two runs (the times)."""
    loaded = {}
    for result in results.load_all(out):
        result.pop("graded_at")
        result.pop("seconds", None)
        for test in result["tests"]:
            test.pop("seconds", None)
        loaded[result["student"]] = result
    return loaded


def assert_same_results(out: Path, expected: Path) -> None:
    """Results equal student by student and test by test; identical gradebooks and
    Gradescope files."""
    mine, theirs = normalised(out), normalised(expected)
    assert sorted(mine) == sorted(theirs) == STUDENTS
    for student, result in theirs.items():
        tests = {t["id"]: t for t in mine[student].pop("tests")}
        wanted = {t["id"]: t for t in dict(result).pop("tests")}
        assert list(tests) == list(wanted), student
        for test_id, test in wanted.items():
            assert tests[test_id] == test, f"{student} {test_id}"
        assert mine[student] == {k: v for k, v in result.items() if k != "tests"}, student
    assert (out / "gradebook.csv").read_bytes() == (expected / "gradebook.csv").read_bytes()
    for student in STUDENTS:
        name = f"{student}.gradescope.json"
        assert (out / name).read_bytes() == (expected / name).read_bytes(), name


def test_the_class_graded_on_dask_matches_the_local_run(
    cluster: str, klass: Path, course: Course, local: Path, tmp_path: Path,
) -> None:
    """Through the Python API, does a Dask run give, test by test, the results, gradebook and
    Gradescope files of a local run, with every result written by this process?"""
    log = io.StringIO()
    out = tmp_path / "dask"
    report = batch.grade([klass], course=course, out=out, gradescope=True, log=log,
                         executor="dask", scheduler=cluster)
    assert report.ok, report.failures
    assert [(g.student, g.score) for g in report.graded] == [
        ("ben", 97.0), ("broken", 0.0), ("ref", 100.0), ("stub", 0.0)]
    assert "grading on 2 Dask workers (2 threads)" in log.getvalue()
    assert_same_results(out, local)
    broken = results.load(out / "broken.json")
    assert broken is not None and "not a readable zip archive" in broken["errors"][0]
    ben = results.load(out / "ben.json")
    assert ben is not None and any(
        (t["diagnosis"] or {}).get("key") == "missing_factor_2" for t in ben["tests"])


def test_the_cli_on_dask_matches_the_local_run_and_resumes(
    cluster: str, klass: Path, local: Path, tmp_path: Path,
) -> None:
    """Does `grader grade --executor dask --scheduler ADDRESS` (a real process) exit 0 with
    the local run's results, and does a rerun keep every result untouched?"""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out),
               "--course", str(ROOT), "--secret", "dask-test-secret", "--gradescope",
               "--executor", "dask", "--scheduler", cluster]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "graded: 4 submissions: 4 new, 0 regraded (files changed), 0 kept" in proc.stdout
    assert_same_results(out, local)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "0 new, 0 regraded (files changed), 4 kept" in rerun.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")} == before


def test_ctrl_c_cancels_the_cluster_jobs_and_says_how_to_resume(
    cluster: str, toy_course: Course, tmp_path: Path,
) -> None:
    """Does Ctrl-C stop a Dask run within seconds, exit 1, say how to resume, and leave only
    valid results, which a rerun keeps while it grades the rest?"""
    klass = tmp_path / "class"
    for i in range(8):
        (klass / f"slow{i}").mkdir(parents=True)
        (klass / f"slow{i}" / "toy.py").write_text(
            "import time\nimport numpy as np\n\n\ndef add_one(x):\n    time.sleep(0.5)\n"
            "    return np.asarray(x, dtype=np.float64) + 1.0\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "grade", str(klass), "--out", str(out),
               "--course", str(toy_course.root), "--executor", "dask", "--scheduler", cluster]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and results.load_all(out)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no result appeared"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    started = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - started < 30
    assert proc.returncode == 1, err
    assert "interrupted after" in err and "run the same command again to resume" in err
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    assert 1 <= len(kept) < 8
    assert all(results.load(out / name) is not None for name in kept)
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(kept)} kept (files unchanged)" in rerun.stdout
    assert all((out / name).stat().st_mtime_ns == mtime for name, mtime in kept.items())
    assert len(results.load_all(out)) == 8


def test_a_worker_with_another_copy_of_the_course_stops_the_run(
    cluster: str, klass: Path, course: Course, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the workers' course differs from the client's, does the run stop before grading
    anyone, naming the workers and the fix?"""
    monkeypatch.setattr(executors, "fingerprint", lambda course: "0" * 64)  # client side only
    out = tmp_path / "out"
    with pytest.raises(executors.ClusterError) as caught:
        batch.grade([klass], course=course, out=out, executor="dask", scheduler=cluster,
                    log=io.StringIO())
    message = str(caught.value)
    assert message.startswith("2 of 2 Dask workers cannot grade this course")
    assert "differs from the client's copy; install the same course on every worker" in message
    assert results.load_all(out) == []


def test_a_worker_without_bubblewrap_refuses_unless_told_to_accept_it(
    toy_course: Course, modules: Callable[..., Path], tmp_path: Path,
) -> None:
    """Unisolated student code could open a socket to the scheduler: does a worker without
    bubblewrap refuse the whole run, and grade once its operator accepts reduced isolation?"""
    alice = modules(tmp_path / "class" / "alice",
                    toy=(toy_course.solutions / "toy.py").read_text())
    out = tmp_path / "out"
    with local_cluster(1, env={"GRADER_ISOLATION": "none"}) as weak:
        with pytest.raises(executors.ClusterError) as caught:
            batch.grade([alice], course=toy_course, out=out, executor="dask",
                        scheduler=weak.scheduler_address, log=io.StringIO())
        assert "1 of 1 Dask workers cannot grade this course" in str(caught.value)
        assert "isolation is 'none', not bubblewrap" in str(caught.value)
        assert results.load_all(out) == []
        with distributed.Client(weak, set_as_default=False) as client:
            client.run(lambda: os.environ.update({executors.ALLOW_REDUCED: "1"}))
        report = batch.grade([alice], course=toy_course, out=out, executor="dask",
                             scheduler=weak.scheduler_address, log=io.StringIO())
    assert report.ok and [(g.student, g.score) for g in report.graded] == [("alice", 2.0)]


@pytest.mark.parametrize(("args", "expected"), [
    (["--executor", "dask"], "--executor dask needs the scheduler's address"),
    (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler is for --executor dask"),
    (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:8786", "--jobs", "2"],
     "--jobs is for the local executor"),
])
def test_executor_usage_errors(args: list[str], expected: str, klass: Path,
                               tmp_path: Path) -> None:
    """Are options that do not fit the executor usage errors (exit 2) that say why?"""
    result = CliRunner().invoke(main, ["grade", str(klass), "--out", str(tmp_path / "out"),
                                       "--course", str(ROOT), *args])
    assert result.exit_code == 2
    assert expected in result.output
    assert not (tmp_path / "out").exists()


def test_without_dask_installed_the_cli_says_how_to_install_it(
    klass: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without dask.distributed, is `--executor dask` a usage error naming the extra?"""
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    result = CliRunner().invoke(main, ["grade", str(klass), "--out", str(tmp_path / "out"),
                                       "--course", str(ROOT), "--executor", "dask",
                                       "--scheduler", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2
    assert "pip install 'backprop-grader[dask]'" in result.output


def test_results_travel_as_plain_json(klass: Path, course: Course) -> None:
    """Is what a worker returns plain JSON data (it crosses the cluster and is written by the
    client), and is the job it grades plain data read on the client?"""
    job = batch.read_submission(Submission("ref", klass / "ref"), course)
    assert job.unpacked is not None and set(job.unpacked.modules) == set(course.modules)
    result = executors.grade_on_worker(course, executors.fingerprint(course), course.secret,
                                       job)
    assert json.loads(json.dumps(result)) == result
    assert result["score"] == 100.0


def test_each_worker_keeps_the_course_it_loaded_in_the_graders_plugin(
    cluster: str, klass: Path, course: Course, tmp_path: Path,
) -> None:
    """Does every worker hold what it has loaded in the grader's worker plugin, and keep it
    for the next run, which loads nothing again (the plugin is registered once)?"""

    def loads(dask_worker: distributed.Worker) -> int:
        plugin = dask_worker.plugins[executors.PLUGIN]
        assert isinstance(plugin, executors.CoursePlugin) and plugin.courses is not None
        return plugin.courses.loads

    counts = []
    for run in ("first", "second"):
        report = batch.grade([klass], course=course, out=tmp_path / run, executor="dask",
                             scheduler=cluster, log=io.StringIO())
        assert report.ok, report.failures
        with distributed.Client(cluster, set_as_default=False) as client:
            counts.append(client.run(loads))
    assert len(counts[0]) == 2 and sum(counts[0].values()) >= 1
    assert counts[1] == counts[0]  # the second run loaded nothing again
