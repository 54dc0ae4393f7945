"""Warm starts: children forked from a zygote start clean, whatever the previous one did."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import affinity, launch
from grader.cli import main
from grader.isolation import detect
from grader.sandbox import Limits, Sandbox, SandboxCrash

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
    return os.getpid()


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
    return {"pid": os.getpid(), "zygote": os.getppid(), "alive": alive,
            "tmp": sorted(os.listdir("/tmp")), "work": sorted(os.listdir("/work")),
            "submission": sorted(os.listdir("/submission"))}


def kill_the_zygote():
    import signal
    os.kill(os.getppid(), signal.SIGKILL)
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
    assert seen["pid"] != first_pid
    # only the namespace's init, the zygote and this child: the grandchild is dead
    assert seen["alive"] == sorted([1, seen["zygote"], seen["pid"]])
    assert seen["tmp"] == [] and again["tmp"] == []
    assert seen["work"] == []
    assert seen["submission"] == ["m.py", "only_mine.py"]


@needs_warm
def test_is_a_killed_zygote_the_calls_crash_and_the_next_sandbox_works(
    submission: Path,
) -> None:
    with Sandbox(submission, FAST) as box:
        with pytest.raises(SandboxCrash):
            box.call("m", "kill_the_zygote")
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
    assert after["alive"] == sorted([1, after["zygote"], after["pid"]])


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
