"""The benchmark runs: ``benchmarks/bench.py --quick --skip-nbgrader`` exits 0 and prints every
figure's label. Its speed targets are the benchmark's business, not a timed test's: they are
not asserted here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LABELS = [
    # grader grade, per class size and --jobs
    "per-submission median s", "per-submission p95 s", "throughput /s", "peak memory MB",
    # the compute floor and the sandbox's share
    "compute floor", "sandbox share at --jobs 1", "where the time goes",
    # nbgrader (printed as skipped with --skip-nbgrader)
    "nbgrader autograde s/submission", "grader grade s/submission on the same notebooks",
    "nbgrader / grader grade ratio",
    # grader check
    "grader check (whole course)", "grader check (one module",
    # the targets
    "speed vs nbgrader autograde", "sandbox share of per-submission time", "size scaling",
    "jobs scaling", "memory growth", "grader check, whole course", "grader check, one module",
]


def test_quick_benchmark_prints_every_figure(tmp_path: Path) -> None:
    """Does the quick benchmark run to the end and print every figure's label?"""
    # --quick means classes of 20 and 60 (about 4 minutes on 2 CPUs); two small classes keep
    # this smoke test near a minute and still cover every part of the script.
    env = {k: v for k, v in os.environ.items() if k != "GRADER_SECRET"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--skip-nbgrader",
         "--sizes", "4", "8", "--out", str(tmp_path / "bench")],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    missing = [label for label in LABELS if label not in proc.stdout]
    assert missing == [], proc.stdout
    assert (tmp_path / "bench" / "bench.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench"]  # nothing else written


def test_nbgrader_seconds_per_student_come_from_its_log() -> None:
    """Are nbgrader's per-student seconds the gaps between its log lines, across midnight?"""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = bench  # dataclasses look their module up there
    try:
        spec.loader.exec_module(bench)
    finally:
        del sys.modules["bench"]
    log = "\n".join([
        "23:59:58.000 [AutogradeApp | INFO] Copying submitted/s1/backprop/a.ipynb -> x",
        "23:59:59.500 [AutogradeApp | INFO] Converting notebook submitted/s1/backprop/b.ipynb",
        "not a log line submitted/s2/",
        "00:00:02.250 [AutogradeApp | INFO] Copying submitted/s2/backprop/a.ipynb -> x",
        "00:00:09.000 [AutogradeApp | INFO] Writing 1 bytes to autograded/s2/backprop/a.ipynb",
    ])
    run = bench.Run(0, 11.0, 1.0, "", log, 0.0)
    assert bench._nbgrader_seconds(run, ["s1", "s2"]) == {"s1": 4.25, "s2": 6.75}
