"""Worked example: the slide "Examples work through", a 2-2-2 sigmoid network, number by number.

Two inputs x1, x2, two sigmoid hidden units h1, h2, two sigmoid outputs y1, y2, no biases, and
the loss L = (y1 - t1)^2 + (y2 - t2)^2. The training set X, T and the weights W, V are
provided below; example 1 is x = X[0] = (3, 1) with target t = T[0] = (1, 0).

Indexing. Here, and only here, the matrices follow the slide's own indexing rather than the
course's W[j, k] layout: W[i, j] is the weight from input x_{i+1} to hidden h_{j+1}, and
V[i, j] is v_{i+1,j+1}, the weight from h_{i+1} to output y_{j+1}. So z = x @ W,
y_in = h @ V, and y1_in = v11 h1 + v21 h2.

Where the numbers come from. The slide gives only v11 = 1 and v12 = -2; the rest of W and V is
a network consistent with every number the slide prints. The slide's factors were rounded for
display: its -0.11 x 0.02, printed as -0.0018, is really -0.1046987 x 0.0167906. So the
float64 results here agree with each printed number only to within one unit of its last
printed digit (SLIDE_NUMBERS), and no network could round to all of them at once.

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
from activations import sigmoid

# Provided: the training set, one example per row.
X = np.array([[3.0, 1.0], [-1.0, 4.0]])
T = np.array([[1.0, 0.0], [0.0, 1.0]])

# Provided: the weights, in the slide's indexing: W[i, j] from x_{i+1} to h_{j+1},
# V[i, j] = v_{i+1,j+1} from h_{i+1} to y_{j+1}.
W = np.array([[3.0, -1.5], [3.0, 0.43]])
V = np.array([[1.0, -2.0], [0.5, 2.06]])  # v11 = 1, v12 = -2 as on the slide

# Provided: the numbers the slide prints for example 1 (x = X[0], t = T[0]), keyed by the
# function and index that compute them. A result matches when it is within one unit of the
# last printed digit: output_deltas is dL/dy_in (slide: -0.11, 0.026), grad_V[1, 0] is
# dL/dv21 (slide: -0.0018 = -0.11 x 0.02), grad_h[0] is dL/dh1 (slide: -0.158).
SLIDE_NUMBERS = {
    "output_deltas[0]": -0.11,
    "output_deltas[1]": 0.026,
    "grad_V[1, 0]": -0.0018,
    "grad_h[0]": -0.158,
}


def forward(x: np.ndarray, W: np.ndarray, V: np.ndarray) -> dict[str, np.ndarray]:
    """The forward pass of the slide's network (no biases).

    z = x @ W,  h = sigma(z),  y_in = h @ V,  y = sigma(y_in)

    so h_j = sigma(sum_i x_i W[i, j]) and y1_in = v11 h1 + v21 h2. A batch X of shape (N, 2)
    works too, giving every result a leading axis of N.

    Parameters
    ----------
    x : np.ndarray, shape (2,)
        One input, e.g. X[0] = (3, 1).
    W : np.ndarray, shape (2, 2)
        Input-to-hidden weights, W[i, j] from x_{i+1} to h_{j+1}.
    V : np.ndarray, shape (2, 2)
        Hidden-to-output weights, V[i, j] = v_{i+1,j+1} from h_{i+1} to y_{j+1}.

    Returns
    -------
    dict[str, np.ndarray]
        ``"z"``, ``"h"``, ``"y_in"``, ``"y"``, each shape (2,). For example 1,
        h = (0.99999386, 0.016790648) and y = (0.73270479, 0.12288394).
    """
    x = np.asarray(x, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    z = x @ W
    h = sigmoid(z)
    y_in = h @ V
    return {"z": z, "h": h, "y_in": y_in, "y": sigmoid(y_in)}


def loss(y: np.ndarray, t: np.ndarray) -> float:
    """The loss of one example.

    L = (y1 - t1)^2 + (y2 - t2)^2

    Parameters
    ----------
    y : np.ndarray, shape (2,)
        The outputs.
    t : np.ndarray, shape (2,)
        The targets.

    Returns
    -------
    float
        L; 0.086547192 for example 1.
    """
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    return float(np.sum((y - t) ** 2))


def output_deltas(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The output deltas dL/dy_in, elementwise.

    dL/dy_j_in = dL/dy_j * dy_j/dy_j_in = 2(y_j - t_j) * y_j (1 - y_j)

    using sigma'(y_in) = y (1 - y), so y_in itself is not needed.

    Parameters
    ----------
    y : np.ndarray, shape (2,)
        The outputs (any shape: the formula is elementwise).
    t : np.ndarray, shape (2,)
        The targets, same shape as y.

    Returns
    -------
    np.ndarray, shape (2,)
        dL/dy_in; (-0.10469872, 0.026489717) for example 1 (slide: -0.11, 0.026).
    """
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    return 2.0 * (y - t) * y * (1.0 - y)


def grad_V(h: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """The gradient of L with respect to the hidden-to-output weights V.

    dL/dv_ij = dy_j_in/dv_ij * dL/dy_j_in = h_i * delta_j,   i.e. outer(h, delta)

    For example 1, dL/dv21 = h2 * delta1 = 0.0167906 x -0.1046987 = -0.0017579594
    (slide: 0.02 x -0.11, printed -0.0018).

    Parameters
    ----------
    h : np.ndarray, shape (2,)
        The hidden activations.
    delta : np.ndarray, shape (2,)
        The output deltas dL/dy_in.

    Returns
    -------
    np.ndarray, shape (2, 2)
        Entry [i, j] is dL/dv_{i+1,j+1}, the same layout as V.
    """
    h = np.asarray(h, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)
    return np.outer(h, delta)


def grad_h(V: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """The gradient of L with respect to the hidden activations.

    h_i reaches L through both outputs, so the paths add up:

    dL/dh_i = sum_j v_ij * dL/dy_j_in = v_i1 delta_1 + v_i2 delta_2,   i.e. V @ delta

    Parameters
    ----------
    V : np.ndarray, shape (2, 2)
        Hidden-to-output weights, V[i, j] = v_{i+1,j+1}.
    delta : np.ndarray, shape (2,)
        The output deltas dL/dy_in.

    Returns
    -------
    np.ndarray, shape (2,)
        dL/dh; (-0.15767816, 0.002219457) for example 1 (slide: dL/dh1 = -0.158).
    """
    V = np.asarray(V, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)
    return V @ delta


def gradient_vector(x: np.ndarray, t: np.ndarray, W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """The gradient of L for one example, as the slide's vector of all 8 weights.

    Backward from the output deltas delta = dL/dy_in:

    dL/dv_ij = h_i delta_j
    dL/dh_i  = sum_j v_ij delta_j
    dL/dz_j  = dL/dh_j * h_j (1 - h_j)
    dL/dW[i, j] = x_i * dL/dz_j

    The slide lists the weights into each hidden unit, then V row by row:
    concat(dW.T.ravel(), dV.ravel()), where dW[i, j] = dL/dW[i, j] and dV = grad_V(h, delta).

    Parameters
    ----------
    x : np.ndarray, shape (2,)
        One input.
    t : np.ndarray, shape (2,)
        Its target.
    W : np.ndarray, shape (2, 2)
        Input-to-hidden weights, W[i, j] from x_{i+1} to h_{j+1}.
    V : np.ndarray, shape (2, 2)
        Hidden-to-output weights, V[i, j] = v_{i+1,j+1}.

    Returns
    -------
    np.ndarray, shape (8,)
        [dW[0, 0], dW[1, 0], dW[0, 1], dW[1, 1], dV[0, 0], dV[0, 1], dV[1, 0], dV[1, 1]].
        For example 1: [-2.906e-06, -9.688e-07, 1.0992e-04, 3.6640e-05, -0.10469808,
        0.026489554, -0.0017579594, 0.00044477952].
    """
    x = np.asarray(x, dtype=np.float64)
    fwd = forward(x, W, V)
    h = fwd["h"]
    delta = output_deltas(fwd["y"], t)
    dV = grad_V(h, delta)
    dz = grad_h(V, delta) * h * (1.0 - h)
    dW = np.outer(x, dz)
    return np.concatenate([dW.T.ravel(), dV.ravel()])


def batch_gradient(
    X: np.ndarray, T: np.ndarray, W: np.ndarray, V: np.ndarray
) -> dict[str, np.ndarray]:
    """The gradient averaged over the training examples (the rows of X and T).

    The full cost is the mean of the per-example losses, so its gradient is the mean of the
    per-example gradients:

    dL/dW = (1/N) sum_n outer(x_n, dL/dz_n) = X.T @ dZ / N
    dL/dV = (1/N) sum_n outer(h_n, delta_n) = H.T @ Delta / N

    where row n of dZ, H and Delta holds example n's dL/dz, h and dL/dy_in.

    Parameters
    ----------
    X : np.ndarray, shape (N, 2)
        The inputs, one example per row (the module's X has N = 2).
    T : np.ndarray, shape (N, 2)
        The targets, one per row.
    W : np.ndarray, shape (2, 2)
        Input-to-hidden weights, W[i, j] from x_{i+1} to h_{j+1}.
    V : np.ndarray, shape (2, 2)
        Hidden-to-output weights, V[i, j] = v_{i+1,j+1}.

    Returns
    -------
    dict[str, np.ndarray]
        ``"dW"``, shape (2, 2), and ``"dV"``, shape (2, 2): the average gradients, in the
        layouts of W and V.
    """
    X = np.asarray(X, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    n = X.shape[0]
    fwd = forward(X, W, V)
    H = fwd["h"]
    delta = output_deltas(fwd["y"], T)
    dZ = (delta @ V.T) * H * (1.0 - H)
    return {"dW": X.T @ dZ / n, "dV": H.T @ delta / n}
