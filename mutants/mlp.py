"""Classic mistakes injected into solutions/mlp.py; each must fail its hidden test."""

MUTANTS = [
    {
        "key": "init_scale",
        "module": "mlp",
        "function": "init_params",
        "old": "rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=(fan_out, fan_in))",
        "new": "rng.normal(0.0, 1.0 / fan_in, size=(fan_out, fan_in))",
        "test": "test_init_params_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "shape_mismatch",
        "module": "mlp",
        "function": "affine_forward",
        "old": "return np.asarray(A_prev, dtype=np.float64) @ np.asarray(W, dtype=np.float64).T + b",
        "new": "return np.asarray(A_prev, dtype=np.float64) @ np.asarray(W, dtype=np.float64) + b",
        "test": "test_affine_forward_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "transposed",
        "module": "mlp",
        "function": "affine_backward",
        "old": "return dZ @ W, dZ.T @ A_prev, dZ.sum(axis=0)",
        "new": "return dZ @ W, A_prev.T @ dZ, dZ.sum(axis=0)",
        "test": "test_affine_backward_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "bias_not_summed",
        "module": "mlp",
        "function": "affine_backward",
        "old": "return dZ @ W, dZ.T @ A_prev, dZ.sum(axis=0)",
        "new": "return dZ @ W, dZ.T @ A_prev, dZ",
        "test": "test_affine_backward_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "mean_instead_of_sum",
        "module": "mlp",
        "function": "affine_backward",
        "old": "return dZ @ W, dZ.T @ A_prev, dZ.sum(axis=0)",
        "new": "return dZ @ W, dZ.T @ A_prev / len(dZ), dZ.mean(axis=0)",
        "test": "test_affine_backward_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "output_activation",
        "module": "mlp",
        "function": "forward",
        "old": "name = output if i == n_layers else hidden",
        "new": "name = hidden",
        "test": "test_forward_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "activation_instead_of_derivative",
        "module": "mlp",
        "function": "backward",
        "old": "dZ = dA * sigmoid_prime(Z)",
        "new": "dZ = dA * sigmoid(Z)",
        "test": "test_backward_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "output_derivative_skipped",
        "module": "mlp",
        "function": "backward",
        "old": "        if name == \"sigmoid\":\n            dZ = dA * sigmoid_prime(Z)",
        "new": "        if i == len(cache):\n            dZ = dA\n"
               "        elif name == \"sigmoid\":\n            dZ = dA * sigmoid_prime(Z)",
        "test": "test_backward_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "sum_instead_of_mean",
        "module": "mlp",
        "function": "loss_and_grads",
        "old": "return sse(out, Y), backward(params, cache, sse_grad(out, Y))",
        "new": "return sse(out, Y), backward(params, cache, 2.0 * (out - Y))",
        "test": "test_loss_and_grads_sse",
        "title_in_feedback": True,
    },
    {
        "key": "ce_double_softmax",
        "module": "mlp",
        "function": "loss_and_grads",
        "old": "    dA_prev, dW, db = affine_backward(dlogits, top[\"A_prev\"], "
               "params[f\"W{n_layers}\"])\n"
               "    grads = backward(params, cache[:-1], dA_prev)\n"
               "    grads[f\"W{n_layers}\"] = dW\n"
               "    grads[f\"b{n_layers}\"] = db\n",
        "new": "    grads = backward(params, cache, dlogits)\n",
        "test": "test_loss_and_grads_ce",
        "title_in_feedback": True,
    },
    {
        "key": "gradient_vector_order",
        "module": "mlp",
        "function": "gradient_vector",
        "old": "    parts = [\n"
               "        np.asarray(grads[f\"{kind}{i}\"], dtype=np.float64).ravel()\n"
               "        for i in range(1, len(grads) // 2 + 1)\n"
               "        for kind in (\"W\", \"b\")\n"
               "    ]",
        "new": "    parts = [np.asarray(grads[k], dtype=np.float64).ravel() for k in sorted(grads)]",
        "test": "test_gradient_vector_order",
        "title_in_feedback": True,
    },
    {
        "key": "broadcast_column",
        "module": "mlp",
        "function": "predict",
        "old": "return np.argmax(out, axis=1)",
        "new": "return np.argmax(out, axis=1)[:, None]",
        "test": "test_predict_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "sum_instead_of_mean",
        "module": "mlp",
        "function": "accuracy",
        "old": "return float(np.mean(predict(params, X, hidden, output) == np.asarray(labels)))",
        "new": "return float(np.sum(predict(params, X, hidden, output) == np.asarray(labels)))",
        "test": "test_accuracy_matches_reference",
        "title_in_feedback": True,
    },
]
