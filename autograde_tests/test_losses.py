"""Hidden tests of losses.py: the batch squared error, its gradient, one-hot, cross-entropy."""

import numpy as np

from grader import gradcheck, misconceptions
from grader.misconceptions import Misconception
from grader.testing import CheckFailed, Context, graded

for _m in (
    Misconception(
        "half_in_cost", "A 1/2 in the cost",
        "This course's cost has no 1/2: C_k = sum_j (a_j - y_j)^2, the batch cost is the mean "
        "of C_k, and dC/dA = 2 (A - Y) / N.", "is half the expected cost"),
    Misconception(
        "mean_over_all_entries", "Mean over every entry instead of over the examples",
        "Sum the squared errors over the outputs j of each example, then average over the N "
        "examples: np.mean(np.sum((A - Y) ** 2, axis=1)). np.mean((A - Y) ** 2) also divides "
        "by the number of outputs (and so does a gradient 2 (A - Y) / A.size).",
        "is the expected value divided by the number of outputs per example"),
):
    misconceptions.register(_m, replace=True)
if "softmax_wrong_axis" not in misconceptions.CATALOGUE:  # shared with activations
    misconceptions.register(Misconception(
        "softmax_wrong_axis", "Softmax over the wrong axis",
        "Each row of a (N, C) batch is one example's distribution: take the max and the sum "
        "over the last axis, np.sum(e, axis=-1, keepdims=True), so every row sums to 1.",
        "is normalised over the wrong axis (columns sum to 1, not rows)"))

# What softmax_cross_entropy may call: replaced by the reference while it is graded.
HELPERS = ("losses.one_hot", "activations.softmax")
# Batch shapes (N, C): N > 2, N != C, C != 2, so that a factor N, a factor C, a factor 2 and a
# transpose are all told apart.
SHAPES = [(7, 3), (5, 4), (6, 10)]


def expect_gradient(ctx: Context, analytic: object, numeric: np.ndarray, *, what: str,
                    floor: float = 1e-4) -> None:
    """``ctx.expect_gradient`` with a larger floor of the relative error's denominator: the
    central difference's round-off (about 1e-11 |f|) must not fail an entry that is merely
    tiny, and a real mistake shows on the large entries."""
    result = gradcheck.check_gradient(analytic, numeric, floor=floor, name=what)
    if not result.ok:
        raise CheckFailed(result.message)
    ctx.passed()


def batch(ctx: Context, n: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """Outputs in (0, 1) and one-hot targets, as from a sigmoid network."""
    A = ctx.rng.uniform(0.0, 1.0, size=(n, c))
    Y = np.eye(c)[ctx.rng.integers(0, c, size=n)]
    return A, Y


def labels_for(ctx: Context, n: int, c: int) -> np.ndarray:
    return ctx.rng.integers(0, c, size=n)


def ce_wrong_axis(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Cross-entropy with the softmax taken down each column (axis 0)."""
    n, c = logits.shape
    shifted = logits - logits.max(axis=0, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
    return -float(np.mean(log_p[np.arange(n), labels])), (np.exp(log_p) - np.eye(c)[labels]) / n


# -- sse -------------------------------------------------------------------------------------
@graded("sse", points=1.5, visibility="visible")
def test_sse_matches_reference(ctx: Context) -> None:
    """sse matches the reference on random batches"""
    for n, c in SHAPES:
        A, Y = batch(ctx, n, c)
        expected = ctx.ref.sse(A, Y)
        ctx.expect_close(ctx.student.sse(A, Y), expected, rtol=1e-9, atol=1e-12,
                         what=f"sse(A, Y) for A of shape {A.shape}", batch_size=n,
                         variants={"half_in_cost": expected / 2,
                                   "mean_over_all_entries": expected / c})


@graded("sse", points=0.5, visibility="after_published")
def test_sse_properties(ctx: Context) -> None:
    """sse returns one float and leaves A and Y unchanged"""
    A, Y = batch(ctx, 5, 3)
    value = ctx.student.sse(A, Y)
    ctx.expect_unchanged()
    ctx.expect_close(value, ctx.ref.sse(A, Y), rtol=1e-9, atol=1e-12, what="sse(A, Y)")
    ctx.expect_close(ctx.student.sse(Y, Y), 0.0, rtol=0.0, atol=1e-15, what="sse(Y, Y)")


# -- sse_grad --------------------------------------------------------------------------------
@graded("sse_grad", points=1, visibility="after_published")
def test_sse_grad_matches_reference(ctx: Context) -> None:
    """sse_grad is 2 (A - Y) / N on random batches"""
    for n, c in SHAPES:
        A, Y = batch(ctx, n, c)
        expected = ctx.ref.sse_grad(A, Y)
        ctx.expect_close(ctx.student.sse_grad(A, Y), expected, rtol=1e-9, atol=1e-14,
                         what=f"sse_grad(A, Y) for A of shape {A.shape}", batch_size=n,
                         variants={"mean_over_all_entries": expected / c})


@graded("sse_grad", points=0.5, visibility="after_published")
def test_sse_grad_numerical(ctx: Context) -> None:
    """sse_grad agrees with finite differences of the batch cost"""
    A, Y = batch(ctx, 5, 3)
    grad = ctx.student.sse_grad(A, Y)
    numeric = gradcheck.numerical_gradient(lambda a: ctx.ref.sse(a, Y), A)
    expect_gradient(ctx, grad, numeric, what="sse_grad(A, Y)")


@graded("sse_grad", points=0.5, visibility="hidden")
def test_sse_grad_properties(ctx: Context) -> None:
    """sse_grad returns a new float64 array of A's shape and leaves A and Y unchanged"""
    A, Y = batch(ctx, 6, 4)
    grad = ctx.student.sse_grad(A, Y)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect_close(grad, ctx.ref.sse_grad(A, Y), rtol=1e-9, atol=1e-14,
                     what="sse_grad(A, Y)", batch_size=6)


# -- one_hot ---------------------------------------------------------------------------------
@graded("one_hot", points=1, visibility="after_published")
def test_one_hot_matches_reference(ctx: Context) -> None:
    """one_hot matches the reference (float64, one column per class, even unused ones)"""
    for n, c, dtype in ((7, 5, np.int64), (6, 4, np.int32), (3, 8, np.int64)):
        labels = ctx.rng.integers(0, min(c, n) - 1, size=n).astype(dtype)
        ctx.expect_close(ctx.student.one_hot(labels, c), ctx.ref.one_hot(labels, c),
                         rtol=0.0, atol=1e-15, what=f"one_hot(labels, {c}) with N = {n}")
        ctx.expect_unchanged()


# -- softmax_cross_entropy -------------------------------------------------------------------
@graded("softmax_cross_entropy", points=2, visibility="visible")
def test_softmax_cross_entropy_matches_reference(ctx: Context) -> None:
    """softmax_cross_entropy matches the reference (loss and dlogits) on random logits"""
    for n, c in SHAPES:
        logits = ctx.rng.normal(0.0, 3.0, size=(n, c))
        labels = labels_for(ctx, n, c)
        loss, dlogits = ctx.ref.softmax_cross_entropy(logits, labels)
        with ctx.isolated(*HELPERS):
            result = ctx.student.softmax_cross_entropy(logits, labels)
        ctx.expect_close(result, (loss, dlogits),
                         rtol=1e-9, atol=1e-14, batch_size=n,
                         what=f"softmax_cross_entropy(logits, labels) for N, C = {n}, {c}",
                         variants={"sign_error": (loss, -dlogits),
                                   "softmax_wrong_axis": ce_wrong_axis(logits, labels)})


@graded("softmax_cross_entropy", points=1, visibility="after_published")
def test_softmax_cross_entropy_numerical(ctx: Context) -> None:
    """dlogits agrees with finite differences of the mean cross-entropy"""
    logits = ctx.rng.normal(0.0, 1.0, size=(5, 4))
    labels = labels_for(ctx, 5, 4)
    with ctx.isolated(*HELPERS):
        _, dlogits = ctx.student.softmax_cross_entropy(logits, labels)
    numeric = gradcheck.numerical_gradient(
        lambda z: ctx.ref.softmax_cross_entropy(z, labels)[0], logits)
    expect_gradient(ctx, dlogits, numeric, what="dlogits")


@graded("softmax_cross_entropy", points=1.5, visibility="after_published")
def test_softmax_cross_entropy_stable(ctx: Context) -> None:
    """softmax_cross_entropy is stable for logits of 1e4 and rows of very different scale"""
    scales = np.array([[1e4], [1e-3], [-1e4], [1.0], [5e3], [3e2]])
    logits = scales * ctx.rng.uniform(-1.0, 1.0, size=(6, 5))
    logits[0, 0] = 1e4
    labels = labels_for(ctx, 6, 5)
    with ctx.isolated(*HELPERS):
        result = ctx.student.softmax_cross_entropy(logits, labels)
    ctx.expect_close(result, ctx.ref.softmax_cross_entropy(logits, labels), rtol=1e-9, atol=1e-14,
                     what="softmax_cross_entropy(logits, labels) for logits up to 1e4")


@graded("softmax_cross_entropy", points=0.5, visibility="hidden")
def test_softmax_cross_entropy_properties(ctx: Context) -> None:
    """softmax_cross_entropy returns a float and a new array, and leaves its inputs unchanged"""
    logits = ctx.rng.normal(0.0, 3.0, size=(5, 3))
    labels = labels_for(ctx, 5, 3)
    with ctx.isolated(*HELPERS):
        result = ctx.student.softmax_cross_entropy(logits, labels)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect_close(result, ctx.ref.softmax_cross_entropy(logits, labels), rtol=1e-9,
                     atol=1e-14, what="softmax_cross_entropy(logits, labels)", batch_size=5)
