"""What this course's public checks and hidden tests share: the gradient floor, the sigmoid by
its definition, and the shapes of a few of the course's mistakes.

Imported by bare name (``from course_helpers import FLOOR``): `grader.course.Course.collect`
puts ``checks/`` on ``sys.path`` while it imports checks and tests. It ships to students with
the checks, so it holds formulas of the contract and of known mistakes, never anything taken
from the reference solutions.
"""

import numpy as np

from grader.testing import Context

# Entries of a gradient below FLOOR are compared by their absolute error: a central difference
# resolves about 1e-11 absolute, which is a large relative error on a tiny entry (a saturated
# sigmoid or hidden unit: dL/dw ~ 1e-6 for the worked example's example 1). Measured on the
# reference over thousands of random inputs, the largest relative error with this floor is
# ~2e-7, against SMOOTH_TOL = 1e-6; a real mistake gives 1e-2 or more.
FLOOR = 1e-4

# The worked example's gradient vector: concat(dW.ravel(), dV.ravel()) taken from the slide's
# order concat(dW.T.ravel(), dV.ravel()).
ROW_MAJOR_ORDER = [0, 2, 1, 3, 4, 5, 6, 7]


def sigmoid(z: object) -> np.ndarray:
    """The sigmoid by its definition, 1 / (1 + exp(-z)) (exact enough for moderate z)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


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
