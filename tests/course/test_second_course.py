"""A second course, not about neural networks (tests/fixtures/stats_course: ``moments.mean`` and
``moments.variance``), driven through the real command line as subprocesses: the grader knows no
particular course, and a course's own commands appear only where that course is in use."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "stats_course"
#: words of the backpropagation course that nothing of the second course may contain
BACKPROP = re.compile(r"sigmoid|backprop|gradient descent|digits|neuron", re.IGNORECASE)
WRONG_VARIANCE = ("    return float(np.sum(centred * centred) / len(x))",
                  "    return float(np.sum(centred * centred) / (len(x) - 1))")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m grader ARGS`` in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=600,
                          env={**os.environ, "GRADER_SECRET": ""})


def commands_of(help_text: str) -> set[str]:
    """The command names listed by ``grader --help``."""
    listing = help_text.split("Commands:", 1)[1].split("Exit codes", 1)[0]
    return {line.split()[0] for line in listing.splitlines() if line.startswith("  ")
            and line.strip()}


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A fresh copy of the second course."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "stats",
                                ignore=shutil.ignore_patterns("__pycache__")))


def submission(folder: Path, *replace: tuple[str, str]) -> Path:
    """A student folder: the course's solution with each (old, new) line replaced."""
    folder.mkdir(parents=True)
    source = (FIXTURE / "solutions" / "moments.py").read_text(encoding="utf-8")
    for old, new in replace:
        assert old in source, old
        source = source.replace(old, new)
    (folder / "moments.py").write_text(source, encoding="utf-8")
    return folder


def test_check_passes_the_solutions_and_fails_the_stubs(course: Path, tmp_path: Path) -> None:
    """Does `grader check` pass the reference (exit 0) and report the stubs as not
    implemented (exit 1)?"""
    solved = run(["check", "--path", str(course / "solutions")], cwd=course)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert "2 of 2 functions pass their public checks." in solved.stdout
    stubs = run(["check"], cwd=course)
    assert stubs.returncode == 1, stubs.stdout + stubs.stderr
    assert stubs.stdout.count("not implemented yet") == 3  # two functions and the summary
    assert "0 of 2 functions pass" in stubs.stdout


def test_grade_a_small_class(course: Path, tmp_path: Path) -> None:
    """Does `grader grade` give the solution's copy full marks and a wrong variance (divided
    by n - 1) only the mean's points?"""
    klass = tmp_path / "class"
    submission(klass / "ada")
    submission(klass / "bob", WRONG_VARIANCE)
    out = tmp_path / "results"
    proc = run(["grade", str(klass), "--out", str(out)], cwd=course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert float(rows["ada"]["total"]) == 10.0
    assert float(rows["bob"]["total"]) == 4.0
    bob = json.loads((out / "bob.json").read_text(encoding="utf-8"))
    assert not BACKPROP.search(json.dumps(bob)), BACKPROP.search(json.dumps(bob))


def test_release_is_the_course_s_own(course: Path, tmp_path: Path) -> None:
    """Does `grader release` write a bundle whose course files, pyproject and README hold
    nothing of the backpropagation course, with the course's dependencies and own command,
    and in which `grader list` and `grader check` work?"""
    out = tmp_path / "bundle"
    proc = run(["release", "--out", str(out)], cwd=course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not any(part in ("solutions", "autograde_tests") for p in files for part in p.parts)
    assert (out / "tools" / "describe.py").is_file()  # the course's own command ships
    own = [p for p in files if p.relative_to(out).parts[0] != "grader"]
    assert {p.relative_to(out).as_posix() for p in own} >= {
        "course.toml", "pyproject.toml", "README.md", "exercises/moments.py",
        "checks/check_moments.py", "tools/describe.py"}
    for path in own:
        text = path.read_text(encoding="utf-8")
        assert not BACKPROP.search(text), (path, BACKPROP.search(text))
    pyproject = (out / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "descriptive-statistics"' in pyproject and '"scipy>=1.10",' in pyproject
    assert "scikit-learn" not in pyproject
    config = (out / "course.toml").read_text(encoding="utf-8")
    assert "secret =" not in config and "stats-demo-secret" not in config
    assert 'describe = "tools/describe.py:describe"' in config
    listed = run(["list"], cwd=out)
    assert listed.returncode == 0 and "total: 10 points" in listed.stdout, listed.stderr
    checked = run(["check"], cwd=out)
    assert checked.returncode == 1 and "not implemented yet" in checked.stdout
    assert "describe" in commands_of(run(["--help"], cwd=out).stdout)


def test_nbgrader_generate(course: Path, tmp_path: Path) -> None:
    """Does `grader nbgrader generate` write the module's source notebook?"""
    nb_course = tmp_path / "nbcourse"
    proc = run(["nbgrader", "generate", "--nbgrader-course", str(nb_course), "--course",
                str(course)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    notebook = nb_course / "source" / "stats" / "moments.ipynb"
    assert f"wrote {notebook}" in proc.stdout
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    assert any("def variance" in "".join(c["source"]) for c in cells)
    text = notebook.read_text(encoding="utf-8")
    assert not BACKPROP.search(text), BACKPROP.search(text)


def test_help_shows_each_course_s_own_commands(course: Path, tmp_path: Path) -> None:
    """Does `grader --help` list graph and curves inside this repository's course only, the
    second course's describe inside it only, and neither outside any course?"""
    here = run(["--help"], cwd=course)
    assert here.returncode == 0, here.stderr
    assert "describe" in commands_of(here.stdout)
    assert not {"graph", "curves"} & commands_of(here.stdout)
    backprop = run(["--help"], cwd=ROOT)
    assert {"graph", "curves"} <= commands_of(backprop.stdout)
    assert "describe" not in commands_of(backprop.stdout)
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    bare = run(["--help"], cwd=nowhere)
    assert bare.returncode == 0, bare.stderr
    assert not {"graph", "curves", "describe"} & commands_of(bare.stdout)
    assert {"check", "grade", "release"} <= commands_of(bare.stdout)
    # --course after the command's name chooses the course whose commands are offered
    there = run(["graph", "--help", "--course", str(ROOT)], cwd=nowhere)
    assert there.returncode == 0 and "worked-example" in there.stdout, there.stderr
    missing = run(["graph", "neuron", "--out", "g.svg"], cwd=course)
    assert missing.returncode == 2 and "No such command 'graph'" in missing.stderr


def test_the_course_s_own_command_runs_through_the_sandbox(course: Path) -> None:
    """Does `grader describe` call the student's functions, reference and stubs alike?"""
    solved = run(["describe", "1", "2", "3", "4", "--path", str(course / "solutions")],
                 cwd=course)
    assert solved.returncode == 0, solved.stderr
    assert solved.stdout.split("\n")[:2] == ["mean = 2.5", "variance = 1.25"]
    stubs = run(["describe", "1", "2"], cwd=course)
    assert stubs.returncode == 0 and "mean: " in stubs.stdout, stubs.stderr
    bad_course = run(["describe", "1", "--course", str(course / "nowhere")], cwd=course)
    assert bad_course.returncode == 2 and "course.toml" in bad_course.stderr


def test_a_broken_course_command_is_listed_and_fails_clearly(course: Path) -> None:
    """Does a command whose file is missing still leave `grader --help` working (listing it
    with the reason) and exit 2 with that reason when run?"""
    config = course / "course.toml"
    config.write_text(config.read_text(encoding="utf-8")
                      + 'broken = "tools/missing.py:broken"\n', encoding="utf-8")
    listed = run(["--help"], cwd=course)
    assert listed.returncode == 0, listed.stderr
    assert {"broken", "describe"} <= commands_of(listed.stdout)
    ran = run(["broken"], cwd=course)
    assert ran.returncode == 2 and "no file" in ran.stderr and "missing.py" in ran.stderr
    assert run(["list"], cwd=course).returncode == 0  # the grader's own commands still work
