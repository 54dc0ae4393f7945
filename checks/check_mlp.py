"""Public checks of mlp.py: known values from the contract's formulas, and your backward and
loss_and_grads against finite differences of your own forward pass and loss."""

import numpy as np

from grader.authoring import CheckFailed, Context, check_directional, gradcheck, public

from course_helpers import FLOOR, sigmoid

# A 3-4-2 network and a batch of N = 5 examples (N differs from every layer width).
RNG = np.random.default_rng(2024)
PARAMS = {"W1": RNG.normal(0.0, 0.8, size=(4, 3)), "b1": RNG.normal(0.0, 0.5, size=4),
          "W2": RNG.normal(0.0, 0.8, size=(2, 4)), "b2": RNG.normal(0.0, 0.5, size=2)}
X = RNG.normal(0.0, 1.0, size=(5, 3))
LABELS = np.array([0, 1, 1, 0, 1])
Y = np.eye(2)[LABELS]
DOUT = RNG.normal(0.0, 1.0, size=(5, 2)) / 5


@public("init_params")
def check_init_params_known_draws(ctx: Context) -> None:
    """init_params([3, 4, 2], rng) draws W1 then W2 with rng.normal(0, 1/sqrt(fan-in)), b zero"""
    rng = np.random.default_rng(7)
    W1 = rng.normal(0.0, 1.0 / np.sqrt(3), size=(4, 3))
    W2 = rng.normal(0.0, 1.0 / np.sqrt(4), size=(2, 4))
    expected = {"W1": W1, "b1": np.zeros(4), "W2": W2, "b2": np.zeros(2)}
    wrong_scale = {"W1": W1 / np.sqrt(3), "b1": np.zeros(4), "W2": W2 / 2, "b2": np.zeros(2)}
    ctx.expect_close(ctx.student.init_params([3, 4, 2], np.random.default_rng(7)), expected,
                     rtol=1e-12, atol=1e-15, what="init_params([3, 4, 2], default_rng(7))",
                     variants={"init_scale": wrong_scale})
    ctx.expect_unchanged()


@public("affine_forward")
def check_affine_forward_known_value(ctx: Context) -> None:
    """affine_forward(A_prev, W, b) is A_prev @ W.T + b, of shape (N, n_l)"""
    A_prev = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    W = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.5], [0.0, 0.0, 1.0], [-1.0, 1.0, 1.0]])
    b = np.array([0.5, -0.5, 0.0, 1.0])
    expected = np.array([[1.5, 3.5, 0.0, 2.0], [-2.5, -0.0, 3.0, 3.0]])
    ctx.expect_close(ctx.student.affine_forward(A_prev, W, b), expected, rtol=1e-12,
                     atol=1e-15, what="affine_forward(A_prev, W, b)")
    ctx.expect_unchanged()
    ctx.expect_fresh()


@public("affine_backward")
def check_affine_backward_numerical(ctx: Context) -> None:
    """affine_backward agrees with finite differences of your affine_forward"""
    A_prev, W, b = X[:3, :2], PARAMS["W1"][:, :2], PARAMS["b1"]
    dZ = DOUT[:3, :1] * np.array([[1.0, -2.0, 0.5, 3.0]])
    result = ctx.student.affine_backward(dZ, A_prev, W)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect(isinstance(result, tuple | list) and len(result) == 3,
               "affine_backward must return a tuple (dA_prev, dW, db)")
    forward = ctx.student.affine_forward
    with ctx.blame_other_stubs("affine_backward"):
        numeric = [gradcheck.numerical_vjp(lambda a: forward(a, W, b), A_prev, dZ),
                   gradcheck.numerical_vjp(lambda w: forward(A_prev, w, b), W, dZ),
                   gradcheck.numerical_vjp(lambda c: forward(A_prev, W, c), b, dZ)]
    for got, num, what in zip(result, numeric, ("dA_prev", "dW", "db"), strict=True):
        ctx.expect_gradient(got, num, what=what, floor=FLOOR)


@public("forward")
def check_forward_known_value(ctx: Context) -> None:
    """forward of a 3-4-2 sigmoid network is sigmoid(sigmoid(X W1^T + b1) W2^T + b2)"""
    out = sigmoid(sigmoid(X @ PARAMS["W1"].T + PARAMS["b1"]) @ PARAMS["W2"].T + PARAMS["b2"])
    with ctx.blame_other_stubs("forward"):
        result = ctx.student.forward(PARAMS, X)
    ctx.expect_unchanged()
    ctx.expect(isinstance(result, tuple | list) and len(result) == 2,
               "forward must return a pair (out, cache)")
    ctx.expect_close(result[0], out, rtol=1e-9, atol=1e-12, what="forward(params, X)[0]")


@public("forward")
def check_forward_relu_softmax(ctx: Context) -> None:
    """forward with relu hidden and softmax output gives rows that sum to 1"""
    hidden = np.maximum(X @ PARAMS["W1"].T + PARAMS["b1"], 0.0)
    logits = hidden @ PARAMS["W2"].T + PARAMS["b2"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    with ctx.blame_other_stubs("forward"):
        result = ctx.student.forward(PARAMS, X, "relu", "softmax")
    ctx.expect(isinstance(result, tuple | list) and len(result) == 2,
               "forward must return a pair (out, cache)")
    ctx.expect_close(result[0], e / e.sum(axis=1, keepdims=True), rtol=1e-9, atol=1e-12,
                     what="forward(params, X, 'relu', 'softmax')[0]")


def documented_cache(hidden: str, output: str) -> list[dict[str, object]]:
    """The cache in the layout forward's docstring suggests."""
    Z1 = X @ PARAMS["W1"].T + PARAMS["b1"]
    A1 = sigmoid(Z1) if hidden == "sigmoid" else np.maximum(Z1, 0.0)
    Z2 = A1 @ PARAMS["W2"].T + PARAMS["b2"]
    e = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
    A2 = sigmoid(Z2) if output == "sigmoid" else e / e.sum(axis=1, keepdims=True)
    return [{"activation": hidden, "A_prev": X, "Z": Z1, "A": A1},
            {"activation": output, "A_prev": A1, "Z": Z2, "A": A2}]


def directional(ctx: Context, loss: object, grads: object, what: str) -> None:
    result = check_directional(loss, PARAMS, grads,  # type: ignore[arg-type]
                               np.random.default_rng(5))
    ctx.expect(result.ok, f"{what} disagrees with finite differences:\n{result.message}")


@public("backward")
def check_backward_numerical(ctx: Context) -> None:
    """backward agrees with finite differences of your forward (sigmoid and relu/softmax)"""
    for hidden, output in (("sigmoid", "sigmoid"), ("relu", "softmax")):
        with ctx.blame_other_stubs("backward"):
            try:
                _, cache = ctx.student.forward(PARAMS, X, hidden, output)
            except CheckFailed:  # forward is not implemented: is backward a stub too?
                ctx.student.backward(PARAMS, documented_cache(hidden, output), DOUT)
                raise
            grads = ctx.student.backward(PARAMS, cache, DOUT)
        ctx.expect_unchanged()

        def weighted_out(p: dict[str, np.ndarray], hidden: str = hidden,
                         output: str = output) -> float:
            return float(np.sum(DOUT * ctx.student.forward(p, X, hidden, output)[0]))

        directional(ctx, weighted_out, grads,
                    f"backward(params, cache, dout) for {hidden}/{output}")


@public("loss_and_grads")
def check_loss_and_grads_numerical(ctx: Context) -> None:
    """loss_and_grads gives the mean squared error or cross-entropy, and its exact gradient
    (sigmoid/sigmoid and relu/softmax with the squared error, relu/softmax with cross-entropy)"""
    for hidden, output, loss, targets in (("sigmoid", "sigmoid", "sse", Y),
                                          ("relu", "softmax", "sse", Y),
                                          ("relu", "softmax", "ce", LABELS)):
        with ctx.blame_other_stubs("loss_and_grads"):
            value, grads = ctx.student.loss_and_grads(PARAMS, X, targets, hidden, output,
                                                      loss)
            ctx.expect_unchanged()
            out = ctx.student.forward(PARAMS, X, hidden, output)[0]
        with np.errstate(all="ignore"):
            expected = (np.mean(np.sum((out - Y) ** 2, axis=1)) if loss == "sse"
                        else -np.mean(np.log(out[np.arange(5), LABELS])))
        ctx.expect_close(value, float(expected), rtol=1e-9, atol=1e-12, batch_size=5,
                         what=f"the loss of loss_and_grads(..., {hidden!r}, {output!r}, "
                         f"{loss!r}) (from your forward's output)")

        def loss_of(p: dict[str, np.ndarray], hidden: str = hidden, output: str = output,
                    loss: str = loss, targets: np.ndarray = targets) -> float:
            return float(ctx.student.loss_and_grads(p, X, targets, hidden, output, loss)[0])

        directional(ctx, loss_of, grads, f"the grads of loss_and_grads(..., {hidden!r}, "
                    f"{output!r}, {loss!r})")


@public("gradient_vector")
def check_gradient_vector_order(ctx: Context) -> None:
    """gradient_vector orders the entries [W1, b1, W2, b2], each flattened row-major"""
    grads = {"b2": np.array([9.0]), "W2": np.array([[7.0, 8.0]]), "b1": np.array([5.0, 6.0]),
             "W1": np.array([[1.0, 2.0], [3.0, 4.0]])}
    ctx.expect_close(ctx.student.gradient_vector(grads), np.arange(1.0, 10.0), rtol=0.0,
                     atol=1e-300, what="gradient_vector(grads)",
                     variants={"gradient_vector_order": np.array([9, 7, 8, 5, 6, 1, 2, 3, 4.0])})
    ctx.expect_unchanged()
    ordered = {k: grads[k] for k in sorted(grads)}
    ctx.expect_close(ctx.student.gradient_vector(ordered), np.arange(1.0, 10.0), rtol=0.0,
                     atol=1e-300, what="gradient_vector(grads) with keys W1, W2, b1, b2",
                     variants={"gradient_vector_order": np.array([1, 2, 3, 4, 7, 8, 5, 6, 9.0])})


# One sigmoid layer, 2 inputs -> 3 classes: the largest output is the largest of X @ W.T.
W_ONE = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
X_ONE = np.array([[2.0, 1.0], [0.0, 3.0], [-2.0, -1.0], [1.0, 0.5]])


@public("predict")
def check_predict_known_labels(ctx: Context) -> None:
    """predict gives the index of each row's largest output, as integers, whatever the
    activations (each is monotone: the largest logit stays the largest)"""
    params = {"W1": W_ONE, "b1": np.zeros(3)}
    for activations in ((), ("relu", "softmax"), ("sigmoid", "softmax"), ("relu", "sigmoid")):
        with ctx.blame_other_stubs("predict"):
            labels = ctx.student.predict(params, X_ONE, *activations)
        ctx.expect_close(labels, np.array([0, 1, 2, 0]), rtol=0.0, atol=1e-300,
                         what=f"predict(params, X{''.join(f', {a!r}' for a in activations)})")
        ctx.expect_unchanged()


@public("accuracy")
def check_accuracy_known_value(ctx: Context) -> None:
    """accuracy is the fraction of right predictions (3 of 4: 0.75), whatever the activations"""
    params = {"W1": W_ONE, "b1": np.zeros(3)}
    for activations in ((), ("relu", "softmax"), ("sigmoid", "sigmoid")):
        with ctx.blame_other_stubs("accuracy"):
            value = ctx.student.accuracy(params, X_ONE, np.array([0, 1, 2, 2]), *activations)
        ctx.expect_close(value, 0.75, rtol=1e-12, atol=1e-15, batch_size=4,
                         what=f"accuracy(params, X, labels"
                         f"{''.join(f', {a!r}' for a in activations)})")
        ctx.expect_unchanged()
