"""Public checks of neuron.py: known values and finite differences of your own forward and cost."""

import numpy as np

from grader.authoring import Context, gradcheck, public

from course_helpers import FLOOR, pair, sigmoid

# Five examples (one entry each), with moderate z so that 1 / (1 + exp(-z)) is exact enough.
W = np.array([0.5, -1.2, 2.0, 0.3, -0.7])
B = np.array([0.1, 0.4, -1.0, 0.0, 0.25])
A_PREV = np.array([0.8, -0.5, 1.5, 0.2, 1.0])
Y = np.array([1.0, 0.0, 0.6, 0.3, 0.9])


def student_cost(ctx: Context, w: object, b: object, a_prev: object, y: object) -> object:
    """C0 of every example, from your own forward and cost."""
    _, a = pair(ctx, ctx.student.forward(w, b, a_prev), "forward")
    return ctx.student.cost(a, y)


# -- forward ---------------------------------------------------------------------------------
@public("forward")
def check_forward_values(ctx: Context) -> None:
    """forward gives z = w a_prev + b and a = sigmoid(z), one entry per example"""
    z, a = pair(ctx, ctx.student.forward(W, B, A_PREV), "forward")
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect_close(z, W * A_PREV + B, rtol=1e-12, atol=1e-15, what="z",
                     variants={"bias_forgotten": W * A_PREV})
    ctx.expect_close(a, sigmoid(W * A_PREV + B), rtol=1e-9, atol=1e-15, what="a")


@public("forward")
def check_forward_floats(ctx: Context) -> None:
    """forward(2.0, -1.0, 0.5) is (0.0, 0.5): floats work"""
    z, a = pair(ctx, ctx.student.forward(2.0, -1.0, 0.5), "forward(2.0, -1.0, 0.5)")
    ctx.expect_close(z, 0.0, rtol=0.0, atol=1e-12, what="z")
    ctx.expect_close(a, 0.5, rtol=0.0, atol=1e-12, what="a")


# -- cost ------------------------------------------------------------------------------------
@public("cost")
def check_cost_values(ctx: Context) -> None:
    """cost(0.75, 1.0) is 0.0625, and cost is (a - y)^2 for each example of an array"""
    ctx.expect_close(ctx.student.cost(0.75, 1.0), 0.0625, rtol=1e-12, atol=1e-15,
                     what="cost(0.75, 1.0)", variants={"cost_with_half": 0.03125})
    a = sigmoid(W * A_PREV + B)
    out = ctx.student.cost(a, Y)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect_close(out, (a - Y) ** 2, rtol=1e-12, atol=1e-15, what="cost(a, y)",
                     variants={"cost_averaged": float(np.mean((a - Y) ** 2)),
                               "cost_with_half": 0.5 * (a - Y) ** 2})


# -- chain_factors ---------------------------------------------------------------------------
@public("chain_factors")
def check_chain_factors(ctx: Context) -> None:
    """chain_factors gives a_prev, sigmoid'(z) and 2(a - y), and their product is dC0/dw"""
    out = ctx.student.chain_factors(W, B, A_PREV, Y)
    ctx.expect_unchanged()
    factors = {k: ctx.entry(out, k) for k in ("dz_dw", "da_dz", "dC_da")}
    a = sigmoid(W * A_PREV + B)
    ctx.expect_close(factors["dz_dw"], A_PREV, rtol=1e-12, atol=1e-15, what="dz_dw")
    ctx.expect_close(factors["da_dz"], a * (1.0 - a), rtol=1e-9, atol=1e-15, what="da_dz",
                     variants={"activation_instead_of_derivative": a})
    ctx.expect_close(factors["dC_da"], 2.0 * (a - Y), rtol=1e-9, atol=1e-15, what="dC_da")
    numeric = gradcheck.elementwise_derivative(
        lambda w: student_cost(ctx, w, B, A_PREV, Y), W)
    product = np.asarray(factors["dz_dw"]) * np.asarray(factors["da_dz"]) \
        * np.asarray(factors["dC_da"])
    ctx.expect_gradient(product, numeric, what="dz_dw * da_dz * dC_da", floor=FLOOR)


@public("chain_factors")
def check_chain_factors_floats(ctx: Context) -> None:
    """chain_factors works on floats: one example gives the same factors as in an array"""
    one = ctx.student.chain_factors(float(W[1]), float(B[1]), float(A_PREV[1]), float(Y[1]))
    batch = ctx.student.chain_factors(W, B, A_PREV, Y)
    for key in ("dz_dw", "da_dz", "dC_da"):
        value = ctx.entry(one, key)
        ctx.expect(np.ndim(value) == 0, f"chain_factors(...)[{key!r}] for floats should be a "
                   f"number, got shape {np.shape(value)}")
        ctx.expect_close(value, float(np.asarray(ctx.entry(batch, key))[1]), rtol=1e-9,
                         atol=1e-15, what=f"chain_factors(...)[{key!r}] for example 1 alone")


# -- backward --------------------------------------------------------------------------------
@public("backward")
def check_backward_numerical(ctx: Context) -> None:
    """backward matches finite differences of your forward and cost in w, b and a_prev"""
    out = ctx.student.backward(W, B, A_PREV, Y)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    a = sigmoid(W * A_PREV + B)
    wrong_delta = a * 2.0 * (a - Y)  # sigma(z) where sigma'(z) belongs
    db = np.asarray(ctx.entry(out, "db"), dtype=np.float64)
    variants = {
        "dw": {"activation_instead_of_derivative": A_PREV * wrong_delta,
               "dw_da_prev_swapped": W * db},
        "db": {"activation_instead_of_derivative": wrong_delta},
        "da_prev": {"activation_instead_of_derivative": W * wrong_delta,
                    "dw_da_prev_swapped": A_PREV * db},
    }
    numeric = {
        "dw": gradcheck.elementwise_derivative(
            lambda v: student_cost(ctx, v, B, A_PREV, Y), W),
        "db": gradcheck.elementwise_derivative(
            lambda v: student_cost(ctx, W, v, A_PREV, Y), B),
        "da_prev": gradcheck.elementwise_derivative(
            lambda v: student_cost(ctx, W, B, v, Y), A_PREV),
    }
    for key, value in numeric.items():
        ctx.expect_gradient(ctx.entry(out, key), value, what=f"backward(...)[{key!r}]",
                            variants=variants[key], floor=FLOOR)


@public("backward")
def check_backward_floats(ctx: Context) -> None:
    """backward works on floats: one example gives the same numbers as in an array"""
    out = ctx.student.backward(float(W[2]), float(B[2]), float(A_PREV[2]), float(Y[2]))
    batch = ctx.student.backward(W, B, A_PREV, Y)
    for key in ("dw", "db", "da_prev"):
        value = ctx.entry(out, key)
        ctx.expect(np.ndim(value) == 0, f"backward(...)[{key!r}] for floats should be a "
                   f"number, got shape {np.shape(value)}")
        ctx.expect_close(value, float(np.asarray(ctx.entry(batch, key))[2]), rtol=1e-9,
                         atol=1e-15, what=f"backward(...)[{key!r}] for example 2 alone")


# -- average_gradient ------------------------------------------------------------------------
@public("average_gradient")
def check_average_gradient(ctx: Context) -> None:
    """average_gradient matches finite differences of the mean of your cost over 5 examples"""
    w, b = 0.8, -0.3
    out = ctx.student.average_gradient(w, b, A_PREV, Y)
    ctx.expect_unchanged()

    def mean_cost(p: np.ndarray) -> float:
        return float(np.mean(student_cost(ctx, p[0], p[1], A_PREV, Y)))

    numeric = gradcheck.stencil_gradient(mean_cost, np.array([w, b]))
    for i, key in enumerate(("dw", "db")):
        value = ctx.entry(out, key)
        ctx.expect(np.ndim(value) == 0, f"average_gradient(...)[{key!r}] should be a number "
                   f"(the mean over the examples), got shape {np.shape(value)}")
        ctx.expect_gradient(float(value), numeric[i], what=f"average_gradient(...)[{key!r}]",
                            batch_size=len(Y), floor=FLOOR)


# -- chain_backward --------------------------------------------------------------------------
def recurrence_mistakes(db: np.ndarray, a: np.ndarray, ws: np.ndarray,
                        y: float) -> dict[str, object]:
    """What your db would be if each layer followed from the next by a known mistake.

    Built from your own db (not from a reference): db[l-1] = sigma'(z^(l)) dC0/da^(l), with
    dC0/da^(l) = w^(l+1) db[l] for the layers below the last.
    """
    if db.shape != ws.shape:
        return {}
    out_a = a[1:]  # a^(1) ... a^(L)
    prime = out_a * (1.0 - out_a)
    last = 2.0 * (out_a[-1] - y)
    return {
        "chain_missing_weight": np.append(prime[:-1] * db[1:], prime[-1] * last),
        "activation_instead_of_derivative": np.append(out_a[:-1] * ws[1:] * db[1:],
                                                      out_a[-1] * last),
    }


@public("chain_backward")
def check_chain_backward_numerical(ctx: Context) -> None:
    """chain_backward matches finite differences of the cost of a chain of 3 of your neurons"""
    ws, bs, x, y = np.array([1.5, -2.0, 0.8]), np.array([0.2, 0.5, -0.4]), 0.7, 0.9
    out = ctx.student.chain_backward(ws, bs, x, y)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    n = len(ws)
    # the chain itself, then every perturbed chain, at once: forward works elementwise
    steps = np.concatenate([np.zeros((1, 2 * n)), np.eye(2 * n), -np.eye(2 * n)])
    params = np.concatenate([ws, bs]) + gradcheck.EPS * steps
    acts = [np.full(len(params), x)]
    for layer in range(n):
        _, a = pair(ctx, ctx.student.forward(params[:, layer], params[:, n + layer], acts[-1]),
                    "forward")
        acts.append(np.asarray(a, dtype=np.float64))
    costs = np.asarray(ctx.student.cost(acts[-1], np.full(len(params), y)), dtype=np.float64)
    numeric = (costs[1:2 * n + 1] - costs[2 * n + 1:]) / (2 * gradcheck.EPS)
    a = np.array([act[0] for act in acts])  # a^(0) = x, ..., a^(L) of the chain itself
    dw, db = ctx.entry(out, "dw"), ctx.entry(out, "db")
    ctx.expect_gradient(db, numeric[n:], what="chain_backward(...)['db']", floor=FLOOR,
                        variants=recurrence_mistakes(np.asarray(db, dtype=np.float64), a, ws, y))
    ctx.expect_gradient(dw, numeric[:n], what="chain_backward(...)['dw']", floor=FLOOR,
                        variants={"chain_wrong_activation": a[1:] * np.asarray(db)})


@public("chain_backward")
def check_chain_backward_one_neuron(ctx: Context) -> None:
    """chain_backward of one neuron gives arrays of shape (1,): db = sigmoid'(z) 2(a - y)"""
    x, y = 0.7, 0.9
    out = ctx.student.chain_backward(np.array([1.5]), np.array([0.2]), x, y)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    a = sigmoid(np.array([1.5 * x + 0.2]))
    db = a * (1.0 - a) * 2.0 * (a - y)
    ctx.expect_close(out, {"dw": x * db, "db": db}, rtol=1e-9, atol=1e-15,
                     what="chain_backward([1.5], [0.2], 0.7, 0.9) (dw = x db)")
