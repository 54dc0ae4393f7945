"""Public checks blame the right function: a check that fails because another student function
fails its own check names that function and diagnoses nothing (grader.engine.blame)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.authoring import Diagnosis, Marker
from grader.course.config import TestSpec as Spec
from grader.engine import blame
from grader.engine.runner import ERROR, FAILED, NOT_IMPLEMENTED, PASSED, Outcome

ROOT = Path(__file__).resolve().parents[2]
FACTOR_2 = Diagnosis("extra_factor_2", "Extra factor 2", "... twice the expected value.")


def outcome(function: str, status: str = PASSED, *, calls: tuple[str, ...] = (),
            uses: tuple[str, ...] = (), declared: tuple[str, ...] = (),
            diagnosis: Diagnosis | None = None, module: str = "neuron",
            name: str = "") -> Outcome:
    """One check's outcome, as the runner makes it."""
    spec = Spec(lambda ctx: None, module, name or f"check of {function}",
                    f"{module}::check_{function}_{name}",
                    Marker(function, 0.0, "visible", None, True, uses),
                    declared_calls=declared)
    return Outcome(spec, status, "" if status == PASSED else "it differs", diagnosis, 0.0,
                   calls)


def messages(outcomes: list[Outcome]) -> dict[str, str]:
    return {f"{o.spec.module}.{o.spec.function}": o.feedback for o in blame.apply(outcomes)}


# -- the rule --------------------------------------------------------------------------------
def test_is_a_check_that_called_a_failing_function_blamed_on_it_and_not_diagnosed() -> None:
    outcomes = [outcome("cost", FAILED, diagnosis=FACTOR_2),
                outcome("backward", FAILED, calls=("neuron.backward", "neuron.forward",
                                                   "neuron.cost"), diagnosis=FACTOR_2)]
    cost, backward = blame.apply(outcomes)
    assert cost is outcomes[0]
    assert backward.feedback == "this uses your cost, which fails its check: fix cost first"
    assert backward.diagnosis is None and backward.status == FAILED


def test_is_a_failure_before_the_dependency_was_called_the_functions_own() -> None:
    """Only the calls made before a check ended count: a check that failed on the function's
    own result first keeps its diagnosis."""
    outcomes = [outcome("cost", FAILED), outcome("chain_factors", FAILED,
                                                 calls=("neuron.chain_factors",),
                                                 diagnosis=FACTOR_2)]
    assert blame.apply(outcomes)[1] is outcomes[1]


def test_is_a_passing_dependency_never_blamed() -> None:
    outcomes = [outcome("cost"), outcome("backward", FAILED, calls=("neuron.cost",),
                                         diagnosis=FACTOR_2)]
    assert blame.apply(outcomes)[1] is outcomes[1]


def test_are_declared_calls_and_uses_dependencies_the_check_cannot_see() -> None:
    """What the function may call inside the student's code (course.toml [calls], or a
    check's uses=) counts although the check never called it."""
    for kwargs in ({"declared": ("activations.sigmoid_prime",)},
                   {"uses": ("activations.sigmoid_prime",)}):
        outcomes = [outcome("sigmoid_prime", FAILED, module="activations"),
                    outcome("backward", FAILED, **kwargs)]  # type: ignore[arg-type]
        assert messages(outcomes)["neuron.backward"] == (
            "this uses your sigmoid_prime in activations.py, which fails its check: fix "
            "sigmoid_prime first")


def test_does_blame_follow_a_chain_to_its_root() -> None:
    outcomes = [outcome("sigmoid", FAILED, module="activations"),
                outcome("forward", FAILED, declared=("activations.sigmoid",)),
                outcome("backward", FAILED, calls=("neuron.forward",))]
    found = messages(outcomes)
    assert found["neuron.forward"] == ("this uses your sigmoid in activations.py, which fails "
                                       "its check: fix sigmoid first")
    assert found["neuron.backward"] == ("this uses your forward, which uses your sigmoid in "
                                        "activations.py, which fails its check: fix sigmoid "
                                        "first")


def test_is_a_stub_dependency_asked_to_be_implemented() -> None:
    stub = outcome("cost", FAILED, diagnosis=NOT_IMPLEMENTED)
    backward = outcome("backward", ERROR, calls=("neuron.cost",))
    assert messages([stub, backward])["neuron.backward"] == (
        "this uses your cost, which is not implemented yet: implement cost first")


def test_is_the_function_under_tests_own_stub_never_blamed() -> None:
    stub = outcome("backward", FAILED, calls=("neuron.cost",), diagnosis=NOT_IMPLEMENTED)
    assert blame.apply([outcome("cost", FAILED), stub])[1] is stub


def test_does_a_cycle_of_failures_blame_each_others_own_failure() -> None:
    """Two functions whose checks use each other and both fail: neither is the other's root,
    so each is named as failing on its own."""
    a = outcome("forward", FAILED, calls=("neuron.cost",))
    b = outcome("cost", FAILED, calls=("neuron.forward",))
    found = messages([a, b])
    assert found["neuron.forward"] == ("this uses your cost, which fails its check: fix cost "
                                       "first")
    assert found["neuron.cost"] == ("this uses your forward, which fails its check: fix "
                                    "forward first")


def test_does_a_functions_own_failure_come_before_a_blamed_one() -> None:
    """The summary shows a function's first failing check: its own failure, when it has one,
    is what it must fix."""
    cost = outcome("cost", FAILED)
    blamed = outcome("backward", FAILED, calls=("neuron.cost",), name="numerical")
    own = outcome("backward", FAILED, diagnosis=FACTOR_2, name="shapes")
    result = blame.apply([cost, blamed, own])
    assert [o.spec.name for o in result] == ["check of cost", "shapes", "numerical"]
    assert result[1] is own


# -- through the real CLI ----------------------------------------------------------------------
def with_mistake(folder: Path, module: str, old: str, new: str) -> Path:
    shutil.copytree(ROOT / "solutions", folder)
    path = folder / f"{module}.py"
    source = path.read_text(encoding="utf-8")
    assert source.count(old) == 1
    path.write_text(source.replace(old, new), encoding="utf-8")
    return folder


def grader_check(folder: Path, *modules: str) -> str:
    run = subprocess.run([sys.executable, "-m", "grader", "check", *modules, "--path",
                          str(folder), "--course", str(ROOT)],
                         capture_output=True, text=True, timeout=300, cwd=folder)
    assert run.returncode == 1, run.stdout + run.stderr
    return run.stdout


def function_block(report: str, function: str) -> str:
    """The lines `grader check` prints for one function (its line and what is under it)."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [function])
    end = next((i for i in range(start + 1, len(lines))
                if (lines[i].startswith("  ") and not lines[i].startswith("    "))
                or not lines[i].strip()), len(lines))
    return "\n".join(lines[start:end])


def test_does_a_wrong_cost_fail_only_cost_and_name_it_in_the_others(tmp_path: Path) -> None:
    """The reported case: with only neuron.cost wrong ((a - y)^2 / 2), `grader check neuron`
    diagnosed four correct functions with "Extra factor 2 ... Apply it in one place only"."""
    folder = with_mistake(tmp_path / "s", "neuron", "return (a - y) ** 2",
                          "return (a - y) ** 2 / 2")
    report = grader_check(folder, "neuron")
    assert "Likely mistake: Cost with a factor 1/2" in function_block(report, "cost")
    assert "passed" in function_block(report, "forward")
    for function in ("chain_factors", "backward", "average_gradient", "chain_backward"):
        block = function_block(report, function)
        assert "this uses your cost, which fails its check: fix cost first" in block, block
        assert "Likely mistake" not in block and "Extra factor 2" not in block, block


def test_does_a_wrong_sigmoid_prime_name_activations_in_a_neuron_check(tmp_path: Path) -> None:
    """sigmoid_prime is checked (without being shown) although only neuron was asked for."""
    folder = with_mistake(tmp_path / "s", "activations", "return s * (1.0 - s)",
                          "return s * (1.0 - s) * 1.1")
    report = grader_check(folder, "neuron")
    assert "activations.py\n" not in report
    for function in ("chain_factors", "backward", "average_gradient", "chain_backward"):
        block = function_block(report, function)
        assert ("this uses your sigmoid_prime in activations.py, which fails its check: fix "
                "sigmoid_prime first") in block, block
    assert "passed" in function_block(report, "forward")


@pytest.mark.parametrize("module", ["neuron", "mlp"])
def test_is_a_passing_submission_checked_without_extra_modules(tmp_path: Path,
                                                                module: str) -> None:
    """Nothing fails, so no dependency's checks run beyond the modules asked for."""
    folder = tmp_path / "s"
    shutil.copytree(ROOT / "solutions", folder)
    run = subprocess.run([sys.executable, "-m", "grader", "check", module, "--path",
                          str(folder), "--course", str(ROOT)],
                         capture_output=True, text=True, timeout=300, cwd=folder)
    assert run.returncode == 0, run.stdout
    assert run.stdout.startswith(f"{module}.py\n")


def test_does_an_implemented_function_calling_a_stub_name_the_stub(tmp_path: Path) -> None:
    """neuron done before activations: forward raises NotImplementedError from the stub
    sigmoid; it is not "not implemented yet" itself, the stub is named."""
    folder = tmp_path / "s"
    shutil.copytree(ROOT / "solutions", folder)
    shutil.copy(ROOT / "exercises" / "activations.py", folder / "activations.py")
    report = grader_check(folder, "neuron")
    assert ("this uses your sigmoid in activations.py, which is not implemented yet: "
            "implement sigmoid first") in function_block(report, "forward")
    assert "passed" in function_block(report, "cost")


def test_are_only_stub_bodies_read_as_not_implemented(tmp_path: Path) -> None:
    """implemented_in reads the student's files without running them."""
    (tmp_path / "m.py").write_text(
        'def stub(x):\n    """Doc."""\n    raise NotImplementedError\n\n'
        "def done(x):\n    return x\n\n"
        "def raises_later(x):\n    if x:\n        raise NotImplementedError('not for x')\n"
        "    return x\n", encoding="utf-8")
    (tmp_path / "broken.py").write_text("def f(:\n", encoding="utf-8")
    assert blame.implemented_in(tmp_path, ["m", "broken", "missing"]) == {
        "m.done", "m.raises_later"}


def test_are_many_roots_summed_up_in_a_few_names() -> None:
    deps = ("activations.sigmoid", "activations.relu", "losses.sse", "losses.one_hot")
    outcomes = [outcome(d.partition(".")[2], FAILED, module=d.partition(".")[0]) for d in deps]
    outcomes.append(outcome("train", FAILED, module="sgd", declared=deps))
    assert messages(outcomes)["sgd.train"] == (
        "this uses your sigmoid in activations.py, which fails its check: fix sigmoid, relu "
        "and 2 more first")
