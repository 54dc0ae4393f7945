"""A course author's mistakes and honest styles, tried blind through the real command line.

Each test builds a copy of tests/fixtures/stats_course (``moments.mean`` worth 4 points,
``moments.variance`` worth 6) in ``tmp_path``, changes one thing an author might write, and
runs ``python -m grader ...`` as a subprocess. A test that fails names something the framework
still lets through to students, refuses although it is reasonable, or says confusingly; its
docstring says what an author would expect and why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "stats_course"
SOLUTION = (FIXTURE / "solutions" / "moments.py").read_text(encoding="utf-8")
CORRECT_VARIANCE = "    return float(np.sum(centred * centred) / len(x))"
WRONG_VARIANCE = "    return float(np.sum(centred * centred) / (len(x) - 1))"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m grader ARGS`` in ``cwd``, stdout and stderr captured."""
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=600,
                          env={**os.environ, "GRADER_SECRET": ""})


def out(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A fresh copy of the stats course."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "course",
                                ignore=shutil.ignore_patterns("__pycache__")))


@pytest.fixture
def klass(tmp_path: Path) -> Path:
    """Two students: ada hands in the reference, bob divides the variance by n - 1."""
    root = tmp_path / "class"
    (root / "ada").mkdir(parents=True)
    (root / "ada" / "moments.py").write_text(SOLUTION, encoding="utf-8")
    (root / "bob").mkdir()
    assert CORRECT_VARIANCE in SOLUTION
    (root / "bob" / "moments.py").write_text(SOLUTION.replace(CORRECT_VARIANCE, WRONG_VARIANCE),
                                             encoding="utf-8")
    return root


def edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` in ``path``."""
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def grade(course: Path, klass: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str],
                                                              dict[str, dict]]:
    """Grade the class with one job; the results by student."""
    results = tmp_path / "results"
    proc = run(["grade", str(klass), "--out", str(results), "--jobs", "1"], cwd=course)
    found = {p.stem: json.loads(p.read_text(encoding="utf-8"))
             for p in results.glob("*.json") if not p.name.endswith(".gradescope.json")}
    return proc, found


def find_test(result: dict, name: str) -> dict:
    """The test of ``result`` whose student-facing name starts with ``name``."""
    hits = [t for t in result["tests"] if t["name"].startswith(name)]
    assert len(hits) == 1, [t["name"] for t in result["tests"]]
    return hits[0]


TESTS = Path("autograde_tests") / "test_moments.py"
CHECKS = Path("checks") / "check_moments.py"
VARIANCE_CALL = "ctx.expect_close(ctx.student.variance(x), ctx.ref.variance(x)"


# --- 1. author mistakes ------------------------------------------------------------------


def test_typo_in_public_name_stops_check_with_file_and_line(course: Path) -> None:
    """@public("maen"): `grader check` must stop (exit 2) and name the check file and line,
    with the right name suggested."""
    edit(course / CHECKS, '@public("mean")', '@public("maen")')
    proc = run(["check", "--path", "solutions"], cwd=course)
    assert proc.returncode == 2, out(proc)
    assert "check_moments.py:10" in out(proc) and "did you mean 'mean'" in out(proc)


def test_release_refuses_a_check_with_a_typo_in_its_function(course: Path,
                                                             tmp_path: Path) -> None:
    """@public("maen") in a check: README says every command that collects the checks,
    `release` included, stops with exit 2 and names file and line. An author expects release,
    the step that hands the checks to students, to refuse; today it writes the bundle (exit 0)
    and every student's `grader check` then dies with exit 2 on the author's typo."""
    edit(course / CHECKS, '@public("mean")', '@public("maen")')
    proc = run(["release", "--out", str(tmp_path / "release")], cwd=course)
    assert proc.returncode == 2, out(proc)
    assert "check_moments.py:10" in out(proc)
    assert not (tmp_path / "release").exists()


def test_release_refuses_a_check_with_a_syntax_error(course: Path, tmp_path: Path) -> None:
    """A missing ':' in a check file: `grader check` reports it (exit 2, file:line), but
    `grader release` ships the broken file to every student (exit 0). Release should refuse
    like `check` does, so the mistake never reaches students."""
    edit(course / CHECKS, "def check_variance_known_value(ctx: Context) -> None:",
         "def check_variance_known_value(ctx: Context) -> None")
    assert run(["check", "--path", "solutions"], cwd=course).returncode == 2
    proc = run(["release", "--out", str(tmp_path / "release")], cwd=course)
    assert proc.returncode == 2, out(proc)
    assert "check_moments.py:17" in out(proc)


def test_release_refuses_a_check_file_for_no_module(course: Path, tmp_path: Path) -> None:
    """checks/check_moment.py (typo of the module name) next to the right file: `check`
    refuses it ("its checks would never run"), `release` ships it and exits 0, after which
    every student's `grader check` exits 2. An author expects release to refuse."""
    shutil.copy(course / CHECKS, course / "checks" / "check_moment.py")
    proc = run(["release", "--out", str(tmp_path / "release")], cwd=course)
    assert proc.returncode == 2, out(proc)
    assert "check_moment.py" in out(proc)


def test_release_refuses_an_unknown_misconception_in_a_check(course: Path,
                                                             tmp_path: Path) -> None:
    """misconception="sampel_variance" in a public check: `check` refuses it at load time,
    `release` ships it (exit 0). Release should refuse, naming file and line."""
    edit(course / CHECKS, 'what="variance(x)")',
         'what="variance(x)", misconception="sampel_variance")')
    proc = run(["release", "--out", str(tmp_path / "release")], cwd=course)
    assert proc.returncode == 2, out(proc)
    assert "check_moments.py:20" in out(proc)


def test_typo_in_graded_name_stops_grade_before_any_student(course: Path, klass: Path,
                                                            tmp_path: Path) -> None:
    """@graded("varaince"): `grader grade` must stop before grading anyone (exit 2, file:line,
    suggestion) and write no result."""
    edit(course / TESTS, '@graded("variance"', '@graded("varaince"')
    proc, results = grade(course, klass, tmp_path)
    assert proc.returncode == 2, out(proc)
    assert "test_moments.py:15" in out(proc) and "did you mean 'variance'" in out(proc)
    assert results == {}


@pytest.mark.parametrize("broken", ["ctx.ref.variance(xx)", "ctx.ref.varience(x)",
                                    "ctx.student.varience(x)"])
def test_name_or_attribute_error_in_a_hidden_test_is_a_grader_error(
        course: Path, klass: Path, tmp_path: Path, broken: str) -> None:
    """A NameError or AttributeError in a hidden test: grade exits 1, names the test, and no
    student (not even bob, whose variance is wrong) is charged for it."""
    if broken.startswith("ctx.ref"):
        edit(course / TESTS, VARIANCE_CALL,
             f"ctx.expect_close(ctx.student.variance(x), {broken}")
    else:
        edit(course / TESTS, VARIANCE_CALL, f"ctx.expect_close({broken}, ctx.ref.variance(x)")
    proc, results = grade(course, klass, tmp_path)
    assert proc.returncode == 1, out(proc)
    assert "moments::test_variance_matches_reference" in proc.stdout
    for student in ("ada", "bob"):
        assert results[student]["grader_errors"] == ["moments::test_variance_matches_reference"]
        assert results[student]["score"] == 10.0


def test_hidden_test_the_reference_fails_is_a_grader_error(course: Path, klass: Path,
                                                           tmp_path: Path) -> None:
    """A hidden test that expects the sample variance (the reference fails it): ada, who
    handed in the reference, must not be charged; grade exits 1 naming the test."""
    edit(course / TESTS, VARIANCE_CALL,
         "ctx.expect_close(ctx.student.variance(x), ctx.ref.variance(x) * n / (n - 1)")
    proc, results = grade(course, klass, tmp_path)
    assert proc.returncode == 1, out(proc)
    assert "moments::test_variance_matches_reference" in proc.stdout
    assert results["ada"]["score"] == 10.0
    assert "grader error" in find_test(results["ada"], "variance")["feedback"]


def test_wrong_literal_misconception_key_stops_grade(course: Path, klass: Path,
                                                     tmp_path: Path) -> None:
    """variants={"sum_insted_of_mean": ...}: refused at load time with file, line and the
    suggestion."""
    edit(course / TESTS, 'what=f"variance(x) with n = {n}")',
         'what=f"variance(x) with n = {n}",\n'
         '                         variants={"sum_insted_of_mean": ctx.ref.variance(x) * n})')
    proc, results = grade(course, klass, tmp_path)
    assert proc.returncode == 2, out(proc)
    assert "test_moments.py:22" in out(proc) and "sum_instead_of_mean" in out(proc)
    assert results == {}


def test_duplicate_hidden_test_names_stop_grade(course: Path, klass: Path,
                                                tmp_path: Path) -> None:
    """Two hidden tests named test_mean_matches_reference: the second would silently replace
    the first; grade must refuse with both lines."""
    with (course / TESTS).open("a", encoding="utf-8") as f:
        f.write('\n\n@graded("variance", points=2.0)\n'
                "def test_mean_matches_reference(ctx: Context) -> None:\n"
                '    """variance of a constant sample is 0"""\n'
                "    ctx.expect_close(ctx.student.variance(ctx.rng.normal(size=3) * 0), 0.0,\n"
                "                     rtol=0, atol=1e-12)\n")
    proc, results = grade(course, klass, tmp_path)
    assert proc.returncode == 2, out(proc)
    assert "test_moments.py:25" in out(proc) and "line 7" in out(proc)
    assert results == {}


def test_stub_returning_a_value_stops_release(course: Path, tmp_path: Path) -> None:
    """A stub that returns 0.0 instead of raising: release must refuse (exit 2, file:line)
    and write nothing."""
    edit(course / "exercises" / "moments.py", '    raise NotImplementedError("variance")',
         "    return 0.0")
    proc = run(["release", "--out", str(tmp_path / "release")], cwd=course)
    assert proc.returncode == 2, out(proc)
    assert "moments.py:12" in out(proc)
    assert not (tmp_path / "release").exists()


def test_stub_with_setup_lines_before_its_raise_is_accepted(course: Path,
                                                            tmp_path: Path) -> None:
    """A stub in the common nbgrader style: provided setup lines, then `raise
    NotImplementedError()`. It always raises NotImplementedError and hands students no
    answer, yet release and selftest refuse it with "its stub does not raise
    NotImplementedError", which is false and confusing. An author expects it to be accepted
    (or at least told precisely that only the raise may follow the docstring)."""
    edit(course / "exercises" / "moments.py", '    raise NotImplementedError("variance")',
         "    x = np.asarray(x, dtype=np.float64)\n"
         "    n = len(x)\n"
         "    # YOUR CODE HERE: the mean of the squared deviations\n"
         "    raise NotImplementedError()")
    edit(course / "exercises" / "moments.py", '"""\n\n\ndef mean',
         '"""\n\nimport numpy as np\n\n\ndef mean')
    proc = run(["release", "--out", str(tmp_path / "release")], cwd=course)
    assert proc.returncode == 0, out(proc)
    assert "does not raise NotImplementedError" not in out(proc)


def test_points_table_that_disagrees_with_the_tests_stops_release(course: Path,
                                                                  tmp_path: Path) -> None:
    """course.toml says variance is worth 5, the hidden tests give 6. Only selftest notices;
    `grader list` shows 6, `release` silently rewrites the students' points table to 6 and
    `grade` grades out of 10 (exit 0). The author announced 9 points; release (and grade)
    should refuse, naming course.toml and moments.variance."""
    edit(course / "course.toml", "[functions]",
         '[points]\n"moments.mean" = 4\n"moments.variance" = 5\n\n[functions]')
    proc = run(["release", "--out", str(tmp_path / "release")], cwd=course)
    assert proc.returncode == 2, out(proc)
    assert "course.toml" in out(proc) and "moments.variance" in out(proc)


def test_points_table_that_disagrees_fails_selftest(course: Path) -> None:
    """selftest must fail the points row, naming the function and both numbers."""
    edit(course / "course.toml", "[functions]",
         '[points]\n"moments.mean" = 4\n"moments.variance" = 5\n\n[functions]')
    proc = run(["selftest", "--ids", "1", "--jobs", "1"], cwd=course)
    assert proc.returncode == 1, out(proc)
    assert "moments.variance: the hidden tests give 6, [points] says 5" in proc.stdout


def test_uncaught_mutant_fails_selftest(course: Path) -> None:
    """A mutant the tests cannot see (adds 1e-14): selftest must fail its row."""
    (course / "mutants" / "moments.py").write_text(
        "MUTANTS = [{'key': 'scaled_by_constant', 'module': 'moments', 'function': 'variance',\n"
        "            'old': 'np.sum(centred * centred) / len(x)',\n"
        "            'new': 'np.sum(centred * centred) / len(x) + 1e-14'}]\n", encoding="utf-8")
    proc = run(["selftest", "--ids", "1", "--jobs", "1"], cwd=course)
    assert proc.returncode == 1, out(proc)
    assert "FAIL  mutant moments-0-scaled_by_constant" in proc.stdout


def test_selftest_does_not_say_a_test_that_errored_passes(course: Path) -> None:
    """With a NameError in the variance test, selftest's mutant row says "loses no points:
    every hidden test of moments.variance passes". The test did not pass, it raised; the row
    should say the test is broken, not send the author looking for a weak test."""
    edit(course / TESTS, VARIANCE_CALL,
         "ctx.expect_close(ctx.student.variance(x), ctx.ref.variance(xx)")
    proc = run(["selftest", "--ids", "1", "--jobs", "1"], cwd=course)
    assert proc.returncode == 1, out(proc)
    row = next(line for line in proc.stdout.splitlines() if "mutant moments-0" in line)
    assert "every hidden test of moments.variance passes" not in row, row


def test_release_works_without_a_checks_folder(course: Path, tmp_path: Path) -> None:
    """No checks/ folder at all: release must work and ship no checks."""
    shutil.rmtree(course / "checks")
    proc = run(["release", "--out", str(tmp_path / "release")], cwd=course)
    assert proc.returncode == 0, out(proc)
    assert not (tmp_path / "release" / "checks").exists()


def test_check_in_a_release_without_checks_does_not_report_failure(course: Path,
                                                                   tmp_path: Path) -> None:
    """In a course released without checks (allowed by the README), a student's correct
    code gets "0 of 2 functions pass their public checks" and exit 1 ("some check failed").
    No check failed: a student expects to be told there are no public checks, and exit 0."""
    shutil.rmtree(course / "checks")
    release = tmp_path / "release"
    assert run(["release", "--out", str(release)], cwd=course).returncode == 0
    work = tmp_path / "work"
    work.mkdir()
    (work / "moments.py").write_text(SOLUTION, encoding="utf-8")
    proc = run(["check", "--path", str(work)], cwd=release)
    assert "0 of 2 functions pass" not in proc.stdout, proc.stdout
    assert proc.returncode == 0, out(proc)


def test_missing_package_imported_by_a_hidden_test_names_the_line(course: Path, klass: Path,
                                                                   tmp_path: Path) -> None:
    """`import notapackage_xyz` at the top of a hidden test file: grade stops (exit 2) before
    grading anyone, as it should, but the message names only the file ("failed to import:
    ModuleNotFoundError"). README promises each load mistake names file and line."""
    edit(course / TESTS, "from grader.authoring import Context, graded",
         "from grader.authoring import Context, graded\nimport notapackage_xyz")
    proc, results = grade(course, klass, tmp_path)
    assert proc.returncode == 2, out(proc)
    assert results == {}
    assert "notapackage_xyz" in out(proc)
    assert "test_moments.py:4" in out(proc), out(proc)


def test_missing_package_imported_inside_a_hidden_test_is_a_grader_error(
        course: Path, klass: Path, tmp_path: Path) -> None:
    """`import notapackage_xyz` inside a test function: a grader error, nobody charged."""
    edit(course / TESTS, '    """variance matches the reference on random samples (divide by n)"""',
         '    """variance matches the reference on random samples (divide by n)"""\n'
         "    import notapackage_xyz  # noqa: F401")
    proc, results = grade(course, klass, tmp_path)
    assert proc.returncode == 1, out(proc)
    assert "moments::test_variance_matches_reference" in proc.stdout
    assert results["bob"]["score"] == 10.0
    assert "ModuleNotFoundError" in find_test(results["bob"], "variance")["feedback"]


def test_hidden_test_that_never_calls_the_student_is_flagged(course: Path, klass: Path,
                                                             tmp_path: Path) -> None:
    """A slip that compares the reference with itself (ctx.ref where ctx.student was meant):
    the test records passing checks without ever running the student's code, so every
    submission (bob's wrong variance, a stub, an empty file) gets its 6 points and grade exits
    0 with no word. The grader knows whether a test called the student's code; an author
    expects such a test to be reported (exit 1 naming it), not to give away points."""
    edit(course / TESTS, VARIANCE_CALL,
         "ctx.expect_close(ctx.ref.variance(x), ctx.ref.variance(x)")
    proc, _ = grade(course, klass, tmp_path)
    assert proc.returncode == 1, out(proc)
    assert "test_variance_matches_reference" in proc.stdout


# --- 2. honest author styles --------------------------------------------------------------

PLAIN_TESTS = '''"""Hidden tests in plain-assert styles."""

import numpy as np

from grader.authoring import Context, graded


def _close(a, b):
    assert abs(a - b) <= 1e-9 * max(1.0, abs(b)), f"{a} != {b}"


@graded("mean", points=1.0)
def test_mean_ops(ctx: Context) -> None:
    """mean: plain comparisons"""
    x = ctx.rng.normal(3.0, 2.0, size=7)
    m = ctx.student.mean(x)
    assert isinstance(m, float)
    assert abs(m - ctx.ref.mean(x)) < 1e-9
    assert x.min() <= m <= x.max()
    assert round(m, 6) in [round(ctx.ref.mean(x), 6)]
    assert np.allclose(m, ctx.ref.mean(x))


@graded("mean", points=1.0)
def test_mean_message(ctx: Context) -> None:
    """mean: assert with a message"""
    x = ctx.rng.normal(size=5)
    assert np.isclose(ctx.student.mean(x), ctx.ref.mean(x)), "mean differs from the reference"


@graded("mean", points=1.0)
def test_mean_helper(ctx: Context) -> None:
    """mean: a helper that asserts"""
    x = ctx.rng.normal(size=5)
    _close(ctx.student.mean(x), ctx.ref.mean(x))


@graded("mean", points=1.0)
def test_mean_loop(ctx: Context) -> None:
    """mean: a loop of asserts"""
    for n in (1, 2, 10, 100):
        x = ctx.rng.normal(size=n)
        assert np.isclose(ctx.student.mean(x), ctx.ref.mean(x)), f"n = {n}"


@graded("variance", points=6.0)
def test_variance_several(ctx: Context) -> None:
    """variance: several asserts"""
    x = ctx.rng.normal(size=9)
    v = ctx.student.variance(x)
    assert v >= 0
    assert np.isfinite(v)
    assert np.allclose(v, ctx.ref.variance(x))
'''


@pytest.fixture
def plain_course(course: Path) -> Path:
    """The course with its hidden tests rewritten in plain-assert styles (no mutant names a
    test any more)."""
    (course / TESTS).write_text(PLAIN_TESTS, encoding="utf-8")
    edit(course / "mutants" / "moments.py", '"test": "test_variance_matches_reference",',
         '"test": "test_variance_several",')
    return course


def test_plain_assert_styles_pass_selftest(plain_course: Path) -> None:
    """==, <, chained <=, in, isinstance, np.allclose, messages, several asserts, a helper
    that asserts, a loop of asserts: the reference scores full marks and the mutant is
    caught."""
    proc = run(["selftest", "--ids", "2", "--jobs", "1"], cwd=plain_course)
    assert proc.returncode == 0, out(proc)


def test_plain_assert_styles_grade_and_explain(plain_course: Path, klass: Path,
                                               tmp_path: Path) -> None:
    """ada gets 10, bob loses variance's 6 with the values shown; a wrong mean shows the
    assert's message first, then the values, also through a helper function."""
    carol = klass / "carol"
    carol.mkdir()
    (carol / "moments.py").write_text(SOLUTION.replace(
        "return float(np.sum(x) / len(x))", "return float(np.sum(x) / len(x)) + 0.5"),
        encoding="utf-8")
    proc, results = grade(plain_course, klass, tmp_path)
    assert proc.returncode == 0, out(proc)
    assert results["ada"]["score"] == 10.0
    assert results["bob"]["score"] == 4.0
    assert "np.allclose(" in find_test(results["bob"], "variance: several")["feedback"]
    message = find_test(results["carol"], "mean: assert with a message")["feedback"]
    assert message.startswith("mean differs from the reference")
    helper = find_test(results["carol"], "mean: a helper")["feedback"]
    assert "!=" in helper and "abs(a - b)" in helper
    assert find_test(results["carol"], "mean: a loop")["feedback"].startswith("n = 1")


def test_numpy_testing_assert_allclose_in_a_hidden_test(course: Path, klass: Path,
                                                        tmp_path: Path) -> None:
    """A hidden test whose only check is numpy.testing.assert_allclose, the most common way
    to compare arrays in Python tests. The docs count only plain asserts and ctx.expect_...
    as recorded checks, so today it "records no check" even on the reference: every student
    gets a grader error at grade time and keeps the 6 points, bob's wrong variance included.
    An author expects one of two things: it works (ada 10, bob 4, exit 0), or it is refused
    when the course loads, naming file and line and saying to use ctx.expect_close or
    `assert np.allclose` instead; not a silent give-away discovered only while grading."""
    edit(course / TESTS, VARIANCE_CALL,
         "np.testing.assert_allclose(ctx.student.variance(x), ctx.ref.variance(x)")
    edit(course / TESTS, ', what=f"variance(x) with n = {n}")', ")")
    edit(course / TESTS, "from grader.authoring", "import numpy as np\n\nfrom grader.authoring")
    proc, results = grade(course, klass, tmp_path)
    if proc.returncode == 2:
        assert "test_moments.py:" in out(proc)
        assert results == {}
        return
    assert proc.returncode == 0, out(proc)
    assert results["ada"]["score"] == 10.0
    assert results["bob"]["score"] == 4.0


def test_selftest_explains_a_test_that_records_nothing_to_the_author(course: Path) -> None:
    """A public check that calls the student but checks nothing (the author forgot the
    assert): selftest fails on it, and its row says what to change (use ctx.expect_* or a
    plain assert), not the students' "tell your instructor". (Written first with an
    np.testing.assert_allclose check, which now counts as a check, so it is a passing style
    in test_numpy_testing_assert_allclose_in_a_hidden_test instead.)"""
    with (course / CHECKS).open("a", encoding="utf-8") as f:
        f.write('\n\n@public("mean")\n'
                "def check_mean_forgot(ctx: Context) -> None:\n"
                '    """mean of [1, 2, 3] is 2"""\n'
                "    x = np.array([1.0, 2.0, 3.0])\n"
                "    ctx.student.mean(x)\n")
    proc = run(["selftest", "--ids", "1", "--jobs", "1"], cwd=course)
    assert proc.returncode == 1, out(proc)
    row = next(line for line in proc.stdout.splitlines() if "check_mean_forgot" in line)
    assert "tell your instructor" not in row, row


def test_public_check_calling_two_student_functions(course: Path, tmp_path: Path) -> None:
    """A public check that calls the student's mean and variance with plain asserts: the
    reference passes, a variance divided by n - 1 fails it."""
    with (course / CHECKS).open("a", encoding="utf-8") as f:
        f.write('\n\n@public("variance")\n'
                "def check_variance_is_mean_of_squares(ctx: Context) -> None:\n"
                '    """variance(x) is mean((x - mean(x))**2), with your own mean"""\n'
                "    x = np.array([1.0, 2.0, 3.0, 6.0])\n"
                "    m = ctx.student.mean(x)\n"
                "    v = ctx.student.variance(x)\n"
                "    assert np.isclose(v, ctx.student.mean((x - m) ** 2)), 'not mean of squares'\n"
                "    assert v >= 0\n")
    proc = run(["check", "--path", "solutions"], cwd=course)
    assert proc.returncode == 0, out(proc)
    assert "variance                   passed (2 checks)" in proc.stdout
    bob = tmp_path / "bob"
    bob.mkdir()
    (bob / "moments.py").write_text(SOLUTION.replace(CORRECT_VARIANCE, WRONG_VARIANCE),
                                    encoding="utf-8")
    proc = run(["check", "--path", str(bob)], cwd=course)
    assert proc.returncode == 1, out(proc)
    assert "variance                   FAILED" in proc.stdout
