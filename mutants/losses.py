"""Classic mistakes injected into solutions/losses.py; each must fail its hidden test."""

MUTANTS = [
    {
        "key": "sum_instead_of_mean",
        "module": "losses",
        "function": "sse",
        "old": "return float(np.mean(np.sum((A - Y) ** 2, axis=1)))",
        "new": "return float(np.sum((A - Y) ** 2))",
        "test": "test_sse_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "mean_over_all_entries",
        "module": "losses",
        "function": "sse",
        "old": "return float(np.mean(np.sum((A - Y) ** 2, axis=1)))",
        "new": "return float(np.mean((A - Y) ** 2))",
        "test": "test_sse_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "half_in_cost",
        "module": "losses",
        "function": "sse",
        "old": "return float(np.mean(np.sum((A - Y) ** 2, axis=1)))",
        "new": "return float(0.5 * np.mean(np.sum((A - Y) ** 2, axis=1)))",
        "test": "test_sse_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "missing_factor_2",
        "module": "losses",
        "function": "sse_grad",
        "old": "return 2.0 * (A - Y) / A.shape[0]",
        "new": "return (A - Y) / A.shape[0]",
        "test": "test_sse_grad_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "sum_instead_of_mean",
        "module": "losses",
        "function": "sse_grad",
        "old": "return 2.0 * (A - Y) / A.shape[0]",
        "new": "return 2.0 * (A - Y)",
        "test": "test_sse_grad_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "sign_error",
        "module": "losses",
        "function": "sse_grad",
        "old": "return 2.0 * (A - Y) / A.shape[0]",
        "new": "return 2.0 * (Y - A) / A.shape[0]",
        "test": "test_sse_grad_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "wrong_dtype",
        "module": "losses",
        "function": "one_hot",
        "old": "out = np.zeros((labels.shape[0], n_classes), dtype=np.float64)",
        "new": "out = np.zeros((labels.shape[0], n_classes), dtype=np.int64)",
        "test": "test_one_hot_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "overflow",
        "module": "losses",
        "function": "softmax_cross_entropy",
        "old": "shifted = logits - np.max(logits, axis=1, keepdims=True)",
        "new": "shifted = logits",
        "test": "test_softmax_cross_entropy_stable",
        "title_in_feedback": True,
    },
    {
        "key": "sign_error",
        "module": "losses",
        "function": "softmax_cross_entropy",
        "old": "return loss, (probs - one_hot(labels, n_classes)) / n",
        "new": "return loss, (one_hot(labels, n_classes) - probs) / n",
        "test": "test_softmax_cross_entropy_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "sum_instead_of_mean",
        "module": "losses",
        "function": "softmax_cross_entropy",
        "old": "loss = -float(np.mean(log_probs[np.arange(n), labels]))\n"
               "    return loss, (probs - one_hot(labels, n_classes)) / n",
        "new": "loss = -float(np.sum(log_probs[np.arange(n), labels]))\n"
               "    return loss, probs - one_hot(labels, n_classes)",
        "test": "test_softmax_cross_entropy_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "softmax_wrong_axis",
        "module": "losses",
        "function": "softmax_cross_entropy",
        "old": "shifted = logits - np.max(logits, axis=1, keepdims=True)\n"
               "    with np.errstate(under=\"ignore\"):\n"
               "        log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, "
               "keepdims=True))",
        "new": "shifted = logits - np.max(logits, axis=0, keepdims=True)\n"
               "    with np.errstate(under=\"ignore\"):\n"
               "        log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=0, "
               "keepdims=True))",
        "test": "test_softmax_cross_entropy_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "modified_input",
        "module": "losses",
        "function": "softmax_cross_entropy",
        "old": "shifted = logits - np.max(logits, axis=1, keepdims=True)",
        "new": "logits -= np.max(logits, axis=1, keepdims=True)\n    shifted = logits",
        "test": "test_softmax_cross_entropy_properties",
        "title_in_feedback": True,
    },
]
