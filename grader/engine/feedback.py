"""Feedback text: how outcomes read to a student, per test and per function."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from grader.engine.result_types import Status
from grader.engine.runner import ERROR, FAILED, PASSED, TIMEOUT, Outcome

INDENT = "      "
#: how a function's checks went: a test's status, or one of these three
SummaryStatus = Status | Literal["not implemented", "no checks", "grader error"]


def explain(outcome: Outcome) -> str:
    """The full feedback of one failed test: the explained difference, then the diagnosis."""
    parts = [outcome.feedback.strip()] if outcome.feedback.strip() else []
    d = outcome.diagnosis
    if d is not None and d.key != "not_implemented":
        parts.append(f"Likely mistake: {d.title}. {d.message}".strip())
    return "\n".join(parts)


@dataclass(frozen=True)
class FunctionSummary:
    """The outcomes of one function's checks, summarised."""

    module: str
    function: str
    outcomes: tuple[Outcome, ...]

    @property
    def status(self) -> SummaryStatus:
        """``passed``, ``not implemented``, ``failed``, ``error``, ``timeout``, ``grader
        error`` (only checks at fault themselves failed) or ``no checks``."""
        if not self.outcomes:
            return "no checks"
        if all(o.status == PASSED for o in self.outcomes):
            return PASSED
        if any(o.not_implemented for o in self.outcomes):
            return "not implemented"
        for status in (TIMEOUT, ERROR, FAILED):
            if any(o.status == status and not o.grader_error for o in self.outcomes):
                return status
        return "grader error"

    def render(self, width: int = 26) -> str:
        """One line for the function, then the explanation of its first failing check (one
        the student can act on before one at fault itself)."""
        labels = {PASSED: "passed", "not implemented": "not implemented yet",
                  FAILED: "FAILED", ERROR: "ERROR", TIMEOUT: "TIMEOUT",
                  "no checks": "no public checks",
                  "grader error": "GRADER ERROR (a check is at fault, not your code)"}
        status = self.status
        line = f"  {self.function:<{width}} {labels[status]}"
        if status == PASSED:
            n = len(self.outcomes)
            return line + f" ({n} check{'' if n == 1 else 's'})"
        if status in ("not implemented", "no checks"):
            return line
        failing = sorted((o for o in self.outcomes if o.status != PASSED),
                         key=lambda o: o.grader_error)
        body = f"check: {failing[0].spec.name}\n{explain(failing[0])}"
        return line + "\n" + textwrap.indent(body, INDENT)


def summarise(
    module: str, functions: Sequence[str], outcomes: Sequence[Outcome]
) -> list[FunctionSummary]:
    """Group outcomes by function, in the contract's function order."""
    return [FunctionSummary(module, f, tuple(o for o in outcomes if o.spec.function == f))
            for f in functions]
