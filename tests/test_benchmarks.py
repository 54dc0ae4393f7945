"""The benchmark runs: ``benchmarks/bench.py --quick --skip-nbgrader`` exits 0 and prints every
figure's label. Its speed targets are the benchmark's business, not a timed test's: they are
not asserted here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
