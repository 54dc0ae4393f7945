"""``grader selftest``: can a course's author trust its own tests?

It grades the course's own code and checks, for any course:

1. the reference (``solutions/``) scores full marks on every hidden test for N student ids
   (``selftest-0`` ...), and passes every public check;
2. the stubs (``exercises/``) score 0, every hidden test failed as "not implemented"
   (``NotImplementedError``);
3. every contract function has at least one public check and at least one hidden test, and the
   hidden tests grade only contract functions;
4. the points of the hidden tests add up to ``course.toml``'s ``[points]`` table, where it has
   one (``"module.function"`` keys for a function, ``"module"`` keys for a whole module);
5. each mutant of ``mutants/`` (`grader.course.mutants`) loses points in its own function and
   in no other (but those its ``also_costs`` names, each of which must lose points), fails
   the hidden test it names, is named there by its misconception's title (where it says
   ``title_in_feedback``), and fails a public check of its function;
6. grading twice gives the same scores and feedback, test by test (the reference, the stubs
   and the first mutant of each module, each imported afresh).

The reference, stubs and mutants are the author's own, trusted code: they are graded in this
process (`grader.engine.trusted.TrustedGrader`) and in forked copies of it
(`grader.util.forked`), not in the sandbox, which would cost a fresh sandbox per submission;
the self-test of this repository's course (89 mutants, 20 ids) takes well under a minute.
Students' code never goes through here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from grader.course.config import Course, CourseError, TestSpec
from grader.course.mutants import MutantError, load_mutants
from grader.course.points import listing, mistakes
from grader.engine.runner import PASSED
from grader.engine.selftest_mutants import check_mutant
from grader.engine.selftest_rows import (
    Row,
    SelfTestReport,
    Signature,
    difference,
    for_author,
    signature,
    some,
)
from grader.engine.trusted import TrustedGrader
from grader.util.forked import forked_map

__all__ = ["DEFAULT_IDS", "STUDENT_PREFIX", "Row", "SelfTestReport", "selftest"]

DEFAULT_IDS = 20
STUDENT_PREFIX = "selftest-"


def selftest(course: Course, *, ids: int = DEFAULT_IDS, jobs: int = 1,
             progress: Callable[[Row], None] | None = None) -> SelfTestReport:
    """Check the course's own tests against its reference, stubs and mutants.

    Parameters
    ----------
    course : Course
        The course (with its solutions and hidden tests: not a student release).
    ids : int
        How many student ids the reference is graded for (``selftest-0`` ...), at least 1.
    jobs : int
        How many forked copies of this process grade at once (`grader.util.forked`).
    progress : callable, optional
        Called with each row as soon as it is known.

    Returns
    -------
    SelfTestReport
        Its ``ok`` is True when every check passed.

    Raises
    ------
    CourseError
        ``ids`` is below 1. A course whose checks, hidden tests or reference do not load
        gives a report of one failed row, "course files load", saying why.
    """
    if ids < 1:
        raise CourseError(f"--ids must be at least 1, not {ids}")
    rows: list[Row] = []

    def add(*new: Row) -> None:
        for row in new:
            rows.append(row)
            if progress is not None:
                progress(row)

    try:
        grader = TrustedGrader(course)
    except CourseError as exc:  # its checks, tests or reference do not load: nothing to run
        lines = [text.strip() for text in str(exc).splitlines() if text.strip()]
        add(Row("course files load", False, " ".join([*lines[:1], "; ".join(lines[1:])])))
        return SelfTestReport(course.name, ids, tuple(rows))
    students = [f"{STUDENT_PREFIX}{i}" for i in range(ids)]
    first: dict[str, Signature] = {}  # the first grading of what is graded twice
    again = {"reference": course.solutions, "stubs": course.exercises}
    with tempfile.TemporaryDirectory(prefix="grader-selftest-") as work:
        add(*_reference(grader, students, first, jobs))
        add(_stubs(grader, students[0], first))
        add(*_coverage(course, grader.hidden, grader.public))
        add(_points(course))
        try:
            mutants = load_mutants(course.root)
        except MutantError as exc:
            add(Row("mutants", False, str(exc)))
            mutants = []
        else:
            if not mutants:
                add(Row("mutants", True, "none declared (mutants/ of the course folder)"))
        catalogue = course.catalogue()
        folders = [Path(work) / m.name for m in mutants]
        rows_and_signatures = forked_map(
            lambda i: check_mutant(grader, mutants[i], folders[i], students[0], catalogue),
            range(len(mutants)), jobs)
        for mutant, folder, (row, signature) in zip(mutants, folders, rows_and_signatures,
                                                    strict=True):
            add(row)
            if signature is not None and mutant.module not in {
                    m.module for m in mutants if m.name in first}:
                first[mutant.name], again[mutant.name] = signature, folder
        add(_repeatable(grader, again, students[0], first, jobs))
    return SelfTestReport(course.name, ids, tuple(rows))


# -- the checks -----------------------------------------------------------------------------------
def _reference(grader: TrustedGrader, students: Sequence[str],
               first: dict[str, Signature], jobs: int) -> list[Row]:
    """Full marks for every id; every public check passed."""
    course = grader.course
    total = sum(s.points for s in grader.hidden)

    def graded(student: str) -> tuple[Signature, list[str]]:
        outcomes = grader.grade(course.solutions, student)
        return signature(outcomes), [f"{o.spec.test_id} fails for {student}: "
                                      f"{for_author(o)}" for o in outcomes
                                      if o.status != PASSED]

    results = list(forked_map(graded, students, jobs))
    first["reference"] = results[0][0]
    failures = [failure for _, some in results for failure in some]
    full = (Row("reference: full marks", False, some(failures, "failures"))
            if failures else
            Row("reference: full marks", True, f"{len(students)} ids x {len(grader.hidden)} "
                                               f"tests: {total:g}/{total:g} points each"))
    checks = grader.check(course.solutions, course.modules)
    failed = [f"{o.spec.test_id}: {for_author(o)}" for o in checks if o.status != PASSED]
    checked = (Row("reference: passes every public check", False, some(failed, "failures"))
               if failed else
               Row("reference: passes every public check", True, f"{len(checks)} checks"))
    return [full, checked]


def _stubs(grader: TrustedGrader, student: str, first: dict[str, Signature]) -> Row:
    """0 points, every test failed as not implemented."""
    name = "stubs: 0 points, all not implemented"
    try:
        outcomes = grader.grade(grader.course.exercises, student)
    except CourseError as exc:
        return Row(name, False, f"the stubs cannot be imported: {exc}")
    first["stubs"] = signature(outcomes)
    wrong = [f"{o.spec.test_id} {'passes' if o.status == PASSED else o.status.value}"
             f"{'' if o.status == PASSED else ' without NotImplementedError'}: "
             f"{for_author(o) or 'no feedback'}"
             for o in outcomes if o.status == PASSED or not o.not_implemented]
    score = sum(o.score for o in outcomes)
    if wrong:
        return Row(name, False, f"{score:g} points; " + some(wrong, "tests"))
    return Row(name, True, f"{len(outcomes)} tests failed as not implemented")


def _coverage(course: Course, hidden: Sequence[TestSpec],
              public: Sequence[TestSpec]) -> list[Row]:
    """A public check and a hidden test for every contract function; no hidden test of
    anything else."""
    contract = [f"{m}.{f}" for m in course.modules for f in course.functions(m)]
    rows = []
    for kind, specs in (("public check", public), ("hidden test", hidden)):
        covered = {f"{s.module}.{s.function}" for s in specs}
        missing = [f for f in contract if f not in covered]
        stray = ([f"{s.test_id} grades {s.module}.{s.function}, not a contract function"
                  for s in specs if f"{s.module}.{s.function}" not in contract]
                 if kind == "hidden test" else [])
        problems = [f"{f} has no {kind}" for f in missing] + stray
        rows.append(Row(f"every function has a {kind}", not problems,
                        some(problems, "problems") if problems else
                        f"{len(contract)} functions, {len(specs)} {kind}s"))
    return rows


def _points(course: Course) -> Row:
    """The hidden tests' points against ``course.toml``'s ``[points]``."""
    name = "points add up to course.toml"
    points = listing(course)
    total = sum(sum(f.values()) for f in points.values())
    modules = ", ".join(f"{m} {sum(f.values()):g}" for m, f in points.items())
    if not course.points:
        return Row(name, True, f"no [points] table; the hidden tests give {total:g} "
                               f"({modules})")
    problems = mistakes(course, points)
    if problems:
        return Row(name, False, some(problems, "problems"))
    return Row(name, True, f"{len(course.points)} entries of [points] match; {total:g} in all")


def _repeatable(grader: TrustedGrader, graded: Mapping[str, Path], student: str,
                first: Mapping[str, Signature], jobs: int) -> Row:
    """The same scores and feedback when graded again (``graded``: the folders to grade
    again, by their key in ``first``, the first grading's signatures)."""
    name = "graded twice: same results"
    keys = [key for key in graded if key in first]

    def again(key: str) -> Signature | str:
        try:
            return signature(grader.grade(graded[key], student))
        except CourseError as exc:
            return f"the second grading failed: {exc}"

    differences = []
    for key, after in zip(keys, forked_map(again, keys, jobs), strict=True):
        if isinstance(after, str):
            differences.append(f"{key}: {after}")
            continue
        differences += [f"{key}: {difference(a, b)}"
                        for a, b in zip(first[key], after, strict=True) if a != b]
    if differences:
        return Row(name, False, some(differences, "differences"))
    return Row(name, True, f"{', '.join(keys)} ({student}): identical, test by test")
