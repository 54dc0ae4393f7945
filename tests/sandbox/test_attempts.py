"""The instructor sees attempts: what a student's code tried that the sandbox blocks or watches
is in their result, in the batch summary and in the report (a table, and their drill-down),
as inert text. Real CLI, real sandbox."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TOY_SOLUTION, make_toy_course

from grader.engine import results

MALLORY = '''\
import socket

import numpy as np


def add_one(x):
    try:
        socket.create_connection(("10.1.2.3", 80), timeout=0.2)
    except OSError:
        pass
    try:
        open("/etc/\\x1b[31mgrader-was-here", "w")
    except OSError:
        pass
    return np.asarray(x, dtype=float) + 1.0
'''


@pytest.fixture
def graded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    course = tmp_path / "course"
    make_toy_course(course)
    for student, source in (("alice", TOY_SOLUTION), ("mallory", MALLORY)):
        (tmp_path / "class" / student).mkdir(parents=True)
        (tmp_path / "class" / student / "toy.py").write_text(source)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(tmp_path / "class"), "--out", str(out),
         "--course", str(course), "--report"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, proc.stdout


def test_are_attempts_in_the_result_and_the_summary(graded: tuple[Path, str]) -> None:
    """Does mallory's result list the blocked connection and the write outside, alice's none,
    and does the summary name mallory with the count?"""
    out, stdout = graded
    mallory = results.load(out / "mallory.json")
    alice = results.load(out / "alice.json")
    assert mallory is not None and alice is not None
    attempts = mallory["attempts"]
    assert any("network" in a and "10.1.2.3:80" in a for a in attempts), attempts
    assert any("/etc/" in a for a in attempts), attempts
    assert "attempts" not in alice
    assert mallory["score"] == alice["score"] == 2.0  # attempts are reported, not scored
    assert f"attempts blocked: mallory ({len(attempts)})" in stdout
    assert "\x1b" not in stdout


def test_does_the_report_list_the_attempts_as_text(graded: tuple[Path, str]) -> None:
    """Does report.html show mallory in the attempts table and in her drill-down, escaped,
    and alice in neither?"""
    out, _ = graded
    page = (out / "report.html").read_text(encoding="utf-8")
    mallory = results.load(out / "mallory.json")
    assert mallory is not None
    table = page[page.index('<table id=attempts-table>'):]
    table = table[:table.index("</table>")]
    assert 'data-student="mallory"' in table and "alice" not in table
    for attempt in mallory["attempts"]:
        assert html.escape(attempt) in table
    data = re.search(r'<script type="application/json" id="report-data">(.*?)</script>',
                     page, re.S)
    assert data is not None
    report = json.loads(data.group(1))
    shown = {s["id"]: [report["strings"][i] for i in s["attempts"]]
             for s in report["students"]}
    assert shown == {"alice": [], "mallory": mallory["attempts"]}
    assert "\x1b" not in page
