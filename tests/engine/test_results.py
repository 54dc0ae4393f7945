"""Result files: built from outcomes, valid against the schema, written atomically."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from grader import __version__
from grader.authoring.misconceptions import Diagnosis
from grader.course.config import Course
from grader.engine import results
from grader.engine.runner import ERROR, FAILED, PASSED, Outcome
from grader.exports import gradebook as export
from grader.util import files

DIAGNOSIS = Diagnosis("missing_factor_2", "Missing factor 2", "dC/da = 2(a - y).")


@pytest.fixture
def outcomes(toy_course: Course) -> list[Outcome]:
    reference, shows_input = toy_course.collect(hidden=True)
    return [Outcome(reference, PASSED, "", None, 0.125),
            Outcome(shows_input, FAILED, "result differs at [0]", DIAGNOSIS, 0.5)]


@pytest.fixture
def result(toy_course: Course, outcomes: list[Outcome]) -> results.Result:
    return results.build(toy_course, "alice", outcomes, errors=["a note"], source="in/alice",
                         seconds=1.23456789)


def test_is_a_built_result_valid_against_the_schema(result: results.Result) -> None:
    results.validate(result)
    jsonschema.Draft202012Validator.check_schema(results.schema())


def test_does_a_built_result_carry_scores_tests_and_provenance(
    result: results.Result,
) -> None:
    assert result["schema_version"] == 1
    assert result["student"] == "alice"
    assert result["assignment"] == "toy-assignment"
    assert result["grader_version"] == __version__
    assert result["score"] == 2.0 and result["max_score"] == 2.0
    assert result["modules"] == {"toy": {"score": 2.0, "max_score": 2.0}}
    assert result["errors"] == ["a note"]
    assert result["source"] == "in/alice"
    assert result["seconds"] == 1.2346
    graded_at = dt.datetime.fromisoformat(result["graded_at"])
    assert graded_at.utcoffset() == dt.timedelta(0)
    passed, failed = result["tests"]
    assert passed == {"id": "toy::test_add_one_matches_reference",
                      "name": "add_one matches the reference on random inputs",
                      "module": "toy", "function": "add_one", "score": 2.0, "max_score": 2.0,
                      "status": "passed", "visibility": "visible", "feedback": "",
                      "diagnosis": None, "seconds": 0.125}
    assert failed["status"] == "failed" and failed["visibility"] == "hidden"
    assert failed["diagnosis"] == {"key": "missing_factor_2", "title": "Missing factor 2",
                                   "message": "dC/da = 2(a - y)."}
    assert failed["feedback"] == ("result differs at [0]\n"
                                  "Likely mistake: Missing factor 2. dC/da = 2(a - y).")


def test_does_a_submission_that_cannot_be_graded_still_get_a_valid_zero_result(
    toy_course: Course,
) -> None:
    specs = toy_course.collect(hidden=True)
    failed = results.failed_result(toy_course, "bob", specs, "bob.zip is not a zip",
                                   source="bob.zip")
    results.validate(failed)
    assert failed["score"] == 0.0 and failed["max_score"] == 2.0
    assert failed["errors"] == ["bob.zip is not a zip"]
    assert {t["status"] for t in failed["tests"]} == {ERROR}
    assert all(t["feedback"] == "bob.zip is not a zip" for t in failed["tests"])


def test_does_a_result_record_its_files_digest_and_attempts(toy_course: Course,
                                                            outcomes: list[Outcome]) -> None:
    """Are the files graded, their digest and the sandbox's attempts (deduplicated, at most
    20, each capped, as valid text) in the result, and is it valid?"""
    attempts = ["network: connect 10.0.0.1:80", "network: connect 10.0.0.1:80",
                "write outside the sandbox's folders: /etc/\ud800", "x" * 1000,
                *(f"process: fork {i}" for i in range(30))]
    built = results.build(toy_course, "mallory", outcomes, files={"toy.py": "toy.py"},
                          files_digest="ab" * 32, attempts=attempts)
    results.validate(built)
    assert built["files"] == ["toy.py"] and built["files_digest"] == "ab" * 32
    assert len(built["attempts"]) == results.MAX_ATTEMPTS
    assert built["attempts"][:2] == ["network: connect 10.0.0.1:80",
                                     "write outside the sandbox's folders: /etc/\\ud800"]
    assert built["attempts"][2] == "x" * results.MAX_ATTEMPT_CHARS
    assert "attempts" not in results.build(toy_course, "alice", outcomes)


def test_is_a_result_with_unencodable_text_still_written(toy_course: Course,
                                                         outcomes: list[Outcome],
                                                         out: Path) -> None:
    """A lone surrogate in a student's feedback or id: is the result written, valid, and
    read back with the text escaped?"""
    outcomes[1].feedback = "your code raised ValueError: \ud800"
    built = results.build(toy_course, "eve\udcff", outcomes)
    results.write(built, results.result_path(out, "eve\udcff"))
    (loaded,) = results.load_all(out)
    assert loaded["student"] == "eve\\udcff"
    assert "ValueError: \\ud800" in loaded["tests"][1]["feedback"]
    raw = {"feedback": "\udfff", "\ud800": ["\udbff"]}
    results.write_json(raw, out / "raw.json")
    assert json.loads((out / "raw.json").read_text()) == {"feedback": "\\udfff",
                                                         "\\ud800": ["\\udbff"]}


def mutated(result: results.Result, change: Any) -> results.Result:
    copied = copy.deepcopy(result)
    change(copied)
    return copied


@pytest.mark.parametrize("change", [
    lambda r: r.update(extra="field"),
    lambda r: r["tests"][0].update(extra="field"),
    lambda r: r["tests"][0].update(status="skipped"),
    lambda r: r["tests"][0].update(visibility="students"),
    lambda r: r["tests"][0].update(score=-1.0),
    lambda r: r["tests"][1]["diagnosis"].update(extra="field"),
    lambda r: r["modules"]["toy"].update(bonus=1.0),
    lambda r: r.update(schema_version=2),
    lambda r: r.update(student=""),
    lambda r: r.pop("errors"),
    lambda r: r.update(score="full marks"),
    lambda r: r.update(attempts=[{"network": "1.2.3.4"}]),
    lambda r: r.update(attempts=["x"] * 21),
    lambda r: r.update(files_digest="not a digest"),
], ids=["extra property", "extra test property", "bad status", "bad visibility",
        "negative score", "extra diagnosis property", "extra module property",
        "other schema version", "empty student", "missing errors", "score not a number",
        "attempt not a string", "too many attempts", "bad digest"])
def test_does_validate_reject_a_result_outside_the_schema(result: results.Result,
                                                          change: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        results.validate(mutated(result, change))


# -- writing and reading -------------------------------------------------------------------------
@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_does_write_leave_a_valid_file_and_no_temporary_files(result: results.Result,
                                                              out: Path) -> None:
    path = results.result_path(out, "alice")
    assert path == out / "alice.json"
    results.write(result, path)
    assert json.loads(path.read_text(encoding="utf-8")) == result
    assert [p.name for p in path.parent.iterdir()] == ["alice.json"]


def test_does_write_replace_an_existing_result_completely(result: results.Result,
                                                          out: Path) -> None:
    path = out / "alice.json"
    path.write_text("{" + " " * 100_000 + "garbage that is longer than the result")
    results.write(result, path)
    assert results.load(path) == result
    assert [p.name for p in out.iterdir()] == ["alice.json"]


def test_does_an_invalid_result_leave_the_old_file_untouched(result: results.Result,
                                                             out: Path) -> None:
    path = out / "alice.json"
    results.write(result, path)
    before = path.read_bytes()
    with pytest.raises(jsonschema.ValidationError):
        results.write(mutated(result, lambda r: r.update(score=-5)), path)
    assert path.read_bytes() == before


def test_does_a_failure_while_writing_leave_the_old_file_and_no_temporary_file(
    result: results.Result, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = out / "alice.json"
    results.write(result, path)
    before = path.read_bytes()

    def disk_full(fd: Any) -> None:  # the bytes are written, but cannot reach the disk
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        results.write(result, path)
    assert path.read_bytes() == before
    assert [p.name for p in out.iterdir()] == ["alice.json"]


def test_does_load_return_none_for_a_truncated_file(result: results.Result,
                                                    out: Path) -> None:
    path = out / "alice.json"
    results.write(result, path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    assert results.load(path) is None


@pytest.mark.parametrize("content", ["", "[]", '{"student": "alice"}', "\xff\xfe"])
def test_does_load_return_none_for_a_file_that_is_not_a_valid_result(out: Path,
                                                                      content: str) -> None:
    path = out / "alice.json"
    path.write_text(content, encoding="latin-1")
    assert results.load(path) is None


def test_does_load_return_none_for_a_missing_file(out: Path) -> None:
    assert results.load(out / "nobody.json") is None


def test_does_load_all_read_results_only(result: results.Result, out: Path) -> None:
    results.write(result, out / "alice.json")
    bob = copy.deepcopy(result)
    bob["student"] = "bob"
    results.write(bob, out / "bob.json")
    export.write_gradescope(result, out / "alice.gradescope.json")
    (out / "gradebook.json").write_text(json.dumps({"rows": []}))
    (out / "carol.json").write_text('{"schema_version": 1, "stu')
    (out / "gradebook.csv").write_text("student,total\n")
    assert [r["student"] for r in results.load_all(out)] == ["alice", "bob"]


def test_is_a_student_named_report_kept_by_load_all(result: results.Result,
                                                    out: Path) -> None:
    report = copy.deepcopy(result)
    report["student"] = "report"
    results.write(report, results.result_path(out, "report"))
    assert [r["student"] for r in results.load_all(out)] == ["report"]
