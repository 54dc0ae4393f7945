"""Plain ``assert`` in public checks and hidden tests: a passing one is a recorded check, a
failing one the student's failure, with the asserted values as pytest shows them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from grader.authoring import asserts
from grader.authoring.expectations import CheckFailed, Expectations
from grader.authoring.misconceptions import Catalogue
from grader.course.loading import import_file, load_modules

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "stats_course"

MODULE = '''
import numpy as np

def shape(out):
    assert out.shape == (3, 1)

def with_message(value, told):
    assert value is None, told.append("evaluated") or f"expected None, got {value!r}"

def call(a, b):
    assert np.allclose(a, b, atol=0.0)

def truth(flag):
    assert flag

def member(key, table):
    assert key in table

def chained(x):
    assert 0 < x < 1

def nested(out):
    def inner():
        assert len(out) == 2
    inner()
'''


@pytest.fixture(scope="module")
def rewritten(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """``MODULE`` imported as a check file is: its asserts rewritten."""
    path = tmp_path_factory.mktemp("checks") / "check_demo.py"
    path.write_text(textwrap.dedent(MODULE), encoding="utf-8")
    return import_file(path, "_test_plain_asserts_demo", checked=Catalogue.builtin(),
                       problems=[])


def failure(function: Any, *args: Any, show_expected: bool = True) -> str:
    """The message of the failure ``function(*args)`` records in a test's expectations."""
    expectations = Expectations(show_expected=show_expected)
    with asserts.recording(expectations), pytest.raises(CheckFailed) as caught:
        function(*args)
    return caught.value.message


def passes(function: Any, *args: Any) -> int:
    """How many passing checks ``function(*args)`` records."""
    expectations = Expectations()
    with asserts.recording(expectations):
        function(*args)
    return expectations.passes


def test_does_a_failed_comparison_show_both_values(rewritten: ModuleType) -> None:
    import numpy as np

    assert failure(rewritten.shape, np.zeros(3)) == (
        "assert (3,) == (3, 1)\n +  where (3,) = out.shape")
    assert passes(rewritten.shape, np.zeros((3, 1))) == 1


def test_is_the_message_evaluated_only_on_failure(rewritten: ModuleType) -> None:
    told: list[str] = []
    assert passes(rewritten.with_message, None, told) == 1 and told == []
    message = failure(rewritten.with_message, 2, told)
    assert message == "expected None, got 2\nassert 2 is None\n +  where 2 = value"
    assert told == ["evaluated"]


def test_do_calls_truth_membership_and_chains_show_their_values(rewritten: ModuleType) -> None:
    import numpy as np

    assert failure(rewritten.call, np.array([1.0, 2.0]), np.array([1.0, 3.0])) == (
        "assert False\n +  where False = np.allclose(array([1., 2.]), array([1., 3.]), "
        "atol=0.0)")
    assert failure(rewritten.truth, 0) == "assert 0\n +  where 0 = flag"
    assert failure(rewritten.member, "dW", {"db": 1}) == (
        "assert 'dW' in {'db': 1}\n +  where 'dW' = key\n +  where {'db': 1} = table")
    assert failure(rewritten.chained, 2.0) == "assert False\n +  where False = 0 < x < 1"
    assert failure(rewritten.nested, [1]) == "assert 1 == 2\n +  where 1 = len(out)"
    assert passes(rewritten.nested, [1, 2]) == 1


def test_does_a_hidden_test_without_expected_values_show_only_the_assertion(
        rewritten: ModuleType) -> None:
    """``[grading] show_expected = false``: the statement, no value (they may be the
    expected ones)."""
    import numpy as np

    message = failure(rewritten.call, np.array([1.0, 2.0]), np.array([1.0, 3.0]),
                      show_expected=False)
    assert message == "assert np.allclose(a, b, atol=0.0)"


def test_does_an_assert_outside_a_test_raise_assertion_error(rewritten: ModuleType) -> None:
    with pytest.raises(AssertionError) as caught:
        rewritten.truth(0)
    assert str(caught.value) == "assert 0\n +  where 0 = flag"


def test_are_the_student_s_and_the_reference_s_asserts_left_alone(tmp_path: Path) -> None:
    """Only check and test files are rewritten: modules loaded as the reference (or a
    student's) keep Python's own assert."""
    (tmp_path / "plain.py").write_text("def f(x):\n    assert x == 1\n", encoding="utf-8")
    (module,) = load_modules(tmp_path, ("plain",), prefix="_test_plain_").values()
    assert asserts.HOOK not in vars(module)
    with pytest.raises(AssertionError) as caught:
        module.f(2)
    assert str(caught.value) == ""


STATEMENTS = '''
import numpy as np
import numpy.testing as npt

def allclose(a, b):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)

def array_equal(a, b):
    npt.assert_array_equal(a, b)

def assert_positive(x):
    assert x > 0

def helper(x):
    assert_positive(x)

def raises_else(x):
    np.testing.assert_allclose(x, np.ones(2))

def value_used(a, b):
    return np.testing.assert_allclose(a, b)

def assert_broken(x):
    raise ValueError(x)

def broken(x):
    assert_broken(x)
'''


@pytest.fixture(scope="module")
def statements(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """``STATEMENTS`` imported as a test file is: its ``assert_...`` statements rewritten."""
    path = tmp_path_factory.mktemp("tests") / "test_statements.py"
    path.write_text(STATEMENTS, encoding="utf-8")
    return import_file(path, "_test_plain_asserts_statements", checked=Catalogue.builtin(),
                       problems=[])


def test_does_an_assert_function_called_as_a_statement_record_a_check(
        statements: ModuleType) -> None:
    """``np.testing.assert_allclose``, ``npt.assert_array_equal`` and a helper named
    ``assert_...``: a call that returns is a passing check (the helper's own assert too)."""
    import numpy as np

    assert passes(statements.allclose, np.ones(3), np.ones(3)) == 1
    assert passes(statements.array_equal, [1, 2], np.array([1, 2])) == 1
    assert passes(statements.helper, 1.0) == 2


def test_does_a_failing_assert_function_fail_with_its_own_message(
        statements: ModuleType) -> None:
    """The statement, then numpy's message; only the statement without expected values."""
    import numpy as np

    message = failure(statements.allclose, np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    first, *rest = message.splitlines()
    assert first == "np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)"
    assert "Not equal to tolerance rtol=0, atol=1e-12" in rest
    assert any("Mismatched elements: 1 / 2" in row for row in rest)
    hidden = failure(statements.allclose, np.array([1.0, 2.0]), np.array([1.0, 3.0]),
                     show_expected=False)
    assert hidden == "np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)"
    # the helper's own rewritten assert fails with its values, not wrapped again
    assert failure(statements.helper, -1.0) == "assert -1.0 > 0\n +  where -1.0 = x"


def test_is_an_assert_function_left_alone_outside_a_test_or_when_its_value_is_used(
        statements: ModuleType) -> None:
    import numpy as np

    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        statements.raises_else(np.zeros(2))
    with asserts.recording(Expectations()), pytest.raises(ValueError, match=r"^7$"):
        statements.broken(7)  # not an AssertionError: it passes through unchanged
    assert passes(statements.value_used, 1.0, 1.0) == 0


# -- through the command line -----------------------------------------------------------------
PLAIN_CHECK = '''

@public("variance")
def check_variance_plain(ctx: Context) -> None:
    """variance of [1, 3] is 1 (plain asserts)"""
    out = ctx.student.variance(np.array([1.0, 3.0]))
    assert isinstance(out, float), "variance returns a Python float"
    assert out == 1.0
'''
PLAIN_TEST = '''

@graded("variance", points=2.0)
def test_variance_plain(ctx: Context) -> None:
    """variance matches the reference (a plain assert)"""
    x = ctx.rng.normal(size=6)
    out = ctx.student.variance(x)
    assert abs(out - ctx.ref.variance(x)) < 1e-9
'''


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300,
                          env={**os.environ, "GRADER_SECRET": ""})


def test_do_plain_asserts_work_in_a_public_check_and_a_hidden_test(tmp_path: Path) -> None:
    """The second course with a public check and a hidden test written with plain asserts:
    the reference passes both (a passing assert is a recorded check); a variance divided by
    n - 1 fails both with the values in the feedback, as the student's failure."""
    course = Path(shutil.copytree(FIXTURE, tmp_path / "stats",
                                  ignore=shutil.ignore_patterns("__pycache__")))
    with (course / "checks" / "check_moments.py").open("a", encoding="utf-8") as fh:
        fh.write(PLAIN_CHECK)
    with (course / "autograde_tests" / "test_moments.py").open("a", encoding="utf-8") as fh:
        fh.write(PLAIN_TEST)
    solution = (course / "solutions" / "moments.py").read_text(encoding="utf-8")
    wrong = solution.replace("np.sum(centred * centred) / len(x)",
                             "np.sum(centred * centred) / (len(x) - 1)")
    assert wrong != solution
    klass = tmp_path / "class"
    for name, text in (("ada", solution), ("bob", wrong)):
        (klass / name).mkdir(parents=True)
        (klass / name / "moments.py").write_text(text, encoding="utf-8")

    passed = run(["check", "--path", str(klass / "ada")], cwd=course)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "variance                   passed (2 checks)" in passed.stdout
    failed = run(["check", "moments", "--path", str(klass / "bob")], cwd=course)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAILED" in failed.stdout

    out = tmp_path / "out"
    graded = run(["grade", str(klass), "--out", str(out), "--jobs", "1"], cwd=course)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    ada = json.loads((out / "ada.json").read_text(encoding="utf-8"))
    assert ada["score"] == ada["max_score"] == 12.0
    bob = json.loads((out / "bob.json").read_text(encoding="utf-8"))
    (plain,) = [t for t in bob["tests"] if t["id"] == "moments::test_variance_plain"]
    assert plain["status"] == "failed" and plain["score"] == 0.0
    assert plain["feedback"].startswith("assert ")
    assert " < 1e-09\n +  where " in plain["feedback"]
    assert "= abs(out - ctx.ref.variance(x))" in plain["feedback"]
    assert bob["grader_errors"] == []


def test_does_a_failing_assert_in_a_check_show_its_values(tmp_path: Path) -> None:
    """`grader check` of a variance that returns an array, checked by plain asserts only:
    the check's message and the value, as the student reads them."""
    course = Path(shutil.copytree(FIXTURE, tmp_path / "stats",
                                  ignore=shutil.ignore_patterns("__pycache__")))
    (course / "checks" / "check_moments.py").write_text(
        "import numpy as np\n\nfrom grader.authoring import Context, public\n"
        + PLAIN_CHECK, encoding="utf-8")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "moments.py").write_text(
        "import numpy as np\n\n\ndef mean(x):\n    return float(np.mean(x))\n\n\n"
        "def variance(x):\n    return np.array([1.0])\n", encoding="utf-8")
    proc = run(["check", "moments", "--path", str(mine)], cwd=course)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ("variance returns a Python float\n"
            "      assert False\n"
            "       +  where False = isinstance(array([1.]), float)") in proc.stdout
