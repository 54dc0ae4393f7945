"""Exports of results: the gradebook CSV and Gradescope's ``results.json``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, TypedDict

from grader.engine.result_types import Visibility
from grader.engine.results import Result, Status, write_json
from grader.util import inert
from grader.util.files import atomic_write


class GradescopeTest(TypedDict):
    """One test in Gradescope's ``results.json``."""

    name: str
    number: str
    score: float
    max_score: float
    status: Literal["passed", "failed"]
    output: str
    visibility: Visibility


class _GradescopeRequired(TypedDict):
    score: float
    output: str
    tests: list[GradescopeTest]


class GradescopeResult(_GradescopeRequired, total=False):
    """Gradescope's ``results.json`` of one submission (the fields used here; ``visibility``
    may be left out). Optional by ``total=False``: ``NotRequired`` would be lost at run time
    under ``from __future__ import annotations``."""

    visibility: str


def gradebook_csv(results: Iterable[Result], modules: Sequence[str]) -> str:
    """One row per student: student, total, max_score, then one column per module, errors.

    ``results`` may be a stream: only the rows are kept, not the results. The student id and
    the errors are student-controlled text: a cell a spreadsheet would read as a formula
    (starting with ``= + - @``, a tab or a CR) is prefixed with ``'``
    (`grader.util.inert.csv_cell`).
    """
    rows = sorted(([
        inert.csv_cell(str(result["student"])), _num(result["score"]),
        _num(result["max_score"]),
        *(_num(result["modules"][m]["score"] if m in result.get("modules", {}) else 0.0)
          for m in modules),
        inert.csv_cell("; ".join(result.get("errors", []))),
    ] for result in results), key=lambda row: row[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "total", "max_score", *modules, "errors"])
    writer.writerows(rows)
    return buffer.getvalue()


def write_gradebook(results: Iterable[Result], modules: Sequence[str], path: Path) -> None:
    """Write the gradebook CSV atomically."""
    atomic_write(path, gradebook_csv(results, modules))


def gradescope(result: Result) -> GradescopeResult:
    """A result in Gradescope's ``results.json`` format.

    Uses its documented fields: ``score``, ``output`` and ``tests[]`` with ``name``,
    ``number``, ``score``, ``max_score``, ``status`` (``passed``/``failed``), ``output`` and
    ``visibility`` (``hidden``, ``after_due_date``, ``after_published``, ``visible``).
    """
    module_numbers: dict[str, int] = {}
    counters: dict[str, int] = {}
    tests: list[GradescopeTest] = []
    for test in result["tests"]:
        module = test["module"]
        module_numbers.setdefault(module, len(module_numbers) + 1)
        counters[module] = counters.get(module, 0) + 1
        tests.append({
            "name": f"{module}.{test['function']}: {test['name']}",
            "number": f"{module_numbers[module]}.{counters[module]}",
            "score": test["score"],
            "max_score": test["max_score"],
            "status": "passed" if test["status"] == Status.PASSED else "failed",
            "output": test["feedback"] if test["status"] != Status.PASSED else "",
            "visibility": test["visibility"],
        })
    summary = f"Score: {_num(result['score'])} / {_num(result['max_score'])}"
    if result.get("errors"):
        summary += "\nProblems with the submission:\n" + "\n".join(
            f"- {e}" for e in result["errors"])
    return {"score": result["score"], "output": summary, "visibility": "visible",
            "tests": tests}


def write_gradescope(result: Result, path: Path) -> None:
    """Write a Gradescope ``results.json`` for one result, atomically."""
    write_json(gradescope(result), path)


def _num(x: float) -> str:
    return f"{float(x):g}"
