"""The author API as a package: one public surface, no module-level registry, course-neutral
built-ins, and each test's context naming mistakes in its course's words."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import grader.authoring
from grader.authoring import Catalogue, CheckFailed, Context, Marker, Misconception
from grader.course.config import TestSpec as Spec
from grader.engine.runner import ERROR, FAILED, run_test
from grader.sandbox.box import StudentError

AUTHORING = Path(grader.authoring.__file__).parent
MODULES = sorted(AUTHORING.glob("*.py"))
RENAMED = Misconception("overflow", "Overflow", "Said in this course's words.")
CATALOGUE = Catalogue.builtin().extended([RENAMED], replace=True)


def test_does_the_package_export_the_author_api() -> None:
    """Is every name of ``__all__`` there, and are checks written with that surface alone?"""
    for name in grader.authoring.__all__:
        assert hasattr(grader.authoring, name), name
    for wanted in ("Context", "CheckFailed", "public", "graded", "compare", "Catalogue",
                   "check_gradient", "check_directional", "raised_in"):
        assert wanted in grader.authoring.__all__
    root = AUTHORING.parents[1]
    for path in [*(root / "checks").glob("*.py"), *(root / "autograde_tests").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("grader."):
                assert node.module in ("grader.authoring", "grader.sandbox.box"), \
                    (path.name, node.module)


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_does_no_module_hold_a_mutable_registry(path: Path) -> None:
    """Is every module-level value of the package a constant (state lives in objects)?"""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            mutable = isinstance(node.value, ast.Dict | ast.List | ast.Set | ast.DictComp |
                                 ast.ListComp | ast.SetComp) or (
                isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                and node.value.func.id in ("dict", "list", "set", "defaultdict"))
            assert not mutable or names == ["__all__"], (path.name, names)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_does_the_package_speak_of_no_course(path: Path) -> None:
    """Outside docstrings (where examples may use one), no name or text of the package is
    about this course: its activations, its data set, its worked example."""
    course_words = re.compile(r"sigmoid|digits|worked_example", re.IGNORECASE)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            text = node.value
        elif isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.arg):
            text = node.arg
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            text = node.name
        assert text is None or not course_words.search(text), (path.name, text)
    comments = [line for line in path.read_text(encoding="utf-8").splitlines()
                if "#" in line and course_words.search(line.split("#", 1)[1])]
    assert not comments, (path.name, comments)


class _NoSandbox:
    """A runner for checks that never call the student's code, or whose call raises."""

    def __init__(self, error: StudentError | None = None) -> None:
        self.error = error

    def call(self, *args: Any, **kwargs: Any) -> Any:
        assert self.error is not None
        raise self.error


def test_does_the_context_name_mistakes_in_its_catalogue_s_words() -> None:
    ctx = Context("toy", _NoSandbox(), np.random.default_rng(0),  # type: ignore[arg-type]
                  catalogue=CATALOGUE)
    assert ctx.catalogue is CATALOGUE
    with pytest.raises(CheckFailed) as caught:
        ctx.fail("too big", misconception="overflow")
    assert caught.value.diagnosis is not None
    assert caught.value.diagnosis.message == "Said in this course's words."
    with pytest.raises(CheckFailed) as caught:
        ctx.expect_close(np.array([np.inf, 1.0]), np.array([2.0, 1.0]), rtol=1e-9, atol=1e-12)
    assert caught.value.diagnosis is not None
    assert caught.value.diagnosis.message.endswith(" Said in this course's words.")
    default = Context("toy", _NoSandbox(), np.random.default_rng(0))  # type: ignore[arg-type]
    assert default.catalogue == Catalogue.builtin()


def _spec(func: Any, catalogue: Catalogue) -> Spec:
    return Spec(func, "toy", "a test", "toy::a_test", Marker("f", 1.0, "hidden", None, False),
                catalogue=catalogue)


def test_does_the_runner_give_each_test_its_course_s_catalogue() -> None:
    """A test's context, and the diagnosis of an exception the student's code raised, use the
    catalogue the test was collected with."""

    def names_overflow(ctx: Context) -> None:
        ctx.fail("overflowed", misconception="overflow")

    outcome = run_test(_spec(names_overflow, CATALOGUE), _NoSandbox(),  # type: ignore[arg-type]
                       seed=1)
    assert outcome.status == FAILED and outcome.diagnosis is not None
    assert outcome.diagnosis.message == "Said in this course's words."

    def calls_student(ctx: Context) -> None:
        ctx.student.f(1.0)

    raised = StudentError("FloatingPointError", "overflow encountered in exp", "")
    outcome = run_test(_spec(calls_student, CATALOGUE), _NoSandbox(raised),  # type: ignore[arg-type]
                       seed=1)
    assert outcome.status == ERROR and outcome.diagnosis is not None
    assert outcome.diagnosis.message.endswith(" Said in this course's words.")
