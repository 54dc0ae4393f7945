"""The instructor report: `grader grade --report` and `grader report`, checked in headless
Chromium (figures drawn, numbers equal to the results, a student's drill-down equal to their
Gradescope view, no network, hostile feedback inert) and, without a browser, the builder's
counts on synthetic results."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.engine import results
from grader.exports import gradebook as export
from grader.exports import report

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
HOSTILE = ('</script><script>window.__pwned = 1</script><img src=x '
           'onerror="window.__pwned = 2"><!-- <b>bold</b> &amp; "quotes"')


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example class graded once by the real CLI with --report."""
    out = tmp_path_factory.mktemp("report") / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(ROOT / "examples" / "submissions"),
         "--out", str(out), "--report"],
        cwd=ROOT, text=True, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert f"report: {out / 'report.html'}" in proc.stdout
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (skipped only where it is not installed)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":  # CI installs it: a skip there would hide a break
            pytest.fail(f"no Chromium at {CHROMIUM} on CI")
        pytest.skip(f"no Chromium at {CHROMIUM} (CI installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Page:
    """A report opened in Chromium, with what it logged and requested."""

    page: Any
    url: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def show(self, student: str) -> None:
        """Search for a student and pick them in the drill-down."""
        self.page.fill("#filter", student)
        self.page.select_option("#students", student)
        self.page.wait_for_selector("#student h3.student-id")

    def assert_clean(self) -> None:
        """No console error, no uncaught exception, no request but the file itself."""
        assert self.errors == []
        assert self.requests and set(self.requests) == {self.url}


@pytest.fixture
def open_report(browser: Any) -> Iterator[Any]:
    """Open a report file in a fresh page, recording errors and requests."""
    pages: list[Any] = []

    def opener(path: Path) -> Page:
        page = browser.new_page()
        pages.append(page)
        opened = Page(page, path.resolve().as_uri())
        page.on("console", lambda m: opened.errors.append(f"console: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: opened.errors.append(f"pageerror: {e}"))
        page.on("request", lambda r: opened.requests.append(r.url))
        page.goto(opened.url)
        return opened

    yield opener
    for page in pages:
        page.close()


def load(out: Path, student: str) -> results.Result:
    loaded = results.load(results.result_path(out, student))
    assert loaded is not None
    return loaded


# -- in Chromium, on the graded example class -----------------------------------------------------
def test_report_opens_offline_without_errors(graded: Path, open_report: Any) -> None:
    """Does the page load, and a drill-down open, with no console or page error and no
    request other than the file itself?"""
    opened = open_report(graded / "report.html")
    for student in ("ben", "mallory", "ada"):
        opened.show(student)
    opened.assert_clean()


def test_figures_render(graded: Path, open_report: Any) -> None:
    """Are the histogram and the pass-rate figure inline SVG drawn at a non-zero size?"""
    opened = open_report(graded / "report.html")
    for selector in ("#histogram svg", "#pass-rates svg"):
        box = opened.page.locator(selector).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, selector
    labels = opened.page.locator("#pass-rates svg text").all_text_contents()
    assert "neuron.backward" in labels
    opened.assert_clean()


def test_pass_rates_match_the_results(graded: Path, open_report: Any) -> None:
    """Is every function's pass rate on the page the share of students whose result files
    show all of that function's tests passed?"""
    everyone = list(results.iter_results(graded))
    opened = open_report(graded / "report.html")
    rows = opened.page.locator("#pass-table tr[data-function]")
    assert rows.count() == len({(t["module"], t["function"]) for t in everyone[0]["tests"]})
    for function in ("neuron.backward", "mlp.affine_backward", "activations.sigmoid"):
        module, name = function.split(".")
        passing = sum(all(t["status"] == "passed" for t in r["tests"]
                          if (t["module"], t["function"]) == (module, name)) for r in everyone)
        row = opened.page.locator(f'#pass-table tr[data-function="{function}"]')
        cells = row.locator("td").all_text_contents()
        assert cells[2:4] == [str(passing), str(len(everyone))]
        assert cells[4] == f"{100 * passing / len(everyone):.1f}%"
    assert opened.page.locator(
        '#pass-table tr[data-function="neuron.backward"] td.rate').text_content() == "85.7%"


def test_drill_down_shows_that_students_feedback(graded: Path, open_report: Any) -> None:
    """Does picking ben show his score, his module scores and every test's feedback exactly
    as his Gradescope results give it, and none of another student's feedback?"""
    ben = load(graded, "ben")
    view = export.gradescope(ben)
    opened = open_report(graded / "report.html")
    opened.show("ben")
    page = opened.page
    assert page.locator("#student h3").text_content() == "ben"
    assert page.locator("#student .student-score").text_content() == "Score: 97 / 100"
    modules = page.locator("#student table.modules tr").all_text_contents()[1:]
    assert modules == [f"{m}{v['score']:g}{v['max_score']:g}" for m, v in ben["modules"].items()]
    assert page.locator("#student tr.test").count() == len(view["tests"])
    shown = page.eval_on_selector_all(
        "#student pre.output", "els => els.map(e => [e.dataset.number, e.textContent])")
    expected = [[t["number"], t["output"]] for t in view["tests"] if t["output"]]
    assert shown == expected and len(expected) == 3
    assert "Missing factor 2" in expected[0][1]
    assert page.locator("#student pre.summary").text_content() == view["output"]
    text = page.locator("#student").text_content()
    for other in ("dev", "eve", "cleo"):
        for test in export.gradescope(load(graded, other))["tests"]:
            assert not test["output"] or test["output"] not in text, other
    opened.show("dev")
    assert expected[0][1] not in page.locator("#student").text_content()
    opened.assert_clean()


def test_misconceptions_with_counts_and_an_example(graded: Path, open_report: Any) -> None:
    """Does the misconception table count students as the result files do, with the
    feedback of one affected test as its example?"""
    everyone = list(results.iter_results(graded))
    counts = Counter(key for r in everyone for key in {
        t["diagnosis"]["key"] for t in r["tests"]
        if t.get("diagnosis") and t["diagnosis"]["key"] != "not_implemented"})
    opened = open_report(graded / "report.html")
    rows = opened.page.locator("#misconception-table tr[data-key]")
    assert rows.count() == len(counts) >= 4  # the four mistakes of the example class, at least
    row = opened.page.locator('#misconception-table tr[data-key="missing_factor_2"]')
    assert row.locator("td.students").text_content() == str(counts["missing_factor_2"])
    assert row.locator(".student").text_content() == "ben"
    row.locator("summary").click()
    example = row.locator("pre.example").text_content()
    assert example in {t["feedback"] for t in load(graded, "ben")["tests"]}
    assert example.startswith("backward(w, b, a_prev, y)['dw']")


def test_grade_report_is_rebuilt_when_everything_was_already_graded(graded: Path) -> None:
    """Does a second `grader grade --report` on a finished folder (every student kept)
    still write report.html?"""
    page = graded / "report.html"
    before = page.read_text(encoding="utf-8")
    page.unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(ROOT / "examples" / "submissions"),
         "--out", str(graded), "--report"],
        cwd=ROOT, text=True, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "0 new, 0 regraded (files changed), 7 kept" in proc.stdout
    after = page.read_text(encoding="utf-8")
    strip = "built "  # the timestamp differs, nothing else does
    assert before.split(strip)[0] == after.split(strip)[0]
    assert before.split("by backprop-grader")[1] == after.split("by backprop-grader")[1]


def test_hostile_feedback_is_inert(graded: Path, tmp_path: Path, open_report: Any) -> None:
    """Is feedback (and a student id) holding </script>, <script> and an onerror handler
    shown as text, everywhere, and never run?"""
    hostile = copy.deepcopy(load(graded, "ben"))
    hostile["student"] = '<img src=y onerror="window.__pwned = 3">x'
    for test in hostile["tests"]:
        if test["status"] != "passed":
            test["feedback"] = HOSTILE
    hostile["errors"] = [HOSTILE]
    results.validate(hostile)
    folder = tmp_path / "hostile"
    results.write(hostile, folder / "aaa.json")
    results.write(load(graded, "ada"), folder / "ada.json")
    out = tmp_path / "page.html"
    proc = CliRunner().invoke(main, ["report", str(folder), "--out", str(out),
                                     "--course", str(ROOT)])
    assert proc.exit_code == 0, proc.output
    raw = out.read_text(encoding="utf-8")
    assert "<script>window" not in raw and "<img" not in raw and raw.count("<script") == 2

    opened = open_report(out)
    page = opened.page
    opened.show(hostile["student"])
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.scripts.length") == 2
    assert page.evaluate("document.images.length") == 0
    assert page.locator("#student h3").text_content() == hostile["student"]
    outputs = page.locator("#student pre.output").all_text_contents()
    assert outputs == [HOSTILE] * 3
    assert HOSTILE in page.locator("#student pre.summary").text_content()
    row = page.locator('#misconception-table tr[data-key="missing_factor_2"]')
    assert row.locator(".student").text_content() == hostile["student"]
    assert row.locator("pre.example").text_content() == HOSTILE
    opened.assert_clean()


def test_report_command_usage_errors(tmp_path: Path) -> None:
    """Does `grader report` on a folder without results exit 2 with a clear message?"""
    proc = CliRunner().invoke(main, ["report", str(tmp_path), "--course", str(ROOT)])
    assert proc.exit_code == 2 and "no valid result file" in proc.output
    proc = CliRunner().invoke(main, ["report", str(tmp_path / "missing")])
    assert proc.exit_code == 2


# -- the builder, on synthetic results ------------------------------------------------------------
def synthetic(student: str, score: float, *tests: tuple[str, str, str | None]) -> results.Result:
    """A valid result with max score 10: tests given as (function, status, misconception)."""
    made = [{"id": f"m::t{i}", "name": f"test {i}", "module": "m", "function": function,
             "score": 0.0, "max_score": 1.0, "status": status, "visibility": "visible",
             "feedback": "" if status == "passed" else f"{student} failed {function}",
             "diagnosis": None if key is None else {"key": key, "title": key.title(),
                                                   "message": "fix it"}}
            for i, (function, status, key) in enumerate(tests)]
    result = {"schema_version": 1, "student": student, "assignment": "a",
              "grader_version": "0", "graded_at": "2026-11-30T12:00:00+00:00",
              "score": score, "max_score": 10.0,
              "modules": {"m": {"score": score, "max_score": 10.0}},
              "tests": made, "errors": []}
    results.validate(result)
    return result


def test_builder_counts_on_synthetic_results(tmp_path: Path) -> None:
    """Do the histogram bands, function pass rates and misconception counts (students, not
    tests; "not implemented" excluded) come out as counted by hand?"""
    class_ = [
        synthetic("a", 10.0, ("f", "passed", None), ("g", "passed", None)),
        synthetic("b", 9.99, ("f", "passed", None), ("g", "failed", "sign"),
                  ("g", "failed", "sign")),
        synthetic("c", 0.0, ("f", "error", "not_implemented"), ("g", "failed", "sign")),
        synthetic("d", 3.0, ("f", "failed", "factor"), ("g", "timeout", None)),
        synthetic("e", 3.5, ("f", "passed", None), ("g", "passed", None)),
    ]
    stats = report.write(iter(class_), tmp_path / "r.html")
    assert stats.histogram() == [1, 0, 0, 2, 0, 0, 0, 0, 0, 2]
    assert stats.misconceptions == Counter({"sign": 2, "factor": 1})
    assert stats.tests == Counter({"sign": 3, "factor": 1})
    assert stats.examples["sign"].student == "b"
    assert stats.examples["sign"].feedback == "b failed g"
    assert [(f, n, t) for _, f, n, t, _, _ in stats.pass_rates()] == [("f", 3, 5), ("g", 2, 5)]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "not_implemented" not in page.split('id="report-data"')[0]
    data = page.split('<script type="application/json" id="report-data">')[1]
    parsed = json.loads(data.split("</script>")[0])
    assert [s["id"] for s in parsed["students"]] == ["a", "b", "c", "d", "e"]


def test_a_large_class_is_streamed_and_compact(tmp_path: Path) -> None:
    """Does a class of 1,000 go through as a stream, with repeated text stored once?"""
    def class_() -> Iterator[results.Result]:
        for i in range(1000):
            yield synthetic(f"s{i:04d}", i % 11, ("f", "failed", "sign"), ("g", "passed", None))

    stats = report.write(class_(), tmp_path / "r.html")
    assert stats.students == 1000 and sum(stats.histogram()) == 1000
    size = (tmp_path / "r.html").stat().st_size
    assert size < 400_000, size  # the strings 1,000 students share are stored once
