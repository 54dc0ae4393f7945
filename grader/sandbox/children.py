"""What every started child has, however it was started (see :mod:`grader.sandbox.launch`).

A child is where one submission's code runs (``_child.py``). Whichever way it starts, it has
the call channel (two pipes), a scrubbed environment, dies with the grader, and has an I/O
folder of its own, made by :class:`Folders`, which also sweeps away what grader processes
killed before they could clean up left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Protocol

from grader.sandbox import wire
from grader.sandbox.mounts import empty

CHILD_SCRIPT = Path(__file__).with_name("_child.py")
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


def channel() -> tuple[int, int, int, int]:
    """Two pipes: (to child read, to child write, from child read, from child write)."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    return to_child_r, to_child_w, from_child_r, from_child_w


def close(*fds: int) -> None:
    """Close each descriptor, ignoring those already closed."""
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


class Folders:
    """The temporary folders one grading process makes for its children.

    Each is ``grader-<kind>-<pid>-<random>`` in its parent folder. The first one of each kind
    and place first removes those of grader processes that are gone (killed before they could
    clean up: a worker past its deadline, a killed batch); ``swept`` remembers where that was
    done, so a process sweeps each place once.
    """

    def __init__(self) -> None:
        self.swept: set[tuple[str, str]] = set()

    def make(self, kind: str, parent: str) -> Path:
        """A new folder of this process for ``kind`` (``"io"``, ``"zygote"``) in ``parent``."""
        if (kind, parent) not in self.swept:
            self.swept.add((kind, parent))
            for stale in Path(parent).glob(f"grader-{kind}-*-*"):
                owner = stale.name.split("-")[2]
                if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                    empty(stale)
                    shutil.rmtree(stale, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"grader-{kind}-{os.getpid()}-", dir=parent))
