"""Speed and scale of ``grader grade``: one script, one machine, every figure next to its target.

What it measures, in one run, in a temporary folder (nothing is written into the repository;
with ``--out DIR`` the figures also go to ``DIR/bench.json`` and the printed report to
``DIR/bench.txt``). Every command runs as a subprocess with this Python, on a copy of the
course, with bytecode cached in the temporary folder as an ordinary install would have it.

1. **grader grade** on a synthetic class through the real CLI (``python -m grader grade CLASS
   --out OUT --jobs J --course COURSE``), for each class size (``--sizes``, default 100 and
   1,000) with ``--jobs 1`` and ``--jobs 2``. The class repeats a block of 100 students: 9
   correct submissions (copies of the reference and of the independent implementation of
   ``tests/fixtures/independent/``, alternately), every catalogued misconception of
   ``mutants/*.py`` injected into the reference (89 students) and 2 that time out (a loop
   that never ends in ``layer.backward_loops``, a ``gradcheck.py`` whose import sleeps), spread
   evenly so that any prefix of the block is a fair mix; a class of n is the first n students.
   Per run: the per-submission time (median, p95 and mean of the results' ``seconds`` field),
   the throughput (n / wall time of the whole command, its start included), the peak memory
   (``ru_maxrss`` from ``os.wait4`` of the ``grader grade`` process: its own peak or that of a
   larger process it waited for; with ``--jobs 1`` the grading process itself), and "others
   running": how many processes outside the benchmark's own were running, on average, sampled
   once a second (another job on the machine distorts every figure; the report names the runs
   it touched).
2. **The compute floor**: the same hidden tests run directly on the reference in one process,
   no sandbox (``grader.sandbox.inprocess.InProcess`` with the reference modules as namespaces and
   ``grader.engine.runner.run_tests``), in a fresh Python with one BLAS thread as in the sandbox's
   child, after the tests' ``warm_up`` hook: the median of 5 student ids after a discarded run.
   The share of the sandbox (its start, process and data transfer) is ``1 - floor / median
   per-submission time`` at ``--jobs 1``. Where the time goes: per test, the sandboxed seconds
   of the reference copies against the same test in process, the largest differences first.
3. **nbgrader**: the first ``--nbgrader-students`` students of the class (default 20) as
   nbgrader notebooks (``grader nbgrader generate``, ``nbgrader generate_assignment``, each
   solution cell filled with the student's function), graded by ``nbgrader autograde`` and by
   ``grader grade --nbgrader-course --jobs 1`` on the same notebooks. Per student: nbgrader's
   seconds from the time stamps of its own log (from the first line naming the student's
   notebooks to the next student's), ours from the results' ``seconds``. The ratio is the
   median per submission of nbgrader's over the median of ours; the ratio of the means (where
   a student who times out weighs the same deadline on both sides) is printed too.
4. **grader check**: wall time of the CLI, median of 5 runs, on a whole correct submission and
   on one module (``neuron``).

Targets, printed with PASS/FAIL next to each figure: ``grader grade`` >= 30x faster per
submission than ``nbgrader autograde``; sandbox, process start and data transfer <= 15% of the
per-submission time at ``--jobs 1``; the largest class takes <= 1.05 x (size ratio) as long as
the smallest (1,000 vs 100: <= 10.5x); ``--jobs 2`` >= 1.7x the throughput of ``--jobs 1``; the
largest class's peak memory <= 1.2x the smallest's; ``grader check`` of the whole course < 2 s,
of one module < 0.5 s. A target that fails does not change the exit code (0 when every
measurement ran); the figures are the output.

Usage::

    python benchmarks/bench.py [--quick] [--sizes 100 1000] [--nbgrader-students 20]
                               [--skip-nbgrader] [--out DIR] [--keep]

``--quick`` (a smoke run) uses sizes 20 and 60 and 5 nbgrader students; ``--sizes`` and
``--nbgrader-students`` override it. ``--keep`` keeps the temporary folder. The benchmark runs
one thing at a time and wants the machine to itself: on 2 CPUs the default run takes about 45
minutes, most of it the 1,000-student class.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COURSE_PARTS = ("course.toml", "exercises", "solutions", "checks", "autograde_tests", "notes")
JOBS = (1, 2)
CORRECT = ("correct-reference", "correct-independent")  # alternately
N_CORRECT = 9  # correct submissions per block of the class
TIMEOUTS = ((0.1, "timeout-loop"), (0.6, "timeout-import"))  # where in the block, what kind
CHECK_MODULE = "neuron"
CHECK_RUNS = 5
FLOOR_RUNS = 5
ASSIGNMENT = "backprop"
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Targets (see the module docstring).
SPEEDUP_VS_NBGRADER = 30.0
SANDBOX_SHARE_MAX = 0.15
SCALING_SLACK = 1.05  # wall(large) / wall(small) <= 1.05 * large / small
JOBS2_SPEEDUP = 1.7
MEMORY_GROWTH_MAX = 1.2
CHECK_COURSE_MAX = 2.0
CHECK_MODULE_MAX = 0.5
DISTURBED = 0.2  # other processes running during a run, on average: its figures are suspect


# -- the synthetic class --------------------------------------------------------------------------
@dataclass(frozen=True)
class Student:
    """One synthetic student: who, what kind of submission, and which mistake."""

    student: str
    kind: str  # correct-reference, correct-independent, mutant, timeout-loop, timeout-import
    mutant: dict[str, Any] | None = None


def load_mutants() -> list[dict[str, Any]]:
    """The misconception catalogue of ``mutants/*.py``, interleaved across modules so that
    a prefix of the list covers every module."""
    by_module: list[list[dict[str, Any]]] = []
    for path in sorted((ROOT / "mutants").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"_bench_mutants_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        by_module.append(list(module.MUTANTS))
    interleaved: list[dict[str, Any]] = []
    for i in range(max(len(m) for m in by_module)):
        interleaved += [mutants[i] for mutants in by_module if i < len(mutants)]
    return interleaved


def block(mutants: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, Any] | None]]:
    """One block of the class: every mutant once, ``N_CORRECT`` correct submissions and the
    timeouts, spread evenly (with the 89 mutants of the catalogue, 100 students)."""
    size = len(mutants) + N_CORRECT + len(TIMEOUTS)
    special = {round(i * size / N_CORRECT): CORRECT[i % 2] for i in range(N_CORRECT)}
    for where, kind in TIMEOUTS:
        position = round(where * size)
        while position in special:
            position += 1
        special[position] = kind
    rest = iter(mutants)
    return [(special[i], None) if i in special else ("mutant", next(rest)) for i in range(size)]


def roster(size: int, mutants: Sequence[dict[str, Any]]) -> list[Student]:
    """The first ``size`` students of the repeated block (the same ids in every class size)."""
    pattern = block(mutants)
    students: list[Student] = []
    for index in range(size):
        kind, mutant = pattern[index % len(pattern)]
        label = f"{kind}-{mutant['module']}-{mutant['key']}" if mutant else kind
        students.append(Student(f"s{index:04d}-{label}", kind, mutant))
    return students


def write_submission(course: Path, student: Student, folder: Path) -> None:
    """The student's module files in ``folder``."""
    source = (ROOT / "tests" / "fixtures" / "independent" if student.kind ==
              "correct-independent" else course / "solutions")
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if student.mutant is not None:
        _replace(folder / f"{student.mutant['module']}.py", student.mutant["old"],
                 student.mutant["new"])
    elif student.kind == "timeout-loop":  # a loop that never ends, right after the docstring
        path = folder / "layer.py"
        text = path.read_text(encoding="utf-8")
        start = text.index("def backward_loops(")
        doc_end = text.index('"""', text.index('"""', start) + 3) + 3
        path.write_text(text[:doc_end] + "\n    while True:\n        pass\n" + text[doc_end:],
                        encoding="utf-8")
    elif student.kind == "timeout-import":  # the module never finishes importing
        _replace(folder / "gradcheck.py", "import numpy as np",
                 "import time\n\nimport numpy as np\n\ntime.sleep(3600)")


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    if old not in text:
        raise RuntimeError(f"{path.name}: the text to replace is not there: {old[:60]!r}")
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def build_class(course: Path, students: Sequence[Student], folder: Path) -> Path:
    """A folder holding one submission folder per student (what ``grader grade`` takes)."""
    folder.mkdir(parents=True)
    for student in students:
        write_submission(course, student, folder / student.student)
    return folder


# -- running commands -----------------------------------------------------------------------------
@dataclass
class Run:
    """One finished subprocess: exit code, wall time, peak memory, output, and how many other
    processes of the machine were running meanwhile (on average)."""

    returncode: int
    wall: float
    maxrss_mb: float
    stdout: str
    stderr: str
    other_cpus: float


def _processes() -> dict[int, tuple[str, int]]:
    """Every process of the machine: pid -> (state, parent pid), from ``/proc``."""
    found: dict[int, tuple[str, int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", encoding="utf-8",
                          errors="replace") as fh:
                    text = fh.read()
            except OSError:
                continue
            state, ppid = text[text.rindex(")") + 2:].split()[:2]
            found[int(entry.name)] = (state, int(ppid))
    return found


def others_running(root: int) -> int:
    """How many processes outside this benchmark and ``root``'s tree are running now."""
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, (_, ppid) in processes.items():
        children.setdefault(ppid, []).append(pid)
    ours, todo = {os.getpid()}, [root]
    while todo:
        pid = todo.pop()
        ours.add(pid)
        todo += children.get(pid, [])
    return sum(state == "R" and pid not in ours and 2 not in (pid, ppid)  # not kernel threads
               for pid, (state, ppid) in processes.items())


def run(args: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run a command: its wall time and ``ru_maxrss`` (via ``os.wait4``: the process or a larger
    descendant it waited for); meanwhile, once a second, how many other processes run."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        samples: list[int] = []
        done = threading.Event()
        started = time.perf_counter()
        proc = subprocess.Popen(list(args), cwd=cwd, env=env or child_env(),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err)

        def sample() -> None:
            while not done.wait(1.0):
                with contextlib.suppress(OSError, ValueError):
                    samples.append(others_running(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        if os.path.isdir("/proc"):
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        if sampler.is_alive():
            sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(proc.returncode, wall, usage.ru_maxrss / 1024.0,
                   out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                   statistics.fmean(samples) if samples else 0.0)


def checked(result: Run, what: str) -> Run:
    """``result``, or an error with the end of its output if the command failed."""
    if result.returncode != 0:
        raise RuntimeError(f"{what} exited with {result.returncode}:\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


PYCACHE: Path | None = None  # set by benchmark(): where the commands cache their bytecode


def child_env() -> dict[str, str]:
    """The environment of every command: this one, without a course secret from outside, with
    bytecode cached (as in an ordinary install) in the temporary folder, not the repository."""
    env = dict(os.environ)
    env.pop("GRADER_SECRET", None)
    if PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


GRADER = (sys.executable, "-m", "grader")


# -- 1. grader grade ------------------------------------------------------------------------------
@dataclass
class GradeRun:
    """``grader grade`` on one class with one ``--jobs``."""

    size: int
    jobs: int
    wall: float
    throughput: float
    median: float
    p95: float
    mean: float
    peak_mb: float
    median_correct: float
    correct_full_marks: str
    timeouts_seen: str
    other_cpus: float
    reference_tests: dict[str, float] = field(default_factory=dict)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation between closest ranks)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def grade_class(course: Path, class_dir: Path, students: Sequence[Student], jobs: int,
                out: Path, work: Path) -> GradeRun:
    """Grade ``class_dir`` with the real CLI and read the per-submission seconds back."""
    result = checked(run([*GRADER, "grade", str(class_dir), "--out", str(out), "--jobs",
                          str(jobs), "--course", str(course)], cwd=work),
                     f"grader grade ({len(students)} submissions, --jobs {jobs})")
    graded = {r["student"]: r for r in (json.loads(p.read_text(encoding="utf-8"))
                                        for p in out.glob("*.json"))}
    missing = sorted({s.student for s in students} - set(graded))
    if missing:
        raise RuntimeError(f"grader grade wrote no result for {missing[:5]}")
    seconds = [float(graded[s.student]["seconds"]) for s in students]
    correct = [s for s in students if s.kind.startswith("correct")]
    timeouts = [s for s in students if s.kind.startswith("timeout")]
    full = sum(graded[s.student]["score"] == graded[s.student]["max_score"] for s in correct)
    copies = [graded[s.student] for s in students if s.kind == "correct-reference"]
    per_test: dict[str, list[float]] = {}
    for copy in copies:
        per_test.setdefault("(whole submission)", []).append(float(copy["seconds"]))
        for test in copy["tests"]:
            per_test.setdefault(test["id"], []).append(float(test["seconds"]))
    timed_out = sum(any(t["status"] == "timeout" for t in graded[s.student]["tests"])
                    for s in timeouts)
    return GradeRun(
        size=len(students), jobs=jobs, wall=result.wall,
        throughput=len(students) / result.wall, median=statistics.median(seconds),
        p95=percentile(seconds, 95), mean=statistics.fmean(seconds), peak_mb=result.maxrss_mb,
        median_correct=statistics.median(float(graded[s.student]["seconds"]) for s in correct)
        if correct else float("nan"),
        correct_full_marks=f"{full}/{len(correct)}", timeouts_seen=f"{timed_out}/{len(timeouts)}",
        other_cpus=result.other_cpus,
        reference_tests={k: statistics.median(v) for k, v in per_test.items()})


# -- 2. the compute floor -------------------------------------------------------------------------
def floor_worker(course_dir: Path, students: Sequence[str]) -> None:
    """(In a fresh process.) Time the hidden tests on the reference, in process; print JSON."""
    from grader.course.config import load_course
    from grader.engine.grading import warm_up
    from grader.engine.runner import run_tests
    from grader.sandbox.inprocess import InProcess

    course = load_course(course_dir)
    specs = course.collect(hidden=True)
    reference = course.reference()
    warm_up(specs, reference)
    times: list[float] = []
    scores: list[float] = []
    per_test: dict[str, list[float]] = {}
    for student in ["warm-up", *students]:
        started = time.perf_counter()
        outcomes = run_tests(specs, InProcess(dict(reference), course.limits), student=student,
                             secret=course.secret, reference=reference)
        times.append(time.perf_counter() - started)
        scores.append(sum(o.score for o in outcomes))
        if student != "warm-up":
            for outcome in outcomes:
                per_test.setdefault(outcome.spec.test_id, []).append(outcome.seconds)
    print(json.dumps({"seconds": times[1:], "scores": scores[1:],
                      "max_score": sum(s.points for s in specs), "tests": len(specs),
                      "per_test": {k: statistics.median(v) for k, v in per_test.items()}}))


def compute_floor(course: Path, students: Sequence[Student], work: Path) -> dict[str, Any]:
    """The floor, measured by :func:`floor_worker` in a fresh Python with one BLAS thread."""
    ids = [s.student for s in students if s.kind == "correct-reference"][:FLOOR_RUNS]
    ids += [f"floor-{i}" for i in range(FLOOR_RUNS - len(ids))]
    result = checked(run([sys.executable, str(Path(__file__).resolve()), "--floor-worker",
                          str(course), *ids], cwd=work, env={**child_env(), **ONE_THREAD}),
                     "the compute floor")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if any(score != data["max_score"] for score in data["scores"]):
        raise RuntimeError(f"the reference did not score full marks in process: {data}")
    data["median"] = statistics.median(data["seconds"])
    return data


# -- 3. nbgrader ----------------------------------------------------------------------------------
def nbgrader_comparison(course_dir: Path, students: Sequence[Student], work: Path,
                        submissions: Path) -> dict[str, Any]:
    """``nbgrader autograde`` and ``grader grade --nbgrader-course --jobs 1`` on the same
    notebooks; seconds per submission of each, and whether their scores agree."""
    from grader.course.config import load_course
    from grader.integrations.nbgrader import _segments

    course = load_course(course_dir)
    nb_course = work / "nbgrader-course"
    checked(run([*GRADER, "nbgrader", "generate", "--course", str(nb_course), "--from",
                 str(course_dir)], cwd=work), "grader nbgrader generate")
    checked(run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT],
                cwd=nb_course), "nbgrader generate_assignment")
    released = nb_course / "release" / ASSIGNMENT
    for student in students:
        target = nb_course / "submitted" / student.student / ASSIGNMENT
        target.mkdir(parents=True)
        for path in sorted(released.glob("*.ipynb")):
            module = path.stem
            functions = course.functions(module)
            stub_provided, _ = _segments(course.exercises / f"{module}.py", functions)
            provided, solved = _segments(submissions / student.student / f"{module}.py",
                                         functions)
            # what the student wrote outside the contract functions (helpers) goes first
            extra = "" if provided == stub_provided else provided + "\n\n"
            notebook = json.loads(path.read_text(encoding="utf-8"))
            for cell in notebook["cells"]:
                meta = cell["metadata"].get("nbgrader", {})
                if meta.get("solution"):
                    cell["source"] = extra + solved[meta["grade_id"][len(module) + 1:]]
                    extra = ""
            (target / path.name).write_text(json.dumps(notebook), encoding="utf-8")
    autograde = checked(run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT,
                             f"--Application.log_format={NB_LOG_FORMAT}",
                             "--Application.log_datefmt=%H:%M:%S"],
                            cwd=nb_course), "nbgrader autograde")
    nb_seconds = _nbgrader_seconds(autograde, [s.student for s in students])
    nb_scores = _nbgrader_totals(nb_course, [s.student for s in students])
    out = work / "out-nbgrader-grade"
    ours = checked(run([*GRADER, "grade", "--nbgrader-course", str(nb_course), "--out",
                        str(out), "--jobs", "1", "--course", str(course_dir)], cwd=work),
                   "grader grade --nbgrader-course")
    graded = {s.student: json.loads((out / f"{s.student}.json").read_text(encoding="utf-8"))
              for s in students}
    seconds = [float(r["seconds"]) for r in graded.values()]
    agree = sum(abs(nb_scores[s] - float(graded[s]["score"])) < 1e-6 for s in graded)
    theirs, ours_median = statistics.median(nb_seconds.values()), statistics.median(seconds)
    return {"students": len(students), "nbgrader_wall": autograde.wall,
            "nbgrader_median": theirs, "nbgrader_mean": autograde.wall / len(students),
            "grader_wall": ours.wall, "grader_median": ours_median,
            "grader_mean": statistics.fmean(seconds), "ratio": theirs / ours_median,
            "ratio_of_means": autograde.wall / len(students) / statistics.fmean(seconds),
            "nbgrader_seconds": nb_seconds,
            "grader_seconds": {s: float(r["seconds"]) for s, r in graded.items()},
            "scores_agree": f"{agree}/{len(students)}",
            "other_cpus": {"nbgrader": autograde.other_cpus, "grader": ours.other_cpus}}


#: nbgrader's log lines with a millisecond time stamp, to time each student's notebooks
NB_LOG_FORMAT = "%(asctime)s.%(msecs)03d [%(name)s | %(levelname)s] %(message)s"


def _nbgrader_seconds(autograde: Run, students: Sequence[str]) -> dict[str, float]:
    """Seconds ``nbgrader autograde`` spent on each student: from its first log line naming
    ``submitted/<student>/`` to the next student's first line (the last student: to the end of
    the command, which also holds nbgrader's own shutdown)."""
    import re

    stamp = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) ")
    first: dict[str, float] = {}
    last_seen = 0.0
    for line in autograde.stderr.splitlines():
        found = stamp.match(line)
        if not found:
            continue
        h, m, sec, ms = (int(g) for g in found.groups())
        when = h * 3600 + m * 60 + sec + ms / 1000.0
        if when < last_seen - 43200:  # past midnight
            when += 86400
        last_seen = when
        for student in students:
            if f"submitted/{student}/" in line and student not in first:
                first[student] = when
    if len(first) != len(students):
        missing = sorted(set(students) - set(first))
        raise RuntimeError(f"nbgrader's log names no notebook of {missing[:3]}")
    order = sorted(first, key=first.__getitem__)
    ends = [first[s] for s in order[1:]] + [last_seen]
    return {s: end - first[s] for s, end in zip(order, ends, strict=True)}


def _nbgrader_totals(nb_course: Path, students: Sequence[str]) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{nb_course / 'gradebook.db'}") as gb:
        return {s: float(gb.find_submission(ASSIGNMENT, s).score) for s in students}


# -- 4. grader check ------------------------------------------------------------------------------
def check_times(course: Path, submission: Path, work: Path, runs: int) -> dict[str, Any]:
    """Wall time of ``grader check`` (the whole course, one module): median of ``runs``."""
    figures: dict[str, Any] = {}
    for name, modules in (("course", []), ("module", [CHECK_MODULE])):
        walls = [checked(run([*GRADER, "check", *modules, "--path", str(submission),
                              "--course", str(course)], cwd=work),
                         f"grader check {' '.join(modules)}").wall for _ in range(runs)]
        figures[name] = {"median": statistics.median(walls), "runs": walls}
    return figures


# -- the report -----------------------------------------------------------------------------------
@dataclass
class Target:
    """One target: the figure, the limit and whether it holds."""

    label: str
    value: str
    limit: str
    ok: bool | None  # None: not measured in this run

    def render(self) -> str:
        """``[PASS] label: value (target ...)``."""
        mark = {True: "PASS", False: "FAIL", None: "----"}[self.ok]
        return f"  [{mark}] {self.label:<58} {self.value:>10}   target {self.limit}"


@dataclass
class Report:
    """Every figure of one benchmark run."""

    machine: dict[str, Any]
    sizes: list[int]
    nbgrader_students: int
    grade: list[GradeRun] = field(default_factory=list)
    floor: dict[str, Any] = field(default_factory=dict)
    nbgrader: dict[str, Any] | None = None
    check: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    parts: dict[str, float] = field(default_factory=dict)

    def run_of(self, size: int, jobs: int) -> GradeRun:
        """The ``grader grade`` run of one size and ``--jobs``."""
        return next(r for r in self.grade if r.size == size and r.jobs == jobs)

    def evaluate(self) -> None:
        """Compare the figures with the targets."""
        small, large = min(self.sizes), max(self.sizes)
        targets: list[Target] = []
        if self.nbgrader is not None:
            ratio = self.nbgrader["ratio"]
            targets.append(Target("speed vs nbgrader autograde (per submission, medians)",
                                  f"{ratio:.1f}x", f">= {SPEEDUP_VS_NBGRADER:g}x",
                                  ratio >= SPEEDUP_VS_NBGRADER))
        else:
            targets.append(Target("speed vs nbgrader autograde (per submission, medians)",
                                  "skipped",
                                  f">= {SPEEDUP_VS_NBGRADER:g}x", None))
        for size in self.sizes:
            share = 1.0 - self.floor["median"] / self.run_of(size, 1).median
            targets.append(Target(f"sandbox share of per-submission time, n={size} --jobs 1",
                                  f"{share:.0%}", f"<= {SANDBOX_SHARE_MAX:.0%}",
                                  share <= SANDBOX_SHARE_MAX))
        if large > small:
            limit = SCALING_SLACK * large / small
            for jobs in JOBS:
                ratio = self.run_of(large, jobs).wall / self.run_of(small, jobs).wall
                targets.append(Target(f"size scaling: wall n={large} / n={small}, --jobs {jobs}",
                                      f"{ratio:.2f}x", f"<= {limit:.2f}x", ratio <= limit))
        for size in self.sizes:
            ratio = self.run_of(size, 2).throughput / self.run_of(size, 1).throughput
            targets.append(Target(f"jobs scaling: throughput --jobs 2 / --jobs 1, n={size}",
                                  f"{ratio:.2f}x", f">= {JOBS2_SPEEDUP:g}x",
                                  ratio >= JOBS2_SPEEDUP))
        if large > small:
            for jobs in JOBS:
                ratio = self.run_of(large, jobs).peak_mb / self.run_of(small, jobs).peak_mb
                targets.append(Target(f"memory growth: peak n={large} / n={small}, --jobs {jobs}",
                                      f"{ratio:.2f}x", f"<= {MEMORY_GROWTH_MAX:g}x",
                                      ratio <= MEMORY_GROWTH_MAX))
        whole, one = self.check["course"]["median"], self.check["module"]["median"]
        targets.append(Target("grader check, whole course", f"{whole:.2f} s",
                              f"< {CHECK_COURSE_MAX:g} s", whole < CHECK_COURSE_MAX))
        targets.append(Target(f"grader check, one module ({CHECK_MODULE})", f"{one:.2f} s",
                              f"< {CHECK_MODULE_MAX:g} s", one < CHECK_MODULE_MAX))
        self.targets = targets

    def render(self) -> str:
        """The printed report."""
        m = self.machine
        lines = [
            "backprop-grader benchmark",
            f"machine: {m['cpus']} CPUs, {m['platform']}, Python {m['python']}, "
            f"isolation: {m['isolation']}",
            f"grader: {m['commit']} (sources sha256 {m['sources'][:12]})",
            f"class: the first n students of a repeated block of {m['block']}: {N_CORRECT} "
            f"correct, {m['block'] - N_CORRECT - len(TIMEOUTS)} catalogued misconceptions, "
            f"{len(TIMEOUTS)} that time out",
            "",
            "grader grade (real CLI; per-submission = the results' seconds; throughput = n / "
            "wall of the command)",
            f"  {'n':>5} {'jobs':>4} {'wall s':>8} {'throughput /s':>14} "
            f"{'per-submission median s':>24} {'per-submission p95 s':>21} {'mean s':>7} "
            f"{'peak memory MB':>15} {'others running':>14}   correct: median s, full marks; "
            "timeouts seen",
        ]
        for r in self.grade:
            lines.append(f"  {r.size:>5} {r.jobs:>4} {r.wall:>8.1f} {r.throughput:>14.2f} "
                         f"{r.median:>24.3f} {r.p95:>21.3f} {r.mean:>7.3f} {r.peak_mb:>15.1f}"
                         f" {r.other_cpus:>14.2f}   {r.median_correct:.3f}, "
                         f"{r.correct_full_marks}; {r.timeouts_seen}")
        floor = self.floor
        lines += [
            "",
            f"compute floor (hidden tests on the reference, in process, no sandbox): "
            f"{floor['median']:.3f} s per submission ({floor['tests']} tests, median of "
            f"{len(floor['seconds'])})",
        ]
        for size in self.sizes:
            per = self.run_of(size, 1).median
            lines.append(f"sandbox share at --jobs 1, n={size}: 1 - {floor['median']:.3f} / "
                         f"{per:.3f} = {1.0 - floor['median'] / per:.0%}")
        lines += self.where_the_time_goes()
        lines.append("")
        nb = self.nbgrader
        if nb is None:
            lines += ["nbgrader autograde s/submission: skipped (--skip-nbgrader)",
                      "grader grade s/submission on the same notebooks: skipped",
                      "nbgrader / grader grade ratio: skipped"]
        else:
            lines += [
                f"nbgrader autograde s/submission: median {nb['nbgrader_median']:.2f} (from its "
                f"log), mean {nb['nbgrader_mean']:.2f} (wall / students; {nb['students']} "
                f"students, wall {nb['nbgrader_wall']:.1f} s; others running "
                f"{nb['other_cpus']['nbgrader']:.2f})",
                f"grader grade s/submission on the same notebooks: median "
                f"{nb['grader_median']:.3f}, mean {nb['grader_mean']:.3f} (--jobs 1, the "
                f"results' seconds; wall {nb['grader_wall']:.1f} s; others running "
                f"{nb['other_cpus']['grader']:.2f}; total scores agree with nbgrader for "
                f"{nb['scores_agree']} students)",
                f"nbgrader / grader grade ratio: {nb['ratio']:.1f}x per submission (medians); "
                f"{nb['ratio_of_means']:.1f}x of the means, where a student who times out "
                "weighs the same deadline on both sides",
            ]
        check = self.check
        lines += [
            "",
            f"grader check (whole course): {check['course']['median']:.3f} s "
            f"(median of {len(check['course']['runs'])})",
            f"grader check (one module, {CHECK_MODULE}): {check['module']['median']:.3f} s "
            f"(median of {len(check['module']['runs'])})",
            "",
            "targets",
            *(t.render() for t in self.targets),
            *self.disturbed(),
            "",
            "time taken by each part of the benchmark: "
            + ", ".join(f"{k} {v:.0f} s" for k, v in self.parts.items()),
        ]
        return "\n".join(lines)

    def disturbed(self) -> list[str]:
        """A warning naming the runs during which other processes used the machine."""
        runs = {f"grade n={r.size} --jobs {r.jobs}": r.other_cpus for r in self.grade}
        if self.nbgrader is not None:
            runs |= {f"{k} on notebooks": v for k, v in self.nbgrader["other_cpus"].items()}
        touched = [f"{k} ({v:.2f})" for k, v in runs.items() if v >= DISTURBED]
        if not touched:
            return []
        return [f"  WARNING: on average >= {DISTURBED:g} other processes were running during "
                f"{', '.join(touched)}: those figures (and the targets built on them) are "
                "distorted; run again on a quiet machine"]

    def where_the_time_goes(self) -> list[str]:
        """Per test, the sandboxed time of the correct reference copies (``--jobs 1``, the
        smallest class) against the same test in process: the largest differences."""
        sandboxed = dict(self.run_of(self.sizes[0], 1).reference_tests)
        floor: dict[str, float] = self.floor["per_test"]
        if not sandboxed:
            return []
        whole = sandboxed.pop("(whole submission)")
        in_tests = sum(sandboxed.values())
        lines = [
            f"where the time goes (copies of the reference, n={self.sizes[0]} --jobs 1, medians "
            "per test): sandboxed vs in process",
            f"  whole submission {whole:.3f} s: in tests {in_tests:.3f} s (in process "
            f"{sum(floor.values()):.3f} s), outside tests (unpack, copies, sandbox set-up and "
            f"tear-down) {whole - in_tests:.3f} s",
        ]
        ranked = sorted(sandboxed, key=lambda t: sandboxed[t] - floor.get(t, 0.0), reverse=True)
        for test_id in ranked[:6]:
            ours, theirs = sandboxed[test_id], floor.get(test_id, 0.0)
            lines.append(f"  {test_id:<62} {ours:.3f} s vs {theirs:.3f} s  "
                         f"(+{ours - theirs:.3f})")
        rest = ranked[6:]
        lines.append(f"  the other {len(rest)} tests{'':<44} "
                     f"{sum(sandboxed[t] for t in rest):.3f} s vs "
                     f"{sum(floor.get(t, 0.0) for t in rest):.3f} s")
        return lines

    def as_json(self) -> dict[str, Any]:
        """Every figure, for ``bench.json``."""
        data = asdict(self)
        data["targets"] = [asdict(t) for t in self.targets]
        return data


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    from grader.sandbox.isolation import detect

    digest = hashlib.sha256()
    for path in sorted((ROOT / "grader").glob("*.py")):
        digest.update(path.read_bytes())
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "isolation": detect().level,
            "commit": commit or "unknown", "sources": digest.hexdigest()}


# -- main -----------------------------------------------------------------------------------------
def say(message: str) -> None:
    """Progress, on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def benchmark(sizes: Sequence[int], nb_students: int, skip_nbgrader: bool,
              work: Path) -> Report:
    """Build everything in ``work`` and measure."""
    global PYCACHE
    PYCACHE = work / "pycache"
    report = Report(machine(), sorted(set(sizes)), 0 if skip_nbgrader else nb_students)
    course = work / "course"
    course.mkdir()
    for name in COURSE_PARTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, course / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.is_file():
            shutil.copy2(source, course / name)
    mutants = load_mutants()
    report.machine["block"] = len(block(mutants))
    everyone = roster(max(report.sizes), mutants)

    def part(name: str, started: float) -> None:
        report.parts[name] = report.parts.get(name, 0.0) + time.perf_counter() - started

    for size in report.sizes:
        started = time.perf_counter()
        say(f"building a class of {size}")
        class_dir = build_class(course, everyone[:size], work / f"class-{size}")
        part("build", started)
        for jobs in JOBS:
            started = time.perf_counter()
            say(f"grader grade: {size} submissions, --jobs {jobs}")
            graded = grade_class(course, class_dir, everyone[:size], jobs,
                                 work / f"out-{size}-j{jobs}", work)
            report.grade.append(graded)
            say(f"  wall {graded.wall:.1f} s, median {graded.median:.3f} s/submission")
            part(f"grade n={size} --jobs {jobs}", started)
    first = work / f"class-{report.sizes[0]}"

    started = time.perf_counter()
    say("compute floor")
    report.floor = compute_floor(course, everyone, work)
    part("floor", started)

    started = time.perf_counter()
    correct = next(s for s in everyone if s.kind == "correct-reference")
    say("grader check")
    report.check = check_times(course, first / correct.student, work, CHECK_RUNS)
    part("check", started)

    if not skip_nbgrader:
        started = time.perf_counter()
        subset = everyone[:nb_students]
        say(f"nbgrader: {len(subset)} students")
        submissions = work / "class-nbgrader"
        if nb_students <= report.sizes[0]:
            submissions = first
        else:
            build_class(course, subset, submissions)
        report.nbgrader = nbgrader_comparison(course, subset, work, submissions)
        part("nbgrader", started)
    if machine()["sources"] != report.machine["sources"]:
        say("WARNING: grader/*.py changed during the run; the figures may mix two versions")
        report.machine["sources"] += " (changed during the run)"
    report.evaluate()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the benchmark, print (and write) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: sizes 20 and 60, 5 nbgrader students")
    parser.add_argument("--sizes", type=int, nargs="+",
                        help="class sizes (default 100 1000; --quick: 20 60)")
    parser.add_argument("--nbgrader-students", type=int,
                        help="students graded by nbgrader (default 20; --quick: 5)")
    parser.add_argument("--skip-nbgrader", action="store_true",
                        help="leave out the nbgrader comparison")
    parser.add_argument("--out", type=Path, help="write bench.json and bench.txt here")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (its path is printed)")
    parser.add_argument("--floor-worker", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor_worker:
        floor_worker(Path(args.floor_worker[0]), args.floor_worker[1:])
        return 0
    sizes = args.sizes or ([20, 60] if args.quick else [100, 1000])
    nb_students = args.nbgrader_students or (5 if args.quick else 20)
    if min(sizes) < 1 or nb_students < 1:
        parser.error("sizes and --nbgrader-students must be positive")
    if not args.skip_nbgrader and importlib.util.find_spec("nbgrader") is None:
        parser.error("nbgrader is not installed (pip install -e '.[test]'), or --skip-nbgrader")
    work = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    started = time.perf_counter()
    try:
        report = benchmark(sizes, nb_students, args.skip_nbgrader, work)
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report.parts["total"] = time.perf_counter() - started
    text = report.render()
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench.json").write_text(json.dumps(report.as_json(), indent=2) + "\n",
                                             encoding="utf-8")
        (args.out / "bench.txt").write_text(text + "\n", encoding="utf-8")
        say(f"wrote {args.out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
