"""Classic mistakes injected into solutions/worked_example.py; each must fail its hidden test."""

SLIDE_INDEXING = {
    "key": "slide_indexing",
    "title": "The course's W[j, k] layout where the slide's indexing belongs",
    "hint": "In this exercise W[i, j] is the weight from x_{i+1} to h_{j+1} and V[i, j] = "
            "v_{i+1,j+1}: z = x @ W, y_in = h @ V (y1_in = v11 h1 + v21 h2), dL/dV = outer(h, "
            "delta) and dL/dh = V @ delta.",
    "module": "worked_example",
    "title_in_feedback": True,
}
SIGMA_PRIME_MISSING = {
    "key": "sigma_prime_missing",
    "title": "sigma' left out",
    "hint": "Every sigmoid on the way back contributes its derivative: dL/dy_in = 2(y - t) "
            "y (1 - y) at the output, and dL/dz = dL/dh h (1 - h) at the hidden layer.",
    "module": "worked_example",
    "title_in_feedback": True,
}

MUTANTS = [
    {
        **SLIDE_INDEXING,
        "function": "forward",
        "old": "z = x @ W\n    h = sigmoid(z)\n    y_in = h @ V",
        "new": "z = W @ x\n    h = sigmoid(z)\n    y_in = V @ h",
        "test": "test_forward_slide",
    },
    {
        "key": "loss_halved",
        "title": "Loss divided by 2",
        "hint": "L = (y1 - t1)^2 + (y2 - t2)^2: a plain sum over the two outputs, with no mean "
                "over them (np.sum, not np.mean) and no factor 1/2.",
        "module": "worked_example",
        "function": "loss",
        "old": "return float(np.sum((y - t) ** 2))",
        "new": "return float(np.mean((y - t) ** 2))",
        "test": "test_loss",
        "title_in_feedback": True,
    },
    {
        **SIGMA_PRIME_MISSING,
        "function": "output_deltas",
        "old": "return 2.0 * (y - t) * y * (1.0 - y)",
        "new": "return 2.0 * (y - t)",
        "test": "test_output_deltas_slide",
    },
    {
        "key": "sigma_prime_of_output",
        "title": "sigma' applied to the output y",
        "hint": "sigma'(y_in) = sigma(y_in) (1 - sigma(y_in)) = y (1 - y): y is already "
                "sigma(y_in), so use y (1 - y) and do not squash y again.",
        "module": "worked_example",
        "function": "output_deltas",
        "old": "return 2.0 * (y - t) * y * (1.0 - y)",
        "new": "return 2.0 * (y - t) * sigmoid(y) * (1.0 - sigmoid(y))",
        "test": "test_output_deltas_slide",
        "title_in_feedback": True,
    },
    {
        "key": "sign_error",
        "module": "worked_example",
        "function": "output_deltas",
        "old": "return 2.0 * (y - t) * y * (1.0 - y)",
        "new": "return 2.0 * (t - y) * y * (1.0 - y)",
        "test": "test_output_deltas_random",
        "title_in_feedback": True,
    },
    {
        **SLIDE_INDEXING,
        "function": "grad_V",
        "old": "return np.outer(h, delta)",
        "new": "return np.outer(delta, h)",
        "test": "test_grad_V_slide",
    },
    {
        **SLIDE_INDEXING,
        "function": "grad_h",
        "old": "return V @ delta",
        "new": "return V.T @ delta",
        "test": "test_grad_h",
    },
    {
        "key": "slide_vector_order",
        "title": "Weights in the wrong order for the slide",
        "hint": "The slide lists the weights into each hidden unit, then V row by row: "
                "concat(dW.T.ravel(), dV.ravel()) = [dw11, dw21, dw12, dw22, dv11, dv12, dv21, "
                "dv22].",
        "module": "worked_example",
        "function": "gradient_vector",
        "old": "return np.concatenate([dW.T.ravel(), dV.ravel()])",
        "new": "return np.concatenate([dW.ravel(), dV.ravel()])",
        "test": "test_gradient_vector_slide",
        "title_in_feedback": True,
    },
    {
        **SIGMA_PRIME_MISSING,
        "function": "gradient_vector",
        "old": "dz = grad_h(V, delta) * h * (1.0 - h)",
        "new": "dz = grad_h(V, delta)",
        "test": "test_gradient_vector_random",
    },
    {
        "key": "sum_instead_of_mean",
        "module": "worked_example",
        "function": "batch_gradient",
        "old": 'return {"dW": X.T @ dZ / n, "dV": H.T @ delta / n}',
        "new": 'return {"dW": X.T @ dZ, "dV": H.T @ delta}',
        "test": "test_batch_gradient_random",
        "title_in_feedback": True,
    },
    {
        **SLIDE_INDEXING,
        "function": "batch_gradient",
        "old": 'return {"dW": X.T @ dZ / n, "dV": H.T @ delta / n}',
        "new": 'return {"dW": dZ.T @ X / n, "dV": delta.T @ H / n}',
        "test": "test_batch_gradient_slide",
    },
]
