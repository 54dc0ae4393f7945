"""Hidden tests of gradcheck.py: central differences, relative error, finding buggy gradients.

The functions under test take callables (f, backward, loss). Most are grader-side functions
passed with ``ctx.callback``: the student's code calls them through the sandbox channel. The
loss of find_buggy_parameters, called twice per parameter entry, is the public
``public_models.tanh_net_loss`` passed with ``ctx.helper``: it runs in the sandbox itself.
"""

from collections.abc import Callable

import numpy as np
from public_models import tanh_net_loss

from grader.authoring import Context, graded
from grader.sandbox.box import StudentError

from course_helpers import relative_error_variants

EPS = 1e-5


# A fast oscillation: the central difference with eps = 1e-5 is off from the true derivative
# by eps^2 K^2 / 6 ~ 2e-5 relative, far above the tests' rtol of 1e-7, so matching the reference
# means computing exactly the contract's formula, not any accurate derivative (a five-point or
# relative-step difference, such as the grader's own gradcheck module, is 2e-5 away).
FREQUENCY = 1000.0


def smooth_function(ctx: Context, shape: tuple[int, ...]) -> Callable[[np.ndarray], float]:
    """A random smooth scalar function of an array of ``shape`` (no entry has a zero
    derivative by design), with a fast oscillation (`FREQUENCY`)."""
    C = ctx.rng.normal(0.0, 1.0, size=shape)
    D = ctx.rng.normal(0.0, 1.0, size=shape)

    def f(x: np.ndarray) -> float:
        x = np.asarray(x, dtype=np.float64)
        return float(np.sum(C * np.sin(FREQUENCY * x)) / FREQUENCY + 0.5 * np.sum(D * x) ** 2)

    return f


def one_sided(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float) -> np.ndarray:
    grad = np.zeros_like(x)
    base = f(x)
    for i in np.ndindex(x.shape):
        plus = x.copy()
        plus[i] += eps
        grad[i] = (f(plus) - base) / eps
    return grad


# -- numerical_gradient ----------------------------------------------------------------------
@graded("numerical_gradient", points=2, visibility="visible")
def test_numerical_gradient_matches_reference(ctx: Context) -> None:
    """numerical_gradient matches the reference for x of shapes (3, 4), (5,) and (2, 3, 2)"""
    for shape in [(3, 4), (5,), (2, 3, 2)]:
        f = smooth_function(ctx, shape)
        x = ctx.rng.normal(0.0, 1.0, size=shape)
        expected = ctx.ref.numerical_gradient(f, x)
        ctx.expect_close(ctx.student.numerical_gradient(ctx.callback(f), x), expected,
                         rtol=1e-7, atol=1e-9, what=f"numerical_gradient(f, x) for x of shape "
                         f"{shape}",
                         variants={"one_sided_difference": one_sided(f, x, EPS),
                                   "central_difference_factor": 2 * expected})


@graded("numerical_gradient", points=0.5, visibility="after_published")
def test_numerical_gradient_uses_eps(ctx: Context) -> None:
    """numerical_gradient uses the eps it is given (eps = 1e-2 on a cubic)"""
    x = ctx.rng.normal(0.0, 1.0, size=(2, 3))

    def cubic(z: np.ndarray) -> float:
        return float(np.sum(np.asarray(z, dtype=np.float64) ** 3))

    # central differences of z^3 give 3 z^2 + eps^2: the step shows in the result
    ctx.expect_close(ctx.student.numerical_gradient(ctx.callback(cubic), x, eps=1e-2),
                     ctx.ref.numerical_gradient(cubic, x, eps=1e-2), rtol=1e-7, atol=1e-9,
                     what="numerical_gradient(f, x, eps=1e-2)",
                     variants={"eps_ignored": ctx.ref.numerical_gradient(cubic, x)})


@graded("numerical_gradient", points=1.5, visibility="after_published")
def test_numerical_gradient_leaves_x_unchanged(ctx: Context) -> None:
    """numerical_gradient leaves x exactly as it was (even if f raises)"""
    shape = (4, 3)
    f = smooth_function(ctx, shape)
    x = ctx.rng.normal(0.0, 1.0, size=shape)
    grad = ctx.student.numerical_gradient(ctx.callback(f), x)
    ctx.expect_unchanged()
    ctx.expect_fresh()
    ctx.expect_close(grad, ctx.ref.numerical_gradient(f, x), rtol=1e-7, atol=1e-9,
                     what="numerical_gradient(f, x)")
    calls = []

    def fails_later(z: np.ndarray) -> float:
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError("f failed (planted by the grader)")
        return f(z)

    try:
        ctx.student.numerical_gradient(ctx.callback(fails_later), x)
    except StudentError as exc:
        if exc.not_implemented or "planted by the grader" not in exc.message:
            raise
        # Which arguments a failed call changed, where the sandbox reports it.
        mutated = getattr(exc, "mutated", None)
        if mutated is not None:
            ctx.expect(not mutated, "x was left changed after f raised: restore x[i] in a "
                       "`finally:` block, or perturb a copy of x, never x itself",
                       misconception="modified_input")
    else:
        ctx.expect_unchanged()


# -- relative_error --------------------------------------------------------------------------
def gradient_pair(ctx: Context, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """An "analytic" and a "numerical" gradient: close, with errors of every size, some
    entries both 0 and some below the floor 1e-8."""
    a = ctx.rng.normal(0.0, 1.0, size=shape)
    b = a + a * ctx.rng.normal(0.0, 1.0, size=shape) * 10.0 ** ctx.rng.uniform(-9, -1, shape)
    flat = ctx.rng.choice(a.size, size=3, replace=False)
    a.flat[flat[0]] = b.flat[flat[0]] = 0.0
    a.flat[flat[1]], b.flat[flat[1]] = 3e-9, 0.0
    b.flat[flat[2]] = -b.flat[flat[2]]
    return a, b


@graded("relative_error", points=1.5, visibility="after_published")
def test_relative_error_matches_reference(ctx: Context) -> None:
    """relative_error matches the reference on gradient pairs of several shapes"""
    for shape in [(4, 5), (7,), (2, 3, 2)]:
        a, b = gradient_pair(ctx, shape)
        if shape == (7,):
            b = b.copy()
            b.flat[ctx.rng.integers(7)] *= 1.0 + 1e-3  # no sign flip here: the max is < 1
        ctx.expect_close(ctx.student.relative_error(a, b), ctx.ref.relative_error(a, b),
                         rtol=1e-9, atol=1e-15, what=f"relative_error(a, b) for shape {shape}",
                         variants=relative_error_variants(a, b))
        ctx.expect_unchanged()


@graded("relative_error", points=0.5, visibility="after_published")
def test_relative_error_edge_cases(ctx: Context) -> None:
    """relative_error is 0.0 for equal, all-zero and empty arrays, and uses the floor 1e-8"""
    a = ctx.rng.normal(0.0, 1.0, size=(3, 4))
    cases = [
        ("two equal arrays", a, a.copy()),
        ("two all-zero arrays", np.zeros((3, 4)), np.zeros((3, 4))),
        ("two empty arrays", np.zeros(0), np.zeros(0)),
        ("entries below the floor", np.array([1e-12, 0.0, 2.0]), np.array([0.0, 0.0, 2.0])),
    ]
    for what, x, y in cases:
        ctx.expect_close(ctx.student.relative_error(x, y), ctx.ref.relative_error(x, y),
                         rtol=1e-9, atol=1e-15, what=f"relative_error(a, b) for {what}",
                         variants=relative_error_variants(x, y) if x.size else None)


# -- find_buggy_parameters -------------------------------------------------------------------
class Problem:
    """A small tanh network, a batch and its loss, with a backward that may have planted bugs.

    ``loss`` is the public ``tanh_net_loss``, passed with ``ctx.helper``: it runs in the
    sandbox itself, so the student's gradient check calls it without a round trip to the
    grader. ``backward`` runs in the grader (through ``ctx.callback``, called once per check):
    the exact gradient of that loss with ``bugs`` applied.
    """

    def __init__(self, ctx: Context, sizes: list[int], n: int, *,
                 column_scale: float = 1.0) -> None:
        self.bugs: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
        seed = ctx.seed()
        for attempt in range(50):
            rng = np.random.default_rng([seed, attempt])
            params: dict[str, np.ndarray] = {}
            for i in range(1, len(sizes)):
                params[f"W{i}"] = rng.normal(0.0, 1.0 / np.sqrt(sizes[i - 1]),
                                             size=(sizes[i], sizes[i - 1]))
                params[f"b{i}"] = rng.normal(0.0, 0.5, size=sizes[i])
            X = rng.normal(0.0, 1.0, size=(n, sizes[0]))
            X[:, -1] *= column_scale
            Y = rng.normal(0.0, 1.0, size=(n, sizes[-1]))
            grads = tanh_net_grads(params, X, Y)
            # no entry of the gradient near 0, except the planted tiny column
            entries = np.concatenate([g.ravel() for k, g in grads.items() if k != "W1"]
                                     + [grads["W1"][:, :-1].ravel()])
            if np.min(np.abs(entries)) > 1e-4:
                break
        self.params, self.X, self.Y = params, X, Y

    def loss(self, params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> float:
        return tanh_net_loss(params, X, Y)

    def backward(self, params: dict[str, np.ndarray], X: np.ndarray,
                 Y: np.ndarray) -> dict[str, np.ndarray]:
        grads = tanh_net_grads(params, X, Y)
        return {k: self.bugs[k](g) if k in self.bugs else g for k, g in grads.items()}

    def run(self, ctx: Context) -> tuple[object, set[str]]:
        """The student's answer and the reference's, on this problem."""
        with ctx.isolated("gradcheck.relative_error"):
            found = ctx.student.find_buggy_parameters(
                ctx.callback(self.backward), ctx.helper(tanh_net_loss), self.params, self.X,
                self.Y)
        ctx.expect_unchanged()
        return found, ctx.ref.find_buggy_parameters(self.backward, self.loss, self.params,
                                                    self.X, self.Y)


def tanh_net_grads(params: dict[str, np.ndarray], X: np.ndarray,
                   Y: np.ndarray) -> dict[str, np.ndarray]:
    """The exact gradient of ``tanh_net_loss`` by backpropagation (grader side only)."""
    layers = sum(1 for name in params if name.startswith("W"))
    activations = [np.asarray(X, dtype=np.float64)]
    for layer in range(1, layers + 1):
        Z = activations[-1] @ params[f"W{layer}"].T + params[f"b{layer}"]
        activations.append(np.tanh(Z) if layer < layers else Z)
    dA = 2.0 * (activations[-1] - Y) / len(X)
    grads: dict[str, np.ndarray] = {}
    for layer in range(layers, 0, -1):
        dZ = dA if layer == layers else dA * (1.0 - activations[layer] ** 2)
        grads[f"W{layer}"] = dZ.T @ activations[layer - 1]
        grads[f"b{layer}"] = dZ.sum(axis=0)
        dA = dZ @ params[f"W{layer}"]
    return {name: grads[name] for name in params}


def flip_one(g: np.ndarray) -> np.ndarray:
    out = g.copy()
    out.flat[0] = -out.flat[0]
    return out


def nudge_one(g: np.ndarray) -> np.ndarray:
    out = g.copy()
    out.flat[out.size // 2] += 0.01
    return out


@graded("find_buggy_parameters", points=2, visibility="after_published")
def test_find_buggy_parameters_finds_planted_bugs(ctx: Context) -> None:
    """find_buggy_parameters names exactly the parameters with planted gradient bugs

    On tanh networks of sizes 3-4-2, 4-3-3 and 3-5-4-2.
    """
    cases = [
        (Problem(ctx, [3, 4, 2], 5), {"W2": lambda g: 2.0 * g, "b1": flip_one}),
        (Problem(ctx, [4, 3, 3], 5), {"W1": nudge_one, "b2": lambda g: 0.5 * g}),
        (Problem(ctx, [3, 5, 4, 2], 6), {"W3": lambda g: 1.01 * g}),
    ]
    for problem, bugs in cases:
        problem.bugs = bugs
        found, expected = problem.run(ctx)
        ctx.expect_close(found, expected, rtol=0.0, atol=1.0,
                         what=f"find_buggy_parameters(...) with bugs planted in "
                         f"{sorted(bugs)}")


@graded("find_buggy_parameters", points=1, visibility="after_published")
def test_find_buggy_parameters_correct_gradients(ctx: Context) -> None:
    """find_buggy_parameters returns an empty set for a correct backward"""
    for problem in (Problem(ctx, [3, 4, 2], 5), Problem(ctx, [2, 4, 3, 3], 7)):
        found, expected = problem.run(ctx)
        ctx.expect_close(found, expected, rtol=0.0, atol=1.0,
                         what="find_buggy_parameters(...) for a correct backward")


@graded("find_buggy_parameters", points=1, visibility="hidden")
def test_find_buggy_parameters_tiny_gradients(ctx: Context) -> None:
    """find_buggy_parameters does not flag round-off in tiny gradient entries

    An input feature of size 1e-7 makes the gradients of its weights about 1e-8.
    """
    problem = Problem(ctx, [4, 3, 2], 5, column_scale=1e-7)
    found, expected = problem.run(ctx)
    if isinstance(found, set) and found == {"W1"} and expected == set():
        ctx.fail("find_buggy_parameters flagged W1 of a correct backward: the gradients of the "
                 "weights from the tiny input feature are about 1e-8, where the numerical "
                 "gradient's round-off gives a large relative error",
                 misconception="gradcheck_absolute_floor")
    ctx.expect_close(found, expected, rtol=0.0, atol=1.0,
                     what="find_buggy_parameters(...) for a correct backward with tiny "
                     "gradient entries")
