"""The warm start: a zygote forks one child per submission (bubblewrap only).

A :class:`Zygote` is ``_child.py --zygote`` in one bubblewrap sandbox, numpy already
imported; it forks a :class:`WarmChild` per submission in a few milliseconds, and each forked
child makes a world of its own before any of the student's code (see
:mod:`grader.sandbox.launch` for what that world is, and :mod:`grader.sandbox._zygote` for the
zygote's side). Which process keeps which zygotes is :class:`grader.sandbox.launch.Launcher`'s
business.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from grader.sandbox import wire
from grader.sandbox.children import (
    CHILD_SCRIPT,
    Folders,
    Unavailable,
    channel,
    child_env,
    close,
    die_with_parent,
    io_parent,
)
from grader.sandbox.isolation import Isolation
from grader.sandbox.mounts import empty, module_files, seal, sysv_bytes, tmpfs_sizes
from grader.sandbox.pids import ProcessCap

#: how long a zygote may take to answer a fork or a reset before it is replaced
ZYGOTE_DEADLINE = 5.0


class WarmRefused(Unavailable):
    """A zygote started, but a child it forks cannot make its own fresh world here (nested
    user namespaces refused, for instance): no warm start is safe on this machine."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"warm starts are off: {problem}")
        self.problem = problem


class Zygote:
    """A warm ``_child.py --zygote`` in its own bubblewrap sandbox, owned by one process.

    Parameters
    ----------
    isolation : Isolation
        The bubblewrap isolation its children get.
    folders : Folders
        Where its folders (the submission's copy, the I/O folder) are made.
    ready_timeout : float
        Seconds it may take to answer that it is ready.

    Raises
    ------
    WarmRefused
        It started, but a child it forks cannot make a fresh world here.
    Unavailable
        It could not start.
    """

    def __init__(self, isolation: Isolation, folders: Folders,
                 ready_timeout: float = 10.0) -> None:
        self.isolation = isolation
        self.owner = os.getpid()
        self.healthy = True
        self.root = folders.make("zygote", tempfile.gettempdir())
        (self.root / "submission").mkdir()
        isolation.prepare(self.root / "submission", self.root / "submission")
        self.io = folders.make("io", io_parent())
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
            close(*sealed)
        reply = self._receive(ready_timeout)
        if reply.get("op") != "ready":
            tail = " ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
            self.close()
            raise Unavailable(f"the warm sandbox did not start ({reply.get('op')}): {tail}")
        # the zygote tried a child's fresh world once: without it, no warm start is safe
        problem = reply.get("fresh_world")
        if problem is not None:
            self.close()
            raise WarmRefused(str(problem)[:300])

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
        for path in module_files(submission):
            shutil.copyfile(path, self.root / "submission" / path.name)
        self.isolation.prepare(self.root / "submission", self.root / "submission")
        to_child_r, to_child_w, from_child_r, from_child_w = channel()
        out = os.open(outputs[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(outputs[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        # the child copies the files from this descriptor: no host folder of it is bound
        folder = os.open(self.root / "submission", os.O_RDONLY | os.O_DIRECTORY)
        request = {"op": "fork", "submission": "/submission", "cwd": "/work",
                   "memory": self.isolation.address_limit(memory_mb),
                   "file_size": file_size_mb * 1024 * 1024, "tmpfs": tmpfs_sizes(memory_mb),
                   "sysv": sysv_bytes(memory_mb), "allow": list(self.isolation.importable())}
        try:
            self._request(request, [to_child_r, from_child_w, out, err, folder],
                          ZYGOTE_DEADLINE, "forked")
        except Unavailable:
            close(to_child_w, from_child_r)
            raise
        finally:
            close(to_child_r, from_child_w, out, err, folder)
        return WarmChild(self, to_child_w, wire.Reader(from_child_r))

    def clear(self) -> None:
        """Empty the sandbox's folders: the submission and the I/O folder (each child's
        /tmp, /work and /dev/shm are its own, gone with it)."""
        empty(self.root / "submission")
        empty(self.io)

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
                empty(folder)
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
        close(self.write_fd)  # a child blocked on reading sees the end, and leaves
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
            close(self.write_fd)
            self.write_fd = -1
        if self.reader.fd >= 0:
            close(self.reader.fd)
            self.reader.fd = -1
