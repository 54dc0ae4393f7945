"""This course's own commands, plugged into ``grader`` by the ``[commands]`` table of
``course.toml``: ``grader graph`` (:mod:`commands.graph`) and ``grader curves``
(:mod:`commands.curves`). They build only on the grader's public API (:mod:`grader.api`).

In a notebook in the course folder the same work is a function call::

    from commands import graph, curves
    graph("neuron", w=1.5)          # commands.deckgraphs.graph
    curves(epochs=3)                # commands.training_curves.curves

Both are imported on first use, so ``import commands`` loads neither matplotlib nor the
grader's API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["curves", "graph"]

if TYPE_CHECKING:
    from .deckgraphs import graph
    from .training_curves import curves


def __getattr__(name: str) -> Any:
    if name == "curves":
        from .training_curves import curves

        return curves
    if name == "graph":
        from .deckgraphs import graph

        return graph
    raise AttributeError(name)
