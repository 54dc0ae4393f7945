"""Public checks of layer.py: known values, shapes, and finite differences of your own cost."""

import numpy as np

from grader.authoring import Context, gradcheck, public

from course_helpers import FLOOR, pair, sigmoid

# A layer of 2 neurons fed by 3: W[j, k] is the weight from neuron k to neuron j.
W = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 1.0]])
B = np.array([0.1, -0.2])
A_PREV = np.array([0.5, 1.0, -1.0])
Y = np.array([1.0, 0.0])
Z = np.array([2.6, -2.2])  # z_j = sum_k w_jk a_k + b_j


def expect_gradients(ctx: Context, function: str) -> None:
    """``function`` (backward_loops or backward) matches finite differences of your own
    forward and cost, entry by entry."""
    out = getattr(ctx.student, function)(W, B, A_PREV, Y)
    ctx.expect_unchanged()
    ctx.expect_fresh()

    def cost(W_: np.ndarray, b_: np.ndarray, a_: np.ndarray) -> float:
        _, a = pair(ctx, ctx.student.forward(W_, b_, a_), "forward")
        return float(ctx.student.cost(a, Y))

    numeric = {  # db first: it is delta, which the other two are built from
        "db": gradcheck.stencil_gradient(lambda v: cost(W, v, A_PREV), B),
        "dW": gradcheck.stencil_gradient(lambda v: cost(v, B, A_PREV), W),
        "da_prev": gradcheck.stencil_gradient(lambda v: cost(W, B, v), A_PREV),
    }
    a = sigmoid(Z)
    db = np.asarray(ctx.entry(out, "db"), dtype=np.float64)
    variants: dict[str, dict[str, object]] = {
        "dW": {}, "db": {"activation_instead_of_derivative": a * 2.0 * (a - Y)}, "da_prev": {}}
    if db.shape == B.shape:  # built from your own db, the delta of each neuron
        variants["da_prev"]["da_prev_not_summed"] = W[-1] * db[-1]
    for key, value in numeric.items():
        ctx.expect_gradient(ctx.entry(out, key), value, what=f"{function}(...)[{key!r}]",
                            variants=variants[key], floor=FLOOR)


# -- forward ---------------------------------------------------------------------------------
@public("forward")
def check_forward_values(ctx: Context) -> None:
    """forward gives z_j = sum_k w_jk a_k + b_j, here (2.6, -2.2), and a = sigmoid(z)"""
    z, a = pair(ctx, ctx.student.forward(W, B, A_PREV), "forward")
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect_close(z, Z, rtol=1e-12, atol=1e-12, what="z",
                     variants={"bias_forgotten": W @ A_PREV})
    ctx.expect_close(a, sigmoid(Z), rtol=1e-9, atol=1e-15, what="a")


@public("forward")
def check_forward_square(ctx: Context) -> None:
    """forward reads W[j, k] as the weight from neuron k to neuron j (square W)"""
    Ws = np.array([[0.0, 1.0], [0.0, 0.0]])  # one weight, from neuron 1 to neuron 0
    z, _ = pair(ctx, ctx.student.forward(Ws, np.zeros(2), np.array([0.0, 2.0])), "forward")
    ctx.expect_close(z, np.array([2.0, 0.0]), rtol=1e-12, atol=1e-12, what="z",
                     variants={"transposed": np.array([0.0, 2.0])})


# -- cost ------------------------------------------------------------------------------------
@public("cost")
def check_cost_values(ctx: Context) -> None:
    """cost([0.5, 0.25, 1], [1, 0, 0]) is 0.25 + 0.0625 + 1 = 1.3125, a float"""
    out = ctx.student.cost(np.array([0.5, 0.25, 1.0]), np.array([1.0, 0.0, 0.0]))
    ctx.expect_unchanged()
    ctx.expect_close(out, 1.3125, rtol=1e-12, atol=1e-15, what="cost(a, y)",
                     variants={"layer_cost_mean": 0.4375, "cost_with_half": 0.65625,
                               "cost_not_summed": np.array([0.25, 0.0625, 1.0])})


# -- backward_loops, backward ----------------------------------------------------------------
@public("backward_loops")
def check_backward_loops_numerical(ctx: Context) -> None:
    """backward_loops matches finite differences of your forward and cost"""
    expect_gradients(ctx, "backward_loops")


@public("backward")
def check_backward_numerical(ctx: Context) -> None:
    """backward matches finite differences of your forward and cost"""
    expect_gradients(ctx, "backward")


def expect_shapes(ctx: Context, function: str) -> None:
    """``function`` gives dW, db, da_prev of the right shapes for one input and one neuron."""
    cases = [(np.array([[0.5], [-1.0], [2.0], [0.1]]), np.zeros(4), np.array([0.3]),
              np.array([1.0, 0.0, 1.0, 0.0])),
             (np.array([[0.5, -1.0, 2.0]]), np.array([0.1]), np.array([0.3, 0.2, 0.1]),
              np.array([1.0]))]
    for W, b, a_prev, y in cases:
        n_out, n_in = W.shape
        out = getattr(ctx.student, function)(W, b, a_prev, y)
        ctx.expect_fresh()
        for key, shape in (("dW", (n_out, n_in)), ("db", (n_out,)), ("da_prev", (n_in,))):
            value = ctx.entry(out, key)
            ctx.expect(isinstance(value, np.ndarray) and value.shape == shape
                       and value.dtype == np.float64,
                       f"{function}(...)[{key!r}] for W of shape {W.shape} should be a "
                       f"float64 array of shape {shape}, got {np.shape(value)}",
                       misconception="shape_mismatch")


@public("backward_loops")
def check_backward_loops_shapes(ctx: Context) -> None:
    """backward_loops gives dW (n_L, n_{L-1}), db (n_L,), da_prev (n_{L-1},) for a layer of 4
    fed by 1 and for one neuron fed by 3, as new float64 arrays"""
    expect_shapes(ctx, "backward_loops")


@public("backward")
def check_backward_shapes(ctx: Context) -> None:
    """backward gives dW (n_L, n_{L-1}), db (n_L,), da_prev (n_{L-1},) for a layer of 4 fed by 1
    and for one neuron fed by 3, as new float64 arrays"""
    expect_shapes(ctx, "backward")
