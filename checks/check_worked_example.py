"""Public checks of worked_example.py: the numbers printed on the slide and in the contract.

A printed number matches when it is within one unit of its last printed digit: the slide rounds
for display (-0.11 x 0.02 printed as -0.0018 is really -0.1046987 x 0.0167906), so no network
rounds to all of its numbers at once, and the contract prints 8 significant digits.
"""

from decimal import Decimal

import numpy as np

from grader.authoring import CheckFailed, Context, gradcheck, public

from course_helpers import FLOOR, ROW_MAJOR_ORDER, sigmoid

# The provided constants of worked_example.py (the contract's; repeated here because a check
# runs outside your code and sees only what your functions return).
X = np.array([[3.0, 1.0], [-1.0, 4.0]])
T = np.array([[1.0, 0.0], [0.0, 1.0]])
W = np.array([[3.0, -1.5], [3.0, 0.43]])
V = np.array([[1.0, -2.0], [0.5, 2.06]])
# What the slide prints for example 1 (worked_example.SLIDE_NUMBERS), as printed.
SLIDE = {"output_deltas[0]": "-0.11", "output_deltas[1]": "0.026",
         "grad_V[1, 0]": "-0.0018", "grad_h[0]": "-0.158"}
# What the contract prints for example 1 (x = X[0], t = T[0]), as printed.
PRINTED = {
    "h": ["0.99999386", "0.016790648"],
    "y": ["0.73270479", "0.12288394"],
    "loss": "0.086547192",
    "output_deltas": ["-0.10469872", "0.026489717"],
    "grad_V[1, 0]": "-0.0017579594",
    "grad_h": ["-0.15767816", "0.002219457"],
    "gradient_vector": ["-2.906e-06", "-9.688e-07", "1.0992e-04", "3.6640e-05", "-0.10469808",
                        "0.026489554", "-0.0017579594", "0.00044477952"],
}


def example_1() -> dict[str, np.ndarray]:
    """Example 1 in full precision, from the definitions, as inputs for each function."""
    h = sigmoid(X[0] @ W)
    y = sigmoid(h @ V)
    return {"h": h, "y": y, "delta": 2.0 * (y - T[0]) * y * (1.0 - y)}


def expect_printed(ctx: Context, actual: object, printed: str | list[str], what: str,
                   variants: dict[str, object] | None = None) -> None:
    """``actual`` rounds to the printed number(s): within one unit of the last digit."""
    texts = [printed] if isinstance(printed, str) else printed
    values = np.array([float(t) for t in texts])
    units = np.array([10.0 ** Decimal(t).as_tuple().exponent for t in texts])
    expected = values[0] if isinstance(printed, str) else values
    try:
        diff = np.abs(np.asarray(actual, dtype=np.float64) - expected)
        close = diff.shape == np.shape(expected) and bool(np.all(diff <= units))
    except (TypeError, ValueError):
        close = False
    if close:
        ctx.passed()
        return
    shown = printed if isinstance(printed, str) else "(" + ", ".join(printed) + ")"
    ctx.expect_close(actual, expected, rtol=0.0, atol=float(units.max()),
                     what=f"{what} (printed: {shown}, compared within one unit of the last "
                          "printed digit)", variants=variants)
    raise CheckFailed(f"{what} does not round to {shown}")


# -- forward ---------------------------------------------------------------------------------
@public("forward")
def check_forward_example_1(ctx: Context) -> None:
    """forward(X[0], W, V) gives h = (0.99999386, 0.016790648), y = (0.73270479, 0.12288394)"""
    out = ctx.student.forward(X[0], W, V)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    _, h, _, y = (ctx.entry(out, key, what="forward(x, W, V)") for key in ("z", "h", "y_in", "y"))
    transposed = sigmoid(W @ X[0])
    expect_printed(ctx, h, PRINTED["h"], "h", variants={"slide_indexing": transposed})
    expect_printed(ctx, y, PRINTED["y"], "y",
                   variants={"slide_indexing": sigmoid(V @ transposed)})


# -- loss ------------------------------------------------------------------------------------
@public("loss")
def check_loss_example_1(ctx: Context) -> None:
    """loss(y, t) for example 1 is 0.086547192"""
    y = example_1()["y"]
    out = ctx.student.loss(y, T[0])
    ctx.expect_unchanged()
    ctx.expect(np.ndim(out) == 0, f"loss should return a number, got shape {np.shape(out)}",
               misconception="cost_not_summed" if np.shape(out) == (2,) else None)
    expect_printed(ctx, out, PRINTED["loss"], "loss(y, t)",
                   variants={"loss_halved": float(PRINTED["loss"]) / 2})


# -- output_deltas ---------------------------------------------------------------------------
@public("output_deltas")
def check_output_deltas_example_1(ctx: Context) -> None:
    """output_deltas for example 1 are (-0.10469872, 0.026489717): the slide's -0.11 and 0.026"""
    y = example_1()["y"]
    out = ctx.student.output_deltas(y, T[0])
    ctx.expect_unchanged()
    ctx.expect_fresh()
    variants = {"sigma_prime_missing": 2.0 * (y - T[0]),
                "sigma_prime_of_output": 2.0 * (y - T[0]) * sigmoid(y) * (1.0 - sigmoid(y))}
    expect_printed(ctx, out, [SLIDE["output_deltas[0]"], SLIDE["output_deltas[1]"]],
                   "output_deltas(y, t)", variants=variants)
    expect_printed(ctx, out, PRINTED["output_deltas"], "output_deltas(y, t)",
                   variants=variants)


# -- grad_V ----------------------------------------------------------------------------------
@public("grad_V")
def check_grad_V_example_1(ctx: Context) -> None:
    """grad_V for example 1 has dL/dv21 = -0.0017579594 (the slide's -0.0018) at [1, 0]"""
    ex = example_1()
    out = ctx.student.grad_V(ex["h"], ex["delta"])
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect(isinstance(out, np.ndarray) and out.shape == (2, 2),
               f"grad_V should return a (2, 2) array, got shape {np.shape(out)}",
               misconception="shape_mismatch")
    assert isinstance(out, np.ndarray)
    swapped = {"slide_indexing": float(ex["h"][0] * ex["delta"][1])}
    expect_printed(ctx, out[1, 0], SLIDE["grad_V[1, 0]"], "grad_V(h, delta)[1, 0]", swapped)
    expect_printed(ctx, out[1, 0], PRINTED["grad_V[1, 0]"], "grad_V(h, delta)[1, 0]", swapped)
    ctx.expect_close(out, np.outer(ex["h"], ex["delta"]), rtol=1e-9, atol=1e-15,
                     what="grad_V(h, delta): entry [i, j] is h_i delta_j")


# -- grad_h ----------------------------------------------------------------------------------
@public("grad_h")
def check_grad_h_example_1(ctx: Context) -> None:
    """grad_h for example 1 is (-0.15767816, 0.002219457): the slide's dL/dh1 = -0.158"""
    delta = example_1()["delta"]
    out = ctx.student.grad_h(V, delta)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    swapped = {"slide_indexing": V.T @ delta}
    expect_printed(ctx, np.asarray(out)[:1] if np.ndim(out) == 1 else out,
                   [SLIDE["grad_h[0]"]], "grad_h(V, delta)[0]",
                   {"slide_indexing": swapped["slide_indexing"][:1]})
    expect_printed(ctx, out, PRINTED["grad_h"], "grad_h(V, delta)", swapped)


# -- gradient_vector -------------------------------------------------------------------------
@public("gradient_vector")
def check_gradient_vector_example_1(ctx: Context) -> None:
    """gradient_vector(X[0], T[0], W, V) is the contract's vector of 8, in the slide's order"""
    out = ctx.student.gradient_vector(X[0], T[0], W, V)
    ctx.expect_unchanged()
    printed = np.array([float(v) for v in PRINTED["gradient_vector"]])
    ex = example_1()  # what leaving out h (1 - h) gives: dL/dW[i, j] = x_i dL/dh_j
    no_hidden_prime = np.concatenate([np.outer(X[0], V @ ex["delta"]).T.ravel(),
                                      np.outer(ex["h"], ex["delta"]).ravel()])
    expect_printed(ctx, out, PRINTED["gradient_vector"], "gradient_vector(x, t, W, V)",
                   variants={"slide_vector_order": printed[ROW_MAJOR_ORDER],
                             "sigma_prime_missing": no_hidden_prime})


@public("gradient_vector")
def check_gradient_vector_numerical(ctx: Context) -> None:
    """gradient_vector matches finite differences of your forward and loss (example 2)"""
    x, t = X[1], T[1]
    out = ctx.student.gradient_vector(x, t, W, V)

    def loss(p: np.ndarray) -> float:
        # p in the slide's order: W column by column (dW.T.ravel()), then V row by row
        y = ctx.entry(ctx.student.forward(x, p[:4].reshape(2, 2).T, p[4:].reshape(2, 2)),
                      "y", what="forward(x, W, V)")
        return float(ctx.student.loss(y, t))

    numeric = gradcheck.stencil_gradient(loss, np.concatenate([W.T.ravel(), V.ravel()]))
    ctx.expect_gradient(out, numeric, what="gradient_vector(x, t, W, V)", floor=FLOOR,
                        variants={"slide_vector_order": numeric[ROW_MAJOR_ORDER]})


# -- batch_gradient --------------------------------------------------------------------------
@public("batch_gradient")
def check_batch_gradient(ctx: Context) -> None:
    """batch_gradient(X, T, W, V) matches finite differences of the mean of your loss"""
    out = ctx.student.batch_gradient(X, T, W, V)
    ctx.expect_unchanged()
    ctx.expect_fresh()

    def mean_loss(p: np.ndarray) -> float:
        W_, V_ = p[:4].reshape(2, 2), p[4:].reshape(2, 2)
        ys = [ctx.entry(ctx.student.forward(x, W_, V_), "y", what="forward(x, W, V)")
              for x in X]
        return float(np.mean([ctx.student.loss(y, t) for y, t in zip(ys, T, strict=True)]))

    numeric = gradcheck.stencil_gradient(mean_loss, np.concatenate([W.ravel(), V.ravel()]))
    expected = {"dW": numeric[:4].reshape(2, 2), "dV": numeric[4:].reshape(2, 2)}
    for key, value in expected.items():
        got = ctx.entry(out, key, what="batch_gradient(X, T, W, V)")
        ctx.expect_gradient(got, value, what=f"batch_gradient(...)[{key!r}]", floor=FLOOR,
                            batch_size=len(X), variants={"slide_indexing": value.T})
