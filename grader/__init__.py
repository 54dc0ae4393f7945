"""backprop-grader: auto-graded backpropagation exercises with sandboxed, explained grading."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "check", "curves", "graph"]

if TYPE_CHECKING:
    from grader.api import check
    from grader.training_curves import curves


def __getattr__(name: str) -> Any:
    # Lazy, so that `import grader` stays cheap for the sandbox and the CLI's --help.
    if name == "check":
        from grader.api import check

        return check
    if name == "curves":
        from grader.training_curves import curves

        return curves
    if name == "graph":
        from grader.deckgraphs import graph

        return graph
    raise AttributeError(name)
