"""The kernel-side notebook API keeps its state in a per-notebook session, not in module globals.

`grader.integrations.notebook.check` and ``grade`` are called from the cells of a notebook; what
they load once (the course, its reference solutions, the digest of the student's files) lives
in a `NotebookSession` kept in that notebook's own namespace.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import pytest
from conftest import TOY_SOLUTION, TOY_STUB

from grader.course.config import Course, CourseError
from grader.integrations import notebook
from grader.integrations.notebook import SESSION_NAME, NotebookSession

#: module-level caches allowed: the result schema read from the package (constant data)
CONSTANT_CACHES = {("grader.engine.results", "schema"), ("grader.engine.results", "_validator")}


def _notebook(source: str) -> dict[str, Any]:
    """A notebook's namespace after running ``source`` in it."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(source, "<cell>", "exec"), namespace)
    return namespace


def _cell(namespace: dict[str, Any], source: str) -> None:
    exec(compile(source, "<cell>", "exec"), namespace)


def test_does_grade_in_a_notebook_keep_its_session_there(
    toy_course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Full marks for the reference typed into a notebook; the course and its reference are
    loaded once for that notebook and kept in its namespace."""
    monkeypatch.chdir(tmp_path)
    nb = _notebook(TOY_SOLUTION)
    grade = ("import grader.integrations.notebook\n"
             f"score = grader.integrations.notebook.grade('toy', 'add_one', "
             f"course={str(toy_course.root)!r})\n")
    _cell(nb, grade)
    assert nb["score"] == 2.0
    session = nb[SESSION_NAME]
    assert isinstance(session, NotebookSession)
    reference = session.references[toy_course.root]
    _cell(nb, grade)
    assert nb[SESSION_NAME] is session and session.references[toy_course.root] is reference
    assert list(session.courses) == [(str(toy_course.root), False)]
    assert "passed  2/2  add_one matches the reference" in capsys.readouterr().out


def test_do_two_notebooks_have_two_sessions(toy_course: Course, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A stub notebook and a solved one, in one process: each its own session and score."""
    monkeypatch.chdir(tmp_path)
    call = ("import grader.integrations.notebook\n"
            f"score = grader.integrations.notebook.grade('toy', 'add_one', "
            f"course={str(toy_course.root)!r})\n")
    solved, stub = _notebook(TOY_SOLUTION), _notebook(TOY_STUB)
    _cell(solved, call)
    _cell(stub, call)
    assert (solved["score"], stub["score"]) == (2.0, 0.0)
    assert solved[SESSION_NAME] is not stub[SESSION_NAME]
    assert "not implemented yet" in capsys.readouterr().out


def test_does_check_print_the_report_and_keep_the_course(
    toy_course: Course, capsys: pytest.CaptureFixture[str],
) -> None:
    """The toy course has no public checks: the report still lists the function."""
    nb = _notebook(TOY_SOLUTION)
    _cell(nb, "import grader.integrations.notebook\n"
              f"grader.integrations.notebook.check('toy', course={str(toy_course.root)!r})\n")
    assert "add_one" in capsys.readouterr().out
    assert (str(toy_course.root), True) in nb[SESSION_NAME].courses


def test_does_a_notebook_find_its_course_without_a_path(
    toy_course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Generated cells name no course: a notebook in a folder below the course finds it by
    walking up, and a relative ``course=`` is relative to the notebook's folder."""
    monkeypatch.delenv(notebook.COURSE_ENV, raising=False)
    folder = toy_course.root / "work" / "week1"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    nb = _notebook(TOY_SOLUTION)
    _cell(nb, "import grader.integrations.notebook\n"
              "score = grader.integrations.notebook.grade('toy', 'add_one')\n"
              "again = grader.integrations.notebook.grade('toy', 'add_one', course='../..')\n")
    assert (nb["score"], nb["again"]) == (2.0, 2.0)
    assert {k: c.root for k, c in nb[SESSION_NAME].courses.items()} == {
        (None, False): toy_course.root, ("../..", False): toy_course.root}
    assert "passed  2/2" in capsys.readouterr().out


def test_which_course_does_locate_course_choose(
    toy_course: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An explicit path first, then (public checks only) the public course released beside
    the notebook, then ``GRADER_COURSE`` (relative to the notebook's folder too), then the
    nearest course.toml upwards; inside nbgrader's autograded/<student>/<assignment> the walk
    starts above autograded/, past a course.toml the student submitted."""
    monkeypatch.delenv(notebook.COURSE_ENV, raising=False)
    root = toy_course.root
    nb_course = root / "nbgrader"
    graded = nb_course / "autograded" / "mallory" / "toy"
    graded.mkdir(parents=True)
    (graded / "course.toml").write_text("[course]\nmodules = ['toy']\n", encoding="utf-8")
    assert notebook.locate_course(folder=graded) == root
    assert notebook.locate_course(folder=root / "exercises") == root
    assert notebook.locate_course("../..", folder=graded) == nb_course / "autograded"
    monkeypatch.setenv(notebook.COURSE_ENV, "../../..")
    assert notebook.locate_course(folder=graded) == nb_course
    assert notebook.locate_course(str(root), folder=graded) == root
    monkeypatch.setenv(notebook.COURSE_ENV, str(root))
    assert notebook.locate_course(folder=tmp_path) == root
    public = tmp_path / notebook.PUBLIC_COURSE
    public.mkdir()
    (public / "course.toml").write_text("[course]\nmodules = ['toy']\n", encoding="utf-8")
    assert notebook.locate_course(folder=tmp_path, public=True) == public
    assert notebook.locate_course(folder=tmp_path) == root  # hidden tests: never the public one


def test_does_a_notebook_outside_any_course_say_how_to_name_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """No course.toml above and no GRADER_COURSE: the hidden test fails naming both ways out,
    and a public check raises one error naming the keyword to pass."""
    monkeypatch.delenv(notebook.COURSE_ENV, raising=False)
    lone = tmp_path / "lone"
    lone.mkdir()
    if any((p / "course.toml").is_file() for p in (lone, *lone.parents)):
        pytest.skip("a course.toml above the temporary folder")
    monkeypatch.chdir(lone)
    with pytest.raises(CourseError, match=r"set GRADER_COURSE .* course='"):
        notebook.locate_course()
    nb = _notebook(TOY_SOLUTION)
    with pytest.raises(notebook.NoCourse, match=r"check\('toy', course='path/to/course'\)"):
        _cell(nb, "import grader.integrations.notebook\n"
                  "grader.integrations.notebook.check('toy')\n")
    assert capsys.readouterr().out == ""


def test_does_grader_check_outside_any_course_name_the_keyword(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``from grader import check; check('neuron')`` in a notebook outside any course: one
    error (no chained CourseError) naming ``course=``, not the command line's --course."""
    import grader

    if any((p / "course.toml").is_file() for p in (tmp_path, *tmp_path.parents)):
        pytest.skip("a course.toml above the temporary folder")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CourseError) as raised:
        grader.check("neuron")
    assert "check('neuron', course='path/to/course')" in str(raised.value)
    assert "--course" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_is_a_session_made_once_per_namespace() -> None:
    namespace: dict[str, Any] = {}
    first = notebook.session(namespace)
    assert notebook.session(namespace) is first and namespace[SESSION_NAME] is first
    assert notebook.session({}) is not first


def test_do_the_engine_exports_and_integrations_keep_no_module_level_state() -> None:
    """No module-level dict, list or set, and no cache but the schema's, in the packages
    whose state must live in objects passed down."""
    names = ["grader.api"]
    for package in ("engine", "exports", "integrations"):
        found = importlib.import_module(f"grader.{package}")
        names += [f"grader.{package}.{m.name}" for m in pkgutil.iter_modules(found.__path__)]
    state = []
    for name in names:
        for key, value in vars(importlib.import_module(name)).items():
            if key.startswith("__") or (name, key) in CONSTANT_CACHES:
                continue
            if isinstance(value, dict | list | set | bytearray) or hasattr(value, "cache_info"):
                state.append(f"{name}.{key}")
    assert state == []
