"""Hidden tests of worked_example.py: the slide's 2-2-2 network, on its constants and at random.

Every comparison uses the contract's tolerance, float64 reference at rtol 1e-6, atol 1e-12.
"""

import numpy as np

from grader.authoring import Context, gradcheck, graded

from course_helpers import FLOOR, ROW_MAJOR_ORDER

RTOL, ATOL = 1e-6, 1e-12  # the contract's tolerance
def slide(ctx: Context) -> tuple[np.ndarray, ...]:
    """The provided X, T, W, V."""
    return ctx.ref.X, ctx.ref.T, ctx.ref.W, ctx.ref.V


def network(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """A random 2-2-2 network, in the slide's indexing."""
    return ctx.rng.normal(0.0, 1.0, size=(2, 2)), ctx.rng.normal(0.0, 1.0, size=(2, 2))


def example(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """A random input x (2,) and a 0/1 target t (2,)."""
    return ctx.rng.normal(0.0, 2.0, size=2), ctx.rng.integers(0, 2, size=2).astype(np.float64)


def output_delta_variants(ctx: Context, y: np.ndarray, t: np.ndarray) -> dict[str, object]:
    sigmoid = ctx.reference("activations").sigmoid
    return {"sigma_prime_missing": 2.0 * (y - t),
            "sigma_prime_of_output": 2.0 * (y - t) * sigmoid(y) * (1.0 - sigmoid(y))}


def gradient_vector_variants(ctx: Context, x: np.ndarray, t: np.ndarray, W: np.ndarray,
                             V: np.ndarray) -> dict[str, object]:
    ref = ctx.ref
    g = ref.gradient_vector(x, t, W, V)
    fwd = ref.forward(x, W, V)
    delta = ref.output_deltas(fwd["y"], t)
    flat_dz = np.outer(x, ref.grad_h(V, delta)).T.ravel()  # no h (1 - h)
    return {"slide_vector_order": g[ROW_MAJOR_ORDER],
            "sigma_prime_missing": np.concatenate([flat_dz, g[4:]]),
            "slide_indexing": np.concatenate([g[:4].reshape(2, 2).T.ravel(),
                                              g[4:].reshape(2, 2).T.ravel()])}


# -- forward ---------------------------------------------------------------------------------
@graded("forward", points=1, visibility="visible")
def test_forward_slide(ctx: Context) -> None:
    """forward matches the reference on the slide's network, for both training examples"""
    X, _, W, V = slide(ctx)
    for n in range(2):
        with ctx.isolated():
            out = ctx.student.forward(X[n], W, V)
        ctx.expect_unchanged()
        ctx.expect_close(out, ctx.ref.forward(X[n], W, V), rtol=RTOL, atol=ATOL,
                         what=f"forward(X[{n}], W, V)",
                         variants={"slide_indexing": ctx.ref.forward(X[n], W.T, V.T)})


@graded("forward", points=1, visibility="after_published")
def test_forward_random(ctx: Context) -> None:
    """forward matches the reference on random networks and inputs"""
    for _ in range(2):
        W, V = network(ctx)
        x, _ = example(ctx)
        with ctx.isolated():
            out = ctx.student.forward(x, W, V)
        ctx.expect_unchanged()
        ctx.expect_close(out, ctx.ref.forward(x, W, V), rtol=RTOL, atol=ATOL,
                         what="forward(x, W, V)",
                         variants={"slide_indexing": ctx.ref.forward(x, W.T, V.T)})
        ctx.expect_fresh()


# -- loss ------------------------------------------------------------------------------------
@graded("loss", points=1, visibility="after_published")
def test_loss(ctx: Context) -> None:
    """loss is (y1 - t1)^2 + (y2 - t2)^2, for example 1 and for random outputs"""
    X, T, W, V = slide(ctx)
    y1 = ctx.ref.forward(X[0], W, V)["y"]
    cases = [(y1, T[0]), (ctx.rng.uniform(0.0, 1.0, size=2), example(ctx)[1])]
    for y, t in cases:
        with ctx.isolated():
            out = ctx.student.loss(y, t)
        ctx.expect_unchanged()
        expected = ctx.ref.loss(y, t)
        ctx.expect_close(out, expected, rtol=RTOL, atol=ATOL, what="loss(y, t)",
                         variants={"loss_halved": expected / 2,
                                   "cost_not_summed": (y - t) ** 2})


# -- output_deltas ---------------------------------------------------------------------------
@graded("output_deltas", points=1, visibility="after_published")
def test_output_deltas_slide(ctx: Context) -> None:
    """output_deltas matches the reference for both training examples"""
    X, T, W, V = slide(ctx)
    for n in range(2):
        y = ctx.ref.forward(X[n], W, V)["y"]
        with ctx.isolated():
            out = ctx.student.output_deltas(y, T[n])
        ctx.expect_unchanged()
        ctx.expect_close(out, ctx.ref.output_deltas(y, T[n]), rtol=RTOL, atol=ATOL,
                         what=f"output_deltas(y, t) for example {n + 1}",
                         variants=output_delta_variants(ctx, y, T[n]))


@graded("output_deltas", points=1, visibility="hidden")
def test_output_deltas_random(ctx: Context) -> None:
    """output_deltas matches the reference and finite differences of the loss in y_in"""
    for _ in range(2):
        y = ctx.rng.uniform(0.05, 0.95, size=2)
        t = example(ctx)[1]
        with ctx.isolated():
            out = ctx.student.output_deltas(y, t)
        ctx.expect_unchanged()
        ctx.expect_fresh()
        ctx.expect_close(out, ctx.ref.output_deltas(y, t), rtol=RTOL, atol=ATOL,
                         what="output_deltas(y, t)", variants=output_delta_variants(ctx, y, t))
    sigmoid = ctx.reference("activations").sigmoid
    y_in = np.log(y / (1.0 - y))
    numeric = gradcheck.stencil_gradient(lambda v: ctx.ref.loss(sigmoid(v), t), y_in)
    ctx.expect_gradient(out, numeric, what="output_deltas(y, t)", floor=FLOOR,
                        variants=output_delta_variants(ctx, y, t))


# -- grad_V ----------------------------------------------------------------------------------
@graded("grad_V", points=1, visibility="after_published")
def test_grad_V_slide(ctx: Context) -> None:
    """grad_V matches the reference for example 1 (dL/dv21 = -0.0017579594)"""
    X, T, W, V = slide(ctx)
    fwd = ctx.ref.forward(X[0], W, V)
    h, delta = fwd["h"], ctx.ref.output_deltas(fwd["y"], T[0])
    with ctx.isolated():
        out = ctx.student.grad_V(h, delta)
    ctx.expect_unchanged()
    ctx.expect_close(out, ctx.ref.grad_V(h, delta), rtol=RTOL, atol=ATOL, what="grad_V(h, delta)",
                     variants={"slide_indexing": np.outer(delta, h)})


@graded("grad_V", points=1, visibility="hidden")
def test_grad_V_random(ctx: Context) -> None:
    """grad_V matches the reference on random h and delta"""
    for _ in range(2):
        h = ctx.rng.uniform(0.0, 1.0, size=2)
        delta = ctx.rng.normal(0.0, 0.2, size=2)
        with ctx.isolated():
            out = ctx.student.grad_V(h, delta)
        ctx.expect_unchanged()
        ctx.expect_fresh()
        ctx.expect_close(out, ctx.ref.grad_V(h, delta), rtol=RTOL, atol=ATOL,
                         what="grad_V(h, delta)", variants={"slide_indexing": np.outer(delta, h)})


# -- grad_h ----------------------------------------------------------------------------------
@graded("grad_h", points=1, visibility="after_published")
def test_grad_h(ctx: Context) -> None:
    """grad_h matches the reference for example 1 and for a random V and delta"""
    X, T, W, V = slide(ctx)
    fwd = ctx.ref.forward(X[0], W, V)
    cases = [(V, ctx.ref.output_deltas(fwd["y"], T[0])),
             (network(ctx)[1], ctx.rng.normal(0.0, 0.2, size=2))]
    for V_, delta in cases:
        with ctx.isolated():
            out = ctx.student.grad_h(V_, delta)
        ctx.expect_unchanged()
        ctx.expect_fresh()
        ctx.expect_close(out, ctx.ref.grad_h(V_, delta), rtol=RTOL, atol=ATOL,
                         what="grad_h(V, delta)", variants={"slide_indexing": V_.T @ delta})


# -- gradient_vector -------------------------------------------------------------------------
@graded("gradient_vector", points=1, visibility="after_published")
def test_gradient_vector_slide(ctx: Context) -> None:
    """gradient_vector matches the reference for both training examples, in the slide's order"""
    X, T, W, V = slide(ctx)
    for n in range(2):
        with ctx.isolated():
            out = ctx.student.gradient_vector(X[n], T[n], W, V)
        ctx.expect_unchanged()
        ctx.expect_close(out, ctx.ref.gradient_vector(X[n], T[n], W, V), rtol=RTOL, atol=ATOL,
                         what=f"gradient_vector(X[{n}], T[{n}], W, V)",
                         variants=gradient_vector_variants(ctx, X[n], T[n], W, V))


@graded("gradient_vector", points=1, visibility="hidden")
def test_gradient_vector_random(ctx: Context) -> None:
    """gradient_vector matches the reference and finite differences on a random network"""
    W, V = network(ctx)
    x, t = example(ctx)
    with ctx.isolated():
        out = ctx.student.gradient_vector(x, t, W, V)
    ctx.expect_unchanged()
    variants = gradient_vector_variants(ctx, x, t, W, V)
    ctx.expect_close(out, ctx.ref.gradient_vector(x, t, W, V), rtol=RTOL, atol=ATOL,
                     what="gradient_vector(x, t, W, V)", variants=variants)

    def loss(p: np.ndarray) -> float:
        # p in the slide's order: W column by column (dW.T.ravel()), then V row by row
        return ctx.ref.loss(ctx.ref.forward(x, p[:4].reshape(2, 2).T, p[4:].reshape(2, 2))["y"],
                            t)

    numeric = gradcheck.stencil_gradient(loss, np.concatenate([W.T.ravel(), V.ravel()]))
    ctx.expect_gradient(out, numeric, what="gradient_vector(x, t, W, V)", floor=FLOOR,
                        variants=variants)


# -- batch_gradient --------------------------------------------------------------------------
@graded("batch_gradient", points=1, visibility="after_published")
def test_batch_gradient_slide(ctx: Context) -> None:
    """batch_gradient matches the reference on the slide's two training examples"""
    X, T, W, V = slide(ctx)
    with ctx.isolated():
        out = ctx.student.batch_gradient(X, T, W, V)
    ctx.expect_unchanged()
    expected = ctx.ref.batch_gradient(X, T, W, V)
    ctx.expect_close(out, expected, rtol=RTOL, atol=ATOL, what="batch_gradient(X, T, W, V)",
                     batch_size=2,
                     variants={"slide_indexing": {k: v.T for k, v in expected.items()}})


@graded("batch_gradient", points=1, visibility="hidden")
def test_batch_gradient_random(ctx: Context) -> None:
    """batch_gradient is the mean of the per-example gradients over 5 random examples"""
    W, V = network(ctx)
    X = ctx.rng.normal(0.0, 2.0, size=(5, 2))
    T = ctx.rng.integers(0, 2, size=(5, 2)).astype(np.float64)
    with ctx.isolated():
        out = ctx.student.batch_gradient(X, T, W, V)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    g = np.mean([ctx.ref.gradient_vector(x, t, W, V) for x, t in zip(X, T, strict=True)],
                axis=0)
    mean = {"dW": g[:4].reshape(2, 2).T, "dV": g[4:].reshape(2, 2)}
    ctx.expect_close(out, ctx.ref.batch_gradient(X, T, W, V), rtol=RTOL, atol=ATOL,
                     what="batch_gradient(X, T, W, V)", batch_size=5,
                     variants={"slide_indexing": {k: v.T for k, v in mean.items()}})
