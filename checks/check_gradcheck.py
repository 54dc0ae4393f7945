"""Public checks of gradcheck.py: central differences on known functions, the relative error
on known pairs, and a linear model with a planted gradient bug."""

import numpy as np

from grader import misconceptions
from grader.misconceptions import Misconception
from grader.sandbox import StudentError
from grader.testing import Context, public

for _m in (
    Misconception(
        "one_sided_difference", "One-sided instead of central difference",
        "Use the central difference (f(x + eps e_i) - f(x - eps e_i)) / (2 eps): its error is "
        "of order eps^2, that of (f(x + eps e_i) - f(x)) / eps of order eps.",
        "is the one-sided difference (f(x + eps e_i) - f(x)) / eps"),
    Misconception(
        "central_difference_factor", "Central difference divided by eps, not 2 eps",
        "The points x + eps e_i and x - eps e_i are 2 eps apart: divide "
        "f(x + eps e_i) - f(x - eps e_i) by 2 * eps.", "is twice the central difference"),
    Misconception(
        "eps_ignored", "The eps argument is ignored",
        "Use the step the caller passes, numerical_gradient(f, x, eps): do not hard-code "
        "1e-5 inside the function.", "is what the default step 1e-5 gives"),
    Misconception(
        "relative_error_mean", "Mean instead of max of the entrywise errors",
        "relative_error is the largest entrywise error, max_i |a_i - b_i| / max(1e-8, |a_i| + "
        "|b_i|): one wrong entry must show, not be averaged away.",
        "is the mean of the entrywise errors"),
    Misconception(
        "relative_error_no_floor", "No floor in the denominator",
        "Divide by max(1e-8, |a_i| + |b_i|): where both entries are 0 the plain sum gives "
        "0 / 0 = NaN (np.maximum(1e-8, np.abs(a) + np.abs(b))).", "is NaN where both are 0"),
    Misconception(
        "gradcheck_absolute_floor", "Round-off flagged as a bug",
        "A numerical gradient is only good to about 1e-10 absolutely, so a tiny gradient entry "
        "can have a large relative error even when backward is right: flag a parameter only "
        "when relative_error > 1e-5 and max |analytic - numerical| > 1e-7.",
        "flags a correct gradient whose entries are tiny"),
    Misconception(
        "relative_error_denominator", "Wrong denominator in the relative error",
        "The denominator is the sum of the magnitudes, max(1e-8, |a_i| + |b_i|), not their "
        "maximum or |b_i| alone.", "uses another denominator"),
):
    misconceptions.register(_m, replace=True)

def raised_in(exc: StudentError) -> str:
    """The name of the student's function where the exception was raised ("" if unknown)."""
    frames = [line for line in exc.traceback.splitlines() if line.lstrip().startswith("File ")]
    return frames[-1].rsplit(" in ", 1)[-1].strip() if frames else ""


def own(ctx: Context, name: str, *args: object, **kwargs: object) -> object:
    """Call the student's ``name``; a stub elsewhere that it calls fails this check with a
    plain message instead of reading as "``name`` is not implemented"."""
    try:
        return getattr(ctx.student, name)(*args, **kwargs)
    except StudentError as exc:
        where = raised_in(exc)
        if exc.not_implemented and where not in ("", name):
            ctx.fail(f"{name} calls your {where}, which is not implemented yet: implement it "
                     "first")
        raise


X0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])


def cube_sum(x: np.ndarray) -> float:
    """f(x) = sum x^3, whose central difference is exactly 3 x^2 + eps^2."""
    return float(np.sum(np.asarray(x, dtype=np.float64) ** 3))


@public("numerical_gradient")
def check_numerical_gradient_cubic(ctx: Context) -> None:
    """numerical_gradient of sum(x^3) is the central difference 3 x^2 + eps^2, entry by entry"""
    for eps in (1e-5, 1e-2):
        grad = ctx.student.numerical_gradient(ctx.callback(cube_sum), X0, eps=eps)
        ctx.expect_unchanged()
        ctx.expect_fresh()
        central = 3 * X0**2 + eps**2
        ctx.expect_close(grad, central, rtol=1e-6, atol=1e-8,
                         what=f"numerical_gradient(f, x, eps={eps:g}) for f(x) = sum(x^3)",
                         variants={"one_sided_difference": 3 * X0**2 + 3 * X0 * eps + eps**2,
                                   "central_difference_factor": 2 * central,
                                   "eps_ignored": 3 * X0**2 + 1e-10})


@public("numerical_gradient")
def check_numerical_gradient_any_shape(ctx: Context) -> None:
    """numerical_gradient works for x of any shape: 1-D and 3-D, a float64 array of x's shape"""
    for x in (np.array([0.3, -2.0, 1.0]), np.arange(12.0).reshape(2, 3, 2) / 4 - 1):
        grad = ctx.student.numerical_gradient(ctx.callback(cube_sum), x)
        ctx.expect_unchanged()
        ctx.expect_close(grad, 3 * x**2, rtol=1e-6, atol=1e-8,
                         what=f"numerical_gradient(f, x) for x of shape {x.shape}")


def relative_variants(a: np.ndarray, b: np.ndarray) -> dict[str, object]:
    diff = np.abs(a - b)
    with np.errstate(all="ignore"):
        return {
            "relative_error_mean": float(np.mean(diff / np.maximum(1e-8, np.abs(a) + np.abs(b)))),
            "relative_error_no_floor": float(np.max(diff / (np.abs(a) + np.abs(b)))),
            "relative_error_denominator": float(np.max(
                diff / np.maximum(1e-8, np.maximum(np.abs(a), np.abs(b))))),
        }


@public("relative_error")
def check_relative_error_known_values(ctx: Context) -> None:
    """relative_error([1, 2, 0, 1e-10], [1, 2.2, 0, 0]) is 0.2 / 4.2"""
    a = np.array([1.0, 2.0, 0.0, 1e-10])
    b = np.array([1.0, 2.2, 0.0, 0.0])
    # entries: 0, 0.2 / 4.2, 0 (floor: 0 / 1e-8), 1e-10 / 1e-8 = 0.01
    ctx.expect_close(ctx.student.relative_error(a, b), 0.2 / 4.2, rtol=1e-9, atol=1e-15,
                     what="relative_error(a, b)", variants=relative_variants(a, b))
    ctx.expect_unchanged()
    c = np.array([3e-9, 0.0])
    ctx.expect_close(ctx.student.relative_error(c, np.zeros(2)), 0.3, rtol=1e-9, atol=1e-15,
                     what="relative_error([3e-9, 0], [0, 0]) (the floor 1e-8 applies)",
                     variants=relative_variants(c, np.zeros(2)))


@public("relative_error")
def check_relative_error_zero_cases(ctx: Context) -> None:
    """relative_error is 0.0 for two equal, two all-zero and two empty arrays"""
    a = np.array([[1.5, -2.0], [0.0, 4.0]])
    for what, x, y in (("two equal arrays", a, a.copy()),
                       ("two all-zero arrays", np.zeros((2, 3)), np.zeros((2, 3))),
                       ("two empty arrays", np.zeros(0), np.zeros(0))):
        ctx.expect_close(ctx.student.relative_error(x, y), 0.0, rtol=0.0, atol=1e-15,
                         what=f"relative_error(a, b) for {what}")


# A linear model Z = X W1^T + b1 with the squared-error cost: its exact gradients are known.
X_LIN = np.array([[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-1.0, 0.0, 1.0], [2.0, 1.0, 0.5]])
Y_LIN = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
PARAMS = {"W1": np.array([[0.2, -0.4, 0.1], [0.3, 0.5, -0.2]]), "b1": np.array([0.1, -0.3])}


def linear_loss(params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> float:
    Z = np.asarray(X) @ np.asarray(params["W1"]).T + np.asarray(params["b1"])
    return float(np.mean(np.sum((Z - Y) ** 2, axis=1)))


def linear_backward(params: dict[str, np.ndarray], X: np.ndarray,
                    Y: np.ndarray) -> dict[str, np.ndarray]:
    X = np.asarray(X)
    dZ = 2 * (X @ np.asarray(params["W1"]).T + np.asarray(params["b1"]) - Y) / len(X)
    return {"W1": dZ.T @ X, "b1": dZ.sum(axis=0)}


def linear_backward_bias_bug(params: dict[str, np.ndarray], X: np.ndarray,
                             Y: np.ndarray) -> dict[str, np.ndarray]:
    grads = linear_backward(params, X, Y)
    return {"W1": grads["W1"], "b1": grads["b1"] / len(X)}  # a mean instead of a sum


@public("find_buggy_parameters")
def check_find_buggy_parameters_linear(ctx: Context) -> None:
    """find_buggy_parameters finds a planted bug in b1, and returns set() for correct grads"""
    for backward, expected, what in ((linear_backward_bias_bug, {"b1"}, "a bug in b1"),
                                     (linear_backward, set(), "correct gradients")):
        found = own(ctx, "find_buggy_parameters", ctx.callback(backward),
                    ctx.callback(linear_loss), PARAMS, X_LIN, Y_LIN)
        ctx.expect_unchanged()
        ctx.expect_close(found, expected, rtol=0.0, atol=1.0,
                         what=f"find_buggy_parameters(...) for {what}")


@public("find_buggy_parameters")
def check_find_buggy_parameters_round_off(ctx: Context) -> None:
    """find_buggy_parameters does not flag the round-off of correct gradients of size 1e-8"""
    X = X_LIN * np.array([1.0, 1.0, 1e-7])
    found = own(ctx, "find_buggy_parameters", ctx.callback(linear_backward),
                ctx.callback(linear_loss), PARAMS, X, Y_LIN)
    ctx.expect_unchanged()
    if found == {"W1"}:
        ctx.fail("find_buggy_parameters flagged W1 of a correct backward: the gradients of the "
                 "weights from the tiny input feature are about 1e-8, where the numerical "
                 "gradient's round-off gives a large relative error",
                 misconception="gradcheck_absolute_floor")
    ctx.expect_close(found, set(), rtol=0.0, atol=1.0,
                     what="find_buggy_parameters(...) for correct gradients with tiny entries")
