"""Starting the sandboxed child: cold (a new process) or warm (forked from a zygote).

A child is where one submission's code runs (:mod:`grader._child`); :class:`grader.sandbox.Sandbox`
talks to it through a :class:`Child`, whichever way it was started.

Cold start
    A new ``python _child.py`` per child, under the isolation in force. Every child pays for
    a Python start and numpy's import, about 0.1 s.
Warm start (bubblewrap only)
    A *zygote*: ``_child.py --zygote`` in one bubblewrap sandbox, numpy already imported,
    forks one child per submission in a few milliseconds. The sandbox's folders are the
    zygote's (``submission``, ``work`` and ``tmp`` under its root, bound at ``/submission``,
    ``/work`` and ``/tmp``); the grader refills and empties them for every child. Between two
    children the zygote kills every other process of its pid namespace (``kill(-1)``), so
    nothing a submission started survives into the next one, and it is not dumpable, so a
    child cannot ptrace it. One pids cgroup caps the whole sandbox. A zygote that stops
    answering is killed with its namespace and replaced. Each grading process (each worker)
    keeps its own zygotes; ``GRADER_WARM_START=0`` turns warm starts off.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from grader import wire
from grader.isolation import Isolation, ProcessCap

CHILD_SCRIPT = Path(__file__).with_name("_child.py")
ENV_WARM = "GRADER_WARM_START"
#: how long a zygote may take to answer a fork or a reset before it is replaced
ZYGOTE_DEADLINE = 5.0
#: zygotes kept warm per grading process when no sandbox uses them
MAX_IDLE = 2


class Unavailable(Exception):
    """The child could not be started (the grader's problem, never the student's)."""


class Child(Protocol):
    """A started child: the call channel's two ends, and how to stop it."""

    write_fd: int
    reader: wire.Reader

    def exit_code(self, grace: float) -> int | None:
        """Wait up to ``grace`` seconds for the child to end; its exit status (negative: the
        signal), or None if it was still running. The child is stopped either way."""
        ...

    def kill(self) -> None:
        """Stop the child and everything it started; close the channel."""
        ...


def child_env() -> dict[str, str]:
    """The scrubbed environment of a child (bubblewrap adds HOME and TMPDIR)."""
    env = {
        "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in os.environ:  # this machine's OpenBLAS needs them to compute correctly
            env[key] = os.environ[key]
    return env


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this (child) process when the grader dies, however it dies."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _channel() -> tuple[int, int, int, int]:
    """Two pipes: (to child read, to child write, from child read, from child write)."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    return to_child_r, to_child_w, from_child_r, from_child_w


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


# -- cold ---------------------------------------------------------------------------------------
class ColdChild:
    """A child started as a new process (any isolation level)."""

    def __init__(self, isolation: Isolation, submission: Path, workdir: Path,
                 outputs: tuple[Path, Path], memory_mb: int, file_size_mb: int) -> None:
        to_child_r, self.write_fd, from_child_r, from_child_w = _channel()
        env = {**child_env(), "HOME": str(workdir), "TMPDIR": str(workdir)}
        isolate = isolation.preexec()
        isolation.prepare(submission, workdir)
        self.cap = ProcessCap.create()
        cap = self.cap

        def set_limits() -> None:
            memory = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            size = file_size_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            die_with_parent()
            if cap is not None:
                cap.join()
            if isolate is not None:
                isolate()

        command = isolation.command(CHILD_SCRIPT, submission, workdir,
                                    (to_child_r, from_child_w))
        try:
            with open(outputs[0], "wb") as out, open(outputs[1], "wb") as err:
                self.proc = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=workdir,
                    env=env, pass_fds=(to_child_r, from_child_w), start_new_session=True,
                    preexec_fn=set_limits,
                )
        except OSError as exc:
            _close(self.write_fd, from_child_r)
            raise Unavailable(f"the child could not be started: {exc}") from None
        finally:
            _close(to_child_r, from_child_w)
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
        _close(self.write_fd, self.reader.fd)


# -- warm ---------------------------------------------------------------------------------------
def _empty(folder: Path) -> None:
    """Remove everything in ``folder`` (whatever modes a child gave it), keep the folder."""
    def unlock(function: Callable[..., Any], path: str, _: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
        with contextlib.suppress(OSError):
            function(path)

    for entry in list(folder.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, onerror=unlock)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


class Zygote:
    """A warm ``_child.py --zygote`` in its own bubblewrap sandbox, owned by one process."""

    def __init__(self, isolation: Isolation, ready_timeout: float = 10.0) -> None:
        self.isolation = isolation
        self.owner = os.getpid()
        self.healthy = True
        self.root = Path(tempfile.mkdtemp(prefix="grader-zygote-"))
        for name in ("submission", "work", "tmp"):
            (self.root / name).mkdir()
        isolation.prepare(self.root / "submission", self.root / "work")
        isolation.prepare(self.root / "tmp", self.root / "tmp")
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.cap = ProcessCap.create()
        cap = self.cap

        def enter() -> None:
            die_with_parent()
            if cap is not None:
                cap.join()

        log = self.root / "zygote.log"
        try:
            with open(log, "wb") as err:
                self.proc = subprocess.Popen(
                    isolation.zygote_command(CHILD_SCRIPT, self.root, theirs.fileno()),
                    stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=self.root,
                    env=child_env(), pass_fds=(theirs.fileno(),), start_new_session=True,
                    preexec_fn=enter)
        except OSError as exc:
            self.close()
            raise Unavailable(f"the warm sandbox could not be started: {exc}") from None
        finally:
            theirs.close()
        reply = self._receive(ready_timeout)
        if reply.get("op") != "ready":
            tail = " ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
            self.close()
            raise Unavailable(f"the warm sandbox did not start ({reply.get('op')}): {tail}")

    # -- the control channel
    def _receive(self, timeout: float) -> dict[str, Any]:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 16)
            message = json.loads(data) if data else {"op": "closed"}
        except (OSError, ValueError) as exc:
            message = {"op": f"no answer ({type(exc).__name__})"}
        if not isinstance(message, dict):
            message = {"op": "malformed"}
        return message

    def _request(self, message: dict[str, Any], fds: list[int], timeout: float,
                 expect: str) -> dict[str, Any]:
        try:
            socket.send_fds(self.sock, [json.dumps(message).encode("utf-8")], fds)
        except OSError as exc:
            self.close()
            raise Unavailable(f"the warm sandbox is gone: {exc}") from None
        reply = self._receive(timeout)
        if reply.get("op") != expect:
            self.close()
            raise Unavailable(f"the warm sandbox answered {reply.get('op')!r} to "
                              f"{message['op']!r}")
        return reply

    # -- children
    def spawn(self, submission: Path, outputs: tuple[Path, Path], memory_mb: int,
              file_size_mb: int) -> WarmChild:
        """Fork a child for the modules of ``submission``, in freshly emptied folders."""
        self.clear()
        for path in submission.glob("*.py"):
            shutil.copyfile(path, self.root / "submission" / path.name)
        self.isolation.prepare(self.root / "submission", self.root / "work")
        to_child_r, to_child_w, from_child_r, from_child_w = _channel()
        out = os.open(outputs[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(outputs[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        request = {"op": "fork", "submission": "/submission", "cwd": "/work",
                   "memory": memory_mb * 1024 * 1024, "file_size": file_size_mb * 1024 * 1024}
        try:
            self._request(request, [to_child_r, from_child_w, out, err], ZYGOTE_DEADLINE,
                          "forked")
        except Unavailable:
            _close(to_child_w, from_child_r)
            raise
        finally:
            _close(to_child_r, from_child_w, out, err)
        return WarmChild(self, to_child_w, wire.Reader(from_child_r))

    def clear(self) -> None:
        """Empty the sandbox's folders: the submission, its working folder and /tmp."""
        for name in ("submission", "work", "tmp"):
            _empty(self.root / name)

    def reset(self, grace: float) -> int | None:
        """End the current child and all it started; its exit status if it had ended."""
        reply = self._request({"op": "reset", "grace": grace}, [], grace + ZYGOTE_DEADLINE,
                              "clean")
        code = reply.get("code")
        return code if isinstance(code, int) else None

    def close(self) -> None:
        """Kill the zygote, its whole namespace, and remove its folders."""
        self.healthy = False
        proc = getattr(self, "proc", None)
        if proc is not None and self.owner == os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.cap is not None and self.owner == os.getpid():
            self.cap.remove()
            self.cap = None
        if self.owner == os.getpid():
            _empty(self.root)
            shutil.rmtree(self.root, ignore_errors=True)


class WarmChild:
    """A child forked by a :class:`Zygote`."""

    def __init__(self, zygote: Zygote, write_fd: int, reader: wire.Reader) -> None:
        self.zygote = zygote
        self.write_fd = write_fd
        self.reader = reader
        self._ended = False

    def exit_code(self, grace: float) -> int | None:
        _close(self.write_fd)  # a child blocked on reading sees the end, and leaves
        self.write_fd = -1
        code = self._end(grace)
        self.kill()
        return code

    def _end(self, grace: float) -> int | None:
        if self._ended:
            return None
        self._ended = True
        try:
            return self.zygote.reset(grace)
        except Unavailable:
            return None

    def kill(self) -> None:
        self._end(0.0)
        if self.write_fd >= 0:
            _close(self.write_fd)
            self.write_fd = -1
        if self.reader.fd >= 0:
            _close(self.reader.fd)
            self.reader.fd = -1


# -- choosing ------------------------------------------------------------------------------------
_IDLE: list[Zygote] = []


def warm_allowed(isolation: Isolation) -> bool:
    """Whether children are forked from a zygote here (bubblewrap, not turned off)."""
    return (isolation.level == "bubblewrap" and isolation.bwrap is not None
            and os.environ.get(ENV_WARM, "1") != "0")


def acquire(isolation: Isolation) -> Zygote:
    """A warm zygote of this process for one sandbox's use (an idle one, or a new one)."""
    while _IDLE:
        zygote = _IDLE.pop()
        if zygote.owner == os.getpid() and zygote.healthy and zygote.isolation == isolation \
                and zygote.proc.poll() is None:
            return zygote
        if zygote.owner == os.getpid():
            zygote.close()
    return Zygote(isolation)


def prestart(isolation: Isolation) -> None:
    """Start this process's first zygote now (a grading worker, before its first submission),
    so that no student's grading time includes it. Does nothing where warm starts are off;
    a zygote that cannot start is left for the first sandbox to report."""
    if warm_allowed(isolation) and not any(z.owner == os.getpid() for z in _IDLE):
        with contextlib.suppress(Unavailable):
            release(acquire(isolation))


def release(zygote: Zygote) -> None:
    """Give a zygote back after its sandbox closed (kept warm, or closed)."""
    if zygote.healthy and zygote.owner == os.getpid() and len(_IDLE) < MAX_IDLE:
        zygote.clear()  # no file of this submission waits for the next
        _IDLE.append(zygote)
    else:
        zygote.close()


def close_idle() -> None:
    """Close the idle zygotes of this process (at exit, and after a fork: not ours)."""
    while _IDLE:
        zygote = _IDLE.pop()
        if zygote.owner == os.getpid():
            zygote.close()


def _forget_after_fork() -> None:
    _IDLE.clear()  # the parent's zygotes: a forked worker starts its own


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(close_idle)
