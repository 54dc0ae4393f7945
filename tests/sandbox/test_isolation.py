"""Isolation levels: what `grader doctor` reports, and each level's mechanisms."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.sandbox import isolation, mounts


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
    """Does the bwrap command bind the submission read-only, a sized fresh tmpfs on every
    writable place before any bind (a venv under /tmp stays visible), a read-only root and
    /dev, no network, site-packages emptied but for numpy, and nothing of the course?"""
    level = isolation.Isolation("bubblewrap", (), (), "/usr/bin/bwrap")
    script = Path(isolation.__file__).with_name("_child.py")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "neuron.py").write_text("X = 1\n", encoding="utf-8")
    command = level.command(script, tmp_path / "sub", tmp_path / "work", (5, 6),
                            tmp_path / "io", 1024)
    text = " ".join(command)
    assert "--die-with-parent" in command
    assert "--unshare-all" in command or "--userns" in command  # root: see _sandbox_userns
    assert f"--ro-bind {tmp_path / 'sub' / 'neuron.py'} /submission/neuron.py" in text
    assert f"--bind {tmp_path / 'io'} /io" in text
    for place, size in mounts.tmpfs_sizes(1024).items():
        assert f"--size {size} --tmpfs {place}" in text
    binds = [i for i, arg in enumerate(command) if arg in ("--bind", "--ro-bind")]
    tmpfs = [command.index(place) for place in mounts.TMPFS_SHARES]
    assert max(tmpfs) < min(binds), "a bind before a writable place's tmpfs is hidden by it"
    assert "--remount-ro /dev" in text and text.index("--remount-ro / ") > max(binds)
    assert command[-4:] == ["/submission", "5", "6", "numpy"]
    import numpy

    site = Path(numpy.__file__).resolve().parents[1]
    assert f"--tmpfs {site} " in text and f"--remount-ro {site} " in text
    shown = {Path(command[i + 1]).name for i in binds if Path(command[i + 1]).parent == site}
    assert {n.split("-")[0].split(".")[0] for n in shown} == {"numpy"}
    course = str(Path(__file__).resolve().parents[2])
    sealed, fds = mounts.seal(command)
    try:
        assert sealed[:2] == ["/usr/bin/bwrap", "--args"] and sealed[3] == "--"
        assert not [a for a in sealed if course in a or sys.prefix in a]
        options = os.read(int(sealed[2]), 1 << 20).split(b"\0")
        assert not [o for o in options
                    if course.encode() in o or str(tmp_path / "sub").encode() in o]
        copied = [command[i + 2] for i in binds
                  if command[i + 2].startswith(("/grader/", "/submission/"))]
        assert "/submission/neuron.py" in copied and "/grader/_child.py" in copied
        assert options.count(b"--ro-bind-data") == len(copied)
    finally:
        for fd in fds:
            os.close(fd)


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


def test_does_doctor_say_how_imports_are_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Does `grader doctor` say what a submission may import, and that only the import guard
    enforces it at the none level (by what is mounted as well under bubblewrap)?"""
    shown = CliRunner().invoke(main, ["doctor"]).output
    assert "imports: numpy, the standard library and the submission's own modules" in shown
    if isolation.detect().level == "bubblewrap":
        assert "enforced by what is mounted (site-packages shows only numpy)" in shown
    monkeypatch.setenv(isolation.ENV_DISABLE, "none")
    isolation.detect.cache_clear()
    try:
        shown = CliRunner().invoke(main, ["doctor"]).output
    finally:
        isolation.detect.cache_clear()
    assert "enforced only by an import guard in the child (none level)" in shown


def _child_imports(name: str) -> tuple[set[str], set[str]]:
    """The siblings a child module imports (relative imports) and every other top-level
    module it imports anywhere in it."""
    import ast

    tree = ast.parse((Path(isolation.__file__).parent / name).read_text(encoding="utf-8"))
    siblings: set[str] = set()
    others: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = [node.module] if node.module else [a.name for a in node.names]
            siblings |= {f"{b.split('.')[0]}.py" for b in base}
        elif isinstance(node, ast.ImportFrom):
            others.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Import):
            others |= {a.name.split(".")[0] for a in node.names}
    return siblings, others


def test_does_the_sandbox_bind_every_module_the_child_loads_and_nothing_of_the_grader() -> None:
    """Under bubblewrap the child sees only the files of ``CHILD_MODULES``: is every sibling
    the child script imports (directly or not) among them, does none of them import the
    grader package (the child has only these files), and is nothing listed that it never
    loads?"""
    loaded: set[str] = set()
    todo = ["_child.py"]
    while todo:
        name = todo.pop()
        loaded.add(name)
        siblings, others = _child_imports(name)
        assert "grader" not in others, f"{name} imports the grader package"
        assert others <= set(sys.stdlib_module_names) | {"numpy"}, (name, others)
        todo += sorted(siblings - loaded)
    assert loaded == set(mounts.CHILD_MODULES)
    level = isolation.Isolation("bubblewrap", (), (), "/usr/bin/bwrap")
    script = Path(isolation.__file__).with_name("_child.py")
    command = level.command(script, Path("/nonexistent"), Path("/nonexistent"), (5, 6))
    bound = {command[i + 2] for i, arg in enumerate(command) if arg == "--ro-bind"
             and command[i + 2].startswith(mounts.SANDBOX_GRADER + "/")}
    assert bound == {f"{mounts.SANDBOX_GRADER}/{name}" for name in mounts.CHILD_MODULES}


def test_are_isolation_levels_an_enum_equal_to_their_names() -> None:
    """Is a level given by name made the enum member (so isolations that are equal hash
    alike), and does it still compare and print as its name?"""
    by_name = isolation.Isolation("uid", (), ())
    assert by_name.level is isolation.Level.UID
    assert by_name.level == "uid" and f"{by_name.level}" == "uid"
    assert by_name == isolation.Isolation(isolation.Level.UID, (), ())
    assert hash(by_name) == hash(isolation.Isolation(isolation.Level.UID, (), ()))
    assert by_name.warning is not None and "reduced isolation (uid)" in by_name.warning
    assert isolation.detect().level in set(isolation.Level)
