"""Tests for grader.authoring.gradcheck and gradient_checks: numerical derivatives, call counts, and
what the checks report.

The grader's numerics are five-point differences and a relative difference over the larger
magnitude: deliberately not the exercise's central difference and relative error."""

import math
from collections.abc import Callable

import numpy as np
import pytest

from grader.authoring.gradcheck import (
    EPS,
    KINK_TOL,
    REL_FLOOR,
    SMOOTH_TOL,
    directional_derivative,
    elementwise_derivative,
    numerical_vjp,
    relative_difference,
    stencil_gradient,
)
from grader.authoring.gradient_checks import (
    GradCheck,
    GradientCheckError,
    check_directional,
    check_gradient,
)

Params = dict[str, np.ndarray]


class Counter:
    """Wrap a function and count its calls (the functions checked may be remote and slow)."""

    def __init__(self, f: Callable[..., object]) -> None:
        self.f = f
        self.calls = 0

    def __call__(self, *args: object) -> object:
        self.calls += 1
        return self.f(*args)


def test_constants_are_the_documented_defaults() -> None:
    assert (EPS, SMOOTH_TOL, KINK_TOL, REL_FLOOR) == (1e-5, 1e-6, 1e-4, 1e-8)


def test_stencil_gradient_of_a_cubic_uses_four_calls_per_entry() -> None:
    x = np.random.default_rng(0).normal(size=(3, 2))
    f = Counter(lambda z: float(np.sum(z**3)))
    grad = stencil_gradient(f, x)
    assert f.calls == 4 * x.size
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8, atol=1e-10)


def test_stencil_gradient_is_not_the_central_difference() -> None:
    """Is it exact for a cubic even with a large step, where the exercise's central difference
    is off by eps^2 (so a copy of it cannot pass for the exercise's answer)?"""
    x = np.array([0.3, -2.5, 4.0])
    grad = stencil_gradient(lambda z: float(np.sum(z**3)), x, step=1e-2)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-12)
    assert np.all(np.abs(grad - (3 * x**2 + 1e-4)) > 5e-5)


def test_stencil_gradient_leaves_x_unchanged_when_f_raises() -> None:
    x = np.array([1.0, 2.0, 3.0])
    before = x.copy()
    calls = 0

    def explode(z: np.ndarray) -> float:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise RuntimeError("student code failed")
        return float(z.sum())

    with pytest.raises(RuntimeError):
        stencil_gradient(explode, x)
    np.testing.assert_array_equal(x, before)


def test_stencil_gradient_survives_a_function_that_mutates_its_argument() -> None:
    x = np.array([0.5, -1.0])

    def vandal(z: np.ndarray) -> float:
        value = float(np.sum(z**2))
        z[:] = 1e6
        return value

    np.testing.assert_allclose(stencil_gradient(vandal, x), 2 * x, rtol=1e-8)
    np.testing.assert_array_equal(x, [0.5, -1.0])


def test_elementwise_derivative_uses_four_calls() -> None:
    z = np.linspace(-3, 3, 12).reshape(3, 4)
    f = Counter(np.tanh)
    d = elementwise_derivative(f, z)
    assert f.calls == 4
    np.testing.assert_allclose(d, 1 - np.tanh(z) ** 2, rtol=1e-8)
    with pytest.raises(ValueError, match="keep the shape"):
        elementwise_derivative(lambda v: v.sum(axis=0), z)


def test_numerical_vjp_matches_transposed_jacobian() -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 3))
    x, up = rng.normal(size=3), rng.normal(size=4)
    f = Counter(lambda v: w @ v)
    np.testing.assert_allclose(numerical_vjp(f, x, up), w.T @ up, rtol=1e-7)
    assert f.calls == 4 * x.size
    with pytest.raises(ValueError, match="upstream has shape"):
        numerical_vjp(lambda v: w @ v, x, np.ones(3))


def test_directional_derivative_four_calls_params_untouched() -> None:
    params = {"a": np.array([1.0, 2.0]), "b": np.array(3.0)}
    snapshot = {k: v.copy() for k, v in params.items()}

    def loss(p: Params) -> float:
        return float(np.sum(p["a"] ** 2) * p["b"])

    counted = Counter(loss)
    d = {"a": np.array([1.0, 0.0]), "b": np.array(1.0)}
    # d/dt at t=0 of loss(p + t d) = 2 a.d_a * b + |a|^2 * d_b = 2*1*3 + 5 = 11
    assert directional_derivative(counted, params, d) == pytest.approx(11.0, rel=1e-8)
    assert counted.calls == 4
    for k in params:
        np.testing.assert_array_equal(params[k], snapshot[k])
    # a parameter with no direction stays fixed
    assert directional_derivative(loss, params, {"b": np.array(1.0)}) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="not a parameter"):
        directional_derivative(loss, params, {"c": np.array(1.0)})
    with pytest.raises(ValueError, match="has shape"):
        directional_derivative(loss, params, {"a": np.ones(3)})


def test_relative_difference_definition() -> None:
    assert relative_difference(np.zeros(0), np.zeros(0)) == 0.0
    assert relative_difference(np.zeros(4), np.zeros(4)) == 0.0
    # 2 / (1e-8 + max(3, 1)): over the larger magnitude, not the exercise's sum (0.5)
    assert relative_difference([1.0, 3.0], [1.0, 1.0]) == pytest.approx(2 / 3)
    # the floor is added: 1e-12 / (1e-8 + 1e-12), not the exercise's 1e-12 / 1e-8
    assert relative_difference([1e-12], [0.0]) == pytest.approx(1e-12 / (1e-8 + 1e-12),
                                                                rel=1e-12)
    assert relative_difference([np.nan], [1.0]) == math.inf
    with pytest.raises(ValueError):
        relative_difference(np.zeros(2), np.zeros(3))


def test_check_gradient_passes_a_correct_gradient() -> None:
    x = np.random.default_rng(2).normal(size=(2, 3))
    numeric = stencil_gradient(lambda z: float(np.sum(np.sin(z))), x)
    result = check_gradient(np.cos(x), numeric)
    assert result.ok and result.message == ""
    assert result.max_rel_error < 1e-8


def test_check_gradient_finds_a_planted_wrong_entry() -> None:
    numeric = np.array([[0.5, -1.0, 2.0], [0.25, 1.5, -0.75]])
    analytic = numeric.copy()
    analytic[1, 2] = 0.75  # sign flipped in one entry
    result = check_gradient(analytic, numeric, name="dW")
    assert not result.ok
    assert result.worst_index == (1, 2)
    assert (result.analytic, result.numeric) == (0.75, -0.75)
    assert result.max_rel_error == pytest.approx(2.0)
    assert result.message == (
        "dW: analytic and numerical gradients differ (max relative error 2 > tol 1e-06)\n"
        "  Entries above tolerance: 1 / 6 (16.7%)\n"
        "  Worst at index (1, 2): analytic 0.75, numerical -0.75\n"
        "  Relative error = |analytic - numerical| / (1e-08 + max(|analytic|, |numerical|)); "
        "expect < 1e-06 for smooth functions, < 0.0001 for ReLU-like kinks "
        "(tolerance used: 1e-06)."
    )
    with pytest.raises(GradientCheckError, match="dW: analytic and numerical"):
        result.assert_ok()


def test_check_gradient_shape_none_and_nan() -> None:
    numeric = np.zeros((3, 2))
    assert check_gradient(np.zeros((2, 3)), numeric).message == (
        "gradient: analytic gradient has shape (2, 3), numerical gradient has shape (3, 2) "
        "(a gradient has the shape of what it differentiates)")
    assert check_gradient(None, numeric).message == (
        "gradient: returned None — did you forget a `return`?")
    bad = np.zeros((3, 2))
    bad[2, 1] = np.nan
    result = check_gradient(bad, numeric)
    assert not result.ok and result.worst_index == (2, 1)
    assert "analytic gradient contains NaN or inf (1 / 6 entries" in result.message


def test_relu_gradient_passes_with_kink_tolerance_away_from_the_kink() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=20)
    x = np.where(np.abs(x) < 100 * EPS, 0.5, x)  # keep inputs away from the kink
    numeric = stencil_gradient(lambda z: float(np.sum(np.maximum(z, 0) ** 2)), x)
    assert check_gradient(2 * np.maximum(x, 0), numeric, tol=KINK_TOL).ok


# -- directional checks on a small network --------------------------------------------------

def network(rng: np.random.Generator) -> tuple[Params, np.ndarray, np.ndarray]:
    params = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=4),
              "W2": rng.normal(size=(2, 4)), "b2": rng.normal(size=2)}
    return params, rng.normal(size=(5, 3)), rng.normal(size=(5, 2))


def mse_loss(p: Params, x: np.ndarray, y: np.ndarray) -> float:
    h = np.tanh(x @ p["W1"].T + p["b1"])
    out = h @ p["W2"].T + p["b2"]
    return float(np.mean(np.sum((out - y) ** 2, axis=1)))


def mse_grads(p: Params, x: np.ndarray, y: np.ndarray) -> Params:
    h = np.tanh(x @ p["W1"].T + p["b1"])
    out = h @ p["W2"].T + p["b2"]
    d_out = 2 * (out - y) / len(x)
    dz = (d_out @ p["W2"]) * (1 - h**2)
    return {"W2": d_out.T @ h, "b2": d_out.sum(axis=0), "W1": dz.T @ x, "b1": dz.sum(axis=0)}


def test_check_directional_passes_correct_gradients() -> None:
    params, x, y = network(np.random.default_rng(4))
    loss = Counter(lambda p: mse_loss(p, x, y))
    result = check_directional(loss, params, mse_grads(params, x, y), np.random.default_rng(0))
    assert result.ok, result.message
    assert loss.calls == 12
    assert result.max_rel_error < 1e-8


def test_check_directional_catches_a_missing_factor_in_one_gradient() -> None:
    params, x, y = network(np.random.default_rng(5))
    grads = mse_grads(params, x, y)
    grads["b1"] = grads["b1"] / 2
    loss = Counter(lambda p: mse_loss(p, x, y))
    result = check_directional(loss, params, grads, np.random.default_rng(0), n_directions=4)
    assert not result.ok
    assert result.worst_index == (0,)
    assert loss.calls == 4  # stops at the first failing direction
    assert result.message.startswith(
        "gradients disagree with the loss along random direction 1 of 4 (relative error ")


def test_check_directional_reports_missing_and_misshapen_grads_without_calling() -> None:
    params, x, y = network(np.random.default_rng(6))
    grads = mse_grads(params, x, y)
    loss = Counter(lambda p: mse_loss(p, x, y))
    rng = np.random.default_rng(0)
    missing = {k: v for k, v in grads.items() if k != "b2"}
    assert check_directional(loss, params, missing, rng).message == "grads is missing key 'b2'"
    transposed = dict(grads, W1=grads["W1"].T)
    assert check_directional(loss, params, transposed, rng).message == (
        "grads['W1'] has shape (3, 4), expected (4, 3) (the shape of params['W1'])")
    assert loss.calls == 0


def test_check_directional_is_reproducible_given_the_seed() -> None:
    params, x, y = network(np.random.default_rng(7))
    grads = mse_grads(params, x, y)
    grads["W2"] = grads["W2"] * 1.01

    def run() -> GradCheck:
        return check_directional(lambda p: mse_loss(p, x, y), params, grads,
                                 np.random.default_rng(42))

    assert run() == run()
