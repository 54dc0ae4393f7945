"""What this course's public checks and hidden tests share: the gradient floor, the sigmoid by
its definition, and the shapes of a few of the course's mistakes.

Imported by bare name (``from course_helpers import FLOOR``): `grader.course.config.Course.collect`
puts ``checks/`` on ``sys.path`` while it imports checks and tests. It ships to students with
the checks, so it holds formulas of the contract and of known mistakes, never anything taken
from the reference solutions.
"""

import numpy as np

from grader.authoring import Context

# Entries of a gradient below FLOOR are compared by their absolute error: a central difference
# resolves about 1e-11 absolute, which is a large relative error on a tiny entry (a saturated
# sigmoid or hidden unit: dL/dw ~ 1e-6 for the worked example's example 1). Measured on the
# reference over thousands of random inputs, the largest relative error with this floor is
# ~2e-7, against SMOOTH_TOL = 1e-6; a real mistake gives 1e-2 or more.
FLOOR = 1e-4

# Unit roundoff of float64. A sound formula rounds each operation to within EPS / 2 of the size
# of the numbers it combines: tolerances below are a few EPS times that size.
EPS = float(np.finfo(np.float64).eps)


def lse_atol(logits: np.ndarray) -> float:
    """The absolute tolerance of the mean cross-entropy of ``logits`` and of its gradient.

    Derived from the conditioning of log-sum-exp, not from one implementation: a log
    probability z_i - lse(z) is a difference of numbers as large as M = max |z|, so whatever
    the order of operations (the max first, np.logaddexp, log of a sum, scipy's log_softmax)
    rounding leaves an absolute error of a few ulp(M) ~ M EPS in it, and C EPS more from the
    sum of C exponentials. That error stays absolute in the loss; it is relative in each
    probability p_i = exp(z_i - lse), and so absolute again, up to M EPS, in p_i - onehot_i
    where p_i is close to 1 and cancels. 16 M EPS covers every sound formula (measured on
    thousands of inputs: tests/test_tolerances.py); a real mistake moves the loss or a
    gradient entry by 1e-3 or more.
    """
    z = np.asarray(logits, dtype=np.float64)
    return 16.0 * EPS * max(float(np.max(np.abs(z), initial=1.0)), float(z.shape[-1]))


# The worked example's gradient vector: concat(dW.ravel(), dV.ravel()) taken from the slide's
# order concat(dW.T.ravel(), dV.ravel()).
ROW_MAJOR_ORDER = [0, 2, 1, 3, 4, 5, 6, 7]


def sigmoid(z: object) -> np.ndarray:
    """The sigmoid of the checks' arrays by its definition, 1 / (1 + exp(-z)): exact enough for
    their moderate z, and no answer to the exercise (this file ships to students). It takes
    arrays only, where the exercise's sigmoid takes a scalar too, and it overflows for
    z < -709, where the exercise's must not: copied as activations.sigmoid it earns nothing."""
    a = np.asarray(z, dtype=np.float64)
    if a.ndim == 0:
        raise TypeError("course_helpers.sigmoid is the checks' helper for arrays, not a "
                        "sigmoid to use: write your own in activations.py")
    return 1.0 / (1.0 + np.exp(-a))


def pair(ctx: Context, out: object, what: str) -> tuple[object, object]:
    """The pair ``(z, a)`` a forward pass returns, or a failed check saying it is not one."""
    ctx.expect(isinstance(out, tuple | list) and len(out) == 2,
               f"{what} should return a pair (z, a), got {type(out).__name__}")
    assert isinstance(out, tuple | list)
    return out[0], out[1]


def softmax_normalised_where(s: np.ndarray) -> str | None:
    """Where an array that should be a row-wise softmax sums to 1 when its rows do not: "down
    each column (axis 0)" or "over the whole array" (the softmax_wrong_axis mistake), else
    None."""
    if s.ndim < 2 or np.allclose(np.sum(s, axis=-1), 1.0, rtol=0.0, atol=1e-9):
        return None
    for axis, where in ((0, "down each column (axis 0)"), (None, "over the whole array")):
        if np.allclose(np.sum(s, axis=axis), 1.0, rtol=0.0, atol=1e-9):
            return where
    return None


def softmax_backward_variants(s: np.ndarray, ds: np.ndarray) -> dict[str, object]:
    """What softmax_backward(s, ds) gives under each of its catalogued mistakes."""
    return {"softmax_jacobian_diagonal": s * (1.0 - s) * ds,
            "softmax_wrong_axis": s * (ds - np.sum(ds * s, axis=0, keepdims=True))}


def relative_error_variants(a: np.ndarray, b: np.ndarray) -> dict[str, object]:
    """What relative_error(a, b) gives under each of its catalogued mistakes."""
    diff = np.abs(a - b)
    with np.errstate(all="ignore"):
        return {
            "relative_error_mean": float(np.mean(diff / np.maximum(1e-8, np.abs(a) + np.abs(b)))),
            "relative_error_no_floor": float(np.max(diff / (np.abs(a) + np.abs(b)))),
            "relative_error_denominator": float(np.max(
                diff / np.maximum(1e-8, np.maximum(np.abs(a), np.abs(b))))),
        }
