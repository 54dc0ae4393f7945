"""Gradient checks: an analytic gradient (backprop) against a numerical one, with a message.

`check_gradient` compares two gradients entry by entry with the relative difference of
`grader.authoring.gradcheck` and reports the worst entry; `check_directional` checks every
gradient of a scalar loss at once along random directions. Thresholds and their reasons are in
`grader.authoring.gradcheck`.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import SupportsFloat

import numpy as np
from numpy.typing import ArrayLike

from grader.authoring.gradcheck import (
    EPS,
    KINK_TOL,
    REL_FLOOR,
    SMOOTH_TOL,
    FloatArray,
    as_float64,
    directional_derivative,
    elementwise_rel,
)

__all__ = ["ERROR_FORMULA", "GradCheck", "GradientCheckError", "check_directional",
           "check_gradient"]

ERROR_FORMULA = "|analytic - numerical| / (floor + max(|analytic|, |numerical|))"
"""The relative difference, as messages state it."""


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

    num = as_float64(numeric, "numeric")
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
    rel = elementwise_rel(ana, num, floor)
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
    base = {k: as_float64(v, f"params[{k!r}]") for k, v in params.items()}
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
