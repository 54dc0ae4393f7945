"""What the sandboxed child sees of the file system: its writable places, its binds, cleanup.

Under bubblewrap the child's root and ``/dev`` are read-only; its writable places (``/tmp``,
``/work``, ``/dev/shm``) are fresh tmpfs of a size set by the memory limit
(:data:`TMPFS_SHARES`), and its SysV shared memory is capped too (:data:`SYSV_SHARE`); their
sum is taken off its address-space limit (``Isolation.address_limit``), so what it keeps in files
or segments counts as memory. Of the Python installation it sees the standard library and,
of every site-packages folder, only numpy (with what its wheel vendors) and the
distributions the course allows with their requirements (:func:`allowed_imports`).
:func:`seal` keeps host paths out of the sandbox's ``/proc/1/cmdline`` and the course and
submission folders out of its mount table; :func:`empty` removes what a child left in a
host folder without ever following a link.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import site
import stat
import sys
import sysconfig
from collections.abc import Iterator
from functools import cache
from importlib import metadata
from pathlib import Path

SANDBOX_SUBMISSION = "/submission"
SANDBOX_WORK = "/work"
SANDBOX_GRADER = "/grader"
#: the grader's files the child runs (its script and every sibling it imports), bound one by
#: one at ``SANDBOX_GRADER`` and sealed into copies (:func:`seal`): nothing else of the grader
CHILD_MODULES = ("_child.py", "_guard.py", "_watch.py", "_world.py", "_zygote.py", "calls.py",
                 "frames.py", "swapping.py", "wire.py")
#: where the child sees its I/O folder under bubblewrap (shared-memory arguments)
SANDBOX_IO = "/io"
#: the child's writable places under bubblewrap, each a fresh tmpfs per child, and the
#: share of the memory limit each may hold (its size: memory limit / share); their sum is
#: taken off the address-space limit, so files kept in memory count against it
TMPFS_SHARES = {"/tmp": 16, SANDBOX_WORK: 16, "/dev/shm": 32}
#: the share of the memory limit a child's SysV shared memory may hold (its own IPC
#: namespace, capped; taken off the address-space limit too)
SYSV_SHARE = 32


def system_binds() -> list[str]:
    """bwrap arguments showing the system's libraries and programs read-only (links as
    links)."""
    candidates = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                  "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives"]
    args: list[str] = []
    for path in (Path(p) for p in candidates if os.path.lexists(p)):
        args += (["--symlink", os.readlink(path), str(path)] if path.is_symlink()
                 else ["--ro-bind", str(path), str(path)])
    return args


def tmpfs_sizes(memory_mb: int) -> dict[str, int]:
    """Bytes each writable place of a bubblewrap child may hold (see ``TMPFS_SHARES``)."""
    memory = memory_mb << 20
    return {place: max(memory // share, 1 << 20) for place, share in TMPFS_SHARES.items()}


def sysv_bytes(memory_mb: int) -> int:
    """Bytes of SysV shared memory a bubblewrap child's own IPC namespace may hold."""
    return max((memory_mb << 20) // SYSV_SHARE, 1 << 20)


def module_files(folder: Path) -> list[Path]:
    """The regular ``*.py`` files of ``folder`` (what a child sees of a submission)."""
    return sorted(p for p in folder.glob("*.py") if p.is_file() and not p.is_symlink())


def copy_modules(source: Path, target: Path) -> None:
    """Copy the regular ``*.py`` files of ``source`` (no links, no folders) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return
    for path in source.iterdir():
        if path.suffix == ".py" and path.is_file() and not path.is_symlink():
            shutil.copyfile(path, target / path.name)


def adopt_modules(source: Path, target: Path) -> None:
    """Make ``source``, a private copy its maker gives up, the folder ``target`` (which must
    not exist yet): moved there, not copied, then left holding what :func:`copy_modules`
    would have copied (its regular ``*.py`` files, each a file of its own: a hard-linked one
    is replaced by a copy) and nothing else (links are removed, never followed). Where it
    cannot be moved (another file system) its modules are copied and ``source`` removed."""
    try:
        os.rename(source, target)
    except OSError:
        copy_modules(source, target)
        empty(source)
        with contextlib.suppress(OSError):
            source.rmdir()
        return
    for entry in os.scandir(target):
        info = entry.stat(follow_symlinks=False)
        module = Path(entry.name).suffix == ".py" and stat.S_ISREG(info.st_mode)
        if module and info.st_nlink == 1:
            continue
        path = Path(entry.path)
        if stat.S_ISDIR(info.st_mode):
            empty(path)
            with contextlib.suppress(OSError):
                path.rmdir()
            continue
        data = path.read_bytes() if module else None  # through its own link, as a copy reads
        path.unlink()
        if data is not None:
            path.write_bytes(data)


@cache
def _python_paths() -> tuple[Path, ...]:
    """The Python installation the child needs: its prefixes, outside /usr."""
    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(sysconfig.get_paths()["stdlib"]),
             Path(sys.executable).resolve().parent.parent}
    resolved = sorted({p.resolve() for p in paths if p.exists()})
    kept: list[Path] = []
    for path in resolved:  # drop what an earlier bind already covers
        if str(path).startswith("/usr/") or any(path.is_relative_to(k) for k in kept):
            continue
        kept.append(path)
    return tuple(kept)


def _site_dirs() -> list[Path]:
    """Every site-packages folder of this interpreter (and its base, for a venv)."""
    found = {Path(p) for p in site.getsitepackages()}
    for prefix in {sys.prefix, sys.base_prefix}:
        paths = sysconfig.get_paths(vars={"base": prefix, "platbase": prefix})
        found |= {Path(paths["purelib"]), Path(paths["platlib"])}
    return sorted({p.resolve() for p in found if p.is_dir()})


@cache
def python_binds(allow: tuple[str, ...]) -> tuple[str, ...]:
    """bwrap arguments showing the Python installation with every site-packages folder
    emptied but for numpy and the allowed distributions (each with what it vendors, such as
    ``numpy.libs``, and the distributions it requires)."""
    args: list[str] = []
    made: set[Path] = set()
    for path in _python_paths():
        # its folders made readable (a copy of /root would be 0700): the child is 65534
        for parent in reversed(path.parents):
            if parent != Path("/") and parent not in made and str(parent) not in TMPFS_SHARES:
                made.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(path), str(path)]
    entries = allowed_imports(allow)[0]
    for folder in _site_dirs():
        if not any(folder.is_relative_to(p) for p in _python_paths()) \
                and not str(folder).startswith("/usr/"):
            continue  # not bound at all: nothing in it is visible anyway
        args += ["--tmpfs", str(folder)]
        for name in sorted(entries.get(folder, ())):
            args += ["--ro-bind", str(folder / name), str(folder / name)]
        args += ["--remount-ro", str(folder)]
    return tuple(args)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def allowed_imports(allow: tuple[str, ...]) -> tuple[dict[Path, frozenset[str]], tuple[str, ...]]:
    """What numpy and the ``allow``-ed packages need, from their installed distributions.

    Returns
    -------
    entries : dict of Path to frozenset of str
        Per site-packages folder, the names in it to show (packages, modules, vendored
        libraries, dist-info).
    imports : tuple of str
        The top-level import names those distributions provide, plus ``allow`` itself.
    """
    wanted = {_normal(n) for n in ("numpy", *allow)}
    if allow:  # import names (sklearn) to distribution names (scikit-learn)
        provided = metadata.packages_distributions()
        wanted |= {_normal(d) for n in allow for d in provided.get(n, ())}
    entries: dict[Path, set[str]] = {}
    imports = {"numpy", *allow}
    seen: set[str] = set()
    while wanted - seen:
        name = sorted(wanted - seen)[0]
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not installed: the import fails in the child as anywhere
        folder = Path(str(dist.locate_file(""))).resolve()
        for file in dist.files or ():
            top = file.parts[0] if file.parts else ".."
            if top in ("..", "__pycache__"):
                continue  # scripts and data outside site-packages; byte code of modules
            entries.setdefault(folder, set()).add(top)
            stem = top.split(".")[0] if not top.endswith((".dist-info", ".libs")) else ""
            if stem.isidentifier():
                imports.add(stem)
        for requirement in dist.requires or ():
            if "extra ==" not in requirement.replace("extra==", "extra =="):
                wanted.add(_normal(re.split(r"[ ;<>=!~(\[]", requirement, maxsplit=1)[0]))
    return ({k: frozenset(v) for k, v in entries.items()},
            tuple(sorted(imports)))


def seal(command: list[str]) -> tuple[list[str], list[int]]:
    """A bubblewrap command made short and path-free for the sandbox's eyes.

    The options go through a descriptor (``bwrap --args FD``), so the sandbox's
    ``/proc/1/cmdline`` shows no host path; the grader's scripts and the submission's files
    are copied in (``--ro-bind-data``, readable by all), so no bind names the course or the
    submission's folder. Returns the command and the descriptors to pass (the caller closes
    them once the process started).
    """
    if "--args" in command or not command or not command[0].endswith("bwrap"):
        return command, []
    end = command.index("--")
    given, options, fds = command[1:end], [], []
    i = 0
    while i < len(given):
        arg = given[i]
        if arg == "--userns":  # a copy, which the caller may close like the others
            fds.append(os.dup(int(given[i + 1])))
            options += [arg, str(fds[-1])]
            i += 2
        elif arg == "--ro-bind" and given[i + 2].startswith(
                (SANDBOX_GRADER + "/", SANDBOX_SUBMISSION + "/")):
            fds.append(_memfd(Path(given[i + 1]).read_bytes()))
            options += ["--perms", "0444", "--ro-bind-data", str(fds[-1]), given[i + 2]]
            i += 3
        else:
            options.append(arg)
            i += 1
    fd = _memfd(b"".join(arg.encode() + b"\0" for arg in options))
    return [command[0], "--args", str(fd), *command[end:]], [fd, *fds]


def _memfd(data: bytes) -> int:
    fd = os.memfd_create("grader", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def empty(folder: Path) -> None:
    """Remove everything inside ``folder`` and keep the folder, whatever a child left there.

    Never follows a link: every entry is reached through its parent's descriptor without
    following links, and a folder the child made unwritable (mode 0o500) gets its owner's
    rights back through a descriptor of that folder itself, so no chmod can reach a link's
    target. Works without root for what the grader's user owns (bubblewrap maps the child to
    that user). What cannot be removed is left and raises nothing; so are folders nested
    deeper than the open-file limit allows.
    """
    try:
        top = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    # each level: its descriptor, its name in the parent, the names still to remove
    stack: list[tuple[int, str, Iterator[str]]] = [(top, "", _listing(top))]
    while stack:
        fd, _, names = stack[-1]
        name = next(names, None)
        if name is None:
            os.close(fd)
            done = stack.pop()[1]
            if stack:  # now empty: remove it from its parent
                with contextlib.suppress(OSError):
                    os.rmdir(done, dir_fd=stack[-1][0])
            continue
        try:
            if not stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                os.unlink(name, dir_fd=fd)  # a file, a link (never followed), a socket ...
                continue
            sub = _open_folder(name, fd)
        except OSError:
            continue
        stack.append((sub, name, _listing(sub)))


def _open_folder(name: str, parent: int) -> int:
    """Open the folder ``name`` of ``parent`` for listing, never through a link, first giving
    it back its owner's rights (a folder of mode 0o000 cannot be listed otherwise)."""
    handle = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    try:
        # chmod through the descriptor's /proc entry reaches this very folder, never a link
        with contextlib.suppress(OSError):
            os.chmod(f"/proc/self/fd/{handle}", 0o700)
        return os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_DIRECTORY)
    finally:
        os.close(handle)


def _listing(fd: int) -> Iterator[str]:
    """The names in the open folder ``fd`` (none if it cannot be listed)."""
    try:
        return iter(os.listdir(fd))
    except OSError:
        return iter(())
