"""Public checks of activations.py: known values, finite differences, stability, shapes."""

import numpy as np

from grader.authoring import Context, gradcheck, public

from course_helpers import FLOOR, softmax_backward_variants, softmax_normalised_where

# Moderate logits (|z| <= 5), where the textbook formulas are exact enough to serve as values.
MODERATE = np.array([0.0, 0.5, -0.5, 2.0, -2.0, 5.0, -5.0])
EXTREME = np.array([-1e4, -1e3, -710.0, -50.0, 0.0, 50.0, 710.0, 1e3, 1e4])
# The boundary of every elementwise function: exact zeros of both signs, tiny values of both
# signs (down to the smallest subnormal), and the largest |z| the contract names.
BOUNDARY = np.array([0.0, -0.0, 5e-324, -5e-324, 1e-300, -1e-300, 1e-8, -1e-8, 1e4, -1e4])
TINY = np.abs(BOUNDARY) < 1e-6


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
        where = softmax_normalised_where(s)
        if where is not None:
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
    ctx.expect_fresh()
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


@public("sigmoid")
def check_sigmoid_boundary(ctx: Context) -> None:
    """sigmoid is 0.5 + z/4 at exact zeros and tiny z of both signs, 0 and 1 at -1e4 and 1e4"""
    out = ctx.student.sigmoid.options(errstate="raise")(BOUNDARY)
    out = expect_array(ctx, out, BOUNDARY.shape, "sigmoid(z)")
    # sigma(z) = 1/2 + z/4 + O(z^3) near 0; 0 and 1 at -1e4 and 1e4 (to the last bit)
    expected = np.where(TINY, 0.5 + BOUNDARY / 4, (BOUNDARY > 0).astype(np.float64))
    ctx.expect_close(out, expected, rtol=1e-12, atol=1e-15,
                     what=f"sigmoid(z) for z = {BOUNDARY.tolist()}")


# -- sigmoid_prime ---------------------------------------------------------------------------
@public("sigmoid_prime")
def check_sigmoid_prime_numerical(ctx: Context) -> None:
    """sigmoid_prime(0) is 0.25 and sigmoid_prime matches finite differences of your sigmoid"""
    z = np.concatenate([[0.0], ctx.rng.normal(0.0, 3.0, size=7)])
    out = expect_array(ctx, ctx.student.sigmoid_prime(z), z.shape, "sigmoid_prime(z)")
    ctx.expect_unchanged()
    ctx.expect_fresh()
    numeric = gradcheck.elementwise_derivative(ctx.student.sigmoid, z)
    ctx.expect_gradient(out, numeric, what="sigmoid_prime(z)", floor=FLOOR,
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


@public("sigmoid_prime")
def check_sigmoid_prime_boundary(ctx: Context) -> None:
    """sigmoid_prime is 1/4 at exact and tiny zeros, 0 at |z| = 1e4, for a 2-D z too"""
    z = BOUNDARY.reshape(2, 5)
    out = ctx.student.sigmoid_prime.options(errstate="raise")(z)
    out = expect_array(ctx, out, z.shape, "sigmoid_prime(z) for z of shape (2, 5)")
    ctx.expect_close(out, np.where(TINY, 0.25, 0.0).reshape(2, 5), rtol=1e-12, atol=1e-15,
                     what=f"sigmoid_prime(z) for z = {z.tolist()}")
    ctx.expect_unchanged()


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


@public("relu")
def check_relu_scalars_and_boundary(ctx: Context) -> None:
    """relu of a number is a number (relu(-0.99) = 0, relu(0.5) = 0.5), and relu is exact at
    zeros, tiny values of both signs and |z| = 1e4"""
    for value, expected in ((-0.99, 0.0), (0.5, 0.5), (0.0, 0.0)):
        out = ctx.student.relu(value)
        ctx.expect(np.ndim(out) == 0 and not isinstance(out, bool | str),
                   f"relu({value!r}) should be a number, got {type(out).__name__} of shape "
                   f"{np.shape(out)}")
        ctx.expect_close(out, expected, rtol=0.0, atol=1e-300, what=f"relu({value!r})")
    out = ctx.student.relu(BOUNDARY)
    ctx.expect_close(out, np.maximum(BOUNDARY, 0.0), rtol=0.0, atol=1e-300,
                     what=f"relu(z) for z = {BOUNDARY.tolist()}")


@public("relu_prime")
def check_relu_prime_values(ctx: Context) -> None:
    """relu_prime is 1.0 for z > 0 and 0.0 for z <= 0 (relu'(0) = 0), as float64"""
    z = np.array([-2.0, -0.1, 0.0, 0.1, 2.0])
    out = ctx.student.relu_prime(z)
    ctx.expect_unchanged()
    ctx.expect_close(out, np.array([0.0, 0.0, 0.0, 1.0, 1.0]), rtol=1e-12, atol=1e-15,
                     what="relu_prime(z)",
                     variants={"relu_prime_at_zero": np.array([0.0, 0.0, 1.0, 1.0, 1.0])})
    ctx.expect_fresh()


@public("relu_prime")
def check_relu_prime_boundary(ctx: Context) -> None:
    """relu_prime is 0.0 at 0 and -0.0, 1.0 at tiny positive z, 0.0 at tiny negative z"""
    z = BOUNDARY.reshape(5, 2)
    out = ctx.student.relu_prime(z)
    at_zero = (z >= 0).astype(np.float64)
    ctx.expect_close(out, (z > 0).astype(np.float64), rtol=0.0, atol=1e-300,
                     what=f"relu_prime(z) for z = {z.tolist()}",
                     variants={"relu_prime_at_zero": at_zero})


@public("relu_prime")
def check_relu_prime_numerical(ctx: Context) -> None:
    """relu_prime matches finite differences of your relu away from z = 0"""
    z = ctx.rng.uniform(0.1, 3.0, size=(2, 4)) * ctx.rng.choice([-1.0, 1.0], size=(2, 4))
    out = ctx.student.relu_prime(z)
    numeric = gradcheck.elementwise_derivative(ctx.student.relu, z)
    ctx.expect_gradient(out, numeric, what="relu_prime(z)", tol=gradcheck.KINK_TOL, floor=FLOOR,
                        variants={"activation_instead_of_derivative": ctx.student.relu(z)})


# -- softmax ---------------------------------------------------------------------------------
@public("softmax")
def check_softmax_rows(ctx: Context) -> None:
    """softmax rows are positive, sum to 1, and softmax(z)_i / softmax(z)_j = exp(z_i - z_j)"""
    z = ctx.rng.normal(0.0, 2.0, size=(3, 5))
    s = expect_array(ctx, ctx.student.softmax(z), z.shape, "softmax(z)")
    ctx.expect_unchanged()
    ctx.expect_fresh()
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
    ctx.expect_fresh()
    numeric = gradcheck.numerical_vjp(ctx.student.softmax, z, ds)
    ctx.expect_gradient(out, numeric, what="softmax_backward(s, ds)", floor=FLOOR,
                        variants=softmax_backward_variants(np.asarray(s), ds))


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
    ctx.expect_fresh()
    ctx.expect(isinstance(out, tuple | list) and len(out) == 2,
               "compose_linear should return a pair (W, b)")
    W = expect_array(ctx, out[0], (4, 2), "W")
    b = expect_array(ctx, out[1], (4,), "b")
    A = ctx.rng.normal(size=(5, 2))
    two_layers = (A @ W1.T + b1) @ W2.T + b2
    ctx.expect_close(A @ W.T + b, two_layers, rtol=1e-9, atol=1e-12,
                     what="a @ W.T + b for five inputs a (compared with the two layers)",
                     variants={"bias_not_through_w2": A @ W.T + b2})
