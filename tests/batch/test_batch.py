"""Grading a class: every submission gets a valid result, written once, reproducibly."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from grader.batch import pipeline as batch
from grader.batch.executors import LocalExecutor, executor_for
from grader.course.config import Course
from grader.engine import results
from grader.exports import gradebook as export
from grader.sandbox.limits import Limits

SHOWS_INPUT = "toy::test_add_one_shows_its_input"


def feedback(result: results.Result, test_id: str) -> str:
    (test,) = [t for t in result["tests"] if t["id"] == test_id]
    return str(test["feedback"])


def normalised(result: results.Result) -> results.Result:
    """A result without what legitimately differs between two runs."""
    copied = copy.deepcopy(result)
    copied.pop("graded_at")
    copied.pop("seconds", None)
    for test in copied["tests"]:
        test.pop("seconds", None)
    return copied


@pytest.fixture
def klass(tmp_path: Path, toy_course: Course) -> Path:
    """A class: alice (correct folder), bob (the stub), carol (no toy.py), dave (correct zip
    with a top-level folder), erin (correct notebook)."""
    solution = (toy_course.solutions / "toy.py").read_text()
    stub = (toy_course.exercises / "toy.py").read_text()
    root = tmp_path / "class"
    for student, files in {"alice": {"toy.py": solution}, "bob": {"toy.py": stub},
                           "carol": {"other.py": "x = 1\n"}}.items():
        (root / student).mkdir(parents=True)
        for name, text in files.items():
            (root / student / name).write_text(text)
    with zipfile.ZipFile(root / "dave.zip", "w") as archive:
        archive.writestr("dave/toy.py", solution)
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": "# module: toy\n" + solution}
    (root / "erin.ipynb").write_text(json.dumps({"cells": [cell], "metadata": {},
                                                 "nbformat": 4, "nbformat_minor": 5}))
    return root


def grade(paths: list[Path], course: Course, out: Path, **options: Any) -> batch.BatchReport:
    options.setdefault("jobs", 1)
    return batch.grade(paths, course=course, out=out, log=io.StringIO(), **options)


def test_does_each_submission_get_the_score_it_earned(klass: Path, toy_course: Course,
                                                     tmp_path: Path) -> None:
    report = grade([klass], toy_course, tmp_path / "out")
    assert report.ok
    assert [(g.student, g.score, g.max_score) for g in report.graded] == [
        ("alice", 2.0, 2.0), ("bob", 0.0, 2.0), ("carol", 0.0, 2.0), ("dave", 2.0, 2.0),
        ("erin", 2.0, 2.0)]
    assert not any(g.skipped for g in report.graded)
    assert "graded: 5 submissions: 5 new, 0 regraded (files changed), 0 kept (files " \
        "unchanged)" in report.render(toy_course.modules)


def test_does_each_student_get_a_valid_result_file_that_says_what_went_wrong(
    klass: Path, toy_course: Course, tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    grade([klass], toy_course, out)
    loaded = {r["student"]: r for r in results.load_all(out)}
    assert sorted(loaded) == ["alice", "bob", "carol", "dave", "erin"]
    assert loaded["alice"]["source"] == str(klass / "alice")
    assert loaded["alice"]["errors"] == []
    bob = loaded["bob"]["tests"][0]
    assert (bob["status"], bob["diagnosis"]["key"]) == ("failed", "not_implemented")
    assert loaded["carol"]["errors"] == ["no module files found in carol/",
                                         "missing file: toy.py is not in the submission"]
    assert {t["status"] for t in loaded["carol"]["tests"]} == {"error"}
    assert "missing file" in loaded["carol"]["tests"][0]["feedback"]


def test_is_the_gradebook_one_row_per_student(klass: Path, toy_course: Course,
                                              tmp_path: Path) -> None:
    out = tmp_path / "out"
    grade([klass], toy_course, out)
    assert (out / "gradebook.csv").read_text(encoding="utf-8") == (
        "student,total,max_score,toy,errors\n"
        "alice,2,2,2,\n"
        "bob,0,2,0,\n"
        "carol,0,2,0,no module files found in carol/; "
        "missing file: toy.py is not in the submission\n"
        "dave,2,2,2,\n"
        "erin,2,2,2,\n"
    )


def test_are_gradescope_files_written_only_when_asked(klass: Path, toy_course: Course,
                                                      tmp_path: Path) -> None:
    plain, with_gradescope = tmp_path / "plain", tmp_path / "gradescope"
    grade([klass], toy_course, plain)
    assert not list(plain.glob("*.gradescope.json"))
    grade([klass], toy_course, with_gradescope, gradescope=True)
    assert sorted(p.name for p in with_gradescope.glob("*.gradescope.json")) == [
        f"{s}.gradescope.json" for s in ("alice", "bob", "carol", "dave", "erin")]
    alice = json.loads((with_gradescope / "alice.gradescope.json").read_text())
    assert alice == export.gradescope(results.load(with_gradescope / "alice.json"))


# -- reruns --------------------------------------------------------------------------------------
def test_does_a_rerun_keep_existing_valid_results_untouched(klass: Path, toy_course: Course,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "out"
    grade([klass], toy_course, out)
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.json")}
    report = grade([klass], toy_course, out)
    assert all(g.skipped for g in report.graded)
    assert [g.score for g in report.graded] == [2.0, 0.0, 0.0, 2.0, 2.0]
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.json")}
    assert after == before


def test_does_force_regrade_everyone(klass: Path, toy_course: Course, tmp_path: Path) -> None:
    out = tmp_path / "out"
    grade([klass], toy_course, out)
    before = {p.name: p.stat().st_ino for p in out.glob("*.json")}
    report = grade([klass], toy_course, out, force=True)
    assert not any(g.skipped for g in report.graded)
    after = {p.name: p.stat().st_ino for p in out.glob("*.json")}
    assert set(after) == set(before)
    assert all(after[name] != before[name] for name in before)


def test_is_a_corrupted_result_regraded_on_rerun(klass: Path, toy_course: Course,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    grade([klass], toy_course, out)
    text = (out / "alice.json").read_text()
    (out / "alice.json").write_text(text[: len(text) // 3])
    report = grade([klass], toy_course, out)
    assert [g.student for g in report.graded if not g.skipped] == ["alice"]
    reloaded = results.load(out / "alice.json")
    assert reloaded is not None and reloaded["score"] == 2.0


# -- duplicates, workers, seeds ------------------------------------------------------------------
def test_are_two_submissions_with_one_student_id_both_reported(
    klass: Path, toy_course: Course, tmp_path: Path,
) -> None:
    with zipfile.ZipFile(klass / "alice.zip", "w") as archive:
        archive.writestr("toy.py", (toy_course.solutions / "toy.py").read_text())
    log = io.StringIO()
    out = tmp_path / "out"
    report = batch.grade([klass], course=toy_course, out=out, jobs=1, log=log)
    assert [g.student for g in report.graded] == ["alice", "bob", "carol", "dave", "erin"]
    alice = results.load(out / "alice.json")
    assert alice is not None and alice["score"] == 0.0
    (error,) = alice["errors"]
    assert "2 submissions share the student id 'alice'" in error
    assert str(klass / "alice") in error and str(klass / "alice.zip") in error
    assert "alice: duplicate student id" in log.getvalue()


def test_do_two_workers_give_the_same_results_as_one(klass: Path, toy_course: Course,
                                                     tmp_path: Path) -> None:
    grade([klass], toy_course, tmp_path / "one", jobs=1)
    report = grade([klass], toy_course, tmp_path / "two", jobs=2)
    assert report.ok
    one = [normalised(r) for r in results.load_all(tmp_path / "one")]
    two = [normalised(r) for r in results.load_all(tmp_path / "two")]
    assert len(one) == 5
    assert one == two
    assert (tmp_path / "one" / "gradebook.csv").read_text() == (
        tmp_path / "two" / "gradebook.csv").read_text()


def test_does_an_executor_made_once_grade_as_its_name_does(klass: Path, toy_course: Course,
                                                         tmp_path: Path) -> None:
    """Given an executor already made by `executor_for` (by a caller that reports usage
    errors first), does `grade` use it, with the results of naming it?"""
    made = executor_for("local", jobs=1)
    assert made == LocalExecutor(1)
    grade([klass], toy_course, tmp_path / "named")
    report = batch.grade([klass], course=toy_course, out=tmp_path / "made",
                         log=io.StringIO(), executor=made)
    assert report.ok
    assert ([normalised(r) for r in results.load_all(tmp_path / "made")]
            == [normalised(r) for r in results.load_all(tmp_path / "named")])


def test_do_seeds_differ_between_students_and_repeat_across_reruns(
    klass: Path, toy_course: Course, tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    grade([klass], toy_course, out)
    first = {r["student"]: feedback(r, SHOWS_INPUT) for r in results.load_all(out)}
    grade([klass], toy_course, out, force=True)
    again = {r["student"]: feedback(r, SHOWS_INPUT) for r in results.load_all(out)}
    assert again == first
    correct = [first[s] for s in ("alice", "dave", "erin")]
    assert all(text.startswith("input was ") for text in correct)
    assert len(set(correct)) == 3


def test_does_another_secret_give_other_inputs(klass: Path, toy_course: Course,
                                               tmp_path: Path) -> None:
    grade([klass / "alice"], toy_course, tmp_path / "a")
    grade([klass / "alice"], toy_course, tmp_path / "b", secret="another-secret")
    a, b = (results.load(tmp_path / d / "alice.json") for d in ("a", "b"))
    assert a is not None and b is not None
    assert feedback(a, SHOWS_INPUT) != feedback(b, SHOWS_INPUT)


# -- hostile and broken submissions --------------------------------------------------------------
def test_does_a_submission_that_loops_forever_still_get_a_valid_result(
    toy_course: Course, tmp_path: Path,
) -> None:
    course = dataclasses.replace(toy_course, limits=Limits(call_timeout=0.5,
                                                           submission_timeout=5.0))
    folder = tmp_path / "mallory"
    folder.mkdir()
    (folder / "toy.py").write_text("def add_one(x):\n    while True:\n        pass\n")
    report = grade([folder], course, tmp_path / "out")
    assert report.ok
    result = results.load(tmp_path / "out" / "mallory.json")
    assert result is not None and result["score"] == 0.0
    assert [t["status"] for t in result["tests"]] == ["timeout", "timeout"]


def test_does_an_unreadable_submission_still_get_a_valid_result(toy_course: Course,
                                                                  tmp_path: Path) -> None:
    broken = tmp_path / "oscar.ipynb"
    broken.write_text("{ not json")
    report = grade([broken], toy_course, tmp_path / "out")
    assert report.ok
    result = results.load(tmp_path / "out" / "oscar.json")
    assert result is not None and result["score"] == 0.0
    assert "not valid notebook JSON" in result["errors"][0]


def test_does_a_zip_with_a_corrupt_member_still_get_a_valid_result(toy_course: Course,
                                                                    tmp_path: Path) -> None:
    path = tmp_path / "trent.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("toy.py", (toy_course.solutions / "toy.py").read_text())
    path.write_bytes(path.read_bytes().replace(b"+ 1.0", b"+ 2.0"))
    report = grade([path], toy_course, tmp_path / "out")
    assert results.load(tmp_path / "out" / "trent.json") is not None
    assert report.ok
