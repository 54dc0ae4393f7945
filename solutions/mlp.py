"""The MLP walkthrough: a multi-layer perceptron on batches, forward and backward, by hand.

Layer l computes Z_l = A_{l-1} @ W_l.T + b_l and A_l = act(Z_l), with A_0 = X; the hidden
layers use one activation (sigmoid or relu), the output layer another (sigmoid or softmax).
Backpropagation runs the chain rule of the slides from the top layer down, one layer at a
time, and averages over the batch through the loss.

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
from activations import relu, relu_prime, sigmoid, sigmoid_prime, softmax, softmax_backward
from losses import softmax_cross_entropy, sse, sse_grad


def init_params(sizes: list[int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random initial parameters for an MLP with layer sizes [n_0, n_1, ..., n_L].

    For l = 1, ..., L, in this order and with exactly one draw per layer:

    W_l = rng.normal(0.0, 1 / sqrt(n_{l-1}), size=(n_l, n_{l-1}))
    b_l = zeros(n_l)

    The standard deviation 1/sqrt(n_{l-1}) keeps each Z_l of order 1 whatever the fan-in, so
    sigmoid units start away from saturation. Follow the order exactly: the grader draws the
    same numbers from the same rng and expects the same parameters.

    Parameters
    ----------
    sizes : list[int]
        [n_0, ..., n_L]: the input size, then the size of each layer; L = len(sizes) - 1.
    rng : np.random.Generator
        The only source of randomness.

    Returns
    -------
    dict[str, np.ndarray]
        {"W1": (n_1, n_0), "b1": (n_1,), ..., "WL": (n_L, n_{L-1}), "bL": (n_L,)}, float64,
        with the keys in that order. The same rng state gives the same parameters.
    """
    params: dict[str, np.ndarray] = {}
    for i in range(1, len(sizes)):
        fan_in, fan_out = sizes[i - 1], sizes[i]
        params[f"W{i}"] = rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=(fan_out, fan_in))
        params[f"b{i}"] = np.zeros(fan_out, dtype=np.float64)
    return params


def affine_forward(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The affine part of one layer, for a batch.

    Z = A_prev @ W.T + b, that is z_kj = sum_i w_ji a_ki + b_j for example k and neuron j.

    Parameters
    ----------
    A_prev : np.ndarray, shape (N, n_{l-1})
        Activations of the previous layer (the inputs X for the first layer).
    W : np.ndarray, shape (n_l, n_{l-1})
        Weights of this layer.
    b : np.ndarray, shape (n_l,)
        Biases of this layer.

    Returns
    -------
    np.ndarray, shape (N, n_l)
        Z, the pre-activations.
    """
    return np.asarray(A_prev, dtype=np.float64) @ np.asarray(W, dtype=np.float64).T + b


def affine_backward(
    dZ: np.ndarray, A_prev: np.ndarray, W: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backpropagate through Z = A_prev @ W.T + b.

    dA_prev = dZ @ W         (dC/da_ki = sum_j w_ji dC/dz_kj: a neuron feeds every neuron above)
    dW = dZ.T @ A_prev       (dC/dw_ji = sum_k dC/dz_kj a_ki: summed over the batch)
    db = dZ.sum(axis=0)      (dC/db_j = sum_k dC/dz_kj: summed over the batch)

    The sums over the batch are plain sums: the 1/N of the mean is already inside dZ, put
    there by the gradient of the loss.

    Parameters
    ----------
    dZ : np.ndarray, shape (N, n_l)
        Upstream gradient dC/dZ.
    A_prev : np.ndarray, shape (N, n_{l-1})
        The input of the layer in the forward pass.
    W : np.ndarray, shape (n_l, n_{l-1})
        The weights of the layer.

    Returns
    -------
    dA_prev : np.ndarray, shape (N, n_{l-1})
        dC/dA_prev.
    dW : np.ndarray, shape (n_l, n_{l-1})
        dC/dW.
    db : np.ndarray, shape (n_l,)
        dC/db.
    """
    dZ = np.asarray(dZ, dtype=np.float64)
    A_prev = np.asarray(A_prev, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    return dZ @ W, dZ.T @ A_prev, dZ.sum(axis=0)


def forward(
    params: dict[str, np.ndarray], X: np.ndarray, hidden: str = "sigmoid", output: str = "sigmoid"
) -> tuple[np.ndarray, list[dict[str, np.ndarray | str]]]:
    """Run the MLP on a batch and keep what backward needs.

    A_0 = X; for l = 1, ..., L: Z_l = affine_forward(A_{l-1}, W_l, b_l) and A_l = act_l(Z_l),
    where act_l is `hidden` for l < L and `output` for l = L (softmax over each row). The
    number of layers L is len(params) // 2.

    The cache is whatever your own backward needs: only your backward reads it (the grader
    runs your backward on your own forward's cache). It must be plain data: lists, tuples and
    dicts of numpy arrays and strings (no functions, closures or objects of your own
    classes), because the grader passes it between processes. A suggested layout, which the
    grader also falls back on when your forward fails, so that a mistake there does not cost
    backward its points: one dict per layer, bottom to top,

    cache[l - 1] = {"activation": name of act_l, "A_prev": A_{l-1}, "Z": Z_l, "A": A_l}

    so len(cache) = L, cache[-1]["A"] is out and cache[-1]["Z"] holds the output logits.

    Parameters
    ----------
    params : dict[str, np.ndarray]
        {"W1": (n_1, n_0), "b1": (n_1,), ..., "WL": (n_L, n_{L-1}), "bL": (n_L,)}.
    X : np.ndarray, shape (N, n_0)
        A batch of inputs, one row per example.
    hidden : str, optional
        Activation of the hidden layers: "sigmoid" (default) or "relu".
    output : str, optional
        Activation of the output layer: "sigmoid" (default) or "softmax".

    Returns
    -------
    out : np.ndarray, shape (N, n_L)
        A_L, the network output.
    cache : list[dict[str, np.ndarray | str]]
        What backward needs; suggested: L dicts with keys "activation" (str), "A_prev"
        (N, n_{l-1}), "Z" (N, n_l) and "A" (N, n_l), as above.

    Raises
    ------
    ValueError
        If hidden or output is not one of the names above.
    """
    if hidden not in ("sigmoid", "relu"):
        raise ValueError(f"hidden must be 'sigmoid' or 'relu', not {hidden!r}")
    if output not in ("sigmoid", "softmax"):
        raise ValueError(f"output must be 'sigmoid' or 'softmax', not {output!r}")
    n_layers = len(params) // 2
    A = np.asarray(X, dtype=np.float64)
    cache: list[dict[str, np.ndarray | str]] = []
    for i in range(1, n_layers + 1):
        name = output if i == n_layers else hidden
        Z = affine_forward(A, params[f"W{i}"], params[f"b{i}"])
        if name == "sigmoid":
            A_next = sigmoid(Z)
        elif name == "relu":
            A_next = relu(Z)
        else:
            A_next = softmax(Z)
        cache.append({"activation": name, "A_prev": A, "Z": Z, "A": A_next})
        A = A_next
    return A, cache


def backward(
    params: dict[str, np.ndarray], cache: list[dict[str, np.ndarray | str]], dout: np.ndarray
) -> dict[str, np.ndarray]:
    """Backpropagate dout = dC/d(out) through the layers recorded in cache.

    Start with dA_L = dout, the gradient with respect to the output A_L = cache[-1]["A"]
    (after the output activation), e.g. sse_grad(out, Y). Then for l = L, ..., 1 (top down),
    with A_prev, Z, A the entries of cache[l - 1]:

    1. through the activation of layer l:
       dZ_l = dA_l * sigmoid'(Z_l)      for "sigmoid"
       dZ_l = dA_l * relu'(Z_l)         for "relu"
       dZ_l = softmax_backward(A_l, dA_l) for "softmax" (each row's softmax mixes the row)
    2. through the affine map: dA_{l-1}, dW_l, db_l = affine_backward(dZ_l, A_{l-1}, W_l).

    So backward applies the output layer's own activation derivative too. Softmax followed by
    cross-entropy is differentiated fused instead (see loss_and_grads): run the top layer by
    hand from dlogits, then call backward on cache[:-1], the network below it, whose output
    is A_{L-1}. In general, for a cache of m layers backward returns the gradients of
    W1, b1, ..., Wm, bm and reads only those parameters.

    Parameters
    ----------
    params : dict[str, np.ndarray]
        {"W1": (n_1, n_0), "b1": (n_1,), ...}: the parameters forward was run with.
    cache : list[dict[str, np.ndarray | str]]
        The cache returned by forward (or its first m layers, cache[:m]).
    dout : np.ndarray, shape (N, n_m)
        dC/dA_m, the gradient with respect to the output of the top cached layer.

    Returns
    -------
    dict[str, np.ndarray]
        {"W1": (n_1, n_0), "b1": (n_1,), ..., "Wm": ..., "bm": ...}: the same keys, shapes
        and order as params for the full cache; empty for an empty cache.
    """
    grads: dict[str, np.ndarray] = {}
    dA = np.asarray(dout, dtype=np.float64)
    for i in range(len(cache), 0, -1):
        layer = cache[i - 1]
        name, A_prev, Z, A = layer["activation"], layer["A_prev"], layer["Z"], layer["A"]
        if name == "sigmoid":
            dZ = dA * sigmoid_prime(Z)
        elif name == "relu":
            dZ = dA * relu_prime(Z)
        elif name == "softmax":
            dZ = softmax_backward(A, dA)
        else:
            raise ValueError(f"unknown activation {name!r} in cache")
        dA, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(dZ, A_prev, params[f"W{i}"])
    return {key: grads[key] for i in range(1, len(cache) + 1) for key in (f"W{i}", f"b{i}")}


def loss_and_grads(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    hidden: str = "sigmoid",
    output: str = "sigmoid",
    loss: str = "sse",
) -> tuple[float, dict[str, np.ndarray]]:
    """The loss on a batch and its gradient with respect to every parameter.

    out, cache = forward(params, X, hidden, output), then

    - loss "sse" (output "sigmoid" or "softmax"): the loss is sse(out, Y), and the grads are
      backward(params, cache, sse_grad(out, Y)), where sse_grad = 2 (out - Y) / N.
    - loss "ce" (output "softmax" only): loss, dlogits = softmax_cross_entropy(Z_L, Y) on the
      output logits Z_L = cache[-1]["Z"], with dlogits = (softmax(Z_L) - onehot(Y)) / N. This
      fused gradient is dC/dZ_L already, so the top layer skips softmax_backward: take
      dA_{L-1}, dW_L, db_L = affine_backward(dlogits, A_{L-1}, W_L) and get the rest from
      backward(params, cache[:-1], dA_{L-1}).

    Going through dC/d(out) = -onehot / (N out) and softmax_backward would give the same
    numbers in exact arithmetic, but divides by zero once a probability underflows.

    Parameters
    ----------
    params : dict[str, np.ndarray]
        {"W1": (n_1, n_0), "b1": (n_1,), ..., "WL": (n_L, n_{L-1}), "bL": (n_L,)}.
    X : np.ndarray, shape (N, n_0)
        A batch of inputs.
    Y : np.ndarray
        Targets: shape (N, n_L) (e.g. one-hot) for "sse"; int labels of shape (N,) for "ce".
    hidden : str, optional
        "sigmoid" (default) or "relu".
    output : str, optional
        "sigmoid" (default) or "softmax".
    loss : str, optional
        "sse" (default) or "ce" (which needs output="softmax").

    Returns
    -------
    loss : float
        The batch loss, a number.
    grads : dict[str, np.ndarray]
        The same keys, shapes and order as params.

    Raises
    ------
    ValueError
        For an unknown loss, or "ce" with an output other than "softmax".
    """
    if loss not in ("sse", "ce"):
        raise ValueError(f"loss must be 'sse' or 'ce', not {loss!r}")
    if loss == "ce" and output != "softmax":
        raise ValueError(f"loss 'ce' needs output 'softmax', not {output!r}")
    out, cache = forward(params, X, hidden, output)
    if loss == "sse":
        return sse(out, Y), backward(params, cache, sse_grad(out, Y))
    n_layers = len(cache)
    top = cache[-1]
    value, dlogits = softmax_cross_entropy(top["Z"], Y)
    dA_prev, dW, db = affine_backward(dlogits, top["A_prev"], params[f"W{n_layers}"])
    grads = backward(params, cache[:-1], dA_prev)
    grads[f"W{n_layers}"] = dW
    grads[f"b{n_layers}"] = db
    return value, grads


def gradient_vector(grads: dict[str, np.ndarray]) -> np.ndarray:
    """Flatten a grads dict into the gradient vector of the slides.

    concat(W1.ravel(), b1.ravel(), W2.ravel(), b2.ravel(), ..., WL.ravel(), bL.ravel()), each
    flattened row-major, whatever the order of the keys in the dict. L is len(grads) // 2.

    Parameters
    ----------
    grads : dict[str, np.ndarray]
        {"W1": (n_1, n_0), "b1": (n_1,), ..., "WL": (n_L, n_{L-1}), "bL": (n_L,)}.

    Returns
    -------
    np.ndarray, shape (P,)
        P = sum_l n_l (n_{l-1} + 1), the total number of parameters.
    """
    parts = [
        np.asarray(grads[f"{kind}{i}"], dtype=np.float64).ravel()
        for i in range(1, len(grads) // 2 + 1)
        for kind in ("W", "b")
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)


def predict(
    params: dict[str, np.ndarray], X: np.ndarray, hidden: str = "sigmoid", output: str = "sigmoid"
) -> np.ndarray:
    """The predicted class of each example: the index of its largest output.

    predict = argmax_j out[k, j] for each row k, with out from forward (ties go to the
    smallest index, as np.argmax does).

    Parameters
    ----------
    params : dict[str, np.ndarray]
        {"W1": (n_1, n_0), "b1": (n_1,), ...}.
    X : np.ndarray, shape (N, n_0)
        A batch of inputs.
    hidden : str, optional
        "sigmoid" (default) or "relu".
    output : str, optional
        "sigmoid" (default) or "softmax".

    Returns
    -------
    np.ndarray, shape (N,)
        Integer labels in range(n_L).
    """
    out, _ = forward(params, X, hidden, output)
    return np.argmax(out, axis=1)


def accuracy(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    labels: np.ndarray,
    hidden: str = "sigmoid",
    output: str = "sigmoid",
) -> float:
    """The fraction of examples whose predicted class equals the label.

    accuracy = (1/N) sum_k [predict(X)[k] == labels[k]]

    Parameters
    ----------
    params : dict[str, np.ndarray]
        {"W1": (n_1, n_0), "b1": (n_1,), ...}.
    X : np.ndarray, shape (N, n_0)
        A batch of inputs.
    labels : np.ndarray, shape (N,)
        The true integer labels.
    hidden : str, optional
        "sigmoid" (default) or "relu".
    output : str, optional
        "sigmoid" (default) or "softmax".

    Returns
    -------
    float
        A number in [0, 1].
    """
    return float(np.mean(predict(params, X, hidden, output) == np.asarray(labels)))
