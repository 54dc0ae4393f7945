"""Do the typed results (`grader.engine.result_types`) and the result schema say the same thing?

A result the grader writes must validate against ``result.v1.json``, and every key of the
typed dictionaries must be a property of the schema with the same type and the same
required-ness (and the other way round), so that neither can change without the other.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from grader.authoring.misconceptions import Diagnosis
from grader.course.config import Course
from grader.engine import result_types, results
from grader.engine.result_types import (
    Result,
    ResultDiagnosis,
    ResultModule,
    ResultTest,
    Status,
    Visibility,
)
from grader.engine.runner import ERROR, FAILED, PASSED, TIMEOUT, Outcome


def _schema_of(path: str) -> dict[str, Any]:
    """The part of the schema at ``path`` (``/``-separated keys from the top)."""
    node: dict[str, Any] = results.schema()
    for key in filter(None, path.split("/")):
        node = node[key]
    return node


#: each typed dictionary and the object of the schema it stands for
PAIRS = [
    (Result, ""),
    (ResultModule, "properties/modules/additionalProperties"),
    (ResultTest, "$defs/test"),
    (ResultDiagnosis, "$defs/test/properties/diagnosis"),
]


def _resolved(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return _schema_of(ref.removeprefix("#/")) if ref else node


def _matches(hint: Any, node: dict[str, Any]) -> bool:
    """Does the Python type ``hint`` accept exactly what the schema ``node`` accepts?"""
    node = _resolved(node)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        kinds = node.get("type")
        if not (isinstance(kinds, list) and "null" in kinds and type(None) in args):
            return False
        rest = [a for a in args if a is not type(None)]
        (kind,) = (k for k in kinds if k != "null")
        return len(rest) == 1 and _matches(rest[0], {**node, "type": kind})
    if "const" in node:
        return origin is typing.Literal and list(args) == [node["const"]]
    if "enum" in node:
        if isinstance(hint, type) and issubclass(hint, Status):
            return sorted(hint) == sorted(node["enum"])
        return origin is typing.Literal and sorted(args) == sorted(node["enum"])
    kind = node.get("type")
    if typing.is_typeddict(hint):
        return kind == "object" and _keys_match(hint, node) == []
    if kind == "array":
        return origin is list and _matches(args[0], node["items"])
    if kind == "object":
        return origin is dict and args[0] is str and _matches(args[1],
                                                              node["additionalProperties"])
    return {"string": str, "number": float, "integer": int, "boolean": bool}.get(kind) is hint


def _keys_match(typed: Any, node: dict[str, Any]) -> list[str]:
    """What differs between a typed dictionary and a schema object (empty: nothing)."""
    node = _resolved(node)
    hints = typing.get_type_hints(typed)
    problems = []
    if set(hints) != set(node["properties"]):
        problems.append(f"{typed.__name__} keys {sorted(hints)} != schema properties "
                        f"{sorted(node['properties'])}")
    if set(typed.__required_keys__) != set(node.get("required", [])):
        problems.append(f"{typed.__name__} required {sorted(typed.__required_keys__)} != "
                        f"schema required {sorted(node.get('required', []))}")
    if node.get("additionalProperties") is not False:
        problems.append(f"the schema of {typed.__name__} allows other properties")
    shared = sorted(set(hints) & set(node["properties"]))
    problems += [f"{typed.__name__}.{key}: {hints[key]} does not match the schema's "
                 f"{node['properties'][key]}" for key in shared
                 if not _matches(hints[key], node["properties"][key])]
    return problems


@pytest.mark.parametrize(("typed", "path"), PAIRS, ids=[t.__name__ for t, _ in PAIRS])
def test_is_every_typed_key_a_schema_property_and_the_other_way_round(typed: Any,
                                                                       path: str) -> None:
    """Same keys, same required keys, same types, no other property allowed."""
    assert _keys_match(typed, _schema_of(path)) == []


def test_does_the_drift_check_see_a_difference() -> None:
    """Negative control: a typed dictionary with a key too many, one missing, one optional
    that the schema requires, or one of another type is caught."""

    class Extra(ResultModule):
        bonus: float

    class Score(typing.TypedDict):
        score: str

    class Wrong(Score, total=False):  # (NotRequired would be lost in string annotations)
        max_score: float

    node = _schema_of("properties/modules/additionalProperties")
    assert _keys_match(Extra, node)
    problems = _keys_match(Wrong, node)
    assert any("required" in p for p in problems)
    assert any("Wrong.score" in p for p in problems)


def test_are_the_statuses_and_visibilities_those_of_the_schema() -> None:
    test = _schema_of("$defs/test/properties")
    assert [s.value for s in Status] == test["status"]["enum"]
    assert (PASSED, FAILED, ERROR, TIMEOUT) == tuple(Status)
    assert list(typing.get_args(Visibility)) == test["visibility"]["enum"]


def test_does_a_status_read_and_write_as_its_plain_string() -> None:
    """The enum changes no byte of a result: JSON, str and format give the plain word."""
    assert json.dumps({"status": Status.TIMEOUT}) == '{"status": "timeout"}'
    assert str(Status.FAILED) == f"{Status.FAILED}" == "failed" == Status.FAILED
    assert f"{Status.ERROR.upper():<7}|" == "ERROR  |"


def test_does_a_written_result_validate_and_hold_only_typed_keys(toy_course: Course,
                                                                 tmp_path: Path) -> None:
    """A result written by the grader (every optional key given): valid against the schema
    as read from disk, every key declared by the typed dictionaries, and read back equal,
    with its statuses as `Status` again."""
    passed, failed = toy_course.collect(hidden=True)
    outcomes = [Outcome(passed, PASSED, "", None, 0.125),
                Outcome(failed, FAILED, "differs", Diagnosis("k", "Title", "Fix it."), 0.5)]
    built = results.build(toy_course, "alice", outcomes, errors=["a note"], source="in/alice",
                          seconds=1.5, files={"toy.py": "toy.py"}, files_digest="ab" * 32,
                          attempts=["network: connect 10.0.0.1:80 blocked"])
    path = results.result_path(tmp_path, "alice")
    results.write(built, path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(results.schema(),
                                    format_checker=jsonschema.FormatChecker()).validate(raw)
    assert set(raw) == set(typing.get_type_hints(Result))
    for test in raw["tests"]:
        assert set(test) == set(typing.get_type_hints(ResultTest))
    assert set(raw["tests"][1]["diagnosis"]) == set(typing.get_type_hints(ResultDiagnosis))
    for module in raw["modules"].values():
        assert set(module) == set(typing.get_type_hints(ResultModule))
    loaded = results.load(path)
    assert loaded == built
    assert loaded is not None and all(type(t["status"]) is Status for t in loaded["tests"])


def test_is_result_still_importable_from_results() -> None:
    assert results.Result is result_types.Result
