"""The student bundle as a student meets it: `grader release` writes a folder that ``pip
install`` installs into a fresh virtual environment (not this one's packages), where `grader
check`, `grader submit` and the course's own commands run; the zip `grader submit` writes is
graded as the folder it came from. Also `grader check --path` / `submit --path` on one
notebook, `grader submit` on untouched stubs, and bad input (exit code 2, one message)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.course.bundle_project import STUDENT_RUNTIME, requirement_name
from grader.course.config import load_course
from grader.engine import results

ROOT = Path(__file__).resolve().parents[2]
COURSE = load_course(ROOT)
FILLED = COURSE.modules[0]  # the module a student fills in from the course's solution
#: instructor-only libraries that must never be installed on a student's machine
INSTRUCTOR_ONLY = ("jsonschema", "nbgrader", "dask", "distributed", "copydetect", "nbformat")


def grader(*args: str, cwd: Path, exe: tuple[str, ...] = (sys.executable, "-m", "grader")
           ) -> subprocess.CompletedProcess[str]:
    """Run a grader command (this interpreter's, or ``exe``) in ``cwd``."""
    return subprocess.run([*exe, *args], cwd=cwd, text=True, capture_output=True, timeout=900)


def notebook(path: Path, modules: dict[str, str]) -> Path:
    """Write a notebook whose cells write each module (``%%writefile <name>.py``)."""
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": f"%%writefile {name}.py\n{source}"} for name, source in modules.items()]
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}), encoding="utf-8")
    return path


def release(out: Path) -> Path:
    proc = grader("release", "--out", str(out), "--course", str(ROOT), cwd=out.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def graded(*entries: Path, out: Path) -> dict[str, results.Result]:
    """Grade ``entries`` with this repository's `grader grade` (the course with solutions)."""
    proc = grader("grade", *map(str, entries), "--out", str(out), "--course", str(ROOT),
                  "--jobs", "2", cwd=out.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {r["student"]: r for r in results.load_all(out)}


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One release of this repository's course, never modified (copy it to change it)."""
    return release(tmp_path_factory.mktemp("release") / "student")


@pytest.fixture
def bundle(released: Path, tmp_path: Path) -> Path:
    """A fresh copy of the release, for one test to change."""
    return Path(shutil.copytree(released, tmp_path / "student"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A release installed with ``pip install ./student`` into a fresh venv (no system site
    packages), with one module filled in from the course's solution: (bundle, venv's bin)."""
    root = tmp_path_factory.mktemp("installed")
    bundle = release(root / "student")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                          "--no-compile", "./student"], cwd=root, text=True,
                         capture_output=True, timeout=1500)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    shutil.copy2(ROOT / "solutions" / f"{FILLED}.py", bundle / "exercises" / f"{FILLED}.py")
    yield bundle, venv / "bin"


@pytest.mark.slow
def test_the_bundle_installs_what_students_need_and_nothing_of_the_instructors(
        installed: tuple[Path, Path]) -> None:
    """Does the bundle's pyproject name the course and install exactly the grader's student
    requirements and the course's dependencies, with a `grader` command that knows the
    course's own commands?"""
    bundle, bin_ = installed
    project = tomllib.loads((bundle / "pyproject.toml").read_text())["project"]
    assert project["name"] == "backpropagation-with-numpy"  # from [course] name
    wanted = [*STUDENT_RUNTIME, *(requirement_name(d) for d in COURSE.dependencies)]
    assert [requirement_name(d) for d in project["dependencies"]] == wanted
    listed = subprocess.run([str(bin_ / "python"), "-m", "pip", "list", "--format", "json"],
                            text=True, capture_output=True, check=True).stdout
    present = {requirement_name(p["name"]) for p in json.loads(listed)}
    assert project["name"] in present and set(wanted) <= present
    assert not present & set(INSTRUCTOR_ONLY), present & set(INSTRUCTOR_ONLY)
    helped = grader("--help", cwd=bundle, exe=(str(bin_ / "grader"),))
    assert helped.returncode == 0, helped.stderr
    for name in ("check", "submit", "list", *COURSE.commands):
        assert f"  {name} " in helped.stdout, name
    drawn = grader("graph", "neuron", "--out", "neuron.svg", cwd=bundle,
                   exe=(str(bin_ / "grader"),))  # a course command, on matplotlib
    assert drawn.returncode == 0, drawn.stdout + drawn.stderr
    assert (bundle / "neuron.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


@pytest.mark.slow
def test_check_and_submit_in_the_fresh_venv_give_the_folders_score(
        installed: tuple[Path, Path], tmp_path: Path) -> None:
    """In the fresh venv, does `grader check` pass the filled-in module, does `grader submit`
    write the zip of exactly the graded files, and does grading that zip give the score that
    grading the bundle folder gives?"""
    bundle, bin_ = installed
    run = (str(bin_ / "grader"),)
    checked = grader("check", FILLED, cwd=bundle, exe=run)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    upload = tmp_path / "hand-in.zip"
    submitted = grader("submit", "--out", str(upload), cwd=bundle, exe=run)
    assert submitted.returncode == 1, submitted.stdout + submitted.stderr  # the rest: stubs
    assert f"wrote {upload} all the same" in submitted.stdout
    with zipfile.ZipFile(upload) as archive:
        assert sorted(archive.namelist()) == sorted(f"{m}.py" for m in COURSE.modules)
        assert archive.read(f"{FILLED}.py") == (bundle / "exercises" / f"{FILLED}.py").read_bytes()
    scores = graded(upload, bundle, out=tmp_path / "out")
    assert scores["hand-in"]["score"] == scores["student"]["score"] > 0
    assert scores["hand-in"]["files_digest"] == scores["student"]["files_digest"]
    module = scores["hand-in"]["modules"][FILLED]
    assert module["score"] == module["max_score"] == scores["hand-in"]["score"]


def test_the_bundle_ships_notes_and_tells_students_what_to_hand_in(released: Path) -> None:
    """Does the bundle hold the course's notes, and does its README say how to install,
    check, run the course's commands and hand in?"""
    notes = sorted(p.name for p in (ROOT / "notes").iterdir())
    assert notes and sorted(p.name for p in (released / "notes").iterdir()) == notes
    readme = " ".join((released / "README.md").read_text().split())
    for needed in ("pip install -e .", f"pip install ./{released.name}", "grader check",
                   "grader submit", "--path work.ipynb", "Partial work",
                   *(f"grader {name}" for name in COURSE.commands)):
        assert needed in readme, needed


@pytest.mark.slow
def test_check_and_submit_take_one_notebook(bundle: Path, tmp_path: Path) -> None:
    """Does `--path work.ipynb` check a notebook's modules, and does `submit --path` zip just
    what the notebook gives, naming the modules it lacks?"""
    source = (ROOT / "solutions" / f"{FILLED}.py").read_text()
    work = notebook(tmp_path / "work.ipynb", {FILLED: source})
    checked = grader("check", "--path", str(work), cwd=bundle)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"will be graded: ../{work.name} ({FILLED}.py)" in checked.stdout
    upload = tmp_path / "nb.zip"
    submitted = grader("submit", "--path", str(work), "--out", str(upload), cwd=bundle)
    assert submitted.returncode == 1, submitted.stdout + submitted.stderr
    others = [f"{m}.py" for m in COURSE.modules if m != FILLED]
    assert f"not in the zip (each earns nothing): {', '.join(others)}" in submitted.stdout
    with zipfile.ZipFile(upload) as archive:
        assert archive.namelist() == [f"{FILLED}.py"]
        assert archive.read(f"{FILLED}.py").decode() == source


def test_submit_without_any_code_still_writes_the_zip(bundle: Path) -> None:
    """Does `grader submit` on untouched stubs still write the zip (to the default name),
    say that nothing is written yet, and exit 1?"""
    proc = grader("submit", cwd=bundle)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    total = sum(len(COURSE.functions(m)) for m in COURSE.modules)
    assert f"0 of {total} functions pass their public checks ({total} not implemented yet)" \
        in proc.stdout
    upload = bundle / f"{COURSE.assignment}-submission.zip"
    assert f"wrote {upload.name} all the same" in proc.stdout
    assert oct(upload.stat().st_mode & 0o777) == "0o644"
    with zipfile.ZipFile(upload) as archive:
        assert sorted(archive.namelist()) == sorted(f"{m}.py" for m in COURSE.modules)


@pytest.mark.parametrize(("args", "message"), [
    (("check", "--path", "missing"), "no such folder or .ipynb file"),
    (("submit", "--path", "missing.ipynb"), "no such folder or .ipynb file"),
    (("check", "--path", "broken.ipynb"), "broken.ipynb is not valid notebook JSON"),
    (("submit", "--path", "broken.ipynb"), "broken.ipynb is not valid notebook JSON"),
    (("check", "--path", "README.md"), "is not a folder or .ipynb file"),
    (("submit", "--path", "notes"), "no exercise modules in"),
    (("submit", "--out", "hand-in.txt"), "does not end in .zip"),
    (("submit", "--out", "notes"), "is a directory"),
])
def test_bad_input_is_a_usage_error(bundle: Path, args: tuple[str, ...], message: str) -> None:
    """Does bad input end in exit code 2 with one message saying what is wrong, no traceback
    and no zip?"""
    (bundle / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    proc = grader(*args, cwd=bundle)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not list(bundle.glob("*.zip"))


def test_submit_that_cannot_write_the_zip_exits_1(bundle: Path) -> None:
    """Does a zip that cannot be written (no such folder) end in exit 1 and a message?"""
    proc = grader("submit", "--out", "no/such/hand-in.zip", cwd=bundle)
    assert proc.returncode == 1 and "cannot write" in proc.stderr, proc.stdout + proc.stderr
    assert not (bundle / "no").exists()


def test_a_course_name_of_any_text_gives_a_valid_distribution(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Is a course named with accents, quotes and punctuation released with a valid
    distribution name, its name intact as the description, and only the student runtime as
    dependencies when the course declares none?"""
    from conftest import make_toy_course

    from grader.course.release import release as build

    monkeypatch.delenv("GRADER_SECRET", raising=False)
    root = tmp_path / "course"
    make_toy_course(root)
    title = 'Rétro-propagation: "week 1"!'
    config = root / "course.toml"
    config.write_text(config.read_text().replace('name = "Toy"', f"name = {json.dumps(title)}"))
    build(load_course(root), tmp_path / "out")
    project = tomllib.loads((tmp_path / "out" / "pyproject.toml").read_text())["project"]
    assert project["name"] == "retro-propagation-week-1" and project["description"] == title
    assert [requirement_name(d) for d in project["dependencies"]] == list(STUDENT_RUNTIME)
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert set(project["dependencies"]) <= set(ours)  # the grader's own version bounds
    readme = " ".join((tmp_path / "out" / "README.md").read_text().split())
    assert "no public checks" in readme and "found Toy.py: rename it to toy.py" in readme
