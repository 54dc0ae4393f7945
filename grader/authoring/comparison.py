"""The outcome of a comparison: `Comparison`, its differing entries, and the error it raises.

Made by `grader.authoring.compare.compare`; the message formats are documented there.
"""

from dataclasses import dataclass
from typing import Any

__all__ = ["Comparison", "ComparisonError", "Entry", "Options", "failed"]


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
class Options:
    """The settings of one `grader.authoring.compare.compare` call (see its parameters)."""

    rtol: float
    atol: float
    check_dtype: bool
    max_worst: int
    strict_keys: bool = False
    show_expected: bool = True


def failed(path: str, reason: str, message: str, **stats: Any) -> Comparison:
    """A failed `Comparison` at ``path``: which check failed, the message, and the numbers."""
    return Comparison(False, message, path, reason, **stats)
