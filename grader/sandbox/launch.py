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
    the forked child makes a world of its own (``_child.fresh_world``): new user, mount, IPC
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
from pathlib import Path
from typing import Any, Protocol

from grader.sandbox import wire
from grader.sandbox.isolation import Isolation, ProcessCap
from grader.sandbox.mounts import address_limit, empty, seal, sysv_bytes, tmpfs_sizes

CHILD_SCRIPT = Path(__file__).with_name("_child.py")
ENV_WARM = "GRADER_WARM_START"
#: how long a zygote may take to answer a fork or a reset before it is replaced
ZYGOTE_DEADLINE = 5.0
#: zygotes kept warm per grading process when no sandbox uses them
MAX_IDLE = 2
#: free bytes /dev/shm must have to hold the I/O folders
IO_ROOM = 1 << 30


class Unavailable(Exception):
    """The child could not be started (the grader's problem, never the student's)."""


class Child(Protocol):
    """A started child: the call channel's two ends, and how to stop it."""

    write_fd: int
    reader: wire.Reader
    #: the I/O folder: (the grader's path, the child's path); see :meth:`Isolation.prepare_io`
    io: tuple[Path, str]

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


def io_parent() -> str:
    """Where I/O folders are made: /dev/shm when it has room (memory shared with the child,
    and no path under the grader's temporary folder in the sandbox's mount table), else
    the temporary folder."""
    with contextlib.suppress(OSError):
        room = os.statvfs("/dev/shm")
        if os.access("/dev/shm", os.W_OK) and room.f_bavail * room.f_frsize >= IO_ROOM:
            return "/dev/shm"
    return tempfile.gettempdir()


_swept: set[tuple[str, str]] = set()


def own_folder(kind: str, parent: str) -> Path:
    """A new folder ``grader-<kind>-<pid>-<random>`` in ``parent``. The first one of each
    kind and place a process makes first removes those of grader processes that are gone
    (killed before they could clean up: a worker past its deadline, a killed batch)."""
    if (kind, parent) not in _swept:
        _swept.add((kind, parent))
        for stale in Path(parent).glob(f"grader-{kind}-*-*"):
            owner = stale.name.split("-")[2]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                empty(stale)
                shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"grader-{kind}-{os.getpid()}-", dir=parent))


# -- cold ---------------------------------------------------------------------------------------
class ColdChild:
    """A child started as a new process (any isolation level)."""

    def __init__(self, isolation: Isolation, submission: Path, workdir: Path,
                 outputs: tuple[Path, Path], memory_mb: int, file_size_mb: int) -> None:
        to_child_r, self.write_fd, from_child_r, from_child_w = _channel()
        env = child_env()
        if isolation.level != "bubblewrap":  # bubblewrap sets them inside, to its own paths
            env.update(HOME=str(workdir), TMPDIR=str(workdir))
        isolate = isolation.preexec()
        isolation.prepare(submission, workdir)
        io = own_folder("io", io_parent())  # a new, empty one for every child
        isolation.prepare_io(io)
        self.io = (io, isolation.io_path(io))
        self.cap = ProcessCap.create()
        cap = self.cap
        memory = address_limit(isolation.level, memory_mb)

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
            _close(self.write_fd, from_child_r)
            shutil.rmtree(io, ignore_errors=True)
            raise Unavailable(f"the child could not be started: {exc}") from None
        finally:
            _close(to_child_r, from_child_w, *sealed)
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
        empty(self.io[0])
        with contextlib.suppress(OSError):
            self.io[0].rmdir()


# -- warm ---------------------------------------------------------------------------------------
_empty = empty  # the zygote's folders are emptied the same link-safe way


class Zygote:
    """A warm ``_child.py --zygote`` in its own bubblewrap sandbox, owned by one process."""

    def __init__(self, isolation: Isolation, ready_timeout: float = 10.0) -> None:
        self.isolation = isolation
        self.owner = os.getpid()
        self.healthy = True
        self.root = own_folder("zygote", tempfile.gettempdir())
        (self.root / "submission").mkdir()
        isolation.prepare(self.root / "submission", self.root / "submission")
        self.io = own_folder("io", io_parent())
        isolation.prepare_io(self.io)
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.cap = ProcessCap.create()
        cap = self.cap
        isolate = isolation.preexec()

        def enter() -> None:
            die_with_parent()
            if cap is not None:
                cap.join()
            if isolate is not None:
                isolate()

        log = self.root / "zygote.log"
        command, sealed = seal(isolation.zygote_command(CHILD_SCRIPT, self.io,
                                                        theirs.fileno()))
        try:
            with open(log, "wb") as err:
                self.proc = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=self.root,
                    env=child_env(), pass_fds=(theirs.fileno(), *sealed),
                    start_new_session=True, preexec_fn=enter)
        except OSError as exc:
            self.close()
            raise Unavailable(f"the warm sandbox could not be started: {exc}") from None
        finally:
            theirs.close()
            _close(*sealed)
        reply = self._receive(ready_timeout)
        if reply.get("op") != "ready":
            tail = " ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
            self.close()
            raise Unavailable(f"the warm sandbox did not start ({reply.get('op')}): {tail}")
        # the zygote tried a child's fresh world once: without it, no warm start is safe
        problem = reply.get("fresh_world")
        _PROBLEMS[isolation] = str(problem)[:300] if problem is not None else None
        if problem is not None:
            self.close()
            raise Unavailable(f"warm starts are off: {_PROBLEMS[isolation]}")

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
        self.isolation.prepare(self.root / "submission", self.root / "submission")
        to_child_r, to_child_w, from_child_r, from_child_w = _channel()
        out = os.open(outputs[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(outputs[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        # the child copies the files from this descriptor: no host folder of it is bound
        folder = os.open(self.root / "submission", os.O_RDONLY | os.O_DIRECTORY)
        request = {"op": "fork", "submission": "/submission", "cwd": "/work",
                   "memory": address_limit(self.isolation.level, memory_mb),
                   "file_size": file_size_mb * 1024 * 1024, "tmpfs": tmpfs_sizes(memory_mb),
                   "sysv": sysv_bytes(memory_mb), "allow": list(self.isolation.importable())}
        try:
            self._request(request, [to_child_r, from_child_w, out, err, folder],
                          ZYGOTE_DEADLINE, "forked")
        except Unavailable:
            _close(to_child_w, from_child_r)
            raise
        finally:
            _close(to_child_r, from_child_w, out, err, folder)
        return WarmChild(self, to_child_w, wire.Reader(from_child_r))

    def clear(self) -> None:
        """Empty the sandbox's folders: the submission and the I/O folder (each child's
        /tmp, /work and /dev/shm are its own, gone with it)."""
        _empty(self.root / "submission")
        _empty(self.io)

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
            for folder in (self.root, getattr(self, "io", self.root)):
                _empty(folder)
                shutil.rmtree(folder, ignore_errors=True)


class WarmChild:
    """A child forked by a :class:`Zygote`."""

    def __init__(self, zygote: Zygote, write_fd: int, reader: wire.Reader) -> None:
        self.zygote = zygote
        self.write_fd = write_fd
        self.reader = reader
        self.io = (zygote.io, zygote.isolation.io_path(zygote.io))
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
#: per isolation, why a zygote's child cannot get a fresh world here (None: it can)
_PROBLEMS: dict[Isolation, str | None] = {}


def warm_allowed(isolation: Isolation) -> bool:
    """Whether children are forked from a zygote here (bubblewrap, not turned off, and a
    forked child can make its own fresh world: the first call starts a zygote to know)."""
    if not (isolation.level == "bubblewrap" and isolation.bwrap is not None
            and os.environ.get(ENV_WARM, "1") != "0"):
        return False
    return warm_problem(isolation) is None


def warm_problem(isolation: Isolation) -> str | None:
    """Why a forked child cannot get a fresh world here (nested user namespaces refused),
    or None. Learnt from the first zygote, which is then kept for the first sandbox."""
    if isolation not in _PROBLEMS:
        with contextlib.suppress(Unavailable):  # other failures are reported when used
            release(Zygote(isolation))
    return _PROBLEMS.get(isolation)


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
