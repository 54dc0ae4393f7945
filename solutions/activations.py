"""Activations: why and how we squash.

A neuron computes z = w a_prev + b and then squashes it, a = sigma(z). Without the squash a
stack of layers is one linear map (see compose_linear), however deep it is.

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


def sigmoid(z: float | np.ndarray) -> float | np.ndarray:
    """The logistic sigmoid, elementwise.

    sigma(z) = 1 / (1 + exp(-z))

    Computed so that it stays finite, with no overflow warning, for abs(z) up to 1e4 and
    beyond: exp(-z) overflows for z < -709, so for negative z use the equal form
    exp(z) / (1 + exp(z)), whose exponent is never positive (np.where computes both forms
    everywhere, so it warns: select the entries first). sigmoid(0) = 0.5, also for z = -0.0
    and tiny z of either sign.

    Parameters
    ----------
    z : float or np.ndarray, any shape
        Pre-activations.

    Returns
    -------
    float or np.ndarray, same shape as z
        sigma(z), each entry in [0, 1]. A scalar for a scalar z.
    """
    z = np.asarray(z, dtype=np.float64)
    # Numerator exp(min(z, 0)) is 1 for z >= 0 and exp(z) for z < 0; the denominator is
    # 1 + exp(-|z|). No exponent is positive, so nothing overflows; underflow to 0 is the
    # correct limit, not an error.
    with np.errstate(under="ignore"):
        return np.exp(np.minimum(z, 0.0)) / (1.0 + np.exp(-np.abs(z)))


def sigmoid_prime(z: float | np.ndarray) -> float | np.ndarray:
    """The derivative of the sigmoid, elementwise.

    sigma'(z) = sigma(z) (1 - sigma(z))

    Its largest value is 1/4, at z = 0 (and at tiny z of either sign); it vanishes for large
    abs(z) (a saturated neuron learns slowly). Computed, like the sigmoid, so that it stays
    finite, with no overflow warning, for abs(z) up to 1e4.

    Parameters
    ----------
    z : float or np.ndarray, any shape
        Pre-activations.

    Returns
    -------
    float or np.ndarray, same shape as z
        sigma'(z), each entry in [0, 1/4]. A scalar for a scalar z.
    """
    s = sigmoid(z)
    with np.errstate(under="ignore"):
        return s * (1.0 - s)


def relu(z: float | np.ndarray) -> float | np.ndarray:
    """The rectified linear unit, elementwise.

    relu(z) = max(0, z)

    Parameters
    ----------
    z : float or np.ndarray, any shape
        Pre-activations.

    Exact for every z with abs(z) up to 1e4: relu(0) = relu(-0.0) = 0, and a tiny positive z
    (even a subnormal one, 5e-324) comes back unchanged.

    Returns
    -------
    float or np.ndarray, same shape as z
        relu(z). A number for a scalar z, of any real type (max(0, z) returns the int 0 for
        z <= 0, and that is right).
    """
    z = np.asarray(z, dtype=np.float64)
    return np.maximum(z, 0.0)


def relu_prime(z: float | np.ndarray) -> float | np.ndarray:
    """The derivative of the ReLU, elementwise.

    relu'(z) = 1 if z > 0 else 0, so relu'(0) = 0 by convention.

    Parameters
    ----------
    z : float or np.ndarray, any shape
        Pre-activations.

    Tiny values count by their sign: relu'(5e-324) = 1 and relu'(-5e-324) = relu'(-0.0) = 0.

    Returns
    -------
    float or np.ndarray, same shape as z
        1.0 where z > 0 and 0.0 elsewhere (float64, not bool). A number for a scalar z.
    """
    z = np.asarray(z, dtype=np.float64)
    return (z > 0.0).astype(np.float64)


def softmax(z: np.ndarray) -> np.ndarray:
    """The softmax over the last axis.

    softmax(z)_i = exp(z_i) / sum_j exp(z_j)

    Subtracting the row maximum m first changes nothing, exp(z_i - m) / sum_j exp(z_j - m) is
    the same number, but keeps every exponent <= 0: no overflow for logits of 1e4, and each
    row is shifted by its own maximum, so rows of very different scale are all stable.

    Parameters
    ----------
    z : np.ndarray, shape (..., C)
        Logits: one row of C scores per example, e.g. (C,) or (N, C).

    Returns
    -------
    np.ndarray, shape (..., C)
        Probabilities: non-negative, each row summing to 1.
    """
    z = np.asarray(z, dtype=np.float64)
    shifted = z - np.max(z, axis=-1, keepdims=True)
    # exp of a very negative shifted logit underflows to 0, its correct value.
    with np.errstate(under="ignore"):
        e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def softmax_backward(s: np.ndarray, ds: np.ndarray) -> np.ndarray:
    """Backpropagate through the softmax: the vector-Jacobian product.

    With s = softmax(z), ds_i/dz_k = s_i (delta_ik - s_k), so for an upstream gradient
    ds = dC/ds:

    dC/dz_k = sum_i ds_i s_i (delta_ik - s_k) = s_k (ds_k - sum_i ds_i s_i)

    that is, dz = s * (ds - sum(ds * s, axis=-1, keepdims=True)). The Jacobian itself is never
    formed.

    Parameters
    ----------
    s : np.ndarray, shape (..., C)
        The softmax output, softmax(z), for any leading shape.
    ds : np.ndarray, shape (..., C)
        The upstream gradient dC/ds, same shape as s.

    Returns
    -------
    np.ndarray, shape (..., C)
        dC/dz, same shape as s.
    """
    s = np.asarray(s, dtype=np.float64)
    ds = np.asarray(ds, dtype=np.float64)
    return s * (ds - np.sum(ds * s, axis=-1, keepdims=True))


def compose_linear(
    W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The single linear layer equal to two linear layers with no activation between them.

    W2 (W1 a + b1) + b2 = (W2 W1) a + (W2 b1 + b2), so W = W2 @ W1 and b = W2 @ b1 + b2.
    Two (or a hundred) layers with no non-linearity between them can represent nothing that
    one layer cannot: this is why every hidden layer squashes.

    Parameters
    ----------
    W1 : np.ndarray, shape (n_1, n_0)
        Weights of the first layer.
    b1 : np.ndarray, shape (n_1,)
        Biases of the first layer.
    W2 : np.ndarray, shape (n_2, n_1)
        Weights of the second layer.
    b2 : np.ndarray, shape (n_2,)
        Biases of the second layer.

    Returns
    -------
    W : np.ndarray, shape (n_2, n_0)
        W2 @ W1.
    b : np.ndarray, shape (n_2,)
        W2 @ b1 + b2.
    """
    W1 = np.asarray(W1, dtype=np.float64)
    b1 = np.asarray(b1, dtype=np.float64)
    W2 = np.asarray(W2, dtype=np.float64)
    b2 = np.asarray(b2, dtype=np.float64)
    return W2 @ W1, W2 @ b1 + b2
