"""Hidden tests of neuron.py: the chain rule for one sigmoid neuron per layer, C0 = (a - y)^2."""

from collections.abc import Callable

import numpy as np

from grader.authoring import Context, gradcheck, graded

from course_helpers import FLOOR

# Tolerances: rtol = 1e-9 with atol = 1e-12 (1e-14, 1e-15 for the small chain and cost
# values). Every quantity is a product of a few numbers of order 1 through the sigmoid, which
# every sound formula computes to a few ulp absolute (the tanh form) or relative; so any order
# of the products and any sound sigmoid agree to ~1e-15, a margin of 1e3 and more below these
# tolerances, while a real mistake moves a value by 1e-3 or more. Gradients against finite
# differences use expect_gradient's own tolerance (grader.authoring.gradcheck).


def neuron_inputs(ctx: Context, n: int) -> tuple[np.ndarray, ...]:
    """w, b, a_prev, y of shape (n,): one entry per example."""
    w = ctx.rng.normal(0.0, 1.5, size=n)
    b = ctx.rng.normal(0.0, 1.0, size=n)
    a_prev = ctx.rng.uniform(-1.0, 2.0, size=n)
    y = ctx.rng.uniform(0.0, 1.0, size=n)
    return w, b, a_prev, y


def mistaken_backward(ctx: Context, w: object, b: object, a_prev: object, y: object,
                      prime: Callable[[object], object] | None = None,
                      swapped: bool = False) -> dict[str, object]:
    """backward with sigma' replaced by ``prime``, or dw and da_prev swapped."""
    z, a = ctx.ref.forward(w, b, a_prev)
    delta = (prime or ctx.reference("activations").sigmoid_prime)(z) * 2.0 * (a - y)
    dw, da_prev = np.multiply(a_prev, delta), np.multiply(w, delta)
    if swapped:
        dw, da_prev = da_prev, dw
    return {"dw": dw, "db": delta, "da_prev": da_prev}


def backward_variants(ctx: Context, *args: object) -> dict[str, object]:
    """What backward(w, b, a_prev, y) gives under each of its classic mistakes."""
    sigmoid = ctx.reference("activations").sigmoid
    return {"activation_instead_of_derivative": mistaken_backward(ctx, *args, prime=sigmoid),
            "dw_da_prev_swapped": mistaken_backward(ctx, *args, swapped=True)}


# -- forward ---------------------------------------------------------------------------------
@graded("forward", points=1, visibility="visible")
def test_forward_matches_reference(ctx: Context) -> None:
    """forward matches the reference for arrays of one entry per example"""
    sigmoid = ctx.reference("activations").sigmoid
    w, b, a_prev, _ = neuron_inputs(ctx, 7)
    for args in [(w, b, a_prev), (float(w[0]), float(b[0]), a_prev)]:
        with ctx.isolated():
            out = ctx.student.forward(*args)
        ctx.expect_unchanged()
        z0 = np.multiply(args[0], args[2])
        ctx.expect_close(out, ctx.ref.forward(*args), rtol=1e-9, atol=1e-12,
                         what="forward(w, b, a_prev)",
                         variants={"bias_forgotten": (z0, sigmoid(z0))})
        ctx.expect_fresh()


@graded("forward", points=1, visibility="after_published")
def test_forward_scalars(ctx: Context) -> None:
    """forward works on Python floats and returns numbers (z, a)"""
    for _ in range(2):
        w, b, a_prev = (float(v) for v in ctx.rng.normal(0.0, 1.5, size=3))
        with ctx.isolated():
            out = ctx.student.forward(w, b, a_prev)
        ctx.expect_close(out, ctx.ref.forward(w, b, a_prev), rtol=1e-9, atol=1e-12,
                         what=f"forward({w!r}, {b!r}, {a_prev!r})")


# -- cost ------------------------------------------------------------------------------------
@graded("cost", points=1, visibility="after_published")
def test_cost(ctx: Context) -> None:
    """cost is (a - y)^2 per example, for arrays and for floats"""
    a = ctx.rng.uniform(0.0, 1.0, size=9)
    y = ctx.rng.uniform(0.0, 1.0, size=9)
    expected = ctx.ref.cost(a, y)
    ctx.expect_close(ctx.student.cost(a, y), expected, rtol=1e-9, atol=1e-15,
                     what="cost(a, y)",
                     variants={"cost_averaged": float(np.mean(expected)),
                               "cost_with_half": 0.5 * expected})
    ctx.expect_unchanged()
    ctx.expect_fresh()
    a0, y0 = float(a[0]), float(y[0])
    ctx.expect_close(ctx.student.cost(a0, y0), ctx.ref.cost(a0, y0), rtol=1e-9, atol=1e-15,
                     what=f"cost({a0!r}, {y0!r})",
                     variants={"cost_with_half": 0.5 * ctx.ref.cost(a0, y0)})


# -- chain_factors ---------------------------------------------------------------------------
@graded("chain_factors", points=2, visibility="after_published")
def test_chain_factors_matches_reference(ctx: Context) -> None:
    """chain_factors returns a_prev, sigmoid'(z) and 2(a - y), matching the reference"""
    act = ctx.reference("activations")
    w, b, a_prev, y = neuron_inputs(ctx, 6)
    for args in [(w, b, a_prev, y), (float(w[0]), float(b[0]), a_prev, y)]:
        with ctx.isolated():
            out = ctx.student.chain_factors(*args)
        ctx.expect_unchanged()
        expected = ctx.ref.chain_factors(*args)
        z, _ = ctx.ref.forward(*args[:3])
        ctx.expect_close(out, expected, rtol=1e-9, atol=1e-12, what="chain_factors(...)",
                         variants={"activation_instead_of_derivative":
                                   {**expected, "da_dz": act.sigmoid(z)}})


@graded("chain_factors", points=1, visibility="hidden")
def test_chain_factors_product(ctx: Context) -> None:
    """chain_factors multiply to dC0/dw (finite differences), and work on floats too"""
    w, b, a_prev, y = neuron_inputs(ctx, 5)
    with ctx.isolated():
        out = ctx.student.chain_factors(w, b, a_prev, y)
    product = np.asarray(ctx.entry(out, "dz_dw")) * np.asarray(ctx.entry(out, "da_dz")) \
        * np.asarray(ctx.entry(out, "dC_da"))
    numeric = gradcheck.elementwise_derivative(
        lambda w_: ctx.ref.cost(ctx.ref.forward(w_, b, a_prev)[1], y), w)
    ctx.expect_gradient(product, numeric, what="dz_dw * da_dz * dC_da", floor=FLOOR)
    args = tuple(float(v[0]) for v in (w, b, a_prev, y))
    with ctx.isolated():
        out = ctx.student.chain_factors(*args)
    ctx.expect_close(out, ctx.ref.chain_factors(*args), rtol=1e-9, atol=1e-12,
                     what="chain_factors(w, b, a_prev, y) for floats")


# -- backward --------------------------------------------------------------------------------
@graded("backward", points=1, visibility="after_published")
def test_backward_matches_reference(ctx: Context) -> None:
    """backward matches the reference for arrays of one entry per example"""
    w, b, a_prev, y = neuron_inputs(ctx, 8)
    for args in [(w, b, a_prev, y), (float(w[0]), float(b[0]), a_prev, y)]:
        with ctx.isolated():
            out = ctx.student.backward(*args)
        ctx.expect_unchanged()
        ctx.expect_close(out, ctx.ref.backward(*args), rtol=1e-9, atol=1e-12,
                         what="backward(w, b, a_prev, y)",
                         variants=backward_variants(ctx, *args))
        ctx.expect_fresh()


@graded("backward", points=1, visibility="hidden")
def test_backward_numerical(ctx: Context) -> None:
    """backward agrees with finite differences of C0 = (sigmoid(w a_prev + b) - y)^2"""
    w, b, a_prev, y = neuron_inputs(ctx, 6)
    with ctx.isolated():
        out = ctx.student.backward(w, b, a_prev, y)
    ref = ctx.ref
    numeric = {
        "dw": gradcheck.elementwise_derivative(
            lambda v: ref.cost(ref.forward(v, b, a_prev)[1], y), w),
        "db": gradcheck.elementwise_derivative(
            lambda v: ref.cost(ref.forward(w, v, a_prev)[1], y), b),
        "da_prev": gradcheck.elementwise_derivative(
            lambda v: ref.cost(ref.forward(w, b, v)[1], y), a_prev),
    }
    for key, value in numeric.items():
        ctx.expect_gradient(ctx.entry(out, key), value, what=f"backward(...)[{key!r}]",
                            floor=FLOOR)


@graded("backward", points=1, visibility="after_published")
def test_backward_scalars(ctx: Context) -> None:
    """backward works on Python floats (one example) and returns numbers"""
    for _ in range(2):
        args = tuple(float(v) for v in ctx.rng.normal(0.0, 1.5, size=4))
        with ctx.isolated():
            out = ctx.student.backward(*args)
        ctx.expect_close(out, ctx.ref.backward(*args), rtol=1e-9, atol=1e-12,
                         what="backward(w, b, a_prev, y) for floats",
                         variants=backward_variants(ctx, *args))


# -- average_gradient ------------------------------------------------------------------------
@graded("average_gradient", points=1, visibility="after_published")
def test_average_gradient_matches_reference(ctx: Context) -> None:
    """average_gradient is the mean of the per-example gradients (reference, n = 7)"""
    act = ctx.reference("activations")
    w, b = (float(v) for v in ctx.rng.normal(0.0, 1.5, size=2))
    _, _, a_prev, y = neuron_inputs(ctx, 7)
    with ctx.isolated():
        out = ctx.student.average_gradient(w, b, a_prev, y)
    ctx.expect_unchanged()
    wrong = mistaken_backward(ctx, w, b, a_prev, y, prime=act.sigmoid)
    ctx.expect_close(out, ctx.ref.average_gradient(w, b, a_prev, y), rtol=1e-9, atol=1e-12,
                     what="average_gradient(w, b, a_prev, y)", batch_size=7,
                     variants={"activation_instead_of_derivative":
                               {k: float(np.mean(wrong[k])) for k in ("dw", "db")}})


@graded("average_gradient", points=1, visibility="hidden")
def test_average_gradient_numerical(ctx: Context) -> None:
    """average_gradient agrees with finite differences of the mean cost over 5 examples"""
    w, b = (float(v) for v in ctx.rng.normal(0.0, 1.5, size=2))
    _, _, a_prev, y = neuron_inputs(ctx, 5)
    with ctx.isolated():
        out = ctx.student.average_gradient(w, b, a_prev, y)

    def mean_cost(p: np.ndarray) -> float:
        return float(np.mean(ctx.ref.cost(ctx.ref.forward(p[0], p[1], a_prev)[1], y)))

    numeric = gradcheck.stencil_gradient(mean_cost, np.array([w, b]))
    for i, key in enumerate(("dw", "db")):
        value = ctx.entry(out, key)
        if np.ndim(value) == 0:
            value = float(value)
        ctx.expect_gradient(value, numeric[i], what=f"average_gradient(...)[{key!r}]",
                            variants={"sum_instead_of_mean": 5 * numeric[i]}, floor=FLOOR)


# -- chain_backward --------------------------------------------------------------------------
def chain_grads(ctx: Context, ws: np.ndarray, bs: np.ndarray, x: float, y: float, *,
                mistake: str | None = None) -> dict[str, np.ndarray]:
    """Backprop through the chain, written out here (with one classic mistake, if named)."""
    act = ctx.reference("activations")
    prime = act.sigmoid if mistake == "activation_instead_of_derivative" else act.sigmoid_prime
    a, z = [x], []
    for w, b in zip(ws, bs, strict=True):
        z.append(w * a[-1] + b)
        a.append(float(act.sigmoid(z[-1])))
    dw, db = np.empty(len(ws)), np.empty(len(ws))
    dC_da = 2.0 * (a[-1] - y)
    for i in reversed(range(len(ws))):
        db[i] = float(prime(z[i])) * dC_da
        dw[i] = (a[i + 1] if mistake == "chain_wrong_activation" else a[i]) * db[i]
        dC_da = db[i] * (1.0 if mistake == "chain_missing_weight" else ws[i])
    return {"dw": dw, "db": db}


def chain_cost(ctx: Context, ws: np.ndarray, bs: np.ndarray, x: float, y: float) -> float:
    a = x
    for w, b in zip(ws, bs, strict=True):
        a = float(ctx.reference("activations").sigmoid(w * a + b))
    return (a - y) ** 2


def chain_inputs(ctx: Context, n_layers: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    ws = ctx.rng.normal(0.0, 2.0, size=n_layers)
    bs = ctx.rng.normal(0.0, 1.0, size=n_layers)
    return ws, bs, float(ctx.rng.uniform(-1.0, 1.0)), float(ctx.rng.uniform(0.0, 1.0))


def chain_variants(ctx: Context, *args: object) -> dict[str, object]:
    return {key: chain_grads(ctx, *args, mistake=key)  # type: ignore[arg-type]
            for key in ("activation_instead_of_derivative", "chain_missing_weight",
                        "chain_wrong_activation")}


@graded("chain_backward", points=1, visibility="after_published")
def test_chain_backward_matches_reference(ctx: Context) -> None:
    """chain_backward matches the reference for a chain of 5 neurons"""
    args = chain_inputs(ctx, 5)
    with ctx.isolated():
        out = ctx.student.chain_backward(*args)
    ctx.expect_unchanged()
    ctx.expect_close(out, ctx.ref.chain_backward(*args), rtol=1e-9, atol=1e-14,
                     what="chain_backward(ws, bs, x, y)", variants=chain_variants(ctx, *args))


@graded("chain_backward", points=1, visibility="hidden")
def test_chain_backward_numerical(ctx: Context) -> None:
    """chain_backward agrees with finite differences of the chain's cost (4 neurons)"""
    ws, bs, x, y = args = chain_inputs(ctx, 4)
    with ctx.isolated():
        out = ctx.student.chain_backward(*args)
    numeric = {
        "dw": gradcheck.stencil_gradient(lambda v: chain_cost(ctx, v, bs, x, y), ws),
        "db": gradcheck.stencil_gradient(lambda v: chain_cost(ctx, ws, v, x, y), bs),
    }
    variants = chain_variants(ctx, *args)
    for key, value in numeric.items():
        ctx.expect_gradient(ctx.entry(out, key), value, what=f"chain_backward(...)[{key!r}]",
                            variants={k: v[key] for k, v in variants.items()}, floor=FLOOR)


@graded("chain_backward", points=1, visibility="hidden")
def test_chain_backward_shapes(ctx: Context) -> None:
    """chain_backward returns float64 arrays of shape (L,), for L = 1 and L = 7"""
    for n_layers in (1, 7):
        args = chain_inputs(ctx, n_layers)
        with ctx.isolated():
            out = ctx.student.chain_backward(*args)
        ctx.expect_unchanged()
        ctx.expect_close(out, ctx.ref.chain_backward(*args), rtol=1e-9, atol=1e-14,
                         what=f"chain_backward(ws, bs, x, y) for L = {n_layers}",
                         variants=chain_variants(ctx, *args))
        ctx.expect_fresh()
