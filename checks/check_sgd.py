"""Public checks of sgd.py: mini-batches from rng.permutation, one step p - lr * g, and a
training loop whose loss falls (with your own mlp.py and losses.py)."""

import numpy as np

from grader.authoring import CheckFailed, Context, compare, public


@public("minibatches")
def check_minibatches_known_batches(ctx: Context) -> None:
    """minibatches(23, 5, rng) cuts rng.permutation(23) into batches of 5, 5, 5, 5 and 3"""
    perm = np.random.default_rng(3).permutation(23)
    expected = [perm[i:i + 5] for i in range(0, 23, 5)]
    batches = ctx.student.minibatches(23, 5, np.random.default_rng(3))
    ctx.expect_close(batches, expected, rtol=0.0, atol=1e-300,
                     what="minibatches(23, 5, default_rng(3))",
                     variants={"minibatch_no_shuffle": [np.arange(23)[i:i + 5]
                                                        for i in range(0, 23, 5)],
                               "minibatch_drops_last": expected[:-1]})
    again = ctx.student.minibatches(23, 5, np.random.default_rng(3))
    ctx.expect_close(again, batches, rtol=0.0, atol=1e-300,
                     what="a second call with the same rng state (must be identical)")


@public("minibatches")
def check_minibatches_partition(ctx: Context) -> None:
    """minibatches(n, batch_size, rng) uses every index of range(n) exactly once, in batches
    of batch_size (the last may be smaller), and gives no batch for n = 0"""
    for n, batch_size in ((12, 4), (7, 10), (30, 7), (0, 3)):
        what = f"minibatches({n}, {batch_size}, rng)"
        batches = ctx.student.minibatches(n, batch_size, np.random.default_rng(n))
        ctx.expect(isinstance(batches, list) and all(isinstance(b, np.ndarray) and b.ndim == 1
                                                      for b in batches),
                   f"{what} must return a list of 1-D index arrays")
        sizes = [len(b) for b in batches]
        want = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
        found = ctx.catalogue.diagnose_batches(batches, n, name=what)
        if found is not None:
            raise CheckFailed(f"{what} does not use every index of range({n}) exactly once",
                              found)
        ctx.expect(sizes == want, f"{what} gave batches of sizes {sizes}, expected {want}",
                   misconception="minibatch_drops_last" if sizes == want[:-1] else None)


@public("sgd_step")
def check_sgd_step_known_value(ctx: Context) -> None:
    """sgd_step returns p - lr * g and leaves params and grads unchanged"""
    params = {"W1": np.array([[1.0, -2.0], [0.5, 0.0]]), "b1": np.array([0.1, 0.2])}
    grads = {"W1": np.array([[0.5, 1.0], [-1.0, 2.0]]), "b1": np.array([1.0, -1.0])}
    expected = {"W1": np.array([[0.95, -2.1], [0.6, -0.2]]), "b1": np.array([0.0, 0.3])}
    result = ctx.student.sgd_step(params, grads, 0.1)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect(isinstance(result, dict), "sgd_step must return a dict of new parameters")
    ctx.expect_close(result, expected, rtol=1e-12, atol=1e-15, what="sgd_step(params, grads, 0.1)",
                     variants={"sign_error": {k: params[k] + 0.1 * grads[k] for k in params}})


# A small 3-4-2 problem: 10 examples, two classes separated by the sign of x0 + x1.
RNG = np.random.default_rng(11)
X = RNG.normal(0.0, 1.0, size=(10, 3))
Y = np.eye(2)[(X[:, 0] + X[:, 1] > 0).astype(int)]
PARAMS = {"W1": RNG.normal(0.0, 0.6, size=(4, 3)), "b1": np.zeros(4),
          "W2": RNG.normal(0.0, 0.5, size=(2, 4)), "b2": np.zeros(2)}


@public("train")
def check_train_loss_falls(ctx: Context) -> None:
    """train's loss falls over 20 epochs of SGD, reproducibly, and params stay unchanged"""
    options = dict(epochs=20, batch_size=4, lr=2.0)
    with ctx.blame_other_stubs("train"):  # a stub in mlp.py or losses.py is not train's
        result = ctx.student.train(PARAMS, X, Y, rng=np.random.default_rng(1), **options)
    ctx.expect_unchanged()
    ctx.expect(isinstance(result, tuple | list) and len(result) == 2,
               "train must return a pair (params, history)")
    _, history = result
    ctx.expect(isinstance(history, list) and len(history) == 20,
               "history must be a list with one loss per epoch (20 here)")
    h = np.asarray(history, dtype=np.float64)
    ctx.expect(bool(np.isfinite(h).all()) and h[-1] < 0.9 * h[0],
               "the loss did not fall over 20 epochs: history[0] = "
               f"{h[0]:.4g}, history[-1] = {h[-1]:.4g}. Step against the gradient "
               "(p - lr * g) and continue from the params sgd_step returns.",
               misconception="sign_error" if np.isfinite(h).all() and h[-1] > h[0] else None)
    again = ctx.student.train(PARAMS, X, Y, rng=np.random.default_rng(1), **options)
    ctx.expect_close(again, result, rtol=0.0, atol=1e-300,
                     what="a second train(...) with the same rng state (must be identical)")


@public("train")
def check_train_history_is_the_epoch_loss(ctx: Context) -> None:
    """with lr = 0, params do not move and every history entry is the loss of the whole set"""
    with ctx.blame_other_stubs("train"):
        trained, history = ctx.student.train(PARAMS, X, Y, epochs=2, batch_size=4, lr=0.0,
                                              rng=np.random.default_rng(2))
        loss_and_grads = ctx.student_module("mlp").loss_and_grads
        full, _ = loss_and_grads(PARAMS, X, Y)
        # 10 examples in batches of 4, 4, 2: the batch losses weighted by batch size average
        # to the loss of all 10; a plain mean of the three over-weights the last batch
        rng = np.random.default_rng(2)
        unweighted = [float(np.mean([loss_and_grads(PARAMS, X[idx], Y[idx])[0]
                                     for idx in np.split(rng.permutation(10), [4, 8])]))
                      for _ in range(2)]
    ctx.expect_close(history, [full, full], rtol=1e-9, atol=1e-12,
                     what="history of train(..., lr=0.0) (the loss of the whole set each epoch)",
                     variants={"history_unweighted_mean": unweighted})
    ctx.expect_close(trained, PARAMS, rtol=0.0, atol=1e-300,
                     what="the params of train(..., lr=0.0)")


def contract_loop(ctx: Context, params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray,
                  rng: np.random.Generator, *, epochs: int, batch_size: int, lr: float,
                  hidden: str, output: str, loss: str, shuffle_once: bool = False,
                  unweighted: bool = False) -> tuple[dict[str, np.ndarray], list[float]]:
    """train as its docstring spells it out, from your own minibatches, loss_and_grads and
    sgd_step (or with one of two classic mistakes in the loop, to name them)."""
    mlp = ctx.student_module("mlp")

    def shuffle() -> list[np.ndarray]:
        batches = ctx.student.minibatches(len(X), batch_size, rng)
        rng.permutation(len(X))  # the generator crossed to your code as a copy: advance ours
        return batches           # as your minibatches advanced its own (one permutation)

    history = []
    once = shuffle() if shuffle_once else None
    for _ in range(epochs):
        batches = once if once is not None else shuffle()
        losses, sizes = [], []
        for idx in batches:
            batch_loss, grads = mlp.loss_and_grads(params, X[idx], Y[idx], hidden, output, loss)
            losses.append(float(batch_loss))
            sizes.append(len(idx))
            params = ctx.student.sgd_step(params, grads, lr)
        history.append(float(np.mean(losses)) if unweighted
                       else float(np.dot(losses, sizes) / len(X)))
    return params, history


@public("train")
def check_train_is_the_contract_loop(ctx: Context) -> None:
    """train is the docstring's loop over your minibatches (once per epoch), loss_and_grads and
    sgd_step: sigmoid/SSE with one-hot targets and relu/softmax/cross-entropy with labels"""
    labels = np.argmax(Y, axis=1)
    cases = [(Y, dict(epochs=3, batch_size=4, lr=0.5, hidden="sigmoid", output="sigmoid",
                      loss="sse")),
             (labels, dict(epochs=2, batch_size=3, lr=0.2, hidden="relu", output="softmax",
                           loss="ce"))]
    for targets, options in cases:
        with ctx.blame_other_stubs("train"):
            result = ctx.student.train(PARAMS, X, targets, rng=np.random.default_rng(5),
                                       **options)
            ctx.expect_unchanged()
            expected = contract_loop(ctx, PARAMS, X, targets, np.random.default_rng(5),
                                     **options)  # type: ignore[arg-type]
            variants = {}
            if not compare(result, expected, rtol=1e-9, atol=1e-12).ok:  # name the mistake
                variants = {key: contract_loop(ctx, PARAMS, X, targets,
                                               np.random.default_rng(5), **options,
                                               **{flag: True})  # type: ignore[arg-type]
                            for key, flag in (("shuffle_once", "shuffle_once"),
                                              ("history_unweighted_mean", "unweighted"))}
        ctx.expect_close(result, expected, rtol=1e-9, atol=1e-12, variants=variants,
                         what=f"train(params, X, Y, rng=default_rng(5), {options}) compared "
                         "with the loop of its docstring run on your own functions")


@public("train")
def check_train_zero_epochs(ctx: Context) -> None:
    """train(..., epochs=0) returns arrays equal to params and an empty history"""
    with ctx.blame_other_stubs("train"):
        result = ctx.student.train(PARAMS, X, Y, epochs=0, batch_size=4, lr=1.0,
                                   rng=np.random.default_rng(3))
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect_close(result, (PARAMS, []), rtol=0.0, atol=1e-300,
                     what="train(params, X, Y, epochs=0, ...) (the same params, no history)")
