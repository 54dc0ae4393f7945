"""(In the sandboxed child.) A fresh world per child: namespaces, tmpfs, capabilities, seccomp.

Under bubblewrap, before any student code: a forked child makes namespaces of its own with
fresh, size-capped writable places and a read-only copy of its submission (:class:`World`); a
child started as root leaves uid 0 (:func:`become_nobody`); every child refuses itself any new
namespace and the kernel's key store (:func:`forbid_namespaces`). Standard library only
(``ctypes`` for the system calls Python has no name for).
"""

from __future__ import annotations

import os
from typing import Any

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x08000000, 0x10000000, \
    0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 4096, 16384, 1 << 18, 1 << 21
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 24, 38, 47
#: the writable places of a child (the grader sends each one's size)
PLACES = ("/tmp", "/work", "/dev/shm")
NOBODY = 65534


def prctl(option: int, value: int) -> None:
    """``prctl(option, value)``, where it exists (errors ignored)."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


class World:
    """What a forked child needs to make its fresh world, found once (in the zygote: a child
    forked from it finds them ready, which saves it about 2 ms): libc for ctypes, and the
    mounts below each writable place."""

    def __init__(self, places: tuple[str, ...] = PLACES) -> None:
        import ctypes

        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                    ctypes.c_ulong, ctypes.c_char_p]
        self._below = {places: _mounts_below(places)}

    def below(self, places: tuple[str, ...]) -> dict[str, list[str]]:
        """Per place, the outermost mounts below it (relative paths)."""
        if places not in self._below:
            self._below[places] = _mounts_below(places)
        return self._below[places]

    def make(self, sizes: dict[str, int], sysv: int = 0, submission: int | None = None) -> None:
        """(In a forked child, before any student code.) Own namespaces, fresh writable places.

        A new user namespace A, where this process is root (its own uid, mapped to 0), owning
        a new mount and IPC namespace: a size-capped tmpfs on each writable place (binds that
        were below one, a venv under /tmp, carried over read-only), the submission's files
        copied from the descriptor ``submission`` into a read-only tmpfs at /submission (so
        no host folder of the submission is bound), SysV IPC of its own limited to ``sysv``
        bytes of shared memory and 8 small queues, and /proc/sys read-only; then a user
        namespace B inside A, where the uid is its own again, without any power over A's
        namespaces, and every capability dropped. All of it dies with the child and its
        processes. The root and /dev are read-only already (bubblewrap's ``--remount-ro``).
        """
        import ctypes

        libc, below = self.libc, self.below(tuple(sizes))

        def check(result: int, what: str) -> None:
            if result != 0:
                number = ctypes.get_errno()
                raise OSError(number, f"{what}: {os.strerror(number)}")

        def mount(source: str | None, target: str, kind: str | None, flags: int,
                  data: str | None = None) -> None:
            check(libc.mount(source and source.encode(), target.encode(),
                             kind and kind.encode(), flags, data and data.encode()),
                  f"mount {target}")

        def enter(inside: int, outside: int) -> None:
            check(libc.unshare(CLONE_NEWUSER | (CLONE_NEWNS | CLONE_NEWIPC if inside == 0
                                                else 0)), "unshare")
            for name, text in (("setgroups", "deny"), ("uid_map", f"{inside} {outside} 1"),
                               ("gid_map", f"{inside} {outside} 1")):
                with open(f"/proc/self/{name}", "w") as fh:
                    fh.write(text)

        uid = os.geteuid()
        # dumpable again (the zygote is not), or /proc/self/uid_map would be root's to write
        check(libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")
        enter(0, uid)  # A: root of its mount and IPC namespaces
        mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing of ours propagates back
        for place, size in sizes.items():
            old = os.open(place, os.O_PATH | os.O_DIRECTORY)  # the covered folder, for binds
            try:
                mode = "755" if place == "/work" else "1777"
                mount("tmpfs", place, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode={mode}")
                for inner in below[place]:
                    target = os.path.join(place, inner)
                    os.makedirs(target, exist_ok=True)
                    mount(f"/proc/self/fd/{old}/{inner}", target, None, MS_BIND | MS_REC)
            finally:
                os.close(old)
        if submission is not None:
            files = _read_modules(submission)
            room = max(sum(len(data) for data in files.values()) * 2, 1 << 16)
            mount("tmpfs", "/submission", "tmpfs", MS_NOSUID | MS_NODEV,
                  f"size={room},mode=755")
            for name, data in files.items():
                with open(f"/submission/{name}", "wb") as fh:
                    fh.write(data)
            mount(None, "/submission", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        limit_ipc(sysv)
        mount("/proc/sys", "/proc/sys", None, MS_BIND | MS_REC)  # as A's root we could raise
        mount(None, "/proc/sys", None,
              MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME)
        enter(NOBODY, 0)  # B: the student's own uid, no capability over A
        check(libc.unshare(CLONE_NEWPID), "unshare pid")  # see _zygote.own_pids
        _drop_capabilities(libc)


def _read_modules(folder: int) -> dict[str, bytes]:
    """The regular ``*.py`` files of the open folder ``folder`` (never through a link)."""
    found = {}
    for name in os.listdir(folder):
        if name.endswith(".py") and "/" not in name:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder)
            with os.fdopen(fd, "rb") as fh:
                found[name] = fh.read()
    return found


def limit_ipc(sysv: int) -> None:
    """Cap this (new) IPC namespace's SysV shared memory at ``sysv`` bytes, 64 segments, and
    8 message queues of 16 KiB: memory no address-space limit counts (0: no change)."""
    if sysv <= 0:
        return
    for name, value in (("shmmax", sysv), ("shmall", max(sysv // 4096, 1)), ("shmmni", 64),
                        ("msgmni", 8), ("msgmnb", 16384)):
        with open(f"/proc/sys/kernel/{name}", "w") as fh:
            fh.write(str(value))


def _drop_capabilities(libc: Any) -> None:
    """Drop every capability for good: the bounding set first (that needs CAP_SETPCAP), the
    ambient ones, then all others; no exec may gain any back."""
    import ctypes

    for cap in range(64):  # past the last one: EINVAL, ignored
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 \
            or libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"dropping capabilities: {os.strerror(number)}")


def become_nobody(sysv: int) -> None:
    """(Under bubblewrap started by root, first thing.) Cap this child's own IPC namespace
    (see :func:`limit_ipc`: its root may), then leave the namespace's root, which is the
    host's uid 0, for the real uid 65534, with no capability left."""
    import ctypes

    limit_ipc(sysv)
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(64):  # while CAP_SETPCAP is still ours
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)  # the permitted and effective sets go with uid 0
    _drop_capabilities(libc)
    if os.geteuid() != NOBODY or os.getegid() != NOBODY:
        raise SystemExit("the sandbox could not leave uid 0")


def _mounts_below(places: tuple[str, ...]) -> dict[str, list[str]]:
    """Per place, the outermost mounts below it (relative paths), from mountinfo."""
    with open("/proc/self/mountinfo") as fh:
        points = [_unescape(line.split()[4]) for line in fh]
    found: dict[str, list[str]] = {}
    for place in places:
        inner = sorted(p for p in points if p.startswith(place + "/"))
        outer = [p for p in inner if not any(p.startswith(q + "/") for q in inner)]
        found[place] = sorted({os.path.relpath(p, place) for p in outer})
    return found


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape").encode("latin-1").decode(errors="replace")


#: (audit arch, unshare, setns, clone, clone3, (add_key, request_key, keyctl)) of the
#: architectures the filter knows
_SYSCALLS = {"x86_64": (0xC000003E, 272, 308, 56, 435, (248, 249, 250)),
             "aarch64": (0xC00000B7, 97, 268, 220, 435, (217, 218, 219))}
#: every CLONE_NEW* flag (time, mount, cgroup, uts, ipc, user, pid, network)
_CLONE_NEW = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 \
    | 0x20000000 | 0x40000000


def forbid_namespaces() -> None:
    """A seccomp filter: no new namespace from here on (``unshare``, ``setns``, ``clone``
    with a ``CLONE_NEW*`` flag fail with EPERM, ``clone3`` with ENOSYS so that the C library
    falls back to ``clone``). Without it a child could make a user namespace of its own and
    there mount tmpfs or SysV memory that no limit of ours caps. The kernel's key store
    (``add_key``, ``request_key``, ``keyctl``) is refused too: a uid's user keyring outlives
    the child and would carry a message to the next student. Another architecture's system
    calls (x32, i386) are refused. Does nothing on an unknown machine."""
    import ctypes
    import platform
    import struct

    known = _SYSCALLS.get(platform.machine())
    if known is None:
        return
    arch, unshare, setns, clone, clone3, (add_key, request_key, keyctl) = known
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    load, equal, test, ret = 0x20, 0x15, 0x45, 0x06  # BPF_LD|W|ABS, JEQ|K, JSET|K, RET|K
    program = [
        (load, 0, 0, 4), (equal, 1, 0, arch), (ret, 0, 0, eperm),  # another ABI: refused
        (load, 0, 0, 0), (test, 0, 1, 0x40000000), (ret, 0, 0, eperm),  # x32 calls
        # jumps count the instructions skipped: to 17 (EPERM), 18 (ENOSYS) or 16 (allow)
        (equal, 10, 0, unshare), (equal, 9, 0, setns), (equal, 8, 0, add_key),
        (equal, 7, 0, request_key), (equal, 6, 0, keyctl), (equal, 6, 0, clone3),
        (equal, 0, 3, clone),
        (load, 0, 0, 16), (test, 0, 1, _CLONE_NEW), (ret, 0, 0, eperm), (ret, 0, 0, allow),
        (ret, 0, 0, eperm), (ret, 0, 0, enosys)]
    code = b"".join(struct.pack("=HBBI", *op) for op in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("=HxxxxxxQ", len(program), ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        number = ctypes.get_errno()
        raise OSError(number, f"no seccomp filter: {os.strerror(number)}")
