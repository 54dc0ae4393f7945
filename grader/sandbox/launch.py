"""Starting the sandboxed child: cold (a new process) or warm (forked from a zygote).

A child is where one submission's code runs (:mod:`grader.sandbox._child`);
:class:`grader.sandbox.box.Sandbox` talks to it through a :class:`Child`, whichever way it was
started. Every child has an I/O folder (``Child.io``: the grader's path, the child's path), emptied
before it starts, where the child may read and write (and map) the files the grader creates, but,
when the grader runs as root, create none of its own (so it can write at most one file-size limit
into each of the grader's files; see :meth:`grader.sandbox.isolation.Isolation.prepare_io`).

Cold start
    A new ``python _child.py`` per child, under the isolation in force. Every child pays for
    a Python start and numpy's import, about 0.1 s. Under bubblewrap each one gets its own
    namespaces and fresh, size-capped tmpfs (:mod:`grader.sandbox.mounts`).
Warm start (bubblewrap only)
    A *zygote*: ``_child.py --zygote`` in one bubblewrap sandbox, numpy already imported,
    forks one child per submission in a few milliseconds. Before any of the student's code,
    the forked child makes a world of its own (``_world.World.make``): new user, mount, IPC
    and pid namespaces, fresh size-capped tmpfs on ``/tmp``, ``/work`` and ``/dev/shm``
    (binds below them, such as a venv under ``/tmp``, carried over read-only), its
    submission's files copied into a read-only tmpfs, capped SysV IPC of its own, no
    capability left and no new namespace allowed (seccomp); the student's process is pid 1
    of its pid namespace, whatever earlier children forked, and cannot signal the zygote.
    It all dies with the child, so nothing it writes reaches the next one. This costs a
    child about 2 ms of namespaces and one more fork (measured 3 to 8 ms per child on a
    loaded 2-CPU machine, against about 0.4 s per submission). The grader refills only the
    submission's copy and the I/O folder between children. Between two children the zygote
    kills every other process of its pid namespace (``kill(-1)``), so nothing a submission
    started survives into the next one, and it is not dumpable, so a child cannot ptrace
    it. One pids cgroup caps the whole sandbox. A zygote that stops answering is killed
    with its namespace and replaced. Each grading process (each worker) keeps its own
    zygotes; ``GRADER_WARM_START=0`` turns warm starts off, and they are off where the
    first zygote finds that a forked child cannot make its own namespaces (``grader
    doctor`` says why): every child then starts cold.

What a grading process keeps between its sandboxes (idle zygotes, the folders it swept) is
held by a :class:`Launcher`, which each :class:`grader.sandbox.box.Sandbox` is given; those
given none share the process's own (:func:`process_launcher`). The zygote itself is
:mod:`grader.sandbox.zygote`; what every child has, :mod:`grader.sandbox.children`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path

from grader.sandbox import wire
from grader.sandbox.children import (
    CHILD_SCRIPT,
    Child,
    Folders,
    Unavailable,
    channel,
    child_env,
    close,
    die_with_parent,
    io_parent,
)
from grader.sandbox.isolation import Isolation, Level
from grader.sandbox.mounts import empty, seal
from grader.sandbox.pids import ProcessCap
from grader.sandbox.zygote import WarmChild, WarmRefused, Zygote

__all__ = ["ENV_WARM", "MAX_ATTEMPTS", "MAX_IDLE", "Child", "ColdChild", "Launcher",
           "Unavailable", "WarmChild", "Zygote", "close_idle", "note_attempts", "prestart",
           "process_launcher", "warm_allowed", "warm_problem"]

ENV_WARM = "GRADER_WARM_START"
#: zygotes kept warm per grading process when no sandbox uses them
MAX_IDLE = 2
_empty = empty  # folders a child wrote in are emptied the same link-safe way everywhere


# -- cold ---------------------------------------------------------------------------------------
class ColdChild:
    """A child started as a new process (any isolation level)."""

    def __init__(self, isolation: Isolation, submission: Path, workdir: Path,
                 outputs: tuple[Path, Path], memory_mb: int, file_size_mb: int,
                 folders: Folders) -> None:
        to_child_r, self.write_fd, from_child_r, from_child_w = channel()
        env = child_env()
        if isolation.level != Level.BUBBLEWRAP:  # bubblewrap sets them inside, to its own paths
            env.update(HOME=str(workdir), TMPDIR=str(workdir))
        isolate = isolation.preexec()
        isolation.prepare(submission, workdir)
        io = folders.make("io", io_parent())  # a new, empty one for every child
        isolation.prepare_io(io)
        self.io = (io, isolation.io_path(io))
        self.cap = ProcessCap.create()
        cap = self.cap
        memory = isolation.address_limit(memory_mb)

        def set_limits() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            size = file_size_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            die_with_parent()
            if cap is not None:
                cap.join()
            if isolate is not None:
                isolate()

        command, sealed = seal(isolation.command(CHILD_SCRIPT, submission, workdir,
                                                 (to_child_r, from_child_w), io, memory_mb))
        try:
            with open(outputs[0], "wb") as out, open(outputs[1], "wb") as err:
                self.proc = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=workdir,
                    env=env, pass_fds=(to_child_r, from_child_w, *sealed),
                    start_new_session=True, preexec_fn=set_limits,
                )
        except OSError as exc:
            close(self.write_fd, from_child_r)
            shutil.rmtree(io, ignore_errors=True)
            raise Unavailable(f"the child could not be started: {exc}") from None
        finally:
            close(to_child_r, from_child_w, *sealed)
        self.reader = wire.Reader(from_child_r)

    def exit_code(self, grace: float) -> int | None:
        code = self.proc.poll()
        if code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.proc.wait(timeout=grace)
        self.kill()
        return code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        if self.cap is not None:
            self.cap.remove()
            self.cap = None
        close(self.write_fd, self.reader.fd)
        empty(self.io[0])
        with contextlib.suppress(OSError):
            self.io[0].rmdir()


# -- choosing ------------------------------------------------------------------------------------
#: per isolation, why a zygote's child cannot get a fresh world here (None: it can): a fact of
#: this machine, learnt once per process from its first zygote, as :func:`detect` keeps its own
_PROBLEMS: dict[Isolation, str | None] = {}


class Launcher:
    """How one grading process starts its sandboxes' children, and what it keeps for them.

    Parameters
    ----------
    max_idle : int
        How many zygotes are kept warm while no sandbox uses them.

    Attributes
    ----------
    folders : Folders
        The temporary folders of its children (stale ones of dead processes swept once).
    idle : list of Zygote
        Warm zygotes waiting for a sandbox (only this process's: a forked process that uses
        the launcher starts with none, the parent's being no use to it).
    """

    def __init__(self, max_idle: int = MAX_IDLE) -> None:
        self.folders = Folders()
        self.max_idle = max_idle
        self._idle: list[Zygote] = []
        self._owner = os.getpid()

    @property
    def idle(self) -> list[Zygote]:
        if self._owner != os.getpid():  # forked: the parent's zygotes are not ours
            self._idle, self._owner = [], os.getpid()
        return self._idle

    def cold(self, isolation: Isolation, submission: Path, workdir: Path,
             outputs: tuple[Path, Path], memory_mb: int, file_size_mb: int) -> ColdChild:
        """Start a child as a new process (see :class:`ColdChild`)."""
        return ColdChild(isolation, submission, workdir, outputs, memory_mb, file_size_mb,
                         self.folders)

    def warm_allowed(self, isolation: Isolation) -> bool:
        """Whether children are forked from a zygote here (bubblewrap, not turned off, and a
        forked child can make its own fresh world: the first call starts a zygote to know)."""
        if not (isolation.level == Level.BUBBLEWRAP and isolation.bwrap is not None
                and os.environ.get(ENV_WARM, "1") != "0"):
            return False
        return self.warm_problem(isolation) is None

    def warm_problem(self, isolation: Isolation) -> str | None:
        """Why a forked child cannot get a fresh world here (nested user namespaces refused),
        or None. Learnt from the first zygote, which is then kept for the first sandbox."""
        if isolation not in _PROBLEMS:
            with contextlib.suppress(Unavailable):  # other failures are reported when used
                self.release(self._start(isolation))
        return _PROBLEMS.get(isolation)

    def _start(self, isolation: Isolation) -> Zygote:
        try:
            zygote = Zygote(isolation, self.folders)
        except WarmRefused as refused:
            _PROBLEMS[isolation] = refused.problem
            raise
        _PROBLEMS[isolation] = None
        return zygote

    def acquire(self, isolation: Isolation) -> Zygote:
        """A warm zygote for one sandbox's use (an idle one, or a new one)."""
        idle = self.idle
        while idle:
            zygote = idle.pop()
            if zygote.owner == os.getpid() and zygote.healthy \
                    and zygote.isolation == isolation and zygote.proc.poll() is None:
                return zygote
            if zygote.owner == os.getpid():
                zygote.close()
        return self._start(isolation)

    def release(self, zygote: Zygote) -> None:
        """Give a zygote back after its sandbox closed (kept warm, or closed)."""
        if zygote.healthy and zygote.owner == os.getpid() and len(self.idle) < self.max_idle:
            zygote.clear()  # no file of this submission waits for the next
            self.idle.append(zygote)
        else:
            zygote.close()

    def prestart(self, isolation: Isolation) -> None:
        """Start the first zygote now (a grading worker, before its first submission), so
        that no student's grading time includes it. Does nothing where warm starts are off;
        a zygote that cannot start is left for the first sandbox to report."""
        if self.warm_allowed(isolation) and not self.idle:
            with contextlib.suppress(Unavailable):
                self.release(self.acquire(isolation))

    def close(self) -> None:
        """Close the idle zygotes (at exit)."""
        idle = self.idle
        while idle:
            zygote = idle.pop()
            if zygote.owner == os.getpid():
                zygote.close()


_PROCESS = Launcher()
atexit.register(_PROCESS.close)


def process_launcher() -> Launcher:
    """The launcher of sandboxes made without one: this process's own."""
    return _PROCESS


# The functions other packages use, on the process's launcher.
def warm_allowed(isolation: Isolation) -> bool:
    """See :meth:`Launcher.warm_allowed`."""
    return _PROCESS.warm_allowed(isolation)


def warm_problem(isolation: Isolation) -> str | None:
    """See :meth:`Launcher.warm_problem`."""
    return _PROCESS.warm_problem(isolation)


def prestart(isolation: Isolation) -> None:
    """See :meth:`Launcher.prestart` (a grading worker's first zygote)."""
    _PROCESS.prestart(isolation)


def close_idle() -> None:
    """See :meth:`Launcher.close`."""
    _PROCESS.close()


#: at most this many attempts are kept per sandbox
MAX_ATTEMPTS = 20


def note_attempts(kept: list[str], reported: object) -> None:
    """Add a child's reported attempts to ``kept``: short, printable, each once, at most
    ``MAX_ATTEMPTS`` (testimony from where student code runs: shown, never scored)."""
    if not isinstance(reported, list):
        return
    for item in reported[:MAX_ATTEMPTS]:
        if len(kept) >= MAX_ATTEMPTS:
            return
        if isinstance(item, str):
            text = "".join(c if c.isprintable() and c.isascii() else "?" for c in item[:160])
            if text and text not in kept:
                kept.append(text)
