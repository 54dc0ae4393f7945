"""Numerical gradients: five-point differences in float64, and the relative difference of two
gradients (the checks built on them: `grader.authoring.gradient_checks`).

These are the grader's own numerics, not the exercise's: the student writes the central
difference ``(f(x + eps) - f(x - eps)) / (2 eps)`` and the relative error
``|a - b| / max(1e-8, |a| + |b|)`` (``gradcheck.py`` of the course), and this module, which
ships to students with the checks, holds neither, under neither name. Copying it earns nothing:
the hidden tests of those functions tell the two formulas apart (tests/test_bundle_answers.py).

Defaults and thresholds
-----------------------
``EPS = 1e-5``
    Step of the differences, relative to the entry: ``h = EPS * max(1, |x_i|)``, rounded so
    that ``x_i + h`` is exactly ``h`` away. The five-point stencil
    ``(f(x - 2h) - 8 f(x - h) + 8 f(x + h) - f(x + 2h)) / (12 h)`` has a truncation error of
    O(h^4) ~ 1e-20 and a round-off error of ~1.5e-16 |f| / h ~ 1.5e-11 |f|.
``SMOOTH_TOL = 1e-6``
    Largest elementwise relative difference accepted for smooth functions (sigmoid, tanh,
    softmax, squared error). A correct gradient typically gives 1e-10 to 1e-8; a wrong one 1e-2
    or more.
``KINK_TOL = 1e-4``
    For piecewise functions (ReLU, max, abs). Keep inputs at least ~10 * 2h away from the
    kink: a difference that straddles it measures neither one-sided derivative.
``REL_FLOOR = 1e-8``
    Added to the denominator of the relative difference, so entries where both gradients are
    (near) zero do not divide by zero. Well below the floor the difference is effectively
    absolute, so a true zero that the difference quotient only approximates (round-off
    ~1e-11 |f|) reads as ~1e-3: pass a larger ``floor`` to
    `grader.authoring.gradient_checks.check_gradient` when a gradient has such structural
    zeros.

Relative difference, elementwise: ``|a_i - n_i| / (floor + max(|a_i|, |n_i|))``; a check
reports the largest. Like `torch.autograd.gradcheck`, these checks assume the function is
differentiable at the input: at a non-differentiable point (ReLU at 0) the numerical value is
the average of the one-sided derivatives and the analytic value is a convention, so such
inputs are avoided rather than tolerated.

The functions passed in may be expensive (a call into a sandboxed student process), so every
function documents how many times it calls ``f``; nothing calls it more than needed.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, SupportsFloat

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EPS", "KINK_TOL", "REL_FLOOR", "SMOOTH_TOL", "as_float64", "directional_derivative",
    "elementwise_derivative", "elementwise_rel", "numerical_vjp", "relative_difference",
    "stencil_gradient",
]

FloatArray = NDArray[np.float64]

EPS: float = 1e-5
"""Step of the five-point differences, relative to the size of the entry (at least 1)."""
SMOOTH_TOL: float = 1e-6
"""Relative-difference tolerance for smooth functions."""
KINK_TOL: float = 1e-4
"""Relative-difference tolerance for piecewise-linear functions (ReLU), inputs away from the
kink."""
REL_FLOOR: float = 1e-8
"""Added to the relative difference's denominator."""

#: the five-point stencil's offsets, in steps; see `_five_point` for the weights
_OFFSETS = (-2.0, -1.0, 1.0, 2.0)


def _five_point(at: Sequence[Any], h: Any) -> Any:
    """``(f(-2h) - 8 f(-h) + 8 f(h) - f(2h)) / (12 h)`` from the four values (scalars or
    arrays), as differences of equal-signed pairs first: where f does not move at all (a
    ReLU's flat side) the result is exactly 0, as a true zero gradient must be."""
    minus2, minus1, plus1, plus2 = at
    return ((minus2 - plus2) + 8.0 * (plus1 - minus1)) / (12.0 * h)


def as_float64(x: ArrayLike, what: str) -> FloatArray:
    """A fresh float64 copy of ``x`` (never a view of the caller's array)."""
    try:
        return np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be an array of numbers: {exc}") from None


def _steps(x: FloatArray, step: float) -> FloatArray:
    """``step * max(1, |x|)`` entrywise, rounded so that ``x + h - x == h`` exactly."""
    h = step * np.maximum(1.0, np.abs(x))
    exact: FloatArray = (x + h) - x
    return exact


def stencil_gradient(
    f: Callable[[FloatArray], SupportsFloat], x: ArrayLike, step: float = EPS
) -> FloatArray:
    """Gradient of a scalar function by five-point differences, entry by entry.

    Calls ``f`` exactly ``4 * x.size`` times, each time with a fresh float64 array, so neither
    ``x`` nor later probes are affected by an ``f`` that modifies its argument or raises.

    Parameters
    ----------
    f : callable
        ``f(x) -> scalar``, x of shape ``S``.
    x : array_like, shape S
        Point at which to differentiate; never modified.
    step : float, optional
        Relative step (default `EPS`): entry ``i`` moves by ``step * max(1, |x_i|)``.

    Returns
    -------
    ndarray of float64, shape S
        ``g[i] = sum_k w_k f(x + o_k h_i e_i) / (12 h_i)`` over the stencil
        ``(o, w) = (-2, 1), (-1, -8), (1, 8), (2, -1)``.
    """
    base = as_float64(x, "x")
    h = _steps(base, step)
    grad = np.zeros_like(base)
    for i in range(base.size):
        values = []
        for offset in _OFFSETS:
            probe = base.copy()
            probe.flat[i] += offset * h.flat[i]
            values.append(float(f(probe)))
        grad.flat[i] = _five_point(values, float(h.flat[i]))
    return grad


def elementwise_derivative(
    f: Callable[[FloatArray], ArrayLike], x: ArrayLike, step: float = EPS
) -> FloatArray:
    """Derivative of an elementwise function at every entry, from four calls.

    For ``f`` applied entry by entry (``f(x)[i]`` depends on ``x[i]`` only), moving every entry
    at once gives all derivatives: the five-point stencil of `stencil_gradient`, applied to the
    whole array. Calls ``f`` exactly 4 times.

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` of the same shape ``S`` as ``x``.
    x : array_like, shape S
        Point; never modified.
    step : float, optional
        Relative step (default `EPS`).

    Returns
    -------
    ndarray of float64, shape S
        ``f'(x)`` entry by entry.

    Raises
    ------
    ValueError
        If ``f`` returns an array of another shape.
    """
    base = as_float64(x, "x")
    h = _steps(base, step)
    values = []
    for offset in _OFFSETS:
        value = as_float64(f(base + offset * h), "f(x + h)")
        if value.shape != base.shape:
            raise ValueError(f"elementwise f must keep the shape {base.shape}, "
                             f"got {value.shape}")
        values.append(value)
    derivative: FloatArray = np.asarray(_five_point(values, h), dtype=np.float64)
    return derivative


def numerical_vjp(
    f: Callable[[FloatArray], ArrayLike], x: ArrayLike, upstream: ArrayLike, step: float = EPS
) -> FloatArray:
    """Vector-Jacobian product of an array-valued function, by five-point differences.

    The gradient with respect to ``x`` of ``sum(upstream * f(x))``, which is what backprop
    computes for ``f`` given the upstream gradient ``dC/df``. Calls ``f`` ``4 * x.size`` times.

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` of shape ``T``, x of shape ``S``.
    x : array_like, shape S
        Point; never modified.
    upstream : array_like, shape T
        Gradient of the cost with respect to ``f(x)``.
    step : float, optional
        Relative step (default `EPS`).

    Returns
    -------
    ndarray of float64, shape S
        ``upstream`` contracted with the Jacobian of ``f`` at ``x``.

    Raises
    ------
    ValueError
        If ``f(x)`` does not have the shape of ``upstream``.
    """
    up = as_float64(upstream, "upstream")

    def weighted(z: FloatArray) -> float:
        out = as_float64(f(z), "f(x)")
        if out.shape != up.shape:
            raise ValueError(f"f(x) has shape {out.shape}, upstream has shape {up.shape}")
        return float(np.sum(up * out))

    return stencil_gradient(weighted, x, step)


def directional_derivative(
    f: Callable[[dict[str, FloatArray]], SupportsFloat],
    params: Mapping[str, ArrayLike],
    direction: Mapping[str, ArrayLike],
    step: float = EPS,
) -> float:
    """Derivative of a scalar function of named arrays along a direction, from four calls.

    The five-point stencil of ``t -> f(p + t d)`` at ``t = 0`` with step ``step``. Parameters
    without an entry in ``direction`` stay fixed. Calls ``f`` exactly 4 times, each with a new
    dict of new float64 arrays.

    Parameters
    ----------
    f : callable
        ``f(params) -> scalar``, e.g. the loss of a network as a function of its weights.
    params : mapping of str to array_like
        Point; never modified.
    direction : mapping of str to array_like
        Direction, each entry of the shape of the parameter it moves.
    step : float, optional
        Step along the direction (default `EPS`).

    Returns
    -------
    float
        The directional derivative.

    Raises
    ------
    ValueError
        If ``direction`` names an unknown parameter or has a wrong shape.
    """
    base = {k: as_float64(v, f"params[{k!r}]") for k, v in params.items()}
    moves: dict[str, FloatArray] = {}
    for k, d in direction.items():
        if k not in base:
            raise ValueError(f"direction has key {k!r}, which is not a parameter")
        moves[k] = as_float64(d, f"direction[{k!r}]")
        if moves[k].shape != base[k].shape:
            raise ValueError(f"direction[{k!r}] has shape {moves[k].shape}, "
                             f"params[{k!r}] has shape {base[k].shape}")
    values = []
    for offset in _OFFSETS:
        moved = {k: v + offset * step * moves[k] if k in moves else v.copy()
                 for k, v in base.items()}
        values.append(float(f(moved)))
    return float(_five_point(values, step))


def relative_difference(a: ArrayLike, b: ArrayLike, floor: float = REL_FLOOR) -> float:
    """Largest elementwise relative difference ``|a_i - b_i| / (floor + max(|a_i|, |b_i|))``.

    Parameters
    ----------
    a, b : array_like, same shape
        The two gradients.
    floor : float, optional
        Added to the denominator (default `REL_FLOOR`).

    Returns
    -------
    float
        In [0, 2) for finite inputs; 0.0 for empty or identical (e.g. all-zero) inputs; ``inf``
        if either contains NaN or inf.

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    x, y = as_float64(a, "a"), as_float64(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} and {y.shape}")
    if x.size == 0:
        return 0.0
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return math.inf
    return float(np.max(elementwise_rel(x, y, floor)))


def elementwise_rel(x: FloatArray, y: FloatArray, floor: float) -> FloatArray:
    """``|x - y| / (floor + max(|x|, |y|))`` entrywise, for finite ``x`` and ``y`` of one shape
    S; returns shape S."""
    rel: FloatArray = np.abs(x - y) / (floor + np.maximum(np.abs(x), np.abs(y)))
    return rel
