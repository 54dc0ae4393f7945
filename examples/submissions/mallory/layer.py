"""Layer: backpropagation through the last layer when it has many sigmoid neurons.

One example: z_j = sum_k w_jk a_k^(L-1) + b_j, a_j = sigma(z_j), C0 = sum_j (a_j - y_j)^2.
The derivative with respect to a previous activation a_k^(L-1) sums over every neuron j of
layer L, since a_k^(L-1) reaches the cost through all of them.

Conventions
-----------
- All arrays are float64 numpy arrays; wherever a scalar is allowed, a Python float works too.
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
- No function modifies its arguments. Randomness comes only from an rng argument
  (numpy.random.Generator). Stubs raise NotImplementedError, never return None.
"""

import numpy as np
from activations import sigmoid, sigmoid_prime


def forward(W: np.ndarray, b: np.ndarray, a_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The forward pass of a layer of sigmoid neurons, for one example.

    z_j = sum_k w_jk a_k^(L-1) + b_j,    a_j = sigma(z_j)

    that is, z = W @ a_prev + b and a = sigma(z).

    Parameters
    ----------
    W : np.ndarray, shape (n_L, n_{L-1})
        W[j, k] is w_jk, the weight from neuron k of layer L-1 to neuron j of layer L.
    b : np.ndarray, shape (n_L,)
        The biases.
    a_prev : np.ndarray, shape (n_{L-1},)
        The activations of layer L-1.

    Returns
    -------
    z : np.ndarray, shape (n_L,)
        The pre-activations.
    a : np.ndarray, shape (n_L,)
        The activations sigma(z).
    """
    raise NotImplementedError


def cost(a: np.ndarray, y: np.ndarray) -> float:
    """The cost of one example, summed over the neurons of the last layer.

    C0 = sum_j (a_j - y_j)^2

    Parameters
    ----------
    a : np.ndarray, shape (n_L,)
        The output activations.
    y : np.ndarray, shape (n_L,)
        The desired outputs.

    Returns
    -------
    float
        C0.
    """
    raise NotImplementedError


def backward_loops(
    W: np.ndarray, b: np.ndarray, a_prev: np.ndarray, y: np.ndarray
) -> dict[str, np.ndarray]:
    """The gradient of C0 for one example, with explicit loops over j and k, as on the slides.

    dC0/dw_jk       = a_k^(L-1) * sigma'(z_j) * 2(a_j - y_j)
    dC0/db_j        =         1 * sigma'(z_j) * 2(a_j - y_j)
    dC0/da_k^(L-1)  = sum_{j=0}^{n_L - 1} w_jk * sigma'(z_j) * 2(a_j - y_j)

    Write it term by term: a loop over the neurons j of layer L and, inside it, a loop over the
    neurons k of layer L-1. backward computes the same numbers without loops.

    Parameters
    ----------
    W : np.ndarray, shape (n_L, n_{L-1})
        W[j, k] is w_jk.
    b : np.ndarray, shape (n_L,)
        The biases.
    a_prev : np.ndarray, shape (n_{L-1},)
        The activations of layer L-1.
    y : np.ndarray, shape (n_L,)
        The desired outputs.

    Returns
    -------
    dict[str, np.ndarray]
        ``"dW"``, shape (n_L, n_{L-1}): dW[j, k] = dC0/dw_jk; ``"db"``, shape (n_L,):
        dC0/db_j; ``"da_prev"``, shape (n_{L-1},): dC0/da_k^(L-1).
    """
    raise NotImplementedError


def backward(
    W: np.ndarray, b: np.ndarray, a_prev: np.ndarray, y: np.ndarray
) -> dict[str, np.ndarray]:
    """The gradient of C0 for one example, vectorized (no Python loops).

    With delta_j = dC0/dz_j = sigma'(z_j) * 2(a_j - y_j):

    dC0/dw_jk      = a_k^(L-1) delta_j       dW = outer(delta, a_prev)
    dC0/db_j       = delta_j                 db = delta
    dC0/da_k^(L-1) = sum_j w_jk delta_j      da_prev = W.T @ delta

    Parameters
    ----------
    W : np.ndarray, shape (n_L, n_{L-1})
        W[j, k] is w_jk.
    b : np.ndarray, shape (n_L,)
        The biases.
    a_prev : np.ndarray, shape (n_{L-1},)
        The activations of layer L-1.
    y : np.ndarray, shape (n_L,)
        The desired outputs.

    Returns
    -------
    dict[str, np.ndarray]
        ``"dW"``, shape (n_L, n_{L-1}); ``"db"``, shape (n_L,); ``"da_prev"``, shape
        (n_{L-1},): the same numbers as backward_loops.
    """
    raise NotImplementedError


# --- mallory's attacks: none of them may earn a point ---------------------------------------
import numpy as _np  # noqa: E402
import numpy.testing as _npt  # noqa: E402

_np.allclose = lambda *a, **k: True  # "every comparison passes"
_npt.assert_allclose = lambda *a, **k: None
print('{"score": 100, "max_score": 100, "tests": []}')  # fake results on stdout


class _AlwaysEqual:
    def __eq__(self, other):
        return True

    def __getattr__(self, name):
        return lambda *a, **k: True


def forward(W, b, a_prev):  # noqa: F811
    return _AlwaysEqual(), _AlwaysEqual()


def cost(a, y):  # noqa: F811
    return _AlwaysEqual()


def backward(W, b, a_prev, y):  # noqa: F811
    while True:  # hang: the deadline stops it
        pass


def backward_loops(W, b, a_prev, y):  # noqa: F811
    import os

    os._exit(0)  # kill the process in the middle of a call
