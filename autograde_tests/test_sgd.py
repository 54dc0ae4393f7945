"""Hidden tests of sgd.py: mini-batches, one SGD step, the training loop, and the capstone (your
own MLP trained on the 8x8 digits)."""

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import numpy as np

from grader.authoring import CheckFailed, Context, graded, raised_in
from grader.sandbox.box import StudentError

ISOLATED = ("mlp.loss_and_grads", "sgd.sgd_step", "sgd.minibatches")
# Tolerances of train: rtol = 1e-9, atol = 1e-12 after at most 12 SGD steps. Each step adds
# the rounding of one loss_and_grads (~1e-15, any sound formula) and multiplies earlier
# differences by at most 1 + lr |Hessian| (< 2 on these small problems), so two sound
# implementations of the loop stay within ~1e-12 relative; a wrong loop (the order of the
# batches, a missing shuffle, an unweighted history) moves values by 1e-3 or more.


# -- minibatches -----------------------------------------------------------------------------
@graded("minibatches", points=2, visibility="visible")
def test_minibatches_matches_reference(ctx: Context) -> None:
    """minibatches cuts one rng.permutation(n) into batches, as the reference does"""
    for n, batch_size in ((23, 5), (20, 4), (7, 10), (1, 1)):
        s = ctx.seed()
        expected = ctx.ref.minibatches(n, batch_size, np.random.default_rng(s))
        ordered = [np.arange(n)[i:i + batch_size] for i in range(0, n, batch_size)]
        variants: dict[str, Any] = {"minibatch_no_shuffle": ordered}
        if n % batch_size and n > batch_size:
            variants["minibatch_drops_last"] = expected[:-1]
        ctx.expect_close(ctx.student.minibatches(n, batch_size, np.random.default_rng(s)),
                         expected, rtol=0.0, atol=1e-300, variants=variants,
                         what=f"minibatches({n}, {batch_size}, rng)")


@graded("minibatches", points=1, visibility="after_published")
def test_minibatches_partition(ctx: Context) -> None:
    """minibatches partitions range(n) in batches of batch_size (the last may be smaller)"""
    for n, batch_size in ((31, 8), (0, 3), (12, 12)):
        s = ctx.seed()
        batches = ctx.student.minibatches(n, batch_size, np.random.default_rng(s))
        ctx.expect(isinstance(batches, list) and all(isinstance(b, np.ndarray)
                                                      for b in batches),
                   f"minibatches({n}, {batch_size}, rng) must return a list of index arrays")
        sizes = [len(b) for b in batches]
        want = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
        found = ctx.catalogue.diagnose_batches(batches, n,
                                               name=f"minibatches({n}, {batch_size}, rng)")
        if found is not None:
            raise CheckFailed(f"minibatches({n}, {batch_size}, rng) does not use every index of "
                              f"range({n}) exactly once", found)
        ctx.expect(sizes == want, f"minibatches({n}, {batch_size}, rng) gave batches of sizes "
                   f"{sizes}, expected {want}",
                   misconception="minibatch_drops_last" if sizes == want[:-1] else None)
        every = np.sort(np.concatenate(batches)) if batches else np.zeros(0, dtype=np.int64)
        ctx.expect_close(every, np.arange(n), rtol=0.0, atol=1e-300,
                         what=f"the sorted indices of all batches of minibatches({n}, ...)")
        again = ctx.student.minibatches(n, batch_size, np.random.default_rng(s))
        ctx.expect_close(again, batches, rtol=0.0, atol=1e-300,
                         what="a second call with the same rng state (must be identical)")


# -- sgd_step --------------------------------------------------------------------------------
def params_and_grads(ctx: Context) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    sizes = [4, 6, 3]
    params = ctx.reference("mlp").init_params(sizes, ctx.rng)
    for i in range(1, len(sizes)):
        params[f"b{i}"] = ctx.rng.normal(0.0, 0.5, size=sizes[i])
    grads = {k: ctx.rng.normal(0.0, 1.0, size=v.shape) for k, v in params.items()}
    return params, grads


@graded("sgd_step", points=1.5, visibility="after_published")
def test_sgd_step_matches_reference(ctx: Context) -> None:
    """sgd_step returns p - lr * g for every parameter"""
    params, grads = params_and_grads(ctx)
    for lr in (0.3, 2.5):
        expected = ctx.ref.sgd_step(params, grads, lr)
        ctx.expect_close(ctx.student.sgd_step(params, grads, lr), expected, rtol=1e-12,
                         atol=1e-15, what=f"sgd_step(params, grads, {lr})",
                         variants={"sign_error": {k: params[k] + lr * grads[k]
                                                  for k in params}})


@graded("sgd_step", points=0.5, visibility="after_published")
def test_sgd_step_leaves_inputs_unchanged(ctx: Context) -> None:
    """sgd_step returns p - lr * g and leaves params and grads unchanged"""
    params, grads = params_and_grads(ctx)
    result = ctx.student.sgd_step(params, grads, 0.1)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect_close(result, ctx.ref.sgd_step(params, grads, 0.1), rtol=1e-12, atol=1e-15,
                     what="sgd_step(params, grads, 0.1)")


# -- train -----------------------------------------------------------------------------------
def train_with_mistake(ctx: Context, params: dict[str, np.ndarray], X: np.ndarray,
                       Y: np.ndarray, options: dict[str, Any], s: int,
                       mistake: str) -> tuple[dict[str, np.ndarray], list[float]]:
    """The reference train with one classic mistake, for the diagnosis."""
    mlp, sgd = ctx.reference("mlp"), ctx.reference("sgd")
    rng = np.random.default_rng(s)
    once = sgd.minibatches(len(X), options["batch_size"], rng)
    if mistake != "shuffle_once":
        rng = np.random.default_rng(s)
    history = []
    for _ in range(options["epochs"]):
        batches = once if mistake == "shuffle_once" else sgd.minibatches(
            len(X), options["batch_size"], rng)
        losses, sizes = [], []
        for idx in batches:
            loss, grads = mlp.loss_and_grads(params, X[idx], Y[idx], options["hidden"],
                                             options["output"], options["loss"])
            losses.append(loss)
            sizes.append(len(idx))
            params = sgd.sgd_step(params, grads, options["lr"])
        history.append(float(np.mean(losses)) if mistake == "history_unweighted_mean"
                       else float(np.dot(losses, sizes) / len(X)))
    return params, history


TRAIN_CASES = [
    ([4, 5, 3], 13, dict(epochs=3, batch_size=4, lr=0.5, hidden="sigmoid", output="sigmoid",
                         loss="sse")),
    ([3, 6, 4], 11, dict(epochs=2, batch_size=3, lr=0.2, hidden="relu", output="softmax",
                         loss="ce")),
]


def train_case(ctx: Context, sizes: list[int], n: int,
               options: dict[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    params = ctx.reference("mlp").init_params(sizes, ctx.rng)
    X = ctx.rng.normal(0.0, 1.0, size=(n, sizes[0]))
    labels = ctx.rng.integers(0, sizes[-1], size=n)
    Y = labels if options["loss"] == "ce" else np.eye(sizes[-1])[labels]
    return params, X, Y


# train runs isolated from loss_and_grads, sgd_step and minibatches; if that fails, once more
# with the student's own minibatches: a Generator passed by keyword to a replaced function
# (minibatches(n, batch_size, rng=rng)) does not come back advanced from the grader.
ISOLATIONS = [ISOLATED, ("mlp.loss_and_grads", "sgd.sgd_step")]


def student_train_tries(ctx: Context, params: dict[str, np.ndarray], X: np.ndarray,
                        Y: np.ndarray, options: dict[str, Any],
                        s: int) -> list[Callable[[], Any]]:
    """One call of the student's train per isolation of ISOLATIONS."""
    def run(isolated: tuple[str, ...]) -> Callable[[], Any]:
        def attempt() -> Any:
            with ctx.isolated(*isolated):
                return ctx.student.train(params, X, Y, rng=np.random.default_rng(s), **options)
        return attempt

    return [run(isolated) for isolated in ISOLATIONS]


@graded("train", points=3, visibility="visible")
def test_train_matches_reference(ctx: Context) -> None:
    """train's params and history match the reference (sigmoid/SSE and relu/softmax/CE)"""
    for sizes, n, options in TRAIN_CASES:
        params, X, Y = train_case(ctx, sizes, n, options)
        s = ctx.seed()
        expected = ctx.ref.train(params, X, Y, rng=np.random.default_rng(s), **options)
        variants = {key: train_with_mistake(ctx, params, X, Y, options, s, key)
                    for key in ("history_unweighted_mean", "shuffle_once")}
        what = f"train(params, X, Y, rng=rng, {options})"
        ctx.expect_any(student_train_tries(ctx, params, X, Y, options, s),
                       lambda out, expected=expected, variants=variants, what=what:
                       ctx.expect_close(out, expected, rtol=1e-9, atol=1e-12, what=what,
                                        variants=variants))
        ctx.expect_unchanged()


@graded("train", points=1, visibility="after_published")
def test_train_reproducible(ctx: Context) -> None:
    """train is reproducible given the rng state, leaves params unchanged; 0 epochs is a no-op"""
    sizes, n, options = TRAIN_CASES[0]
    params, X, Y = train_case(ctx, sizes, n, options)
    s = ctx.seed()
    expected = ctx.ref.train(params, X, Y, rng=np.random.default_rng(s), **options)
    passed: list[Any] = []

    def matches(out: Any) -> None:
        ctx.expect_close(out, expected, rtol=1e-9, atol=1e-12,
                         what="train(params, X, Y, rng=rng, ...)")
        passed.append(out)

    number = ctx.expect_any(student_train_tries(ctx, params, X, Y, options, s), matches)
    ctx.expect_unchanged()
    first = passed[-1]  # the run that matched; a second run must give exactly the same
    again = student_train_tries(ctx, params, X, Y, options, s)[number]()
    ctx.expect_close(again, first, rtol=0.0, atol=1e-300,
                     what="a second train(...) with the same rng state (must be identical)")
    with ctx.isolated(*ISOLATIONS[number]):
        still = ctx.student.train(params, X, Y, rng=np.random.default_rng(s),
                                  **{**options, "epochs": 0})
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect_close(still, (params, []), rtol=0.0, atol=1e-300,
                     what="train(params, X, Y, epochs=0, ...) (the same params, no history)")


# -- the capstone ----------------------------------------------------------------------------
TARGET = 0.93
_DIGITS: dict[str, tuple[np.ndarray, ...]] = {}


def warm_up(reference: Mapping[str, ModuleType]) -> None:
    """Load the contract's digits split before grading (`grader.engine.grading.warm_up`): it imports
    sklearn (1-3 s), which forked workers then inherit instead of paying it inside the
    capstone's time."""
    if "split" not in _DIGITS:
        _DIGITS["split"] = tuple(reference["sgd"].load_digits_split())


def digits(ctx: Context) -> tuple[np.ndarray, ...]:
    """The contract's digits split: from `warm_up`, or loaded here once per grading process
    when no hook ran (a single submission graded from Python)."""
    warm_up({"sgd": ctx.ref})
    return _DIGITS["split"]


def accuracy_of(ctx: Context, params: Any, X_test: np.ndarray,
                y_test: np.ndarray) -> tuple[float | None, str]:
    """The reference accuracy of returned params, or None and why they cannot be used."""
    shapes = {"W1": (32, 64), "b1": (32,), "W2": (10, 32), "b2": (10,)}
    if not isinstance(params, dict):
        return None, f"train returned {type(params).__name__} for params, not a dict"
    problems = [f"{k} is missing" if k not in params else f"{k} has shape {np.shape(params[k])}"
                for k, shape in shapes.items()
                if k not in params or not isinstance(params[k], np.ndarray)
                or params[k].shape != shape]
    if problems:
        return None, "the trained params are malformed: " + ", ".join(problems)
    documented = {k: params[k] for k in shapes}  # extra keys are the student's own: ignored
    with np.errstate(all="ignore"):
        return float(ctx.reference("mlp").accuracy(documented, X_test, y_test)), ""


def trend(history: Any) -> tuple[str, str | None]:
    """What the per-epoch history says went wrong, and the misconception it suggests."""
    if isinstance(history, np.ndarray) and history.ndim == 1:
        history = list(history)
    if not isinstance(history, list | tuple) or len(history) != 30:
        size = f" of length {len(history)}" if isinstance(history, list | tuple) else ""
        return ("history must be a list of 30 floats, one per epoch; got "
                f"{type(history).__name__}{size}."), None
    h = np.asarray(history, dtype=np.float64)
    shown = ", ".join(f"{e + 1}: {h[e]:.4g}" for e in (0, 1, 2, 4, 9, 19, 29))
    line = f"Loss per epoch (epoch: loss) {shown}."
    if not np.isfinite(h).all():
        return line + " The loss became NaN or inf: the steps diverged (a sign or scale " \
                      "error in a gradient, or lr applied more than once).", "overflow"
    if h[-1] > h[0]:
        return line + " The loss rose instead of falling: check sgd_step's sign " \
                      "(p - lr * g, against the gradient).", "sign_error"
    if np.allclose(h, h[0], rtol=1e-9, atol=0.0):
        return line + " The loss never changed: train must continue from the params " \
                      "sgd_step returns (params = sgd_step(params, grads, lr)).", None
    return line + " The loss fell, but not far enough: check that every epoch reshuffles " \
                  "(minibatches once per epoch), that each batch uses X[idx] with Y[idx], " \
                  "and the gradients' 1/N.", None


@graded("train", points=5, visibility="after_published", timeout=120)
def test_train_digits_capstone(ctx: Context) -> None:
    """capstone: your init_params and train reach 0.93 test accuracy on the 8x8 digits

    A 64-32-10 sigmoid MLP with the squared error, 30 epochs, batches of 32, lr 3.0, on the
    contract's split of scikit-learn's digits (the reference reaches about 0.98). If your own
    pipeline falls short only because of a mistake elsewhere (mlp, losses, activations), train
    is run again with the reference's init_params and loss_and_grads: that mistake costs its own
    points, not these.
    """
    X_train, y_train, X_test, y_test = digits(ctx)
    Y_train = ctx.reference("losses").one_hot(y_train, 10)
    s_init, s_train = ctx.seed(), ctx.seed()
    options = dict(epochs=30, batch_size=32, lr=3.0, hidden="sigmoid", output="sigmoid",
                   loss="sse")
    problem = ""
    history: Any = None
    try:
        params = ctx.student_module("mlp").init_params([64, 32, 10],
                                                       np.random.default_rng(s_init))
    except StudentError as exc:
        params, problem = None, f"your init_params raised {exc.type_name}: {exc.message}"
    if params is not None:
        try:
            trained, history = ctx.student.train(params, X_train, Y_train,
                                                 rng=np.random.default_rng(s_train), **options)
        except StudentError as exc:
            if exc.not_implemented and raised_in(exc) in ("", "train"):
                raise
            trained, problem = None, f"your train raised {exc.type_name}: {exc.message}"
        except (TypeError, ValueError):
            trained, problem = None, "train must return a pair (params, history)"
        if trained is not None:
            accuracy, problem = accuracy_of(ctx, trained, X_test, y_test)
            if accuracy is not None and accuracy >= TARGET:
                ctx.passed()
                return
            if accuracy is not None:
                problem = (f"test accuracy {accuracy:.3f} after 30 epochs, below {TARGET} "
                           "(the reference reaches about 0.98)")
    # The student's own pipeline fell short: is the mistake in sgd.py?
    start = ctx.reference("mlp").init_params([64, 32, 10], np.random.default_rng(s_init))
    with ctx.isolated("mlp.loss_and_grads", "sgd.sgd_step"):
        again = ctx.student.train(start, X_train, Y_train, rng=np.random.default_rng(s_train),
                                  **options)
    fallback, _ = accuracy_of(ctx, again[0] if isinstance(again, tuple | list) else again,
                              X_test, y_test)
    if fallback is not None and fallback >= TARGET:
        ctx.passed()
        return
    advice, key = trend(history) if history is not None else ("", None)
    ctx.fail(f"{problem}. {advice}".strip() + (
        f" With the reference's init_params, loss_and_grads and sgd_step your train reaches "
        f"{fallback:.3f}, so the problem is in sgd.py." if fallback is not None else ""),
        misconception=key)
