"""Loading catches an author's mistakes before any student is graded: each is a `CourseError`
naming the file and line, on a broken copy of the second course (tests/fixtures/stats_course).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.course import release as release_module
from grader.course.config import CourseError, load_course

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "stats_course"
CHECKS = "checks/check_moments.py"
TESTS = "autograde_tests/test_moments.py"
STUB = "exercises/moments.py"


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A fresh copy of the second course."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "stats",
                                ignore=shutil.ignore_patterns("__pycache__")))


def edit(root: Path, name: str, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` in the course file ``name``."""
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def append(root: Path, name: str, text: str) -> None:
    path = root / name
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def line_of(root: Path, name: str, text: str) -> int:
    """The number of the first line of ``name`` holding ``text``."""
    lines = (root / name).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def mistakes(root: Path, *, hidden: bool) -> str:
    """The message of the CourseError that collecting the course's checks (or tests) raises."""
    with pytest.raises(CourseError) as caught:
        load_course(root).collect(hidden=hidden)
    return str(caught.value)


def grader(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300,
                          env={**os.environ, "GRADER_SECRET": ""})


def test_is_a_public_check_of_no_function_an_error_at_its_line(course: Path) -> None:
    """Does ``@public("meen")`` stop loading, naming the file, the line and the likely name,
    where it used to be silently dropped?"""
    edit(course, CHECKS, '@public("mean")', '@public("meen")')
    message = mistakes(course, hidden=False)
    assert f"{course / CHECKS}:{line_of(course, CHECKS, 'meen')}:" in message
    assert "@public('meen') names no function of moments" in message
    assert "did you mean 'mean'?" in message


def test_is_a_hidden_test_of_no_function_an_error_not_a_phantom_function(course: Path) -> None:
    """Does ``@graded("varaince", points=6)`` make `grader list` exit 2 naming it, where it used
    to list a phantom function worth 6 points?"""
    edit(course, TESTS, '@graded("variance"', '@graded("varaince"')
    listed = grader(["list"], cwd=course)
    assert listed.returncode == 2, listed.stdout + listed.stderr
    assert "varaince" not in listed.stdout
    assert f"test_moments.py:{line_of(course, TESTS, 'varaince')}:" in listed.stderr
    assert "did you mean 'variance'?" in listed.stderr


def test_are_unregistered_misconception_keys_errors_at_their_lines(course: Path) -> None:
    """Are a literal ``variants={key: ...}`` key and a ``misconception=key`` the course's
    catalogue does not hold each reported with its line?"""
    edit(course, TESTS, 'what=f"mean(x) with n = {n}")',
         'what=f"mean(x) with n = {n}",\n                         '
         'variants={"sum_insted_of_mean": 3.0})')
    edit(course, CHECKS, 'what="mean(x)")', 'what="mean(x)", misconception="not_a_key")')
    hidden = mistakes(course, hidden=True)
    assert f"test_moments.py:{line_of(course, TESTS, 'sum_insted')}: variants names " \
           "'sum_insted_of_mean'" in hidden
    assert "did you mean 'sum_instead_of_mean'?" in hidden
    public = mistakes(course, hidden=False)
    assert f"check_moments.py:{line_of(course, CHECKS, 'not_a_key')}: misconception names " \
           "'not_a_key'" in public


def test_is_a_duplicate_test_id_an_error(course: Path) -> None:
    """Does a second test of the same name (which would replace the first, so that it never
    runs) stop loading, naming both lines?"""
    append(course, TESTS, '''

@graded("mean", points=1.0)
def test_mean_matches_reference(ctx: Context) -> None:
    """a copy pasted and not renamed"""
    ctx.expect(True, "never fails")
''')
    message = mistakes(course, hidden=True)
    lines = (course / TESTS).read_text(encoding="utf-8").splitlines()
    first, second = (i for i, line in enumerate(lines, 1)
                     if line.startswith("def test_mean_matches_reference"))
    assert (f"test_moments.py:{second}: a second test named test_mean_matches_reference "
            f"(the first is at line {first})") in message


def test_is_a_stub_that_does_not_raise_an_error(course: Path) -> None:
    """Is a contract function (``[functions]``) whose stub returns instead of raising
    NotImplementedError reported with its line before anyone is graded?"""
    edit(course, STUB, '    raise NotImplementedError("variance")', "    return 0.0")
    message = mistakes(course, hidden=True)
    assert f"{course / STUB}:{line_of(course, STUB, 'def variance')}: variance is a " \
           "contract function" in message
    assert "does not raise NotImplementedError" in message
    assert grader(["grade", str(course / "solutions"), "--out", str(course / "out")],
                  cwd=course).returncode == 2


def test_are_all_mistakes_reported_at_once(course: Path) -> None:
    """Several mistakes in several files: one error lists every one of them."""
    edit(course, STUB, '    raise NotImplementedError("variance")', "    return 0.0")
    edit(course, TESTS, '@graded("variance"', '@graded("varaince"')
    message = mistakes(course, hidden=True)
    assert message.startswith("2 mistakes in the course:")
    assert "varaince" in message and "does not raise NotImplementedError" in message


def test_without_a_functions_table_stubs_that_do_not_raise_are_an_error(course: Path) -> None:
    """With no ``[functions]`` table and stubs that do not raise, does `grader check` exit 2
    with a clear message instead of "0 of 0 functions pass" and exit 0?"""
    edit(course, "course.toml", '[functions]\nmoments = ["mean", "variance"]\n', "")
    shutil.copy2(course / "solutions" / "moments.py", course / STUB)
    checked = grader(["check"], cwd=course)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert "0 of 0" not in checked.stdout
    assert "no function raises NotImplementedError" in checked.stderr
    assert "[functions]" in checked.stderr


@pytest.mark.parametrize(("mistake", "complaint"), [
    ("checks/check_momnts.py", "'momnts' is not a course module"),
    ("autograde_tests/test_momnts.py", "'momnts' is not a course module"),
])
def test_is_a_file_of_no_module_an_error(course: Path, mistake: str, complaint: str) -> None:
    """A check or test file named after no course module (its tests would never run)."""
    (course / mistake).write_text("", encoding="utf-8")
    message = mistakes(course, hidden=mistake.startswith("autograde"))
    assert complaint in message and "did you mean 'moments'?" in message


def test_are_a_marker_of_the_other_kind_and_a_uses_typo_errors(course: Path) -> None:
    """``@graded`` in a check file (never run), and ``uses=`` naming no function."""
    append(course, CHECKS, '''

@graded("mean", points=1.0)
def check_graded_by_mistake(ctx: Context) -> None:
    """a hidden test in the public checks"""
    ctx.expect(True, "never fails")


@public("variance", uses=("meen",))
def check_uses_a_typo(ctx: Context) -> None:
    """variance uses mean"""
    ctx.expect(True, "never fails")
''')
    edit(course, CHECKS, "from grader.authoring import Context, public",
         "from grader.authoring import Context, graded, public")
    message = mistakes(course, hidden=False)
    assert "@graded marks check_graded_by_mistake as a hidden test, but this file holds " \
           "public checks" in message
    assert "uses='meen' names no function of the course (did you mean 'mean'?)" in message


def test_is_a_calls_entry_of_no_function_an_error(course: Path) -> None:
    append(course, "course.toml", '\n[calls]\n"moments.varience" = ["mean"]\n')
    assert "[calls] 'moments.varience': varience is not a contract function of moments " \
           "(did you mean 'variance'?)" in mistakes(course, hidden=True)


def test_does_the_course_itself_load_without_a_mistake() -> None:
    """This repository's course and the second course collect as before."""
    for root in (ROOT, FIXTURE):
        course = load_course(root)
        assert course.collect(hidden=True) and course.collect(hidden=False)


# -- a course without public checks -----------------------------------------------------------
def test_is_a_course_without_checks_released_whole(course: Path, tmp_path: Path) -> None:
    """Without checks/ the course has no public checks: does `grader release` write a bundle
    without checks/ (and no partial folder beside it), in which `grader list` and
    `grader check` work?"""
    shutil.rmtree(course / "checks")
    assert load_course(course).collect(hidden=False) == []
    out = tmp_path / "bundle"
    proc = grader(["release", "--out", str(out)], cwd=course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (out / "checks").exists() and (out / "exercises" / "moments.py").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "stats"]
    assert "no public checks" in (out / "README.md").read_text(encoding="utf-8")
    listed = grader(["list"], cwd=out)
    assert listed.returncode == 0 and "total: 10 points" in listed.stdout, listed.stderr
    checked = grader(["check"], cwd=out)
    assert checked.returncode == 1 and "no public checks" in checked.stdout, checked.stderr


def test_does_a_release_that_fails_leave_no_half_folder(
        course: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A release that fails after copying files leaves neither ``out`` nor its partial
    folder behind."""
    def broken(*_: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(release_module, "readme", broken)
    out = tmp_path / "bundle"
    with pytest.raises(OSError, match="disk full"):
        release_module.release(load_course(course), out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats"]
    out.mkdir()  # an empty folder given: filled when the release succeeds
    monkeypatch.undo()
    written = release_module.release(load_course(course), out)
    assert out / "course.toml" in written
    assert not [p for p in tmp_path.iterdir() if re.match(r"\.bundle\.partial-", p.name)]
