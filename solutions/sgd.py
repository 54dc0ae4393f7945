"""Mini-batches and stochastic gradient descent: training the MLP on handwritten digits.

The gradient of the full cost is the average over all training examples; a mini-batch
estimates it from a few examples, cheaply, and one step p <- p - lr g is taken per batch.

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

import numpy as np
from mlp import loss_and_grads


def load_digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits of scikit-learn, scaled and split into train and test.

    Provided: not an exercise. sklearn.datasets.load_digits() holds 1797 images of 8x8
    pixels, each pixel an integer 0..16, with labels 0..9. The pixels are divided by 16 (so
    they lie in [0, 1]) and the examples split once, the same way every time:
    perm = np.random.default_rng(0).permutation(1797); the examples perm[:1437] are the
    training set and perm[1437:] the test set, in that order. scikit-learn is imported only
    when this function is called.

    Returns
    -------
    X_train : np.ndarray, shape (1437, 64)
        Training images, one flattened row per image, float64 in [0, 1].
    y_train : np.ndarray, shape (1437,)
        Their labels, integers 0..9.
    X_test : np.ndarray, shape (360, 64)
        Test images, float64 in [0, 1].
    y_test : np.ndarray, shape (360,)
        Their labels, integers 0..9.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = np.asarray(digits.data, dtype=np.float64) / 16.0
    y = np.asarray(digits.target, dtype=np.int64)
    perm = np.random.default_rng(0).permutation(len(X))
    train, test = perm[:1437], perm[1437:]
    return X[train], y[train], X[test], y[test]


def minibatches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle range(n) once and cut it into consecutive mini-batches.

    perm = rng.permutation(n), called exactly once, then
    [perm[0:batch_size], perm[batch_size:2 batch_size], ...]: every index appears in exactly
    one batch, and the last batch holds the n % batch_size leftovers if that is not 0.

    Parameters
    ----------
    n : int
        The number of examples.
    batch_size : int
        The size of every batch but possibly the last (>= 1).
    rng : np.random.Generator
        The only source of randomness.

    Returns
    -------
    list[np.ndarray]
        A list of ceil(n / batch_size) 1-D integer index arrays, each of shape (batch_size,)
        except possibly the last; the same rng state gives the same batches; [] for n = 0.

    Raises
    ------
    ValueError
        If batch_size < 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    perm = rng.permutation(n)
    return [perm[start : start + batch_size] for start in range(0, n, batch_size)]


def sgd_step(
    params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float
) -> dict[str, np.ndarray]:
    """One step of gradient descent on every parameter.

    p_new = p - lr * g for each name, with g = grads[name]: a step against the gradient,
    the direction in which the cost decreases fastest.

    Parameters
    ----------
    params : dict[str, np.ndarray]
        {"W1": (n_1, n_0), "b1": (n_1,), ...}; left unchanged.
    grads : dict[str, np.ndarray]
        The gradients, the same keys and shapes as params; left unchanged.
    lr : float
        The learning rate (step size).

    Returns
    -------
    dict[str, np.ndarray]
        A new dict of new arrays, the same keys, shapes and order as params.
    """
    return {name: value - lr * np.asarray(grads[name]) for name, value in params.items()}


def train(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    rng: np.random.Generator,
    hidden: str = "sigmoid",
    output: str = "sigmoid",
    loss: str = "sse",
) -> tuple[dict[str, np.ndarray], list[float]]:
    """Train an MLP by mini-batch stochastic gradient descent.

    For each of the epochs: batches = minibatches(len(X), batch_size, rng), called once per
    epoch; then for each batch idx, in order,

    batch_loss, grads = loss_and_grads(params, X[idx], Y[idx], hidden, output, loss)
    params = sgd_step(params, grads, lr)

    The batch loss is the one before that batch's step. history[e] is the mean of epoch e's
    batch losses weighted by batch size, sum(batch_loss * len(idx)) / len(X). No other
    randomness is used, so the same rng state gives exactly the same result.

    Parameters
    ----------
    params : dict[str, np.ndarray]
        The initial parameters {"W1": (n_1, n_0), "b1": (n_1,), ...}; left unchanged.
    X : np.ndarray, shape (N, n_0)
        The training inputs.
    Y : np.ndarray
        The training targets: shape (N, n_L) (e.g. one-hot) for "sse", int labels (N,) for
        "ce".
    epochs : int
        The number of passes over the training set (>= 0).
    batch_size : int
        The mini-batch size (>= 1).
    lr : float
        The learning rate.
    rng : np.random.Generator
        Shuffles the examples at the start of each epoch.
    hidden : str, optional
        "sigmoid" (default) or "relu".
    output : str, optional
        "sigmoid" (default) or "softmax".
    loss : str, optional
        "sse" (default) or "ce" (with output="softmax").

    Returns
    -------
    params : dict[str, np.ndarray]
        The trained parameters, new arrays with the same keys, shapes and order (new even for
        epochs = 0, when they equal the initial ones: copy them).
    history : list[float]
        A list of epochs floats: the size-weighted mean batch loss of each epoch ([] for
        epochs = 0).
    """
    params = {name: np.array(value, dtype=np.float64) for name, value in params.items()}
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y)
    history: list[float] = []
    for _ in range(epochs):
        total = 0.0
        for idx in minibatches(len(X), batch_size, rng):
            batch_loss, grads = loss_and_grads(
                params, X[idx], Y[idx], hidden=hidden, output=output, loss=loss
            )
            total += batch_loss * len(idx)
            params = sgd_step(params, grads, lr)
        history.append(float(total / len(X)))
    return params, history
