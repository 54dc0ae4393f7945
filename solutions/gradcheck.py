"""Gradient checking: build the tool you will trust to test every backward pass.

A gradient computed by backpropagation (analytic) is checked against one computed by
nudging each input a little (numerical); where the two disagree, the backward pass has a bug.

Conventions
-----------
- All arrays are float64 numpy arrays; wherever a scalar is allowed, any real number works.
- One example is a 1-D vector. A batch is 2-D with shape (N, features): rows are examples.
- Layer l has weights W of shape (n_l, n_{l-1}): W[j, k] is w_jk of the slides, the weight
  from neuron k of layer l-1 to neuron j of layer l (the layout of torch.nn.Linear.weight).
  Biases b have shape (n_l,). Batch forward: Z = A_prev @ W.T + b.
- Cost of one example: C_k = sum_j (a_j - y_j)^2, with no 1/2. Cost of a batch: the mean of
  C_k over the N examples, so dC/dA = 2 (A - Y) / N. Cross-entropy: the mean over the batch
  of -log softmax(z)[label].
- sigmoid'(z) = sigmoid(z) (1 - sigmoid(z)); relu'(z) = 1 if z > 0 else 0 (so relu'(0) = 0).
- MLP parameters are a dict {"W1", "b1", ..., "WL", "bL"}; gradients a dict with the same
  keys and shapes. The gradient vector of the slides orders them [W1, b1, W2, b2, ...], each
  flattened row-major.
- No function modifies its arguments: after every call the grader reads back the arrays it
  passed. Return new arrays rather than an argument itself or a view of one (z.copy(), not
  z): a good habit, though not graded (it cannot be seen from outside your process).
  Randomness comes only from an rng argument (numpy.random.Generator). Stubs raise
  NotImplementedError, never return None.

What a correct submission may do
--------------------------------
- Return any real number where a scalar is returned: a Python int or float, a numpy scalar or
  a 0-d array (relu(-0.99) written as max(0, z) returns the int 0, and that is right).
  Returned arrays are float64 arrays.
- Return dicts with keys beside the documented ones: extra keys are ignored.
- Keep any cache layout in mlp.forward that its own backward understands (the layout the stub
  describes is a suggestion).
- Hold its functions in tables, closures or functools.partial objects, and call its own
  helpers.
- Import numpy, any of its submodules and the standard library (nothing else), and add helper
  modules of its own beside these modules.
- Use any numerically sound formula (a tanh or logaddexp sigmoid, log-sum-exp first):
  tolerances follow the conditioning of each function, not one implementation's rounding.
- Print, define extra functions, and run demo code under if __name__ == "__main__":.

What a hidden test grades is stated in the function's docstring and exercised by a public
check on other inputs: passing every public check means that only new inputs can still find
a mistake.
"""

from collections.abc import Callable

import numpy as np


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """The gradient of a scalar function by central differences, one entry at a time.

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

    where e_i is the array with a 1 in entry i and 0 elsewhere. The error of this estimate is
    of order eps^2 (plus round-off of order 1e-16 f / eps), much smaller than the one-sided
    (f(x + eps e_i) - f(x)) / eps.

    The caller's x is never modified, not even for a moment: f is called on perturbed copies,
    so x is left exactly as it was even if f raises.

    Parameters
    ----------
    f : Callable[[np.ndarray], float]
        A scalar function, called as f(x) with an array of the shape of x.
    x : np.ndarray, any shape
        The point at which to differentiate (float64).
    eps : float, optional
        The step, 1e-5 by default.

    Returns
    -------
    np.ndarray, same shape as x
        The numerical gradient, float64.
    """
    x = np.asarray(x, dtype=np.float64)
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        x_plus = x.copy()
        x_plus[i] += eps
        x_minus = x.copy()
        x_minus[i] -= eps
        grad[i] = (float(f(x_plus)) - float(f(x_minus))) / (2.0 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """The largest entrywise relative difference between two arrays of the same shape.

    relative_error(a, b) = max_i abs(a_i - b_i) / max(1e-8, abs(a_i) + abs(b_i))

    The floor 1e-8 keeps entries where both are (nearly) zero from dividing by zero. The
    result is 0.0 for two empty arrays and for two all-zero arrays. As a guide for a float64
    gradient check with eps = 1e-5: a correct gradient usually gives 1e-6 or less (entries of
    tiny gradients are the noisiest), and above 1e-2 is almost surely a bug.

    Parameters
    ----------
    a : np.ndarray, any shape
        One array, e.g. an analytic gradient.
    b : np.ndarray, same shape as a
        The other, e.g. a numerical gradient.

    Returns
    -------
    float
        The largest relative difference, a number in [0, 1].

    Raises
    ------
    ValueError
        If a and b have different shapes.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def find_buggy_parameters(
    backward: Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray], dict[str, np.ndarray]],
    loss: Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray], float],
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
) -> set[str]:
    """The names of the parameters whose analytic gradient disagrees with a numerical one.

    For each name in params, the analytic gradient backward(params, X, Y)[name] is compared
    with numerical_gradient (eps = 1e-5) of the function
    w -> loss(params with params[name] replaced by w, X, Y). The gradient of that name is
    buggy when

    - it is missing from the grads dict, its shape differs from params[name], or it holds
      a NaN or an infinity; or
    - relative_error(analytic, numerical) > 1e-5 and the largest absolute difference
      max_i abs(analytic_i - numerical_i) > 1e-7.

    The absolute floor keeps round-off from flagging a correct gradient whose entries are
    tiny (a numerical gradient is only good to about 1e-10 absolutely, so an entry of 1e-9 can
    have a large relative error even when backward is right).

    Parameters
    ----------
    backward : Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray], dict[str, np.ndarray]]
        Called as backward(params, X, Y); returns a grads dict with the keys of params.
    loss : Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray], float]
        Called as loss(params, X, Y); returns the scalar loss.
    params : dict[str, np.ndarray]
        The parameters, e.g. {"W1": (n_1, n_0), "b1": (n_1,), ...}; left unchanged.
    X : np.ndarray, shape (N, n_0)
        Inputs.
    Y : np.ndarray
        Targets, in whatever form loss and backward expect, e.g. (N, n_L).

    Returns
    -------
    set[str]
        The buggy names, e.g. {"W2", "b1"}; set() when every gradient agrees.
    """
    # Neither backward nor loss ever sees the caller's arrays, so a buggy backward that
    # writes into its arguments cannot change params.
    own = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
    grads = backward({name: value.copy() for name, value in own.items()}, X, Y)
    buggy: set[str] = set()
    for name in own:
        analytic = grads.get(name)
        if (
            analytic is None
            or np.shape(analytic) != own[name].shape
            or not np.all(np.isfinite(analytic))
        ):
            buggy.add(name)
            continue

        def f(w: np.ndarray, name: str = name) -> float:
            return loss({**own, name: w}, X, Y)

        numerical = numerical_gradient(f, own[name])
        analytic = np.asarray(analytic, dtype=np.float64)
        if (
            relative_error(analytic, numerical) > 1e-5
            and np.max(np.abs(analytic - numerical)) > 1e-7
        ):
            buggy.add(name)
    return buggy
