"""Each student starts from nothing: fresh writable places, IPC and a read-only rest per child,
no host root powers, nothing about the grader in the sandbox's own files, and attempts noted.

Every test here runs real children under bubblewrap, forked from a zygote (warm) and started
as new processes (cold); the batch tests grade through the real ``python -m grader grade``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.engine import results
from grader.sandbox import isolation, launch
from grader.sandbox.box import Sandbox
from grader.sandbox.isolation import Isolation, detect
from grader.sandbox.limits import Limits
from grader.sandbox.mounts import TMPFS_SHARES, sysv_bytes, tmpfs_sizes

ROOT = Path(__file__).resolve().parents[2]
FAST = Limits(call_timeout=10.0, submission_timeout=60.0)

needs_bwrap = pytest.mark.skipif(detect().level != "bubblewrap",
                                 reason="needs bubblewrap (apt-get install bubblewrap)")

PROBE = """\
import ctypes
import os
import resource
import socket

LIBC = ctypes.CDLL(None, use_errno=True)
IPC_CREAT = 0o1000


def leave(marker):
    left = []
    for path in ("/", "/dev", "/dev/shm", "/tmp", "/work"):
        try:
            with open(os.path.join(path, marker), "w") as fh:
                fh.write("left")
            left.append(path)
        except OSError:
            pass
    LIBC.shmget(0x5EED, 4096, IPC_CREAT | 0o666)
    LIBC.msgget(0x5EED, IPC_CREAT | 0o666)
    return left


def look(marker):
    return {"files": [p for p in ("/", "/dev", "/dev/shm", "/tmp", "/work")
                      if os.path.exists(os.path.join(p, marker))],
            "shm": LIBC.shmget(0x5EED, 0, 0) != -1, "msg": LIBC.msgget(0x5EED, 0) != -1}


def fill(place, chunk_mb, count):
    written = 0
    block = b"x" * (chunk_mb << 20)
    for i in range(count):
        try:
            with open(os.path.join(place, f"pin{i}"), "wb") as fh:
                fh.write(block)
            written += chunk_mb
        except OSError:
            break
    return written


def limits():
    return {"as": resource.getrlimit(resource.RLIMIT_AS)[0],
            "sizes": {p: os.statvfs(p).f_blocks * os.statvfs(p).f_frsize
                      for p in ("/tmp", "/work", "/dev/shm")}}


def powers():
    out = {"uid": (os.getuid(), os.geteuid(), os.getgid(), os.getgroups())}
    with open("/proc/self/status") as fh:
        out["caps"] = sorted(line.split()[1] for line in fh if line.startswith("Cap"))
    for name, action in (("chmod /dev/null", lambda: os.chmod("/dev/null", 0o666)),
                         ("write core_pattern",
                          lambda: open("/proc/sys/kernel/core_pattern", "a").close()),
                         ("network", lambda: socket.create_connection(("1.1.1.1", 80), 1))):
        try:
            action()
            out[name] = "allowed"
        except OSError:
            out[name] = "refused"
    return out


def namespaces():
    out = {}
    for name, flags in (("user", 0x10000000), ("mount", 0x00020000), ("ipc", 0x08000000),
                        ("pid", 0x20000000), ("network", 0x40000000)):
        out[name] = LIBC.unshare(flags) == 0
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    out["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return out


def sysv(mb, count):
    made = 0
    for key in range(count):
        if LIBC.shmget(0x2000 + key, mb << 20, IPC_CREAT | 0o600) < 0:
            break
        made += 1
    try:
        with open("/proc/sys/kernel/shmall", "w") as fh:
            fh.write("18446744073692774399")
        raised = "raised"
    except OSError:
        raised = "refused"
    return {"made": made, "raise the cap": raised}


def shown():
    out = {}
    for name in ("/proc/1/cmdline", "/proc/1/environ", "/proc/self/cmdline",
                 "/proc/self/environ", "/proc/self/mountinfo"):
        try:
            with open(name, "rb") as fh:
                out[name] = fh.read().decode(errors="replace")
        except OSError:
            out[name] = ""
    return out
"""


@pytest.fixture(params=["warm", "cold"])
def start(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both start modes: forked from a zygote, and a new process per child."""
    monkeypatch.setenv(launch.ENV_WARM, "1" if request.param == "warm" else "0")
    if request.param == "warm" and not launch.warm_allowed(detect()):
        if os.environ.get("CI") == "true":
            pytest.fail(f"no warm starts on CI: {launch.warm_problem(detect())}")
        pytest.skip(f"warm starts are off here: {launch.warm_problem(detect())}")
    yield request.param


@pytest.fixture()
def probe(tmp_path: Path) -> Path:
    folder = tmp_path / "probe"
    folder.mkdir()
    (folder / "probe.py").write_text(PROBE, encoding="utf-8")
    return folder


@needs_bwrap
def test_does_the_next_child_find_nothing_of_the_previous(start: str, probe: Path) -> None:
    """A child writes in every place it can and makes SysV shared memory and a message queue;
    does the next child (of the same zygote, when warm) find none of it, and could it write
    nothing in / and /dev at all?"""
    marker = f"left-{os.urandom(4).hex()}"
    with Sandbox(probe, FAST) as first:
        left = first.call("probe", "leave", [marker]).value
        assert first.call("probe", "look", [marker]).value == {
            "files": ["/dev/shm", "/tmp", "/work"], "shm": True, "msg": True}
    assert left == ["/dev/shm", "/tmp", "/work"]  # / and /dev are read-only
    with Sandbox(probe, FAST) as second:
        assert second.call("probe", "look", [marker]).value == {
            "files": [], "shm": False, "msg": False}


@needs_bwrap
def test_is_each_writable_place_a_capped_tmpfs_counted_in_the_memory_limit(
        start: str, probe: Path) -> None:
    """Is /tmp, /work and /dev/shm each a tmpfs of the documented size, is the address-space
    limit the memory limit less those sizes, and does a child that fills /dev/shm pin
    nothing for the next one?"""
    limits = Limits(call_timeout=20.0, submission_timeout=60.0, memory_mb=1024)
    sizes = tmpfs_sizes(limits.memory_mb)
    for _ in range(2):  # the second child gets the whole of its /dev/shm again
        with Sandbox(probe, limits) as box:
            seen = box.call("probe", "limits").value
            assert seen["sizes"] == sizes
            assert seen["as"] == (limits.memory_mb << 20) - sum(sizes.values()) \
                - sysv_bytes(limits.memory_mb)
            written = box.call("probe", "fill", ["/dev/shm", 8, 32]).value
            assert written == sizes["/dev/shm"] >> 20 <= 32 * 8 // 2
    assert set(TMPFS_SHARES) == {"/tmp", "/work", "/dev/shm"}


@needs_bwrap
def test_can_a_child_neither_make_namespaces_nor_exceed_its_sysv_memory(
        start: str, probe: Path) -> None:
    """In a user namespace of its own a child could mount tmpfs and SysV memory that no cap
    of ours limits: is every new namespace refused (fork still working), and SysV shared
    memory capped at its share of the memory limit, a cap it cannot raise?"""
    with Sandbox(probe, FAST) as box:
        made = box.call("probe", "namespaces").value
        assert made == {"user": False, "mount": False, "ipc": False, "pid": False,
                        "network": False, "fork": 7}
        capped = box.call("probe", "sysv", [16, 64]).value
    assert capped == {"made": sysv_bytes(FAST.memory_mb) >> 24, "raise the cap": "refused"}


@needs_bwrap
def test_is_the_child_nobody_without_the_hosts_root_powers(start: str, probe: Path) -> None:
    """Run by root, bubblewrap would map the child to the host's uid 0, which owns /dev/null
    and may write /proc/sys/kernel/core_pattern even without capabilities. Is the child
    uid 65534 with no capability, unable to do either, and without network?"""
    with Sandbox(probe, FAST) as box:
        seen = box.call("probe", "powers").value
    assert seen["uid"] == (65534, 65534, 65534, [])
    assert seen["caps"] == ["0000000000000000"] * 5
    assert seen["chmod /dev/null"] == seen["write core_pattern"] == "refused"
    assert seen["network"] == "refused"


@needs_bwrap
def test_does_the_sandbox_show_no_course_venv_or_zygote_path(start: str, probe: Path) -> None:
    """Does the sandbox's /proc/1 (bubblewrap's command line and environment) name no course
    folder, no Python installation and no zygote folder, the child's own no course or
    zygote folder, and its mount table no course folder? (The child's interpreter knows
    its own path, and the mount table names the Python installation and the temporary
    folders that are bound: that much is inherent.)"""
    with Sandbox(probe, FAST) as box:
        seen = box.call("probe", "shown").value
        zygote = str(box._zygote.root) if box._zygote is not None else "grader-zygote-"
    for name in ("/proc/1/cmdline", "/proc/1/environ", "/proc/self/cmdline",
                 "/proc/self/environ"):
        secrets = [str(ROOT), zygote]
        if name.startswith("/proc/1/"):
            secrets += [sys.prefix, sys.base_prefix]
        assert not [s for s in secrets if s in seen[name]], (name, seen[name])
    assert "bwrap\x00--args" in seen["/proc/1/cmdline"]
    assert str(ROOT) not in seen["/proc/self/mountinfo"]


@needs_bwrap
def test_are_attempts_reported_to_the_sandbox(start: str, tmp_path: Path) -> None:
    """Does a submission that connects out, writes outside its folders, signals, forks,
    starts a program and replaces a harness function leave each of these in
    ``Sandbox.attempts``, short and deduplicated, while an honest call leaves none?"""
    folder = tmp_path / "attempts"
    folder.mkdir()
    (folder / "sneaky.py").write_text(textwrap.dedent("""\
        import os
        import socket
        import subprocess
        import sys


        def honest():
            with open("/tmp/scratch", "w") as fh:
                fh.write("fine")
            return 1


        def everything():
            for _ in range(3):
                try:
                    socket.create_connection(("10.1.2.3", 80), timeout=0.2)
                except OSError:
                    pass
            try:
                open("/etc/owned", "w")
            except OSError:
                pass
            os.kill(os.getpid(), 0)
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            subprocess.run(["/bin/true"])
            sys.modules["__main__"]._message = lambda exc: "all good"
            sys.meta_path[:] = [f for f in sys.meta_path
                                if type(f).__name__ != "ImportGuard"]
            return 2
        """), encoding="utf-8")
    with Sandbox(folder, FAST) as box:
        assert box.call("sneaky", "honest").value == 1
        assert box.attempts == []
        assert box.call("sneaky", "everything").value == 2
        attempts = list(box.attempts)
    assert "network: connect 10.1.2.3:80" in attempts
    assert "write outside the sandbox's folders: /etc/owned" in attempts
    assert any(a.startswith("signal 0 sent to process") for a in attempts)
    assert "process: fork" in attempts
    assert "process: subprocess /bin/true" in attempts
    assert "harness tampering: __main__._message replaced" in attempts
    assert "harness tampering: the import guard was removed" in attempts
    assert len(attempts) == len(set(attempts)) <= launch.MAX_ATTEMPTS


def test_is_a_flood_of_attempts_capped_and_made_printable() -> None:
    """Does the grader keep at most MAX_ATTEMPTS attempts, each once, short and printable,
    whatever a (forged) message holds?"""
    kept: list[str] = []
    launch.note_attempts(kept, ["a\x1b[31m\u202ex", "a\x1b[31m\u202ex", 7, "y" * 500])
    launch.note_attempts(kept, "not a list")
    launch.note_attempts(kept, [f"n{i}" for i in range(100)])
    assert kept[:2] == ["a?[31m?x", "y" * 160]
    assert len(kept) == launch.MAX_ATTEMPTS


@needs_bwrap
def test_without_nested_namespaces_do_children_start_cold_and_does_doctor_say_so(
        probe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When a forked child cannot make its own namespaces (here: bubblewrap's
    --disable-userns, which needs bubblewrap's own user namespace), is warm starting off,
    does every child still start (cold), and does `grader doctor` say why?"""
    monkeypatch.setenv(launch.ENV_WARM, "1")
    original = Isolation._bwrap

    def no_nested(self: Isolation, *args: object, **kwargs: object) -> list[str]:
        command = original(self, *args, **kwargs)  # type: ignore[arg-type]
        return [command[0], "--unshare-user", "--disable-userns", *command[1:]]

    monkeypatch.setattr(isolation, "_sandbox_userns", lambda: None)
    monkeypatch.setattr(Isolation, "_bwrap", no_nested)
    refused = Isolation("bubblewrap", ("test",), (), detect().bwrap, ("json",))
    assert launch.warm_problem(refused) is not None
    assert not launch.warm_allowed(refused)
    with Sandbox(probe, FAST, isolation=refused) as box:
        assert box.call("probe", "limits").value["as"] > 0
        assert box._zygote is None
    monkeypatch.setattr(launch, "_PROBLEMS", {detect(): "nested user namespaces refused"})
    shown = CliRunner().invoke(main, ["doctor"]).output
    assert "warm starts: off: a forked child cannot get a fresh world here (nested user " \
           "namespaces refused)" in shown


HOSTILE_TOY = """\
import ctypes
import os

import numpy as np

LIBC = ctypes.CDLL(None, use_errno=True)


def add_one(x):
    for place in ("/tmp", "/work", "/dev/shm"):
        with open(os.path.join(place, "from-a"), "w") as fh:
            fh.write("a was here")
    LIBC.shmget(0xA11CE, 4096, 0o1666)
    os.makedirs("/work/d", exist_ok=True)
    if not os.path.lexists("/work/d/link"):
        os.symlink("{victim}", "/work/d/link")
    os.chmod("/work/d", 0o500)
    return np.asarray(x, dtype=np.float64) + 1.0
"""

HONEST_TOY = """\
import ctypes
import os

import numpy as np

LIBC = ctypes.CDLL(None, use_errno=True)


def add_one(x):
    seen = [p for p in ("/tmp", "/work", "/dev/shm") if os.path.exists(p + "/from-a")]
    if seen or LIBC.shmget(0xA11CE, 0, 0) != -1:
        return np.asarray(x, dtype=np.float64) + 1000.0
    return np.asarray(x, dtype=np.float64) + 1.0
"""


@needs_bwrap
def test_does_grade_keep_one_students_leftovers_from_the_next(
        start: str, toy_course: object, tmp_path: Path) -> None:
    """Graded by `python -m grader grade` with one worker (one zygote), does a student who
    leaves files, SysV memory and an unwritable folder holding a link to a host file leave
    nothing that the next student sees, the host file untouched and both results valid?"""
    victim = tmp_path / "victim.txt"
    victim.write_text("host file", encoding="utf-8")
    os.chmod(victim, 0o600)
    course = tmp_path / "course"
    for name, source in (("a_leaves", HOSTILE_TOY.replace("{victim}", str(victim))),
                         ("b_looks", HONEST_TOY)):
        (tmp_path / "class" / name).mkdir(parents=True)
        (tmp_path / "class" / name / "toy.py").write_text(source, encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(tmp_path / "class"), "--out", str(out),
         "--jobs", "1", "--course", str(course)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    graded = {r["student"]: r for r in results.load_all(out)}
    assert set(graded) == {"a_leaves", "b_looks"}
    assert graded["a_leaves"]["score"] == graded["b_looks"]["score"] == 2.0
    assert victim.stat().st_mode & 0o777 == 0o600
    assert json.loads(json.dumps(graded["b_looks"]))["tests"]
