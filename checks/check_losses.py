"""Public checks of losses.py: known values, gradients against finite differences, stability."""

import numpy as np

from grader.authoring import Context, gradcheck, public

from course_helpers import FLOOR, lse_atol

# A batch of N = 4 examples with C = 3 outputs; per-example costs 5, 1, 0.5 and 3.5.
A = np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 0.5], [0.5, 0.0, 1.0], [0.0, 0.5, 1.5]])
Y = np.array([[0.0, 0.0, 0.0], [3.0, 3.0, 0.5], [0.0, 0.5, 1.0], [1.0, 0.0, 0.0]])
SSE = (5.0 + 1.0 + 0.5 + 3.5) / 4


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
    """sse_grad is 2 (A - Y) / N, an array of A's shape"""
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
    with ctx.blame_other_stubs("sse_grad"):
        numeric = gradcheck.stencil_gradient(lambda a: ctx.student.sse(a, Y0), A0)
    ctx.expect_gradient(grad, numeric, what="sse_grad(A, Y)", floor=FLOOR)


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
    with ctx.blame_other_stubs("softmax_cross_entropy"):
        result = ctx.student.softmax_cross_entropy(logits, labels)
    ctx.expect_close(result, (float(np.log(4.0)), dlogits), rtol=1e-12, atol=1e-15, batch_size=3,
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
    with ctx.blame_other_stubs("softmax_cross_entropy"):
        _, dlogits = ctx.student.softmax_cross_entropy(logits, labels)
    ctx.expect_unchanged()
    numeric = gradcheck.stencil_gradient(
        lambda z: ctx.student.softmax_cross_entropy(z, labels)[0], logits)
    ctx.expect_gradient(dlogits, numeric, what="dlogits", floor=FLOOR)


@public("softmax_cross_entropy")
def check_softmax_cross_entropy_stable(ctx: Context) -> None:
    """softmax_cross_entropy is finite and right for logits of 1e4 (use log-sum-exp)"""
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 5e3]])
    labels = np.array([0, 2])
    # row 0: log-probability 0 for its label; row 1: 5e3 - 1e4 = -5e3
    expected = (2500.0, np.array([[0.0, 0.0, 0.0], [0.0, 0.5, -0.5]]))
    with ctx.blame_other_stubs("softmax_cross_entropy"):
        result = ctx.student.softmax_cross_entropy(logits, labels)
    ctx.expect_close(result, expected, rtol=1e-9, atol=lse_atol(logits),
                     what="softmax_cross_entropy(logits, labels) for logits of 1e4")
