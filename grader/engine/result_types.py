"""The shapes of a result: typed dictionaries matching ``schema/result.v1.json``, and the
statuses a test can end in.

A result is plain JSON data (it is written, read back, sent between processes), so it is typed
with ``TypedDict`` rather than a class: a key the schema makes optional is ``NotRequired``
here. ``tests/test_results.py`` checks that these keys and the schema's properties are the same,
so the two cannot drift apart.

This module does not use ``from __future__ import annotations``: ``TypedDict`` reads
``NotRequired`` from evaluated annotations only (with string annotations, Python 3.11 would
take every key as required).
"""

from enum import StrEnum
from typing import Literal, NotRequired, TypedDict

from grader.authoring.markers import Visibility

__all__ = ["Result", "ResultDiagnosis", "ResultModule", "ResultTest", "Status", "Visibility"]


class Status(StrEnum):
    """How one test ended. Each member is its own value as a string (``Status.PASSED ==
    "passed"``), so results and feedback read exactly as plain strings would."""

    PASSED = "passed"
    """At least one expectation recorded and none failed."""
    FAILED = "failed"
    """A wrong result, or not implemented yet."""
    ERROR = "error"
    """The student's code raised, crashed or is missing (or the test could not judge it); or,
    for a test the result lists in ``grader_errors``, the test itself is at fault and the
    student keeps its points (`grader.engine.runner`)."""
    TIMEOUT = "timeout"
    """The student's code ran past a deadline."""


class ResultDiagnosis(TypedDict):
    """The misconception a failed test recognised (``$defs.test.properties.diagnosis``)."""

    key: str
    title: str
    message: str


class ResultTest(TypedDict):
    """One hidden test of one contract function (``$defs.test``)."""

    id: str
    name: str
    module: str
    function: str
    score: float
    max_score: float
    status: Status
    visibility: Visibility
    feedback: str
    diagnosis: NotRequired[ResultDiagnosis | None]
    seconds: NotRequired[float]


class ResultModule(TypedDict):
    """Points earned and available in one course module (``modules``' values)."""

    score: float
    max_score: float


class Result(TypedDict):
    """The graded result of one submission: the whole of ``result.v1.json``."""

    schema_version: Literal[1]
    student: str
    assignment: str
    grader_version: str
    graded_at: str
    score: float
    max_score: float
    modules: dict[str, ResultModule]
    tests: list[ResultTest]
    errors: list[str]
    source: NotRequired[str]
    seconds: NotRequired[float]
    files: NotRequired[list[str]]
    files_digest: NotRequired[str]
    attempts: NotRequired[list[str]]
    grader_errors: NotRequired[list[str]]
    """The ids of the tests that failed through their own fault (status ``error``, full
    points): written on every result, empty when none did; a result written before the key
    existed lacks it (read it with `grader.engine.results.grader_errors`)."""
