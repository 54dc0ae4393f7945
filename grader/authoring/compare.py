"""Tolerance-aware comparison of a returned value with the expected one, with teaching messages.

`compare` walks dicts, tuples, lists and sets down to their leaves and checks each leaf in a
fixed order: ``None``, type, shape, dtype, NaN/inf positions, then values. Floating-point values
pass when ``|actual - expected| <= atol + rtol * |expected|`` elementwise, as in
`numpy.testing.assert_allclose`: the tolerance is relative to the *expected* value, so the test
is not symmetric in its two arguments. Both tolerances are explicit; ``atol`` must be > 0 where
the expected value can be zero (a relative tolerance alone accepts nothing but an exact 0 there).

What a returned value may be beyond the expected one: where a real scalar is expected, any real
number (a Python int or float, a numpy scalar, a 0-d array) is compared by value; a dict may
hold keys beside the expected ones, which are ignored (``strict_keys=True`` reports them).
With ``show_expected=False`` a message says where and by about how much a value differs, never
the expected numbers (for tests on inputs the student does not see).

Message format (fixed; tests assert it exactly). ``PATH`` names the leaf (``result``,
``result['dW']``, ``result[1]``); numbers print as ``{:.6g}``, with more figures when two values
would otherwise print alike::

    PATH: returned None — did you forget a `return`?
    PATH: expected a numpy array, got a list
    PATH: shape (3, 4), expected (4, 3)
    PATH: dtype float32, expected float64
    PATH is missing key 'db'
    PATH: got 1.5, expected 1 (absolute difference 0.5, relative difference 0.5; rtol=..., atol=...)
    PATH: not equal to tolerance rtol=1e-06, atol=1e-09
      Mismatched elements: 3 / 12 (25%)
      Max absolute difference: 0.5
      Max relative difference: 1
      Largest differences:
        index (0, 1): actual 1.5, expected 1
"""

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.authoring.comparison import Comparison, ComparisonError, Entry, Options, failed
from grader.authoring.elementwise import compare_exact, compare_floats
from grader.authoring.wording import about, describe, kind, named, short

__all__ = ["Comparison", "ComparisonError", "Entry", "about", "compare"]

_FLOAT_KINDS = "fc"
_NUMERIC_KINDS = "biufc"
_SCALARS = (bool, int, float, complex, np.generic)


def compare(
    actual: object,
    expected: object,
    *,
    rtol: float,
    atol: float,
    name: str = "result",
    check_dtype: bool = True,
    max_worst: int = 3,
    strict_keys: bool = False,
    show_expected: bool = True,
) -> Comparison:
    """Compare a returned value with the expected one, recursively, and explain any difference.

    Parameters
    ----------
    actual : object
        The value under test: an ndarray, Python or numpy scalar, str, or a dict, tuple, list or
        set of those.
    expected : object
        The reference value, of the same structure. Where it is a float scalar, a Python float,
        a numpy floating scalar and a 0-d float array are all accepted.
    rtol, atol : float
        Relative and absolute tolerance for floating-point leaves: an element passes when
        ``|actual - expected| <= atol + rtol * |expected|``. Not both 0; ``atol`` must be > 0
        when expected values can be 0.
    name : str, optional
        How the value is called in messages; leaves append ``[key]`` or ``[i]``.
    check_dtype : bool, optional
        If True (default) a float array must have exactly the expected dtype (float64), an
        integer leaf any integer dtype, a bool leaf dtype bool; where a float scalar is
        expected, any real number (int, float, numpy integer or floating scalar, 0-d array)
        is compared by value, but not a bool. If False, any numeric dtype is compared by value.
    max_worst : int, optional
        How many mismatched entries of an array to list (largest absolute difference first).
    strict_keys : bool, optional
        If True, keys of a returned dict beyond the expected ones fail the comparison; by
        default they are ignored.
    show_expected : bool, optional
        If False, messages name where values differ and by about how much (one significant
        digit of the relative difference), but print neither the expected values nor the
        returned ones (from which, with the difference, the expected would follow).

    Returns
    -------
    Comparison
        ``ok`` and a message in the format given in the module docstring.

    Raises
    ------
    ValueError
        If a tolerance is negative or not finite, both are 0, or ``max_worst < 0``.
    TypeError
        If ``expected`` is of a type this function cannot compare.
    """
    if not (math.isfinite(rtol) and math.isfinite(atol)) or rtol < 0 or atol < 0:
        raise ValueError(f"tolerances must be finite and >= 0, got rtol={rtol}, atol={atol}")
    if rtol == 0 and atol == 0:
        raise ValueError("rtol and atol are both 0: give an explicit tolerance (atol > 0 if "
                         "expected values can be 0)")
    if max_worst < 0:
        raise ValueError(f"max_worst must be >= 0, got {max_worst}")
    options = Options(rtol, atol, check_dtype, max_worst, strict_keys, show_expected)
    return _compare(actual, expected, options, name)


def _compare(actual: object, expected: object, opt: Options, path: str) -> Comparison:
    if actual is None and expected is not None:
        return failed(path, "none", f"{path}: returned None — did you forget a `return`?")
    if expected is None:
        if actual is None:
            return Comparison(ok=True, path=path)
        return failed(path, "type", f"{path}: expected None, got {describe(actual)}")
    if isinstance(expected, Mapping):
        return _compare_mapping(actual, expected, opt, path)
    if isinstance(expected, tuple | list):
        return _compare_sequence(actual, expected, opt, path)
    if isinstance(expected, set | frozenset):
        return _compare_set(actual, expected, path, opt.show_expected)
    if isinstance(expected, str):
        if not isinstance(actual, str):
            return failed(path, "type", f"{path}: expected a str, got {describe(actual)}")
        if actual != expected:
            message = (f"{path}: got {short(actual)}, expected {short(expected)}"
                       if opt.show_expected else f"{path}: not the expected string")
            return failed(path, "values", message, n_bad=1, n_total=1)
        return Comparison(ok=True, path=path, n_total=1)
    if isinstance(expected, (*_SCALARS, np.ndarray)):
        return _compare_numeric(actual, np.asarray(expected), opt, path)
    raise TypeError(f"compare: cannot compare expected values of type {type(expected).__name__}")


def _compare_mapping(
    actual: object, expected: Mapping[Any, object], opt: Options, path: str
) -> Comparison:
    if not isinstance(actual, Mapping):
        return failed(path, "type", f"{path}: expected a dict, got {describe(actual)}")
    missing = [k for k in expected if k not in actual]
    extra = [k for k in actual if k not in expected] if opt.strict_keys else []
    problems = []
    if missing:
        problems.append(f"is missing {named('key', missing)}")
    if extra:
        problems.append(f"has unexpected {named('key', extra)}")
    header = [f"{path} {' and '.join(problems)}"] if problems else []
    parts = [_compare(actual[k], v, opt, f"{path}[{k!r}]") for k, v in expected.items()
             if k in actual]
    return _combine(path, header, "keys", parts)


def _compare_sequence(
    actual: object, expected: tuple[object, ...] | list[object], opt: Options, path: str
) -> Comparison:
    if not isinstance(actual, tuple | list):
        wanted = "a tuple" if isinstance(expected, tuple) else "a list"
        return failed(path, "type", f"{path}: expected {wanted}, got {describe(actual)}")
    if len(actual) != len(expected):
        return failed(path, "length", f"{path}: length {len(actual)}, expected {len(expected)}")
    parts = [_compare(a, e, opt, f"{path}[{i}]")
             for i, (a, e) in enumerate(zip(actual, expected, strict=True))]
    return _combine(path, [], "", parts)


def _compare_set(actual: object, expected: set[Any] | frozenset[Any], path: str,
                 show_expected: bool = True) -> Comparison:
    if not isinstance(actual, set | frozenset):
        return failed(path, "type", f"{path}: expected a set, got {describe(actual)}")
    missing = sorted(expected - actual, key=repr)
    extra = sorted(actual - expected, key=repr)
    if not missing and not extra:
        return Comparison(ok=True, path=path, n_total=len(expected))
    problems = []
    if missing and not show_expected:  # the missing elements are the expected answer
        problems.append(f"{len(missing)} expected element{'' if len(missing) == 1 else 's'} "
                        "missing")
    elif missing:
        problems.append(f"missing {named('element', missing)}")
    if extra:
        problems.append(f"unexpected {named('element', extra)}")
    return failed(path, "elements", f"{path}: {'; '.join(problems)}",
                 n_bad=len(missing) + len(extra), n_total=len(expected | actual))


def _combine(path: str, problems: list[str], reason: str, parts: list[Comparison]) -> Comparison:
    """Merge the results of a container's entries: all messages, the first failure's numbers."""
    failures = [c for c in parts if not c.ok]
    if not problems and not failures:
        return Comparison(
            ok=True, path=path, n_total=sum(c.n_total for c in parts),
            max_abs=max((c.max_abs for c in parts), default=0.0),
            max_rel=max((c.max_rel for c in parts), default=0.0),
        )
    message = "\n".join(problems + [c.message for c in failures])
    if problems:
        return failed(path, reason, message)
    return replace(failures[0], message=message)


def _compare_numeric(actual: object, e: NDArray[Any], opt: Options, path: str) -> Comparison:
    scalar = e.ndim == 0
    zero_d = isinstance(actual, _SCALARS) or (isinstance(actual, np.ndarray) and actual.ndim == 0)
    if scalar and not zero_d:
        return failed(path, "type", f"{path}: expected {kind(e)}, got {describe(actual)}")
    if not scalar and not isinstance(actual, np.ndarray):
        return failed(path, "type", f"{path}: expected a numpy array, got {describe(actual)}")
    a = np.asarray(actual)
    if a.shape != e.shape:
        return failed(path, "shape", f"{path}: shape {a.shape}, expected {e.shape}")
    dtype_problem = _dtype_problem(a.dtype, e.dtype, opt.check_dtype, scalar)
    if dtype_problem:
        if scalar:
            return failed(path, "dtype", f"{path}: expected {kind(e)}, got {describe(actual)}")
        return failed(path, "dtype", f"{path}: dtype {a.dtype}, {dtype_problem}")
    if a.dtype.kind in _FLOAT_KINDS or e.dtype.kind in _FLOAT_KINDS:
        return compare_floats(a, e, opt, path)
    return compare_exact(a, e, opt, path)


def _dtype_problem(a: np.dtype[Any], e: np.dtype[Any], check_dtype: bool,
                   scalar: bool = False) -> str:
    """Why dtype ``a`` is unacceptable where ``e`` is expected, or ``""``."""
    if scalar and e.kind == "f" and a.kind in "iuf":
        return ""  # a real number where a real number is expected: compared by value
    if not check_dtype:
        if e.kind in _NUMERIC_KINDS and a.kind in _NUMERIC_KINDS:
            return ""
        return "" if a.kind == e.kind else f"expected {e}"
    if e.kind in "iu":
        return "" if a.kind in "iu" else "expected an integer dtype"
    if e.kind in _FLOAT_KINDS:
        return "" if a == e else f"expected {e}"
    return "" if a.kind == e.kind else f"expected {e}"
