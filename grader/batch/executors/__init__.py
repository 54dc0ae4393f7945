"""Where a class is graded: worker processes on this machine, or a Dask cluster.

`executor_for` turns ``--executor`` and its options into an `Executor`
(`grader.batch.executors.base`): ``"local"`` is `grader.batch.executors.local.LocalExecutor`
(forked worker processes, each submission under a deadline past which its worker is replaced
and the student gets an error result), ``"dask"`` is
`grader.batch.executors.dask.DaskExecutor` (the workers of a Dask cluster grade; this process
reads the submissions and writes the results). Both grade with `grader.batch.jobs.grade_job`.

``distributed`` is an optional dependency (``pip install 'backprop-grader[dask]'``): its
executor's module is imported only when the Dask executor is asked for.
"""

from __future__ import annotations

import os

from grader.batch.executors.base import (
    ClusterError,
    Executor,
    ExecutorError,
    worker_deadline,
)
from grader.batch.executors.local import LocalExecutor

__all__ = ["EXECUTORS", "INSTALL_HINT", "ClusterError", "Executor", "ExecutorError",
           "LocalExecutor", "executor_for", "worker_deadline"]

EXECUTORS = ("local", "dask")
INSTALL_HINT = "pip install 'backprop-grader[dask]'"


def executor_for(name: str, *, jobs: int | None = None,
                 scheduler: str | None = None) -> Executor:
    """The executor ``name``, checked against its options.

    Parameters
    ----------
    name : {"local", "dask"}
        The executor.
    jobs : int, optional
        Worker processes of the local executor (default: the CPU count).
    scheduler : str, optional
        The Dask scheduler's address, such as ``tcp://10.0.0.5:8786`` (dask only, required).

    Returns
    -------
    Executor
        A `LocalExecutor` or a `grader.batch.executors.dask.DaskExecutor`.

    Raises
    ------
    ExecutorError
        Unknown executor, options that do not belong to it, or dask is not installed.
    """
    if name == "local":
        if scheduler is not None:
            raise ExecutorError("--scheduler is for --executor dask")
        return LocalExecutor(jobs or os.cpu_count() or 1)
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
        from grader.batch.executors.dask import DaskExecutor

        return DaskExecutor(scheduler)
    raise ExecutorError(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")
