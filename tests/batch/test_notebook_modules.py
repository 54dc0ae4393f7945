"""One notebook per module, as students write them: ``activations.ipynb`` holds module
``activations`` without any ``# module:`` line, helpers in cells of their own count, and the
lines that only make sense in Jupyter (magics, shell lines, ``check(...)``) are not module code.

The end-to-end test grades and checks a real folder of notebooks (written with nbformat)
through the real CLI, against the course's own solutions graded in the same run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from grader.batch.cells import cell_files, module_code
from grader.batch.submissions import Submission, unpack

ROOT = Path(__file__).resolve().parents[2]
FILLED = ("activations", "neuron")


def _cell(source: str, **nbgrader: Any) -> Any:
    cell = nbformat.v4.new_code_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


def _write(path: Path, *cells: Any) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), *cells]
    nbformat.write(notebook, path)
    return path


def _solution(module: str) -> str:
    return (ROOT / "solutions" / f"{module}.py").read_text(encoding="utf-8")


def _student_notebooks(folder: Path) -> Path:
    """``activations.ipynb`` and ``neuron.ipynb`` as a student fills them in Jupyter: no marker,
    ``sigmoid`` built on a helper of another cell, a check cell and a magic in between."""
    folder.mkdir()
    activations = _solution("activations").replace("def sigmoid(", "def _stable_sigmoid(")
    _write(folder / "activations.ipynb",
           _cell("%load_ext autoreload\n%autoreload 2\n" + activations),
           _cell("def sigmoid(z):\n    return _stable_sigmoid(z)\n"),
           _cell("!pip list\nfrom grader import check\ncheck('activations')\n"),
           _cell("%%time\nsigmoid(0.0)\n"))
    _write(folder / "neuron.ipynb", _cell(_solution("neuron")),
           _cell("import grader\ngrader.check(\n    'neuron',\n)\n"))
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real `grader grade` of a class: the notebooks, and the solutions as ``.py`` files."""
    base = tmp_path_factory.mktemp("permod")
    klass = base / "class"
    klass.mkdir()
    _student_notebooks(klass / "permod")
    (klass / "reference").mkdir()
    for module in FILLED:
        shutil.copy(ROOT / "solutions" / f"{module}.py", klass / "reference" / f"{module}.py")
    out = base / "out"
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(klass), "--out",
                           str(out), "--course", str(ROOT)], capture_output=True, text=True,
                          cwd=base, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    results = {s: json.loads((out / f"{s}.json").read_text()) for s in ("permod", "reference")}
    return {"base": base, "klass": klass, "results": results}


@pytest.mark.slow
def test_grade_gives_per_module_notebooks_the_solutions_score(graded: dict[str, Any]) -> None:
    permod, reference = graded["results"]["permod"], graded["results"]["reference"]
    for module in FILLED:
        assert reference["modules"][module]["score"] > 0
        assert permod["modules"][module] == reference["modules"][module], module
    assert permod["score"] == reference["score"] > 0


@pytest.mark.slow
def test_check_passes_every_check_of_per_module_notebooks(graded: dict[str, Any]) -> None:
    proc = subprocess.run([sys.executable, "-m", "grader", "check", "--path",
                           str(graded["klass"] / "permod"), "--course", str(ROOT)],
                          capture_output=True, text=True, cwd=graded["base"], timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "activations.ipynb (activations.py)" in proc.stdout
    assert "neuron.ipynb (neuron.py)" in proc.stdout


# -- which cells: quick tests on the unpacking itself -------------------------------------------
MODULES = ["activations", "neuron"]


def test_a_notebook_named_after_no_module_takes_only_marked_cells(tmp_path: Path) -> None:
    notebook = _write(tmp_path / "hw.ipynb", _cell("def _sig(z):\n    return z\n"),
                      _cell("# module: activations\ndef sigmoid(z):\n    return _sig(z)\n"))
    found = unpack(Submission("hw", notebook), MODULES)
    assert "def _sig" not in found.modules["activations"]
    assert any("_sig" in note and "# module: activations" in note for note in found.notes)


def test_a_marker_for_another_module_keeps_the_marked_reading(tmp_path: Path) -> None:
    folder = tmp_path / "alice"
    folder.mkdir()
    _write(folder / "activations.ipynb", _cell("def scratch():\n    pass\n"),
           _cell("# module: neuron\ndef forward():\n    pass\n"))
    found = unpack(Submission("alice", folder), MODULES)
    assert list(found.modules) == ["neuron"]
    assert "scratch" not in found.modules["neuron"]


def test_nbgrader_instructor_cells_are_never_module_code() -> None:
    cells = [_cell("import grader.integrations.notebook\n", grade_id="setup-activations",
                   locked=True, solution=False, grade=False),
             _cell("def sigmoid(z):\n    return z\n", grade_id="activations-sigmoid",
                   solution=True, grade=False),
             _cell("grader.integrations.notebook.grade('activations', 'sigmoid')\n",
                   grade_id="activations-sigmoid-test", solution=False, grade=True),
             _cell("def _helper():\n    return 1\n")]  # added by the student
    source = cell_files(cells, MODULES, stem="activations").modules["activations"]
    assert "def sigmoid" in source and "def _helper" in source
    assert "grader" not in source


def test_module_code_blanks_jupyter_lines_and_keeps_the_rest_in_place() -> None:
    text = "%matplotlib inline\nx = 1\n!ls\ncheck('neuron')\ny = check\n"
    assert module_code(text) == "\nx = 1\n\n\ny = check\n"
    valid = 'doc = """\n%d of them\n"""\nfrom grader import check; check("neuron")\n'
    assert module_code(valid) == 'doc = """\n%d of them\n"""\n\n'
    assert module_code("def f(:\n") == "def f(:\n"  # the student's own syntax error stays


def _stub(module: str) -> str:
    return (ROOT / "exercises" / f"{module}.py").read_text(encoding="utf-8")


def test_a_notebook_beside_the_untouched_stub_is_graded_and_both_are_named(
        tmp_path: Path) -> None:
    from grader.course.config import load_course
    exercises = tmp_path / "student" / "exercises"
    exercises.mkdir(parents=True)
    (exercises / "activations.py").write_text(_stub("activations").replace("\n", "\r\n\n"))
    _write(exercises / "activations.ipynb", _cell(_solution("activations")))
    stubs = {"activations": load_course(ROOT).stubs["activations"]}
    found = unpack(Submission("s", tmp_path / "student"), ["activations"], stubs)
    assert found.modules["activations"] == _solution("activations")
    assert ("found both exercises/activations.py and exercises/activations.ipynb "
            "(activations.py): exercises/activations.ipynb (activations.py) is graded "
            "(exercises/activations.py is the untouched stub)") in found.notes
    # a .py the student filled in keeps winning, and is named as graded
    (exercises / "activations.py").write_text(_solution("activations") + "# mine\n")
    found = unpack(Submission("s", tmp_path / "student"), ["activations"], stubs)
    assert found.modules["activations"].endswith("# mine\n")
    assert any("exercises/activations.py is graded" in n for n in found.notes)


def test_ipython_only_lines_that_break_a_cell_are_blanked() -> None:
    text = ("import numpy as np\nfiles = !ls\nnp.exp?\n??np.exp\nnp.exp??\n"
            "if True:\n    !pip install numpy\nx = 1\n")
    code = module_code(text)
    compile(code, "cell", "exec")
    assert code.splitlines()[-1] == "x = 1" and len(code.splitlines()) == 8
    assert "!" not in code and "?" not in code


def test_a_wrong_case_notebook_gets_a_near_miss_hint(tmp_path: Path) -> None:
    folder = tmp_path / "u"
    folder.mkdir()
    _write(folder / "Activations.ipynb", _cell(_solution("activations")))
    found = unpack(Submission("u", folder), ["activations"])
    assert "rename it to activations.ipynb" in found.missing(["activations"])["activations"]
    alone = unpack(Submission("u", folder / "Activations.ipynb"), ["activations"])
    assert "Activations.ipynb: rename it to activations.ipynb" in alone.hints["activations"]


def test_a_function_in_a_cell_magic_cell_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    without = _solution("activations").replace("def relu(", "def _unused_relu(")
    _write(folder / "activations.ipynb", _cell(without),
           _cell("%%time\ndef relu(z):\n    return z\n\ndef sigmoid(z):\n    return z\n"))
    found = unpack(Submission("t", folder), ["activations"])
    assert found.notes == ["activations.ipynb: relu is defined in a %%time cell, which is not "
                           "graded: move it to a plain cell"]
    assert "def relu(" not in found.modules["activations"]


@pytest.mark.slow
def test_grade_takes_a_filled_notebook_over_the_untouched_stub_beside_it(tmp_path: Path) -> None:
    """A release folder where the student filled exercises/activations.ipynb and left the
    stub activations.py as released: `grader grade` grades the notebook, and says so."""
    student = tmp_path / "class" / "rosa"
    shutil.copytree(ROOT / "exercises", student / "exercises",
                    ignore=shutil.ignore_patterns("__pycache__"))
    _write(student / "exercises" / "activations.ipynb", _cell(_solution("activations")))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(tmp_path / "class"),
                           "--out", str(out), "--jobs", "1", "--course", str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "rosa.json").read_text(encoding="utf-8"))
    activations = result["modules"]["activations"]
    assert activations["score"] == activations["max_score"] > 0
    assert "activations.ipynb" in json.dumps(result) and "untouched stub" in json.dumps(result)
