"""What each mutant of a course (`grader.course.mutants`) must do under the course's own tests,
for ``grader selftest`` (`grader.engine.selftest`): lose points in its own function and in no
other (but those its ``also_costs`` names, each of which must lose points), fail the hidden test
it names, be named there by its misconception's title (``title_in_feedback``), and fail a
public check of its function."""

from __future__ import annotations

from collections.abc import Sequence, Set
from pathlib import Path

from grader.authoring.misconceptions import Catalogue
from grader.course.config import Course, CourseError
from grader.course.mutants import Mutant
from grader.engine.feedback import explain
from grader.engine.runner import PASSED, Outcome
from grader.engine.selftest_rows import EPSILON, Row, Signature, for_author, line, signature
from grader.engine.trusted import TrustedGrader

__all__ = ["check_mutant"]


def check_mutant(grader: TrustedGrader, mutant: Mutant, folder: Path, student: str,
                 catalogue: Catalogue) -> tuple[Row, Signature | None]:
    """One mutant's row: injected into a copy of the reference in ``folder``, graded for
    ``student`` and checked; and the signature of its grading (None when it could not be
    graded).

    Parameters
    ----------
    grader : TrustedGrader
        Grades the copy in this process.
    mutant : Mutant
        The mistake.
    folder : Path
        Where the mutated copy of the reference is written (a new folder).
    student : str
        The student id that seeds its hidden tests.
    catalogue : Catalogue
        The course's misconceptions (the mutant's key must be one).

    Returns
    -------
    row : Row
    signature : Signature or None
    """
    course, name = grader.course, f"mutant {mutant.name}"
    problem = _mutant_problem(course, mutant, catalogue, {s.test_id for s in grader.hidden})
    if problem:
        return Row(name, False, problem), None
    try:
        mutant.write(course.solutions, folder)
        outcomes = grader.grade(folder, student)
        checks = grader.check(folder, [mutant.module])
    except (CourseError, OSError) as exc:  # the old text is gone, it does not import...
        return Row(name, False, str(exc)), None
    return _mutant_row(mutant, outcomes, checks, catalogue), signature(outcomes)


def _mutant_problem(course: Course, mutant: Mutant, catalogue: Catalogue,
                    tests: Set[str]) -> str:
    """Why the mutant cannot be graded as it is declared ("" when it can)."""
    def contract(function: str) -> bool:
        module, _, name = function.partition(".")
        return module in course.modules and name in course.functions(module)

    own = f"{mutant.module}.{mutant.function}"
    if not contract(own):
        return f"{own} is not a contract function of the course"
    stray = [f for f in mutant.also_costs if not contract(f)]
    if stray:
        return f"also_costs names {', '.join(stray)}: not a contract function"
    if mutant.key not in catalogue:
        return f"its key {mutant.key!r} is not a misconception of the course's catalogue"
    if mutant.test and f"{mutant.module}::{mutant.test}" not in tests:
        return f"it names the test {mutant.module}::{mutant.test}, which is not a hidden test"
    return ""


def _mutant_row(mutant: Mutant, outcomes: Sequence[Outcome], checks: Sequence[Outcome],
                catalogue: Catalogue) -> Row:
    """What the mutant's grading and checks say of it."""
    own = f"{mutant.module}.{mutant.function}"
    lost: dict[str, float] = {}
    for o in outcomes:
        key = f"{o.spec.module}.{o.spec.function}"
        lost[key] = lost.get(key, 0.0) + o.spec.points - o.score
    problems = [f"{f} loses {p:g} points too" for f, p in lost.items()
                if f != own and f not in mutant.also_costs and p > EPSILON]
    told: set[str] = set()  # the tests at fault already named
    if lost.get(own, 0.0) <= EPSILON:
        broken = [o for o in outcomes if _function(o) == own and o.grader_error]
        told.update(o.spec.test_id for o in broken)
        problems.insert(0, f"loses no points: {_at_fault(broken)}" if broken
                        else f"loses no points: every hidden test of {own} passes")
    problems += [f"also_costs names {f}, which loses no points" for f in mutant.also_costs
                 if lost.get(f, 0.0) <= EPSILON]
    test_id = f"{mutant.module}::{mutant.test}" if mutant.test else None
    meant = [o for o in outcomes if o.status != PASSED and not o.grader_error and (
        o.spec.test_id == test_id if test_id else _function(o) == own)]
    if test_id is not None and not meant and test_id not in told:
        target = [o for o in outcomes if o.spec.test_id == test_id and o.grader_error]
        problems.append(f"the test meant to catch it, {_at_fault(target)}" if target
                        else f"{test_id}, the test meant to catch it, passes")
    title = catalogue[mutant.key].title
    if mutant.title_in_feedback and not any(title in explain(o) for o in meant):
        said = f" (it says: {line(explain(meant[0]))})" if meant else ""
        problems.append(f"its title {title!r} is not in the feedback of "
                        f"{test_id or 'a test of ' + own}{said}")
    failed_check = next((o for o in checks if _function(o) == own
                         and o.status != PASSED and not o.grader_error), None)
    if failed_check is None:
        mine = [o for o in checks if _function(o) == own]
        faulty = [o for o in mine if o.grader_error]
        problems.append(f"fails no public check of {own}: {_at_fault(faulty)}" if faulty else
                        f"passes every public check of {own}" if mine else
                        f"{own} has no public check to fail")
    name = f"mutant {mutant.name}"
    if problems or failed_check is None:
        return Row(name, False, "; ".join(problems))
    named = next((f"; named in {o.spec.test_id}" for o in meant if mutant.title_in_feedback
                  and title in explain(o)), "")
    also = "".join(f", {lost[f]:g} in {f} (also_costs)" for f in mutant.also_costs)
    return Row(name, True, f"loses {lost[own]:g} points in {own}{also or ' only'}{named}; "
                           f"fails {failed_check.spec.test_id}")


def _function(outcome: Outcome) -> str:
    """The function a test grades, as ``module.function``."""
    return f"{outcome.spec.module}.{outcome.spec.function}"


def _at_fault(broken: Sequence[Outcome]) -> str:
    """Tests that failed through their own fault (grader errors, which give their points and
    so hide a mutant) named, and the first one's cause."""
    names = ", ".join(o.spec.test_id for o in broken)
    said = for_author(broken[0]).rstrip(".")
    if len(broken) == 1:
        return f"{names} is at fault itself, a grader error ({said})"
    return f"{names} are at fault themselves, grader errors ({said})"
