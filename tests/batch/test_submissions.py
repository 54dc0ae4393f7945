"""Submissions: finding them (folder, zip, notebook, class folder) and reading their modules."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest

from grader.batch import submissions
from grader.batch.submissions import Submission, SubmissionError, discover, student_id, unpack

MODULES = ["toy", "other"]
SOURCE = "def add_one(x):\n    return x + 1\n"


def make_zip(path: Path, entries: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


def code_cell(source: str | list[str], grade_id: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if grade_id is not None:
        metadata["nbgrader"] = {"grade_id": grade_id, "solution": True, "grade": False}
    return {"cell_type": "code", "metadata": metadata, "source": source, "outputs": [],
            "execution_count": None}


def markdown_cell(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def make_notebook(path: Path, cells: list[dict[str, Any]], nbformat: int = 4) -> Path:
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": nbformat,
                                "nbformat_minor": 5}), encoding="utf-8")
    return path


def unpack_path(path: Path, modules: list[str] = MODULES) -> submissions.Unpacked:
    return unpack(Submission(student_id(path), path), modules)


# -- discover ------------------------------------------------------------------------------------
def test_is_a_folder_holding_module_files_one_submission(tmp_path: Path) -> None:
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "toy.py").write_text(SOURCE)
    assert discover([folder], MODULES) == [Submission("alice", folder)]


def test_are_a_zip_and_a_notebook_each_one_submission(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bob.zip", {"toy.py": SOURCE})
    notebook = make_notebook(tmp_path / "carol.ipynb", [code_cell("# module: toy\n")])
    assert discover([archive, notebook], MODULES) == [Submission("bob", archive),
                                                      Submission("carol", notebook)]


def test_is_a_folder_of_entries_a_class_with_one_student_per_entry(tmp_path: Path) -> None:
    klass = tmp_path / "class"
    (klass / "alice").mkdir(parents=True)
    (klass / "alice" / "toy.py").write_text(SOURCE)
    make_zip(klass / "bob.zip", {"toy.py": SOURCE})
    make_notebook(klass / "carol.ipynb", [])
    (klass / "dave").mkdir()  # an empty folder is still a student (who gets a result)
    (klass / "README.txt").write_text("not a submission")
    (klass / ".DS_Store").write_text("")
    found = discover([klass], MODULES)
    assert [s.student for s in found] == ["alice", "bob", "carol", "dave"]
    assert found[1].path == klass / "bob.zip"


@pytest.mark.parametrize(("name", "expected"), [("alice.zip", "alice"), ("Bob.ZIP", "Bob"),
                                                ("carol.ipynb", "carol"), ("dave", "dave"),
                                                ("e.v.zip", "e.v")])
def test_is_the_student_id_the_entry_name_without_its_extension(name: str,
                                                                 expected: str) -> None:
    assert student_id(Path("/submissions") / name) == expected


def test_is_a_missing_path_a_submission_error(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="does not exist"):
        discover([tmp_path / "nope"], MODULES)


def test_is_a_folder_with_nothing_gradable_a_submission_error_naming_what_is_expected(
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(SubmissionError, match=r"holds no submissions.*toy\.py"):
        discover([tmp_path], MODULES)


def test_is_a_plain_file_refused_as_a_submission(tmp_path: Path) -> None:
    path = tmp_path / "toy.py"
    path.write_text(SOURCE)
    with pytest.raises(SubmissionError, match=r"not a folder, \.zip or \.ipynb"):
        discover([path], MODULES)


# -- folders -------------------------------------------------------------------------------------
def test_are_a_folders_modules_read_as_text(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "toy.py").write_text(SOURCE)
    (tmp_path / "s" / "helper.py").write_text("x = 1\n")
    unpacked = unpack_path(tmp_path / "s")
    assert unpacked.modules == {"toy": SOURCE}
    assert unpacked.problems == {}


def test_does_the_shallowest_copy_of_a_module_win(tmp_path: Path) -> None:
    deep = tmp_path / "s" / "old" / "backup"
    deep.mkdir(parents=True)
    (deep / "toy.py").write_text("OLD = True\n")
    (tmp_path / "s" / "toy.py").write_text(SOURCE)
    assert unpack_path(tmp_path / "s").modules == {"toy": SOURCE}


def test_is_a_module_below_the_depth_limit_not_searched(tmp_path: Path) -> None:
    deep = tmp_path / "s" / "a" / "b" / "c" / "d" / "e" / "f"
    deep.mkdir(parents=True)
    (deep / "toy.py").write_text(SOURCE)
    unpacked = unpack_path(tmp_path / "s")
    assert unpacked.modules == {}
    assert unpacked.notes == ["no module files found in s/"]


def test_is_a_symlinked_module_in_a_folder_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.py"
    secret.write_text("SECRET = 'solutions'\n")
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "toy.py").symlink_to(secret)
    unpacked = unpack_path(folder)
    assert unpacked.modules == {}
    assert any("toy.py ignored" in n and "symbolic link" in n for n in unpacked.notes)


def test_is_a_symlinked_folder_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "toy.py").write_text(SOURCE)
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "linked").symlink_to(elsewhere, target_is_directory=True)
    assert unpack_path(folder).modules == {}


def test_is_a_submission_that_is_itself_a_link_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "toy.py").write_text(SOURCE)
    link = tmp_path / "alice"
    link.symlink_to(real, target_is_directory=True)
    with pytest.raises(SubmissionError, match="symbolic link"):
        unpack(Submission("alice", link), MODULES)


def test_is_a_module_that_is_not_utf8_a_problem_that_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "toy.py").write_bytes(b"# caf\xe9\ndef f():\n    pass\n")
    (tmp_path / "s" / "other.py").write_text("x = 1\n")
    unpacked = unpack_path(tmp_path / "s")
    assert "toy" not in unpacked.modules
    assert "not UTF-8" in unpacked.problems["toy"]
    assert "save the file as UTF-8" in unpacked.problems["toy"]
    assert unpacked.modules == {"other": "x = 1\n"}


def test_is_a_utf8_bom_accepted(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "toy.py").write_bytes(b"\xef\xbb\xbf" + SOURCE.encode())
    assert unpack_path(tmp_path / "s").modules == {"toy": SOURCE}


def test_is_a_module_with_nul_bytes_a_problem(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "toy.py").write_bytes(b"x = 1\x00\n")
    assert "NUL" in unpack_path(tmp_path / "s").problems["toy"]


def test_is_an_oversized_module_a_problem_not_read(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "toy.py").write_bytes(b"#" * (submissions.MAX_MODULE_BYTES + 1))
    unpacked = unpack_path(tmp_path / "s")
    assert "toy" not in unpacked.modules
    assert "over the limit" in unpacked.problems["toy"]


def test_does_write_put_each_module_in_the_folder(tmp_path: Path) -> None:
    unpacked = submissions.Unpacked(modules={"toy": SOURCE, "other": "y = 2\n"})
    unpacked.write(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["other.py", "toy.py"]
    assert (tmp_path / "out" / "toy.py").read_text() == SOURCE


# -- zips ----------------------------------------------------------------------------------------
def test_is_a_zip_with_a_top_level_folder_unpacked(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "alice.zip", {
        "alice/": "",
        "alice/toy.py": SOURCE,
        "alice/other.py": "x = 1\n",
        "__MACOSX/toy.py": b"\x00\x05\x16\x07 resource fork",
    })
    unpacked = unpack_path(archive)
    assert unpacked.modules == {"toy": SOURCE, "other": "x = 1\n"}
    assert unpacked.notes == [] and unpacked.problems == {}


@pytest.mark.parametrize("name", ["../toy.py", "/toy.py", "alice/../../toy.py", "C:/toy.py"])
def test_is_a_zip_slip_entry_ignored_with_a_note(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "evil.zip", {name: "HACKED = True\n"})
    out = tmp_path / "work" / "submission"
    unpacked = unpack_path(archive)
    unpacked.write(out)
    assert unpacked.modules == {}
    assert any("must stay inside the archive" in n for n in unpacked.notes)
    assert not (tmp_path / "work" / "toy.py").exists()
    assert not (tmp_path / "toy.py").exists()


def test_is_a_symlink_in_a_zip_not_followed(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("toy.py")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as archive:
        archive.writestr(info, "/etc/passwd")
    unpacked = unpack_path(tmp_path / "link.zip")
    assert unpacked.modules == {}
    assert any("symbolic link" in n for n in unpacked.notes)


def test_is_an_oversized_zip_member_a_problem(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip",
                       {"toy.py": b"#" * (submissions.MAX_MODULE_BYTES + 10)})
    assert "over the limit" in unpack_path(archive).problems["toy"]


def test_is_a_broken_zip_a_submission_error_that_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(SubmissionError, match=r"not a readable zip archive.*zip the folder again"):
        unpack_path(path)


def test_is_a_zip_member_with_a_bad_crc_a_submission_error_or_a_problem(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "crc.zip", {"toy.py": SOURCE})
    data = path.read_bytes()
    path.write_bytes(data.replace(b"return x + 1", b"return x + 2"))
    try:
        unpacked = unpack_path(path)
    except SubmissionError:
        return
    assert "toy" in unpacked.problems


# -- notebooks -----------------------------------------------------------------------------------
def test_are_cells_marked_module_name_gathered_in_order(tmp_path: Path) -> None:
    path = make_notebook(tmp_path / "nb.ipynb", [
        markdown_cell("# module: toy\nnot code"),
        code_cell(["# module: toy\n", "import numpy as np\n"]),
        code_cell("print('scratch work')\n"),
        code_cell("#module:toy\ndef add_one(x):\n    return x + 1\n"),
        code_cell("# module: unknown\nx = 1\n"),
    ])
    unpacked = unpack_path(path)
    assert unpacked.modules == {
        "toy": "# module: toy\nimport numpy as np\n\n\n#module:toy\ndef add_one(x):\n"
               "    return x + 1\n"
    }


def test_is_a_writefile_cell_a_module_without_its_magic_line(tmp_path: Path) -> None:
    """As IPython writes it: the cell after the magic line, ending in a newline."""
    path = make_notebook(tmp_path / "nb.ipynb", [
        code_cell("%%writefile toy.py\ndef add_one(x):\n    return x + 1"),
        code_cell("%%writefile exercises/other.py\nY = 2"),
    ])
    assert unpack_path(path).modules == {"toy": "def add_one(x):\n    return x + 1\n",
                                         "other": "Y = 2\n"}


@pytest.mark.parametrize("grade_id", ["toy", "toy-add_one", "toy_add_one", "toy.add_one",
                                      "toy:1"])
def test_is_an_nbgrader_cell_assigned_by_its_grade_id(tmp_path: Path, grade_id: str) -> None:
    path = make_notebook(tmp_path / "nb.ipynb", [code_cell(SOURCE, grade_id=grade_id),
                                                 code_cell("x = 1", grade_id="tests-toy")])
    assert unpack_path(path).modules == {"toy": SOURCE}


def test_does_the_longest_module_name_win_for_a_grade_id(tmp_path: Path) -> None:
    path = make_notebook(tmp_path / "nb.ipynb", [code_cell(SOURCE, grade_id="toy_extra-1")])
    assert unpack_path(path, ["toy", "toy_extra"]).modules == {"toy_extra": SOURCE}


def test_does_a_notebook_without_module_cells_say_how_to_mark_them(tmp_path: Path) -> None:
    path = make_notebook(tmp_path / "nb.ipynb", [code_cell("def add_one(x):\n    pass\n")])
    unpacked = unpack_path(path)
    assert unpacked.modules == {}
    assert "# module: <name>" in unpacked.notes[0]


def test_is_a_notebook_that_is_not_json_a_submission_error_that_says_what_to_do(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text('{"cells": [')
    with pytest.raises(SubmissionError, match=r"not valid notebook JSON.*open it in Jupyter"):
        unpack_path(path)


def test_is_a_notebook_that_is_not_utf8_a_submission_error(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_bytes(b'{"cells": ["\xff"]}')
    with pytest.raises(SubmissionError, match=r"not UTF-8.*Jupyter"):
        unpack_path(path)


def test_is_an_old_nbformat_refused_with_what_to_do(tmp_path: Path) -> None:
    path = make_notebook(tmp_path / "nb.ipynb", [code_cell("# module: toy\n")], nbformat=3)
    with pytest.raises(SubmissionError, match=r"nbformat 3.*save it with Jupyter"):
        unpack_path(path)


@pytest.mark.parametrize("content", ["[]", '{"nbformat": 4}', '{"cells": {}}'])
def test_is_json_that_is_not_a_notebook_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(content)
    with pytest.raises(SubmissionError, match="not a Jupyter notebook"):
        unpack_path(path)


def test_is_an_oversized_notebook_refused(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(submissions, "MAX_NOTEBOOK_BYTES", 100)
    path = make_notebook(tmp_path / "nb.ipynb", [code_cell("# module: toy\n" + "#" * 200)])
    with pytest.raises(SubmissionError, match="over 100 bytes"):
        unpack_path(path)


def test_is_a_class_folder_unpacked_without_writing_outside_the_target(tmp_path: Path) -> None:
    (tmp_path / "class").mkdir()
    make_zip(tmp_path / "class" / "mallory.zip", {"../../escape.py": "x", "toy.py": SOURCE})
    (found,) = discover([tmp_path / "class"], MODULES)
    target = tmp_path / "target"
    unpack(found, MODULES).write(target)
    assert sorted(os.listdir(target)) == ["toy.py"]
    assert not (tmp_path / "escape.py").exists()


def test_does_a_corrupt_deflate_stream_cost_only_its_module(tmp_path: Path) -> None:
    """A member whose compressed data is damaged (zlib fails, not the CRC): is only that
    module a problem, the others read?"""
    path = tmp_path / "damaged.zip"
    text = "".join(f"x{i} = {i * 7919 % 104729}\n" for i in range(3000))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("toy.py", text)
        archive.writestr("other.py", "y = 2\n")
    data = bytearray(path.read_bytes())
    start = data.index(b"toy.py") + len("toy.py") + 100
    data[start:start + 200] = bytes(range(200))
    path.write_bytes(bytes(data))
    unpacked = unpack_path(path)
    assert unpacked.modules == {"other": "y = 2\n"}
    assert "cannot be read" in unpacked.problems["toy"]
