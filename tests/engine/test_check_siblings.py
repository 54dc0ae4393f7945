"""``grader check`` agrees with ``grader grade`` on a folder that lacks a sibling module: a
function whose checks fail only because a module it may call (course.toml ``[calls]``) is not
in the folder passes, since the graded run takes that call from the reference; the report says
the module is not there; a function wrong on its own still fails."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NEURON = (ROOT / "solutions" / "neuron.py").read_text(encoding="utf-8")


def check(path: Path, *modules: str) -> subprocess.CompletedProcess[str]:
    """``grader check --course ROOT --path PATH MODULES`` as a student runs it."""
    return subprocess.run([sys.executable, "-m", "grader", "check", "--course", str(ROOT),
                           "--path", str(path), *modules],
                          capture_output=True, text=True, timeout=300, check=False)


def test_passes_a_right_neuron_whose_activations_is_not_in_the_folder(tmp_path: Path) -> None:
    shutil.copy(ROOT / "solutions" / "neuron.py", tmp_path / "neuron.py")
    run = check(tmp_path, "neuron")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "6 of 6 functions pass" in run.stdout
    assert "fix sigmoid first" not in run.stdout
    line = next(x for x in run.stdout.splitlines() if x.startswith("not in this folder"))
    assert "activations.py" in line and "reference" in line
    assert "forward" in line  # names the functions it could not check in full


def test_blames_a_function_of_the_folder_that_fails_on_its_own(tmp_path: Path) -> None:
    # a cost with a half: backward's check (which uses cost) is blamed on cost, not excused
    wrong = re.sub(r"(def cost\(.*\n)", r"\1    return 0.5 * (a - y) ** 2\n", NEURON, count=1)
    assert wrong != NEURON, "solutions/neuron.py changed: update this test"
    (tmp_path / "neuron.py").write_text(wrong, encoding="utf-8")
    run = check(tmp_path, "neuron")
    assert run.returncode == 1, run.stdout + run.stderr
    backward = run.stdout.split("  backward ", 1)[1].split("\n  average_gradient", 1)[0]
    assert "FAILED" in backward and "fix cost first" in backward
    assert "fix sigmoid first" not in run.stdout


def test_names_the_absent_module_when_an_undeclared_call_reaches_it(tmp_path: Path) -> None:
    # cost declares no call: reaching activations makes its own check fail, and the
    # report says activations.py is not in the folder rather than "fix sigmoid first".
    broken = re.sub(r"(def cost\(.*\n)", r"\1    sigmoid(0.0)\n", NEURON, count=1)
    assert broken != NEURON, "solutions/neuron.py changed: update this test"
    (tmp_path / "neuron.py").write_text(broken, encoding="utf-8")
    run = check(tmp_path, "neuron")
    assert run.returncode == 1
    cost = run.stdout.split("  cost ", 1)[1].split("\n  chain_factors", 1)[0]
    assert "passed" not in cost and "activations.py" in cost
    assert "fix sigmoid first" not in run.stdout


def test_reads_one_notebook_alone_not_its_sibling_notebooks(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NEURON)])
    nbformat.write(notebook, tmp_path / "neuron.ipynb")
    activations = (ROOT / "solutions" / "activations.py").read_text(encoding="utf-8")
    broken = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        activations.replace("def sigmoid(", "def sigmoid(*_):\n    return 0.0\n\n\ndef _x("))])
    nbformat.write(broken, tmp_path / "activations.ipynb")
    run = check(tmp_path / "neuron.ipynb", "neuron")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "6 of 6 functions pass" in run.stdout
    assert re.search(r"not in neuron\.ipynb.*activations\.py", run.stdout)
