"""How values are said in comparison messages: numbers with just enough figures, kinds of
values in words, and a relative difference to one significant figure."""

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.authoring.comparison import Entry

__all__ = ["about", "describe", "entry", "entry_line", "fmt", "fmt_pair", "kind", "named",
           "pct", "py", "short"]


def about(relative: float) -> str:
    """A relative difference to one significant digit, in words ("about 50%", "about 3e-07
    relative", "an infinite relative amount" where the expected value is 0)."""
    if not math.isfinite(relative):
        return "an infinite relative amount (the expected value is 0)"
    if relative >= 0.01:
        return f"about {float(f'{100 * relative:.1g}'):g}%"
    return f"about {relative:.0e} relative"



def entry(a: NDArray[Any], e: NDArray[Any], flat_index: int) -> Entry:
    """The differing element at ``flat_index`` of ``a`` and ``e`` (same shape) as an `Entry`."""
    index = tuple(int(i) for i in np.unravel_index(flat_index, e.shape))
    return (index, py(a.flat[flat_index]), py(e.flat[flat_index]))


def entry_line(found: Entry) -> str:
    """``index (0, 1): actual 1.5, expected 1``."""
    index, actual, expected = found
    av, ev = fmt_pair(actual, expected)
    return f"index {index}: actual {av}, expected {ev}"


def py(x: Any) -> Any:
    """A numpy scalar as the Python number it holds (complex stays complex)."""
    return x.item() if isinstance(x, np.generic) else x


def fmt(x: object, places: int = 6) -> str:
    """A number with ``places`` significant figures; anything else as a short repr."""
    if isinstance(x, float | complex):
        return f"{x:.{places}g}"
    return short(x)


def fmt_pair(a: object, e: object) -> tuple[str, str]:
    """Format two numbers with just enough significant figures to tell them apart."""
    for places in range(6, 18):
        sa, se = fmt(a, places), fmt(e, places)
        if sa != se:
            break
    return sa, se


def pct(n: int, total: int) -> str:
    """``n`` of ``total`` as a percentage (``"25%"``)."""
    return f"{100 * n / total:.3g}%"


def short(x: object, limit: int = 60) -> str:
    """``repr`` of ``x``, cut to ``limit`` characters."""
    text = repr(py(x))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def named(word: str, items: list[Any]) -> str:
    """``key 'db'`` or ``keys 'db', 'dW'``."""
    return f"{word}{'' if len(items) == 1 else 's'} " + ", ".join(short(k) for k in items)


def kind(e: NDArray[Any]) -> str:
    """What an expected 0-d value is, in words: 'a float', 'an int', 'a bool'."""
    return {"b": "a bool", "i": "an int", "u": "an int", "f": "a float",
            "c": "a complex number"}.get(e.dtype.kind, f"a {e.dtype} value") + (
        f" ({e.dtype})" if e.dtype.kind in "fc" else "")


def describe(x: object) -> str:
    """What a returned value is, in words: 'a list', 'an array of shape (3,)'."""
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            return f"a 0-d {x.dtype} array"
        return f"an array of shape {x.shape} ({x.dtype})"
    name = type(x).__name__
    return ("an " if name[:1] in "aeiou" else "a ") + name
