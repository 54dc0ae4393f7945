"""Exports: the gradebook CSV and Gradescope's results.json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from grader.authoring import Diagnosis, Marker
from grader.course.config import Course
from grader.course.config import TestSpec as Spec
from grader.engine import results
from grader.engine.runner import ERROR, FAILED, PASSED, TIMEOUT, Outcome
from grader.exports import gradebook as export


def spec(module: str, function: str, name: str, points: float,
         visibility: str = "visible") -> Spec:
    return Spec(lambda ctx: None, module, name, f"{module}::test_{function}",
                    Marker(function, points, visibility, None, False))


@pytest.fixture
def course(toy_course: Course) -> Course:
    return dataclasses.replace(toy_course, modules=("toy", "extra"))


@pytest.fixture
def alice(course: Course) -> results.Result:
    return results.build(course, "alice", [
        Outcome(spec("toy", "add_one", "add_one is right", 2.0), PASSED, "", None, 0.1),
        Outcome(spec("toy", "add_two", "add_two is right", 0.5, "hidden"), FAILED,
                "add_two(x)[0] is 1.0, expected 2.0",
                Diagnosis("missing_factor_2", "Missing factor 2", "Multiply by 2."), 0.1),
        Outcome(spec("extra", "scale", "scale is right", 1.5, "after_due_date"), PASSED, "",
                None, 0.1),
    ])


@pytest.fixture
def bob(course: Course) -> results.Result:
    return results.build(course, "bob", [
        Outcome(spec("toy", "add_one", "add_one is right", 2.0), TIMEOUT,
                "toy.add_one did not return within 1 s and was stopped", None, 1.0),
        Outcome(spec("toy", "add_two", "add_two is right", 0.5, "hidden"), ERROR,
                "your code raised ZeroDivisionError: division by zero", None, 0.1),
        Outcome(spec("extra", "scale", "scale is right", 1.5, "after_due_date"), FAILED,
                "not implemented yet (raises NotImplementedError)", None, 0.1),
    ], errors=["missing file: extra.py is not in the submission", "bob.zip, a note"])


def test_is_the_gradebook_one_row_per_student_with_a_column_per_module(
    alice: results.Result, bob: results.Result,
) -> None:
    text = export.gradebook_csv([bob, alice], ["toy", "extra"])
    assert text == (
        "student,total,max_score,toy,extra,errors\n"
        "alice,3.5,4,2,1.5,\n"
        'bob,0,4,0,0,"missing file: extra.py is not in the submission; bob.zip, a note"\n'
    )


def test_does_a_module_missing_from_a_result_read_as_zero(alice: results.Result) -> None:
    text = export.gradebook_csv([alice], ["toy", "extra", "later"])
    assert text.splitlines()[1] == "alice,3.5,4,2,1.5,0,"


def test_does_write_gradebook_write_the_csv_and_leave_no_temporary_file(
    alice: results.Result, bob: results.Result, tmp_path: Path,
) -> None:
    path = tmp_path / "gradebook.csv"
    path.write_text("old content\n")
    export.write_gradebook([alice, bob], ["toy", "extra"], path)
    assert path.read_text(encoding="utf-8") == export.gradebook_csv([alice, bob],
                                                                    ["toy", "extra"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course", "gradebook.csv"]


def test_does_gradescope_output_have_the_documented_fields(alice: results.Result) -> None:
    out = export.gradescope(alice)
    assert set(out) == {"score", "output", "visibility", "tests"}
    assert out["score"] == 3.5
    assert out["output"] == "Score: 3.5 / 4"
    assert out["visibility"] == "visible"
    for test in out["tests"]:
        assert set(test) == {"name", "number", "score", "max_score", "status", "output",
                             "visibility"}


def test_are_gradescope_tests_numbered_module_dot_test(alice: results.Result) -> None:
    tests = export.gradescope(alice)["tests"]
    assert [t["number"] for t in tests] == ["1.1", "1.2", "2.1"]
    assert [t["name"] for t in tests] == ["toy.add_one: add_one is right",
                                          "toy.add_two: add_two is right",
                                          "extra.scale: scale is right"]
    assert [t["visibility"] for t in tests] == ["visible", "hidden", "after_due_date"]
    assert [(t["score"], t["max_score"]) for t in tests] == [(2.0, 2.0), (0.0, 0.5),
                                                             (1.5, 1.5)]


def test_are_gradescope_statuses_only_passed_or_failed(alice: results.Result,
                                                       bob: results.Result) -> None:
    assert [t["status"] for t in export.gradescope(alice)["tests"]] == ["passed", "failed",
                                                                        "passed"]
    assert [t["status"] for t in export.gradescope(bob)["tests"]] == ["failed"] * 3


def test_does_a_failed_gradescope_test_carry_the_feedback_and_a_passed_one_none(
    alice: results.Result,
) -> None:
    passed, failed, _ = export.gradescope(alice)["tests"]
    assert passed["output"] == ""
    assert failed["output"] == ("add_two(x)[0] is 1.0, expected 2.0\n"
                                "Likely mistake: Missing factor 2. Multiply by 2.")


def test_does_the_gradescope_summary_list_the_submissions_problems(bob: results.Result) -> None:
    assert export.gradescope(bob)["output"] == (
        "Score: 0 / 4\nProblems with the submission:\n"
        "- missing file: extra.py is not in the submission\n- bob.zip, a note")


def test_does_write_gradescope_write_json(alice: results.Result, tmp_path: Path) -> None:
    path = tmp_path / "results" / "alice.gradescope.json"
    export.write_gradescope(alice, path)
    assert json.loads(path.read_text(encoding="utf-8")) == export.gradescope(alice)
