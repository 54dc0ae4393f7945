"""(In the sandboxed child.) The warm start: a zygote that forks one child per submission.

The zygote (``_child.py --zygote``) runs in its own bubblewrap sandbox with numpy imported and
serves the grader's requests on a unix socket (:func:`serve`): each ``fork`` starts a child
that makes its fresh world (:class:`grader.sandbox._world.World`), becomes pid 1 of a pid
namespace of its own (:func:`own_pids`), takes its resource limits and serves the submission's
calls; each ``reset`` ends that child and everything it started. See
:mod:`grader.sandbox.launch` for the grader's side. Standard library and numpy only.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from . import wire
from ._world import PLACES, PR_SET_DUMPABLE, PR_SET_PDEATHSIG, World, prctl

#: how a forked child serves its submission: (submission, read fd, write fd, importable)
Start = Callable[[str, int, int, list[str]], None]


def serve(control_fd: int, start: Start) -> int:
    """Serve fork requests from the grader on a unix socket, one child at a time.

    Requests (JSON, one per datagram): ``fork`` with five descriptors attached (the call
    channel's read and write ends, stdout, stderr, the submission's folder) starts a child;
    ``reset`` ends it and everything it started (``kill(-1)`` in this pid namespace,
    which spares only this process and the namespace's init) and answers with its exit
    status. The zygote is not dumpable, so a child running as the same uid cannot ptrace it
    or read its memory.
    """
    import json
    import socket

    prctl(PR_SET_DUMPABLE, 0)
    sock = socket.socket(fileno=control_fd)
    # numpy loads these lazily, and student code touches them (an ``rng: np.random.Generator``
    # annotation, ``np.linalg.norm``): loaded once here, no child pays for them
    import numpy.linalg
    import numpy.random  # noqa: F401

    def answer(message: dict[str, Any]) -> None:
        sock.send(json.dumps(message).encode("utf-8"))

    world = World(PLACES)
    answer({"op": "ready", "pid": os.getpid(), "fresh_world": _probe(world)})
    child: int | None = None
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 8)
        except OSError:
            return 0
        if not data:
            return 0  # the grader is gone
        request = json.loads(data)
        op = request.get("op")
        if op == "fork":
            _clean(child, 0.0)
            if len(fds) != 5:
                for fd in fds:
                    os.close(fd)
                answer({"op": "error", "message": "fork needs five descriptors"})
                continue
            pid = os.fork()
            if pid == 0:
                sock.close()
                _start_forked(request, fds, world, start)
            for fd in fds:
                os.close(fd)
            child = pid
            answer({"op": "forked", "pid": pid})
        elif op == "reset":
            code = _clean(child, float(request.get("grace", 0.0)))
            child = None
            answer({"op": "clean", "code": code})
        else:
            for fd in fds:
                os.close(fd)
            answer({"op": "error", "message": f"unknown op {op!r}"})


def _start_forked(request: dict[str, Any], fds: list[int], world: World, start: Start) -> None:
    """(In the forked child.) Become a fresh child for one submission; never returns."""
    import resource

    code = 70
    try:
        read_fd, write_fd, out_fd, err_fd, folder = fds
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        for fd in (out_fd, err_fd):
            if fd > 2:
                os.close(fd)
        prctl(PR_SET_PDEATHSIG, 9)  # the zygote gone: nothing of this submission lingers
        try:
            world.make({str(k): int(v) for k, v in request["tmpfs"].items()},
                       int(request.get("sysv", 0)), folder)
            os.close(folder)
        except OSError as exc:
            wire.write_message(write_fd, {"op": f"no fresh world for the child: {exc}"})
            return
        own_pids((read_fd, write_fd))
        memory = int(request["memory"])
        size = int(request["file_size"])
        if memory <= _address_space():  # a cold start could not even import numpy
            wire.write_message(write_fd, {"op": f"too little memory: the limit of "
                                                f"{memory >> 20} MB is below what Python and "
                                                f"numpy take ({_address_space() >> 20} MB)"})
            return
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.chdir(str(request["cwd"]))
        submission = str(request["submission"])
        sys.argv = [sys.argv[0], submission, str(read_fd), str(write_fd)]  # as a cold start
        start(submission, read_fd, write_fd, [str(n) for n in request.get("allow", [])])
        code = 0
    finally:
        os._exit(code)


def own_pids(channel: tuple[int, int]) -> None:
    """(After the fresh world.) Return in the first process of a pid namespace of its
    own: pid 1 for every student, whatever an earlier one forked (the pid counter is no
    channel between students), and when it ends every process it left ends too. As a
    namespace's init it ignores signals it sends itself without a handler (a self-SIGKILL
    does nothing; faults still kill it) and adopts its orphans. The process above waits
    for it and ends as it ended, without the call channel, so the channel's end is seen at
    once; that one never returns. One fork (about 1 ms): a pid 1 of its own to keep the
    student at pid 2 would take a second one."""
    import contextlib
    import signal

    child = os.fork()
    if child == 0:
        prctl(PR_SET_PDEATHSIG, 9)
        return
    for fd in channel:
        os.close(fd)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 70)


def _others() -> list[int]:
    """Every live process of this pid namespace but the zygote and the namespace's init."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (1, me):
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    state = fh.read().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue  # gone meanwhile
            if state not in (b"Z", b"X"):
                found.append(int(entry))
    return found


def _clean(child: int | None, grace: float) -> int | None:
    """End the current child and everything it left behind; return its exit status.

    Waits up to ``grace`` seconds for the child to end by itself (after a crash, to report
    how it ended), then kills every other process of the namespace, as many times as needed.
    """
    import signal

    code: int | None = None
    until = time.monotonic() + grace
    while child is not None:
        try:
            pid, status = os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() >= until:
            break
        time.sleep(0.002)
    for _ in range(1000):
        try:
            os.kill(-1, signal.SIGKILL)  # all this uid may signal here: never us, never init
        except ProcessLookupError:
            pass
        while True:  # reap our own children; orphans go to the namespace's init
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            if pid == child and code is None:
                code = os.waitstatus_to_exitcode(status)
        if not _others():
            return code
        time.sleep(0.001)
    raise RuntimeError("processes of the previous submission would not die")


def _address_space() -> int:
    """This process's virtual memory size in bytes (what RLIMIT_AS counts)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _probe(world: World) -> str | None:
    """Whether a forked child can make its fresh world here: None, or why not."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            world.make(dict.fromkeys(PLACES, 1 << 20), 1 << 20,
                       os.open("/grader", os.O_RDONLY | os.O_DIRECTORY))
            code = 0
        except BaseException as exc:
            os.write(write_end, str(exc).encode()[:300])
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        why = fh.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if status == 0 and not why:
        return None
    return why or f"the probe ended with status {status}"
