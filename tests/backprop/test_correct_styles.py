"""Does every correct submission score 100, whatever its style, start mode, isolation and form?

The corpus in ``tests/fixtures/correct_styles/`` holds independent correct submissions, one per
folder, each written from the stubs' docstrings alone in a style real students use (explicit
loops, einsum, math and lists, a tanh sigmoid, logaddexp, tables of activations and closures,
numpy submodules, a helper module of their own, an int-returning scalar relu, extra dict keys,
their own mlp cache layout, CRLF and a BOM with demo code, ``%%writefile -a`` cells, one
notebook per module). Everything goes through the real CLI (``python -m grader grade`` and
``python -m grader check``) on real files, and the results are read from the JSON it writes.

Cost on 2 CPUs: about 3.5 minutes for the whole file (most of it the default-mode class of
50 ids per style, graded once with ``--jobs 2``).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import stat
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fixtures" / "correct_styles"
STYLES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
COURSE = tomllib.loads((ROOT / "course.toml").read_text(encoding="utf-8"))
MODULES: list[str] = COURSE["course"]["modules"]
FUNCTIONS: dict[str, list[str]] = COURSE["functions"]
IDS_PER_STYLE = 50  # default mode: each style under this many student ids
FEW_IDS = 2  # the other start modes and isolation levels
#: (name, environment overrides) of the start modes and isolation levels besides the default
MODES = {
    "cold-start": {"GRADER_WARM_START": "0"},
    "isolation-none": {"GRADER_ISOLATION": "none"},
    "isolation-uid": {},  # no bwrap on PATH (see _mode_env): the uid level
    "venv-under-tmp": {},  # the grader run from a venv under /tmp, warm start (see _python)
}
FORMS_STYLE = "einsum"  # the style graded in every form (one that scores 100 as a folder)
FORMS = ["folder", "zip", "release", "notebook", "module-notebooks", "nbgrader-collected"]


# -- helpers ---------------------------------------------------------------------------------
def _env(overrides: Mapping[str, str] = {}) -> dict[str, str]:
    """The environment of a grader command: ours without GRADER_* settings, plus overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(overrides)
    return env


def _run(args: list[str], env: Mapping[str, str] = {}, timeout: float = 3600,
         python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "-m", "grader", *args], cwd=ROOT, env=_env(env),
                          capture_output=True, text=True, timeout=timeout)


def _python(mode: str) -> str:
    """The interpreter a mode grades with: a venv under /tmp (whose binds once vanished from
    warm children) for ``venv-under-tmp``; for ``isolation-uid``, this one if uid 65534 can
    start it, else that venv (made from a Python uid 65534 can start); this one otherwise."""
    if mode == "isolation-uid" and _unreachable(sys.executable) is None:
        return sys.executable
    if mode not in ("venv-under-tmp", "isolation-uid"):
        return sys.executable
    from conftest import _venv_under_tmp  # builds it once, shared with test_imports

    python = str(_venv_under_tmp())
    assert python.startswith("/tmp/")
    return python


def _place(style: str, dest: Path, student: str) -> Path:
    """Put a copy of ``style`` into the class folder ``dest`` as ``student``'s entry.

    A style that is a single notebook is submitted as ``<student>.ipynb``; any other style
    (module files, or one notebook per module) as the folder ``<student>/``.
    """
    source = CORPUS / style
    files = [p for p in source.iterdir() if p.is_file()]
    if len(files) == 1 and files[0].suffix == ".ipynb":
        target = dest / f"{student}.ipynb"
        shutil.copyfile(files[0], target)
        return target
    target = dest / student
    shutil.copytree(source, target)
    return target


def _grade(class_dir: Path, out: Path, env: Mapping[str, str] = {}, jobs: int = 2,
           python: str = sys.executable) -> dict[str, dict[str, Any]]:
    """Grade ``class_dir`` with the real CLI; every student's result JSON, by student id.

    A student without a result gets, in its place, what the command said (its exit code and
    the end of its error output), for the test's message.
    """
    proc = _run(["grade", str(class_dir), "--out", str(out), "--jobs", str(jobs)], env,
                python=python)
    results: dict[str, dict[str, Any]] = {
        p.stem: json.loads(p.read_text(encoding="utf-8"))
        for p in out.glob("*.json") if not p.name.endswith(".gradescope.json")}
    said = f"grader grade exited {proc.returncode}: {proc.stderr[-1500:]}"
    for entry in class_dir.iterdir():
        results.setdefault(entry.name.removesuffix(entry.suffix) if entry.is_file()
                           else entry.name, {"missing": said})
    return results


def _lost_points(results: Mapping[str, dict[str, Any]], students: list[str]) -> list[str]:
    """One line per student who did not score full marks, naming each failed test."""
    lines = []
    for student in students:
        result = results.get(student, {"missing": "not in the class folder"})
        if "missing" in result:
            lines.append(f"{student}: no result written; {result['missing']}")
            continue
        if result["score"] == result["max_score"] and not result["errors"]:
            continue
        failed = [f"    {t['id']} ({t['status']}): "
                  + " | ".join(t["feedback"].strip().splitlines()[:2])
                  for t in result["tests"] if t["score"] < t["max_score"]]
        lines.append(f"{student}: {result['score']:g}/{result['max_score']:g} "
                     f"errors={result['errors']}\n" + "\n".join(failed))
    return lines


def _summarise(lines: list[str], students: int) -> str:
    """The first few failing students in full, and how many there were."""
    return (f"{len(lines)} of {students} students lost points; the first ones:\n"
            + "\n".join(lines[:3]))


def _check(path: Path, env: Mapping[str, str] = {}, python: str = sys.executable
           ) -> subprocess.CompletedProcess[str]:
    return _run(["check", "--path", str(path)], env, timeout=300, python=python)


def _check_failures(proc: subprocess.CompletedProcess[str]) -> str:
    """What a failed ``grader check`` said: its non-passing lines and its error output."""
    lines = [line for line in proc.stdout.splitlines()
             if line.strip() and not line.rstrip().endswith(("check)", "checks)"))]
    return "\n".join(lines[:40]) + "\n" + proc.stderr[-1500:]


def _unreachable(python: str) -> str | None:
    """Why uid 65534 cannot run ``python`` (a folder on its way it cannot enter), or None."""
    real = Path(python).resolve()
    for path in (real, real.parent.parent / "lib"):
        for folder in path.parents:
            if not folder.stat().st_mode & stat.S_IXOTH:
                return (f"uid 65534 cannot enter {folder} (mode {oct(folder.stat().st_mode)}), "
                        f"on the way to {path}: the uid level cannot start Python here")
    return None


# -- the default mode: bubblewrap with warm start, 50 ids per style ------------------------------
@pytest.fixture(scope="module")
def default_class(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every style under IDS_PER_STYLE student ids, graded once with --jobs 2."""
    base = tmp_path_factory.mktemp("default")
    class_dir = base / "class"
    class_dir.mkdir()
    for style in STYLES:
        for i in range(IDS_PER_STYLE):
            _place(style, class_dir, f"{style}-{i:02d}")
    return _grade(class_dir, base / "out")


def test_corpus_has_at_least_ten_styles_each_with_all_eight_modules() -> None:
    """Is the corpus big enough, and does every style define every contract function?"""
    assert len(STYLES) >= 10, STYLES
    for style in STYLES:
        folder = CORPUS / style
        sources: dict[str, str] = {}
        for path in folder.iterdir():
            if path.suffix == ".py":
                sources[path.stem] = path.read_text(encoding="utf-8-sig")
            elif path.suffix == ".ipynb":
                cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
                for cell in cells:
                    text = "".join(cell["source"])
                    first, _, body = text.partition("\n")
                    if first.startswith("%%writefile"):
                        module = Path(first.split()[-1]).stem
                        sources[module] = sources.get(module, "") + "\n" + body
                    elif cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                        module = path.stem
                        sources[module] = sources.get(module, "") + "\n" + text
        for module in MODULES:
            assert module in sources, f"{style} has no {module}"
            defined = {node.name for node in ast.walk(ast.parse(sources[module]))
                       if isinstance(node, ast.FunctionDef)}
            missing = set(FUNCTIONS[module]) - defined
            assert not missing, f"{style}/{module} lacks {sorted(missing)}"


@pytest.mark.parametrize("style", STYLES)
def test_style_scores_100_for_50_ids_with_warm_start_and_bubblewrap(
        style: str, default_class: dict[str, dict[str, Any]]) -> None:
    """Does every one of the style's 50 students score 100/100 in the default mode?"""
    students = [f"{style}-{i:02d}" for i in range(IDS_PER_STYLE)]
    lost = _lost_points(default_class, students)
    assert not lost, _summarise(lost, len(students))


@pytest.fixture(scope="module")
def default_checks() -> dict[str, subprocess.CompletedProcess[str]]:
    """``grader check --path`` on every style, two at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(STYLES, pool.map(lambda s: _check(CORPUS / s), STYLES), strict=True))


@pytest.mark.parametrize("style", STYLES)
def test_style_passes_every_public_check(
        style: str, default_checks: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """Does ``grader check --path <style>`` pass every function's public checks?"""
    proc = default_checks[style]
    total = sum(len(FUNCTIONS[m]) for m in MODULES)
    assert proc.returncode == 0 and f"{total} of {total} functions pass" in proc.stdout, \
        _check_failures(proc)


# -- the other start modes and isolation levels, a few ids each ------------------------------
def _mode_env(mode: str, python: str) -> dict[str, str]:
    if mode == "isolation-uid":
        if os.geteuid() != 0:
            pytest.skip("the uid level needs the grader to run as root")
        reason = _unreachable(python)
        if reason:
            pytest.skip(reason)
        return {"PATH": str(Path(python).parent)}  # no bwrap on PATH: the uid level
    return MODES[mode]


@pytest.fixture(scope="module", params=sorted(MODES))
def other_mode(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[str, dict[str, dict[str, Any]],
                                   dict[str, subprocess.CompletedProcess[str]]]]:
    """One mode: every style under FEW_IDS ids graded, and checked, with that mode's settings."""
    mode = request.param
    python = _python(mode)
    env = _mode_env(mode, python)
    base = tmp_path_factory.mktemp(mode)
    class_dir = base / "class"
    class_dir.mkdir()
    for style in STYLES:
        for i in range(FEW_IDS):
            _place(style, class_dir, f"{style}-{mode}-{i}")
    results = _grade(class_dir, base / "out", env, python=python)
    with ThreadPoolExecutor(max_workers=2) as pool:
        checks = dict(zip(STYLES, pool.map(lambda s: _check(CORPUS / s, env, python), STYLES),
                              strict=True))
    yield mode, results, checks


@pytest.mark.parametrize("style", STYLES)
def test_style_scores_100_in_every_other_start_mode_and_isolation_level(
        style: str, other_mode: tuple[str, dict[str, dict[str, Any]], Any]) -> None:
    """Cold start, no isolation, uid isolation, a venv under /tmp: does the style still
    score 100/100?"""
    mode, results, _ = other_mode
    students = [f"{style}-{mode}-{i}" for i in range(FEW_IDS)]
    lost = _lost_points(results, students)
    assert not lost, f"[{mode}] " + _summarise(lost, len(students))


@pytest.mark.parametrize("style", STYLES)
def test_style_passes_every_public_check_in_every_other_mode(
        style: str, other_mode: tuple[str, Any, dict[str, subprocess.CompletedProcess[str]]]
) -> None:
    """Cold start, no isolation, uid isolation: does ``grader check`` still pass everything?"""
    mode, _, checks = other_mode
    proc = checks[style]
    total = sum(len(FUNCTIONS[m]) for m in MODULES)
    assert proc.returncode == 0 and f"{total} of {total} functions pass" in proc.stdout, \
        f"[{mode}]\n" + _check_failures(proc)


# -- one submission in every form ------------------------------------------------------------
def _module_sources(style: str) -> dict[str, str]:
    return {m: (CORPUS / style / f"{m}.py").read_text(encoding="utf-8-sig") for m in MODULES}


def _code_cell(text: str, nbgrader: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": None, "outputs": [],
            "metadata": {"nbgrader": nbgrader} if nbgrader else {},
            "source": text.splitlines(keepends=True)}


def _notebook(cells: list[dict[str, Any]]) -> str:
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    return json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                       "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                   "display_name": "Python 3"}}}, indent=1)


def _nbgrader_notebook(module: str, source: str) -> str:
    """``module`` as nbgrader releases it, the student's code in its solution cells.

    The provided cell is the stub's own code that is not an exercise (docstring, imports,
    constants, provided functions); each exercise function gets its solution cell (with the
    student's helpers and imports that precede it) and a locked test cell after it.
    """
    def meta(grade_id: str, **kw: Any) -> dict[str, Any]:
        return {"grade": False, "grade_id": grade_id, "locked": True, "schema_version": 3,
                "solution": False, **kw}

    def chunks(text: str) -> Iterator[tuple[str | None, str]]:
        lines = text.splitlines(keepends=True)
        for node in ast.parse(text).body:
            start = (node.decorator_list[0] if getattr(node, "decorator_list", None)
                     else node).lineno - 1
            name = node.name if isinstance(node, ast.FunctionDef) else None
            yield name, "".join(lines[start:node.end_lineno])

    exercises = FUNCTIONS[module]
    stub = (ROOT / "exercises" / f"{module}.py").read_text(encoding="utf-8")
    provided = [text for name, text in chunks(stub) if name not in exercises]
    cells = [
        _code_cell("import grader.integrations.notebook\n\ngrader.integrations.notebook.install()",
                   meta(f"setup-{module}")),
        _code_cell("\n\n".join(provided), meta(f"{module}-provided")),
    ]
    pending: list[str] = []  # the student's own code before the next exercise
    for name, text in chunks(source):
        if name in exercises:
            cells.append(_code_cell("\n\n".join([*pending, text]),
                                    meta(f"{module}-{name}", solution=True, locked=False)))
            cells.append(_code_cell(f"grader.integrations.notebook.check({module!r}, {name!r})",
                                    meta(f"{module}-{name}-test", grade=True, points=1.0)))
            pending = []
        elif not (isinstance(text, str) and text.lstrip().startswith(('"""', "'''"))):
            pending.append(text)
    if pending:  # code after the last exercise (demo code): a solution cell of its own
        cells.append(_code_cell("\n\n".join(pending),
                                meta(f"{module}-extra", solution=True, locked=False)))
    return _notebook(cells)


def _build_form(form: str, style: str, dest: Path, student: str) -> None:
    """Write ``style`` into the class folder ``dest`` as ``student``'s entry in ``form``."""
    sources = _module_sources(style)
    if form == "folder":
        _place(style, dest, student)
    elif form == "zip":  # as an operating system zips a folder: the folder's name inside
        with zipfile.ZipFile(dest / f"{student}.zip", "w") as archive:
            for module, text in sources.items():
                archive.writestr(f"{style}/{module}.py", text)
    elif form == "release":  # the whole student bundle, the work in its exercises/
        proc = _run(["release", "--out", str(dest / student)])
        assert proc.returncode == 0, proc.stderr
        for module, text in sources.items():
            (dest / student / "exercises" / f"{module}.py").write_text(text, encoding="utf-8")
    elif form == "notebook":  # one notebook, a %%writefile cell per module
        cells = [_code_cell(f"%%writefile {m}.py\n{text}") for m, text in sources.items()]
        (dest / f"{student}.ipynb").write_text(_notebook(cells), encoding="utf-8")
    elif form in ("module-notebooks", "nbgrader-collected"):
        folder = dest / student
        if form == "nbgrader-collected":  # nbgrader's submitted/<student>/<assignment>/
            folder = folder / COURSE["course"]["assignment"]
        folder.mkdir(parents=True)
        for module, text in sources.items():
            (folder / f"{module}.ipynb").write_text(_nbgrader_notebook(module, text),
                                                    encoding="utf-8")
    else:
        raise ValueError(form)


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """FORMS_STYLE as the same student id in every form, each graded into its own folder."""
    base = tmp_path_factory.mktemp("forms")

    def grade(form: str) -> dict[str, Any]:
        class_dir = base / form / "class"
        class_dir.mkdir(parents=True)
        _build_form(form, FORMS_STYLE, class_dir, "alice")
        return _grade(class_dir, base / form / "out", jobs=1)["alice"]

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(FORMS, pool.map(grade, FORMS), strict=True))


def test_the_forms_style_scores_100_as_a_folder(forms: dict[str, dict[str, Any]]) -> None:
    """Is the style used for the comparison of forms itself graded 100 as a plain folder?"""
    lost = _lost_points({"alice": forms["folder"]}, ["alice"])
    assert not lost, lost[0]


@pytest.mark.parametrize("form", [f for f in FORMS if f != "folder"])
def test_same_submission_gets_the_same_score_test_by_test_in_every_form(
        form: str, forms: dict[str, dict[str, Any]]) -> None:
    """Zip, release folder, notebook, per-module notebooks: the folder's score, test by test?"""
    def by_test(result: dict[str, Any]) -> dict[str, tuple[float, str]]:
        return {t["id"]: (t["score"], t["status"]) for t in result.get("tests", [])}

    assert "missing" not in forms[form], forms[form]["missing"]
    expected, actual = by_test(forms["folder"]), by_test(forms[form])
    differ = {k: (expected.get(k), actual.get(k)) for k in expected.keys() | actual.keys()
              if expected.get(k) != actual.get(k)}
    feedback = {t["id"]: " | ".join(t["feedback"].strip().splitlines()[:2])
                for t in forms[form].get("tests", [])}
    assert not differ and forms[form].get("errors") == forms["folder"].get("errors"), (
        f"{form}: score {forms[form].get('score')} against {forms['folder'].get('score')} as "
        f"a folder; errors {forms[form].get('errors')}; {len(differ)} tests differ, e.g.\n"
        + "\n".join(f"  {k}: folder {v[0]}, {form} {v[1]}: {feedback.get(k, '')[:200]}"
                    for k, v in sorted(differ.items())[:5]))
