"""The hidden suite tests itself: the reference scores 100, the stubs 0, an independent correct
implementation 100, and every catalogued misconception, injected into the reference, loses
points only in its own module, in the test meant to catch it, and is named in the feedback;
the public checks see every such mistake too, and blame it on the right function."""

from __future__ import annotations

import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from grader import api
from grader.batch import pipeline as batch
from grader.course import mutants
from grader.course.config import load_course
from grader.engine import results

ROOT = Path(__file__).resolve().parents[2]
INDEPENDENT = ROOT / "tests" / "fixtures" / "independent"


def load_mutants() -> list[dict[str, Any]]:
    """Every mutant of the course's mutants/*.py (`grader.course.mutants`), as a dict of its
    fields, each with a unique student id and the `Mutant` itself."""
    return [{**vars(m), "student": f"mutant-{m.name}", "mutant": m}
            for m in mutants.load_mutants(ROOT)]


MUTANTS = load_mutants()


def make_mutant(folder: Path, mutant: dict[str, Any]) -> None:
    """Copy the reference into ``folder`` with one classic mistake injected (`Mutant.write`
    fails when the mutant's 'old' text is not in the solution)."""
    mutant["mutant"].write(ROOT / "solutions", folder)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, results.Result]:
    """Grade the whole synthetic class once (correct, stubs, independent, every mutant)."""
    class_dir = tmp_path_factory.mktemp("class")
    shutil.copytree(ROOT / "solutions", class_dir / "reference")
    shutil.copytree(ROOT / "exercises", class_dir / "stubs")
    if INDEPENDENT.is_dir():
        shutil.copytree(INDEPENDENT, class_dir / "independent",
                        ignore=shutil.ignore_patterns("__pycache__"))
    for mutant in MUTANTS:
        make_mutant(class_dir / mutant["student"], mutant)
    out = tmp_path_factory.mktemp("results")
    course = load_course(ROOT)
    report = batch.grade([class_dir], course=course, out=out, jobs=2)
    assert report.ok, report.failures
    return {r["student"]: r for r in results.load_all(out)}


def test_there_are_at_least_15_catalogued_mutants() -> None:
    """Does the catalogue hold at least 15 injected misconceptions?"""
    assert len(MUTANTS) >= 15
    assert len({m["key"] for m in MUTANTS}) >= 10


def test_reference_scores_full_marks(graded: dict[str, results.Result]) -> None:
    """Does the reference solution score 100 with every test passed?"""
    result = graded["reference"]
    failing = [(t["id"], t["feedback"][:200]) for t in result["tests"] if t["status"] != "passed"]
    assert failing == []
    assert result["score"] == result["max_score"] == 100


def test_stubs_score_zero_without_crashing(graded: dict[str, results.Result]) -> None:
    """Do the untouched stubs score 0, every test failed as 'not implemented', no crash?"""
    result = graded["stubs"]
    assert result["score"] == 0
    assert result["errors"] == []
    for test in result["tests"]:
        assert test["status"] == "failed", (test["id"], test["feedback"])
        assert test["diagnosis"]["key"] == "not_implemented", test["id"]


@pytest.mark.skipif(not INDEPENDENT.is_dir(), reason="no independent implementation")
def test_independent_correct_implementation_scores_full_marks(
    graded: dict[str, results.Result],
) -> None:
    """Does a correct implementation written without looking at solutions/ score 100?"""
    result = graded["independent"]
    failing = [(t["id"], t["feedback"][:300]) for t in result["tests"] if t["status"] != "passed"]
    assert failing == []
    assert result["score"] == 100


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m["student"] for m in MUTANTS])
def test_misconception_loses_points_in_its_own_test(
    graded: dict[str, results.Result], mutant: dict[str, Any],
) -> None:
    """Does the injected mistake fail the test meant to catch it, lose points only in its own
    module, and get named in that test's feedback?"""
    result = graded[mutant["student"]]
    assert result["score"] < 100
    for module, scores in result["modules"].items():
        if module != mutant["module"]:
            assert scores["score"] == scores["max_score"], f"points lost in {module}"
    by_name = {t["id"].split("::")[1]: t for t in result["tests"]
               if t["module"] == mutant["module"]}
    test = by_name[mutant["test"]]
    assert test["status"] != "passed"
    if mutant.get("title_in_feedback"):
        assert test["diagnosis"] is not None, test["feedback"]
        assert test["diagnosis"]["key"] == mutant["key"], test["feedback"]
        assert test["diagnosis"]["title"] in test["feedback"]


Checked = dict[str, tuple[str, str, str | None]]
"""What `grader check` says of one submission: function -> (status, the first failing check's
feedback, its diagnosis key)."""


def check_folder(folder: Path) -> Checked:
    """`grader check` of every module of ``folder`` (in a worker process: collecting checks
    imports modules, which is not thread-safe)."""
    report = api.check(path=folder, course=ROOT, echo=False)
    found: Checked = {}
    for f in report.functions:
        first = next((o for o in f.outcomes if o.status != "passed"), None)
        found[f"{f.module}.{f.function}"] = (
            f.status, first.feedback if first else "",
            first.diagnosis.key if first and first.diagnosis else None)
    return found


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Checked]:
    """`grader check` of every mutant and of the reference (two at a time)."""
    folder = tmp_path_factory.mktemp("checked")
    students = {"reference": folder / "reference"}
    shutil.copytree(ROOT / "solutions", students["reference"])
    for mutant in MUTANTS:
        students[mutant["student"]] = folder / mutant["student"]
        make_mutant(students[mutant["student"]], mutant)
    with ProcessPoolExecutor(2) as pool:
        return dict(zip(students, pool.map(check_folder, students.values()), strict=True))


def test_does_the_reference_pass_every_public_check(checked: dict[str, Checked]) -> None:
    assert {f: s for f, (s, _, _) in checked["reference"].items() if s != "passed"} == {}


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m["student"] for m in MUTANTS])
def test_does_a_misconception_fail_only_its_own_public_checks_or_name_itself(
    checked: dict[str, Checked], mutant: dict[str, Any],
) -> None:
    """A mutant that loses points in `grader grade` (every one does, see above) must fail a
    public check of its own function; any other function whose checks it breaks must say
    which function to fix first (the mutant's), not diagnose itself."""
    found = checked[mutant["student"]]
    own = f"{mutant['module']}.{mutant['function']}"
    status, feedback, diagnosis = found[own]
    assert status != "passed", f"{own} passes every public check"
    assert not feedback.startswith("this uses your"), feedback
    for function, (status, feedback, diagnosis) in found.items():
        if function == own or status == "passed":
            continue
        assert feedback.startswith("this uses your") and diagnosis is None, \
            (function, feedback[:300])
        assert f" {mutant['function']} first" in feedback, (function, feedback)
