"""Classic mistakes injected into solutions/gradcheck.py; each must fail its hidden test."""

MUTANTS = [
    {
        "key": "modified_input",
        "module": "gradcheck",
        "function": "numerical_gradient",
        "old": "        x_plus = x.copy()\n"
               "        x_plus[i] += eps\n"
               "        x_minus = x.copy()\n"
               "        x_minus[i] -= eps\n"
               "        grad[i] = (float(f(x_plus)) - float(f(x_minus))) / (2.0 * eps)",
        # perturbs x itself and forgets to put x[i] back
        "new": "        x[i] += eps\n"
               "        f_plus = float(f(x))\n"
               "        x[i] -= 2 * eps\n"
               "        f_minus = float(f(x))\n"
               "        grad[i] = (f_plus - f_minus) / (2.0 * eps)",
        "test": "test_numerical_gradient_leaves_x_unchanged",
        "title_in_feedback": True,
        # find_buggy_parameters is built on numerical_gradient, which takes a function: the
        # grader cannot swap it for the reference (a function cannot cross the sandbox's wire)
        "also_costs": ["find_buggy_parameters"],
    },
    {
        "key": "one_sided_difference",
        "module": "gradcheck",
        "function": "numerical_gradient",
        "old": "grad[i] = (float(f(x_plus)) - float(f(x_minus))) / (2.0 * eps)",
        "new": "grad[i] = (float(f(x_plus)) - float(f(x))) / eps",
        "test": "test_numerical_gradient_matches_reference",
        "title_in_feedback": True,
        # find_buggy_parameters is built on numerical_gradient, which takes a function: the
        # grader cannot swap it for the reference (a function cannot cross the sandbox's wire)
        "also_costs": ["find_buggy_parameters"],
    },
    {
        "key": "central_difference_factor",
        "module": "gradcheck",
        "function": "numerical_gradient",
        "old": "grad[i] = (float(f(x_plus)) - float(f(x_minus))) / (2.0 * eps)",
        "new": "grad[i] = (float(f(x_plus)) - float(f(x_minus))) / eps",
        "test": "test_numerical_gradient_matches_reference",
        "title_in_feedback": True,
        # find_buggy_parameters is built on numerical_gradient, which takes a function: the
        # grader cannot swap it for the reference (a function cannot cross the sandbox's wire)
        "also_costs": ["find_buggy_parameters"],
    },
    {
        "key": "eps_ignored",
        "module": "gradcheck",
        "function": "numerical_gradient",
        "old": "    grad = np.zeros(x.shape, dtype=np.float64)\n",
        "new": "    grad = np.zeros(x.shape, dtype=np.float64)\n    eps = 1e-5\n",
        "test": "test_numerical_gradient_uses_eps",
        "title_in_feedback": True,
    },
    {
        "key": "relative_error_no_floor",
        "module": "gradcheck",
        "function": "relative_error",
        "old": "return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))",
        "new": "return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))",
        "test": "test_relative_error_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "relative_error_mean",
        "module": "gradcheck",
        "function": "relative_error",
        "old": "return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))",
        "new": "return float(np.mean(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))",
        "test": "test_relative_error_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "relative_error_denominator",
        "module": "gradcheck",
        "function": "relative_error",
        "old": "return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))",
        "new": "return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.maximum(np.abs(a), "
               "np.abs(b)))))",
        "test": "test_relative_error_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "gradcheck_absolute_floor",
        "module": "gradcheck",
        "function": "find_buggy_parameters",
        "old": "            relative_error(analytic, numerical) > 1e-5\n"
               "            and np.max(np.abs(analytic - numerical)) > 1e-7\n",
        "new": "            relative_error(analytic, numerical) > 1e-5\n",
        "test": "test_find_buggy_parameters_tiny_gradients",
        "title_in_feedback": True,
    },
    {
        "key": "modified_input",
        "module": "gradcheck",
        "function": "find_buggy_parameters",
        # nudges the caller's params in place and forgets to put them back
        "old": "        numerical = numerical_gradient(f, own[name])\n",
        "new": "        numerical = np.zeros_like(own[name])\n"
               "        for i in np.ndindex(own[name].shape):\n"
               "            params[name][i] += 1e-5\n"
               "            plus = loss(params, X, Y)\n"
               "            params[name][i] -= 2e-5\n"
               "            minus = loss(params, X, Y)\n"
               "            numerical[i] = (plus - minus) / 2e-5\n",
        "test": "test_find_buggy_parameters_finds_planted_bugs",
        "title_in_feedback": True,
    },
]
