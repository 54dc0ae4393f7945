"""Hidden tests of mlp.py: initialisation, the affine layer, forward and backward, the loss and
its gradients, the gradient vector, predictions and accuracy.

Every function that calls another graded function runs isolated (``ctx.isolated``): the
functions it may call are replaced by the reference, so that one mistake costs its own points.
"""

from collections.abc import Callable
from typing import Any

import numpy as np

from grader.authoring import Context, check_directional, gradcheck, graded
from grader.sandbox.box import StudentError

from course_helpers import FLOOR

ACTIVATIONS = ("activations.sigmoid", "activations.sigmoid_prime", "activations.relu",
               "activations.relu_prime", "activations.softmax", "activations.softmax_backward")
LOSSES = ("losses.sse", "losses.sse_grad", "losses.one_hot", "losses.softmax_cross_entropy")
RTOL, ATOL = 1e-9, 1e-13
# Why these: a network of at most 3 layers of width <= 6 and N = 7 examples computes sums of
# <= 7 products of order-1 numbers per matrix product; any order of summation (matmul, einsum,
# loops over examples) and any sound activation differ by a few ulp per layer, ~1e-15, so the
# margin to these tolerances is 1e4 and more, and a real mistake moves a value by 1e-3 or more.
# The cross-entropy's log-sum-exp is of logits of order 1 here, far from where its absolute
# error grows (see test_losses.py).
# N = 7 examples: different from every layer width, so a transpose or a missing mean shows.
N = 7
CONFIGS = [([5, 4, 3], "sigmoid", "sigmoid"), ([4, 6, 5, 3], "relu", "softmax")]


def network(ctx: Context, sizes: list[int], hidden: str = "sigmoid", output: str = "sigmoid",
            n: int = N) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Random parameters (nonzero biases) and a batch; for ReLU no hidden pre-activation lies
    within 1e-3 of the kink."""
    mlp = ctx.reference("mlp")
    for _ in range(100):
        params = mlp.init_params(sizes, ctx.rng)
        for i in range(1, len(sizes)):
            params[f"b{i}"] = ctx.rng.normal(0.0, 0.5, size=sizes[i])
        X = ctx.rng.normal(0.0, 1.0, size=(n, sizes[0]))
        _, cache = mlp.forward(params, X, hidden, output)
        if hidden != "relu" or min(np.min(np.abs(c["Z"])) for c in cache[:-1]) > 1e-3:
            break
    return params, X


def targets(ctx: Context, n: int, classes: int, loss: str) -> np.ndarray:
    labels = ctx.rng.integers(0, classes, size=n)
    return labels if loss == "ce" else np.eye(classes)[labels]


def manual_backward(activations: Any, params: dict[str, np.ndarray],
                    cache: list[dict[str, Any]], dout: np.ndarray, *,
                    derivative: str = "right", skip_output: bool = False) -> dict[str, np.ndarray]:
    """The reference backward, with a classic mistake on request: ``derivative="activation"``
    multiplies by the activation instead of its derivative; ``skip_output`` treats dout as
    dC/dZ_L."""
    grads: dict[str, np.ndarray] = {}
    dA = dout
    for i in range(len(cache), 0, -1):
        layer = cache[i - 1]
        name, Z, A = layer["activation"], layer["Z"], layer["A"]
        if i == len(cache) and skip_output:
            dZ = dA
        elif name == "softmax":
            dZ = activations.softmax_backward(A, dA)
        elif derivative == "activation":
            dZ = dA * getattr(activations, name)(Z)
        else:
            dZ = dA * getattr(activations, name + "_prime")(Z)
        grads[f"W{i}"] = dZ.T @ layer["A_prev"]
        grads[f"b{i}"] = dZ.sum(axis=0)
        dA = dZ @ params[f"W{i}"]
    return {k: grads[k] for i in range(1, len(cache) + 1) for k in (f"W{i}", f"b{i}")}


# -- init_params -----------------------------------------------------------------------------
@graded("init_params", points=1.5, visibility="after_published")
def test_init_params_matches_reference(ctx: Context) -> None:
    """init_params draws the reference's weights from the same rng (std 1/sqrt(fan-in))"""
    for sizes in ([5, 4, 3], [4, 6, 5, 3]):
        s = ctx.seed()
        expected = ctx.ref.init_params(sizes, np.random.default_rng(s))
        wrong_scale = {k: v / np.sqrt(v.shape[1]) if k[0] == "W" else v
                       for k, v in expected.items()}
        ctx.expect_close(ctx.student.init_params(sizes, np.random.default_rng(s)), expected,
                         rtol=1e-12, atol=1e-15, what=f"init_params({sizes}, rng)",
                         variants={"init_scale": wrong_scale})
        ctx.expect_unchanged()


@graded("init_params", points=0.5, visibility="after_published")
def test_init_params_deterministic(ctx: Context) -> None:
    """init_params gives the same parameters for the same rng state, others for another"""
    sizes = [3, 5, 2]
    s = ctx.seed()
    first = ctx.student.init_params(sizes, np.random.default_rng(s))
    again = ctx.student.init_params(sizes, np.random.default_rng(s))
    ctx.expect_close(again, first, rtol=0.0, atol=1e-300,
                     what="a second init_params(sizes, rng) with the same rng state")
    other = ctx.student.init_params(sizes, np.random.default_rng(s + 1))
    ctx.expect(isinstance(other, dict) and isinstance(first, dict)
               and not np.array_equal(np.asarray(other.get("W1")), np.asarray(first.get("W1"))),
               "init_params gave the same W1 for two different rng states: draw every random "
               "number from the rng argument (rng.normal), not from np.random or a fixed seed")


# -- affine_forward, affine_backward ---------------------------------------------------------
@graded("affine_forward", points=1, visibility="after_published")
def test_affine_forward_matches_reference(ctx: Context) -> None:
    """affine_forward is A_prev @ W.T + b on random batches"""
    for n_in, n_out in ((5, 3), (4, 6)):
        A_prev = ctx.rng.normal(0.0, 1.0, size=(N, n_in))
        W = ctx.rng.normal(0.0, 1.0, size=(n_out, n_in))
        b = ctx.rng.normal(0.0, 1.0, size=n_out)
        ctx.expect_close(ctx.student.affine_forward(A_prev, W, b),
                         ctx.ref.affine_forward(A_prev, W, b), rtol=RTOL, atol=ATOL,
                         what=f"affine_forward(A_prev, W, b) for W of shape {W.shape}")
        ctx.expect_unchanged()
        ctx.expect_fresh()


def affine_case(ctx: Context, n_in: int, n_out: int) -> tuple[np.ndarray, ...]:
    dZ = ctx.rng.normal(0.0, 1.0, size=(N, n_out))
    A_prev = ctx.rng.normal(0.0, 1.0, size=(N, n_in))
    W = ctx.rng.normal(0.0, 1.0, size=(n_out, n_in))
    return dZ, A_prev, W


@graded("affine_backward", points=1.5, visibility="visible")
def test_affine_backward_matches_reference(ctx: Context) -> None:
    """affine_backward gives dA_prev = dZ @ W, dW = dZ.T @ A_prev, db = dZ summed over the batch"""
    for n_in, n_out in ((5, 3), (4, 6)):
        dZ, A_prev, W = affine_case(ctx, n_in, n_out)
        dA_prev, dW, db = ctx.ref.affine_backward(dZ, A_prev, W)
        ctx.expect_close(ctx.student.affine_backward(dZ, A_prev, W), (dA_prev, dW, db),
                         rtol=RTOL, atol=ATOL, batch_size=N,
                         what=f"affine_backward(dZ, A_prev, W) for W of shape {W.shape}",
                         variants={"sign_error": (dA_prev, -dW, -db)})


@graded("affine_backward", points=1, visibility="after_published")
def test_affine_backward_numerical(ctx: Context) -> None:
    """affine_backward agrees with finite differences of affine_forward"""
    dZ, A_prev, W = affine_case(ctx, 4, 3)
    b = ctx.rng.normal(0.0, 1.0, size=3)
    result = ctx.student.affine_backward(dZ, A_prev, W)
    ctx.expect(isinstance(result, tuple | list) and len(result) == 3,
               "affine_backward must return a tuple (dA_prev, dW, db)")
    forward = ctx.ref.affine_forward
    for got, what, numeric in (
        (result[0], "dA_prev", gradcheck.numerical_vjp(lambda a: forward(a, W, b), A_prev, dZ)),
        (result[1], "dW", gradcheck.numerical_vjp(lambda w: forward(A_prev, w, b), W, dZ)),
        (result[2], "db", gradcheck.numerical_vjp(lambda c: forward(A_prev, W, c), b, dZ)),
    ):
        # affine_forward is linear, so the numerical gradient's only error is round-off,
        # about u |f| / h (u = 2.2e-16, |f| ~ 10, h ~ 1e-5): up to ~3e-10 absolute, which the
        # floor must cover at tol 1e-6 (FLOOR = 1e-4 allowed 1e-10 and failed a correct tanh
        # style for one id in 50)
        ctx.expect_gradient(got, numeric, what=what, floor=10 * FLOOR)


@graded("affine_backward", points=0.5, visibility="hidden")
def test_affine_backward_properties(ctx: Context) -> None:
    """affine_backward returns float64 arrays and leaves dZ, A_prev and W unchanged"""
    dZ, A_prev, W = affine_case(ctx, 3, 5)
    result = ctx.student.affine_backward(dZ, A_prev, W)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect_close(result, ctx.ref.affine_backward(dZ, A_prev, W), rtol=RTOL, atol=ATOL,
                     what="affine_backward(dZ, A_prev, W)", batch_size=N)


# -- forward ---------------------------------------------------------------------------------
@graded("forward", points=1.5, visibility="after_published")
def test_forward_matches_reference(ctx: Context) -> None:
    """forward's output matches the reference for sigmoid/sigmoid and relu/softmax networks"""
    for sizes, hidden, output in CONFIGS:
        params, X = network(ctx, sizes, hidden, output)
        expected, cache = ctx.ref.forward(params, X, hidden, output)
        with ctx.isolated():
            result = ctx.student.forward(params, X, hidden, output)
        ctx.expect(isinstance(result, tuple | list) and len(result) == 2,
                   "forward must return a pair (out, cache)")
        logits = cache[-1]["Z"]  # the hidden activation, or none, on the last layer
        variants = {"output_activation": logits if hidden == output
                    else getattr(ctx.reference("activations"), hidden)(logits)}
        ctx.expect_close(result[0], expected, rtol=RTOL, atol=ATOL,
                         what=f"out = forward(params, X, {hidden!r}, {output!r})[0] for sizes "
                         f"{sizes}", variants=variants)


@graded("forward", points=0.5, visibility="after_published")
def test_forward_properties(ctx: Context) -> None:
    """forward leaves params and X unchanged and uses the default activations (sigmoid)"""
    params, X = network(ctx, [3, 4, 2])
    with ctx.isolated():
        result = ctx.student.forward(params, X)
    ctx.expect_unchanged()
    ctx.expect(isinstance(result, tuple | list) and len(result) == 2,
               "forward must return a pair (out, cache)")
    ctx.expect_close(result[0], ctx.ref.forward(params, X)[0], rtol=RTOL, atol=ATOL,
                     what="forward(params, X)[0]")


# -- backward --------------------------------------------------------------------------------
def student_backward_tries(ctx: Context, params: dict[str, np.ndarray], X: np.ndarray,
                           dout: np.ndarray, hidden: str,
                           output: str) -> list[Callable[[], Any]]:
    """Backward on the cache of the student's own forward, then on the reference's cache (in
    the documented layout), so that a mistake in forward does not cost backward's points."""
    def with_own_cache() -> Any:
        cache = None
        with ctx.isolated():
            try:
                result = ctx.student.forward(params, X, hidden, output)
                if isinstance(result, tuple | list) and len(result) == 2:
                    cache = result[1]
            except StudentError:
                pass
        if cache is None:  # no usable forward of the student's: the documented cache
            cache = ctx.ref.forward(params, X, hidden, output)[1]
        with ctx.isolated():
            return ctx.student.backward(params, cache, dout)

    def with_reference_cache() -> Any:
        cache = ctx.ref.forward(params, X, hidden, output)[1]
        with ctx.isolated():
            return ctx.student.backward(params, cache, dout)

    return [with_own_cache, with_reference_cache]


@graded("backward", points=2, visibility="visible")
def test_backward_matches_reference(ctx: Context) -> None:
    """backward's grads match the reference for sigmoid/sigmoid and relu/softmax networks"""
    for sizes, hidden, output in CONFIGS:
        params, X = network(ctx, sizes, hidden, output)
        dout = ctx.rng.normal(0.0, 1.0, size=(N, sizes[-1])) / N
        _, cache = ctx.ref.forward(params, X, hidden, output)
        expected = ctx.ref.backward(params, cache, dout)
        act = ctx.reference("activations")
        variants = {
            "output_derivative_skipped": manual_backward(act, params, cache, dout,
                                                         skip_output=True),
            "activation_instead_of_derivative": manual_backward(act, params, cache, dout,
                                                                derivative="activation"),
        }
        what = f"backward(params, cache, dout) for {hidden}/{output} sizes {sizes}"
        ctx.expect_any(student_backward_tries(ctx, params, X, dout, hidden, output),
                       lambda out, expected=expected, variants=variants, what=what:
                       ctx.expect_close(out, expected, rtol=RTOL, atol=ATOL, what=what,
                                        variants=variants, batch_size=N))
        ctx.expect_unchanged()


@graded("backward", points=1, visibility="after_published")
def test_backward_numerical(ctx: Context) -> None:
    """backward agrees with finite differences of the network (random directions)"""
    sizes, hidden, output = [4, 5, 3], "sigmoid", "softmax"
    params, X = network(ctx, sizes, hidden, output)
    dout = ctx.rng.normal(0.0, 1.0, size=(N, sizes[-1])) / N
    directions = ctx.seed()

    def expect_directional(grads: Any) -> None:
        def weighted_output(p: dict[str, np.ndarray]) -> float:
            return float(np.sum(dout * ctx.ref.forward(p, X, hidden, output)[0]))

        result = check_directional(weighted_output, params,
                                   grads if isinstance(grads, dict) else {},
                                   np.random.default_rng(directions))
        ctx.expect(result.ok, "backward(params, cache, dout) disagrees with finite differences "
                   f"of sum(dout * out):\n{result.message}")

    ctx.expect_any(student_backward_tries(ctx, params, X, dout, hidden, output),
                   expect_directional)


# -- loss_and_grads --------------------------------------------------------------------------
def loss_and_grads_case(ctx: Context, sizes: list[int], hidden: str, output: str,
                        loss: str) -> None:
    params, X = network(ctx, sizes, hidden, output)
    Y = targets(ctx, N, sizes[-1], loss)
    expected = ctx.ref.loss_and_grads(params, X, Y, hidden, output, loss)
    variants: dict[str, Any] = {}
    if loss == "ce":
        _, cache = ctx.ref.forward(params, X, hidden, output)
        _, dlogits = ctx.reference("losses").softmax_cross_entropy(cache[-1]["Z"], Y)
        variants["ce_double_softmax"] = (expected[0], ctx.ref.backward(params, cache, dlogits))

    def isolated() -> Any:
        with ctx.isolated():
            return ctx.student.loss_and_grads(params, X, Y, hidden, output, loss)

    def own_forward_backward() -> Any:
        with ctx.isolated(*ACTIVATIONS, *LOSSES, "mlp.affine_forward", "mlp.affine_backward"):
            return ctx.student.loss_and_grads(params, X, Y, hidden, output, loss)

    what = f"loss_and_grads(params, X, Y, {hidden!r}, {output!r}, {loss!r})"
    ctx.expect_any([isolated, own_forward_backward],
                   lambda out: ctx.expect_close(out, expected, rtol=RTOL, atol=ATOL, what=what,
                                                variants=variants, batch_size=N))
    ctx.expect_unchanged()


@graded("loss_and_grads", points=1, visibility="after_published")
def test_loss_and_grads_sse(ctx: Context) -> None:
    """loss_and_grads matches the reference with the squared error (sigmoid and softmax)"""
    loss_and_grads_case(ctx, [5, 4, 3], "sigmoid", "sigmoid", "sse")
    loss_and_grads_case(ctx, [3, 6, 4], "relu", "softmax", "sse")


@graded("loss_and_grads", points=1, visibility="after_published")
def test_loss_and_grads_ce(ctx: Context) -> None:
    """loss_and_grads matches the reference with softmax cross-entropy (fused dlogits)"""
    loss_and_grads_case(ctx, [5, 4, 3], "sigmoid", "softmax", "ce")
    loss_and_grads_case(ctx, [4, 6, 5, 3], "relu", "softmax", "ce")


# -- gradient_vector, predict, accuracy ------------------------------------------------------
@graded("gradient_vector", points=1, visibility="after_published")
def test_gradient_vector_order(ctx: Context) -> None:
    """gradient_vector is [W1, b1, W2, b2, ...] flattened row-major, whatever the dict order"""
    params, _ = network(ctx, [4, 6, 5, 3])
    grads = {k: ctx.rng.normal(0.0, 1.0, size=v.shape) for k, v in params.items()}
    for keys in (sorted(grads), ["b2", "W3", "W1", "b3", "b1", "W2"]):
        shuffled = {k: grads[k] for k in keys}
        in_dict_order = np.concatenate([shuffled[k].ravel() for k in keys])
        ctx.expect_close(ctx.student.gradient_vector(shuffled), ctx.ref.gradient_vector(grads),
                         rtol=0.0, atol=1e-300, what=f"gradient_vector(grads) for keys in "
                         f"the order {keys}", variants={"gradient_vector_order": in_dict_order})
        ctx.expect_unchanged()


@graded("predict", points=1, visibility="after_published")
def test_predict_matches_reference(ctx: Context) -> None:
    """predict gives the index of the largest output of each example"""
    for sizes, hidden, output in CONFIGS:
        params, X = network(ctx, sizes, hidden, output, n=11)
        with ctx.isolated():
            labels = ctx.student.predict(params, X, hidden, output)
        ctx.expect_unchanged()
        ctx.expect_close(labels, ctx.ref.predict(params, X, hidden, output), rtol=0.0,
                         atol=1e-300, what=f"predict(params, X, {hidden!r}, {output!r})")


@graded("accuracy", points=1, visibility="after_published")
def test_accuracy_matches_reference(ctx: Context) -> None:
    """accuracy is the fraction of examples whose predicted class is the label"""
    for sizes, hidden, output in CONFIGS:
        params, X = network(ctx, sizes, hidden, output, n=11)
        labels = ctx.ref.predict(params, X, hidden, output)
        wrong = ctx.rng.choice(11, size=4, replace=False)
        labels[wrong] = (labels[wrong] + 1) % sizes[-1]
        with ctx.isolated():
            value = ctx.student.accuracy(params, X, labels, hidden, output)
        ctx.expect_unchanged()
        ctx.expect_close(value, 7 / 11, rtol=1e-12, atol=1e-15, batch_size=11,
                         what=f"accuracy(params, X, labels, {hidden!r}, {output!r}) with 7 of "
                         "11 right")
