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
    },
    {
        "key": "one_sided_difference",
        "title": "One-sided instead of central difference",
        "hint": "Use the central difference (f(x + eps e_i) - f(x - eps e_i)) / (2 eps): its "
                "error is of order eps^2, that of (f(x + eps e_i) - f(x)) / eps of order eps.",
        "module": "gradcheck",
        "function": "numerical_gradient",
        "old": "grad[i] = (float(f(x_plus)) - float(f(x_minus))) / (2.0 * eps)",
        "new": "grad[i] = (float(f(x_plus)) - float(f(x))) / eps",
        "test": "test_numerical_gradient_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "central_difference_factor",
        "title": "Central difference divided by eps, not 2 eps",
        "hint": "The points x + eps e_i and x - eps e_i are 2 eps apart: divide "
                "f(x + eps e_i) - f(x - eps e_i) by 2 * eps.",
        "module": "gradcheck",
        "function": "numerical_gradient",
        "old": "grad[i] = (float(f(x_plus)) - float(f(x_minus))) / (2.0 * eps)",
        "new": "grad[i] = (float(f(x_plus)) - float(f(x_minus))) / eps",
        "test": "test_numerical_gradient_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "eps_ignored",
        "title": "The eps argument is ignored",
        "hint": "Use the step the caller passes, numerical_gradient(f, x, eps): do not "
                "hard-code 1e-5 inside the function.",
        "module": "gradcheck",
        "function": "numerical_gradient",
        "old": "    grad = np.zeros(x.shape, dtype=np.float64)\n",
        "new": "    grad = np.zeros(x.shape, dtype=np.float64)\n    eps = 1e-5\n",
        "test": "test_numerical_gradient_uses_eps",
        "title_in_feedback": True,
    },
    {
        "key": "relative_error_no_floor",
        "title": "No floor in the denominator",
        "hint": "Divide by max(1e-8, |a_i| + |b_i|): where both entries are 0 the plain sum "
                "gives 0 / 0 = NaN (np.maximum(1e-8, np.abs(a) + np.abs(b))).",
        "module": "gradcheck",
        "function": "relative_error",
        "old": "return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))",
        "new": "return float(np.max(np.abs(a - b) / (np.abs(a) + np.abs(b))))",
        "test": "test_relative_error_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "relative_error_mean",
        "title": "Mean instead of max of the entrywise errors",
        "hint": "relative_error is the largest entrywise error, max_i |a_i - b_i| / max(1e-8, "
                "|a_i| + |b_i|): one wrong entry must show, not be averaged away.",
        "module": "gradcheck",
        "function": "relative_error",
        "old": "return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))",
        "new": "return float(np.mean(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))",
        "test": "test_relative_error_matches_reference",
        "title_in_feedback": True,
    },
    {
        "key": "relative_error_denominator",
        "title": "Wrong denominator in the relative error",
        "hint": "The denominator is the sum of the magnitudes, max(1e-8, |a_i| + |b_i|), not "
                "their maximum or |b_i| alone.",
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
        "title": "Round-off flagged as a bug",
        "hint": "A numerical gradient is only good to about 1e-10 absolutely, so a tiny gradient "
                "entry can have a large relative error even when backward is right: flag a "
                "parameter only when relative_error > 1e-5 and max |analytic - numerical| > "
                "1e-7.",
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
