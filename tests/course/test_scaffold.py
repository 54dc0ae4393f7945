"""Scaffolding (``grader new course``, ``grader new module``), driven through the real command
line: a new course works at once (its reference passes its checks, its stubs are not
implemented, a class of the reference scores full marks and its mutant loses points, and
``grader selftest`` passes), a module added to it works the same way, ``course.toml`` keeps
every comment, and bad requests exit 2 and write nothing."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from grader.course import scaffold
from grader.course.config import CourseError, load_course
from grader.course.scaffold_toml import register_module

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m grader ARGS`` in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=600,
                          env={**os.environ, "GRADER_SECRET": ""})


def files_of(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path to text), caches left out."""
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def mutants_of(course: Path) -> list[dict[str, object]]:
    """The ``MUTANTS`` of every file of the course's ``mutants/``."""
    found: list[dict[str, object]] = []
    for path in sorted((course / "mutants").glob("*.py")):
        namespace: dict[str, object] = {}
        exec(path.read_text(encoding="utf-8"), namespace)
        found += namespace["MUTANTS"]  # type: ignore[arg-type]
    return found


def grade_class(course: Path, tmp_path: Path) -> dict[str, float]:
    """Grade a class of the reference's copy (``ada``) and one copy per mutant
    (``mutant-<i>``); return each student's total."""
    klass = tmp_path / "class"
    shutil.copytree(course / "solutions", klass / "ada")
    for i, mutant in enumerate(mutants_of(course)):
        folder = Path(shutil.copytree(course / "solutions", klass / f"mutant-{i}"))
        path = folder / f"{mutant['module']}.py"
        source = path.read_text(encoding="utf-8")
        assert str(mutant["old"]) in source, mutant
        path.write_text(source.replace(str(mutant["old"]), str(mutant["new"]), 1),
                        encoding="utf-8")
    out = tmp_path / "results"
    proc = run(["grade", str(klass), "--out", str(out)], cwd=course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with (out / "gradebook.csv").open(encoding="utf-8") as fh:
        return {row["student"]: float(row["total"]) for row in csv.DictReader(fh)}


def assert_course_works(course: Path, tmp_path: Path, functions: int, points: float) -> None:
    """The reference passes every public check, the stubs are not implemented, the reference's
    copy scores ``points`` and every mutant's copy less, and the self-test passes."""
    solved = run(["check", "--path", "solutions"], cwd=course)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert f"{functions} of {functions} functions pass their public checks." in solved.stdout
    stubs = run(["check"], cwd=course)
    assert stubs.returncode == 1, stubs.stdout + stubs.stderr
    assert f"0 of {functions} functions pass" in stubs.stdout
    assert f"({functions} not implemented yet)" in stubs.stdout
    totals = grade_class(course, tmp_path)
    assert totals.pop("ada") == points
    assert totals and all(total < points for total in totals.values()), totals
    if run(["selftest", "--help"], cwd=course).returncode != 0:
        pytest.skip("`grader selftest` is not there yet")
    selftest = run(["selftest", "--ids", "3"], cwd=course)
    assert selftest.returncode == 0, selftest.stdout + selftest.stderr


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course written by ``grader new course``."""
    proc = run(["new", "course", "course", "--name", "Losses 101"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path / "course"


def test_a_new_course_works(course: Path, tmp_path: Path) -> None:
    """Does `grader new course` write the course's files, a course.toml that loads with the
    name given, a mutant naming a catalogued misconception, and a course that works?"""
    assert set(files_of(course)) == {
        "course.toml", "README.md", "exercises/example.py", "solutions/example.py",
        "checks/check_example.py", "autograde_tests/test_example.py", "mutants/example.py"}
    loaded = load_course(course)
    assert (loaded.name, loaded.assignment, loaded.modules) == ("Losses 101", "losses-101",
                                                                ("example",))
    assert loaded.functions("example") == ["mse", "mse_grad"]
    assert loaded.secret and loaded.secret.startswith("replace-this-secret-")
    catalogue = loaded.catalogue()
    assert all(m["key"] in catalogue for m in mutants_of(course))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    assert_course_works(course, tmp_path / "graded", functions=2, points=3.0)


def test_new_module_from_function_names(course: Path, tmp_path: Path) -> None:
    """Does `grader new module NAME --functions f,g` write the four files and register the
    module in course.toml, keeping every line of it in order, and does the course still
    work?"""
    before = (course / "course.toml").read_text(encoding="utf-8")
    proc = run(["new", "module", "scale", "--functions", "double, halve"], cwd=course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("exercises/scale.py", "solutions/scale.py", "checks/check_scale.py",
                 "autograde_tests/test_scale.py"):
        assert (course / name).is_file() and f"wrote {name}" in proc.stdout
    after = (course / "course.toml").read_text(encoding="utf-8")
    lines = iter(after.splitlines())
    for line in before.splitlines():  # the old lines, in order, with the module appended
        expected = line.replace('["example"]', '["example", "scale"]')
        assert any(new == expected for new in lines), line
    loaded = load_course(course)
    assert loaded.modules == ("example", "scale")
    assert loaded.functions("scale") == ["double", "halve"]
    assert loaded.points["scale.double"] == loaded.points["scale.halve"] == 1.0
    assert_course_works(course, tmp_path / "graded", functions=4, points=5.0)


def test_new_module_from_an_existing_stub(course: Path, tmp_path: Path) -> None:
    """Does `grader new module NAME` take the functions and signatures of an existing stub
    (leaving it as it is, and its provided code out of the contract)?"""
    stub = ('"""Spread of a sample."""\n\n\n'
            "def spread(x, y=2.0, *, w, k=3):\n"
            '    """The weighted spread."""\n'
            "    raise NotImplementedError\n\n\n"
            "def provided(z):\n"
            "    return z\n")
    (course / "exercises" / "spread.py").write_text(stub, encoding="utf-8")
    proc = run(["new", "module", "spread"], cwd=course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (course / "exercises" / "spread.py").read_text(encoding="utf-8") == stub
    assert "wrote exercises/spread.py" not in proc.stdout
    assert "spread(x, w=w)" in (course / "checks" / "check_spread.py").read_text()
    loaded = load_course(course)
    assert loaded.functions("spread") == ["spread"]
    assert_course_works(course, tmp_path / "graded", functions=3, points=4.0)


@pytest.mark.parametrize(("args", "message"), [
    (["new", "module", "example", "--functions", "f"], "already a module"),
    (["new", "module", "1bad", "--functions", "f"], "is not a module name"),
    (["new", "module", "Bad", "--functions", "f"], "is not a module name"),
    (["new", "module", "class", "--functions", "f"], "is not a module name"),
    (["new", "module", "os", "--functions", "f"], "a module Python or the grader imports"),
    (["new", "module", "numpy", "--functions", "f"], "a module Python or the grader imports"),
    (["new", "module", "extra", "--functions", "f,f"], "named twice"),
    (["new", "module", "extra", "--functions", "f,2g"], "is not a function name"),
    (["new", "module", "extra"], "--functions"),
    (["new", "course", "."], "is not empty"),
    (["new", "course", "course.toml"], "is a file"),
    (["new", "course", "elsewhere", "--name", " "], "one printable line"),
])
def test_bad_requests_exit_2_and_write_nothing(course: Path, args: list[str],
                                               message: str) -> None:
    """Does each bad request exit 2 with its reason and leave the course as it was?"""
    before = files_of(course)
    proc = run(args, cwd=course)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert files_of(course) == before


def test_existing_files_and_no_course_exit_2(course: Path, tmp_path: Path) -> None:
    """Does `grader new module` refuse a name whose reference exists already, a stub name
    that is no stub, the name of a helper module of checks/, and a folder that is no
    course?"""
    (course / "solutions" / "extra.py").write_text("x = 1\n", encoding="utf-8")
    taken = run(["new", "module", "extra", "--functions", "f"], cwd=course)
    assert taken.returncode == 2 and "exists already" in taken.stderr
    (course / "exercises" / "other.py").write_text("def f(x):\n    raise NotImplementedError\n",
                                                    encoding="utf-8")
    missing = run(["new", "module", "other", "--functions", "g"], cwd=course)
    assert missing.returncode == 2 and "has no stub 'g'" in missing.stderr
    (course / "checks" / "course_tools.py").write_text("X = 1\n", encoding="utf-8")
    helper = run(["new", "module", "course_tools", "--functions", "f"], cwd=course)
    assert helper.returncode == 2 and "helper module" in helper.stderr
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    lost = run(["new", "module", "extra", "--functions", "f"], cwd=nowhere)
    assert lost.returncode == 2 and "course.toml" in lost.stderr
    assert list(nowhere.iterdir()) == []


def test_an_empty_folder_is_used(tmp_path: Path) -> None:
    """Is an existing empty folder filled, the very folder (`grader new course .` from it
    leaves the shell's folder in place), and a missing parent made?"""
    empty = tmp_path / "empty"
    empty.mkdir()
    inode = empty.stat().st_ino
    proc = run(["new", "course", "."], cwd=empty)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "wrote course.toml" in proc.stdout
    assert empty.stat().st_ino == inode
    assert load_course(empty).name == "empty"
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]
    scaffold.new_course(tmp_path / "a" / "b")
    assert load_course(tmp_path / "a" / "b").modules == ("example",)


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Does a course that fails half-way leave no folder, and a module whose course.toml
    cannot be written leave none of its files?"""
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(scaffold, "load_course", broken)
    with pytest.raises(OSError, match="disk full"):
        scaffold.new_course(tmp_path / "course")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    scaffold.new_course(tmp_path / "course")
    before = files_of(tmp_path / "course")
    monkeypatch.setattr(scaffold, "atomic_write", broken)
    with pytest.raises(OSError, match="disk full"):
        scaffold.new_module(load_course(tmp_path / "course"), "extra", ["f"])
    assert files_of(tmp_path / "course") == before


@pytest.mark.parametrize("text", [
    '[course]\nmodules = ["a"]\n',
    '# top\n[course]\nmodules = [  # the order\n  "a",  # first\n  "b" # second\n] # end\n'
    '[functions]\na = ["f"]\n\n# about grading\n[grading]\nsecret = "s"\n',
    '[course]\r\nname = "x [y]"\r\nmodules = ["a",] # x\r\n[points]\r\n"a.f" = 2\r\n',
    '[course]\nmodules = ["a"]\n[functions]\n[points]\na = 3\n',
])
def test_register_module_edits_only_what_it_must(text: str) -> None:
    """Does course.toml's editor add the module, its functions and (where the table exists)
    its points, keeping every other line?"""
    edited = register_module(text, "new", {"g": 1.0, "h": 2.0})
    config = tomllib.loads(edited)
    assert config["course"]["modules"][-1] == "new"
    assert config["functions"]["new"] == ["g", "h"]
    assert ("points" in config) == ("[points]" in text)
    if "points" in config:
        assert (config["points"]["new.g"], config["points"]["new.h"]) == (1, 2)
    kept = iter(edited.splitlines())
    for line in text.splitlines():
        if "modules" not in line and '"b"' not in line:
            assert any(new == line for new in kept), line


@pytest.mark.parametrize("path", [ROOT / "course.toml",
                                  ROOT / "tests" / "fixtures" / "stats_course" / "course.toml"])
def test_register_module_edits_the_courses_own_files(path: Path) -> None:
    """Does the editor add a module to this course's and the second course's course.toml
    (long arrays, comments, [calls], [commands]) with one line each, nothing else changed?"""
    text = path.read_text(encoding="utf-8")
    edited = register_module(text, "extra", {"f": 1.0})
    assert len(edited.splitlines()) == len(text.splitlines()) + 1
    before, after = tomllib.loads(text), tomllib.loads(edited)
    assert after["course"].pop("modules") == [*before["course"].pop("modules"), "extra"]
    assert after["functions"].pop("extra") == ["f"]
    assert after == before


def test_register_module_refuses_what_it_cannot_edit() -> None:
    """Does the editor refuse a modules list it cannot follow, and a module named already?"""
    with pytest.raises(CourseError, match="by hand"):
        register_module('course.modules = ["a"]\n', "new", {"g": 1.0})
    with pytest.raises(CourseError, match="already"):
        register_module('[course]\nmodules = ["a"]\n[functions]\nnew = ["g"]\n', "new",
                        {"g": 1.0})


def test_a_folder_that_cannot_be_made_exits_1(course: Path) -> None:
    """Does a course whose folder cannot be made (its parent is a file) exit 1, writing
    nothing?"""
    before = files_of(course)
    proc = run(["new", "course", "course.toml/inner"], cwd=course)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Error: nothing written" in proc.stderr
    assert files_of(course) == before
