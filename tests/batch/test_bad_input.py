"""Bad input, graded by the real CLI: each broken entry gets a per-student error that says what
was wrong, nothing is written outside the grader's folders, and the rest of the class gets its
normal results."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.engine import results

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["activations", "neuron", "layer", "worked_example", "losses", "gradcheck", "mlp",
           "sgd"]


def _reference_zip(path: Path, extra: dict[str, bytes] | None = None,
                   skip: tuple[str, ...] = ()) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for module in MODULES:
            if module not in skip:
                archive.write(ROOT / "solutions" / f"{module}.py", f"work/{module}.py")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)


def _symlink_member(archive: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive.writestr(info, target)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, results.Result]:
    base = tmp_path_factory.mktemp("bad-input")
    cls = base / "class"
    cls.mkdir()
    shutil.copytree(ROOT / "solutions", cls / "good")

    # zip-slip: entries that climb out of the archive or are absolute
    _reference_zip(cls / "zipslip.zip", {"../../escaped_neuron.py": b"x = 1\n",
                                         "/tmp/absolute_neuron.py": b"x = 1\n"},
                   skip=("neuron",))
    with zipfile.ZipFile(cls / "zipslip.zip", "a") as archive:
        archive.writestr("../neuron.py", b"def forward(w, b, a_prev):\n    return 1.0, 1.0\n")
    # zip bomb: a module that inflates to 200 MB, and a zip of 6000 entries
    with zipfile.ZipFile(cls / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for module in MODULES:
            if module != "neuron":
                archive.write(ROOT / "solutions" / f"{module}.py", f"{module}.py")
        with archive.open("neuron.py", "w", force_zip64=True) as member:
            block = b"#" * (1 << 20)
            for _ in range(200):
                member.write(block)
    with zipfile.ZipFile(cls / "manyfiles.zip", "w") as archive:
        for i in range(6000):
            archive.writestr(f"junk/{i}.txt", b"")
    # symlinks, in a folder and in a zip, at a solution and at /etc/passwd
    shutil.copytree(ROOT / "solutions", cls / "linker")
    (cls / "linker" / "neuron.py").unlink()
    os.symlink(ROOT / "solutions" / "neuron.py", cls / "linker" / "neuron.py")
    (cls / "linker" / "layer.py").unlink()
    os.symlink("/etc/passwd", cls / "linker" / "layer.py")
    _reference_zip(cls / "ziplinker.zip", skip=("neuron",))
    with zipfile.ZipFile(cls / "ziplinker.zip", "a") as archive:
        _symlink_member(archive, "work/neuron.py", str(ROOT / "solutions" / "neuron.py"))
    # notebooks that are not JSON, or not nbformat 4
    (cls / "notjson.ipynb").write_text('{"cells": [ this is not json')
    (cls / "oldformat.ipynb").write_text(json.dumps({"nbformat": 3, "worksheets": [],
                                                     "cells": []}))
    # a syntax error, non-UTF-8 source
    shutil.copytree(ROOT / "solutions", cls / "syntax")
    (cls / "syntax" / "layer.py").write_text("def forward(W, b, a_prev)\n    return 1\n")
    shutil.copytree(ROOT / "solutions", cls / "latin1")
    (cls / "latin1" / "losses.py").write_bytes("# caf\xe9\nx = 1\n".encode("latin-1"))
    # empty submissions
    (cls / "emptyfolder").mkdir()
    with zipfile.ZipFile(cls / "emptyzip.zip", "w"):
        pass
    # a 100 MB module file, and a 100 MB data file beside a good submission
    shutil.copytree(ROOT / "solutions", cls / "huge")
    with open(cls / "huge" / "mlp.py", "wb") as fh:
        fh.truncate(100 * 1024 * 1024)
    shutil.copytree(ROOT / "solutions", cls / "bigdata")
    with open(cls / "bigdata" / "weights.npy", "wb") as fh:
        fh.truncate(100 * 1024 * 1024)
    # two entries with one student id
    shutil.copytree(ROOT / "solutions", cls / "twin")
    _reference_zip(cls / "twin.zip")

    out = base / "results"
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(cls), "--out", str(out),
                           "--jobs", "2", "--course", str(ROOT)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (base / "escaped_neuron.py").exists() and not (cls / "escaped_neuron.py").exists()
    assert not Path("/tmp/absolute_neuron.py").exists()
    return {r["student"]: r for r in results.load_all(out)}


def _errors(result: results.Result) -> str:
    return "\n".join(result["errors"])


def _feedback(result: results.Result, module: str) -> str:
    return "\n".join(t["feedback"] for t in result["tests"] if t["module"] == module)


def test_every_entry_gets_a_valid_result(graded: dict[str, results.Result]) -> None:
    """Does every entry of the class, broken or not, get a schema-valid result?"""
    assert set(graded) == {"good", "zipslip", "bomb", "manyfiles", "linker", "ziplinker",
                           "notjson", "oldformat", "syntax", "latin1", "emptyfolder",
                           "emptyzip", "huge", "bigdata", "twin"}


def test_the_good_submissions_are_unaffected(graded: dict[str, results.Result]) -> None:
    """Do the correct submissions in the batch get their normal 100?"""
    assert graded["good"]["score"] == 100
    assert graded["bigdata"]["score"] == 100 and graded["bigdata"]["errors"] == []


def test_zip_slip_entries_are_refused(graded: dict[str, results.Result]) -> None:
    """Are ../ and absolute entries ignored with a note, and the module counted missing?"""
    result = graded["zipslip"]
    assert "archive paths must stay inside the archive" in _errors(result)
    assert result["modules"]["neuron"]["score"] == 0
    assert result["modules"]["activations"]["score"] == 12


def test_zip_bombs_are_capped(graded: dict[str, results.Result]) -> None:
    """Is a module that inflates to 200 MB refused, and a zip of 6000 entries rejected?"""
    assert "over the limit" in _errors(graded["bomb"])
    assert graded["bomb"]["modules"]["neuron"]["score"] == 0
    assert graded["bomb"]["modules"]["layer"]["score"] == 12
    assert "more than 5000 entries" in _errors(graded["manyfiles"])


def test_symlinks_are_not_followed(graded: dict[str, results.Result]) -> None:
    """Do links to a solution or to /etc/passwd earn nothing and say why?"""
    for student in ("linker", "ziplinker"):
        result = graded[student]
        assert "symbolic link, which is not followed" in _errors(result)
        assert result["modules"]["neuron"]["score"] == 0
    assert graded["linker"]["modules"]["layer"]["score"] == 0
    assert "root:" not in json.dumps(graded["linker"])


def test_broken_notebooks_say_what_to_do(graded: dict[str, results.Result]) -> None:
    """Is a notebook that is not JSON, or not nbformat 4, a clear per-student error?"""
    assert "not valid notebook JSON" in _errors(graded["notjson"])
    assert "nbformat 3" in _errors(graded["oldformat"])
    assert graded["notjson"]["score"] == graded["oldformat"]["score"] == 0


def test_source_problems_cost_only_their_module(graded: dict[str, results.Result]) -> None:
    """Does a syntax error or non-UTF-8 source cost its module only, with the reason?"""
    syntax = graded["syntax"]
    assert "SyntaxError" in _feedback(syntax, "layer")
    assert syntax["modules"]["layer"]["score"] == 0 and syntax["score"] == 88
    latin = graded["latin1"]
    assert "not UTF-8" in _errors(latin)
    assert latin["modules"]["losses"]["score"] == 0 and latin["score"] == 90


def test_empty_submissions(graded: dict[str, results.Result]) -> None:
    """Do an empty folder and an empty zip score 0 with 'no module files found'?"""
    for student in ("emptyfolder", "emptyzip"):
        assert graded[student]["score"] == 0
        assert "no module files found" in _errors(graded[student])


def test_a_100_mb_module_is_refused(graded: dict[str, results.Result]) -> None:
    """Is a 100 MB module file refused (its module 0), the rest graded?"""
    result = graded["huge"]
    assert "over the limit" in _errors(result)
    assert result["modules"]["mlp"]["score"] == 0 and result["score"] == 84


def test_duplicate_student_ids(graded: dict[str, results.Result]) -> None:
    """Are two entries with one id reported, naming both, instead of one silently winning?"""
    result = graded["twin"]
    assert result["score"] == 0
    assert "share the student id 'twin'" in _errors(result)
    assert "twin.zip" in _errors(result)
