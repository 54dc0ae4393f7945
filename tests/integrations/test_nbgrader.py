"""End to end with real nbgrader: generate the source notebooks, `nbgrader generate_assignment`,
fill the released notebooks for several students, `nbgrader autograde`, check the sqlite
gradebook and `nbgrader generate_feedback`, then `grader grade --nbgrader-course` on the same
submissions must agree test cell by test cell.

The notebooks hold no path of the course: the course (a copy of this one, its nbgrader course
inside it) is moved after `grader nbgrader generate` and before nbgrader runs; a second course
(tests/fixtures/stats_course) beside its nbgrader course moves with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grader.course.config import load_course
from grader.engine import results
from grader.integrations.nbgrader import _segments

pytest.importorskip("nbgrader")
ROOT = Path(__file__).resolve().parents[2]
COURSE = load_course(ROOT)
ASSIGNMENT = "backprop"
STUDENTS: dict[str, list[tuple[str, str, str]] | None] = {
    "alice": [],  # the reference, typed into the released notebooks
    "ben": [("neuron", "delta = sigmoid_prime(z) * 2.0 * (a - y)",
             "delta = sigmoid_prime(z) * (a - y)")],  # the missing factor 2
    "dev": [("mlp", "return dZ @ W, dZ.T @ A_prev, dZ.sum(axis=0)",
             "return dZ @ W, A_prev.T @ dZ, dZ.sum(axis=0)")],  # a transposed dW
    "stan": None,  # the released stubs, untouched
}


#: what a course is made of (this repository holds more: the grader itself, its tests ...)
COURSE_FILES = ("course.toml", "exercises", "solutions", "checks", "autograde_tests", "notes",
                "commands")
STATS = ROOT / "tests" / "fixtures" / "stats_course"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in ``cwd`` without ``GRADER_COURSE`` (the course must be found without it)."""
    env = {k: v for k, v in os.environ.items() if k != "GRADER_COURSE"}
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def _copy_course(source: Path, names: tuple[str, ...], dest: Path) -> Path:
    """A copy of the course files ``names`` of ``source`` in the new folder ``dest``."""
    dest.mkdir(parents=True)
    for name in names:
        if (source / name).is_dir():
            shutil.copytree(source / name, dest / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        elif (source / name).is_file():
            shutil.copy2(source / name, dest / name)
    return dest


def _texts(folder: Path) -> dict[Path, str]:
    """Every notebook, feedback page and nbgrader config under ``folder``, by path."""
    return {p: p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*"))
            if p.suffix in (".ipynb", ".html") or p.name == "nbgrader_config.py"}


def _fill(nb_course: Path, student: str, mutations: list[tuple[str, str, str]] | None) -> None:
    """A student's submission: the released notebooks with the solution cells filled in."""
    target = nb_course / "submitted" / student / ASSIGNMENT
    target.mkdir(parents=True)
    applied = 0
    for released in sorted((nb_course / "release" / ASSIGNMENT).glob("*.ipynb")):
        module = released.stem
        notebook = json.loads(released.read_text(encoding="utf-8"))
        if mutations is not None:
            _, solved = _segments(ROOT / "solutions" / f"{module}.py", COURSE.functions(module))
            for cell in notebook["cells"]:
                meta = cell["metadata"].get("nbgrader", {})
                if meta.get("solution"):
                    source = solved[meta["grade_id"][len(module) + 1:]]
                    for where, old, new in mutations:
                        if where == module and old in source:
                            source = source.replace(old, new)
                            applied += 1
                    cell["source"] = source
        (target / released.name).write_text(json.dumps(notebook), encoding="utf-8")
    assert applied == len(mutations or [])


def _gradebook(nb_course: Path) -> dict[str, dict[str, float]]:
    """student -> test cell grade id -> score, read through nbgrader's API."""
    from nbgrader.api import Gradebook

    scores: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{nb_course / 'gradebook.db'}") as gb:
        for student in STUDENTS:
            submission = gb.find_submission(ASSIGNMENT, student)
            scores[student] = {g.name: float(g.score) for nb in submission.notebooks
                               for g in nb.grades}
    return scores


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A copy of this course with its nbgrader course inside (``nbgrader/``), moved elsewhere
    between `grader nbgrader generate` and nbgrader's commands."""
    base = tmp_path_factory.mktemp("nbgrader")
    first = _copy_course(ROOT, COURSE_FILES, base / "before" / "backprop-course")
    grader = [sys.executable, "-m", "grader"]
    _run([*grader, "nbgrader", "generate", "--nbgrader-course", "nbgrader"], cwd=first)
    moved = base / "after" / "moved-course"
    moved.parent.mkdir()
    first.rename(moved)
    nb_course = moved / "nbgrader"
    _run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT], cwd=nb_course)
    for student, mutations in STUDENTS.items():
        _fill(nb_course, student, mutations)
    _run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT], cwd=nb_course)
    _run([sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT], cwd=nb_course)
    autograded = _gradebook(nb_course)
    out = nb_course / "grader-results"
    _run([*grader, "grade", "--nbgrader-course", str(nb_course), "--out", str(out),
          "--course", str(moved)], cwd=ROOT)
    return {"root": nb_course, "autograde": autograded, "out": out,
            "after": _gradebook(nb_course), "generated_in": first, "moved_to": moved}


def test_generated_notebooks_are_valid_nbgrader_sources(course: dict[str, Any]) -> None:
    """Schema version 3 metadata, unique grade ids, test points equal to the hidden tests'."""
    from grader.api import listing

    points = listing(COURSE)
    for module in COURSE.modules:
        notebook = json.loads((course["root"] / "source" / ASSIGNMENT / f"{module}.ipynb")
                              .read_text())
        metas = [c["metadata"]["nbgrader"] for c in notebook["cells"]
                 if "nbgrader" in c["metadata"]]
        ids = [m["grade_id"] for m in metas]
        assert len(ids) == len(set(ids))
        assert all(m["schema_version"] == 3 for m in metas)
        tests = {m["grade_id"]: m["points"] for m in metas if m["grade"]}
        assert tests == {f"{module}-{f}-test": p for f, p in points[module].items()}
    assert (course["root"] / "nbgrader_config.py").is_file()


def test_released_notebooks_hold_no_solution_and_no_hidden_test(course: dict[str, Any]) -> None:
    """Does generate_assignment strip every reference body and hidden test?"""
    for path in (course["root"] / "release" / ASSIGNMENT).glob("*.ipynb"):
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
        assert "grader.integrations.notebook.grade(" not in text
        assert "raise NotImplementedError" in text


def test_autograde_gives_full_marks_and_loses_exactly_each_mistake(
    course: dict[str, Any],
) -> None:
    """Correct student 100, untouched stubs 0, each mistake loses its function's points only."""
    scores = course["autograde"]
    assert sum(scores["alice"].values()) == 100
    assert sum(scores["stan"].values()) == 0
    for student, cell in (("ben", "neuron-backward-test"), ("dev", "mlp-affine_backward-test")):
        lost = {k: scores["alice"][k] - v for k, v in scores[student].items()
                if v != scores["alice"][k]}
        assert list(lost) == [cell], (student, lost)


def test_feedback_shows_the_diagnosis(course: dict[str, Any]) -> None:
    """Does nbgrader's feedback for the mistake name it, as `grader grade` does?"""
    html = (course["root"] / "feedback" / "ben" / ASSIGNMENT / "neuron.html").read_text()
    assert "Missing factor 2" in html
    html = (course["root"] / "feedback" / "dev" / ASSIGNMENT / "mlp.html").read_text()
    assert "Transposed gradient" in html


def test_autograde_output_is_short_and_fits_the_feedback_page(course: dict[str, Any]) -> None:
    """What nbgrader shows of each graded test cell is the hidden tests' lines only (the
    public checks print nothing under autograde), each line at most 90 columns, at most 13
    lines per hidden test (its line and 12 of explanation); the untouched stubs' cells say
    so in one line per test."""
    from grader.integrations.notebook import MAX_LINES, WIDTH

    for student in ("ben", "stan"):
        for path in (course["root"] / "autograded" / student / ASSIGNMENT).glob("*.ipynb"):
            for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
                if not cell["metadata"].get("nbgrader", {}).get("grade"):
                    continue
                text = "".join("".join(o.get("text", "")) for o in cell["outputs"]
                               if o["output_type"] == "stream")
                lines = text.splitlines()
                heads = [line for line in lines if not line.startswith("    ")]
                assert heads and all(h.split()[0] in ("passed", "FAILED", "ERROR", "TIMEOUT")
                                     for h in heads), (path, text)
                assert max(len(line) for line in lines) <= WIDTH, (path, text)
                assert len(lines) <= len(heads) * (1 + MAX_LINES), (path, text)
                if student == "stan":
                    said = " ".join(text.split())
                    assert said.count(": not implemented yet") == len(heads), (path, text)


def test_grader_grade_agrees_with_nbgrader_test_by_test(course: dict[str, Any]) -> None:
    """Does the sandboxed `grader grade` give every function the score nbgrader gave its test
    cell, and write those scores into nbgrader's gradebook?"""
    graded = {r["student"]: r for r in results.load_all(course["out"])}
    assert set(graded) == set(STUDENTS)
    for student, result in graded.items():
        ours: dict[str, float] = {}
        for test in result["tests"]:
            key = f"{test['module']}-{test['function']}-test"
            ours[key] = ours.get(key, 0.0) + test["score"]
        assert ours == pytest.approx(course["autograde"][student]), student
    assert course["after"] == course["autograde"]


def test_nbgrader_export_shows_the_scores(course: dict[str, Any]) -> None:
    """Does `nbgrader export` list the students with their totals?"""
    _run([sys.executable, "-m", "nbgrader", "export"], cwd=course["root"])
    text = (course["root"] / "grades.csv").read_text()
    rows = {line.split(",")[3]: line for line in text.splitlines()[1:]}
    assert set(rows) >= set(STUDENTS)
    shutil.copy2(course["root"] / "grades.csv", course["out"] / "nbgrader-grades.csv")


def test_no_notebook_holds_the_course_s_path(course: dict[str, Any]) -> None:
    """Do the source, released, submitted and autograded notebooks, the feedback pages and
    the nbgrader config name neither the folder the course was generated in nor the one it
    moved to (an nbgrader course inside the grader course needs no path at all)?"""
    texts = _texts(course["root"])
    kinds = {p.relative_to(course["root"]).parts[0] for p in texts}
    assert kinds >= {"source", "release", "submitted", "autograded", "feedback"}, kinds
    for path, text in texts.items():
        assert str(course["generated_in"]) not in text, path
        assert str(course["moved_to"]) not in text, path
    assert "GRADER_COURSE" not in (course["root"] / "nbgrader_config.py").read_text()


def test_a_course_beside_its_nbgrader_course_moves_with_it(tmp_path: Path) -> None:
    """The second course, its nbgrader course beside it: generated, both moved together, then
    autograded: the config names the course relative to itself, full marks for the
    reference, only the mean's 4 points for a variance divided by n - 1."""
    first = _copy_course(STATS, ("course.toml", "exercises", "solutions", "checks",
                                 "autograde_tests", "tools"), tmp_path / "before" / "stats")
    _run([sys.executable, "-m", "grader", "nbgrader", "generate", "--nbgrader-course",
          "../nbgrader"], cwd=first)
    (tmp_path / "before").rename(tmp_path / "after")
    nb_course = tmp_path / "after" / "nbgrader"
    _run([sys.executable, "-m", "nbgrader", "generate_assignment", "stats"], cwd=nb_course)
    _, functions = _segments(STATS / "solutions" / "moments.py", ["mean", "variance"])
    wrong = {"variance": functions["variance"].replace("/ len(x))", "/ (len(x) - 1))")}
    assert wrong["variance"] != functions["variance"]
    for student, replaced in (("ada", {}), ("bob", wrong)):
        notebook = json.loads((nb_course / "release" / "stats" / "moments.ipynb").read_text())
        for cell in notebook["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if meta.get("solution"):
                name = meta["grade_id"].removeprefix("moments-")
                cell["source"] = "import numpy as np\n\n" + replaced.get(name, functions[name])
        target = nb_course / "submitted" / student / "stats"
        target.mkdir(parents=True)
        (target / "moments.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    _run([sys.executable, "-m", "nbgrader", "autograde", "stats"], cwd=nb_course)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{nb_course / 'gradebook.db'}") as gb:
        totals = {s: float(gb.find_submission("stats", s).score) for s in ("ada", "bob")}
    assert totals == {"ada": 10.0, "bob": 4.0}
    config = (nb_course / "nbgrader_config.py").read_text(encoding="utf-8")
    assert "'../stats'" in config and str(tmp_path) not in config
    for path, text in _texts(nb_course).items():
        assert str(tmp_path) not in text, path
