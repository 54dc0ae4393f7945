"""Isolation of the sandboxed child beyond resource limits: namespaces, another uid, or a warning.

Three levels, the best available chosen by :func:`detect`:

``bubblewrap``
    The child runs under ``bwrap`` in fresh user, pid, network, ipc, uts and cgroup
    namespaces, as uid/gid 65534, with a new root that holds only read-only binds of the
    system libraries and the Python installation, the submission's own copy (read-only, at
    ``/submission``), its working folder (at ``/work``) and an empty ``/tmp``. It sees no
    course file, no other submission, no output folder, no network, and cannot signal the
    grader; when the grader kills it, the whole pid namespace dies with it.
``uid``
    Running as root without bubblewrap: the child drops to uid/gid 65534 (``nobody``) and a
    process cap; instructor files stay out of reach only if they are not world-readable,
    which :func:`exposed_paths` checks.
``none``
    Neither: the child runs as the grader's user. A warning says how to get isolation
    (``apt-get install bubblewrap``).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

NOBODY = 65534
#: most processes (threads included) the child may run at once (uid mode; pid namespace
#: otherwise)
MAX_PROCESSES = 64
SANDBOX_SUBMISSION = "/submission"
SANDBOX_WORK = "/work"
SANDBOX_GRADER = "/grader"
ENV_DISABLE = "GRADER_ISOLATION"  # "none" forces the weakest level (for debugging only)


@dataclass(frozen=True)
class Isolation:
    """How the child is isolated on this machine.

    Attributes
    ----------
    level : {"bubblewrap", "uid", "none"}
        The mechanism in force.
    protections : tuple of str
        What is protected, for ``grader doctor``.
    missing : tuple of str
        What is not, and how to get it.
    """

    level: str
    protections: tuple[str, ...]
    missing: tuple[str, ...]
    bwrap: str | None = None

    @property
    def warning(self) -> str | None:
        """A loud warning when isolation is reduced, else None."""
        if self.level == "bubblewrap":
            return None
        return ("WARNING: reduced isolation (" + self.level + "): " + "; ".join(self.missing)
                + ". Install bubblewrap (apt-get install bubblewrap) for full isolation.")

    def command(self, child_script: Path, submission: Path, workdir: Path,
                fds: Sequence[int]) -> list[str]:
        """The command line that starts the child script on ``submission``."""
        python = sys.executable
        if self.level != "bubblewrap" or self.bwrap is None:
            return [python, "-I", "-B", str(child_script), str(submission),
                    *(str(fd) for fd in fds)]
        # first the fresh /tmp, so that binds below it (a venv in /tmp) stay visible
        return [*self._bwrap(child_script, submission, workdir, ["--tmpfs", "/tmp"]),
                python, "-I", "-B", f"{SANDBOX_GRADER}/_child.py", SANDBOX_SUBMISSION,
                *(str(fd) for fd in fds)]

    def zygote_command(self, child_script: Path, root: Path, control_fd: int) -> list[str]:
        """The command line of a warm zygote (bubblewrap only) serving the folders of ``root``.

        ``root/submission`` is seen read-only at ``/submission``, ``root/work`` at ``/work``
        and ``root/tmp`` at ``/tmp``, both writable; the grader refills and empties them
        between submissions.
        """
        assert self.level == "bubblewrap" and self.bwrap is not None
        return [*self._bwrap(child_script, root / "submission", root / "work",
                             ["--bind", str(root / "tmp"), "/tmp"]),
                sys.executable, "-I", "-B", f"{SANDBOX_GRADER}/_child.py", "--zygote",
                str(control_fd)]

    def _bwrap(self, child_script: Path, submission: Path, workdir: Path,
               tmp: list[str]) -> list[str]:
        assert self.bwrap is not None
        args = [self.bwrap, "--die-with-parent", "--unshare-all", "--uid", str(NOBODY),
                "--gid", str(NOBODY), "--hostname", "sandbox", "--proc", "/proc",
                "--dev", "/dev", *tmp]
        for path in _system_paths():
            args += _bind(path)
        for path in _python_paths():
            args += ["--ro-bind", str(path), str(path)]
        args += ["--ro-bind", str(submission), SANDBOX_SUBMISSION,
                 "--bind", str(workdir), SANDBOX_WORK,
                 "--chdir", SANDBOX_WORK]
        for name in ("_child.py", "wire.py"):
            args += ["--ro-bind", str(child_script.with_name(name)),
                     f"{SANDBOX_GRADER}/{name}"]
        return [*args, "--setenv", "HOME", SANDBOX_WORK, "--setenv", "TMPDIR", "/tmp", "--"]

    def prepare(self, submission: Path, workdir: Path) -> None:
        """Make the child's folders usable by the uid it runs as."""
        if self.level == "none":
            return
        for folder in (submission, workdir):
            for path in (folder, *folder.rglob("*")):
                mode = 0o755 if path.is_dir() else 0o644
                os.chmod(path, mode)
            if self.level == "uid":
                os.chown(workdir, NOBODY, NOBODY)

    def preexec(self) -> Callable[[], None] | None:
        """What the child's process does before ``exec`` (uid mode: drop privileges)."""
        if self.level != "uid":
            return None

        def drop() -> None:
            resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)

        return drop


class ProcessCap:
    """A pids cgroup that caps how many processes one child may run (``pids.max``).

    Created per child when this process may write the pids controller (cgroup v1's
    ``/sys/fs/cgroup/pids`` or a v2 hierarchy with ``pids`` enabled); the child joins it
    before ``exec``, so its whole tree, namespaces included, counts against the cap.
    """

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
        root = _pids_root()
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
def _pids_root() -> Path | None:
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


def _bind(path: Path) -> list[str]:
    if path.is_symlink():
        return ["--symlink", os.readlink(path), str(path)]
    return ["--ro-bind", str(path), str(path)]


def _system_paths() -> list[Path]:
    candidates = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                  "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives"]
    return [Path(p) for p in candidates if os.path.lexists(p)]


@cache
def _python_paths() -> tuple[Path, ...]:
    """The Python installation the child needs: prefixes and site-packages, outside /usr."""
    import numpy

    paths = {Path(sys.base_prefix), Path(sys.prefix),
             Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"]),
             Path(sysconfig.get_paths()["platlib"]), Path(numpy.__file__).parents[1],
             Path(sys.executable).resolve().parent.parent}
    resolved = sorted({p.resolve() for p in paths if p.exists()})
    kept: list[Path] = []
    for path in resolved:  # drop what an earlier bind already covers
        if str(path).startswith("/usr/") or any(path.is_relative_to(k) for k in kept):
            continue
        kept.append(path)
    return tuple(kept)


@cache
def detect() -> Isolation:
    """The best isolation this machine offers (checked once per process)."""
    forced = os.environ.get(ENV_DISABLE, "").lower()
    bwrap = shutil.which("bwrap")
    cap = (f"at most {MAX_PROCESSES} processes (pids cgroup)",) if _pids_root() else ()
    no_cap = () if cap else ("no process cap: no writable pids cgroup here (a fork bomb "
                             "runs until the call's deadline kills it)",)
    if bwrap and forced != "none" and _bwrap_works(bwrap):
        return Isolation(
            "bubblewrap",
            ("private mount namespace: only system libraries, Python and the submission are "
             "visible, read-only", "no network (fresh network namespace)",
             "separate pid namespace: no signals to the grader; the whole tree dies at the "
             "deadline", "unprivileged uid 65534 inside a user namespace",
             "resource limits: time, memory, file size, output", *cap),
            no_cap, bwrap)
    reason = ("bubblewrap is not installed" if not bwrap else
              "bubblewrap is installed but cannot create namespaces here" if forced != "none"
              else f"{ENV_DISABLE}=none")
    if os.geteuid() == 0 and forced != "none":
        return Isolation(
            "uid",
            ("unprivileged uid 65534: no signals to the grader, no writes to its files",
             f"at most {MAX_PROCESSES} processes", "resource limits: time, memory, file size"),
            (reason, "the child can read world-readable files and open network sockets"))
    return Isolation(
        "none", ("resource limits: time, memory, file size, output",),
        (reason, "the child runs as the grader's user: it can read the course files and "
                 "write where you can, signal the grader and open network sockets"))


def _bwrap_works(bwrap: str) -> bool:
    try:
        proc = subprocess.run([bwrap, "--unshare-all", "--ro-bind", "/", "/", "--", "true"],
                              capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def protect(paths: Iterable[Path]) -> list[Path]:
    """Remove the "other" permission bits of instructor files and folders (uid mode), so the
    child's uid cannot read them; returns what was changed."""
    changed = []
    for path in exposed_paths(paths):
        os.chmod(path, stat.S_IMODE(path.stat().st_mode) & ~0o007)
        changed.append(path)
    return changed


def exposed_paths(paths: Iterable[Path]) -> list[Path]:
    """The given instructor files or folders that any user can read (uid mode's weak spot)."""
    exposed = []
    for path in paths:
        if not path.exists():
            continue
        mode = path.stat().st_mode
        if mode & stat.S_IROTH or (path.is_dir() and mode & stat.S_IXOTH):
            exposed.append(path)
    return exposed
