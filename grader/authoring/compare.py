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
``result['dW']``, ``result[1]``); numbers print as ``{:.6g}``, with more digits when two values
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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Comparison", "ComparisonError", "Entry", "about", "compare"]

_FLOAT_KINDS = "fc"
_NUMERIC_KINDS = "biufc"
_SCALARS = (bool, int, float, complex, np.generic)


class ComparisonError(AssertionError):
    """Raised by `Comparison.assert_ok` when a comparison failed; carries the message."""


Entry = tuple[tuple[int, ...], Any, Any]
"""One differing element: ``(index, actual, expected)``, the values as Python numbers."""


@dataclass(frozen=True)
class Comparison:
    """Outcome of `compare`.

    Attributes
    ----------
    ok : bool
        True when every leaf matched.
    message : str
        ``""`` when ok, else the explanation (one line per failing leaf or more).
    path : str
        The first failing leaf (``"result['dW']"``), or the compared name when ok.
    reason : str
        Which check failed first: ``"none"``, ``"type"``, ``"keys"``, ``"length"``,
        ``"elements"``, ``"shape"``, ``"dtype"``, ``"nonfinite"`` or ``"values"``; ``""`` if ok.
    n_bad, n_total : int
        Mismatched and compared elements (of the first failing leaf when not ok; of all leaves
        when ok).
    max_abs, max_rel : float
        Largest absolute and relative difference among the mismatched elements, or among all
        elements when none mismatch (how close a passing result came). The relative difference
        is ``|actual - expected| / |expected|``, ``inf`` where expected is 0 and they differ.
    worst : tuple of Entry
        Up to ``max_worst`` mismatched entries, largest absolute difference first.
    """

    ok: bool
    message: str = ""
    path: str = ""
    reason: str = ""
    n_bad: int = 0
    n_total: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    worst: tuple[Entry, ...] = ()

    def assert_ok(self) -> None:
        """Raise `ComparisonError` with the message unless the comparison passed."""
        if not self.ok:
            raise ComparisonError(self.message)


@dataclass(frozen=True)
class _Options:
    rtol: float
    atol: float
    check_dtype: bool
    max_worst: int
    strict_keys: bool = False
    show_expected: bool = True


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
    options = _Options(rtol, atol, check_dtype, max_worst, strict_keys, show_expected)
    return _compare(actual, expected, options, name)


def _compare(actual: object, expected: object, opt: _Options, path: str) -> Comparison:
    if actual is None and expected is not None:
        return _fail(path, "none", f"{path}: returned None — did you forget a `return`?")
    if expected is None:
        if actual is None:
            return Comparison(ok=True, path=path)
        return _fail(path, "type", f"{path}: expected None, got {_describe(actual)}")
    if isinstance(expected, Mapping):
        return _compare_mapping(actual, expected, opt, path)
    if isinstance(expected, tuple | list):
        return _compare_sequence(actual, expected, opt, path)
    if isinstance(expected, set | frozenset):
        return _compare_set(actual, expected, path, opt.show_expected)
    if isinstance(expected, str):
        if not isinstance(actual, str):
            return _fail(path, "type", f"{path}: expected a str, got {_describe(actual)}")
        if actual != expected:
            message = (f"{path}: got {_short(actual)}, expected {_short(expected)}"
                       if opt.show_expected else f"{path}: not the expected string")
            return _fail(path, "values", message, n_bad=1, n_total=1)
        return Comparison(ok=True, path=path, n_total=1)
    if isinstance(expected, (*_SCALARS, np.ndarray)):
        return _compare_numeric(actual, np.asarray(expected), opt, path)
    raise TypeError(f"compare: cannot compare expected values of type {type(expected).__name__}")


def _compare_mapping(
    actual: object, expected: Mapping[Any, object], opt: _Options, path: str
) -> Comparison:
    if not isinstance(actual, Mapping):
        return _fail(path, "type", f"{path}: expected a dict, got {_describe(actual)}")
    missing = [k for k in expected if k not in actual]
    extra = [k for k in actual if k not in expected] if opt.strict_keys else []
    problems = []
    if missing:
        problems.append(f"is missing {_named('key', missing)}")
    if extra:
        problems.append(f"has unexpected {_named('key', extra)}")
    header = [f"{path} {' and '.join(problems)}"] if problems else []
    parts = [_compare(actual[k], v, opt, f"{path}[{k!r}]") for k, v in expected.items()
             if k in actual]
    return _combine(path, header, "keys", parts)


def _compare_sequence(
    actual: object, expected: tuple[object, ...] | list[object], opt: _Options, path: str
) -> Comparison:
    if not isinstance(actual, tuple | list):
        kind = "a tuple" if isinstance(expected, tuple) else "a list"
        return _fail(path, "type", f"{path}: expected {kind}, got {_describe(actual)}")
    if len(actual) != len(expected):
        return _fail(path, "length", f"{path}: length {len(actual)}, expected {len(expected)}")
    parts = [_compare(a, e, opt, f"{path}[{i}]")
             for i, (a, e) in enumerate(zip(actual, expected, strict=True))]
    return _combine(path, [], "", parts)


def _compare_set(actual: object, expected: set[Any] | frozenset[Any], path: str,
                 show_expected: bool = True) -> Comparison:
    if not isinstance(actual, set | frozenset):
        return _fail(path, "type", f"{path}: expected a set, got {_describe(actual)}")
    missing = sorted(expected - actual, key=repr)
    extra = sorted(actual - expected, key=repr)
    if not missing and not extra:
        return Comparison(ok=True, path=path, n_total=len(expected))
    problems = []
    if missing and not show_expected:  # the missing elements are the expected answer
        problems.append(f"{len(missing)} expected element{'' if len(missing) == 1 else 's'} "
                        "missing")
    elif missing:
        problems.append(f"missing {_named('element', missing)}")
    if extra:
        problems.append(f"unexpected {_named('element', extra)}")
    return _fail(path, "elements", f"{path}: {'; '.join(problems)}",
                 n_bad=len(missing) + len(extra), n_total=len(expected | actual))


def _combine(path: str, problems: list[str], reason: str, parts: list[Comparison]) -> Comparison:
    """Merge the results of a container's entries: all messages, the first failure's numbers."""
    failed = [c for c in parts if not c.ok]
    if not problems and not failed:
        return Comparison(
            ok=True, path=path, n_total=sum(c.n_total for c in parts),
            max_abs=max((c.max_abs for c in parts), default=0.0),
            max_rel=max((c.max_rel for c in parts), default=0.0),
        )
    message = "\n".join(problems + [c.message for c in failed])
    if problems:
        return _fail(path, reason, message)
    return replace(failed[0], message=message)


def _compare_numeric(actual: object, e: NDArray[Any], opt: _Options, path: str) -> Comparison:
    scalar = e.ndim == 0
    zero_d = isinstance(actual, _SCALARS) or (isinstance(actual, np.ndarray) and actual.ndim == 0)
    if scalar and not zero_d:
        return _fail(path, "type", f"{path}: expected {_kind(e)}, got {_describe(actual)}")
    if not scalar and not isinstance(actual, np.ndarray):
        return _fail(path, "type", f"{path}: expected a numpy array, got {_describe(actual)}")
    a = np.asarray(actual)
    if a.shape != e.shape:
        return _fail(path, "shape", f"{path}: shape {a.shape}, expected {e.shape}")
    dtype_problem = _dtype_problem(a.dtype, e.dtype, opt.check_dtype, scalar)
    if dtype_problem:
        if scalar:
            return _fail(path, "dtype", f"{path}: expected {_kind(e)}, got {_describe(actual)}")
        return _fail(path, "dtype", f"{path}: dtype {a.dtype}, {dtype_problem}")
    if a.dtype.kind in _FLOAT_KINDS or e.dtype.kind in _FLOAT_KINDS:
        return _compare_floats(a, e, opt, path)
    return _compare_exact(a, e, opt, path)


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


def _compare_floats(a: NDArray[Any], e: NDArray[Any], opt: _Options, path: str) -> Comparison:
    dtype = np.complex128 if "c" in (a.dtype.kind, e.dtype.kind) else np.float64
    a = a.astype(dtype)
    e = e.astype(dtype)
    n_total = int(e.size)
    fin_a, fin_e = np.isfinite(a), np.isfinite(e)
    with np.errstate(invalid="ignore", over="ignore"):
        same_special = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
        nonfinite = (~fin_a | ~fin_e) & ~same_special
        both = fin_a & fin_e
        diff = np.where(both, np.abs(a - e), 0.0).astype(np.float64)
        abs_e = np.abs(e).astype(np.float64)
        rel = np.where(abs_e > 0, diff / np.where(abs_e > 0, abs_e, 1.0),
                       np.where(diff > 0, np.inf, 0.0))
    if nonfinite.any():
        return _nonfinite_failure(a, e, nonfinite, fin_e, opt, path)
    bad = both & (diff > opt.atol + opt.rtol * abs_e)
    n_bad = int(bad.sum())
    pool = bad if n_bad else both
    max_abs = float(diff[pool].max()) if pool.any() else 0.0
    max_rel = float(rel[pool].max()) if pool.any() else 0.0
    if n_bad == 0:
        return Comparison(ok=True, path=path, n_total=n_total, max_abs=max_abs, max_rel=max_rel)
    flat = np.flatnonzero(bad)
    order = flat[np.argsort(-diff.ravel()[flat], kind="stable")][: opt.max_worst]
    worst = tuple(_entry(a, e, int(i)) for i in order)
    if not opt.show_expected:
        message = _hidden_values_message(path, opt, n_bad, n_total, max_rel, worst, e.ndim)
    elif e.ndim == 0:
        av, ev = _fmt_pair(_py(a[()]), _py(e[()]))
        message = (f"{path}: got {av}, expected {ev} (absolute difference {_fmt(max_abs)}, "
                   f"relative difference {_fmt(max_rel)}; rtol={opt.rtol:g}, atol={opt.atol:g})")
    else:
        lines = [
            f"{path}: not equal to tolerance rtol={opt.rtol:g}, atol={opt.atol:g}",
            f"  Mismatched elements: {n_bad} / {n_total} ({_pct(n_bad, n_total)})",
            f"  Max absolute difference: {_fmt(max_abs)}",
            f"  Max relative difference: {_fmt(max_rel)}",
        ]
        if worst:
            lines.append("  Largest differences:")
            lines.extend(f"    {_entry_line(w)}" for w in worst)
        message = "\n".join(lines)
    return _fail(path, "values", message, n_bad=n_bad, n_total=n_total, max_abs=max_abs,
                 max_rel=max_rel, worst=worst)


def _nonfinite_failure(
    a: NDArray[Any], e: NDArray[Any], nonfinite: NDArray[np.bool_], fin_e: NDArray[np.bool_],
    opt: _Options, path: str,
) -> Comparison:
    n_bad, n_total = int(nonfinite.sum()), int(e.size)
    flat = np.flatnonzero(nonfinite)
    worst = tuple(_entry(a, e, int(i)) for i in flat[: opt.max_worst])
    only_actual = bool(fin_e[nonfinite].all())
    if not opt.show_expected:
        what = "NaN or inf where finite values are expected" if only_actual else \
            "NaN or inf where the expected values differ"
        where = ", ".join(str(index) for index, _, _ in worst)
        message = (f"{path}: {what}" + (f" at {n_bad} / {n_total} positions "
                                        f"({_pct(n_bad, n_total)}), first at index {where}"
                                        if e.ndim else ""))
    elif e.ndim == 0:
        av, ev = _fmt_pair(_py(a[()]), _py(e[()]))
        what = "NaN or inf where a finite value is expected" if only_actual else \
            "NaN or inf differs"
        message = f"{path}: got {av}, expected {ev} ({what})"
    else:
        what = "NaN or inf where finite values are expected at" if only_actual else \
            "NaN or inf positions differ at"
        lines = [f"{path}: {what} {n_bad} / {n_total} positions ({_pct(n_bad, n_total)})"]
        lines.extend(f"  {_entry_line(w)}" for w in worst)
        message = "\n".join(lines)
    return _fail(path, "nonfinite", message, n_bad=n_bad, n_total=n_total, max_abs=math.inf,
                 max_rel=math.inf, worst=worst)


def _compare_exact(a: NDArray[Any], e: NDArray[Any], opt: _Options, path: str) -> Comparison:
    bad = np.asarray(a != e, dtype=bool).reshape(e.shape)
    n_bad, n_total = int(bad.sum()), int(e.size)
    if n_bad == 0:
        return Comparison(ok=True, path=path, n_total=n_total)
    flat = np.flatnonzero(bad)
    worst = tuple(_entry(a, e, int(i)) for i in flat[: opt.max_worst])
    if not opt.show_expected:
        where = ", ".join(str(index) for index, _, _ in worst)
        message = (f"{path}: not the expected value" if e.ndim == 0 else
                   f"{path}: not equal (exact comparison) at {n_bad} / {n_total} positions "
                   f"({_pct(n_bad, n_total)}), first at index {where}")
    elif e.ndim == 0:
        message = f"{path}: got {_short(a[()])}, expected {_short(e[()])}"
    else:
        lines = [
            f"{path}: not equal (exact comparison)",
            f"  Mismatched elements: {n_bad} / {n_total} ({_pct(n_bad, n_total)})",
            "  First differences:",
        ]
        lines.extend(f"    {_entry_line(w)}" for w in worst)
        message = "\n".join(lines)
    return _fail(path, "values", message, n_bad=n_bad, n_total=n_total, worst=worst)


def _hidden_values_message(path: str, opt: _Options, n_bad: int, n_total: int, max_rel: float,
                           worst: tuple[Entry, ...], ndim: int) -> str:
    """Where values differ and by about how much, with no value printed: the returned value
    together with an exact difference would give the expected one away."""
    tolerance = f"rtol={opt.rtol:g}, atol={opt.atol:g}"
    if ndim == 0:
        return f"{path}: differs from the expected value by {about(max_rel)} ({tolerance})"
    lines = [
        f"{path}: not equal to tolerance {tolerance}",
        f"  Mismatched elements: {n_bad} / {n_total} ({_pct(n_bad, n_total)})",
        f"  Largest relative difference: {about(max_rel)}",
    ]
    if worst:
        lines.append("  Largest differences at index " + ", ".join(str(i) for i, _, _ in worst))
    return "\n".join(lines)


def about(relative: float) -> str:
    """A relative difference to one significant digit, in words ("about 50%", "about 3e-07
    relative", "an infinite relative amount" where the expected value is 0)."""
    if not math.isfinite(relative):
        return "an infinite relative amount (the expected value is 0)"
    if relative >= 0.01:
        return f"about {float(f'{100 * relative:.1g}'):g}%"
    return f"about {relative:.0e} relative"


def _fail(path: str, reason: str, message: str, **stats: Any) -> Comparison:
    return Comparison(False, message, path, reason, **stats)


def _entry(a: NDArray[Any], e: NDArray[Any], flat_index: int) -> Entry:
    index = tuple(int(i) for i in np.unravel_index(flat_index, e.shape))
    return (index, _py(a.flat[flat_index]), _py(e.flat[flat_index]))


def _entry_line(entry: Entry) -> str:
    index, actual, expected = entry
    av, ev = _fmt_pair(actual, expected)
    return f"index {index}: actual {av}, expected {ev}"


def _py(x: Any) -> Any:
    """A numpy scalar as the Python number it holds (complex stays complex)."""
    return x.item() if isinstance(x, np.generic) else x


def _fmt(x: object, digits: int = 6) -> str:
    if isinstance(x, float | complex):
        return f"{x:.{digits}g}"
    return _short(x)


def _fmt_pair(a: object, e: object) -> tuple[str, str]:
    """Format two numbers with just enough significant digits to tell them apart."""
    for digits in range(6, 18):
        sa, se = _fmt(a, digits), _fmt(e, digits)
        if sa != se:
            break
    return sa, se


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.3g}%"


def _short(x: object, limit: int = 60) -> str:
    text = repr(_py(x))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _named(word: str, items: list[Any]) -> str:
    """``key 'db'`` or ``keys 'db', 'dW'``."""
    return f"{word}{'' if len(items) == 1 else 's'} " + ", ".join(_short(k) for k in items)


def _kind(e: NDArray[Any]) -> str:
    """What an expected 0-d value is, in words: 'a float', 'an int', 'a bool'."""
    return {"b": "a bool", "i": "an int", "u": "an int", "f": "a float",
            "c": "a complex number"}.get(e.dtype.kind, f"a {e.dtype} value") + (
        f" ({e.dtype})" if e.dtype.kind in "fc" else "")


def _describe(x: object) -> str:
    """What a returned value is, in words: 'a list', 'an array of shape (3,)'."""
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            return f"a 0-d {x.dtype} array"
        return f"an array of shape {x.shape} ({x.dtype})"
    name = type(x).__name__
    return ("an " if name[:1] in "aeiou" else "a ") + name
