"""A cap on how many processes one sandboxed child may run: a pids cgroup of its own.

Created per child where this process may write the pids controller (cgroup v1's
``/sys/fs/cgroup/pids`` or a v2 hierarchy with ``pids`` enabled); the child joins it before
``exec``, so its whole tree, namespaces included, counts against the cap.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from functools import cache
from pathlib import Path

#: most processes (threads included) the child may run at once (uid mode; pid namespace
#: otherwise)
MAX_PROCESSES = 64


class ProcessCap:
    """A pids cgroup that caps how many processes one child may run (``pids.max``)."""

    def __init__(self, root: Path, limit: int = MAX_PROCESSES) -> None:
        _remove_stale(root)
        self.path = root / f"grader-{os.getpid()}-{os.urandom(4).hex()}"
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(limit))

    def join(self) -> None:
        """Move the calling process into the cgroup (called in the child before exec)."""
        with open(self.path / "cgroup.procs", "w") as fh:
            fh.write(str(os.getpid()))

    def remove(self) -> None:
        """Kill whatever still runs in the cgroup, then remove it."""
        for _ in range(200):
            try:
                for pid in (self.path / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(int(pid), signal.SIGKILL)
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)

    @staticmethod
    def create(limit: int = MAX_PROCESSES) -> ProcessCap | None:
        """A new cap, or None where no pids controller is writable here."""
        root = pids_root()
        if root is None:
            return None
        try:
            return ProcessCap(root, limit)
        except OSError:
            return None


def _remove_stale(root: Path) -> None:
    """Remove empty caps left by grader processes that were killed before cleaning up."""
    for path in root.glob("grader-*-*"):
        owner = path.name.split("-")[1]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            with contextlib.suppress(OSError):
                path.rmdir()


@cache
def pids_root() -> Path | None:
    """The pids controller's folder this process may make cgroups in, or None."""
    candidates = [Path("/sys/fs/cgroup/pids")]
    unified = Path("/sys/fs/cgroup")
    if "pids" in _read(unified / "cgroup.controllers").split():
        candidates.append(unified)
    for root in candidates:
        if (root / "cgroup.procs").exists() and os.access(root, os.W_OK):
            probe = root / f"grader-probe-{os.getpid()}"
            try:
                probe.mkdir()
                ok = (probe / "pids.max").exists()
                probe.rmdir()
            except OSError:
                continue
            if ok:
                return root
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
