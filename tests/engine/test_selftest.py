"""``grader selftest`` on the second course (tests/fixtures/stats_course): it passes on the
course as it is, and fails, naming the cause, on a copy with each mistake a course author can
make (each test copies the course into tmp_path and edits one file)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.course.config import load_course
from grader.engine.selftest import SelfTestReport, selftest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "stats_course"
MEAN = "    return float(np.sum(x) / len(x))\n"
VARIANCE = "    return float(np.sum(centred * centred) / len(x))\n"


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A fresh copy of the second course."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "stats",
                                ignore=shutil.ignore_patterns("__pycache__")))


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` in ``path``."""
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def mutants(course: Path, *entries: str) -> None:
    """Make ``entries`` (Python dict literals) the course's only mutants."""
    (course / "mutants" / "moments.py").write_text(
        "MUTANTS = [\n" + ",\n".join(entries) + "\n]\n", encoding="utf-8")


def run(course: Path, ids: int = 3, jobs: int = 1) -> SelfTestReport:
    return selftest(load_course(course), ids=ids, jobs=jobs)


def failed(report: SelfTestReport) -> dict[str, str]:
    """The failed checks, each with its reason."""
    return {row.check: row.reason for row in report.rows if not row.passed}


def test_does_selftest_pass_on_the_second_course(course: Path) -> None:
    """Every check passes on the course as it is, its one mutant included."""
    report = run(course, ids=5)
    assert failed(report) == {}
    assert report.ok
    checks = [row.check for row in report.rows]
    assert checks == [
        "reference: full marks", "reference: passes every public check",
        "stubs: 0 points, all not implemented", "every function has a public check",
        "every function has a hidden test", "points add up to course.toml",
        "mutant moments-0-scaled_by_constant", "graded twice: same results"]
    reasons = {row.check: row.reason for row in report.rows}
    assert reasons["reference: full marks"] == "5 ids x 2 tests: 10/10 points each"
    assert "loses 6 points in moments.variance only" in reasons[
        "mutant moments-0-scaled_by_constant"]
    assert "moments::check_variance_known_value" in reasons[
        "mutant moments-0-scaled_by_constant"]
    assert report.render().splitlines()[-1] == "8 of 8 checks passed"


def test_does_a_reference_left_as_the_stub_fail_full_marks(course: Path) -> None:
    """A reference function that still raises NotImplementedError loses its points."""
    edit(course / "solutions" / "moments.py", VARIANCE,
         '    raise NotImplementedError("variance")\n')
    reasons = failed(run(course))
    assert "moments::test_variance_matches_reference fails for selftest-0" in reasons[
        "reference: full marks"]
    assert "not implemented" in reasons["reference: full marks"]


def test_does_a_reference_that_differs_from_itself_fail(course: Path) -> None:
    """A reference drawing unseeded random numbers loses points, and grades differently
    twice."""
    edit(course / "solutions" / "moments.py", MEAN,
         "    return float(np.sum(x) / len(x)) + 1e-3 * np.random.default_rng().normal()\n")
    reasons = failed(run(course))
    assert "moments::test_mean_matches_reference fails" in reasons["reference: full marks"]
    assert "reference: moments::test_mean_matches_reference" in reasons[
        "graded twice: same results"]


def test_does_a_stub_that_does_not_raise_fail(course: Path) -> None:
    """A stub returning a value instead of raising NotImplementedError is named."""
    edit(course / "exercises" / "moments.py", '    raise NotImplementedError("mean")\n',
         "    return 0.0\n")
    report = run(course)
    assert not report.ok
    [(check, reason)] = failed(report).items()
    if check == "course files load":  # the course's loading checks its stubs itself
        assert "moments.py:7: mean" in reason and "NotImplementedError" in reason, reason
    else:
        assert check == "stubs: 0 points, all not implemented"
        assert "moments::test_mean_matches_reference failed without NotImplementedError" in \
            reason


def test_does_a_stub_that_passes_a_test_fail(course: Path) -> None:
    """A stub that already holds the answer scores points: named, with the points."""
    edit(course / "exercises" / "moments.py", '    raise NotImplementedError("mean")\n',
         "    import numpy as np\n" + MEAN)
    [(check, reason)] = failed(run(course)).items()
    if check == "course files load":  # the course's loading checks its stubs itself
        assert "moments.py:7: mean" in reason and "NotImplementedError" in reason, reason
    else:
        assert check == "stubs: 0 points, all not implemented"
        assert reason.startswith("4 points; moments::test_mean_matches_reference passes")


def test_does_a_function_without_a_public_check_fail(course: Path) -> None:
    """Removing variance's only public check is named (and its mutant has none to fail)."""
    path = course / "checks" / "check_moments.py"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index('@public("variance")')], encoding="utf-8")
    reasons = failed(run(course))
    assert reasons["every function has a public check"] == \
        "moments.variance has no public check"
    assert "moments.variance has no public check to fail" in reasons[
        "mutant moments-0-scaled_by_constant"]


def test_does_a_function_without_a_hidden_test_fail(course: Path) -> None:
    """Removing variance's only hidden test is named."""
    path = course / "autograde_tests" / "test_moments.py"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index('@graded("variance"')], encoding="utf-8")
    reasons = failed(run(course))
    assert reasons["every function has a hidden test"] == "moments.variance has no hidden test"


def test_do_points_that_do_not_add_up_fail(course: Path) -> None:
    """A [points] table that disagrees with the hidden tests names the function."""
    with (course / "course.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[points]\n"moments.mean" = 4\n"moments.variance" = 5\n')
    reasons = failed(run(course))
    assert reasons == {"points add up to course.toml":
                       "moments.variance: the hidden tests give 6, [points] says 5"}


def test_do_points_per_module_that_add_up_pass(course: Path) -> None:
    """A [points] entry for a whole module is its functions' sum."""
    with (course / "course.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n[points]\nmoments = 10\n")
    report = run(course)
    assert report.ok, failed(report)
    assert "1 entries of [points] match; 10 in all" in report.render()


def test_do_points_for_no_function_fail(course: Path) -> None:
    """A [points] key naming nothing of the course, or a function it leaves out, is named."""
    with (course / "course.toml").open("a", encoding="utf-8") as toml:
        toml.write('\n[points]\n"moments.mean" = 4\n"moments.skew" = 6\n')
    reason = failed(run(course))["points add up to course.toml"]
    assert "[points] 'moments.skew' names no course module or function" in reason
    assert "moments.variance: the hidden tests give 6, [points] lists neither it nor moments" \
        in reason


def test_does_a_mutant_that_loses_no_points_fail(course: Path) -> None:
    """A 'mistake' that computes the same values loses nothing: named."""
    mutants(course, """{"key": "sum_instead_of_mean", "module": "moments", "function": "mean",
        "old": "float(np.sum(x) / len(x))", "new": "float(np.mean(x))"}""")
    reasons = failed(run(course))
    assert list(reasons) == ["mutant moments-0-sum_instead_of_mean"]
    reason = reasons["mutant moments-0-sum_instead_of_mean"]
    assert reason.startswith("loses no points: every hidden test of moments.mean passes")
    assert "passes every public check of moments.mean" in reason


def test_does_a_mutant_that_costs_another_function_fail(course: Path) -> None:
    """A wrong mean costs variance (which calls it, undeclared) too: named."""
    mutants(course, """{"key": "sum_instead_of_mean", "module": "moments", "function": "mean",
        "old": "float(np.sum(x) / len(x))", "new": "float(np.sum(x))"}""")
    reasons = failed(run(course))
    assert list(reasons) == ["mutant moments-0-sum_instead_of_mean"]
    assert reasons["mutant moments-0-sum_instead_of_mean"] == \
        "moments.variance loses 6 points too"


def test_does_also_costs_accept_a_declared_cost_and_only_a_true_one(course: Path) -> None:
    """also_costs names the other functions a mutant is known to cost; each must lose."""
    wrong_mean = """{"key": "sum_instead_of_mean", "module": "moments", "function": "mean",
        "old": "float(np.sum(x) / len(x))", "new": "float(np.sum(x))",
        "also_costs": ["variance"]}"""
    mutants(course, wrong_mean)
    report = run(course)
    assert report.ok, failed(report)
    assert "loses 4 points in moments.mean, 6 in moments.variance (also_costs)" in \
        report.render()
    mutants(course, """{"key": "scaled_by_constant", "module": "moments",
        "function": "variance", "old": "centred) / len(x))",
        "new": "centred) / (len(x) - 1))", "also_costs": ["mean"]}""")
    assert failed(run(course)) == {"mutant moments-0-scaled_by_constant":
                                   "also_costs names moments.mean, which loses no points"}


def test_is_a_mutant_named_in_the_feedback_where_it_says_so(course: Path) -> None:
    """title_in_feedback: the misconception's title must be in the named test's feedback."""
    mutants(course, """{"key": "sign_error", "module": "moments", "function": "variance",
        "old": "return float(np.sum(centred", "new": "return -float(np.sum(centred",
        "test": "test_variance_matches_reference", "title_in_feedback": True}""")
    report = run(course)
    assert report.ok, failed(report)
    assert "named in moments::test_variance_matches_reference" in report.render()
    edit(course / "mutants" / "moments.py", '"key": "sign_error"',
         '"key": "scaled_by_constant"')
    reason = failed(run(course))["mutant moments-0-scaled_by_constant"]
    assert reason.startswith("its title 'Off by a constant factor' is not in the feedback of "
                             "moments::test_variance_matches_reference (it says: ")


def test_does_a_mutant_row_name_a_test_that_errored_instead_of_passing(course: Path) -> None:
    """A NameError in the variance test gives its points to everyone (a grader error): the
    mutant row names the broken test and the error, not "every hidden test passes"."""
    edit(course / "autograde_tests" / "test_moments.py", "ctx.ref.variance(x)",
         "ctx.ref.variance(xx)")
    reasons = failed(run(course, ids=1))
    reason = reasons["mutant moments-0-scaled_by_constant"]
    assert reason.startswith("loses no points: moments::test_variance_matches_reference is "
                             "at fault itself, a grader error (the test raised NameError: "
                             "name 'xx' is not defined"), reason
    assert "every hidden test" not in reason and "the test meant to catch it" not in reason
    assert "moments::test_variance_matches_reference fails for selftest-0: the test raised " \
        "NameError" in reasons["reference: full marks"]


def test_do_tests_that_record_nothing_or_call_nothing_tell_the_author(course: Path) -> None:
    """A check that records nothing and a hidden test that never calls the student's code
    (ctx.ref compared with itself): each row says what to change, in the author's words."""
    with (course / "checks" / "check_moments.py").open("a", encoding="utf-8") as fh:
        fh.write('\n\n@public("mean")\ndef check_mean_silent(ctx: Context) -> None:\n'
                 '    """mean runs"""\n    ctx.student.mean(SAMPLE)\n')
    edit(course / "autograde_tests" / "test_moments.py", "ctx.student.variance(x)",
         "ctx.ref.variance(x)")
    reasons = failed(run(course, ids=1))
    checks = reasons["reference: passes every public check"]
    assert checks.startswith("moments::check_mean_silent: this test recorded no check: ")
    assert "tell your instructor" not in checks
    full = reasons["reference: full marks"]
    assert "moments::test_variance_matches_reference fails for selftest-0: " in full
    assert "never calls the student's code" in full


@pytest.mark.parametrize(("entry", "cause"), [
    ('"module": "moments", "function": "skew", "old": "x", "new": "y"',
     "moments.skew is not a contract function of the course"),
    ('"module": "moments", "function": "mean", "old": "no such text", "new": "y"',
     "its old text is not in moments.py"),
    ('"module": "moments", "function": "mean", "old": "float(", "new": "float((("',
     "was never closed"),
    ('"module": "moments", "function": "mean", "old": "x", "new": "y", "test": "test_nothing"',
     "it names the test moments::test_nothing, which is not a hidden test"),
])
def test_is_a_mutant_that_cannot_be_graded_named(course: Path, entry: str, cause: str) -> None:
    mutants(course, '{"key": "sign_error", ' + entry + "}")
    reasons = failed(run(course))
    assert list(reasons) == ["mutant moments-0-sign_error"]
    assert cause in reasons["mutant moments-0-sign_error"]


def test_is_a_mutant_key_outside_the_catalogue_named(course: Path) -> None:
    mutants(course, """{"key": "no_such_mistake", "module": "moments", "function": "mean",
        "old": "x", "new": "y"}""")
    assert failed(run(course)) == {"mutant moments-0-no_such_mistake": (
        "its key 'no_such_mistake' is not a misconception of the course's catalogue")}


def test_is_a_malformed_mutants_file_a_failed_check(course: Path) -> None:
    mutants(course, '{"key": "sign_error", "module": "moments", "function": "mean"}')
    reasons = failed(run(course))
    assert list(reasons) == ["mutants"]
    assert "give either old and new, or source" in reasons["mutants"]


def test_does_a_course_without_mutants_pass_and_say_so(course: Path) -> None:
    shutil.rmtree(course / "mutants")
    report = run(course)
    assert report.ok
    assert "PASS  mutants" in report.render()


def test_do_forked_jobs_give_the_same_table(course: Path) -> None:
    """Grading in two forked copies of the process gives exactly the rows of one."""
    mutants(course, *[f"""{{"key": "scaled_by_constant", "module": "moments",
        "function": "variance", "old": "centred) / len(x))",
        "new": "centred) / (len(x) - 1) * {k})"}}"""
                      for k in (1, 2, 3)])
    one, two = run(course, ids=4, jobs=1), run(course, ids=4, jobs=2)
    assert one.rows == two.rows
    assert one.ok


def test_are_fewer_than_one_id_a_course_error(course: Path) -> None:
    from grader.course.config import CourseError

    with pytest.raises(CourseError, match="at least 1"):
        run(course, ids=0)


def test_is_a_course_whose_tests_do_not_load_a_failed_check(course: Path) -> None:
    """A missing hidden test file stops the self-test with one failed row saying so."""
    (course / "autograde_tests" / "test_moments.py").unlink()
    report = run(course)
    assert [(row.check, row.passed) for row in report.rows] == [("course files load", False)]
    assert "missing hidden tests" in report.rows[0].reason
