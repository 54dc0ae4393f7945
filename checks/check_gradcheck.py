"""Public checks of gradcheck.py: central differences on known functions, the relative error
on known pairs, and a linear model with a planted gradient bug."""

import numpy as np

from grader.authoring import Context, public

from course_helpers import relative_error_variants

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


@public("relative_error")
def check_relative_error_known_values(ctx: Context) -> None:
    """relative_error([1, 2, 0, 1e-10], [1, 2.2, 0, 0]) is 0.2 / 4.2"""
    a = np.array([1.0, 2.0, 0.0, 1e-10])
    b = np.array([1.0, 2.2, 0.0, 0.0])
    # entries: 0, 0.2 / 4.2, 0 (floor: 0 / 1e-8), 1e-10 / 1e-8 = 0.01
    ctx.expect_close(ctx.student.relative_error(a, b), 0.2 / 4.2, rtol=1e-9, atol=1e-15,
                     what="relative_error(a, b)", variants=relative_error_variants(a, b))
    ctx.expect_unchanged()
    c = np.array([3e-9, 0.0])
    ctx.expect_close(ctx.student.relative_error(c, np.zeros(2)), 0.3, rtol=1e-9, atol=1e-15,
                     what="relative_error([3e-9, 0], [0, 0]) (the floor 1e-8 applies)",
                     variants=relative_error_variants(c, np.zeros(2)))


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
        with ctx.blame_other_stubs("find_buggy_parameters"):
            found = ctx.student.find_buggy_parameters(ctx.callback(backward),
                                                      ctx.callback(linear_loss), PARAMS, X_LIN,
                                                      Y_LIN)
        ctx.expect_unchanged()
        ctx.expect_close(found, expected, rtol=0.0, atol=1.0,
                         what=f"find_buggy_parameters(...) for {what}")


@public("find_buggy_parameters")
def check_find_buggy_parameters_round_off(ctx: Context) -> None:
    """find_buggy_parameters does not flag the round-off of correct gradients of size 1e-8"""
    X = X_LIN * np.array([1.0, 1.0, 1e-7])
    with ctx.blame_other_stubs("find_buggy_parameters"):
        found = ctx.student.find_buggy_parameters(ctx.callback(linear_backward),
                                                  ctx.callback(linear_loss), PARAMS, X, Y_LIN)
    ctx.expect_unchanged()
    if found == {"W1"}:
        ctx.fail("find_buggy_parameters flagged W1 of a correct backward: the gradients of the "
                 "weights from the tiny input feature are about 1e-8, where the numerical "
                 "gradient's round-off gives a large relative error",
                 misconception="gradcheck_absolute_floor")
    ctx.expect_close(found, set(), rtol=0.0, atol=1.0,
                     what="find_buggy_parameters(...) for correct gradients with tiny entries")


@public("relative_error")
def check_relative_error_any_shape(ctx: Context) -> None:
    """relative_error works for arrays of any shape: (2, 3, 2) gives the same as flattened"""
    a = np.arange(12.0).reshape(2, 3, 2) - 5.0
    b = a.copy()
    b[1, 0, 0] += 0.5  # entry 1.0 against 1.5: 0.5 / 2.5 = 0.2, the largest
    ctx.expect_close(ctx.student.relative_error(a, b), 0.2, rtol=1e-9, atol=1e-15,
                     what="relative_error(a, b) for a, b of shape (2, 3, 2)",
                     variants=relative_error_variants(a, b))
    ctx.expect_unchanged()
