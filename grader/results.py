"""Result files: build a submission's result, validate it against the schema, write atomically."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from grader import __version__
from grader.course import Course, TestSpec
from grader.runner import ERROR, Outcome

SCHEMA_VERSION = 1
SCHEMA_FILE = "result.v1.json"

Result = dict[str, Any]


@cache
def schema() -> dict[str, Any]:
    """The result JSON Schema (``grader/schema/result.v1.json``)."""
    text = resources.files("grader").joinpath("schema", SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema())
    cls.check_schema(schema())
    validator: jsonschema.protocols.Validator = cls(
        schema(), format_checker=cls.FORMAT_CHECKER)
    return validator


def validate(result: Result) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``result`` follows the schema."""
    _validator().validate(result)


def build(
    course: Course,
    student: str,
    outcomes: Sequence[Outcome],
    *,
    errors: Sequence[str] = (),
    source: str | None = None,
    seconds: float | None = None,
) -> Result:
    """Assemble a submission's result from its test outcomes.

    Parameters
    ----------
    course : Course
        Gives the assignment name and the module order.
    student : str
        Student id.
    outcomes : sequence of Outcome
        One per hidden test.
    errors : sequence of str
        Problems with the submission as a whole.
    """
    tests = [_test(o) for o in outcomes]
    modules: dict[str, dict[str, float]] = {}
    for module in course.modules:
        mine = [t for t in tests if t["module"] == module]
        modules[module] = {"score": _round(sum(t["score"] for t in mine)),
                           "max_score": _round(sum(t["max_score"] for t in mine))}
    result: Result = {
        "schema_version": SCHEMA_VERSION,
        "student": student,
        "assignment": course.assignment,
        "grader_version": __version__,
        "graded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "score": _round(sum(t["score"] for t in tests)),
        "max_score": _round(sum(t["max_score"] for t in tests)),
        "modules": modules,
        "tests": tests,
        "errors": list(errors),
    }
    if source is not None:
        result["source"] = source
    if seconds is not None:
        result["seconds"] = round(seconds, 4)
    return result


def failed_result(course: Course, student: str, specs: Sequence[TestSpec], error: str,
                  *, source: str | None = None) -> Result:
    """A valid result for a submission that could not be graded at all: every test 0."""
    outcomes = [Outcome(spec, ERROR, error, None, 0.0) for spec in specs]
    return build(course, student, outcomes, errors=[error], source=source)


def _test(outcome: Outcome) -> dict[str, Any]:
    from grader.feedback import explain

    spec = outcome.spec
    d = outcome.diagnosis
    return {
        "id": spec.test_id,
        "name": spec.name,
        "module": spec.module,
        "function": spec.function,
        "score": _round(outcome.score),
        "max_score": _round(spec.points),
        "status": outcome.status,
        "visibility": spec.marker.visibility,
        "feedback": explain(outcome),
        "diagnosis": None if d is None else {"key": d.key, "title": d.title,
                                             "message": d.message},
        "seconds": round(outcome.seconds, 4),
    }


def _round(x: float) -> float:
    return round(float(x), 6)


def write(result: Result, path: Path) -> None:
    """Validate, then write atomically: a temporary file in the same folder, fsync, rename.

    A reader never sees a half-written result, whatever happens to this process.
    """
    validate(result)
    write_json(result, path)


def write_json(data: Any, path: Path) -> None:
    """Write JSON atomically (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def result_path(out: Path, student: str) -> Path:
    """Where a student's result lives in the output folder."""
    return out / f"{student}.json"


def load(path: Path) -> Result | None:
    """A result file's content if it exists and is valid, else None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        validate(data)
    except (OSError, ValueError, jsonschema.ValidationError):
        return None
    return data if isinstance(data, dict) else None


def iter_results(out: Path) -> Iterator[Result]:
    """Every valid result in an output folder, by student id, one at a time (a class of any
    size is never held in memory at once)."""
    for path in sorted(out.glob("*.json")):
        loaded = load(path)  # other JSON files (Gradescope's) do not follow the schema
        if loaded is not None:
            yield loaded


def load_all(out: Path) -> list[Result]:
    """Every valid result in an output folder, by student id."""
    return list(iter_results(out))
