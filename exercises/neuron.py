"""Neuron: the chain rule for a network with one sigmoid neuron per layer.

The last neuron computes z = w a_prev + b and a = sigma(z), and one training example costs
C0 = (a - y)^2. Each function works elementwise: on floats, or on arrays of one shape holding
one entry per example (chain_backward takes one example and one entry per layer).

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


def forward(
    w: float | np.ndarray, b: float | np.ndarray, a_prev: float | np.ndarray
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """The forward pass of one sigmoid neuron.

    z = w a_prev + b,    a = sigma(z)

    Parameters
    ----------
    w : float or np.ndarray
        The weight.
    b : float or np.ndarray
        The bias.
    a_prev : float or np.ndarray
        The activation of the neuron in the previous layer; an array holds one entry per
        example.

    Returns
    -------
    z : float or np.ndarray, the broadcast shape of w, b and a_prev
        The pre-activation.
    a : float or np.ndarray, same shape as z
        The activation sigma(z).
    """
    raise NotImplementedError


def cost(a: float | np.ndarray, y: float | np.ndarray) -> float | np.ndarray:
    """The cost of one training example, elementwise.

    C0 = (a - y)^2

    Parameters
    ----------
    a : float or np.ndarray
        The output activation; an array holds one entry per example.
    y : float or np.ndarray, same shape as a
        The desired output.

    Returns
    -------
    float or np.ndarray, same shape as a
        (a - y)^2: one cost per example, not their mean.
    """
    raise NotImplementedError


def chain_factors(
    w: float | np.ndarray,
    b: float | np.ndarray,
    a_prev: float | np.ndarray,
    y: float | np.ndarray,
) -> dict[str, float | np.ndarray]:
    """The three factors of the chain rule for dC0/dw.

    dC0/dw = dz/dw * da/dz * dC0/da = a_prev * sigma'(z) * 2(a - y)

    Parameters
    ----------
    w : float or np.ndarray
        The weight.
    b : float or np.ndarray
        The bias.
    a_prev : float or np.ndarray
        The previous activation; an array holds one entry per example.
    y : float or np.ndarray
        The desired output.

    Returns
    -------
    dict[str, float or np.ndarray]
        Each value of the broadcast shape of the inputs:

        - ``"dz_dw"``: dz/dw = a_prev
        - ``"da_dz"``: da/dz = sigma'(z)
        - ``"dC_da"``: dC0/da = 2(a - y)

        Their product is dC0/dw.
    """
    raise NotImplementedError


def backward(
    w: float | np.ndarray,
    b: float | np.ndarray,
    a_prev: float | np.ndarray,
    y: float | np.ndarray,
) -> dict[str, float | np.ndarray]:
    """The gradient of the cost of one example, C0 = (a - y)^2, by the chain rule.

    dC0/dw      = a_prev * sigma'(z) * 2(a - y)
    dC0/db      =      1 * sigma'(z) * 2(a - y)
    dC0/da_prev =      w * sigma'(z) * 2(a - y)

    Parameters
    ----------
    w : float or np.ndarray
        The weight.
    b : float or np.ndarray
        The bias.
    a_prev : float or np.ndarray
        The previous activation; an array holds one entry per example.
    y : float or np.ndarray
        The desired output.

    Returns
    -------
    dict[str, float or np.ndarray]
        ``"dw"``, ``"db"``, ``"da_prev"``: the three derivatives above, each of the broadcast
        shape of the inputs (one entry per example for array inputs).
    """
    raise NotImplementedError


def average_gradient(w: float, b: float, a_prev: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The derivative of the full cost: the average over the n training examples.

    C = (1/n) sum_k C_k, so dC/dw = (1/n) sum_k dC_k/dw and dC/db = (1/n) sum_k dC_k/db,
    with dC_k/dw = a_prev_k * sigma'(z_k) * 2(a_k - y_k) as in backward.

    Parameters
    ----------
    w : float
        The weight, shared by every example.
    b : float
        The bias, shared by every example.
    a_prev : np.ndarray, shape (n,)
        The previous activation for each of the n examples.
    y : np.ndarray, shape (n,)
        The desired output for each example.

    Returns
    -------
    dict[str, float]
        ``"dw"``: dC/dw, and ``"db"``: dC/db, each the mean over the n examples.
    """
    raise NotImplementedError


def chain_backward(ws: np.ndarray, bs: np.ndarray, x: float, y: float) -> dict[str, np.ndarray]:
    """Backpropagation through a chain of L single sigmoid neurons, for one example.

    Forward, with a^(0) = x: z^(l) = w^(l) a^(l-1) + b^(l), a^(l) = sigma(z^(l)), l = 1..L,
    and C0 = (a^(L) - y)^2.

    Backward, starting from dC0/da^(L) = 2(a^(L) - y), for l = L down to 1:

    dC0/dw^(l)     = a^(l-1) * sigma'(z^(l)) * dC0/da^(l)
    dC0/db^(l)     =       1 * sigma'(z^(l)) * dC0/da^(l)
    dC0/da^(l-1)   =   w^(l) * sigma'(z^(l)) * dC0/da^(l)

    Parameters
    ----------
    ws : np.ndarray, shape (L,)
        ws[l - 1] is w^(l), the weight of layer l.
    bs : np.ndarray, shape (L,)
        bs[l - 1] is b^(l), the bias of layer l.
    x : float
        The input a^(0).
    y : float
        The desired output.

    Returns
    -------
    dict[str, np.ndarray]
        ``"dw"``, shape (L,): dw[l - 1] = dC0/dw^(l); ``"db"``, shape (L,): db[l - 1] =
        dC0/db^(l).
    """
    raise NotImplementedError
