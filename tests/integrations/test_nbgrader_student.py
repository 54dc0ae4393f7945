"""The nbgrader student path, as a student meets it: only the released notebooks folder and the
installed grader, no environment variable, no course folder around them.

One module-scoped nbgrader course (two notebooks of this course: ``activations``, which
``neuron`` imports) is generated, moved, released with real ``nbgrader generate_assignment``
and validated with nbgrader's own validator (one subprocess for every notebook). The
autograde and feedback side (the course moved after generating, a mistake, untouched stubs)
is tested in ``test_nbgrader.py`` on its class. What runs in a kernel (sibling notebooks
changing, the report's width, a notebook outside any course) is tested in this process on the
released notebooks.
"""

from __future__ import annotations

import json
import linecache
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.course.config import load_course
from grader.integrations.nbgrader import _segments

pytest.importorskip("nbgrader")
pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
COURSE = load_course(ROOT)
ASSIGNMENT = "backprop"
MODULES = ("activations", "neuron")
COURSE_FILES = ("course.toml", "exercises", "solutions", "checks", "autograde_tests", "notes",
                "commands")
#: the one mistake: sigma'(z) = s (1 + s)
MISTAKE = ("sigmoid_prime", "return s * (1.0 - s)", "return s * (1.0 + s)")
VALIDATE = """\
import json, sys
from nbgrader.validator import Validator


class Reporting(Validator):
    # nbgrader's validator, keeping the executed notebook: what each failed cell printed
    def _preprocess(self, nb):
        self.executed = super()._preprocess(nb)
        return self.executed


def validate(path):
    validator = Reporting()
    found = validator.validate(path)
    printed = {c.source.strip(): "".join(o.get("text", "") for o in c.outputs
                                         if o.output_type == "stream")
               for c in validator.executed.cells if c.cell_type == "code"}
    for cell in found.get("failed", []):
        cell["report"] = printed.get(cell["source"], "")
    return found


print(json.dumps({p: validate(p) for p in sys.argv[1:]}))
"""
#: nbgrader validate's widest line of an error (its width, 90, less the "..." it cuts to)
SHOWN = 87


def _env() -> dict[str, str]:
    """This environment without ``GRADER_COURSE`` (a student has none)."""
    return {k: v for k, v in os.environ.items() if k != "GRADER_COURSE"}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def _filled(released: Path, module: str, change: tuple[str, str, str] | None = None
            ) -> dict[str, Any]:
    """The released notebook of ``module`` with every solution cell holding the reference
    (``change``: one function's reference with ``old`` replaced by ``new``)."""
    notebook = json.loads(released.read_text(encoding="utf-8"))
    _, solved = _segments(ROOT / "solutions" / f"{module}.py", COURSE.functions(module))
    for cell in notebook["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            function = meta["grade_id"][len(module) + 1:]
            source = solved[function]
            if change is not None and change[0] == function:
                assert change[1] in source
                source = source.replace(change[1], change[2])
            cell["source"] = source
    return notebook


def _with_helper_cell(notebook: dict[str, Any]) -> dict[str, Any]:
    """``notebook`` (activations, filled) with ``sigmoid`` calling a helper that a cell the
    student added (no nbgrader metadata) defines: part of the module that imports it."""
    cells = notebook["cells"]
    at = next(i for i, c in enumerate(cells)
              if c["metadata"].get("nbgrader", {}).get("grade_id") == "activations-sigmoid")
    reference = "".join(cells[at]["source"])
    helper = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": reference.replace("def sigmoid(", "def _stable_sigmoid(")}
    cells[at]["source"] = "def sigmoid(z):\n    return _stable_sigmoid(z)\n"
    cells.insert(at, helper)
    return notebook


def _student(home: Path, name: str, release: Path, filled: dict[str, Any]) -> Path:
    """A student's copy of the released folder (``filled``: module to notebook written over
    the released one)."""
    folder = home / name / ASSIGNMENT
    shutil.copytree(release, folder)
    for module, notebook in filled.items():
        (folder / f"{module}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Generated from a course copy, the course moved, two notebooks released, then the
    students' copies (outside any course folder) validated by nbgrader."""
    base = tmp_path_factory.mktemp("nbgrader-student")
    course = base / "instructor" / "course"
    course.mkdir(parents=True)
    for name in COURSE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, course / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, course / name)
    _run([sys.executable, "-m", "grader", "nbgrader", "generate", "--nbgrader-course",
          "nbgrader"], cwd=course)
    moved = base / "instructor" / "moved"
    course.rename(moved)
    nb_course = moved / "nbgrader"
    for path in (nb_course / "source" / ASSIGNMENT).glob("*.ipynb"):
        if path.stem not in MODULES:  # two notebooks keep the test lean
            path.unlink()
    _run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT], cwd=nb_course)
    release = nb_course / "release" / ASSIGNMENT
    home = base / "home"
    released = {m: release / f"{m}.ipynb" for m in MODULES}
    folders = {
        "stan": _student(home, "stan", release, {}),
        "mia": _student(home, "mia", release,
                        {"activations": _filled(released["activations"], "activations",
                                                MISTAKE)}),
        "nia": _student(home, "nia", release,
                        {"neuron": _filled(released["neuron"], "neuron")}),
        "ada": _student(home, "ada", release,
                        {"activations": _with_helper_cell(_filled(released["activations"],
                                                                  "activations")),
                         "neuron": _filled(released["neuron"], "neuron")}),
    }
    notebooks = [folders["stan"] / "activations.ipynb", folders["mia"] / "activations.ipynb",
                 folders["nia"] / "neuron.ipynb", folders["ada"] / "neuron.ipynb"]
    proc = _run([sys.executable, "-c", VALIDATE, *map(str, notebooks)], cwd=home)
    validated = {Path(k).relative_to(home).as_posix(): v
                 for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
    return {"release": release, "home": home, "validated": validated, "folders": folders,
            "moved": moved, "generated_in": course}


def _failed(student: dict[str, Any], notebook: str) -> list[dict[str, str]]:
    """The failed cells nbgrader's validator found in a student's notebook, their errors' and
    reports' whitespace made single spaces; every line of the error it would show (the
    ``ChecksFailed`` lines) fits in its width, so none is cut off."""
    from nbconvert.filters import strip_ansi

    found: list[dict[str, str]] = student["validated"][notebook].get("failed", [])
    for cell in found:
        error = strip_ansi(cell["raw_error"])
        ours = error[error.index("ChecksFailed: "):].splitlines()
        assert ours and max(len("    " + line) for line in ours) <= SHOWN, ours
    return [{**cell, "raw_error": " ".join(cell["raw_error"].split()),
             "report": " ".join(cell["report"].split())} for cell in found]


def test_the_release_carries_its_public_checks_and_no_path(student: dict[str, Any]) -> None:
    """The released folder holds the public course the checks need (never a solution, a
    hidden test or the secret), and no file of it names where the course was or is; what
    `generate` wrote has the grader's one file mode."""
    files = [p for p in student["release"].rglob("*") if p.is_file()]
    names = {p.relative_to(student["release"]).as_posix() for p in files}
    assert {f"{m}.ipynb" for m in MODULES} <= names
    public = [n for n in names if n.endswith("course.toml")]
    assert len(public) == 1, names
    assert any(n.endswith("checks/check_neuron.py") for n in names), names
    assert not any("solutions" in n or "autograde_tests" in n for n in names), names
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert str(student["generated_in"]) not in text and str(student["moved"]) not in text
        assert COURSE.secret is not None and COURSE.secret not in text, path
    source = student["moved"] / "nbgrader" / "source" / ASSIGNMENT
    written = [p for p in source.rglob("*") if p.is_file()]
    assert any(p.name == "check_neuron.py" for p in written)
    assert {p.stat().st_mode & 0o777 for p in written} == {0o644}  # the grader's one mode


def test_an_untouched_stub_fails_validate_naming_each_function(student: dict[str, Any]) -> None:
    """Validate fails on the stubs: one failed test cell per function, each saying so."""
    failed = _failed(student, "stan/backprop/activations.ipynb")
    assert len(failed) == len(COURSE.functions("activations"))
    for cell, function in zip(failed, COURSE.functions("activations"), strict=True):
        assert f"'{function}'" in cell["source"]
        assert f"{function}: not implemented yet" in cell["raw_error"], cell["raw_error"]


def test_one_wrong_function_fails_validate_in_its_cell_only(student: dict[str, Any]) -> None:
    """The one mistake is the one failed cell, and its error names the function."""
    failed = _failed(student, "mia/backprop/activations.ipynb")
    assert [c["source"].count("'sigmoid_prime'") for c in failed] == [1], failed
    assert "sigmoid_prime: FAILED; see the report above" in failed[0]["raw_error"]
    assert "sigmoid_prime" in failed[0]["report"] and "check:" in failed[0]["report"]


def test_a_stub_in_another_notebook_is_named(student: dict[str, Any]) -> None:
    """neuron done, activations untouched: each failure's report names sigmoid in
    activations.ipynb and says how a fix there is seen, and its short error names the
    notebook at fault; none says neuron's own function is not implemented."""
    failed = _failed(student, "nia/backprop/neuron.ipynb")
    assert failed
    for cell in failed:
        error, report = cell["raw_error"], cell["report"]
        assert "sigmoid in activations.ipynb, which is not implemented yet" in report, report
        assert "Save activations.ipynb after changing it" in report
        assert "FAILED (because of activations.ipynb); see the report above" in error, error
        assert ": not implemented yet" not in error + report


def test_a_correct_student_passes_validate(student: dict[str, Any]) -> None:
    """Success for neuron over a correct activations (and mia's six correct functions of
    activations passed above), with the public checks found beside the notebooks; the
    imported activations.ipynb brings the helper of the cell its student added."""
    assert student["validated"]["ada/backprop/neuron.ipynb"] == {}


def _cells(notebook: Path, module: str) -> list[str]:
    """The code cells of the released ``notebook`` that belong to its module."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _kernel(folder: Path, module: str) -> dict[str, Any]:
    """A fresh kernel's namespace after running every cell of ``module``'s notebook but its
    test cells, each cell's source kept in ``linecache`` as IPython keeps it."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for i, source in enumerate(_cells(folder / f"{module}.ipynb", module)):
        if "notebook.check(" in source:
            continue
        name = f"<cell-{module}-{i}>"
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        exec(compile(source, name, "exec"), namespace)
    return namespace


@pytest.fixture()
def kernel(student: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[Path]:
    """A student's folder (neuron done, activations untouched) as the current folder, with
    the notebook import hook removed again afterwards."""
    folder = tmp_path / ASSIGNMENT
    shutil.copytree(student["folders"]["nia"], folder)
    monkeypatch.chdir(folder)
    monkeypatch.delenv("GRADER_COURSE", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    before = list(sys.meta_path)
    imported = {name: sys.modules.pop(name) for name in MODULES if name in sys.modules}
    yield folder
    sys.meta_path[:] = before
    for name in MODULES:
        sys.modules.pop(name, None)
    sys.modules.update(imported)


def test_a_saved_sibling_notebook_is_picked_up_without_a_restart(
    kernel: Path, student: dict[str, Any], capsys: pytest.CaptureFixture[str],
) -> None:
    """neuron's check fails on activations' stub; once activations.ipynb is filled and saved,
    the same kernel's next check passes."""
    from grader.integrations import notebook

    nb = _kernel(kernel, "neuron")
    nb["notebook"] = notebook
    with pytest.raises(notebook.ChecksFailed) as raised:
        exec("notebook.check('neuron', 'forward')", nb)
    said = " ".join(capsys.readouterr().out.split())
    assert "sigmoid in activations.ipynb, which is not implemented yet" in said, said
    assert str(raised.value) == ("forward: FAILED (because of activations.ipynb); see the "
                                 "report above")
    filled = _filled(student["release"] / "activations.ipynb", "activations")
    (kernel / "activations.ipynb").write_text(json.dumps(filled), encoding="utf-8")
    capsys.readouterr()
    exec("notebook.check('neuron', 'forward')", nb)
    out = capsys.readouterr().out
    assert "forward" in out and "passed" in out and "activations.ipynb" in out, out
    broken = json.loads(json.dumps(filled))
    next(c for c in broken["cells"] if c["cell_type"] == "code"
         and c["metadata"].get("nbgrader", {}).get("solution"))["source"] = "def sigmoid(z:\n"
    (kernel / "activations.ipynb").write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(ImportError, match=r"activations\.ipynb was saved with an error"):
        exec("notebook.check('neuron', 'forward')", nb)


def test_report_lines_wrap_at_90_columns(kernel: Path, student: dict[str, Any],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Every line a check prints fits in 90 columns, however long its explanation."""
    from grader.integrations import notebook

    filled = _filled(student["release"] / "activations.ipynb", "activations", MISTAKE)
    (kernel / "activations.ipynb").write_text(json.dumps(filled), encoding="utf-8")
    nb = _kernel(kernel, "neuron")
    nb["notebook"] = notebook
    with pytest.raises(notebook.ChecksFailed) as raised:
        exec("notebook.check('neuron')", nb)
    assert "functions fail their public checks: " in str(raised.value)
    assert max(len(line) for line in str(raised.value).splitlines()) <= notebook.ERROR_WIDTH
    out = capsys.readouterr().out
    assert "sigmoid_prime in activations.ipynb, which fails its check" in " ".join(out.split())
    assert max(len(line) for line in out.splitlines()) <= 90, out


def test_check_outside_any_course_raises_one_error_naming_the_keyword(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No public course beside the notebook, none above it: one error, no chained
    CourseError, naming ``course=`` (not the command line's --course)."""
    from grader.integrations import notebook

    if any((p / "course.toml").is_file() for p in (tmp_path, *tmp_path.parents)):
        pytest.skip("a course.toml above the temporary folder")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRADER_COURSE", raising=False)
    with pytest.raises(notebook.NoCourse) as raised:
        exec("import grader.integrations.notebook as nb\nnb.check('neuron')", {})
    text = str(raised.value)
    assert "check('neuron', course='path/to/course')" in text
    assert "--course" not in text
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_autograde_away_from_the_grader_course_says_why_in_nbgrader_s_log(
    student: dict[str, Any], tmp_path: Path,
) -> None:
    """The nbgrader course copied out of the grader course, no GRADER_COURSE: every hidden
    test cell fails, and nbgrader's own log says why, once per notebook."""
    alone = tmp_path / "alone"
    shutil.copytree(student["moved"] / "nbgrader", alone)
    shutil.copytree(student["folders"]["ada"], alone / "submitted" / "ada" / ASSIGNMENT)
    proc = _run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT], cwd=alone)
    log = proc.stdout + proc.stderr
    said = [line for line in log.splitlines() if "hidden tests cannot run" in line]
    assert len(said) == len(MODULES), log[-3000:]
    for line in said:
        assert f"no course.toml in {alone}" in line and "GRADER_COURSE" in line, line
        assert "grader grade --nbgrader-course" in line


def test_each_notebook_states_only_its_own_conventions() -> None:
    """The convention about MLP parameter dicts is in mlp's notebook, not in activations';
    conventions every module shares (float64 arrays) are in both."""
    from grader.course.points import listing
    from grader.integrations.nbgrader import notebook

    points = listing(COURSE)
    text = {m: json.dumps(notebook(COURSE, m, points[m])) for m in ("activations", "mlp")}
    assert "MLP parameters are a dict" in text["mlp"]
    assert "MLP parameters are a dict" not in text["activations"]
    for module in text:
        assert "float64 numpy arrays" in text[module]


def test_generate_takes_the_grader_course_as_every_command(tmp_path: Path) -> None:
    """--course is the grader course, --nbgrader-course the nbgrader one; --from is gone
    from the help but still works (a hidden alias of --course)."""
    from click.testing import CliRunner

    from grader.cli import main

    help_text = CliRunner().invoke(main, ["nbgrader", "generate", "--help"]).output
    assert "--nbgrader-course" in help_text and "--course" in help_text
    assert "--from" not in help_text
    assert "Exit codes:" in help_text and "every public check passed" not in help_text
    stats = ROOT / "tests" / "fixtures" / "stats_course"
    _run([sys.executable, "-m", "grader", "nbgrader", "generate", "--nbgrader-course",
          str(tmp_path / "nb"), "--course", str(stats)], cwd=tmp_path)
    assert (tmp_path / "nb" / "source" / "stats" / "moments.ipynb").is_file()
    _run([sys.executable, "-m", "grader", "nbgrader", "generate", "--nbgrader-course",
          str(tmp_path / "old"), "--from", str(stats)], cwd=tmp_path)
    assert (tmp_path / "old" / "source" / "stats" / "moments.ipynb").is_file()
    both = CliRunner().invoke(main, ["nbgrader", "generate", "--nbgrader-course", "x",
                                     "--course", str(stats), "--from", str(stats)])
    assert both.exit_code == 2 and "--from is its old name" in both.output


BLOCKER = textwrap.dedent("""\
    import sys
    for name in ("nbformat", "nbgrader", "nbgrader.api"):
        sys.modules[name] = None  # as if the nbgrader extra were not installed
    from grader.cli import main
    main()
""")


@pytest.mark.parametrize("args", [
    ["nbgrader", "generate", "--nbgrader-course", "nb"],
    ["grade", "--nbgrader-course", "nb", "--out", "out"],
])
def test_without_the_nbgrader_extra_every_path_says_what_to_install(
    tmp_path: Path, args: list[str],
) -> None:
    """Exit code 2, one line naming the extra, never a traceback."""
    (tmp_path / "nb" / "submitted" / "ada" / ASSIGNMENT).mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-c", BLOCKER, *args, "--course", str(ROOT)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=_env())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "install the nbgrader extra: pip install 'backprop-grader[nbgrader]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
