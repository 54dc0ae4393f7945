"""Hidden tests of activations.py: sigmoid, ReLU, softmax, their derivatives, compose_linear."""

import numpy as np

from grader.authoring import Context, gradcheck, graded

from course_helpers import FLOOR, softmax_backward_variants, softmax_normalised_where

# Scalars (one example) and arrays; z of about this spread reaches both tails of the sigmoid.
SCALE = 4.0


def expect_softmax(ctx: Context, out: object, expected: np.ndarray, *, what: str,
                   variants: dict[str, object] | None = None, atol: float = 1e-15) -> None:
    """Compare a softmax output; one normalised over another axis (or the whole array) is
    recognised by its sums."""
    where = None
    if isinstance(out, np.ndarray) and out.shape == expected.shape and np.isfinite(out).all():
        where = softmax_normalised_where(out)
    if where is not None:
        ctx.expect_close(out, expected, rtol=1e-9, atol=atol, misconception="softmax_wrong_axis",
                         what=f"{what} (it sums to 1 {where}, not along each row)")
    ctx.expect_close(out, expected, rtol=1e-9, atol=atol, what=what, variants=variants)


def extreme_logits() -> np.ndarray:
    """Every magnitude from 0 to 1e4, both signs: where a naive exp overflows."""
    m = np.array([0.0, 1e-3, 0.5, 3.0, 30.0, 709.0, 710.0, 800.0, 1e3, 5e3, 1e4])
    return np.concatenate([-m[::-1], m[1:]]).reshape(3, 7)


def boundary(ctx: Context) -> np.ndarray:
    """The boundary of an elementwise function, shuffled, shape (4, 5): exact zeros of both
    signs, tiny values of both signs (a subnormal among them) and |z| near 1e4."""
    tiny = 10.0 ** -ctx.rng.uniform(8.0, 300.0, size=3)
    huge = ctx.rng.uniform(5e3, 1e4, size=2)
    z = np.concatenate([[0.0, -0.0, 5e-324, -5e-324], tiny, -tiny, huge, -huge,
                        ctx.rng.normal(0.0, SCALE, size=6)])
    return ctx.rng.permutation(z).reshape(4, 5)


# Tolerances, from the conditioning of each function. The inputs are exact, so a correct result
# can differ only by its formula's rounding. sigma and sigma' lie in [0, 1]: every sound
# formula (1 / (1 + exp(-z)) with the branch for z < 0, exp(-logaddexp(0, -z)),
# (1 + tanh(z / 2)) / 2; s (1 - s), s - s^2, (1 - tanh(z / 2)^2) / 4) is within a few ulp of
# 1 absolutely, and the exp forms are also within a few ulp relatively, where sigma is tiny.
# atol = 1e-15 (~5 ulp of 1) is what accepts the tanh form, whose absolute error is ~1e-16
# although its relative error near sigma(-30) ~ 1e-13 is 1e-3; rtol = 1e-9 is room for the
# rest. A real mistake moves a value by 1e-3 or more. relu and relu' are exact in any formula
# (rtol 1e-12, atol 1e-15). The softmax is covered by the same argument row by row (each
# entry is exp(z_i - lse) with z_i - lse accurate to a few ulp of the row's spread).


# -- sigmoid ---------------------------------------------------------------------------------
@graded("sigmoid", points=1, visibility="visible")
def test_sigmoid_matches_reference(ctx: Context) -> None:
    """sigmoid matches the reference on random arrays and on a scalar"""
    for shape in [(4, 7), (9,)]:
        z = ctx.rng.normal(0.0, SCALE, size=shape)
        ctx.expect_close(ctx.student.sigmoid(z), ctx.ref.sigmoid(z), rtol=1e-9, atol=1e-15,
                         what="sigmoid(z)", variants={"sigmoid_sign": ctx.ref.sigmoid(-z)})
        ctx.expect_unchanged()
        ctx.expect_fresh()
    z0 = float(ctx.rng.normal(0.0, SCALE))
    ctx.expect_close(ctx.student.sigmoid(z0), ctx.ref.sigmoid(z0), rtol=1e-9, atol=1e-15,
                     what=f"sigmoid({z0!r})")


@graded("sigmoid", points=1, visibility="after_published")
def test_sigmoid_stable(ctx: Context) -> None:
    """sigmoid is finite, with no warning, for |z| up to 1e4, exact and tiny zeros included"""
    for z in (ctx.rng.permuted(extreme_logits(), axis=1), boundary(ctx)):
        out = ctx.student.sigmoid.options(errstate="raise")(z)
        ctx.expect_close(out, ctx.ref.sigmoid(z), rtol=1e-9, atol=1e-15, what="sigmoid(z)")
        ctx.expect_unchanged()


# -- sigmoid_prime ---------------------------------------------------------------------------
@graded("sigmoid_prime", points=1, visibility="after_published")
def test_sigmoid_prime_matches_reference(ctx: Context) -> None:
    """sigmoid_prime matches the reference on random arrays"""
    z = ctx.rng.normal(0.0, SCALE, size=(5, 3))
    with ctx.isolated("sigmoid"):
        out = ctx.student.sigmoid_prime(z)
    s = ctx.ref.sigmoid(z)
    ctx.expect_close(out, ctx.ref.sigmoid_prime(z), rtol=1e-9, atol=1e-15,
                     what="sigmoid_prime(z)",
                     variants={"activation_instead_of_derivative": s,
                               "sign_error": s * (s - 1.0)})
    ctx.expect_unchanged()
    ctx.expect_fresh()


@graded("sigmoid_prime", points=1, visibility="hidden")
def test_sigmoid_prime_numerical(ctx: Context) -> None:
    """sigmoid_prime agrees with finite differences of sigmoid and is finite for |z| up to 1e4"""
    z = ctx.rng.normal(0.0, 2.5, size=(2, 6))
    with ctx.isolated("sigmoid"):
        out = ctx.student.sigmoid_prime(z)
    numeric = gradcheck.elementwise_derivative(ctx.ref.sigmoid, z)
    ctx.expect_gradient(out, numeric, what="sigmoid_prime(z)", floor=FLOOR,
                        variants={"activation_instead_of_derivative": ctx.ref.sigmoid(z)})
    for big in (extreme_logits(), boundary(ctx)):
        with ctx.isolated("sigmoid"):
            out = ctx.student.sigmoid_prime.options(errstate="raise")(big)
        ctx.expect_close(out, ctx.ref.sigmoid_prime(big), rtol=1e-9, atol=1e-15,
                         what="sigmoid_prime(z) at |z| up to 1e4, exact and tiny zeros included")


# -- relu, relu_prime ------------------------------------------------------------------------
def relu_inputs(ctx: Context) -> np.ndarray:
    """Random z of both signs with some exact zeros (and a -0.0), then the boundary: tiny
    values of both signs and |z| near 1e4."""
    z = ctx.rng.normal(0.0, 2.0, size=(6, 5))
    z.flat[ctx.rng.choice(z.size, size=4, replace=False)] = 0.0
    z.flat[ctx.rng.choice(z.size)] = -0.0
    return np.concatenate([z, boundary(ctx).reshape(-1, 5)])


@graded("relu", points=1, visibility="after_published")
def test_relu(ctx: Context) -> None:
    """relu matches the reference (zeros included) and leaves z unchanged"""
    z = relu_inputs(ctx)
    ctx.expect_close(ctx.student.relu(z), ctx.ref.relu(z), rtol=1e-12, atol=1e-15,
                     what="relu(z)", variants={"sign_error": np.minimum(z, 0.0)})
    ctx.expect_unchanged()
    ctx.expect_fresh()
    z0 = float(ctx.rng.uniform(0.5, 3.0))
    for value in (z0, -z0):
        ctx.expect_close(ctx.student.relu(value), ctx.ref.relu(value), rtol=1e-12, atol=1e-15,
                         what=f"relu({value!r})")


@graded("relu_prime", points=1, visibility="after_published")
def test_relu_prime(ctx: Context) -> None:
    """relu_prime is 1 where z > 0 and 0 elsewhere (relu'(0) = 0), as float64"""
    z = relu_inputs(ctx)
    with ctx.isolated("relu"):
        out = ctx.student.relu_prime(z)
    at_zero = (z > 0).astype(np.float64)
    at_zero[z == 0] = 1.0
    ctx.expect_close(out, ctx.ref.relu_prime(z), rtol=1e-12, atol=1e-15,
                     what="relu_prime(z)",
                     variants={"relu_prime_at_zero": at_zero,
                               "activation_instead_of_derivative": ctx.ref.relu(z)})
    ctx.expect_unchanged()
    ctx.expect_fresh()


# -- softmax ---------------------------------------------------------------------------------
def global_max_softmax(z: np.ndarray) -> np.ndarray:
    """The softmax a single max of the whole array gives (NaN where a row underflows)."""
    with np.errstate(all="ignore"):
        e = np.exp(z - np.max(z))
        return e / np.sum(e, axis=-1, keepdims=True)


@graded("softmax", points=1, visibility="visible")
def test_softmax_matches_reference(ctx: Context) -> None:
    """softmax matches the reference on a random (N, C) batch and on one row"""
    z = ctx.rng.normal(0.0, 3.0, size=(5, 7))
    expect_softmax(ctx, ctx.student.softmax(z), ctx.ref.softmax(z), what="softmax(z)")
    ctx.expect_unchanged()
    ctx.expect_fresh()
    row = ctx.rng.normal(0.0, 3.0, size=6)
    ctx.expect_close(ctx.student.softmax(row), ctx.ref.softmax(row), rtol=1e-9, atol=1e-15,
                     what="softmax(z) for a 1-D z")


@graded("softmax", points=1, visibility="after_published")
def test_softmax_stable(ctx: Context) -> None:
    """softmax is stable for logits of 1e4 and for rows of very different scale"""
    scales = np.array([[1e3], [1.0], [-1e3], [1e-3]])
    z = scales * ctx.rng.uniform(0.5, 1.0, size=(4, 5)) + np.array([[0.0], [0.0], [0.0], [900]])
    expect_softmax(ctx, ctx.student.softmax(z), ctx.ref.softmax(z), atol=1e-15,
                   what="softmax(z) for rows of very different scale",
                   variants={"softmax_global_max": global_max_softmax(z)})
    z = np.concatenate([extreme_logits(), [[1e4] * 7]])
    out = ctx.student.softmax.options(errstate="raise")(z)
    expect_softmax(ctx, out, ctx.ref.softmax(z), atol=1e-15,
                   what="softmax(z) for logits up to 1e4",
                   variants={"softmax_global_max": global_max_softmax(z)})
    ctx.expect_unchanged()


@graded("softmax", points=1, visibility="hidden")
def test_softmax_leading_shape(ctx: Context) -> None:
    """softmax works over the last axis for any leading shape: rows sum to 1"""
    z = ctx.rng.normal(0.0, 3.0, size=(2, 3, 4))
    out = ctx.student.softmax(z)
    expect_softmax(ctx, out, ctx.ref.softmax(z), what="softmax(z) for z of shape (2, 3, 4)")
    ctx.expect_close(np.sum(out, axis=-1), np.ones((2, 3)), rtol=0.0, atol=1e-12,
                     what="the sums of softmax(z) over the last axis")
    ctx.expect_unchanged()


# -- softmax_backward ------------------------------------------------------------------------
@graded("softmax_backward", points=1, visibility="after_published")
def test_softmax_backward_matches_reference(ctx: Context) -> None:
    """softmax_backward matches the reference on a random batch"""
    s = ctx.ref.softmax(ctx.rng.normal(0.0, 2.0, size=(4, 6)))
    ds = ctx.rng.normal(0.0, 1.0, size=(4, 6))
    out = ctx.student.softmax_backward(s, ds)
    ctx.expect_close(out, ctx.ref.softmax_backward(s, ds), rtol=1e-9, atol=1e-14,
                     what="softmax_backward(s, ds)", variants=softmax_backward_variants(s, ds))
    ctx.expect_unchanged()
    ctx.expect_fresh()


@graded("softmax_backward", points=1, visibility="hidden")
def test_softmax_backward_numerical(ctx: Context) -> None:
    """softmax_backward is the vector-Jacobian product of softmax, for shapes (5,) and (2, 3, 4)"""
    for shape in [(5,), (2, 3, 4)]:
        z = ctx.rng.normal(0.0, 2.0, size=shape)
        ds = ctx.rng.normal(0.0, 1.0, size=shape)
        s = ctx.ref.softmax(z)
        out = ctx.student.softmax_backward(s, ds)
        numeric = gradcheck.numerical_vjp(ctx.ref.softmax, z, ds)
        ctx.expect_gradient(out, numeric, what=f"softmax_backward(s, ds), shape {shape}",
                            floor=FLOOR, variants=softmax_backward_variants(s, ds))
        ctx.expect_unchanged()


# -- compose_linear --------------------------------------------------------------------------
@graded("compose_linear", points=1, visibility="after_published")
def test_compose_linear(ctx: Context) -> None:
    """compose_linear matches the reference and equals the two layers applied in turn"""
    W1, b1 = ctx.rng.normal(size=(4, 3)), ctx.rng.normal(size=4)
    W2, b2 = ctx.rng.normal(size=(2, 4)), ctx.rng.normal(size=2)
    expected = ctx.ref.compose_linear(W1, b1, W2, b2)
    out = ctx.student.compose_linear(W1, b1, W2, b2)
    ctx.expect_unchanged()
    ctx.expect_close(out, expected, rtol=1e-9, atol=1e-12, what="compose_linear(W1, b1, W2, b2)",
                     variants={"bias_not_through_w2": (expected[0], b2)})
    ctx.expect_fresh()
