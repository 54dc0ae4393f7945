"""Isolation of the sandboxed child beyond resource limits: namespaces, another uid, or a warning.

Three levels, the best available chosen by :func:`detect`:

``bubblewrap``
    The child runs under ``bwrap`` in its own pid, IPC, uts, cgroup and network namespaces
    (the network one has no interface at all) and sees (:mod:`grader.sandbox.mounts`) a read-only
    root and ``/dev`` holding the system libraries, the standard library, numpy and the
    packages the course allows (the rest of site-packages is hidden), the submission's copy
    (read-only, ``/submission``), the I/O folder (``/io``) and fresh, size-capped tmpfs at
    ``/tmp``, ``/work`` and ``/dev/shm``, whose sizes (and its SysV shared memory's cap, set
    when the grader runs as root) are taken off its address-space limit. A warm child makes
    these places, its IPC and pid namespaces anew (:mod:`grader.sandbox.launch`), so nothing a child
    writes outlives it; a seccomp filter refuses it any namespace of its own (where no cap of
    ours would hold). It runs as uid/gid 65534 without any capability:
    started by root, in a user namespace that maps 65534 to the real uid 65534 (bubblewrap's
    own would map it to root's uid, which owns the host's files and passes root's checks on
    ``/proc/sys``); started by another user, as that user. Its ``/proc/1`` names no course
    folder, Python installation or zygote folder; its mount table still names the Python
    installation and the temporary folders bound into it (inherent to bind mounts), and its
    interpreter knows its own path. It cannot signal the grader; when the grader kills it,
    the whole pid namespace dies with it.
``uid``
    Running as root without bubblewrap: the child drops to uid/gid 65534 (``nobody``) and a
    process cap; instructor files stay out of reach only if they are not world-readable,
    which :func:`exposed_paths` checks. It writes in host folders (its working folder,
    ``/tmp``) and shares the host's IPC; only an import guard limits its imports.
``none``
    Neither: the child runs as the grader's user. A warning says how to get isolation
    (``apt-get install bubblewrap``).
"""

from __future__ import annotations

import enum
import os
import resource
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from grader.sandbox import mounts
from grader.sandbox.mounts import (
    CHILD_MODULES,
    SANDBOX_GRADER,
    SANDBOX_IO,
    SANDBOX_SUBMISSION,
    SANDBOX_WORK,
    TMPFS_SHARES,
    allowed_imports,
    module_files,
    python_binds,
    system_binds,
    sysv_bytes,
    tmpfs_sizes,
)
from grader.sandbox.pids import MAX_PROCESSES, pids_root
from grader.sandbox.pids import ProcessCap as ProcessCap

CLONE_NEWUSER, CLONE_NEWCGROUP, CLONE_NEWNET = 0x10000000, 0x02000000, 0x40000000

NOBODY = 65534
ENV_DISABLE = "GRADER_ISOLATION"  # "none" forces the weakest level (for debugging only)


class Level(enum.StrEnum):
    """The isolation mechanisms, from the strongest; each compares equal to its name."""

    BUBBLEWRAP = "bubblewrap"
    UID = "uid"
    NONE = "none"


@dataclass(frozen=True)
class Isolation:
    """How the child is isolated on this machine.

    Attributes
    ----------
    level : Level
        The mechanism in force (a bare name is made a :class:`Level`).
    protections : tuple of str
        What is protected, for ``grader doctor``.
    missing : tuple of str
        What is not, and how to get it.
    """

    level: Level
    protections: tuple[str, ...]
    missing: tuple[str, ...]
    bwrap: str | None = None
    #: packages the course allows besides numpy and the standard library
    allow: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Level("uid") is Level.UID: equal names hash alike in the dicts keyed by isolation
        object.__setattr__(self, "level", Level(self.level))

    @property
    def warning(self) -> str | None:
        """A loud warning when isolation is reduced, else None."""
        if self.level == Level.BUBBLEWRAP:
            return None
        return ("WARNING: reduced isolation (" + self.level + "): " + "; ".join(self.missing)
                + ". Install bubblewrap (apt-get install bubblewrap) for full isolation.")

    def allowing(self, names: Iterable[str]) -> Isolation:
        """The same isolation, with the course's extra importable packages (import or
        distribution names, ``[grading] allow_imports``) besides numpy and the stdlib."""
        return replace(self, allow=tuple(sorted(set(names))))

    def importable(self) -> tuple[str, ...]:
        """Top-level import names a submission may use besides the standard library and its
        own modules: numpy, the allowed packages, and what their distributions need."""
        return allowed_imports(self.allow)[1]

    def address_limit(self, memory_mb: int) -> int:
        """The child's ``RLIMIT_AS`` in bytes: under bubblewrap, the memory limit less what
        its tmpfs and SysV shared memory may hold (memory that ``RLIMIT_AS`` does not count)."""
        memory = memory_mb << 20
        if self.level != Level.BUBBLEWRAP:
            return memory
        return memory - sum(tmpfs_sizes(memory_mb).values()) - sysv_bytes(memory_mb)

    def io_path(self, folder: Path) -> str:
        """Where the child sees the I/O folder ``folder`` (see :meth:`prepare_io`)."""
        return SANDBOX_IO if self.level == Level.BUBBLEWRAP else str(folder)

    def command(self, child_script: Path, submission: Path, workdir: Path,
                fds: Sequence[int], io: Path | None = None, memory_mb: int = 2048) -> list[str]:
        """The command line that starts the child script on ``submission`` (the last
        argument: the importable packages, for the child's import guard)."""
        tail = [*(str(fd) for fd in fds), ",".join(self.importable())]
        if self.level != Level.BUBBLEWRAP or self.bwrap is None:
            return [sys.executable, "-I", "-B", str(child_script), str(submission), *tail]
        return [*self._bwrap(child_script, submission, io, tmpfs_sizes(memory_mb)),
                *_python(), *_drop(sysv_bytes(memory_mb)), SANDBOX_SUBMISSION, *tail]

    def zygote_command(self, child_script: Path, io: Path, control_fd: int) -> list[str]:
        """The command line of a warm zygote (bubblewrap only), whose children see the I/O
        folder ``io`` at ``/io``.

        Its ``/submission`` is an empty folder: each forked child copies its submission's
        files there (from a descriptor) into a read-only tmpfs of its own. Its own ``/tmp``,
        ``/work`` and ``/dev/shm`` are small and unused: each child mounts fresh ones.
        """
        assert self.level == Level.BUBBLEWRAP and self.bwrap is not None
        small = dict.fromkeys(TMPFS_SHARES, 1 << 20)
        return [*self._bwrap(child_script, None, io, small),
                *_python(), *_drop(0), "--zygote", str(control_fd)]

    def _bwrap(self, child_script: Path, submission: Path | None, io: Path | None,
               sizes: dict[str, int]) -> list[str]:
        assert self.bwrap is not None
        userns = _sandbox_userns()
        if userns is not None:  # as root: see _sandbox_userns (network: see preexec)
            args = [self.bwrap, "--die-with-parent", "--userns", str(userns), "--unshare-pid",
                    "--unshare-ipc", "--unshare-uts", "--uid", "0", "--gid", "0",
                    *(a for cap in ("SETUID", "SETGID", "SETPCAP")
                      for a in ("--cap-add", f"CAP_{cap}"))]
        else:
            args = [self.bwrap, "--die-with-parent", "--unshare-all", "--uid", str(NOBODY),
                    "--gid", str(NOBODY)]
        args += ["--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev"]
        # the writable places first, so that binds below them (a venv in /tmp) stay visible
        for place, size in sizes.items():
            args += ["--perms", "1777", "--size", str(size), "--tmpfs", place]
        args += ["--remount-ro", "/dev"]
        args += [*system_binds(), *python_binds(self.allow)]
        args += ["--perms", "0755", "--dir", SANDBOX_SUBMISSION]
        for path in module_files(submission) if submission is not None else ():
            # copied in by seal(), like the grader's scripts: no host folder is bound
            args += ["--ro-bind", str(path), f"{SANDBOX_SUBMISSION}/{path.name}"]
        if io is not None:
            args += ["--bind", str(io), SANDBOX_IO]
        for name in CHILD_MODULES:  # seal() turns these into copies
            args += ["--ro-bind", str(child_script.with_name(name)),
                     f"{SANDBOX_GRADER}/{name}"]
        # started from Python's own folder (see _python); the child moves to /work
        return [*args, "--remount-ro", "/", "--chdir", str(Path(sys.executable).parent),
                "--setenv", "HOME", SANDBOX_WORK, "--setenv", "TMPDIR", "/tmp", "--"]

    def prepare(self, submission: Path, workdir: Path) -> None:
        """Make the child's folders usable by the uid it runs as."""
        if self.level == Level.NONE:
            return
        for folder in (submission, workdir):
            for path in (folder, *folder.rglob("*")):
                mode = 0o755 if path.is_dir() else 0o644
                os.chmod(path, mode)
            if self.level == Level.UID:
                os.chown(workdir, NOBODY, NOBODY)

    def prepare_io(self, folder: Path) -> None:
        """Make ``folder`` the child's I/O folder: created if needed, emptied (links are
        removed, never followed), and owned so that the child can open the files the grader
        puts there (mode 0o666) but cannot create, rename or remove entries of its own.

        Ownership is the bound: running as root, the folder is root's, mode 0o755, and the
        child runs as uid 65534 (at the ``bubblewrap`` and ``uid`` levels), so it writes only
        into the grader's files, each capped by the file-size limit. Not running as root,
        bubblewrap maps the child to your own uid: it could create files there too, each
        capped by the file-size limit, all removed before the next child starts.
        """
        folder.mkdir(parents=True, exist_ok=True)
        mounts.empty(folder)
        os.chmod(folder, 0o755)
        if os.geteuid() == 0 and self.level != Level.NONE:
            os.chown(folder, 0, 0)

    def preexec(self) -> Callable[[], None] | None:
        """What the child's process does before ``exec``: in uid mode, drop privileges; under
        bubblewrap as root, enter a new network namespace (no interface up, and owned by the
        host's root, so nothing inside can configure one) and cgroup namespace."""
        if self.level == Level.BUBBLEWRAP and _sandbox_userns() is not None:
            return _unshare_network
        if self.level != Level.UID:
            return None

        def drop() -> None:
            resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)

        return drop


@cache
def _sandbox_userns() -> int | None:
    """(Running as root.) A user namespace mapping 0 to 0 and 65534 to 65534, for
    ``bwrap --userns``; None when not root or when it cannot be made.

    bubblewrap's own user namespace maps the sandbox's uid to the caller's: run as root,
    the child would be the host's uid 0 without capabilities, which still owns root's files
    (it could ``chmod`` the host's ``/dev/null``) and passes root's checks on
    ``/proc/sys`` (``kernel.core_pattern``). In this namespace bubblewrap sets up as root
    (it can read a Python under ``/root``) and the child drops to the real uid 65534
    before it runs anything of the student (``_child.py --as-nobody``).
    """
    if os.geteuid() != 0:
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the helper, which only holds the namespace a moment
        try:
            os.close(write_end)
            if libc.unshare(CLONE_NEWUSER) == 0:
                os.read(read_end, 1)  # until the grader has opened the namespace
        finally:
            os._exit(0)
    os.close(read_end)
    try:
        ours = os.readlink("/proc/self/ns/user")
        for _ in range(4000):  # until the helper is in its namespace (or gave up)
            if os.readlink(f"/proc/{pid}/ns/user") != ours:
                break
            time.sleep(0.0005)
        else:
            return None
        mapping = f"0 0 1\n{NOBODY} {NOBODY} 1\n"
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as fh:
                fh.write(mapping)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # the helper is gone: no namespace of ours
        return None
    finally:
        os.close(write_end)
        os.waitpid(pid, 0)


def _unshare_network() -> None:
    """(In the child, before exec.) Enter new network and cgroup namespaces."""
    import ctypes

    if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET | CLONE_NEWCGROUP) != 0:
        raise OSError(ctypes.get_errno(), "no network namespace for the sandbox")


def _python() -> list[str]:
    """How bubblewrap starts the child script: Python by a name relative to its folder (the
    sandbox's first directory), so that the sandbox's ``/proc/1/cmdline`` names no venv."""
    return [f"./{Path(sys.executable).name}", "-I", "-B", f"{SANDBOX_GRADER}/_child.py",
            "--cwd", SANDBOX_WORK]


def _drop(sysv: int) -> list[str]:
    """The child's flag to leave the namespace's root for uid 65534, when it starts as it,
    first capping its IPC namespace's SysV memory at ``sysv`` bytes (0: the zygote's)."""
    return ["--as-nobody", str(sysv)] if _sandbox_userns() is not None else []


@cache
def detect() -> Isolation:
    """The best isolation this machine offers (checked once per process)."""
    forced = os.environ.get(ENV_DISABLE, "").lower()
    bwrap = shutil.which("bwrap")
    cap = (f"at most {MAX_PROCESSES} processes (pids cgroup)",) if pids_root() else ()
    no_cap = () if cap else ("no process cap: no writable pids cgroup here (a fork bomb "
                             "runs until the call's deadline kills it)",)
    if bwrap and forced != Level.NONE and _bwrap_works(bwrap):
        return Isolation(
            Level.BUBBLEWRAP,
            ("private mount namespace: read-only root and /dev; only the system libraries, "
             "the standard library, numpy, the allowed packages and the submission are visible",
             "a fresh world per child: size-capped tmpfs /tmp, /work and /dev/shm"
             + (" and capped SysV memory" if os.geteuid() == 0 else "")
             + " (counted in the memory limit), its own IPC and pid namespaces, all gone with "
             "it; no namespace of its own (seccomp)",
             "no network (a network namespace without interfaces)",
             "separate pid namespace: no signals to the grader; the whole tree dies at the "
             "deadline", "uid 65534 without capabilities (never root's uid, even when the "
             "grader runs as root)", "no course path in the sandbox's /proc/1 or mount table",
             "resource limits: time, memory, file size, output", *cap),
            no_cap + (() if os.geteuid() == 0 else (
                "SysV shared memory is not capped (that needs the grader to run as root)",)),
            bwrap)
    reason = ("bubblewrap is not installed" if not bwrap else
              "bubblewrap is installed but cannot create namespaces here" if forced != Level.NONE
              else f"{ENV_DISABLE}=none")
    if os.geteuid() == 0 and forced != Level.NONE:
        return Isolation(
            Level.UID,
            ("unprivileged uid 65534: no signals to the grader, no writes to its files",
             f"at most {MAX_PROCESSES} processes", "resource limits: time, memory, file size"),
            (reason, "the child can read world-readable files and open network sockets"))
    return Isolation(
        Level.NONE, ("resource limits: time, memory, file size, output",),
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
