"""Isolation levels: what `grader doctor` reports, and each level's mechanisms."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import isolation
from grader.cli import main


def test_doctor_reports_the_active_protections() -> None:
    """Does `grader doctor` name the level and list what is protected?"""
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0
    level = isolation.detect().level
    assert f"isolation level: {level}" in result.output
    for item in isolation.detect().protections:
        assert item in result.output


def test_ci_runs_with_full_isolation() -> None:
    """On CI (which installs bubblewrap), is the sandbox at full isolation, so the hostile
    suite really runs instead of being skipped?"""
    if os.environ.get("CI") != "true":
        pytest.skip("only meaningful on CI")
    assert isolation.detect().level == "bubblewrap"


def test_forcing_no_isolation_warns_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """With GRADER_ISOLATION=none, is the level 'none', with a warning saying how to fix it?"""
    monkeypatch.setenv(isolation.ENV_DISABLE, "none")
    isolation.detect.cache_clear()
    try:
        level = isolation.detect()
        assert level.level == "none"
        assert level.warning is not None and "apt-get install bubblewrap" in level.warning
    finally:
        isolation.detect.cache_clear()


def test_bubblewrap_command_binds_only_what_the_child_needs(tmp_path: Path) -> None:
    """Does the bwrap command bind the submission read-only, a fresh /tmp, no network, and
    nothing of the course?"""
    level = isolation.Isolation("bubblewrap", (), (), "/usr/bin/bwrap")
    script = Path(isolation.__file__).with_name("_child.py")
    command = level.command(script, tmp_path / "sub", tmp_path / "work", (5, 6))
    text = " ".join(command)
    assert "--unshare-all" in command and "--die-with-parent" in command
    assert f"--ro-bind {tmp_path / 'sub'} /submission" in text
    assert f"--bind {tmp_path / 'work'} /work" in text
    assert "--tmpfs /tmp" in text
    tmpfs = command.index("--tmpfs")
    binds = [i for i, arg in enumerate(command) if arg in ("--bind", "--ro-bind")]
    assert all(i > tmpfs for i in binds), "a bind before --tmpfs /tmp is hidden by it"
    assert command[-3:] == ["/submission", "5", "6"]
    course = str(Path(__file__).resolve().parents[1])
    binds = [command[i + 1] for i, arg in enumerate(command) if arg in ("--bind", "--ro-bind")]
    course_binds = [b for b in binds if b.startswith(course + "/") or b == course]
    assert sorted(course_binds) == [f"{course}/grader/_child.py", f"{course}/grader/wire.py"]


def test_protect_removes_access_for_other_users(tmp_path: Path) -> None:
    """Does uid mode's protect() make instructor folders unreadable to other users?"""
    folder = tmp_path / "solutions"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    assert isolation.exposed_paths([folder]) == [folder]
    assert isolation.protect([folder]) == [folder]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    assert isolation.exposed_paths([folder]) == []


def test_process_cap_limits_forks() -> None:
    """Where a pids cgroup can be made, does a child stop at the cap?"""
    cap = isolation.ProcessCap.create(limit=5)
    if cap is None:
        pytest.skip("no writable pids cgroup on this machine")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        cap.join()
        made = 0
        try:
            for _ in range(20):
                if os.fork() == 0:
                    import time

                    time.sleep(5)
                    os._exit(0)
                made += 1
        except OSError:
            pass
        os._exit(made)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 4  # 5 processes: this child and 4 more
    for line in (cap.path / "cgroup.procs").read_text().split():
        os.kill(int(line), 9)
    cap.remove()
    assert not cap.path.exists()
