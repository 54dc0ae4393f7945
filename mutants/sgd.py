"""Classic mistakes injected into solutions/sgd.py; each must fail its hidden test."""

MUTANTS = [
    {
        "key": "minibatch_no_shuffle",
        "module": "sgd",
        "function": "minibatches",
        "old": "    perm = rng.permutation(n)\n",
        "new": "    perm = np.arange(n)\n",
        "test": "test_minibatches_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "minibatch_drops_last",
        "module": "sgd",
        "function": "minibatches",
        "old": "for start in range(0, n, batch_size)]",
        "new": "for start in range(0, n - batch_size + 1, batch_size)]",
        "test": "test_minibatches_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "sign_error",
        "module": "sgd",
        "function": "sgd_step",
        "old": "return {name: value - lr * np.asarray(grads[name]) for name, value in params.items()}",
        "new": "return {name: value + lr * np.asarray(grads[name]) for name, value in params.items()}",
        "test": "test_sgd_step_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "modified_input",
        "module": "sgd",
        "function": "sgd_step",
        "old": "return {name: value - lr * np.asarray(grads[name]) for name, value in params.items()}",
        "new": "for name in params:\n"
               "        params[name] -= lr * np.asarray(grads[name])\n"
               "    return params",
        "test": "test_sgd_step_leaves_inputs_unchanged",
        "title_in_feedback": True,
    },
    {
        "key": "history_unweighted_mean",
        "module": "sgd",
        "function": "train",
        "old": "            total += batch_loss * len(idx)\n",
        "new": "            total += batch_loss * len(X) / -(-len(X) // batch_size)\n",
        "test": "test_train_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "shuffle_once",
        "module": "sgd",
        "function": "train",
        "old": "    for _ in range(epochs):\n"
               "        total = 0.0\n"
               "        for idx in minibatches(len(X), batch_size, rng):\n",
        "new": "    batches = minibatches(len(X), batch_size, rng)\n"
               "    for _ in range(epochs):\n"
               "        total = 0.0\n"
               "        for idx in batches:\n",
        "test": "test_train_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "sign_error",
        "module": "sgd",
        "function": "train",
        # steps with the gradient: the capstone's loss rises
        "old": "            params = sgd_step(params, grads, lr)\n",
        "new": "            params = sgd_step(params, grads, -lr)\n",
        "test": "test_train_digits_capstone",
        "title_in_feedback": True,
    },
]
