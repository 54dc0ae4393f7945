"""Element-by-element comparison of two arrays of one shape: floats within tolerances
(``|actual - expected| <= atol + rtol * |expected|``, NaN and inf in the same places), other
kinds exactly, each failure with the message `grader.authoring.compare` documents."""

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.authoring.comparison import Comparison, Entry, Options, failed
from grader.authoring.wording import about, entry, entry_line, fmt, fmt_pair, pct, py, short

__all__ = ["compare_exact", "compare_floats"]


def compare_floats(a: NDArray[Any], e: NDArray[Any], opt: Options, path: str) -> Comparison:
    """Compare floating-point (or complex) arrays of one shape within ``opt``'s tolerances:
    ``|a - e| <= atol + rtol * |e|``, with NaN and inf required in the same places."""
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
    worst = tuple(entry(a, e, int(i)) for i in order)
    if not opt.show_expected:
        message = _hidden_values_message(path, opt, n_bad, n_total, max_rel, worst, e.ndim)
    elif e.ndim == 0:
        av, ev = fmt_pair(py(a[()]), py(e[()]))
        message = (f"{path}: got {av}, expected {ev} (absolute difference {fmt(max_abs)}, "
                   f"relative difference {fmt(max_rel)}; rtol={opt.rtol:g}, atol={opt.atol:g})")
    else:
        lines = [
            f"{path}: not equal to tolerance rtol={opt.rtol:g}, atol={opt.atol:g}",
            f"  Mismatched elements: {n_bad} / {n_total} ({pct(n_bad, n_total)})",
            f"  Max absolute difference: {fmt(max_abs)}",
            f"  Max relative difference: {fmt(max_rel)}",
        ]
        if worst:
            lines.append("  Largest differences:")
            lines.extend(f"    {entry_line(w)}" for w in worst)
        message = "\n".join(lines)
    return failed(path, "values", message, n_bad=n_bad, n_total=n_total, max_abs=max_abs,
                 max_rel=max_rel, worst=worst)


def _nonfinite_failure(
    a: NDArray[Any], e: NDArray[Any], nonfinite: NDArray[np.bool_], fin_e: NDArray[np.bool_],
    opt: Options, path: str,
) -> Comparison:
    n_bad, n_total = int(nonfinite.sum()), int(e.size)
    flat = np.flatnonzero(nonfinite)
    worst = tuple(entry(a, e, int(i)) for i in flat[: opt.max_worst])
    only_actual = bool(fin_e[nonfinite].all())
    if not opt.show_expected:
        what = "NaN or inf where finite values are expected" if only_actual else \
            "NaN or inf where the expected values differ"
        where = ", ".join(str(index) for index, _, _ in worst)
        message = (f"{path}: {what}" + (f" at {n_bad} / {n_total} positions "
                                        f"({pct(n_bad, n_total)}), first at index {where}"
                                        if e.ndim else ""))
    elif e.ndim == 0:
        av, ev = fmt_pair(py(a[()]), py(e[()]))
        what = "NaN or inf where a finite value is expected" if only_actual else \
            "NaN or inf differs"
        message = f"{path}: got {av}, expected {ev} ({what})"
    else:
        what = "NaN or inf where finite values are expected at" if only_actual else \
            "NaN or inf positions differ at"
        lines = [f"{path}: {what} {n_bad} / {n_total} positions ({pct(n_bad, n_total)})"]
        lines.extend(f"  {entry_line(w)}" for w in worst)
        message = "\n".join(lines)
    return failed(path, "nonfinite", message, n_bad=n_bad, n_total=n_total, max_abs=math.inf,
                 max_rel=math.inf, worst=worst)


def compare_exact(a: NDArray[Any], e: NDArray[Any], opt: Options, path: str) -> Comparison:
    """Compare integer, bool or other exact arrays of one shape element by element."""
    bad = np.asarray(a != e, dtype=bool).reshape(e.shape)
    n_bad, n_total = int(bad.sum()), int(e.size)
    if n_bad == 0:
        return Comparison(ok=True, path=path, n_total=n_total)
    flat = np.flatnonzero(bad)
    worst = tuple(entry(a, e, int(i)) for i in flat[: opt.max_worst])
    if not opt.show_expected:
        where = ", ".join(str(index) for index, _, _ in worst)
        message = (f"{path}: not the expected value" if e.ndim == 0 else
                   f"{path}: not equal (exact comparison) at {n_bad} / {n_total} positions "
                   f"({pct(n_bad, n_total)}), first at index {where}")
    elif e.ndim == 0:
        message = f"{path}: got {short(a[()])}, expected {short(e[()])}"
    else:
        lines = [
            f"{path}: not equal (exact comparison)",
            f"  Mismatched elements: {n_bad} / {n_total} ({pct(n_bad, n_total)})",
            "  First differences:",
        ]
        lines.extend(f"    {entry_line(w)}" for w in worst)
        message = "\n".join(lines)
    return failed(path, "values", message, n_bad=n_bad, n_total=n_total, worst=worst)


def _hidden_values_message(path: str, opt: Options, n_bad: int, n_total: int, max_rel: float,
                           worst: tuple[Entry, ...], ndim: int) -> str:
    """Where values differ and by about how much, with no value printed: the returned value
    together with an exact difference would give the expected one away."""
    tolerance = f"rtol={opt.rtol:g}, atol={opt.atol:g}"
    if ndim == 0:
        return f"{path}: differs from the expected value by {about(max_rel)} ({tolerance})"
    lines = [
        f"{path}: not equal to tolerance {tolerance}",
        f"  Mismatched elements: {n_bad} / {n_total} ({pct(n_bad, n_total)})",
        f"  Largest relative difference: {about(max_rel)}",
    ]
    if worst:
        lines.append("  Largest differences at index " + ", ".join(str(i) for i, _, _ in worst))
    return "\n".join(lines)
