"""Warm starts: children forked from a zygote start clean, whatever the previous one did."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.sandbox import affinity, launch
from grader.sandbox.box import Sandbox, SandboxCrash, StudentError
from grader.sandbox.isolation import Isolation, detect
from grader.sandbox.limits import Limits

needs_warm = pytest.mark.skipif(
    not launch.warm_allowed(detect()),
    reason="warm starts need bubblewrap (apt-get install bubblewrap)")

FAST = Limits(call_timeout=5.0, submission_timeout=60.0)

MODULE = """\
import os
import time


def leave_behind(marker):
    for folder in ("/tmp", "/work"):
        with open(os.path.join(folder, marker), "w") as fh:
            fh.write("left")
    if os.fork() == 0:  # a detached grandchild that outlives its submission
        os.setsid()
        if os.fork() == 0:
            while True:
                with open("/tmp/" + marker + "-beat", "w") as fh:
                    fh.write(str(time.time()))
                time.sleep(0.01)
        os._exit(0)
    return chain()[0]


def chain():
    # this process and its ancestors up to the zygote, as /proc numbers them (the child
    # runs in a pid namespace of its own, under its own init)
    found = [int(os.readlink("/proc/self"))]
    while True:
        with open(f"/proc/{found[-1]}/stat") as fh:
            parent = int(fh.read().rsplit(")", 1)[1].split()[1])
        if parent == 1:
            return found
        found.append(parent)


def look(marker):
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            alive.append(pid)
    return {"pid": os.getpid(), "zygote": chain()[-1], "chain": chain(), "alive": alive,
            "tmp": sorted(os.listdir("/tmp")), "work": sorted(os.listdir("/work")),
            "submission": sorted(os.listdir("/submission"))}


def kill_the_zygote():
    import signal
    os.kill(chain()[-1], signal.SIGKILL)
    time.sleep(1)
    return "still here"


def ok():
    return "ok"
"""


@pytest.fixture()
def submission(tmp_path: Path) -> Path:
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "m.py").write_text(textwrap.dedent(MODULE), encoding="utf-8")
    return folder


@pytest.fixture()
def other(tmp_path: Path) -> Path:
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "m.py").write_text(textwrap.dedent(MODULE), encoding="utf-8")
    (folder / "only_mine.py").write_text("X = 1\n", encoding="utf-8")
    return folder


@needs_warm
def test_is_nothing_of_one_submission_left_for_the_next(submission: Path, other: Path) -> None:
    marker = f"m{os.urandom(4).hex()}"
    with Sandbox(submission, FAST) as first:
        first_pid = first.call("m", "leave_behind", [marker]).value
        time.sleep(0.1)  # the grandchild is running and writing
        before = first.call("m", "look", [marker]).value
    assert f"{marker}-beat" in before["tmp"]
    with Sandbox(other, FAST) as second:  # the same warm zygote serves it
        seen = second.call("m", "look", [marker]).value
        time.sleep(0.1)
        again = second.call("m", "look", [marker]).value
    assert seen["zygote"] == before["zygote"], "the second sandbox did not reuse the zygote"
    assert seen["chain"][0] != first_pid
    assert seen["pid"] == before["pid"] == 1  # a pid namespace each: no pid counter shared
    # only the namespace's init, the zygote and this child's own two (it, and the process
    # that reports its end): the grandchild is dead
    assert seen["alive"] == sorted([1, *seen["chain"]]) and len(seen["chain"]) == 3
    assert seen["tmp"] == [] and again["tmp"] == []
    assert seen["work"] == []
    assert seen["submission"] == ["m.py", "only_mine.py"]


@needs_warm
def test_is_a_killed_zygote_the_calls_crash_and_the_next_sandbox_works(
    submission: Path,
) -> None:
    """A child cannot signal its zygote (it lives outside the child's pid namespace); when
    the zygote dies anyway, does the current call crash and the next sandbox work?"""
    with Sandbox(submission, FAST) as box:
        with pytest.raises(StudentError, match="No such process"):
            box.call("m", "kill_the_zygote")
        assert box._zygote is not None
        os.killpg(box._zygote.proc.pid, signal.SIGKILL)
        with pytest.raises(SandboxCrash):
            box.call("m", "ok")
        assert box.call("m", "ok").value == "ok"  # a new zygote, the same submission
    with Sandbox(submission, FAST) as box:
        assert box.call("m", "ok").value == "ok"


@needs_warm
def test_does_a_timed_out_child_leave_its_zygote_usable(submission: Path, tmp_path: Path) -> None:
    (submission / "loop.py").write_text("def spin():\n    while True:\n        pass\n",
                                        encoding="utf-8")
    with Sandbox(submission, Limits(call_timeout=0.5, submission_timeout=60.0)) as box:
        first = box.call("m", "look", ["x"]).value
        with pytest.raises(Exception, match="did not return"):
            box.call("loop", "spin")
        after = box.call("m", "look", ["x"]).value
    assert after["zygote"] == first["zygote"]
    assert after["alive"] == sorted([1, *after["chain"]])


def test_does_turning_warm_starts_off_start_cold(submission: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(launch.ENV_WARM, "0")
    assert not launch.warm_allowed(detect())
    with Sandbox(submission, FAST) as box:
        assert box.call("m", "ok").value == "ok"
        assert box._zygote is None


def test_does_doctor_say_whether_warm_starts_and_pinning_are_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(launch.ENV_WARM, raising=False)
    monkeypatch.delenv(affinity.ENV_PIN, raising=False)
    shown = CliRunner().invoke(main, ["doctor"]).output
    warm = "on: a zygote" if launch.warm_allowed(detect()) else "off: a new process per child"
    assert f"warm starts: {warm}" in shown
    assert "CPU pinning: on: one CPU per worker" in shown
    monkeypatch.setenv(launch.ENV_WARM, "0")
    monkeypatch.setenv(affinity.ENV_PIN, "0")
    shown = CliRunner().invoke(main, ["doctor"]).output
    assert "warm starts: off" in shown and "warm starts: on" not in shown
    assert "CPU pinning: off" in shown


IO_MODULE = """\
import mmap
import os


def ok():
    return "ok"


def poke(path, text):
    with open(path, "r+b") as fh:
        shared = mmap.mmap(fh.fileno(), 0)
        before = bytes(shared[:len(text)]).decode()
        shared[:len(text)] = text.encode()
        shared.flush()
    try:
        with open(os.path.join(os.path.dirname(path), "mine"), "w") as fh:
            fh.write("x")
        created = "created"
    except OSError as exc:
        created = type(exc).__name__
    return {"before": before, "created": created}
"""

LEVELS = [("bubblewrap", True), ("bubblewrap", False), ("uid", False), ("none", False)]


def _runnable(level: str) -> str | None:
    """Why ``level`` cannot run on this machine, or None."""
    if level == "bubblewrap" and detect().level != "bubblewrap":
        return "needs bubblewrap"
    if level == "uid":
        if os.geteuid() != 0:
            return "the uid level needs root"
        drop = Isolation("uid", (), ()).preexec()
        try:
            subprocess.run([sys.executable, "-c", ""], preexec_fn=drop, check=True)
        except (OSError, subprocess.SubprocessError):
            return "this Python is not runnable by uid 65534 (installed under a private home)"
    return None


@pytest.mark.parametrize(("level", "warm"), LEVELS)
def test_can_the_child_mmap_the_graders_io_files_but_not_add_its_own(
        level: str, warm: bool, submission: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Does every started child (cold, warm, each level) get an empty I/O folder whose files,
    made by the grader with mode 0o666, it can map shared and write, without creating any
    file of its own there (as root: the bound on what it may write is one file-size limit
    per grader file)?"""
    why = _runnable(level)
    if why:
        pytest.skip(why)
    monkeypatch.setenv(launch.ENV_WARM, "1" if warm else "0")
    (submission / "io_user.py").write_text(IO_MODULE, encoding="utf-8")
    chosen = detect() if level == "bubblewrap" else Isolation(level, (), ())
    for _ in range(2):  # the second child finds the folder emptied
        with Sandbox(submission, FAST, isolation=chosen) as box:
            box.call("io_user", "ok")
            assert box._child is not None
            host, seen = box._child.io
            assert seen == ("/io" if level == "bubblewrap" else str(host))
            assert list(host.iterdir()) == []
            shared = host / "args.bin"
            shared.write_bytes(b"hello world")
            os.chmod(shared, 0o666)
            reply = box.call("io_user", "poke", [f"{seen}/args.bin", "HELLO"]).value
            assert reply["before"] == "hello"
            assert shared.read_bytes() == b"HELLO world"
            if os.geteuid() == 0 and level != "none":
                assert reply["created"] == "PermissionError"
                assert sorted(p.name for p in host.iterdir()) == ["args.bin"]
            assert isinstance(box._zygote, launch.Zygote) == (warm and level == "bubblewrap")


def _leave_a_trap(work: Path, victim: Path) -> None:
    """What a child may leave: an unwritable folder holding a link to a host file, an
    unreadable folder, a link to a folder outside."""
    trap = work / "d"
    trap.mkdir()
    (trap / "link").symlink_to(victim)
    (trap / "file").write_text("x", encoding="utf-8")
    os.chmod(trap, 0o500)
    closed = work / "e"
    (closed / "deeper").mkdir(parents=True)
    (closed / "deeper" / "f").write_text("x", encoding="utf-8")
    os.chmod(closed / "deeper", 0o000)
    os.chmod(closed, 0o000)
    (work / "outside").symlink_to(victim.parent)


@pytest.mark.parametrize("as_root", [True, False], ids=["root", "unprivileged"])
def test_does_cleanup_empty_everything_without_following_a_link(as_root: bool) -> None:
    """A child leaves /work/d at mode 0500 holding a link to a host file (and folders of mode
    0000, and a link to a host folder): is everything removed, as root and as an unprivileged
    instructor, without the link's target changing mode or losing a file?"""
    if os.geteuid() != 0:
        pytest.skip("arranging the unprivileged case needs root (to become uid 65534)")
    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="grader-trap-"))
    try:
        os.chmod(base, 0o755)
        victim, work = base / "victim.txt", base / "work"
        victim.write_text("host file", encoding="utf-8")
        work.mkdir()
        owner = 0 if as_root else 65534
        for path in (victim, work):
            os.chown(path, owner, owner)
        os.chmod(victim, 0o600)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the instructor's process
            code = 1
            try:
                if not as_root:
                    os.setgroups([])
                    os.setgid(65534)
                    os.setuid(65534)
                _leave_a_trap(work, victim)
                launch._empty(work)
                code = 0 if not list(work.iterdir()) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "something was left, or it raised"
        assert victim.stat().st_mode & 0o777 == 0o600
        assert victim.read_text(encoding="utf-8") == "host file"
        assert sorted(p.name for p in base.iterdir()) == ["victim.txt", "work"]
    finally:
        shutil.rmtree(base, ignore_errors=True)


@needs_warm
def test_does_a_sandbox_use_the_launcher_it_is_given(submission: Path) -> None:
    """Is what a process keeps between sandboxes (idle zygotes) held by the launcher passed
    down: does a sandbox given its own take its zygote from it and give it back there, the
    process's own launcher untouched, and does closing the launcher end its zygotes?"""
    own = launch.Launcher(max_idle=1)
    process = launch.process_launcher()
    before = list(process.idle)
    with Sandbox(submission, FAST, launcher=own) as box:
        assert box.call("m", "ok").value == "ok"
        zygote = box._zygote
    assert zygote is not None and own.idle == [zygote] and process.idle == before
    with Sandbox(submission, FAST, launcher=own) as box:
        assert box.call("m", "ok").value == "ok"
        assert box._zygote is zygote  # the idle one, kept warm
    own.close()
    assert own.idle == [] and not zygote.healthy


def test_does_a_forked_process_start_without_its_parents_idle_zygotes() -> None:
    """A launcher used after a fork holds none of the parent's zygotes (not its own)."""
    own = launch.Launcher()
    own.idle.append(object())  # type: ignore[arg-type]  # stands for the parent's zygote
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the forked process
        os._exit(0 if own.idle == [] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(own.idle) == 1
