"""Public checks of losses.py: known values, gradients against finite differences, stability."""

import numpy as np

from grader import gradcheck, misconceptions
from grader.misconceptions import Misconception
from grader.sandbox import StudentError
from grader.testing import CheckFailed, Context, public

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

# A batch of N = 4 examples with C = 3 outputs; per-example costs 5, 1, 0.5 and 3.5.
A = np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 0.5], [0.5, 0.0, 1.0], [0.0, 0.5, 1.5]])
Y = np.array([[0.0, 0.0, 0.0], [3.0, 3.0, 0.5], [0.0, 0.5, 1.0], [1.0, 0.0, 0.0]])
SSE = (5.0 + 1.0 + 0.5 + 3.5) / 4


def expect_gradient(ctx: Context, analytic: object, numeric: np.ndarray, *, what: str,
                    floor: float = 1e-4) -> None:
    """``ctx.expect_gradient`` with a larger floor of the relative error's denominator: the
    central difference's round-off (about 1e-11 |f|) must not fail an entry that is merely
    tiny, and a real mistake shows on the large entries."""
    result = gradcheck.check_gradient(analytic, numeric, floor=floor, name=what)
    if not result.ok:
        raise CheckFailed(result.message)
    ctx.passed()


def raised_in(exc: StudentError) -> str:
    """The name of the student's function where the exception was raised ("" if unknown)."""
    frames = [line for line in exc.traceback.splitlines() if line.lstrip().startswith("File ")]
    return frames[-1].rsplit(" in ", 1)[-1].strip() if frames else ""


def own(ctx: Context, name: str, *args: object, **kwargs: object) -> object:
    """Call the student's ``name``; a stub elsewhere that it calls fails this check with a
    plain message instead of reading as "``name`` is not implemented"."""
    try:
        return getattr(ctx.student, name)(*args, **kwargs)
    except StudentError as exc:
        where = raised_in(exc)
        if exc.not_implemented and where not in ("", name):
            ctx.fail(f"{name} calls your {where}, which is not implemented yet: implement it "
                     "first")
        raise


def needs(ctx: Context, name: str, call: object) -> None:
    """Turn a "not implemented" of a helper function into a plain failure of this check."""
    if isinstance(call, StudentError) and call.not_implemented:
        ctx.fail(f"this check uses your {name}, which is not implemented yet: implement "
                 f"{name} first")


@public("sse")
def check_sse_known_value(ctx: Context) -> None:
    """sse is the mean over the examples of sum_j (a_j - y_j)^2 (a 4 x 3 example: 2.5)"""
    ctx.expect_close(ctx.student.sse(A, Y), SSE, rtol=1e-12, atol=1e-12, what="sse(A, Y)",
                     batch_size=4, variants={"half_in_cost": SSE / 2,
                                             "mean_over_all_entries": SSE / 3})
    ctx.expect_unchanged()
    ctx.expect_close(ctx.student.sse(Y, Y), 0.0, rtol=0.0, atol=1e-15, what="sse(Y, Y)")


@public("sse_grad")
def check_sse_grad_known_value(ctx: Context) -> None:
    """sse_grad is 2 (A - Y) / N, a new array of A's shape"""
    expected = 2.0 * (A - Y) / 4
    ctx.expect_close(ctx.student.sse_grad(A, Y), expected, rtol=1e-12, atol=1e-15,
                     what="sse_grad(A, Y)", batch_size=4,
                     variants={"mean_over_all_entries": expected / 3})
    ctx.expect_unchanged()
    ctx.expect_fresh()


@public("sse_grad")
def check_sse_grad_numerical(ctx: Context) -> None:
    """sse_grad agrees with finite differences of your sse"""
    A0, Y0 = A[:3], Y[:3]
    grad = ctx.student.sse_grad(A0, Y0)
    try:
        numeric = gradcheck.numerical_gradient(lambda a: ctx.student.sse(a, Y0), A0)
    except StudentError as exc:
        needs(ctx, "sse", exc)
        raise
    expect_gradient(ctx, grad, numeric, what="sse_grad(A, Y)")


@public("one_hot")
def check_one_hot_known_value(ctx: Context) -> None:
    """one_hot([2, 0, 3, 0], 5) has a single 1.0 per row, in float64 with 5 columns"""
    expected = np.array([[0, 0, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 1, 0], [1, 0, 0, 0, 0]],
                        dtype=np.float64)
    for dtype in (np.int64, np.int32):
        labels = np.array([2, 0, 3, 0], dtype=dtype)
        ctx.expect_close(ctx.student.one_hot(labels, 5), expected, rtol=0.0, atol=1e-15,
                         what=f"one_hot(labels, 5) with {np.dtype(dtype).name} labels")
        ctx.expect_unchanged()


@public("softmax_cross_entropy")
def check_softmax_cross_entropy_uniform(ctx: Context) -> None:
    """for all-zero logits the loss is log C and dlogits = (1/C - onehot) / N"""
    logits = np.zeros((3, 4))
    labels = np.array([0, 3, 1])
    dlogits = (0.25 - np.eye(4)[labels]) / 3
    ctx.expect_close(own(ctx, "softmax_cross_entropy", logits, labels),
                     (float(np.log(4.0)), dlogits), rtol=1e-12, atol=1e-15, batch_size=3,
                     what="softmax_cross_entropy(zeros((3, 4)), [0, 3, 1])",
                     variants={"sign_error": (float(np.log(4.0)), -dlogits),
                               # a softmax down the 3 rows of each column gives 1/3
                               "softmax_wrong_axis": (float(np.log(3.0)),
                                                      (1 / 3 - np.eye(4)[labels]) / 3)})
    ctx.expect_unchanged()
    ctx.expect_fresh()


@public("softmax_cross_entropy")
def check_softmax_cross_entropy_numerical(ctx: Context) -> None:
    """dlogits agrees with finite differences of your loss"""
    logits = np.array([[1.0, -0.5, 2.0], [0.3, 0.1, -1.2], [-2.0, 1.5, 0.4], [0.0, 0.7, 0.2]])
    labels = np.array([2, 0, 1, 1])
    _, dlogits = own(ctx, "softmax_cross_entropy", logits, labels)
    ctx.expect_unchanged()
    numeric = gradcheck.numerical_gradient(
        lambda z: ctx.student.softmax_cross_entropy(z, labels)[0], logits)
    expect_gradient(ctx, dlogits, numeric, what="dlogits")


@public("softmax_cross_entropy")
def check_softmax_cross_entropy_stable(ctx: Context) -> None:
    """softmax_cross_entropy is finite and right for logits of 1e4 (use log-sum-exp)"""
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 5e3]])
    labels = np.array([0, 2])
    # row 0: log-probability 0 for its label; row 1: 5e3 - 1e4 = -5e3
    expected = (2500.0, np.array([[0.0, 0.0, 0.0], [0.0, 0.5, -0.5]]))
    ctx.expect_close(own(ctx, "softmax_cross_entropy", logits, labels), expected, rtol=1e-12,
                     atol=1e-15, what="softmax_cross_entropy(logits, labels) for logits of 1e4")
