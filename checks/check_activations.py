"""Public checks of activations.py: known values, finite differences, stability, shapes."""

import numpy as np

from grader import gradcheck, misconceptions
from grader.misconceptions import Misconception
from grader.testing import CheckFailed, Context, public

for _m in (
    Misconception(
        "relu_prime_at_zero", "relu'(0) is 0, not 1",
        "The contract defines relu'(z) = 1 if z > 0 else 0, so relu'(0) = 0: compare with "
        "z > 0, not z >= 0.", "is 1 where z == 0"),
    Misconception(
        "sigmoid_sign", "sigmoid(-z) instead of sigmoid(z)",
        "sigma(z) = 1 / (1 + exp(-z)), with a minus sign in the exponent: sigma(z) > 1/2 for "
        "z > 0 and sigma(z) -> 1 as z -> +inf.", "is sigmoid(-z)"),
    Misconception(
        "softmax_wrong_axis", "Softmax over the wrong axis",
        "Softmax treats each row of a (N, C) batch on its own: every max and sum runs over the "
        "last axis (axis=-1, keepdims=True), in softmax (so each row sums to 1) and in its "
        "backward pass (sum(ds * s) per row).",
        "sums over the wrong axis (axis 0, across examples, instead of the last axis)"),
    Misconception(
        "softmax_global_max", "One max for the whole batch",
        "Subtract each row's own maximum, np.max(z, axis=-1, keepdims=True): a single max of "
        "the whole array pushes the rows of a smaller scale to exp(-huge) = 0, then 0 / 0.",
        "is what subtracting the max of the whole array gives"),
    Misconception(
        "softmax_jacobian_diagonal", "Only the diagonal of the softmax Jacobian",
        "Every s_i depends on every z_k: ds_i/dz_k = s_i (delta_ik - s_k). So "
        "dz = s * (ds - sum(ds * s, axis=-1, keepdims=True)), not s * (1 - s) * ds.",
        "is s (1 - s) ds, the diagonal terms only"),
    Misconception(
        "bias_not_through_w2", "First bias not passed through the second layer",
        "W2 (W1 a + b1) + b2 = (W2 W1) a + (W2 b1 + b2): b1 goes through W2 like everything "
        "else, so b = W2 @ b1 + b2.", "leaves b1 out of b or adds it without W2"),
):
    misconceptions.register(_m, replace=True)

# Moderate logits (|z| <= 5), where the textbook formulas are exact enough to serve as values.
MODERATE = np.array([0.0, 0.5, -0.5, 2.0, -2.0, 5.0, -5.0])
EXTREME = np.array([-1e4, -1e3, -710.0, -50.0, 0.0, 50.0, 710.0, 1e3, 1e4])

# Entries of a gradient below FLOOR are compared by their absolute error: a central difference
# resolves about 1e-11 absolute, which is a large relative error on a tiny entry (a saturated
# sigmoid). Measured on the reference over thousands of random inputs, the largest relative
# error with this floor is ~2e-7, against SMOOTH_TOL = 1e-6; a real mistake gives 1e-2 or more.
FLOOR = 1e-4


def expect_derivative(ctx: Context, analytic: object, numeric: np.ndarray, *, what: str,
                      variants: dict[str, object] | None = None,
                      tol: float = gradcheck.SMOOTH_TOL,
                      floor: float = FLOOR) -> None:
    """``ctx.expect_gradient`` that also names a catalogued mistake (via ``variants``)."""
    result = gradcheck.check_gradient(analytic, numeric, tol=tol, name=what, floor=floor)
    if not result.ok:
        raise CheckFailed(result.message, misconceptions.diagnose(
            analytic, numeric, variants=variants, name=what))
    ctx.passed()


def expect_array(ctx: Context, out: object, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``out`` is a float64 array of ``shape``; returns it."""
    ctx.expect(isinstance(out, np.ndarray), f"{what} should be a numpy array, got "
               f"{type(out).__name__}")
    assert isinstance(out, np.ndarray)
    ctx.expect(out.shape == shape, f"{what} has shape {out.shape}, expected {shape}",
               misconception="shape_mismatch")
    ctx.expect(out.dtype == np.float64, f"{what} has dtype {out.dtype}, expected float64",
               misconception="wrong_dtype")
    return out


def expect_rows_sum_to_one(ctx: Context, s: np.ndarray, what: str) -> None:
    """Each row of ``s`` sums to 1; a sum over another axis is named."""
    sums = np.sum(s, axis=-1)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=1e-9):
        for axis, where in ((0, "down each column (axis 0)"), (None, "over the whole array")):
            if s.ndim >= 2 and np.allclose(np.sum(s, axis=axis), 1.0, rtol=0.0, atol=1e-9):
                ctx.fail(f"{what} sums to 1 {where}, not along each row (the last axis)",
                         misconception="softmax_wrong_axis")
        worst = int(np.argmax(np.abs(sums - 1.0)))
        ctx.fail(f"the rows of {what} should sum to 1; row {worst} sums to "
                 f"{sums.flat[worst]:.6g}")
    ctx.passed()


# -- sigmoid ---------------------------------------------------------------------------------
@public("sigmoid")
def check_sigmoid_values(ctx: Context) -> None:
    """sigmoid(0) is 0.5 and sigmoid(z) = 1 / (1 + exp(-z)) for moderate z"""
    out = expect_array(ctx, ctx.student.sigmoid(MODERATE), MODERATE.shape, "sigmoid(z)")
    ctx.expect_close(out[0], 0.5, rtol=0.0, atol=1e-12, what="sigmoid(0)")
    ctx.expect_close(out, 1.0 / (1.0 + np.exp(-MODERATE)), rtol=1e-9, atol=1e-15,
                     what="sigmoid(z)",
                     variants={"sigmoid_sign": 1.0 / (1.0 + np.exp(MODERATE))})
    ctx.expect_unchanged()


@public("sigmoid")
def check_sigmoid_shapes(ctx: Context) -> None:
    """sigmoid keeps the shape of z (a scalar for a scalar) and leaves z unchanged"""
    z = ctx.rng.normal(0.0, 3.0, size=(2, 3))
    expect_array(ctx, ctx.student.sigmoid(z), (2, 3), "sigmoid(z) for z of shape (2, 3)")
    ctx.expect_unchanged()
    out = ctx.student.sigmoid(0.0)
    ctx.expect(np.ndim(out) == 0 and not isinstance(out, bool | str),
               f"sigmoid(0.0) should be a number, got {type(out).__name__} of shape "
               f"{np.shape(out)}")


@public("sigmoid")
def check_sigmoid_stable(ctx: Context) -> None:
    """sigmoid is finite, with no warning, for |z| up to 1e4"""
    out = ctx.student.sigmoid.options(errstate="raise")(EXTREME)
    out = expect_array(ctx, out, EXTREME.shape, "sigmoid(z)")
    ctx.expect(bool(np.isfinite(out).all()), "sigmoid(z) contains NaN or inf for large |z|",
               misconception="overflow")
    ctx.expect_close(out[[0, -1]], np.array([0.0, 1.0]), rtol=1e-12, atol=1e-15,
                     what="sigmoid(-1e4), sigmoid(1e4)")
    ctx.expect(bool(np.all(np.diff(out) >= 0)), "sigmoid should never decrease as z grows")


# -- sigmoid_prime ---------------------------------------------------------------------------
@public("sigmoid_prime")
def check_sigmoid_prime_numerical(ctx: Context) -> None:
    """sigmoid_prime(0) is 0.25 and sigmoid_prime matches finite differences of your sigmoid"""
    z = np.concatenate([[0.0], ctx.rng.normal(0.0, 3.0, size=7)])
    out = expect_array(ctx, ctx.student.sigmoid_prime(z), z.shape, "sigmoid_prime(z)")
    ctx.expect_unchanged()
    numeric = gradcheck.elementwise_derivative(ctx.student.sigmoid, z)
    expect_derivative(ctx, out, numeric, what="sigmoid_prime(z)",
                      variants={"activation_instead_of_derivative": ctx.student.sigmoid(z)})
    ctx.expect_close(out[0], 0.25, rtol=0.0, atol=1e-12, what="sigmoid_prime(0)")


@public("sigmoid_prime")
def check_sigmoid_prime_stable(ctx: Context) -> None:
    """sigmoid_prime is finite, with no warning, for |z| up to 1e4, and between 0 and 1/4"""
    out = ctx.student.sigmoid_prime.options(errstate="raise")(EXTREME)
    out = expect_array(ctx, out, EXTREME.shape, "sigmoid_prime(z)")
    ctx.expect(bool(np.isfinite(out).all()), "sigmoid_prime(z) contains NaN or inf for large "
               "|z|", misconception="overflow")
    ctx.expect(bool(np.all((out >= 0.0) & (out <= 0.25))),
               "sigmoid_prime(z) should lie between 0 and 1/4 (its value at z = 0)")


# -- relu, relu_prime ------------------------------------------------------------------------
@public("relu")
def check_relu_values(ctx: Context) -> None:
    """relu(z) is 0 for z <= 0 and z for z > 0, and leaves z unchanged"""
    z = np.array([[-3.0, -0.5, 0.0], [0.5, 3.0, -1e-3]])
    out = ctx.student.relu(z)
    ctx.expect_unchanged()
    ctx.expect_close(out, np.array([[0.0, 0.0, 0.0], [0.5, 3.0, 0.0]]), rtol=1e-12,
                     atol=1e-15, what="relu(z)",
                     variants={"sign_error": np.minimum(z, 0.0)})
    ctx.expect_fresh()


@public("relu_prime")
def check_relu_prime_values(ctx: Context) -> None:
    """relu_prime is 1.0 for z > 0 and 0.0 for z <= 0 (relu'(0) = 0), as float64"""
    z = np.array([-2.0, -0.1, 0.0, 0.1, 2.0])
    out = ctx.student.relu_prime(z)
    ctx.expect_unchanged()
    ctx.expect_close(out, np.array([0.0, 0.0, 0.0, 1.0, 1.0]), rtol=1e-12, atol=1e-15,
                     what="relu_prime(z)",
                     variants={"relu_prime_at_zero": np.array([0.0, 0.0, 1.0, 1.0, 1.0])})


@public("relu_prime")
def check_relu_prime_numerical(ctx: Context) -> None:
    """relu_prime matches finite differences of your relu away from z = 0"""
    z = ctx.rng.uniform(0.1, 3.0, size=(2, 4)) * ctx.rng.choice([-1.0, 1.0], size=(2, 4))
    out = ctx.student.relu_prime(z)
    numeric = gradcheck.elementwise_derivative(ctx.student.relu, z)
    expect_derivative(ctx, out, numeric, what="relu_prime(z)", tol=gradcheck.KINK_TOL,
                      variants={"activation_instead_of_derivative": ctx.student.relu(z)})


# -- softmax ---------------------------------------------------------------------------------
@public("softmax")
def check_softmax_rows(ctx: Context) -> None:
    """softmax rows are positive, sum to 1, and softmax(z)_i / softmax(z)_j = exp(z_i - z_j)"""
    z = ctx.rng.normal(0.0, 2.0, size=(3, 5))
    s = expect_array(ctx, ctx.student.softmax(z), z.shape, "softmax(z)")
    ctx.expect_unchanged()
    ctx.expect(bool(np.all(s > 0.0)), "softmax(z) should be positive everywhere")
    expect_rows_sum_to_one(ctx, s, "softmax(z)")
    ctx.expect_close(s / s[:, :1], np.exp(z - z[:, :1]), rtol=1e-9, atol=1e-12,
                     what="softmax(z)[:, i] / softmax(z)[:, 0]")


@public("softmax")
def check_softmax_last_axis(ctx: Context) -> None:
    """softmax of one row (1-D) is the same as that row of a batch, and (2, 3, 4) works too"""
    z = ctx.rng.normal(0.0, 2.0, size=(2, 3, 4))
    batch = expect_array(ctx, ctx.student.softmax(z), z.shape, "softmax(z) for z (2, 3, 4)")
    expect_rows_sum_to_one(ctx, batch, "softmax(z) for z (2, 3, 4)")
    row = expect_array(ctx, ctx.student.softmax(z[1, 2]), (4,), "softmax(z) for a 1-D z")
    ctx.expect_close(row, batch[1, 2], rtol=1e-9, atol=1e-15,
                     what="softmax(z[1, 2]) compared with softmax(z)[1, 2]")


@public("softmax")
def check_softmax_stable(ctx: Context) -> None:
    """softmax is stable, with no warning, for logits of 1e4 and rows of very different scale"""
    scales = expect_array(ctx, ctx.student.softmax(np.array([[800.0, 799.0, 798.0],
                                                               [0.0, 1.0, 2.0]])),
                          (2, 3), "softmax(z)")
    bad = ~np.isfinite(scales).all(axis=-1)
    if bad[1] and not bad[0]:
        ctx.fail("softmax([[800, 799, 798], [0, 1, 2]]) has NaN in the second row",
                 misconception="softmax_global_max")
    ctx.expect(not bad.any(), "softmax([[800, 799, 798], [0, 1, 2]]) contains NaN or inf",
               misconception="overflow")
    z = np.array([[1e4, 0.0, -1e4], [1.0, 2.0, 3.0], [-1e4, 1.0 - 1e4, 2.0 - 1e4]])
    out = ctx.student.softmax.options(errstate="raise")(z)
    s = expect_array(ctx, out, z.shape, "softmax(z)")
    ctx.expect(bool(np.isfinite(s).all()), "softmax(z) contains NaN or inf for logits of "
               "1e4: subtract each row's maximum before exp", misconception="overflow")
    expect_rows_sum_to_one(ctx, s, "softmax(z)")
    ctx.expect_close(s[0], np.array([1.0, 0.0, 0.0]), rtol=1e-12, atol=1e-15,
                     what="softmax([1e4, 0, -1e4])")
    ctx.expect_close(s[2], s[1], rtol=1e-9, atol=1e-15,
                     what="softmax(z - 1e4) compared with softmax(z) (a shift changes nothing)")


# -- softmax_backward ------------------------------------------------------------------------
@public("softmax_backward")
def check_softmax_backward_numerical(ctx: Context) -> None:
    """softmax_backward matches finite differences of your softmax (a vector-Jacobian product)"""
    z = ctx.rng.normal(0.0, 1.5, size=(2, 3))
    ds = ctx.rng.normal(0.0, 1.0, size=(2, 3))
    s = ctx.student.softmax(z)
    out = ctx.student.softmax_backward(s, ds)
    ctx.expect_unchanged()
    numeric = gradcheck.numerical_vjp(ctx.student.softmax, z, ds)
    diagonal = np.asarray(s) * (1.0 - np.asarray(s)) * ds
    wrong_axis = np.asarray(s) * (ds - np.sum(ds * np.asarray(s), axis=0, keepdims=True))
    expect_derivative(ctx, out, numeric, what="softmax_backward(s, ds)",
                      variants={"softmax_jacobian_diagonal": diagonal,
                                "softmax_wrong_axis": wrong_axis})


@public("softmax_backward")
def check_softmax_backward_shift(ctx: Context) -> None:
    """softmax_backward's rows sum to 0 (softmax ignores a shift of z), for any leading shape"""
    z = ctx.rng.normal(0.0, 1.5, size=(2, 2, 4))
    ds = ctx.rng.normal(0.0, 1.0, size=(2, 2, 4))
    s = ctx.student.softmax(z)
    dz = expect_array(ctx, ctx.student.softmax_backward(s, ds), z.shape,
                      "softmax_backward(s, ds) for shape (2, 2, 4)")
    ctx.expect_close(np.sum(dz, axis=-1), np.zeros((2, 2)), rtol=0.0, atol=1e-12,
                     what="the row sums of softmax_backward(s, ds)")
    row = ctx.student.softmax_backward(s[0, 1], ds[0, 1])
    ctx.expect_close(row, dz[0, 1], rtol=1e-9, atol=1e-15,
                     what="softmax_backward of one row compared with that row of a batch")


# -- compose_linear --------------------------------------------------------------------------
@public("compose_linear")
def check_compose_linear(ctx: Context) -> None:
    """compose_linear gives the one layer equal to two linear layers applied in turn"""
    W1, b1 = ctx.rng.normal(size=(3, 2)), ctx.rng.normal(size=3)
    W2, b2 = ctx.rng.normal(size=(4, 3)), ctx.rng.normal(size=4)
    out = ctx.student.compose_linear(W1, b1, W2, b2)
    ctx.expect_unchanged()
    ctx.expect(isinstance(out, tuple | list) and len(out) == 2,
               "compose_linear should return a pair (W, b)")
    W = expect_array(ctx, out[0], (4, 2), "W")
    b = expect_array(ctx, out[1], (4,), "b")
    A = ctx.rng.normal(size=(5, 2))
    two_layers = (A @ W1.T + b1) @ W2.T + b2
    ctx.expect_close(A @ W.T + b, two_layers, rtol=1e-9, atol=1e-12,
                     what="a @ W.T + b for five inputs a (compared with the two layers)",
                     variants={"bias_not_through_w2": A @ W.T + b2})
