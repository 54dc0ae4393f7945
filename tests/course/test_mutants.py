"""The mutants' format (grader/course/mutants.py): loading, checking and injecting them."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.course.mutants import Mutant, MutantError, load_mutants

ROOT = Path(__file__).resolve().parents[2]
MODULE = '''"""A module."""

import numpy as np


def helper(x):
    return x


@staticmethod
def scale(x):
    """Twice x."""
    return 2.0 * np.asarray(x)


def after(x):
    return scale(x) + 1
'''


def write(folder: Path, text: str, name: str = "m.py") -> Path:
    (folder / "mutants").mkdir(exist_ok=True)
    (folder / "mutants" / name).write_text(text, encoding="utf-8")
    return folder


def test_does_this_course_declare_its_mutants_at_its_root() -> None:
    """This course's catalogue lives in mutants/ (each name unique, every module covered)."""
    found = load_mutants(ROOT)
    assert len(found) >= 15
    assert len({m.name for m in found}) == len(found)
    assert found[0].name == "activations-0-sigmoid_sign"
    assert all(m.old is not None or m.source is not None for m in found)


def test_is_a_course_without_mutants_fine(tmp_path: Path) -> None:
    assert load_mutants(tmp_path) == []


def test_does_old_and_new_replace_the_first_occurrence() -> None:
    mutant = Mutant("sign_error", "m", "scale", old="2.0 *", new="-2.0 *", name="m-0")
    assert "return -2.0 * np.asarray(x)" in mutant.apply(MODULE)
    with pytest.raises(MutantError, match=r"its old text is not in m\.py"):
        Mutant("k", "m", "scale", old="3.0 *", new="", name="m-0").apply(MODULE)


def test_does_source_replace_the_whole_function_and_its_decorators() -> None:
    """The wrong function replaces the reference's (decorators included); the rest stays."""
    mutant = Mutant("k", "m", "scale", name="m-0", source='''
        def scale(x):
            """Twice x."""
            return np.asarray(x)
    ''')
    text = mutant.apply(MODULE)
    assert "@staticmethod" not in text and "return 2.0" not in text
    assert "def scale(x):\n    \"\"\"Twice x.\"\"\"\n    return np.asarray(x)\n\n\ndef after" \
        in text
    assert text.startswith('"""A module."""') and text.endswith("return scale(x) + 1\n")
    compile(text, "m.py", "exec")


@pytest.mark.parametrize(("source", "cause"), [
    ("def other(x):\n    return x\n", "must define one function, scale"),
    ("def scale(x):\n    return (x\n", "not valid Python"),
])
def test_is_a_wrong_source_refused(source: str, cause: str) -> None:
    with pytest.raises(MutantError, match=cause):
        Mutant("k", "m", "scale", source=source, name="m-0").apply(MODULE)


def test_is_a_function_the_module_lacks_refused() -> None:
    with pytest.raises(MutantError, match=r"m\.py defines no function missing"):
        Mutant("k", "m", "missing", source="def missing():\n    pass\n",
               name="m-0").apply(MODULE)


def test_does_loading_name_qualify_and_check_each_entry(tmp_path: Path) -> None:
    write(tmp_path, '''MUTANTS = [
        {"key": "a", "module": "m", "function": "scale", "old": "2.0", "new": "3.0",
         "test": "test_scale", "title_in_feedback": True, "also_costs": ["after", "n.f"]},
        {"key": "b", "module": "m", "function": "scale", "source": "def scale(x):\\n  pass\\n"},
    ]''')
    first, second = load_mutants(tmp_path)
    assert first == Mutant("a", "m", "scale", old="2.0", new="3.0", test="test_scale",
                           title_in_feedback=True, also_costs=("m.after", "n.f"), name="m-0-a")
    assert second.name == "m-1-b" and second.source is not None and not second.title_in_feedback


@pytest.mark.parametrize(("text", "cause"), [
    ("MUTANTS = {}", "must define MUTANTS, a list of dicts"),
    ("raise ValueError('no')", "failed to import: ValueError: no"),
    ("MUTANTS = ['x']", r"MUTANTS\[0\] must be a dict"),
    ('MUTANTS = [{"key": "a", "module": "m", "function": "f", "old": "x", "new": "y", '
     '"tset": "t"}]', r"unknown fields \['tset'\]"),
    ('MUTANTS = [{"key": "a", "module": "m", "old": "x", "new": "y"}]',
     "function must be a non-empty string"),
    ('MUTANTS = [{"key": "a", "module": "m", "function": "f", "old": "x"}]',
     "give either old and new, or source"),
    ('MUTANTS = [{"key": "a", "module": "m", "function": "f", "old": "x", "new": "y", '
     '"source": "def f(): pass"}]', "give either old and new, or source"),
    ('MUTANTS = [{"key": "a", "module": "m", "function": "f", "old": "x", "new": "y", '
     '"title_in_feedback": "yes"}]', "title_in_feedback must be true or false"),
    ('MUTANTS = [{"key": "a", "module": "m", "function": "f", "old": "x", "new": "y", '
     '"also_costs": "g"}]', "also_costs must be a list of function names"),
])
def test_is_a_malformed_file_refused_naming_the_entry(tmp_path: Path, text: str,
                                                      cause: str) -> None:
    write(tmp_path, text)
    with pytest.raises(MutantError, match=cause):
        load_mutants(tmp_path)


def test_does_write_copy_the_reference_with_the_mistake(tmp_path: Path) -> None:
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    (solutions / "m.py").write_text(MODULE, encoding="utf-8")
    (solutions / "other.py").write_text("X = 1\n", encoding="utf-8")
    folder = Mutant("k", "m", "scale", old="2.0", new="4.0", name="m-0").write(
        solutions, tmp_path / "copy")
    assert "4.0 * np.asarray" in (folder / "m.py").read_text(encoding="utf-8")
    assert (folder / "other.py").read_text(encoding="utf-8") == "X = 1\n"
    assert "2.0 * np.asarray" in (solutions / "m.py").read_text(encoding="utf-8")
