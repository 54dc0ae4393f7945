"""The self-test's table (`grader.engine.selftest`): its rows, its report, and how a grading
is compared with another."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grader.engine.feedback import explain
from grader.engine.runner import Outcome

__all__ = ["EPSILON", "Row", "SelfTestReport", "Signature", "difference", "for_author", "line",
           "signature", "some"]

#: points closer than this are equal
EPSILON = 1e-9
#: a test's result as compared between two gradings: (id, status, points, feedback)
Signature = list[tuple[str, str, float, str]]


@dataclass(frozen=True)
class Row:
    """One check of the self-test: what was checked, whether it held, and why.

    Attributes
    ----------
    check : str
        What was checked (``"reference: full marks"``, ``"mutant activations-0-overflow"``).
    passed : bool
        Whether it held.
    reason : str
        One line: the evidence, or the cause of the failure.
    """

    check: str
    passed: bool
    reason: str

    def render(self, width: int = 44) -> str:
        """The row as a line of the table: ``PASS  check  reason``."""
        return f"{'PASS' if self.passed else 'FAIL'}  {self.check:<{width}} {self.reason}"


@dataclass(frozen=True)
class SelfTestReport:
    """Every check of one self-test, in order.

    Attributes
    ----------
    course : str
        The course's name.
    ids : int
        How many student ids the reference was graded for.
    rows : tuple of Row
        The checks.
    """

    course: str
    ids: int
    rows: tuple[Row, ...]

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(row.passed for row in self.rows)

    def summary(self) -> str:
        """The last line: how many checks passed and failed."""
        failed = sum(not row.passed for row in self.rows)
        return (f"{len(self.rows) - failed} of {len(self.rows)} checks passed"
                + (f", {failed} FAILED" if failed else ""))

    def render(self) -> str:
        """The whole table, then the summary."""
        return "\n".join([*(row.render() for row in self.rows), self.summary()])


def signature(outcomes: Sequence[Outcome]) -> Signature:
    """What must not change between two gradings: each test's status, points and feedback."""
    return [(o.spec.test_id, o.status.value, o.score, explain(o)) for o in outcomes]


def difference(a: tuple[str, str, float, str], b: tuple[str, str, float, str]) -> str:
    """How one test's two gradings differ."""
    if a[1:3] != b[1:3]:
        return f"{a[0]} was {a[1]} ({a[2]:g} points), then {b[1]} ({b[2]:g} points)"
    return f"{a[0]}'s feedback changed: {line(a[3])!r} then {line(b[3])!r}"


def for_author(outcome: Outcome) -> str:
    """One line on a test that did not pass, for the course's author: what to change in the
    test where the grader can name it (`grader.engine.runner.Outcome.author_note`), else the
    first line of its feedback (never the students' "tell your instructor")."""
    return outcome.author_note or line(explain(outcome))


def line(text: str, width: int = 160) -> str:
    """The first line of ``text``, cut to ``width`` characters."""
    first = text.strip().partition("\n")[0]
    return first if len(first) <= width else first[: width - 3] + "..."


def some(items: Sequence[str], what: str, shown: int = 3) -> str:
    """The first ``shown`` items, and how many more."""
    more = len(items) - shown
    return "; ".join(items[:shown]) + (f" (and {more} more {what})" if more > 0 else "")
