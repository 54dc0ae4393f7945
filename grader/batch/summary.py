"""What ``grader grade`` prints when it is done: `BatchReport`, the outcome of one run.

The summary describes the whole output folder, not only the submissions of this run: after
one new student is graded into a folder of four results it says five results, how many were
graded now and how many kept, and its mean, per-module means (each with the module's
maximum) and misconceptions (each with the students who have it) are over all five, as the
gradebook is. Student ids reach the terminal only through `grader.util.inert`.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.jobs import Graded
from grader.util import inert

__all__ = ["MISCONCEPTIONS_SHOWN", "STUDENTS_SHOWN", "BatchReport"]

#: misconceptions listed in the summary, and students named for each (then "and N more")
MISCONCEPTIONS_SHOWN, STUDENTS_SHOWN = 8, 5


@dataclass
class BatchReport:
    """The outcome of ``grader grade``.

    Attributes
    ----------
    graded : list of Graded
        This run's submissions: graded now, or kept because their files are unchanged.
    failures : list of str
        Submissions that got no result, as ``"<student>: <why>"``.
    new, changed : int
        Students graded for the first time, and regraded because their files changed.
    forced : bool
        Whether every student was regraded (``--force``).
    grader_errors : dict of str to list of str
        Tests that failed through their own fault (`grader.engine.runner`), by id, with the
        students of this run whose results say so.
    retried : int
        Results regraded for holding a grader error (one is never kept).
    folder : list of Graded
        Every result in the output folder once the run is over (this run's and earlier
        runs'); empty when unknown, and then the summary is of this run's alone.
    out : Path or None
        The output folder.
    """

    graded: list[Graded] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    new: int = 0
    changed: int = 0
    forced: bool = False
    grader_errors: dict[str, list[str]] = field(default_factory=dict)
    retried: int = 0
    folder: list[Graded] = field(default_factory=list)
    out: Path | None = None

    @property
    def ok(self) -> bool:
        """True when every submission got a result and no test failed through its own
        fault."""
        return not self.failures and not self.grader_errors

    def render(self, modules: Sequence[str]) -> str:
        """The instructor's summary (student text made safe for a terminal).

        Parameters
        ----------
        modules : sequence of str
            The course's modules, in the order their means are listed.

        Returns
        -------
        str
            This run's counts (new, regraded and why, kept), what the output folder holds,
            the mean, median, minimum and maximum over it, each module's mean and maximum,
            the misconceptions with the students who have them, attempts, stuck gradings,
            grader errors and failures.
        """
        return inert.terminal("\n".join([*self._run_lines(), *self._folder_lines(modules),
                                         *self._problem_lines()]))

    def _run_lines(self) -> list[str]:
        kept = sum(g.skipped for g in self.graded)
        count = len(self.graded)
        head = f"graded: {count} submission{'' if count == 1 else 's'}: "
        if self.forced:
            return [head + f"{count - kept} regraded (--force)"]
        retried = (f", {self.retried} regraded (grader errors before)" if self.retried
                   else "")
        return [head + f"{self.new} new, {self.changed} regraded (files changed), {kept} kept "
                "(files unchanged)" + retried]

    def _folder_lines(self, modules: Sequence[str]) -> list[str]:
        shown = self.folder or self.graded
        if not shown:
            return []
        lines = []
        if self.folder:
            now = sum(not g.skipped for g in self.graded)
            ours = {g.student for g in self.graded}
            earlier = sum(g.student not in ours for g in self.folder)
            kept = len(self.folder) - now
            where = f" {self.out}" if self.out is not None else ""
            detail = ", ".join([*([f"{kept - earlier} unchanged"] if kept - earlier else []),
                                *([f"{earlier} from earlier runs, not given now"] if earlier
                                  else [])])
            lines.append(f"output folder{where}: {len(self.folder)} "
                         f"result{'' if len(self.folder) == 1 else 's'}: {now} graded now, "
                         f"{kept} kept" + (f" ({detail})" if kept else ""))
        scores = [g.score for g in shown]
        top = max(g.max_score for g in shown)
        lines.append(f"mean: {statistics.fmean(scores):.2f} / {top:g}   "
                     f"median: {statistics.median(scores):g}   "
                     f"min: {min(scores):g}   max: {max(scores):g}   "
                     f"(all {len(shown)} result{'' if len(shown) == 1 else 's'})")
        lines.append("per module (mean / max):")
        for module in modules:
            values = [g.modules.get(module, 0.0) for g in shown]
            most = max(g.maxima.get(module, 0.0) for g in shown)
            lines.append(f"  {module:<16} {statistics.fmean(values):6.2f} / {most:g}")
        lines += _misconception_lines(shown)
        return lines

    def _problem_lines(self) -> list[str]:
        lines = []
        tried = sorted((g for g in self.graded if g.attempts), key=lambda g: -g.attempts)
        if tried:
            lines.append("attempts blocked: " + ", ".join(
                f"{inert.one_line(g.student)} ({g.attempts})" for g in tried))
        stuck = [inert.one_line(g.student) for g in self.graded if g.stuck]
        if stuck:
            lines.append("grading stopped (replaced the worker): " + ", ".join(stuck))
        for test_id, students in self.grader_errors.items():
            lines.append(f"GRADER ERROR: the test {test_id} failed through its own fault for "
                         f"{len(students)} student{'' if len(students) == 1 else 's'} "
                         f"({_names(students)}); they keep its points. Fix the test (each "
                         "result's feedback says what went wrong) and grade again: those "
                         "results are regraded")
        for failure in self.failures:
            lines.append(f"GRADER FAILURE: {failure}")
        return lines


def _misconception_lines(shown: Sequence[Graded]) -> list[str]:
    """The most common misconceptions, each with how many students have it and who."""
    who: dict[tuple[str, str], list[str]] = {}
    for graded in shown:
        for found in set(graded.misconceptions):
            who.setdefault(found, []).append(graded.student)
    if not who:
        return []
    counts = Counter({found: len(students) for found, students in who.items()})
    lines = ["most common misconceptions (how many students, who):"]
    for found, n in counts.most_common(MISCONCEPTIONS_SHOWN):
        lines.append(f"  {n:>4}  {found[1]}: {_names(sorted(who[found]))}")
    if len(counts) > MISCONCEPTIONS_SHOWN:
        lines.append(f"        and {len(counts) - MISCONCEPTIONS_SHOWN} more misconceptions "
                     "(`grader report` shows them)")
    return lines


def _names(students: Sequence[str]) -> str:
    """The first `STUDENTS_SHOWN` students, one line each, then "and N more"."""
    shown = ", ".join(inert.one_line(s) for s in students[:STUDENTS_SHOWN])
    rest = len(students) - STUDENTS_SHOWN
    return shown + (f" and {rest} more" if rest > 0 else "")
