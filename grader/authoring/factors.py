"""Scale and sampling slips: an output that is the expected one times a clean constant, and
mini-batches that repeat or leave out examples (the observations `grader.authoring.misconceptions`
turns into diagnoses)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["batch_problems", "clean_constants", "constant_factor", "partition_size"]

Close = Callable[[object, object], bool]
"""``close(actual, expected)``: equal within the caller's tolerance."""


def clean_constants(n: int | None, *, several: bool) -> tuple[tuple[float, str], ...]:
    """Clean constants, simplest first, each with how to say it, both signs.

    Parameters
    ----------
    n : int or None
        The batch size N, for N, 1/N, 2/N, N/2, N^2 and 1/N^2 (said with their value).
    several : bool
        Whether small fractions p/q (p, q <= 12) and powers of ten near 1 count: a single
        wrong number is *some* fraction of the right one, so only an array of several
        entries is told by them.

    Returns
    -------
    tuple of (float, str)
        Each constant and how to say it: ``"3/4"``, ``"2/N = 2/7"``, ``"1e-05 (a power of ten:
        a step size eps or eps^2, or a learning rate?)"``. Built once per (n, several).
    """
    return _constants(n, several)


@functools.lru_cache(maxsize=64)
def _constants(n: int | None, several: bool) -> tuple[tuple[float, str], ...]:
    named: list[tuple[float, str, str]] = [(2.0, "2", ""), (0.5, "1/2", "")]
    if n is not None and n > 1:
        named += [(float(n), "N", str(n)), (1.0 / n, "1/N", f"1/{n}"),
                  (2.0 / n, "2/N", f"2/{n}"), (n / 2.0, "N/2", f"{n}/2"),
                  (float(n * n), "N^2", str(n * n)), (1.0 / (n * n), "1/N^2", f"1/{n * n}")]
    named += [(4.0, "4", ""), (0.25, "1/4", "")]
    if several:
        seen = {v for v, _, _ in named}
        for total in range(3, 25):
            for p in range(1, total):
                q = total - p
                if p <= 12 and q <= 12 and math.gcd(p, q) == 1 and p / q not in seen:
                    seen.add(p / q)
                    named.append((p / q, str(p) if q == 1 else f"{p}/{q}", ""))
    named += [(10.0 ** k, f"{10.0 ** k:g}", "") for k in (*range(-1, -17, -1), *range(1, 17))
              if abs(k) >= 2 or several]
    table: list[tuple[float, str]] = []
    for value, words, number in named:
        for sign in ("", "-"):
            said = f"{sign}{words}" + (f" = {sign}{number}" if number else "")
            if abs(math.log10(value)) >= 2 and words[0].isdigit() and "/" not in words:
                said += " (a power of ten: a step size eps or eps^2, or a learning rate?)"
            table.append(((-value if sign else value), said))
    return tuple(table)


def constant_factor(a: NDArray[np.float64], e: NDArray[np.float64], close: Close,
                    batch_size: int | None) -> str | None:
    """The clean constant ``c`` with ``a = c e``, in words, or None.

    The constant is fitted by least squares, then matched against `clean_constants`; only one
    that reproduces ``a`` within tolerance, and is told apart from 1, counts.

    Parameters
    ----------
    a, e : ndarray
        The output and the expected output, float64, of one shape; ``e`` not all ~0.
    close : callable
        Equality within the caller's tolerance.
    batch_size : int or None
        N, to name N-related constants.
    """
    if not np.isfinite(a).all():
        return None
    with np.errstate(all="ignore"):  # entries near the float limits: no fit, no diagnosis
        c = float(np.sum(a * e) / np.sum(e * e))
    if not math.isfinite(c) or c == 0.0:
        return None
    several = int(np.count_nonzero(e)) >= 2
    for value, words in clean_constants(batch_size, several=several):
        if abs(c - value) <= 1e-3 * abs(value) and close(a, value * e) \
                and not close(value * e, e):
            return words
    return None


def partition_size(expected: object) -> int | None:
    """n, when ``expected`` is a list of integer index arrays that together hold each of
    range(n) exactly once (mini-batches of n examples); else None."""
    if not isinstance(expected, tuple | list) or not expected:
        return None
    if not all(isinstance(b, np.ndarray) and b.ndim == 1 and b.dtype.kind in "iu"
               for b in expected):
        return None
    every = np.concatenate(expected)
    if not np.array_equal(np.sort(every), np.arange(every.size)):
        return None
    return int(every.size)


def batch_problems(batches: object, n: int) -> str | None:
    """How mini-batches of range(n) fail to hold each index exactly once, or None.

    Parameters
    ----------
    batches : object
        A list of index arrays (anything else gives None: another failure explains it).
    n : int
        The number of examples.

    Returns
    -------
    str or None
        ``"repeats 2 of the 7 examples (index 1 is in it 2 times) and leaves 3 out (index 2
        is in no batch)"``; None when every index of range(n) appears exactly once.
    """
    if not isinstance(batches, tuple | list):
        return None
    arrays = [np.asarray(b) for b in batches]
    if any(b.ndim != 1 or (b.size and b.dtype.kind not in "iu") for b in arrays):
        return None
    every = np.concatenate(arrays).astype(np.int64) if arrays else np.zeros(0, np.int64)
    outside = every[(every < 0) | (every >= n)]
    counts = np.bincount(every[(every >= 0) & (every < n)], minlength=n)
    repeated, missing = np.flatnonzero(counts > 1), np.flatnonzero(counts == 0)
    parts = []
    if repeated.size:
        i = int(repeated[0])
        parts.append(f"repeats {repeated.size} of the {n} examples (index {i} is in it "
                     f"{int(counts[i])} times)")
    if missing.size:
        parts.append(f"leaves {missing.size} out (index {int(missing[0])} is in no batch)")
    if outside.size:
        parts.append(f"holds {outside.size} indices outside range({n}) (such as "
                     f"{int(outside[0])})")
    return " and ".join(parts) or None
