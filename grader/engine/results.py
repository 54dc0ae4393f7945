"""Result files: build a submission's result, validate it against the schema, write atomically.

A result's shape is `grader.engine.result_types.Result` (re-exported here with its parts).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

if TYPE_CHECKING:
    import jsonschema

from grader import __version__
from grader.course.config import Course, TestSpec
from grader.engine.feedback import explain
from grader.engine.result_types import (
    Result,
    ResultDiagnosis,
    ResultModule,
    ResultTest,
    Status,
    Visibility,
)
from grader.engine.runner import Outcome
from grader.util import inert
from grader.util.files import atomic_write

__all__ = [
    "MAX_ATTEMPTS", "MAX_ATTEMPT_CHARS", "SCHEMA_FILE", "SCHEMA_VERSION", "Result",
    "ResultDiagnosis", "ResultModule", "ResultTest", "Status", "build", "failed_result",
    "grader_errors", "gradescope_path", "iter_results", "load", "load_all", "result_path",
    "schema", "validate", "write", "write_json",
]

SCHEMA_VERSION: Final = 1
SCHEMA_FILE = "result.v1.json"
#: most attempts kept per result, and the longest description kept
MAX_ATTEMPTS, MAX_ATTEMPT_CHARS = 20, 300


@cache
def schema() -> dict[str, Any]:
    """The result JSON Schema (``grader/engine/schema/result.v1.json``), read once: treat it
    as read-only."""
    text = resources.files("grader.engine").joinpath("schema", SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> jsonschema.protocols.Validator:
    # imported here: jsonschema takes about a second to import (its format checkers), which
    # every command that only reads or builds results (`grader check`) would pay
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    cls.check_schema(schema())
    validator: jsonschema.protocols.Validator = cls(
        schema(), format_checker=cls.FORMAT_CHECKER)
    return validator


def validate(result: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``result`` follows the schema (any data:
    a file just read is checked before it is taken for a `Result`)."""
    _validator().validate(result)


def build(
    course: Course,
    student: str,
    outcomes: Sequence[Outcome],
    *,
    errors: Sequence[str] = (),
    source: str | None = None,
    seconds: float | None = None,
    files: Mapping[str, str] | None = None,
    files_digest: str | None = None,
    attempts: Sequence[str] = (),
) -> Result:
    """Assemble a submission's result from its test outcomes.

    Every student-controlled string (the id, feedback, errors, attempts) is made valid
    Unicode text (`grader.util.inert.text`), so the result can always be written as JSON.

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
    source : str, optional
        Where the submission came from.
    seconds : float, optional
        Time spent grading it.
    files : mapping of str to str, optional
        The files graded (``neuron.py``) and where each was read from.
    files_digest : str, optional
        `grader.batch.submissions.Unpacked.digest` of those files: a rerun keeps this result only
        while the submission's files still have this digest.
    attempts : sequence of str
        Blocked or suspicious actions the sandbox saw (at most `MAX_ATTEMPTS` kept).
    """
    tests = [_test(o) for o in outcomes]
    modules: dict[str, ResultModule] = {}
    for module in course.modules:
        mine = [t for t in tests if t["module"] == module]
        modules[module] = {"score": _round(sum(t["score"] for t in mine)),
                           "max_score": _round(sum(t["max_score"] for t in mine))}
    result: Result = {
        "schema_version": SCHEMA_VERSION,
        "student": inert.text(student),
        "assignment": course.assignment,
        "grader_version": __version__,
        "graded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "score": _round(sum(t["score"] for t in tests)),
        "max_score": _round(sum(t["max_score"] for t in tests)),
        "modules": modules,
        "tests": tests,
        "errors": [inert.text(e) for e in errors],
        "grader_errors": [o.spec.test_id for o in outcomes if o.grader_error],
    }
    if source is not None:
        result["source"] = inert.text(source)
    if seconds is not None:
        result["seconds"] = round(seconds, 4)
    if files is not None:
        result["files"] = sorted(inert.text(name) for name in files)
    if files_digest is not None:
        result["files_digest"] = files_digest
    kept = list(dict.fromkeys(inert.text(str(a))[:MAX_ATTEMPT_CHARS] for a in attempts))
    if kept:
        result["attempts"] = kept[:MAX_ATTEMPTS]
    return result


def failed_result(course: Course, student: str, specs: Sequence[TestSpec], error: str,
                  *, source: str | None = None, files_digest: str | None = None) -> Result:
    """A valid result for a submission that could not be graded at all: every test 0
    (with ``files_digest``, charged to those files: a rerun keeps it while they last)."""
    outcomes = [Outcome(spec, Status.ERROR, error, None, 0.0) for spec in specs]
    return build(course, student, outcomes, errors=[error], source=source,
                 files_digest=files_digest)


def _test(outcome: Outcome) -> ResultTest:
    spec = outcome.spec
    d = outcome.diagnosis
    diagnosis: ResultDiagnosis | None = None if d is None else {
        "key": d.key, "title": inert.text(d.title), "message": inert.text(d.message)}
    return {
        "id": spec.test_id,
        "name": spec.name,
        "module": spec.module,
        "function": spec.function,
        "score": _round(outcome.score),
        "max_score": _round(spec.points),
        "status": outcome.status,
        # checked when the test was declared (`grader.authoring.markers.graded`)
        "visibility": cast(Visibility, spec.marker.visibility),
        "feedback": inert.text(explain(outcome)),
        "diagnosis": diagnosis,
        "seconds": round(outcome.seconds, 4),
    }


def grader_errors(result: Result) -> list[str]:
    """The ids of a result's tests that failed through their own fault (its
    ``grader_errors``; none in a result written before that key existed)."""
    return list(result.get("grader_errors", []))


def _round(x: float) -> float:
    return round(float(x), 6)


def write(result: Result, path: Path) -> None:
    """Validate, then write atomically: a temporary file in the same folder, fsync, rename.

    A reader never sees a half-written result, whatever happens to this process.
    """
    validate(result)
    write_json(result, path)


def write_json(data: object, path: Path) -> None:
    """Write JSON atomically (temporary file, fsync, rename).

    Text that cannot be encoded (a lone surrogate from a student's exception message) is
    written as its escape (`grader.util.inert.text`) rather than failing the write.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    try:
        payload = text.encode("utf-8")
    except UnicodeEncodeError:  # rare: only then pay for walking the data
        payload = (json.dumps(_valid_text(data), indent=2, ensure_ascii=False) + "\n"
                   ).encode("utf-8")
    atomic_write(path, payload)


def _valid_text(data: object) -> object:
    """``data`` with every string (keys too) made encodable (`grader.util.inert.text`)."""
    if isinstance(data, str):
        return inert.text(data)
    if isinstance(data, dict):
        return {_valid_text(k): _valid_text(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_valid_text(v) for v in data]
    return data


def result_path(out: Path, student: str) -> Path:
    """Where a student's result lives in the output folder: ``<stem>.json``, the stem
    one-to-one with the id (`grader.util.inert.filename`; ``alice.json``, ``e%2Ev.json``)."""
    return out / f"{inert.filename(student)}.json"


def gradescope_path(out: Path, student: str) -> Path:
    """Where a student's Gradescope ``results.json`` lives in the output folder."""
    return out / f"{inert.filename(student)}.gradescope.json"


def load(path: Path) -> Result | None:
    """A result file's content if it exists and is valid, else None.

    Read back, a result holds the same types as when it was built: each test's status is a
    `Status` again.
    """
    import jsonschema

    try:
        data: object = json.loads(path.read_text(encoding="utf-8"))
        validate(data)
    except (OSError, ValueError, jsonschema.ValidationError):
        return None
    if not isinstance(data, dict):
        return None
    result = cast(Result, data)  # valid against the schema, which `Result` follows
    for test in result["tests"]:
        test["status"] = Status(test["status"])
    return result


def iter_results(out: Path) -> Iterator[Result]:
    """Every valid result in an output folder, by file name, one at a time (a class of any
    size is never held in memory at once). Only ``<stem>.json`` files are read: a result's
    stem holds no dot, so Gradescope files and temporary files are never taken for one."""
    for path in sorted(out.glob("*.json")):
        if path.name.count(".") != 1 or path.name.startswith("."):
            continue
        loaded = load(path)
        if loaded is not None:
            yield loaded


def load_all(out: Path) -> list[Result]:
    """Every valid result in an output folder, by student id."""
    return list(iter_results(out))
