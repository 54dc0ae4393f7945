"""Hidden tests of losses.py: the batch squared error, its gradient, one-hot, cross-entropy."""

from collections.abc import Callable
from typing import Any

import numpy as np

from grader.authoring import Context, gradcheck, graded

from course_helpers import FLOOR, lse_atol

# What softmax_cross_entropy may call: replaced by the reference while it is graded.
HELPERS = ("losses.one_hot", "activations.softmax")
# Batch shapes (N, C): N > 2, N != C, C != 2, so that a factor N, a factor C, a factor 2 and a
# transpose are all told apart.
SHAPES = [(7, 3), (5, 4), (6, 10)]
# Tolerances. sse and sse_grad add and scale numbers of order 1: any sound order of operations
# (row sums then the mean, one sum over all entries / N, einsum, a norm squared, 2/N applied
# before the difference) is within a few EPS relative of the value, or absolute where A ~ Y
# cancels, so rtol = 1e-9 and atol = 1e-12 (sse) / 1e-14 (sse_grad, entries ~1/N) leave ample
# room. The cross-entropy's tolerance follows the conditioning of log-sum-exp: absolute, in
# proportion to the largest logit (course_helpers.lse_atol), since a log-probability of
# logits of 1e4 is a difference of numbers of 1e4 whatever the formula.


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
def expect_batches(ctx: Context, function: str, *, atol: float,
                   variants: Callable[[Any, int], dict[str, Any]]) -> None:
    """``function`` (sse or sse_grad) matches the reference on a random batch of each shape
    of SHAPES; ``variants(expected, C)`` gives what each mistake would return."""
    for n, c in SHAPES:
        A, Y = batch(ctx, n, c)
        expected = getattr(ctx.ref, function)(A, Y)
        ctx.expect_close(getattr(ctx.student, function)(A, Y), expected, rtol=1e-9, atol=atol,
                         what=f"{function}(A, Y) for A of shape {A.shape}", batch_size=n,
                         variants=variants(expected, c))


@graded("sse", points=1.5, visibility="visible")
def test_sse_matches_reference(ctx: Context) -> None:
    """sse matches the reference on random batches"""
    expect_batches(ctx, "sse", atol=1e-12,
                   variants=lambda expected, c: {"half_in_cost": expected / 2,
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
    expect_batches(ctx, "sse_grad", atol=1e-14,
                   variants=lambda expected, c: {"mean_over_all_entries": expected / c})


@graded("sse_grad", points=0.5, visibility="after_published")
def test_sse_grad_numerical(ctx: Context) -> None:
    """sse_grad agrees with finite differences of the batch cost"""
    A, Y = batch(ctx, 5, 3)
    grad = ctx.student.sse_grad(A, Y)
    numeric = gradcheck.stencil_gradient(lambda a: ctx.ref.sse(a, Y), A)
    ctx.expect_gradient(grad, numeric, what="sse_grad(A, Y)", floor=FLOOR)


@graded("sse_grad", points=0.5, visibility="hidden")
def test_sse_grad_properties(ctx: Context) -> None:
    """sse_grad returns a float64 array of A's shape and leaves A and Y unchanged"""
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
                         rtol=1e-9, atol=lse_atol(logits), batch_size=n,
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
    numeric = gradcheck.stencil_gradient(
        lambda z: ctx.ref.softmax_cross_entropy(z, labels)[0], logits)
    ctx.expect_gradient(dlogits, numeric, what="dlogits", floor=FLOOR)


@graded("softmax_cross_entropy", points=1.5, visibility="after_published")
def test_softmax_cross_entropy_stable(ctx: Context) -> None:
    """softmax_cross_entropy is stable for logits of 1e4 and rows of very different scale"""
    scales = np.array([[1e4], [1e-3], [-1e4], [1.0], [5e3], [3e2]])
    logits = scales * ctx.rng.uniform(-1.0, 1.0, size=(6, 5))
    logits[0, 0] = 1e4
    labels = labels_for(ctx, 6, 5)
    with ctx.isolated(*HELPERS):
        result = ctx.student.softmax_cross_entropy(logits, labels)
    ctx.expect_close(result, ctx.ref.softmax_cross_entropy(logits, labels), rtol=1e-9,
                     atol=lse_atol(logits),
                     what="softmax_cross_entropy(logits, labels) for logits up to 1e4")


@graded("softmax_cross_entropy", points=0.5, visibility="hidden")
def test_softmax_cross_entropy_properties(ctx: Context) -> None:
    """softmax_cross_entropy returns a number and an array, and leaves its inputs unchanged"""
    logits = ctx.rng.normal(0.0, 3.0, size=(5, 3))
    labels = labels_for(ctx, 5, 3)
    with ctx.isolated(*HELPERS):
        result = ctx.student.softmax_cross_entropy(logits, labels)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect_close(result, ctx.ref.softmax_cross_entropy(logits, labels), rtol=1e-9,
                     atol=lse_atol(logits), what="softmax_cross_entropy(logits, labels)",
                     batch_size=5)
