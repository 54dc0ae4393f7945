"""Computational graphs of the deck's examples: each node's value and gradient, checked numerically.

A graph here is trusted code: scalar nodes, each computed by a small op from its parents. The
grader evaluates it itself (the true forward pass), and gets every node's true gradient dL/dnode
by central differences: it perturbs the node's value and re-runs only the ops downstream of it.
The student's functions are called through the sandbox, their results mapped onto nodes (a
gradient) and edges (a local derivative), and each is compared with the numerical value:

    |yours - numerical| <= ATOL + RTOL |numerical|

A disagreement marks the node (or edge) red; a function that is a stub, raises or times out
leaves its nodes grey. The student's functions are chained as their own backprop would chain
them (``grad_h`` receives their ``output_deltas``), so one mistake also marks what it feeds.
Drawing lives in :mod:`commands.draw`; the deck's two graphs in :mod:`commands.deckgraphs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EPS = 1e-5
"""Step of the central differences (float64)."""
RTOL = 1e-4
"""Relative tolerance of a gradient against the numerical gradient."""
ATOL = 1e-8
"""Absolute tolerance, for gradients near zero (the worked example's dL/dw are about 1e-6)."""

OK = "ok"
WRONG = "wrong"
NOT_IMPLEMENTED = "not implemented"
ERROR = "error"
NUMERICAL = "numerical only"
"""A gradient no student function computes: the numerical value is shown instead."""
GIVEN = "given"
"""A node's value that the grader provides (inputs, weights, targets) or computes itself."""


@dataclass(frozen=True)
class Op:
    """How a node is computed from its parents.

    Attributes
    ----------
    parents : tuple of str
        The parent nodes, in the order ``fn`` takes them.
    fn : callable
        ``fn(*parent_values) -> float``.
    formulas : tuple of str
        Each parent's local derivative d(node)/d(parent), as text for its edge ("x1", "sigma'(z1)").
    """

    parents: tuple[str, ...]
    fn: Callable[..., float]
    formulas: tuple[str, ...]


@dataclass(frozen=True)
class GraphSpec:
    """A scalar computational graph, in topological order, with its drawing positions.

    Attributes
    ----------
    title : str
        What the figure says it shows.
    leaves : dict of str to float
        Inputs, weights and targets with their values.
    ops : dict of str to Op
        The computed nodes, each after its parents.
    output : str
        The loss node.
    positions : dict of str to (float, float)
        Each node's (column, row) in the drawing; rows grow downwards.
    labels : dict of str to str
        Display text of nodes whose name is not what the slide writes ("e1" -> "y1 - t1").
    """

    title: str
    leaves: dict[str, float]
    ops: dict[str, Op]
    output: str
    positions: Mapping[str, tuple[float, float]]
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Every (parent, child) pair."""
        return [(p, name) for name, op in self.ops.items() for p in op.parents]

    def forward(self, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
        """Every node's value; an overridden node keeps its given value, and only the ops
        downstream of it see the change."""
        overrides = overrides or {}
        values = {k: float(overrides.get(k, v)) for k, v in self.leaves.items()}
        for name, op in self.ops.items():
            values[name] = float(overrides[name]) if name in overrides else float(
                op.fn(*(values[p] for p in op.parents)))
        return values

    def numerical_gradients(self) -> dict[str, float]:
        """dL/dnode for every node, by central differences (step ``EPS``)."""
        base = self.forward()
        return {name: (self.forward({name: base[name] + EPS})[self.output]
                       - self.forward({name: base[name] - EPS})[self.output]) / (2 * EPS)
                for name in base}

    def local_derivative(self, parent: str, child: str, values: Mapping[str, float]) -> float:
        """d(child)/d(parent) at ``values``, by central differences of the child's op alone."""
        op = self.ops[child]
        i = op.parents.index(parent)
        args = [values[p] for p in op.parents]

        def at(shift: float) -> float:
            moved = list(args)
            moved[i] += shift
            return float(op.fn(*moved))

        return (at(EPS) - at(-EPS)) / (2 * EPS)


@dataclass(frozen=True)
class Claim:
    """One number the student's code gives for a node or edge (or why it gives none).

    Attributes
    ----------
    function : str
        The student function it comes from (``"output_deltas"``).
    value : float or None
        The number, or None when the function could not be evaluated.
    status : str
        ``OK`` when the function ran (compared later), else ``NOT_IMPLEMENTED`` or ``ERROR``.
    """

    function: str
    value: float | None
    status: str = OK


@dataclass
class StudentResults:
    """What the student's functions gave, mapped onto the graph.

    Attributes
    ----------
    values : dict of str to Claim
        Forward values of computed nodes.
    gradients : dict of str to list of Claim
        dL/dnode, possibly from several functions (``grad_V`` and ``gradient_vector``).
    edges : dict of (str, str) to Claim
        Local derivatives d(child)/d(parent).
    problems : list of str
        One line per function that could not be evaluated, and what stood in for it.
    """

    values: dict[str, Claim] = field(default_factory=dict)
    gradients: dict[str, list[Claim]] = field(default_factory=dict)
    edges: dict[tuple[str, str], Claim] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NodeResult:
    """One node as drawn.

    Attributes
    ----------
    value : float
        The forward value shown (the student's when their code computes it).
    expected : float
        The grader's own forward value.
    value_status : str
        ``OK``/``WRONG`` for a value the student's code computes, ``NOT_IMPLEMENTED``/``ERROR``
        when it could not (the grader's value is shown), ``GIVEN`` otherwise.
    gradient : float or None
        dL/dnode from the student's code (None if it gives none).
    numerical : float
        dL/dnode by central differences.
    status : str
        ``OK``, ``WRONG`` (red), ``NOT_IMPLEMENTED`` or ``ERROR`` (grey), ``NUMERICAL``.
    source : str
        The student function behind ``gradient`` (or the one that failed).
    value_source : str
        The student function behind ``value``, if any.
    """

    value: float
    expected: float
    value_status: str
    gradient: float | None
    numerical: float
    status: str
    source: str = ""
    value_source: str = ""


@dataclass(frozen=True)
class EdgeResult:
    """One edge's local derivative d(child)/d(parent).

    Attributes
    ----------
    formula : str
        The derivative as text.
    value : float
        The number shown (the student's when their code computes it).
    numerical : float
        By central differences of the child's op.
    status : str
        ``GIVEN`` (the grader's), or ``OK``/``WRONG``/``NOT_IMPLEMENTED``/``ERROR``.
    source : str
        The student function behind ``value``, if any.
    """

    formula: str
    value: float
    numerical: float
    status: str
    source: str = ""


def close(actual: float, expected: float) -> bool:
    """Whether ``actual`` agrees with ``expected``: ``|a - e| <= ATOL + RTOL |e|``."""
    return abs(actual - expected) <= ATOL + RTOL * abs(expected)


def _judge(claim: Claim, expected: float) -> str:
    if claim.value is None:
        return claim.status
    return OK if close(claim.value, expected) else WRONG


@dataclass
class ComputationalGraph:
    """A graph evaluated on someone's code: what ``grader graph`` draws and returns.

    In a notebook it renders itself inline (``_repr_svg_``).

    Attributes
    ----------
    spec : GraphSpec
        The trusted graph.
    nodes : dict of str to NodeResult
        Per node: value, gradient, numerical gradient, status.
    edges : dict of (str, str) to EdgeResult
        Per edge: its local derivative.
    problems : list of str
        The functions that could not be evaluated.
    whose : str
        "your code in DIR" or "the reference solutions".
    """

    spec: GraphSpec
    nodes: dict[str, NodeResult]
    edges: dict[tuple[str, str], EdgeResult]
    problems: list[str]
    whose: str

    @property
    def wrong(self) -> list[str]:
        """Names marked red: nodes whose gradient or value disagrees, and edges
        ``"parent->child"`` whose local derivative disagrees."""
        names = [n for n, r in self.nodes.items() if WRONG in (r.status, r.value_status)]
        return names + [f"{p}->{c}" for (p, c), e in self.edges.items() if e.status == WRONG]

    def mistakes(self) -> list[str]:
        """One line per red mark: ``dL/dy1_in (output_deltas): your 0.05235, numerical ...``."""
        lines = []
        for name, r in self.nodes.items():
            if r.value_status == WRONG:
                lines.append(f"{name} (value, {r.value_source}): your {r.value:.6g}, "
                             f"expected {r.expected:.6g}")
            if r.status == WRONG and r.gradient is not None:
                lines.append(f"d{self.spec.output}/d{name} ({r.source}): your {r.gradient:.4g}, "
                             f"numerical {r.numerical:.4g}")
        for (p, c), e in self.edges.items():
            if e.status == WRONG:
                lines.append(f"d{c}/d{p} ({e.source}): your {e.value:.4g}, "
                             f"numerical {e.numerical:.4g}")
        return lines

    def render_text(self) -> str:
        """The report printed by ``grader graph``."""
        lines = [f"{self.spec.title}: {self.whose}",
                 f"{len(self.nodes)} nodes, {len(self.edges)} edges; gradients checked against "
                 f"central differences (eps {EPS:g}): |yours - numerical| <= {ATOL:g} + "
                 f"{RTOL:g} |numerical|."]
        mistakes = self.mistakes()
        if mistakes:
            lines.append("Marked red (your number disagrees with the grader's):")
            lines += [f"  {m}" for m in mistakes]
        elif any(r.status == OK for r in self.nodes.values()):
            lines.append("Every gradient that these functions compute"
                         + (" and that could be evaluated" if self.problems else "")
                         + " agrees with the numerical gradient.")
        if self.problems:
            lines.append("Could not be evaluated (drawn grey):")
            lines += [f"  {p}" for p in self.problems]
        numeric = [n for n, r in self.nodes.items() if r.status == NUMERICAL]
        if numeric:
            lines.append("Not computed by these functions (numerical gradient shown): "
                         + ", ".join(numeric))
        return "\n".join(lines)

    def save(self, path: str | Path) -> Path:
        """Draw the graph into ``path`` (``.svg`` or ``.png``); returns the path."""
        from .draw import save

        return save(self, Path(path))

    def _repr_svg_(self) -> str:
        from .draw import render

        return render(self, "svg").decode("utf-8")

    def __repr__(self) -> str:
        return (f"<ComputationalGraph {self.spec.title!r}: {len(self.nodes)} nodes, "
                f"{len(self.wrong)} marked red, {len(self.problems)} not evaluated>")


def assemble(spec: GraphSpec, student: StudentResults, whose: str) -> ComputationalGraph:
    """Compare the student's numbers with the graph's own and build the result."""
    truth = spec.forward()
    numerical = spec.numerical_gradients()
    nodes: dict[str, NodeResult] = {}
    for name, expected in truth.items():
        claim = student.values.get(name)
        if claim is None:
            value, value_status = expected, GIVEN
        else:
            value_status = _judge(claim, expected)
            value = claim.value if claim.value is not None else expected
        judged = [(c, _judge(c, numerical[name])) for c in student.gradients.get(name, [])]
        if not judged:
            status, shown = NUMERICAL, None
        else:
            ranked = sorted(judged, key=lambda cj: [WRONG, OK, ERROR, NOT_IMPLEMENTED]
                            .index(cj[1]))
            shown, status = ranked[0]
        nodes[name] = NodeResult(value, expected, value_status,
                                 shown.value if shown else None, numerical[name], status,
                                 shown.function if shown else "",
                                 claim.function if claim else "")
    edges: dict[tuple[str, str], EdgeResult] = {}
    for parent, child in spec.edges:
        formula = spec.ops[child].formulas[spec.ops[child].parents.index(parent)]
        local = spec.local_derivative(parent, child, truth)
        claim = student.edges.get((parent, child))
        if claim is None:
            edges[parent, child] = EdgeResult(formula, local, local, GIVEN)
        else:
            shown_value = claim.value if claim.value is not None else local
            edges[parent, child] = EdgeResult(formula, shown_value, local,
                                              _judge(claim, local), claim.function)
    return ComputationalGraph(spec, nodes, edges, list(student.problems), whose)


def failed(function: str, status: str, reason: str, stand_in: str = "") -> str:
    """A line of ``problems``: which function could not be evaluated and why."""
    what = "not implemented yet" if status == NOT_IMPLEMENTED else f"error: {reason}"
    return f"{function}: {what}" + (f" ({stand_in})" if stand_in else "")


def as_floats(value: Any, shape: tuple[int, ...]) -> list[float]:
    """``value`` as floats in row-major order, if it has ``shape`` (``()``: one number, a
    Python float or an array of size 1).

    Raises
    ------
    ValueError
        If it is not numbers of that shape.
    """
    if value is None:
        raise ValueError("returned None")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"returned {type(value).__name__}, not numbers") from exc
    if array.shape != shape and not (shape == () and array.size == 1):
        raise ValueError(f"returned shape {array.shape}, expected {shape}")
    return [float(v) for v in array.reshape(-1)]


def claims(function: str, names: Sequence[str], numbers: Sequence[float] | None,
           status: str = OK) -> dict[str, Claim]:
    """One claim per name from ``numbers`` (or a failed claim for each when None)."""
    if numbers is None:
        return {n: Claim(function, None, status) for n in names}
    return {n: Claim(function, v) for n, v in zip(names, numbers, strict=True)}
