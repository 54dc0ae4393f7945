"""Losses: the squared-error cost of the slides and softmax cross-entropy, for a batch.

Each loss comes with its gradient with respect to the network output: that gradient is where
backpropagation starts.

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


def sse(A: np.ndarray, Y: np.ndarray) -> float:
    """The squared-error cost of a batch: the mean over examples of C_k.

    C_k = sum_j (a_j - y_j)^2 (no 1/2), and the batch cost is C = (1/N) sum_k C_k, the mean
    over the N rows.

    Parameters
    ----------
    A : np.ndarray, shape (N, C)
        Network outputs, one row per example.
    Y : np.ndarray, shape (N, C)
        Targets, same shape as A (one-hot rows for classification).

    Returns
    -------
    float
        The batch cost C, a number (>= 0).
    """
    raise NotImplementedError


def sse_grad(A: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The gradient of the batch squared-error cost with respect to the outputs.

    dC/dA = 2 (A - Y) / N: the 2 comes from the square, the 1/N from the mean over the batch.

    Parameters
    ----------
    A : np.ndarray, shape (N, C)
        Network outputs, one row per example.
    Y : np.ndarray, shape (N, C)
        Targets, same shape as A.

    Returns
    -------
    np.ndarray, shape (N, C)
        dC/dA, a new array.
    """
    raise NotImplementedError


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot encode integer class labels.

    Row k is all zeros except a 1.0 in column labels[k].

    Parameters
    ----------
    labels : np.ndarray, shape (N,)
        Integer labels, each in range(n_classes).
    n_classes : int
        The number of classes C.

    Returns
    -------
    np.ndarray, shape (N, C)
        float64, exactly one 1.0 per row.

    Raises
    ------
    ValueError
        If a label is outside range(n_classes).
    """
    raise NotImplementedError


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy of a batch of logits, and its gradient with respect to the logits.

    loss = (1/N) sum_k -log softmax(z_k)[labels[k]]

    Computed with the log-sum-exp trick, log softmax(z)_i = (z_i - m) - log sum_j exp(z_j - m)
    with m = max_j z_j, so that no exponent is positive: finite for logits of 1e4, where the
    naive exp(z) overflows and log(softmax(z)) takes the log of 0.

    The gradient of softmax followed by cross-entropy simplifies to

    dlogits = (softmax(z) - onehot(labels)) / N

    so the two are differentiated together ("fused"), never through softmax_backward.

    Parameters
    ----------
    logits : np.ndarray, shape (N, C)
        Scores z before the softmax, one row per example.
    labels : np.ndarray, shape (N,)
        Integer class labels, each in range(C).

    Returns
    -------
    loss : float
        The mean cross-entropy, a number (>= 0).
    dlogits : np.ndarray, shape (N, C)
        d loss / d logits.
    """
    raise NotImplementedError
