"""One definition of "the student's code", shared by `grader check`, `grader grade`, nbgrader and
Gradescope: which files are taken, from which folder, from which notebooks; the same submission
in every shape gets the same score, test by test. Each run is the real CLI on real files."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from grader.batch.submissions import Submission, unpack
from grader.course.config import load_course
from grader.engine import results
from grader.integrations.nbgrader import notebook as nbgrader_notebook

ROOT = Path(__file__).resolve().parents[2]
COURSE = load_course(ROOT)
MODULES = list(COURSE.modules)
#: ben's classic mistake: the missing factor 2 (costs neuron.backward only, whatever the inputs)
MISTAKE = ("neuron", "delta = sigmoid_prime(z) * 2.0 * (a - y)",
           "delta = sigmoid_prime(z) * (a - y)")
#: activations.py of a student who keeps the maths in a helper module of their own
HELPER_USER = "from nn_utils import *  # noqa: F403 (my own helper module)\n"


def grader(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=600)


def grade(*entries: Path, out: Path, extra: tuple[str, ...] = ()) -> dict[str, results.Result]:
    proc = grader("grade", *map(str, entries), "--out", str(out), "--course", str(ROOT),
                  "--jobs", "2", *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {r["student"]: r for r in results.load_all(out)}


def sources(mistake: bool = True, helper: bool = True) -> dict[str, str]:
    """File name -> text of one student's submission (the reference, ben's mistake, and the
    activations kept in the student's own helper module)."""
    files = {f"{m}.py": (ROOT / "solutions" / f"{m}.py").read_text(encoding="utf-8")
             for m in MODULES}
    if mistake:
        module, old, new = MISTAKE
        assert old in files[f"{module}.py"]
        files[f"{module}.py"] = files[f"{module}.py"].replace(old, new)
    if helper:
        files["nn_utils.py"] = files["activations.py"]
        files["activations.py"] = HELPER_USER
    return files


def write_folder(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def code_cell(source: str, **nbgrader: Any) -> dict[str, Any]:
    metadata = {"nbgrader": nbgrader} if nbgrader else {}
    return {"cell_type": "code", "metadata": metadata, "source": source, "outputs": [],
            "execution_count": None}


def write_notebook(path: Path, cells: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}), encoding="utf-8")
    return path


def writefile_notebook(path: Path, files: dict[str, str]) -> Path:
    """One notebook: each file written by `%%writefile`, its second half appended by
    `%%writefile -a` (or `--append`), as students split a long module over cells."""
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# My homework"}]
    for i, (name, text) in enumerate(files.items()):
        lines = text.splitlines()
        half = len(lines) // 2
        cells.append(code_cell(f"%%writefile {name}\n" + "\n".join(lines[:half])))
        flag = "-a" if i % 2 else "--append"
        cells.append(code_cell(f"%%writefile {flag} {name}\n" + "\n".join(lines[half:])))
        cells.append(code_cell(f"import importlib\nimport {name[:-3]}"))  # scratch work
    return write_notebook(path, cells)


def per_module_notebooks(folder: Path, files: dict[str, str]) -> Path:
    """The course's own notebooks, one per module, as the nbgrader bridge releases them,
    filled in (solution cells) with the student's code; a helper module by %%writefile."""
    points = {m: dict.fromkeys(COURSE.functions(m), 1.0) for m in MODULES}
    for module in MODULES:
        notebook = nbgrader_notebook(COURSE, module, points[module])
        text = files[f"{module}.py"]
        cells = [c for c in notebook["cells"]
                 if not c["metadata"].get("nbgrader", {}).get("solution")]
        cells.insert(3, code_cell(text, grade_id=f"{module}-solution", solution=True,
                                  grade=False, locked=False, schema_version=3))
        write_notebook(folder / f"{module}.ipynb", cells)
    for name, text in files.items():
        if name[:-3] not in MODULES:
            write_notebook(folder / f"{name[:-3]}_notes.ipynb",
                           [code_cell(f"%%writefile {name}\n{text}")])
    return folder


def release_folder(folder: Path, files: dict[str, str]) -> Path:
    """A student's whole release folder (exercises/, checks/, grader/, course.toml), with
    their code in exercises/."""
    proc = grader("release", "--out", str(folder), "--course", str(ROOT))
    assert proc.returncode == 0, proc.stderr
    for name, text in files.items():
        (folder / "exercises" / name).write_text(text, encoding="utf-8")
    return folder


def zip_folder(path: Path, files: dict[str, str], top: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(f"{top}/{name}", text)
    return path


def outcomes(result: results.Result) -> list[tuple[str, str, float]]:
    return [(t["id"], t["status"], t["score"]) for t in result["tests"]]


# -- which folder ----------------------------------------------------------------------------
def test_is_a_release_folder_given_alone_one_student_graded_from_its_exercises(
    tmp_path: Path,
) -> None:
    """Given alone, is a student's whole release folder one student (not three named checks,
    exercises and grader), graded from exercises/ and never from grader/?"""
    folder = release_folder(tmp_path / "rel", sources(mistake=False, helper=False))
    graded = grade(folder, out=tmp_path / "out")
    assert list(graded) == ["rel"]
    assert graded["rel"]["score"] == 100
    assert graded["rel"]["errors"] == []


def test_is_a_release_folder_in_a_class_graded_from_its_exercises(tmp_path: Path) -> None:
    """In a class folder, is each release-shaped student folder read from its exercises/
    (grader/authoring/gradcheck.py is the grader's own module, never the student's gradcheck)?"""
    klass = tmp_path / "class"
    release_folder(klass / "alice", sources(mistake=False, helper=False))
    graded = grade(klass, out=tmp_path / "out")
    assert list(graded) == ["alice"]
    assert graded["alice"]["score"] == 100


def test_are_tool_and_hidden_folders_never_read(tmp_path: Path) -> None:
    """Are grader/, checks/, solutions/, autograde_tests/, hidden folders, checkpoints,
    __pycache__, site-packages and virtual environments never a source of modules?"""
    folder = tmp_path / "s"
    decoys = ["grader", "checks", "solutions", "autograde_tests", ".hidden",
              ".ipynb_checkpoints", "__pycache__", "venv/lib/python3.11/site-packages",
              "env"]
    for decoy in decoys:
        (folder / decoy).mkdir(parents=True)
        (folder / decoy / "neuron.py").write_text("DECOY = True\n")
        (folder / decoy / "nn_helper.py").write_text("DECOY = True\n")
    (folder / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (folder / "work").mkdir()
    (folder / "work" / "neuron.py").write_text("MINE = True\n")
    unpacked = unpack(Submission("s", folder), MODULES)
    assert unpacked.modules == {"neuron": "MINE = True\n"}
    assert unpacked.helpers == {}


# -- which files -----------------------------------------------------------------------------
def test_is_a_students_own_helper_module_graded_with_their_modules(tmp_path: Path) -> None:
    """Does `grader grade` take nn_utils.py beside the modules, so that the activations kept
    there score as they do in `grader check`?"""
    files = sources(mistake=False)
    graded = grade(write_folder(tmp_path / "helen", files), out=tmp_path / "out")
    assert graded["helen"]["score"] == 100, graded["helen"]["errors"]
    assert "nn_utils.py" in graded["helen"]["files"]


@pytest.mark.parametrize("name", ["Neuron.py", "neuron (1).py", "neuron-1.py", "NEURON.PY",
                                  "neuron.py.txt", "neuron copy.py"])
def test_is_a_near_miss_name_hinted(tmp_path: Path, name: str) -> None:
    """Does a module saved under a near-miss name get "found X: rename it to neuron.py"?"""
    folder = write_folder(tmp_path / "s", {"layer.py": "x = 1\n", name: "y = 2\n"})
    unpacked = unpack(Submission("s", folder), MODULES)
    assert "neuron" not in unpacked.modules
    assert unpacked.hints["neuron"] == f"found {name}: rename it to neuron.py"
    assert name[:-3] not in unpacked.helpers


def test_does_grade_hint_a_near_miss_name_in_the_result(tmp_path: Path) -> None:
    """Does the result of a submission with Neuron.py say what to rename, in its errors and in
    the neuron tests' feedback?"""
    files = sources(mistake=False, helper=False)
    files["Neuron.py"] = files.pop("neuron.py")
    graded = grade(write_folder(tmp_path / "nina", files), out=tmp_path / "out")
    hint = "found Neuron.py: rename it to neuron.py"
    assert any(hint in error for error in graded["nina"]["errors"])
    neuron = [t for t in graded["nina"]["tests"] if t["module"] == "neuron"]
    assert all(hint in t["feedback"] and t["score"] == 0 for t in neuron)


# -- notebooks -------------------------------------------------------------------------------
def test_are_writefile_append_cells_taken(tmp_path: Path) -> None:
    """Does a notebook that writes each module with `%%writefile` and appends its second half
    with `%%writefile -a` / `--append` score 100 (not 0)?"""
    notebook = writefile_notebook(tmp_path / "wanda.ipynb", sources(mistake=False))
    graded = grade(notebook, out=tmp_path / "out")
    assert graded["wanda"]["score"] == 100, graded["wanda"]["errors"]


def test_does_a_later_writefile_replace_the_earlier_one(tmp_path: Path) -> None:
    """Does a second `%%writefile neuron.py` (without -a) replace the first, as running the
    notebook does?"""
    notebook = write_notebook(tmp_path / "nb.ipynb", [
        code_cell("%%writefile neuron.py\nOLD = 1"),
        code_cell("%%writefile ./neuron.py\nNEW = 1"),
        code_cell('%%writefile -a "neuron.py"\nMORE = 2'),
    ])
    assert unpack(Submission("nb", notebook), MODULES).modules == {
        "neuron": "NEW = 1\nMORE = 2\n"}


def test_are_per_module_notebooks_graded_by_plain_grade(tmp_path: Path) -> None:
    """Does `grader grade submitted/` read nbgrader's submitted/<id>/<assignment>/<module>.ipynb
    (not "no module files found")?"""
    submitted = tmp_path / "submitted"
    per_module_notebooks(submitted / "nora" / "backprop", sources(mistake=False))
    graded = grade(submitted, out=tmp_path / "out")
    assert list(graded) == ["nora"]
    assert graded["nora"]["score"] == 100, graded["nora"]["errors"]


# -- every shape, one score ------------------------------------------------------------------
def test_does_every_shape_of_one_submission_get_the_same_score_test_by_test(
    tmp_path: Path,
) -> None:
    """The same files as a folder, a zip, a release-shaped folder, one notebook and
    per-module notebooks: the same status and score for every test."""
    files = sources()
    klass = tmp_path / "class"
    write_folder(klass / "as_folder", files)
    zip_folder(klass / "as_zip.zip", files, top="homework")
    release_folder(klass / "as_release", files)
    writefile_notebook(klass / "as_notebook.ipynb", files)
    per_module_notebooks(klass / "as_notebooks" / "backprop", files)
    graded = grade(klass, out=tmp_path / "out")
    assert sorted(graded) == ["as_folder", "as_notebook", "as_notebooks", "as_release",
                              "as_zip"]
    expected = outcomes(graded["as_folder"])
    lost = {t for t, status, _ in expected if status != "passed"}
    assert lost and all(t.startswith("neuron::") for t in lost)  # the mistake, only
    for student, result in graded.items():
        assert outcomes(result) == expected, student
        assert "nn_utils.py" in result["files"], student


# -- grader check says what grade takes ------------------------------------------------------
def test_does_check_say_what_grade_will_take_and_write_that_zip(tmp_path: Path) -> None:
    """Does `grader check` list the files `grader grade` will take, and does its --zip hold
    exactly those, graded as the folder is?"""
    course = release_folder(tmp_path / "rel", sources(mistake=False))
    upload = tmp_path / "upload.zip"
    proc = grader("check", "--zip", str(upload), cwd=course)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = [f"exercises/{m}.py" for m in MODULES] + ["exercises/nn_utils.py"]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("will be graded: "))
    assert sorted(line.removeprefix("will be graded: ").split(", ")) == sorted(listed)
    assert f"wrote {upload}" in proc.stdout
    with zipfile.ZipFile(upload) as archive:
        assert sorted(archive.namelist()) == sorted([f"{m}.py" for m in MODULES]
                                                    + ["nn_utils.py"])
    graded = grade(upload, course, out=tmp_path / "out")
    assert graded["upload"]["score"] == graded["rel"]["score"] == 100
    assert graded["upload"]["files_digest"] == graded["rel"]["files_digest"]


def test_does_check_hint_a_near_miss_name(tmp_path: Path) -> None:
    """Does `grader check --path` name a near-miss file and what to rename it to?"""
    files = sources(mistake=False, helper=False)
    files["Neuron.py"] = files.pop("neuron.py")
    folder = write_folder(tmp_path / "mine", files)
    proc = grader("check", "layer", "--path", str(folder), "--course", str(ROOT))
    assert "found Neuron.py: rename it to neuron.py" in proc.stdout, proc.stdout + proc.stderr


def test_is_the_check_zip_an_error_when_it_cannot_be_written(tmp_path: Path) -> None:
    """Does an unwritable --zip end the command with exit 1 and a message?"""
    course = release_folder(tmp_path / "rel", sources(mistake=False, helper=False))
    proc = grader("check", "activations", "--zip", str(tmp_path / "no" / "such" / "up.zip"),
                  cwd=course)
    assert proc.returncode == 1
    assert "cannot write" in proc.stderr


def test_does_gradescope_read_a_release_shaped_upload(tmp_path: Path) -> None:
    """Does `grader gradescope` take the same files from a release-shaped upload?"""
    folder = release_folder(tmp_path / "submission", sources(mistake=False))
    out = tmp_path / "results.json"
    proc = grader("gradescope", "--submission", str(folder), "--results", str(out),
                  "--metadata", str(tmp_path / "none.json"), "--course", str(ROOT))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["score"] == 100
