"""Where a class is graded: worker processes on this machine, or a Dask cluster.

`executor_for` turns ``--executor`` and its options into a `grader.batch.pipeline.Run`. ``"local"``
is
`run_local`: forked worker processes (`grader.batch.pool`), each submission under a deadline past
which its worker is replaced and the student gets an error result. ``"dask"`` is `run_dask`:
this process (the client) reads each submission (`grader.batch.pipeline.read_submission`), sends the
job, which is plain data, to a worker of the cluster, and writes each result into the output
folder as it comes back, so workers never see the instructor's files or the output folder.

A worker grades with `grader.batch.pipeline.grade_job`, the function the local workers use, in the
same sandbox. It loads the course from its own copy, at the client's course path, once per
worker process, and refuses to grade when that copy differs from the client's (`fingerprint`)
or when it has no bubblewrap: unisolated student code could open a socket to the scheduler,
which runs whatever it is sent.

``distributed`` is an optional dependency (``pip install 'backprop-grader[dask]'``), imported
only when the Dask executor is used.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, TextIO

from grader.batch import pipeline as batch
from grader.batch import pool
from grader.batch.submissions import Submission
from grader.course.config import Course, TestSpec
from grader.engine import results
from grader.engine.grading import warm_up
from grader.sandbox import affinity, launch
from grader.sandbox.isolation import detect, protect
from grader.util import inert

if TYPE_CHECKING:
    from distributed import Client, Future

EXECUTORS = ("local", "dask")
#: extra seconds a local worker gets, beyond a submission's budget and its last call's
#: deadline, before it is taken for stuck and replaced (``GRADER_WORKER_SLACK`` overrides)
WORKER_SLACK = 40.0
ENV_SLACK = "GRADER_WORKER_SLACK"
INSTALL_HINT = "pip install 'backprop-grader[dask]'"
#: set to 1 on a worker to let it grade without bubblewrap (its student code can then open
#: sockets, to the scheduler too)
ALLOW_REDUCED = "GRADER_ALLOW_REDUCED_ISOLATION"
CONNECT_TIMEOUT = 30.0
#: jobs kept submitted per worker thread, so that no worker waits and the client holds only
#: a few submissions' sources at once, however large the class
JOBS_PER_THREAD = 2
MIN_IN_FLIGHT = 8
#: seconds between two looks at the cluster's jobs (finished, or past their allowance)
POLL = 0.02


class ExecutorError(Exception):
    """The executor cannot be used as asked (a usage error: exit code 2)."""


class ClusterError(Exception):
    """The cluster cannot be reached, or a worker cannot grade this course."""


def executor_for(name: str, *, jobs: int | None = None, scheduler: str | None = None) -> batch.Run:
    """The `grader.batch.pipeline.Run` of an executor.

    Parameters
    ----------
    name : {"local", "dask"}
        The executor.
    jobs : int, optional
        Worker processes of the local executor (default: the CPU count).
    scheduler : str, optional
        The Dask scheduler's address, such as ``tcp://10.0.0.5:8786`` (dask only, required).

    Raises
    ------
    ExecutorError
        Unknown executor, options that do not belong to it, or dask is not installed.
    """
    if name == "local":
        if scheduler is not None:
            raise ExecutorError("--scheduler is for --executor dask")
        workers = jobs or os.cpu_count() or 1
        return lambda todo, shared, log: run_local(todo, shared, log, workers)
    if name == "dask":
        if not scheduler:
            raise ExecutorError("--executor dask needs the scheduler's address: "
                                "--scheduler tcp://HOST:8786")
        if jobs is not None:
            raise ExecutorError("--jobs is for the local executor; on a Dask cluster, the "
                                "workers' threads grade in parallel")
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ExecutorError(f"--executor dask needs dask.distributed: {INSTALL_HINT}"
                                ) from None
        return functools.partial(run_dask, scheduler=scheduler)
    raise ExecutorError(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")


def fingerprint(course: Course) -> str:
    """A digest of the course files that decide a grade (``course.toml``, the misconceptions,
    stubs, solutions, checks and hidden tests), to tell whether two copies are the same."""
    digest = hashlib.sha256()
    files = [course.root / "course.toml", course.misconceptions]
    for folder in (course.exercises, course.solutions, course.checks, course.hidden_tests):
        files += sorted(p for p in folder.rglob("*") if p.is_file()
                        and "__pycache__" not in p.parts and not p.name.startswith("."))
    for path in files:
        if path.is_file():
            data = path.read_bytes()
            name = path.relative_to(course.root).as_posix()
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


# -- on this machine -----------------------------------------------------------------------------
def _worker_init(shared: batch._Shared, pin: bool, slot: int) -> None:
    batch._SHARED = shared  # what `grader.batch.pipeline.grade_submission` grades with
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C
    signal.signal(signal.SIGTERM, _stop_worker)  # stopped: clean up sandbox and temp files
    if pin:
        affinity.pin(slot)  # this worker and its sandboxes on a CPU of their own
    launch.prestart(detect().allowing(shared.course.allow_imports))  # the zygote its sandboxes use


def _stop_worker(signum: int, frame: object) -> None:
    raise SystemExit(1)


def worker_deadline(course: Course, specs: Sequence[TestSpec]) -> float:
    """Seconds a worker may spend on one submission before it is taken for stuck: the
    sandbox's submission budget, plus the longest call deadline (the last call may start
    just inside the budget), plus `WORKER_SLACK` (the sandbox's start and the grader's own
    work; ``GRADER_WORKER_SLACK`` sets it)."""
    longest = max([course.limits.call_timeout,
                   *(s.marker.timeout for s in specs if s.marker.timeout)])
    try:
        slack = float(os.environ.get(ENV_SLACK, WORKER_SLACK))
    except ValueError:
        slack = WORKER_SLACK
    return course.limits.submission_timeout + longest + max(0.0, slack)


def run_local(todo: Sequence[Submission], shared: batch._Shared, stream: TextIO,
              jobs: int) -> Iterator[batch.Graded | str]:
    """Grade in ``jobs`` processes forked from this one, which loads the course's fixtures
    first (`grader.batch.pipeline.Run`). A worker that does not finish a submission within
    `worker_deadline` is killed and replaced, and that student gets an error result; a
    worker that dies is the grader's failure for its student, and is replaced too."""
    course = shared.course
    if detect().level == "uid":  # the child's uid must not read what decides a grade
        for path in protect([course.solutions, course.hidden_tests, course.root / "course.toml",
                             shared.out]):
            print(f"made {path} unreadable to other users (the sandbox runs as one)",
                  file=stream)
    if not todo:
        return
    warm_up(shared.specs, shared.reference)
    workers = min(jobs, len(todo))
    pin = affinity.enabled(workers)
    deadline = worker_deadline(course, shared.specs)
    for end in pool.run(todo, batch.grade_submission, workers=workers, deadline=deadline,
                        initializer=lambda slot: _worker_init(shared, pin, slot)):
        student = inert.text(end.item.student)
        if end.kind == "done":
            yield end.value
        elif end.kind == "stuck":
            yield _stuck_result(shared, end.item, deadline)
        else:
            why = end.value if end.kind == "failed" else f"its worker ended ({end.value})"
            yield f"{student}: {why}"


def _stuck_result(shared: batch._Shared, submission: Submission,
                  deadline: float) -> batch.Graded:
    """The result of a student whose grading overran the worker deadline: every test 0,
    charged to their files (a rerun keeps it while they are unchanged)."""
    limits = shared.course.limits
    job = batch.read_submission(submission, shared.course.modules)
    result = results.failed_result(
        shared.course, job.student, shared.specs,
        f"grading stopped: it did not finish within {deadline:g} s (the submission's time "
        f"budget of {limits.submission_timeout:g} s, its last call's deadline and a "
        "margin), so the grading process was replaced; tell your instructor",
        source=job.source, files_digest=job.digest)
    batch.write_result(result, shared)
    return batch.Graded.of(result, stuck=True)


# -- on a Dask worker ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Loaded:
    fingerprint: str
    specs: list[TestSpec]
    reference: dict[str, ModuleType]


_LOADED: dict[str, _Loaded] = {}  # by course root: what this worker process has loaded
_LOADING = threading.Lock()


def _where() -> str:
    try:
        from distributed import get_worker

        return f"worker {get_worker().address}"
    except (ImportError, ValueError):
        return f"worker on {socket.gethostname()}"


def _problem(course: Course, expected: str) -> str | None:
    """Why this worker cannot grade the course (no bubblewrap, no or another copy), or None."""
    isolation = detect()
    if isolation.level != "bubblewrap" and os.environ.get(ALLOW_REDUCED) != "1":
        return (f"isolation is {isolation.level!r}, not bubblewrap "
                f"({'; '.join(isolation.missing)}), so student code could reach the cluster; "
                f"install bubblewrap on every worker (or set {ALLOW_REDUCED}=1 on the workers "
                "to accept reduced isolation)")
    if not (course.root / "course.toml").is_file():
        return (f"no course at {course.root}; install the course on every worker at the "
                "client's path (or share it read-only there)")
    if fingerprint(course) != expected:
        return (f"the course at {course.root} differs from the client's copy; install the "
                "same course on every worker")
    return None


def _loaded(course: Course, expected: str) -> _Loaded:
    """The course's hidden tests and reference, loaded and warmed up once per process."""
    with _LOADING:
        loaded = _LOADED.get(str(course.root))
        if loaded is None or loaded.fingerprint != expected:
            problem = _problem(course, expected)
            if problem is not None:
                raise ClusterError(f"{_where()}: {problem}")
            if detect().level == "uid":  # accepted reduced isolation: hide what decides a grade
                protect([course.solutions, course.hidden_tests, course.root / "course.toml"])
            specs = course.collect(hidden=True)
            reference = course.reference()
            warm_up(specs, reference)
            loaded = _LOADED[str(course.root)] = _Loaded(expected, specs, reference)
        return loaded


def grade_on_worker(course: Course, expected: str, secret: str | None,
                    job: batch.Job) -> results.Result:
    """A Dask task: grade one job with this worker's copy of the course.

    Parameters
    ----------
    course : Course
        The client's course settings (plain data: its root, limits, modules, ...); the
        worker's files at ``course.root`` supply the hidden tests and reference.
    expected : str
        The client's `fingerprint` of the course.
    secret : str or None
        Course secret for the per-student inputs.
    job : grader.batch.pipeline.Job
        The submission, read by the client.

    Returns
    -------
    grader.engine.results.Result
        The result (plain JSON data), for the client to write.
    """
    loaded = _loaded(course, expected)
    return batch.grade_job(job, course, loaded.specs, loaded.reference, secret)


# -- on the client -------------------------------------------------------------------------------
def run_dask(todo: Sequence[Submission], shared: batch._Shared, log: TextIO, *,
             scheduler: str) -> Iterator[batch.Graded | str]:
    """Grade on the Dask cluster at ``scheduler``, writing each result as it comes back
    (`grader.batch.pipeline.Run`).

    Raises
    ------
    ClusterError
        The scheduler cannot be reached, or a worker cannot grade the course.
    """
    if not todo:
        return
    from distributed import Client

    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        course, secret = shared.course, shared.secret
        expected = fingerprint(course)
        _check_workers(client, course, expected, log, scheduler)
        capacity = _capacity(client)
        waiting = iter(todo)
        # a job may wait behind one other on its worker thread (JOBS_PER_THREAD), so it is
        # taken for stuck only past twice the deadline a local worker gets
        allowance = JOBS_PER_THREAD * worker_deadline(course, shared.specs)
        running: dict[Future[results.Result], tuple[Submission, str, float]] = {}

        def submit(count: int) -> None:
            for submission in itertools.islice(waiting, max(count, 0)):
                # workers cannot read the instructor's paths: this process reads each entry
                job = batch.read_submission(submission, course.modules)
                future = client.submit(grade_on_worker, course, expected, secret, job,
                                       key=f"grade-{job.student}-{uuid.uuid4().hex}",
                                       pure=False)
                running[future] = (submission, job.student, time.monotonic() + allowance)

        try:
            submit(capacity())
            while running:
                done = [future for future in running if future.done()]
                if not done:
                    time.sleep(POLL)
                for future in done:
                    _, student, _ = running.pop(future)
                    yield _collect(future, student, shared)
                now = time.monotonic()
                for future in [f for f, (_, _, until) in running.items() if until <= now]:
                    submission, student, _ = running.pop(future)
                    _replace_stuck(client, future, log)
                    yield _stuck_result(shared, submission, allowance)
                submit(capacity() - len(running))
        except BaseException:  # Ctrl-C or a stop: nothing more is graded for this run
            client.cancel(list(running))
            raise


def _replace_stuck(client: Client, future: Future[results.Result], log: TextIO) -> None:
    """Cancel a job that overran its allowance and restart the worker running it (its thread
    is stuck in grader code, where no sandbox deadline reaches)."""
    workers = [worker for worker, keys in client.processing().items() if future.key in keys]
    client.cancel([future], force=True)
    if workers:
        try:
            client.restart_workers(workers)
        except Exception as exc:  # the scheduler refused: the stuck thread stays, say so
            print(f"could not restart the stuck worker {workers[0]}: {exc}", file=log)


def _check_workers(client: Client, course: Course, expected: str, log: TextIO,
                   scheduler: str) -> None:
    """Stop before grading if a worker of the cluster cannot grade this course."""
    if not client.scheduler_info()["workers"]:
        print(f"waiting for a Dask worker to join {scheduler} ...", file=log, flush=True)
        client.wait_for_workers(1)
    problems: dict[str, str | None] = client.run(_problem, course, expected)
    bad = sorted(f"worker {address}: {problem}" for address, problem in problems.items()
                 if problem)
    if bad:
        shown = "\n  ".join(bad[:10]) + (f"\n  ... and {len(bad) - 10} more"
                                         if len(bad) > 10 else "")
        raise ClusterError(f"{len(bad)} of {len(problems)} Dask workers cannot grade this "
                           f"course:\n  {shown}")
    threads = sum(client.nthreads().values())
    print(f"grading on {len(problems)} Dask workers ({threads} threads) at {scheduler}",
          file=log, flush=True)


def _capacity(client: Client) -> Callable[[], int]:
    """How many jobs to keep submitted: a few per worker thread, rechecked every few
    seconds as workers come and go."""
    checked, value = 0.0, MIN_IN_FLIGHT

    def capacity() -> int:
        nonlocal checked, value
        if time.monotonic() - checked > 5.0:
            threads = sum(client.nthreads().values())
            value = max(MIN_IN_FLIGHT, JOBS_PER_THREAD * threads)
            checked = time.monotonic()
        return value

    return capacity


def _collect(future: Future[results.Result], student: str,
             shared: batch._Shared) -> batch.Graded | str:
    """Write a finished job's result; a job that failed is the grader's failure."""
    try:
        result: results.Result = future.result()
        batch.write_result(result, shared)
    except Exception as exc:
        return f"{student}: {type(exc).__name__}: {exc}"
    return batch.Graded.of(result)
