"""The Dask executor: the workers of a Dask cluster grade, this process reads and writes.

This process (the client) reads each submission (`grader.batch.jobs.read_submission`), sends
the job, which is plain data, to a worker of the cluster, and writes each result into the
output folder as it comes back, so workers never see the instructor's files or the output
folder.

A worker grades with `grader.batch.jobs.grade_job`, the function the local workers use, in the
same sandbox. It loads the course from its own copy, at the client's course path, once per
worker process, and refuses to grade when that copy differs from the client's (`fingerprint`)
or when it has no bubblewrap: unisolated student code could open a socket to the scheduler,
which runs whatever it is sent. What a worker process has loaded is held by a worker plugin
(`CoursePlugin`, holding a `WorkerCourses`), which the client registers on the cluster before
grading and Dask gives every worker, a restarted or late one too.

``distributed`` is an optional dependency (``pip install 'backprop-grader[dask]'``), imported
by this module: `grader.batch.executors.executor_for` imports it only for ``--executor dask``.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TextIO

from distributed import Client, Future, WorkerPlugin, get_worker
from distributed import Worker as DaskWorker

from grader.batch.executors.base import ClusterError, stuck_result, worker_deadline
from grader.batch.jobs import BatchState, Graded, Job, grade_job, read_submission
from grader.batch.unpacked import Submission
from grader.course.config import Course, TestSpec
from grader.engine import results
from grader.engine.grading import warm_up
from grader.sandbox.isolation import detect, protect

__all__ = ["ALLOW_REDUCED", "ClusterError", "CoursePlugin", "DaskExecutor", "WorkerCourses",
           "fingerprint", "grade_on_worker"]

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
#: the name of the grader's plugin on every worker
PLUGIN = "grader-courses"


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


# -- on a Dask worker ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Loaded:
    fingerprint: str
    specs: list[TestSpec]
    reference: dict[str, ModuleType]


class WorkerCourses:
    """The courses one worker process has loaded: hidden tests and reference by course root,
    each loaded and warmed up once (its threads share them; a lock keeps them to one load).

    Attributes
    ----------
    loads : int
        How many times a course was loaded here: once per course while its files keep their
        fingerprint, however many runs it grades.
    """

    def __init__(self) -> None:
        self.loads = 0
        self._loaded: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    def load(self, course: Course, expected: str) -> tuple[list[TestSpec],
                                                           dict[str, ModuleType]]:
        """The course's hidden tests and reference, loaded once while its files keep the
        client's `fingerprint` ``expected``.

        Raises
        ------
        ClusterError
            This worker cannot grade the course (`_problem`).
        """
        with self._lock:
            loaded = self._loaded.get(str(course.root))
            if loaded is None or loaded.fingerprint != expected:
                problem = _problem(course, expected)
                if problem is not None:
                    raise ClusterError(f"{_where()}: {problem}")
                if detect().level == "uid":  # accepted reduced isolation: hide the answers
                    protect(course.private_paths)
                specs = course.collect(hidden=True)
                reference = course.reference()
                warm_up(specs, reference)
                loaded = self._loaded[str(course.root)] = _Loaded(expected, specs, reference)
                self.loads += 1
            return loaded.specs, loaded.reference


class CoursePlugin(WorkerPlugin):
    """The grader's worker plugin: gives each worker process its own `WorkerCourses`.

    Registered once per cluster (``idempotent``: a later run keeps the courses its workers
    have loaded); Dask sets it up on every worker, those that join or restart later too.
    """

    idempotent = True
    name = PLUGIN

    def __init__(self) -> None:
        self.courses: WorkerCourses | None = None

    def setup(self, worker: DaskWorker) -> None:
        """Start this worker with no course loaded."""
        self.courses = WorkerCourses()


def _worker_courses() -> WorkerCourses:
    """This worker's `WorkerCourses`; outside a worker with the plugin (a direct call), a
    fresh one, which loads the course for this one call."""
    try:
        plugin = get_worker().plugins.get(PLUGIN)
    except ValueError:  # not on a Dask worker
        plugin = None
    courses = plugin.courses if isinstance(plugin, CoursePlugin) else None
    return courses if courses is not None else WorkerCourses()


def _where() -> str:
    try:
        return f"worker {get_worker().address}"
    except ValueError:
        return f"worker on {socket.gethostname()}"


def _problem(course: Course, expected: str) -> str | None:
    """Why this worker cannot grade the course (no bubblewrap, no or another copy), or None."""
    isolation = detect()
    if isolation.level != "bubblewrap" and os.environ.get(ALLOW_REDUCED) != "1":
        return (f"isolation is {str(isolation.level)!r}, not bubblewrap "
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


def grade_on_worker(course: Course, expected: str, secret: str | None,
                    job: Job) -> results.Result:
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
    job : grader.batch.jobs.Job
        The submission, read by the client.

    Returns
    -------
    grader.engine.results.Result
        The result (plain JSON data), for the client to write.
    """
    specs, reference = _worker_courses().load(course, expected)
    return grade_job(job, course, specs, reference, secret)


# -- on the client -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DaskExecutor:
    """Grade on the Dask cluster at ``scheduler`` (`grader.batch.executors.base.Executor`).

    Attributes
    ----------
    scheduler : str
        The scheduler's address, such as ``tcp://10.0.0.5:8786``.
    """

    scheduler: str

    def run(self, todo: Sequence[Submission], state: BatchState,
            log: TextIO) -> Iterator[Graded | str]:
        """Grade ``todo`` on the cluster, writing each result as it comes back
        (`grader.batch.executors.base.Executor.run`).

        Raises
        ------
        ClusterError
            The scheduler cannot be reached, or a worker cannot grade the course.
        """
        if not todo:
            return
        try:
            client = Client(self.scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}"
                               ) from None
        with client:
            yield from _grade_on(client, todo, state, log, self.scheduler)


def _grade_on(client: Client, todo: Sequence[Submission], state: BatchState, log: TextIO,
              scheduler: str) -> Iterator[Graded | str]:
    """Keep the cluster's threads busy with ``todo``; write each result as it comes back."""
    course, secret = state.course, state.secret
    expected = fingerprint(course)
    _check_workers(client, course, expected, log, scheduler)
    client.register_plugin(CoursePlugin(), name=PLUGIN)
    capacity = _capacity(client)
    waiting = iter(todo)
    # a job may wait behind one other on its worker thread (JOBS_PER_THREAD), so it is
    # taken for stuck only past twice the deadline a local worker gets
    allowance = JOBS_PER_THREAD * worker_deadline(course, state.specs)
    running: dict[Future[results.Result], tuple[Submission, str, float]] = {}

    def submit(count: int) -> None:
        for submission in itertools.islice(waiting, max(count, 0)):
            # workers cannot read the instructor's paths: this process reads each entry
            job = read_submission(submission, course)
            future = client.submit(grade_on_worker, course, expected, secret, job,
                                   key=f"grade-{job.student}-{uuid.uuid4().hex}", pure=False)
            running[future] = (submission, job.student, time.monotonic() + allowance)

    try:
        submit(capacity())
        while running:
            done = [future for future in running if future.done()]
            if not done:
                time.sleep(POLL)
            for future in done:
                _, student, _ = running.pop(future)
                yield _collect(future, student, state)
            now = time.monotonic()
            for future in [f for f, (_, _, until) in running.items() if until <= now]:
                submission, student, _ = running.pop(future)
                _replace_stuck(client, future, log)
                yield stuck_result(state, submission, allowance)
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
             state: BatchState) -> Graded | str:
    """Write a finished job's result; a job that failed is the grader's failure."""
    try:
        result: results.Result = future.result()
        state.write(result)
    except Exception as exc:
        return f"{student}: {type(exc).__name__}: {exc}"
    return Graded.of(result)
