"""``grader export canvas|moodle``: gradebooks in the CSV shape each LMS imports.

The formats, as documented by each LMS:

- Canvas, Instructor Guide, "How do I import grades in the Gradebook?"
  (community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/
  ta-p/807) and the file "Export Entire Gradebook" writes: the header starts
  ``Student,ID,SIS User ID,SIS Login ID,Section``; each assignment is a column titled
  ``Name (assignment id)`` (a title without an existing assignment creates one); the second
  row, ``Points Possible``, gives each column's points; Canvas finds each student by ``ID``,
  ``SIS User ID`` or ``SIS Login ID``.
- Moodle, "Import grades" (docs.moodle.org/en/Import_grades) and gradeimport_csv
  (grade/import/csv/classes/load_data.php): a CSV with a header row; the user is identified
  by one column, mapped in the form from the column to user id, username, ID number or email
  address; every other column may be mapped to a grade item (or a new one).

The rosters below are written as those LMSs export them (Canvas's with a byte-order mark, its
Points Possible row and an existing assignment column).
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.engine import results
from grader.exports import lms

ROOT = Path(__file__).resolve().parents[2]

CANVAS_ROSTER = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,backprop (4242),Current Score\r\n"
    "    Points Possible,,,,,40.00,(read only)\r\n"
    '"Lovelace, Ada",101,S-1,ALICE ,Lab A,,\r\n'
    '"Babbage, Charles",102,S-2,bob,Lab B,12.00,\r\n'
    '"Hopper, Grace",103,S-3,carol,Lab A,,\r\n'
)
MOODLE_ROSTER = (
    "First name,Last name,ID number,Institution,Department,Email address,"
    "Assignment: backprop (Real),Last downloaded from this course\n"
    "Ada,Lovelace,alice,Uni,CS,ada@example.org,-,1700000000\n"
    "Charles,Babbage,bob,Uni,CS,charles@example.org,-,1700000000\n"
)


def result(student: str, score: float, neuron: float) -> dict[str, object]:
    """A valid result: ``neuron`` points of ``score`` in the module neuron, of 40."""
    made: dict[str, object] = {
        "schema_version": 1, "student": student, "assignment": "backprop",
        "grader_version": "0", "graded_at": "2026-12-01T12:00:00+00:00", "score": score,
        "max_score": 40.0, "modules": {"activations": {"score": score - neuron,
                                                       "max_score": 25.0},
                                       "neuron": {"score": neuron, "max_score": 15.0}},
        "tests": [], "errors": []}
    results.validate(made)
    return made


@pytest.fixture
def graded(tmp_path: Path) -> Path:
    """A results folder: alice and bob, and zed, whom no roster lists."""
    out = tmp_path / "out"
    for student, score, neuron in (("alice", 37.5, 15.0), ("bob", 20.25, 0.0),
                                   ("zed", 11.0, 1.0)):
        results.write_json(result(student, score, neuron), results.result_path(out, student))
    return out


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def export(*args: str) -> Run:
    """``grader export ARGS``, in this process (the first test runs it as a subprocess)."""
    ran = CliRunner().invoke(main, ["export", *args])
    if ran.exception is not None and not isinstance(ran.exception, SystemExit):
        raise ran.exception
    return Run(ran.exit_code, ran.stdout, ran.stderr)


def test_canvas_import_file(graded: Path, tmp_path: Path) -> None:
    roster = tmp_path / "canvas.csv"
    roster.write_bytes(CANVAS_ROSTER.encode("utf-8"))
    out = tmp_path / "import.csv"
    run = subprocess.run([sys.executable, "-m", "grader", "export", "canvas", str(graded),
                          "--roster", str(roster), "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 1, run.stderr  # zed's grade has no row: not silent
    assert "1 roster students have no result (written blank): carol" in run.stderr
    assert "1 results are not in the roster by 'SIS Login ID'" in run.stderr
    assert "zed" in run.stderr and "Traceback" not in run.stderr
    assert "2 grades for 3 roster students" in run.stdout
    text = out.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    # the documented header: the five user columns, then the existing assignment's column
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "backprop (4242)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "40"]
    assert rows[2:] == [
        ["Lovelace, Ada", "101", "S-1", "ALICE ", "Lab A", "37.5"],  # matched ignoring case
        ["Babbage, Charles", "102", "S-2", "bob", "Lab B", "20.25"],
        ["Hopper, Grace", "103", "S-3", "carol", "Lab A", ""],  # no result: blank, kept
    ]
    assert (out.stat().st_mode & 0o777) == 0o644
    # read back as Canvas reads it: one record per student, keyed by the header
    records = list(csv.DictReader(io.StringIO(text, newline="")))
    students = [r for r in records if r["Student"].strip() != "Points Possible"]
    assert {r["ID"]: r["backprop (4242)"] for r in students} == {
        "101": "37.5", "102": "20.25", "103": ""}


def test_canvas_new_assignment_with_module_columns(graded: Path, tmp_path: Path) -> None:
    roster = tmp_path / "canvas.csv"
    roster.write_text(CANVAS_ROSTER.replace("backprop (4242)", "other (7)"), encoding="utf-8")
    out = tmp_path / "import.csv"
    run = export("canvas", str(graded), "--roster", str(roster), "--out", str(out),
                 "--modules", "--missing-score", "0", "--id-column", "sis login id")
    assert run.returncode == 1
    assert "(written 0)" in run.stderr
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert rows[0][5:] == ["backprop", "backprop: activations", "backprop: neuron"]
    assert rows[1][5:] == ["40", "25", "15"]
    assert rows[2][5:] == ["37.5", "22.5", "15"]
    assert rows[4][5:] == ["0", "0", "0"]


def test_moodle_import_file(graded: Path, tmp_path: Path) -> None:
    roster = tmp_path / "moodle.csv"
    roster.write_text(MOODLE_ROSTER, encoding="utf-8")
    (graded / "zed.json").unlink()
    out = tmp_path / "import.csv"
    run = export("moodle", str(graded), "--roster", str(roster), "--out", str(out),
                 "--id-column", "ID number", "--column", "Backprop")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    records = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    # one identifying column (mapped in Moodle's form), names to read, one grade item
    assert list(records[0]) == ["ID number", "First name", "Last name", "Backprop"]
    assert [(r["ID number"], r["Backprop"]) for r in records] == [("alice", "37.5"),
                                                                   ("bob", "20.25")]


def test_default_moodle_column_is_the_email(graded: Path, tmp_path: Path) -> None:
    roster = tmp_path / "moodle.csv"
    roster.write_text(MOODLE_ROSTER, encoding="utf-8")
    out = tmp_path / "import.csv"
    run = export("moodle", str(graded), "--roster", str(roster), "--out", str(out))
    assert run.returncode == 1  # the results are named alice, bob, zed: no email matches
    assert "2 roster students have no result" in run.stderr
    assert "3 results are not in the roster by 'Email address'" in run.stderr
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header == "Email address,First name,Last name,backprop"


@pytest.mark.parametrize(("roster_text", "options", "message"), [
    (CANVAS_ROSTER, ["--id-column", "Login"],
     "no column 'Login'; its columns are 'Student', 'ID'"),
    (CANVAS_ROSTER.replace("carol", "bob"), [], "lists bob more than once"),
    ("", [], "is empty"),
])
def test_roster_problems_are_usage_errors(graded: Path, tmp_path: Path, roster_text: str,
                                          options: list[str], message: str) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text(roster_text, encoding="utf-8")
    run = export("canvas", str(graded), "--roster", str(roster), "--out",
                 str(tmp_path / "o.csv"), *options)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "o.csv").exists()


def test_missing_inputs_are_usage_errors(graded: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    roster = tmp_path / "r.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8")
    for args, message in (
        ([str(empty), "--roster", str(roster)], "holds no valid result file"),
        ([str(graded), "--roster", str(tmp_path / "nope.csv")], "cannot read the roster"),
    ):
        run = export("canvas", *args, "--out", str(tmp_path / "o.csv"))
        assert run.returncode == 2 and message in run.stderr, run.stderr


def test_help_states_this_commands_exit_codes() -> None:
    run = export("canvas", "--help")
    assert run.returncode == 0
    assert "1  the file was written, but some results are not in the roster" in run.stdout


def test_read_roster_skips_canvas_special_rows(tmp_path: Path) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text(CANVAS_ROSTER + ",,,,,Manual Posting,\r\n", encoding="utf-8-sig")
    read = lms.read_roster(roster, "SIS Login ID")
    assert [read.key(r) for r in read.rows] == ["alice", "bob", "carol"]


def test_ids_differing_only_in_case_are_not_guessed(tmp_path: Path) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8")
    read = lms.read_roster(roster, "SIS Login ID")
    made = lms.export("canvas", read, [result("bob", 1.0, 0.0), result("BOB", 2.0, 0.0),
                                       result("alice", 3.0, 0.0), result("Zed", 1.0, 0.0),
                                       result("zed", 1.0, 0.0)])
    assert made.ambiguous == {"bob": ["BOB", "bob"]}  # two results for the roster's bob: no guess
    assert made.unmatched == ["Zed", "zed"]  # twins the roster does not list at all
    assert made.missing == ["carol"] and made.written == 1
    bob = next(r for r in csv.reader(io.StringIO(made.text, newline="")) if r[3] == "bob")
    assert bob[5] == ""  # neither grade is written


def test_ids_match_whatever_their_unicode_normal_form(tmp_path: Path) -> None:
    """A zip named on macOS (NFD: e + combining diaeresis) is the roster's ZOË (NFC)."""
    roster = tmp_path / "r.csv"
    roster.write_text(CANVAS_ROSTER.replace("carol", "ZO\u00cb"), encoding="utf-8")
    read = lms.read_roster(roster, "SIS Login ID")
    made = lms.export("canvas", read, [result("zoe\u0308", 30.0, 5.0),
                                       result("Alice", 3.0, 0.0)])
    assert made.unmatched == [] and made.ambiguous == {} and made.written == 2
    rows = list(csv.reader(io.StringIO(made.text, newline="")))
    assert rows[4][3:] == ["ZO\u00cb", "Lab A", "30"]  # the id as the LMS exported it


def test_two_results_for_one_roster_student_are_reported_as_ambiguous(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    for student in ("Alice", "alice", "bob"):
        results.write_json(result(student, 10.0, 0.0), results.result_path(out, student))
    roster = tmp_path / "r.csv"
    roster.write_text(CANVAS_ROSTER.replace("ALICE ", "Alice"), encoding="utf-8")
    run = export("canvas", str(out), "--roster", str(roster), "--out", str(tmp_path / "o.csv"))
    assert run.returncode == 1
    assert ("1 roster students have two or more results (not written; keep one): "
            "Alice and alice for Alice") in run.stderr, run.stderr
    assert "not in the roster" not in run.stderr
    assert "have no result (written blank): carol" in run.stderr


def test_names_are_inert_ids_are_exact(tmp_path: Path) -> None:
    """A name a spreadsheet would run as a formula is quoted; the ids the LMS matches on are
    written exactly as it exported them."""
    roster = tmp_path / "r.csv"
    roster.write_text(MOODLE_ROSTER.replace("Ada,Lovelace", "=HYPERLINK(1),@x")
                      .replace("alice", "-alice"), encoding="utf-8")
    read = lms.read_roster(roster, "ID number")
    made = lms.export("moodle", read, [result("-alice", 3.0, 0.0)])
    first = next(csv.DictReader(io.StringIO(made.text, newline="")))
    assert first == {"ID number": "-alice", "First name": "'=HYPERLINK(1)",
                     "Last name": "'@x", "backprop": "3"}
