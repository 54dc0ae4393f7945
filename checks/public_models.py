"""A public model for the gradient-checking exercises: a small tanh network and its loss.

The checks and hidden tests of ``gradcheck.find_buggy_parameters`` pass ``tanh_net_loss`` to
your function as its ``loss``. ``course.toml`` lists this module as a sandbox helper, so it
runs inside the sandbox next to your code: a gradient check calls the loss twice per
parameter entry, and each call stays a plain function call. It is no exercise (the course's
networks use sigmoid, ReLU and softmax) and holds nothing of the solutions. It depends on
numpy only, because the sandbox has nothing else.
"""

import numpy as np


def tanh_net_loss(params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> float:
    """The squared error of a network with tanh hidden layers and a linear output layer.

    A0 = X;  A_l = tanh(A_{l-1} @ W_l.T + b_l) for l < L;  out = A_{L-1} @ W_L.T + b_L
    L = mean over the N rows of sum_j (out_j - Y_j)^2

    Parameters
    ----------
    params : dict[str, np.ndarray]
        {"W1": (n_1, n_0), "b1": (n_1,), ..., "WL": (n_L, n_{L-1}), "bL": (n_L,)}.
    X : np.ndarray, shape (N, n_0)
        Inputs.
    Y : np.ndarray, shape (N, n_L)
        Targets.

    Returns
    -------
    float
        The loss.
    """
    layers = sum(1 for name in params if name.startswith("W"))
    A = np.asarray(X, dtype=np.float64)
    for layer in range(1, layers + 1):
        Z = A @ np.asarray(params[f"W{layer}"]).T + np.asarray(params[f"b{layer}"])
        A = np.tanh(Z) if layer < layers else Z
    return float(np.mean(np.sum((A - np.asarray(Y)) ** 2, axis=1)))
