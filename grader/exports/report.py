"""The instructor report: one self-contained HTML page built from a folder of results.

The page opens offline: the figures are inline SVG drawn by matplotlib (text kept as SVG
text, so no font is embedded or fetched), the style and the one script are inline, and a
Content-Security-Policy forbids loading anything else. Results are streamed: the class
statistics are a few numbers per function and misconception plus one score per student, and
each student's drill-down (their Gradescope view, `grader.exports.gradebook.gradescope`) is written
to a spool file as it is read, with every distinct string stored once (the "not implemented yet"
of a thousand stubs costs one entry). Student-derived text reaches the page only as escaped
HTML or as JSON that the script inserts with ``textContent``, never as markup. A ranking of
similar submissions written beside the results (``similarity.json``, `grader similarity`) is
shown as its own section (`grader.exports.report_similarity`); the report never computes it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import shutil
import statistics
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from string import Template
from typing import IO, Any

from grader import __version__
from grader.course.config import Course
from grader.engine.results import Result, Status, iter_results
from grader.exports.gradebook import gradescope
from grader.exports.report_figures import BINS, histogram_svg, pass_svg
from grader.exports.report_similarity import section as similarity_section
from grader.util.files import atomic_open

REPORT = "report.html"
"""The report's file name in a results folder."""
_DATA_MARK = "<!-- report-data -->"
_SPOOL_BYTES = 8 * 2**20  # drill-down data kept in memory up to this size, then on disk


class NoResults(Exception):
    """The folder holds no valid result file (a usage error: exit code 2)."""


@dataclass
class Example:
    """One test that showed a misconception: whose, which, and the feedback they read."""

    student: str
    test: str
    feedback: str


@dataclass
class ClassStats:
    """What the report shows of a class, accumulated one result at a time.

    Attributes
    ----------
    modules : list of str
        Module order (the course's, then any other module met in the results).
    scores, percents : list of float
        Every student's score, and as a percent of their maximum score.
    functions : dict
        ``(module, function)`` to ``[students passing, students tested, points earned,
        points available]``.
    misconceptions, tests : Counter
        Misconception key to the students, and the tests, showing it ("not implemented"
        is not a misconception).
    titles, examples : dict
        Misconception key to its title, and to its first `Example` (students in id order).
    module_points : dict
        Module to ``[points earned, points available]`` over the class.
    attempts : list
        ``(student, attempts)`` of each student whose result lists blocked or suspicious
        actions (``attempts`` of the result), in the order read.
    """

    modules: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    percents: list[float] = field(default_factory=list)
    max_score: float = 0.0
    functions: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    misconceptions: Counter[str] = field(default_factory=Counter)
    tests: Counter[str] = field(default_factory=Counter)
    titles: dict[str, str] = field(default_factory=dict)
    examples: dict[str, Example] = field(default_factory=dict)
    module_points: dict[str, list[float]] = field(default_factory=dict)
    attempts: list[tuple[str, list[str]]] = field(default_factory=list)

    def add(self, result: Result) -> None:
        """Count one student's result."""
        if result.get("attempts"):
            self.attempts.append((result["student"], list(result["attempts"])))
        score, top = float(result["score"]), float(result["max_score"])
        self.scores.append(score)
        self.percents.append(100.0 * score / top if top > 0 else 0.0)
        self.max_score = max(self.max_score, top)
        for module, value in result["modules"].items():
            if module not in self.modules:
                self.modules.append(module)
            points = self.module_points.setdefault(module, [0.0, 0.0])
            points[0] += float(value["score"])
            points[1] += float(value["max_score"])
        passed: dict[tuple[str, str], bool] = {}
        earned: dict[tuple[str, str], list[float]] = {}
        seen: set[str] = set()
        for test in result["tests"]:
            key = (test["module"], test["function"])
            passed[key] = passed.get(key, True) and test["status"] == Status.PASSED
            points = earned.setdefault(key, [0.0, 0.0])
            points[0] += float(test["score"])
            points[1] += float(test["max_score"])
            d = test.get("diagnosis")
            if d and d["key"] != "not_implemented":
                self.tests[d["key"]] += 1
                self.titles.setdefault(d["key"], d["title"])
                if d["key"] not in seen:
                    seen.add(d["key"])
                    self.misconceptions[d["key"]] += 1
                self.examples.setdefault(d["key"], Example(
                    result["student"], f"{test['module']}.{test['function']}: {test['name']}",
                    test["feedback"]))
        for key, ok in passed.items():
            row = self.functions.setdefault(key, [0.0, 0.0, 0.0, 0.0])
            row[0] += ok
            row[1] += 1
            row[2] += earned[key][0]
            row[3] += earned[key][1]

    @property
    def students(self) -> int:
        """How many results were counted."""
        return len(self.scores)

    def histogram(self) -> list[int]:
        """Students per score band: band ``i`` holds percents in ``[10 i, 10 (i + 1))``, the
        last band also 100."""
        counts = [0] * BINS
        for percent in self.percents:
            counts[min(BINS - 1, max(0, int(percent * BINS / 100.0)))] += 1
        return counts

    def pass_rates(self) -> list[tuple[str, str, int, int, float, float]]:
        """``(module, function, passing, tested, mean points, points)`` per function, in
        module order."""
        order = {m: i for i, m in enumerate(self.modules)}
        keys = sorted(self.functions, key=lambda k: order.get(k[0], len(order)))
        return [(m, f, int(row[0]), int(row[1]), row[2] / row[1], row[3] / row[1])
                for (m, f), row in ((k, self.functions[k]) for k in keys)]


class _Spool:
    """The drill-down data, written as it is read: a string table and the students."""

    def __init__(self) -> None:
        self.strings: IO[str] = tempfile.SpooledTemporaryFile(_SPOOL_BYTES, mode="w+")
        self.students: IO[str] = tempfile.SpooledTemporaryFile(_SPOOL_BYTES, mode="w+")
        self.index: dict[bytes, int] = {}  # digests, not the strings themselves
        self.count = 0

    def ref(self, text: str) -> int:
        """The index of ``text`` in the string table (added on first sight)."""
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
        if digest not in self.index:
            self.strings.write(("," if self.index else "") + _json(text))
            self.index[digest] = len(self.index)
        return self.index[digest]

    def add(self, result: Result) -> None:
        """Write one student's drill-down: their score, modules and Gradescope view."""
        view = gradescope(result)
        record = {
            "id": result["student"], "score": result["score"], "max": result["max_score"],
            "modules": [[m, v["score"], v["max_score"]] for m, v in result["modules"].items()],
            "output": self.ref(view["output"]),
            "attempts": [self.ref(a) for a in result.get("attempts", [])],
            "tests": [[t["number"], t["score"], t["max_score"], self.ref(t["name"]),
                       self.ref(t["status"]), self.ref(t["visibility"]), self.ref(t["output"])]
                      for t in view["tests"]],
        }
        self.students.write(("," if self.count else "") + _json(record))
        self.count += 1

    def copy_to(self, out: IO[str]) -> None:
        """Write the data as one JSON object: ``{"strings": [...], "students": [...]}``."""
        out.write('<script type="application/json" id="report-data">{"strings":[')
        for spool, tail in ((self.strings, '],"students":['), (self.students, "]}")):
            spool.seek(0)
            shutil.copyfileobj(spool, out)
            out.write(tail)
        out.write("</script>\n")


def _json(value: Any) -> str:
    """JSON that cannot end a ``<script>`` element or open a comment, whatever it holds."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build(out: Path, *, course: Course | None = None, path: Path | None = None) -> Path:
    """Build the report of a results folder (``grader report``, ``grader grade --report``).

    Parameters
    ----------
    out : Path
        A folder of ``<student>.json`` results written by ``grader grade``.
    course : Course, optional
        Gives the report its title and the module and function order (default: as found in
        the results).
    path : Path, optional
        Where to write the page (default ``out / "report.html"``).

    Returns
    -------
    Path
        The page written.

    Raises
    ------
    NoResults
        If ``out`` holds no valid result.
    """
    results = iter_results(out)
    first = next(results, None)
    if first is None:
        raise NoResults(f"{out} holds no valid result file (<student>.json from grader grade)")
    target = path if path is not None else out / REPORT
    write(itertools.chain([first], results), target, course=course, similarity_from=out)
    return target


def write(results: Iterable[Result], path: Path, *, course: Course | None = None,
          similarity_from: Path | None = None) -> ClassStats:
    """Write the report of a stream of results to ``path`` atomically.

    Parameters
    ----------
    results : iterable of Result
        The class, one result at a time, in the order the drill-down lists them.
    path : Path
        The HTML file to write.
    course : Course, optional
        Title and module and function order.
    similarity_from : Path, optional
        The results folder whose ``similarity.json`` (``grader similarity``) the page shows.

    Returns
    -------
    ClassStats
        The statistics the page shows.
    """
    stats = ClassStats(modules=list(course.modules) if course else [])
    spool = _Spool()
    try:
        for result in results:
            stats.add(result)
            spool.add(result)
        if course is not None:
            _order_functions(stats, course)
        head, tail = _template()
        with atomic_open(path) as fh:
            sections = _sections(stats, course, tail)
            if similarity_from is not None:
                sections["similarity"] = similarity_section(similarity_from, stats.students)
            fh.write(head.substitute(sections))
            spool.copy_to(fh)
            fh.write(tail)
    finally:
        spool.strings.close()
        spool.students.close()
    return stats


def _order_functions(stats: ClassStats, course: Course) -> None:
    """Put each module's functions in the course's contract order (``course.toml``)."""
    order = {(m, f): i for m, fs in course.function_table.items() for i, f in enumerate(fs)}
    stats.functions = dict(sorted(stats.functions.items(),
                                  key=lambda item: order.get(item[0], len(order))))


def _template() -> tuple[Template, str]:
    text = resources.files("grader.exports").joinpath("templates", REPORT).read_text("utf-8")
    head, tail = text.split(_DATA_MARK)
    return Template(head), tail


def _sections(stats: ClassStats, course: Course | None, tail: str) -> dict[str, str]:
    """The page's parts above the drill-down data, as HTML."""
    title = "Instructor report" + (f": {course.name}" if course else "")
    script = tail[tail.index("<script>") + len("<script>"):tail.index("</script>")]
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    when = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "title": html.escape(title),
        "script_hash": f"sha256-{digest}",
        "meta": html.escape(f"{stats.students} students; built {when} by backprop-grader "
                            f"{__version__}"),
        "summary": _summary(stats),
        "histogram": histogram_svg(stats.histogram()),
        "pass_figure": pass_svg(stats.pass_rates()),
        "pass_table": _pass_table(stats.pass_rates()),
        "misconceptions": _misconception_table(stats),
        "attempts": _attempts_table(stats),
        "similarity": "<p>Not computed (see <code>grader similarity</code>).</p>",
    }


def _summary(stats: ClassStats) -> str:
    if not stats.scores:
        return "<p>No results.</p>"
    s = stats.scores
    rows = [("students", f"{len(s)}"), ("mean", f"{statistics.fmean(s):.2f}"),
            ("median", f"{statistics.median(s):g}"), ("min", f"{min(s):g}"),
            ("max", f"{max(s):g}"), ("maximum score", f"{stats.max_score:g}")]
    cells = "".join(f"<tr><th>{k}</th><td class=num>{v}</td></tr>" for k, v in rows)
    modules = "".join(
        f"<tr><td>{html.escape(m)}</td><td class=num>{p[0] / stats.students:.2f}</td>"
        f"<td class=num>{p[1] / stats.students:g}</td></tr>"
        for m in stats.modules if (p := stats.module_points.get(m)))
    return (f"<table id=summary>{cells}</table>\n<table id=module-means><tr><th>module</th>"
            f"<th class=num>mean</th><th class=num>max</th></tr>{modules}</table>")


def _pass_table(rates: Sequence[tuple[str, str, int, int, float, float]]) -> str:
    rows = "".join(
        f'<tr data-function="{html.escape(f"{m}.{f}")}"><td>{html.escape(m)}</td>'
        f"<td>{html.escape(f)}</td><td class=num>{n}</td><td class=num>{t}</td>"
        f"<td class='num rate'>{100.0 * n / t:.1f}%</td>"
        f"<td class=num>{mean:.2f} / {top:g}</td></tr>"
        for m, f, n, t, mean, top in rates)
    return ("<table id=pass-table><tr><th>module</th><th>function</th><th class=num>passing"
            "</th><th class=num>students</th><th class=num>pass rate</th><th class=num>mean "
            f"points</th></tr>{rows}</table>")


def _attempts_table(stats: ClassStats) -> str:
    """Students whose code tried blocked or suspicious actions, most attempts first."""
    if not stats.attempts:
        return "<p>No student's code tried a blocked action.</p>"
    rows = "".join(
        f'<tr data-student="{html.escape(student)}"><td class=student>{html.escape(student)}'
        f"</td><td class=num>{len(tried)}</td><td><ul>"
        + "".join(f"<li>{html.escape(a)}</li>" for a in tried) + "</ul></td></tr>"
        for student, tried in sorted(stats.attempts, key=lambda item: -len(item[1])))
    return ("<table id=attempts-table><tr><th>student</th><th class=num>attempts</th>"
            f"<th>what the sandbox blocked or noticed</th></tr>{rows}</table>")


def _misconception_table(stats: ClassStats) -> str:
    if not stats.misconceptions:
        return "<p>No misconception was recognised in this class.</p>"
    rows = []
    for key, count in stats.misconceptions.most_common():
        example = stats.examples[key]
        rows.append(
            f'<tr data-key="{html.escape(key)}"><td>{html.escape(stats.titles[key])}<br>'
            f"<code>{html.escape(key)}</code></td><td class='num students'>{count}</td>"
            f"<td class='num tests'>{stats.tests[key]}</td><td><details><summary>"
            f"<span class=student>{html.escape(example.student)}</span>, "
            f"{html.escape(example.test)}</summary><pre class=example>"
            f"{html.escape(example.feedback)}</pre></details></td></tr>")
    return ("<table id=misconception-table><tr><th>misconception</th><th class=num>students"
            "</th><th class=num>tests</th><th>example (the feedback that student reads)</th>"
            f"</tr>{''.join(rows)}</table>")
