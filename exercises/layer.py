"""Layer: backpropagation through the last layer when it has many sigmoid neurons.

One example: z_j = sum_k w_jk a_k^(L-1) + b_j, a_j = sigma(z_j), C0 = sum_j (a_j - y_j)^2.
The derivative with respect to a previous activation a_k^(L-1) sums over every neuron j of
layer L, since a_k^(L-1) reaches the cost through all of them.

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
