"""The course itself: stubs and solutions are twins, the contract's points, conventions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grader.api import listing
from grader.course import load_course

ROOT = Path(__file__).resolve().parents[1]
COURSE = load_course(ROOT)
CONTRACT_POINTS = {"activations": 12, "neuron": 14, "layer": 12, "worked_example": 12,
                   "losses": 10, "gradcheck": 10, "mlp": 16, "sgd": 14}
CONTRACT_FUNCTIONS = {
    "activations": ["sigmoid", "sigmoid_prime", "relu", "relu_prime", "softmax",
                    "softmax_backward", "compose_linear"],
    "neuron": ["forward", "cost", "chain_factors", "backward", "average_gradient",
               "chain_backward"],
    "layer": ["forward", "cost", "backward_loops", "backward"],
    "worked_example": ["forward", "loss", "output_deltas", "grad_V", "grad_h",
                       "gradient_vector", "batch_gradient"],
    "losses": ["sse", "sse_grad", "one_hot", "softmax_cross_entropy"],
    "gradcheck": ["numerical_gradient", "relative_error", "find_buggy_parameters"],
    "mlp": ["init_params", "affine_forward", "affine_backward", "forward", "backward",
            "loss_and_grads", "gradient_vector", "predict", "accuracy"],
    "sgd": ["minibatches", "sgd_step", "train"],
}


def _tree(folder: str, module: str) -> ast.Module:
    return ast.parse((ROOT / folder / f"{module}.py").read_text(encoding="utf-8"))


def _shape(node: ast.FunctionDef) -> tuple[str, str | None]:
    return ast.dump(node.args) + ast.dump(node.returns or ast.Constant(None)), \
        ast.get_docstring(node)


def test_course_modules_are_the_contracts() -> None:
    """Does course.toml list exactly the contract's eight modules, in order?"""
    assert COURSE.modules == tuple(CONTRACT_POINTS)


@pytest.mark.parametrize("module", list(CONTRACT_FUNCTIONS))
def test_stub_functions_are_the_contracts(module: str) -> None:
    """Does every stub define exactly the contract's functions (as NotImplementedError stubs),
    as course.toml's [functions] table lists them?"""
    assert COURSE.stub_functions(module) == CONTRACT_FUNCTIONS[module]
    assert COURSE.functions(module) == CONTRACT_FUNCTIONS[module]


@pytest.mark.parametrize("module", list(CONTRACT_FUNCTIONS))
def test_stubs_and_solutions_are_twins(module: str) -> None:
    """Same module docstring, imports, provided code, signatures and docstrings?"""
    stub, solution = _tree("exercises", module), _tree("solutions", module)
    assert ast.get_docstring(stub) == ast.get_docstring(solution)
    stub_functions = {n.name: n for n in stub.body if isinstance(n, ast.FunctionDef)}
    solution_functions = {n.name: n for n in solution.body if isinstance(n, ast.FunctionDef)}
    assert stub_functions.keys() == solution_functions.keys()
    for name, node in stub_functions.items():
        assert _shape(node) == _shape(solution_functions[name]), name
        assert ast.get_docstring(node), f"{module}.{name} has no docstring"
        if name in CONTRACT_FUNCTIONS[module]:
            assert "Parameters" in (ast.get_docstring(node) or ""), name
        else:  # provided code is identical
            assert ast.dump(node) == ast.dump(solution_functions[name]), name
    others = [ast.dump(n) for n in stub.body if not isinstance(n, ast.FunctionDef)]
    assert others == [ast.dump(n) for n in solution.body if not isinstance(n, ast.FunctionDef)]


@pytest.mark.parametrize("module", list(CONTRACT_FUNCTIONS))
def test_every_module_states_the_conventions(module: str) -> None:
    """Does each exercise module restate the contract's conventions at the top?"""
    doc = ast.get_docstring(_tree("exercises", module)) or ""
    assert "Conventions" in doc
    assert "float64" in doc and "NotImplementedError" in doc


def test_points_follow_the_contract() -> None:
    """Do the hidden tests give each module the contract's points, 100 in all?"""
    points = listing(COURSE)
    assert {m: sum(f.values()) for m, f in points.items()} == CONTRACT_POINTS
    for module, functions in points.items():
        missing = [f for f, p in functions.items() if p <= 0]
        assert not missing, f"{module}: functions without points {missing}"


def test_every_function_has_public_checks_and_hidden_tests() -> None:
    """Is every contract function covered by at least one public check and one hidden test?"""
    public = {(s.module, s.function) for s in COURSE.collect(hidden=False)}
    hidden = {(s.module, s.function) for s in COURSE.collect(hidden=True)}
    for module, functions in CONTRACT_FUNCTIONS.items():
        for function in functions:
            assert (module, function) in public, f"no public check of {module}.{function}"
            assert (module, function) in hidden, f"no hidden test of {module}.{function}"


def test_hidden_tests_have_visibility_and_a_name() -> None:
    """Does every hidden test carry a docstring name and one of Gradescope's visibilities?"""
    for spec in COURSE.collect(hidden=True):
        assert spec.name != spec.test_id.split("::")[1], f"{spec.test_id} has no docstring"
        assert spec.marker.visibility in ("hidden", "after_due_date", "after_published",
                                          "visible")
