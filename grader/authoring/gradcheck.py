"""Numerical gradient checks: five-point differences in float64, and their comparison with backprop.

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
    ~1e-11 |f|) reads as ~1e-3: pass a larger ``floor`` to `check_gradient` when a gradient
    has such structural zeros.

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
from dataclasses import dataclass
from typing import Any, SupportsFloat

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EPS", "KINK_TOL", "REL_FLOOR", "SMOOTH_TOL", "GradCheck", "GradientCheckError",
    "check_directional", "check_gradient", "directional_derivative", "elementwise_derivative",
    "numerical_vjp", "relative_difference", "stencil_gradient",
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
ERROR_FORMULA = "|analytic - numerical| / (floor + max(|analytic|, |numerical|))"
"""The relative difference, as messages state it."""
#: the five-point stencil's offsets, in steps; see `_five_point` for the weights
_OFFSETS = (-2.0, -1.0, 1.0, 2.0)


def _five_point(at: Sequence[Any], h: Any) -> Any:
    """``(f(-2h) - 8 f(-h) + 8 f(h) - f(2h)) / (12 h)`` from the four values (scalars or
    arrays), as differences of equal-signed pairs first: where f does not move at all (a
    ReLU's flat side) the result is exactly 0, as a true zero gradient must be."""
    minus2, minus1, plus1, plus2 = at
    return ((minus2 - plus2) + 8.0 * (plus1 - minus1)) / (12.0 * h)


class GradientCheckError(AssertionError):
    """Raised by `GradCheck.assert_ok` when a gradient check failed; carries the message."""


@dataclass(frozen=True)
class GradCheck:
    """Outcome of a gradient check.

    Attributes
    ----------
    ok : bool
        True when the largest relative error is at most ``tol`` (and shapes agree).
    max_rel_error : float
        Largest relative error found (``inf`` for shape or NaN/inf problems).
    tol : float
        Tolerance used.
    message : str
        ``""`` when ok, else what differs, where, and by how much.
    worst_index : tuple of int or None
        Index of the worst entry (`check_gradient`) or ``(k,)`` for the k-th direction
        (`check_directional`); None when there is none.
    analytic, numeric : float or None
        The two values at ``worst_index``.
    """

    ok: bool
    max_rel_error: float
    tol: float
    message: str = ""
    worst_index: tuple[int, ...] | None = None
    analytic: float | None = None
    numeric: float | None = None

    def assert_ok(self) -> None:
        """Raise `GradientCheckError` with the message unless the check passed."""
        if not self.ok:
            raise GradientCheckError(self.message)


def _as_float64(x: ArrayLike, what: str) -> FloatArray:
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
    base = _as_float64(x, "x")
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
    base = _as_float64(x, "x")
    h = _steps(base, step)
    values = []
    for offset in _OFFSETS:
        value = _as_float64(f(base + offset * h), "f(x + h)")
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
    up = _as_float64(upstream, "upstream")

    def weighted(z: FloatArray) -> float:
        out = _as_float64(f(z), "f(x)")
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
    base = {k: _as_float64(v, f"params[{k!r}]") for k, v in params.items()}
    moves: dict[str, FloatArray] = {}
    for k, d in direction.items():
        if k not in base:
            raise ValueError(f"direction has key {k!r}, which is not a parameter")
        moves[k] = _as_float64(d, f"direction[{k!r}]")
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
    x, y = _as_float64(a, "a"), _as_float64(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} and {y.shape}")
    if x.size == 0:
        return 0.0
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return math.inf
    return float(np.max(_elementwise_rel(x, y, floor)))


def _elementwise_rel(x: FloatArray, y: FloatArray, floor: float) -> FloatArray:
    rel: FloatArray = np.abs(x - y) / (floor + np.maximum(np.abs(x), np.abs(y)))
    return rel


def check_gradient(
    analytic: object, numeric: ArrayLike, *, tol: float = SMOOTH_TOL, name: str = "gradient",
    floor: float = REL_FLOOR,
) -> GradCheck:
    """Compare an analytic gradient (backprop) with a numerical one, entry by entry.

    Parameters
    ----------
    analytic : object
        The gradient under test, expected to be an array of the shape of ``numeric``.
    numeric : array_like, shape S
        Numerical gradient (e.g. from `stencil_gradient`).
    tol : float, optional
        Largest relative error accepted (`SMOOTH_TOL`; `KINK_TOL` for ReLU-like functions).
    name : str, optional
        How the gradient is called in messages.
    floor : float, optional
        Added to the denominator of the relative difference (`REL_FLOOR`). Raise it when true
        zeros of the gradient are approximated with round-off noise (~1e-11 |f|).

    Returns
    -------
    GradCheck
        On failure the message names the worst index, both values and the relative error.
    """
    def fail(message: str, index: tuple[int, ...] | None = None) -> GradCheck:
        return GradCheck(False, math.inf, tol, f"{name}: {message}", index)

    num = _as_float64(numeric, "numeric")
    if analytic is None:
        return fail("returned None — did you forget a `return`?")
    try:
        ana = np.array(analytic, dtype=np.float64)
    except (TypeError, ValueError):
        return fail(f"expected an array of numbers, got {type(analytic).__name__}")
    if ana.shape != num.shape:
        return fail(f"analytic gradient has shape {ana.shape}, numerical gradient has shape "
                    f"{num.shape} (a gradient has the shape of what it differentiates)")
    for arr, which in ((ana, "analytic"), (num, "numerical")):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            index = _unravel(int(bad[0]), arr.shape)
            return fail(f"{which} gradient contains NaN or inf ({bad.size} / {arr.size} "
                        f"entries, first at index {index})", index)
    if ana.size == 0:
        return GradCheck(True, 0.0, tol)
    rel = _elementwise_rel(ana, num, floor)
    flat = int(np.argmax(rel))
    worst, index = float(rel.flat[flat]), _unravel(flat, ana.shape)
    a_val, n_val = float(ana.flat[flat]), float(num.flat[flat])
    if worst <= tol:
        return GradCheck(True, worst, tol, "", index, a_val, n_val)
    n_bad = int(np.count_nonzero(rel > tol))
    message = "\n".join([
        f"{name}: analytic and numerical gradients differ (max relative error {worst:.3g} > "
        f"tol {tol:g})",
        f"  Entries above tolerance: {n_bad} / {ana.size} ({100 * n_bad / ana.size:.3g}%)",
        f"  Worst at index {index}: analytic {a_val:.6g}, numerical {n_val:.6g}",
        f"  Relative error = {ERROR_FORMULA.replace('floor', f'{floor:g}')}; expect "
        f"< {SMOOTH_TOL:g} for smooth functions, < {KINK_TOL:g} for ReLU-like kinks "
        f"(tolerance used: {tol:g}).",
    ])
    return GradCheck(False, worst, tol, message, index, a_val, n_val)


def check_directional(
    loss: Callable[[dict[str, FloatArray]], SupportsFloat],
    params: Mapping[str, ArrayLike],
    grads: Mapping[str, object],
    rng: np.random.Generator,
    *,
    n_directions: int = 3,
    step: float = EPS,
    tol: float = SMOOTH_TOL,
) -> GradCheck:
    """Check all gradients of a scalar loss at once along random directions.

    For each of ``n_directions`` random unit directions ``d`` (Gaussian over every parameter,
    normalised to total norm 1, drawn from ``rng``), compares ``sum_k <grads[k], d[k]>`` with
    `directional_derivative`. The relative difference is
    ``|a - n| / (REL_FLOOR + max(|a|, |n|, ||grads||))``: a direction nearly orthogonal to the
    gradient makes ``a`` and ``n`` tiny, and ``||grads|| >= |<grads, d>|`` keeps round-off from
    reading as a large relative difference there. Stops at the first failing direction: calls
    ``loss`` at most ``4 * n_directions`` times (none if ``grads`` is malformed).

    Parameters
    ----------
    loss : callable
        ``loss(params) -> scalar``.
    params : mapping of str to array_like
        Parameters (``{"W1": (h, d), "b1": (h,), ...}``); never modified.
    grads : mapping of str to object
        The gradients under test, one per parameter and of its shape; extra keys are ignored.
    rng : numpy.random.Generator
        Source of the directions (seed it for reproducible checks).
    n_directions : int, optional
        Number of directions (default 3).
    step : float, optional
        Step along each direction (default `EPS`).
    tol : float, optional
        Tolerance (default `SMOOTH_TOL`).

    Returns
    -------
    GradCheck
        ``worst_index`` is ``(k,)`` for the worst (or failing) direction k, 0-based.
    """
    base = {k: _as_float64(v, f"params[{k!r}]") for k, v in params.items()}
    problem = _grads_problem(base, grads)
    if problem:
        return GradCheck(False, math.inf, tol, problem)
    g = {k: np.asarray(grads[k], dtype=np.float64) for k in base}
    g_norm = math.sqrt(sum(float(np.sum(v * v)) for v in g.values()))
    result = GradCheck(True, 0.0, tol)
    for k in range(n_directions):
        raw = {p: rng.standard_normal(v.shape) for p, v in base.items()}
        norm = math.sqrt(sum(float(np.sum(v * v)) for v in raw.values())) or 1.0
        direction = {p: v / norm for p, v in raw.items()}
        a = sum(float(np.sum(g[p] * direction[p])) for p in base)
        n = directional_derivative(loss, base, direction, step)
        rel = abs(a - n) / (REL_FLOOR + max(abs(a), abs(n), g_norm)) if math.isfinite(n) \
            else math.inf
        if rel > tol:
            message = "\n".join([
                f"gradients disagree with the loss along random direction {k + 1} of "
                f"{n_directions} (relative error {rel:.3g} > tol {tol:g})",
                f"  sum over parameters of <grad, d>: {a:.6g}; numerical directional "
                f"derivative: {n:.6g}",
                "  At least one gradient is wrong: check each one with an entry-by-entry "
                "gradient check.",
            ])
            return GradCheck(False, rel, tol, message, (k,), a, n)
        if rel >= result.max_rel_error:
            result = GradCheck(True, rel, tol, "", (k,), a, n)
    return result


def _grads_problem(params: Mapping[str, FloatArray], grads: Mapping[str, object]) -> str:
    """What is structurally wrong with ``grads`` (missing key, bad shape, NaN), or ``""``."""
    if grads is None:
        return "grads: returned None — did you forget a `return`?"
    if not isinstance(grads, Mapping):
        return f"grads: expected a dict, got {type(grads).__name__}"
    missing = [k for k in params if k not in grads]
    if missing:
        keys = ", ".join(repr(k) for k in missing)
        return f"grads is missing {'key' if len(missing) == 1 else 'keys'} {keys}"
    for k, p in params.items():
        try:
            value = np.asarray(grads[k], dtype=np.float64)
        except (TypeError, ValueError):
            return f"grads[{k!r}]: expected an array of numbers, got {type(grads[k]).__name__}"
        if value.shape != p.shape:
            return (f"grads[{k!r}] has shape {value.shape}, expected {p.shape} (the shape of "
                    f"params[{k!r}])")
        if not np.isfinite(value).all():
            return f"grads[{k!r}] contains NaN or inf"
    return ""


def _unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape))

