"""Hidden tests of layer.py: backprop through a last layer of many sigmoid neurons, one example.

Not tested: that backward has no Python loops. A test sees only what the student's function
returns (the sandbox keeps the source out of the grader's process by design), and timing is
too noisy to grade on; backward_loops and backward are graded on their values alone.
"""

import numpy as np

from grader.authoring import Context, gradcheck, graded

from course_helpers import FLOOR

# Tolerances: rtol = 1e-9, atol = 1e-12 (1e-15 for the cost). A layer of a few neurons sums at
# most 6 products of order-1 numbers: loops, np.outer, W.T @ delta and einsum round
# differently, by ~6 ulp, far below these tolerances; a real mistake moves a value by 1e-3.


def layer_inputs(ctx: Context, n_out: int, n_in: int) -> tuple[np.ndarray, ...]:
    """W (n_out, n_in), b (n_out,), a_prev (n_in,), y (n_out,)."""
    W = ctx.rng.normal(0.0, 1.0, size=(n_out, n_in))
    b = ctx.rng.normal(0.0, 0.5, size=n_out)
    a_prev = ctx.rng.uniform(0.0, 1.0, size=n_in)
    y = ctx.rng.uniform(0.0, 1.0, size=n_out)
    return W, b, a_prev, y


def backward_variants(ctx: Context, W: np.ndarray, b: np.ndarray, a_prev: np.ndarray,
                      y: np.ndarray) -> dict[str, object]:
    """What backward gives under each classic mistake (dicts of dW, db, da_prev)."""
    act = ctx.reference("activations")
    z, a = ctx.ref.forward(W, b, a_prev)
    delta = act.sigmoid_prime(z) * 2.0 * (a - y)
    wrong = act.sigmoid(z) * 2.0 * (a - y)
    right = {"dW": np.outer(delta, a_prev), "db": delta, "da_prev": W.T @ delta}
    variants: dict[str, object] = {
        "activation_instead_of_derivative":
            {"dW": np.outer(wrong, a_prev), "db": wrong, "da_prev": W.T @ wrong},
        "da_prev_not_summed": {**right, "da_prev": W[-1] * delta[-1]},
    }
    if W.shape[0] == W.shape[1]:
        variants["transposed"] = {"dW": np.outer(a_prev, delta), "db": delta,
                                  "da_prev": W @ delta}
    return variants


def numerical_grads(ctx: Context, W: np.ndarray, b: np.ndarray, a_prev: np.ndarray,
                    y: np.ndarray) -> dict[str, np.ndarray]:
    """dC0/dW, dC0/db, dC0/da_prev by central differences of the reference cost."""
    ref = ctx.ref

    def cost(W_: np.ndarray, b_: np.ndarray, a_: np.ndarray) -> float:
        return ref.cost(ref.forward(W_, b_, a_)[1], y)

    return {
        "dW": gradcheck.stencil_gradient(lambda v: cost(v, b, a_prev), W),
        "db": gradcheck.stencil_gradient(lambda v: cost(W, v, a_prev), b),
        "da_prev": gradcheck.stencil_gradient(lambda v: cost(W, b, v), a_prev),
    }


# -- forward ---------------------------------------------------------------------------------
@graded("forward", points=1, visibility="visible")
def test_forward_matches_reference(ctx: Context) -> None:
    """forward matches the reference for W of shape (3, 5)"""
    sigmoid = ctx.reference("activations").sigmoid
    for _ in range(2):
        W, b, a_prev, _ = layer_inputs(ctx, 3, 5)
        with ctx.isolated():
            out = ctx.student.forward(W, b, a_prev)
        ctx.expect_unchanged()
        ctx.expect_close(out, ctx.ref.forward(W, b, a_prev), rtol=1e-9, atol=1e-12,
                         what="forward(W, b, a_prev)",
                         variants={"bias_forgotten": (W @ a_prev, sigmoid(W @ a_prev))})
        ctx.expect_fresh()


@graded("forward", points=1, visibility="after_published")
def test_forward_square(ctx: Context) -> None:
    """forward uses W[j, k] as the weight from k to j (square W), and works for one neuron"""
    sigmoid = ctx.reference("activations").sigmoid
    W, b, a_prev, _ = layer_inputs(ctx, 4, 4)
    with ctx.isolated():
        out = ctx.student.forward(W, b, a_prev)
    z_t = W.T @ a_prev + b
    ctx.expect_close(out, ctx.ref.forward(W, b, a_prev), rtol=1e-9, atol=1e-12,
                     what="forward(W, b, a_prev)",
                     variants={"transposed": (z_t, sigmoid(z_t))})
    W, b, a_prev, _ = layer_inputs(ctx, 1, 3)
    with ctx.isolated():
        out = ctx.student.forward(W, b, a_prev)
    ctx.expect_close(out, ctx.ref.forward(W, b, a_prev), rtol=1e-9, atol=1e-12,
                     what="forward(W, b, a_prev) for one neuron, W of shape (1, 3)")


# -- cost ------------------------------------------------------------------------------------
@graded("cost", points=1, visibility="after_published")
def test_cost(ctx: Context) -> None:
    """cost is the sum over the neurons of (a_j - y_j)^2, as a float"""
    a = ctx.rng.uniform(0.0, 1.0, size=6)
    y = ctx.rng.uniform(0.0, 1.0, size=6)
    expected = ctx.ref.cost(a, y)
    ctx.expect_close(ctx.student.cost(a, y), expected, rtol=1e-9, atol=1e-15, what="cost(a, y)",
                     variants={"layer_cost_mean": expected / 6,
                               "cost_with_half": 0.5 * expected,
                               "cost_not_summed": (a - y) ** 2})
    ctx.expect_unchanged()


# -- backward_loops, backward ----------------------------------------------------------------
def expect_reference(ctx: Context, function: str, shape: tuple[int, int], *, what: str = "",
                     unchanged: bool = True, fresh: bool = False) -> None:
    """``function`` (backward_loops or backward) matches the reference for W of ``shape``."""
    args = layer_inputs(ctx, *shape)
    with ctx.isolated():
        out = getattr(ctx.student, function)(*args)
    if unchanged:
        ctx.expect_unchanged()
    ctx.expect_close(out, getattr(ctx.ref, function)(*args), rtol=1e-9, atol=1e-12,
                     what=f"{function}(W, b, a_prev, y){what}",
                     variants=backward_variants(ctx, *args))
    if fresh:
        ctx.expect_fresh()


def expect_numerical(ctx: Context, function: str, shape: tuple[int, int]) -> None:
    """``function`` agrees with finite differences of C0 for W of ``shape``."""
    args = layer_inputs(ctx, *shape)
    with ctx.isolated():
        out = getattr(ctx.student, function)(*args)
    variants = backward_variants(ctx, *args)
    for key, value in numerical_grads(ctx, *args).items():
        ctx.expect_gradient(ctx.entry(out, key), value, what=f"{function}(...)[{key!r}]",
                            floor=FLOOR, variants={k: v[key] for k, v in variants.items()})


@graded("backward_loops", points=2, visibility="after_published")
def test_backward_loops_matches_reference(ctx: Context) -> None:
    """backward_loops matches the reference for W of shape (3, 5)"""
    for _ in range(2):
        expect_reference(ctx, "backward_loops", (3, 5))


@graded("backward_loops", points=1, visibility="hidden")
def test_backward_loops_numerical(ctx: Context) -> None:
    """backward_loops agrees with finite differences of C0 for W of shape (4, 3)"""
    expect_numerical(ctx, "backward_loops", (4, 3))


@graded("backward_loops", points=1, visibility="hidden")
def test_backward_loops_shapes(ctx: Context) -> None:
    """backward_loops handles a square W, one neuron (1, 4) and one input (5, 1)"""
    for shape in [(4, 4), (1, 4), (5, 1)]:
        expect_reference(ctx, "backward_loops", shape, what=f" for W of shape {shape}",
                         fresh=True)


@graded("backward", points=2, visibility="after_published")
def test_backward_matches_reference(ctx: Context) -> None:
    """backward matches the reference for W of shape (3, 5)"""
    for _ in range(2):
        expect_reference(ctx, "backward", (3, 5))


@graded("backward", points=1, visibility="hidden")
def test_backward_numerical(ctx: Context) -> None:
    """backward agrees with finite differences of C0 for W of shape (2, 6)"""
    expect_numerical(ctx, "backward", (2, 6))


@graded("backward", points=1, visibility="after_published")
def test_backward_square(ctx: Context) -> None:
    """backward uses W[j, k] as the weight from k to j: dW[j, k] = delta_j a_k (square W)"""
    expect_reference(ctx, "backward", (4, 4), what=" for a square W", unchanged=False)


@graded("backward", points=1, visibility="hidden")
def test_backward_shapes(ctx: Context) -> None:
    """backward returns float64 arrays for one neuron (1, 4) and one input (5, 1)"""
    for shape in [(1, 4), (5, 1)]:
        expect_reference(ctx, "backward", shape, what=f" for W of shape {shape}", fresh=True)
