"""Drawing a computational graph with matplotlib (Agg, no display): SVG or PNG.

The graph is laid out by the network's own layers (each node's column and row come with its
:class:`commands.compgraph.GraphSpec`), so no layout engine such as graphviz is needed. Every
text is its own artist with an id (``node-y1_in-grad``, ``edge-h1-y1_in`` ...) that the SVG
keeps, and SVG text stays text (``svg.fonttype = "none"``), so the numbers can be searched.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

from grader.util.files import atomic_write

from .compgraph import (
    ERROR,
    GIVEN,
    NOT_IMPLEMENTED,
    OK,
    WRONG,
    ComputationalGraph,
    NodeResult,
)

FORMATS = ("svg", "png")
COLUMN = 4.4
"""Horizontal distance between the graph's columns, in drawing units."""
ROW = 1.45
"""Vertical distance between rows."""
BOX_W, BOX_H = 2.5, 1.12
INCH = 0.68
"""Inches per drawing unit."""

RED, GREY, GREEN, BLUE, INK = "#c62828", "#7a7a7a", "#1b5e20", "#1f4e79", "#222222"
FILL = {"leaf": "#eef3fb", "op": "#ffffff", WRONG: "#fdecea", "grey": "#f1f1f1"}


def fmt(value: float, digits: int = 4) -> str:
    """A number as drawn: four significant digits (values: six)."""
    return f"{value:.{digits}g}"


def _gradient_lines(name: str, loss: str, r: NodeResult) -> list[tuple[str, str, str]]:
    """(text, colour, id suffix) for the gradient part of a node."""
    d = f"d{loss}/d{name}"
    if r.status == OK:
        return [(f"{d} = {fmt(r.gradient or 0.0)}", GREEN, "grad")]
    if r.status == WRONG:
        return [(f"{d} = {fmt(r.gradient or 0.0)}  ✗", RED, "grad"),
                (f"numerical {fmt(r.numerical)}", RED, "numerical")]
    if r.status in (NOT_IMPLEMENTED, ERROR):
        return [(f"{d}: {r.status}", GREY, "grad"),
                (f"numerical {fmt(r.numerical)}", GREY, "numerical")]
    return [(f"{d} ≈ {fmt(r.numerical)}", BLUE, "numerical")]


def _value_line(r: NodeResult) -> tuple[str, str]:
    if r.value_status == WRONG:
        return f"= {fmt(r.value)} ✗ expected {fmt(r.expected)}", RED
    if r.value_status in (NOT_IMPLEMENTED, ERROR):
        return f"= {fmt(r.value, 6)} (grader's)", GREY
    return f"= {fmt(r.value, 6)}", INK


def figure(graph: ComputationalGraph) -> matplotlib.figure.Figure:
    """The graph as a matplotlib figure (not attached to any display).

    Parameters
    ----------
    graph : ComputationalGraph
        The evaluated graph.

    Returns
    -------
    matplotlib.figure.Figure
        Nodes as boxes (name, value, gradient), edges as arrows labelled with their local
        derivative; red where the student's number disagrees with the numerical one.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    spec = graph.spec
    xy = {n: (c * COLUMN, -r * ROW) for n, (c, r) in spec.positions.items()}
    x0, x1 = min(x for x, _ in xy.values()) - BOX_W, max(x for x, _ in xy.values()) + BOX_W
    y_top, y_low = max(y for _, y in xy.values()) + 2.0, min(y for _, y in xy.values()) - 1.0
    footer = _footer(graph)
    y0 = y_low - 0.42 * len(footer) - 0.3
    fig = Figure(figsize=((x1 - x0) * INCH, (y_top - y0) * INCH))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y_top)
    ax.set_axis_off()
    ax.text(x0 + 0.3, y_top - 0.6, spec.title, fontsize=13, weight="bold", color=INK,
            va="center", gid="title")
    ax.text(x0 + 0.3, y_top - 1.15, graph.whose, fontsize=9, color=GREY, va="center")

    for (parent, child), edge in graph.edges.items():
        (xa, ya), (xb, yb) = xy[parent], xy[child]
        start, end = (xa + BOX_W / 2, ya), (xb - BOX_W / 2, yb)
        colour = RED if edge.status == WRONG else GREY if edge.status in (
            NOT_IMPLEMENTED, ERROR) else "#9aa5b1"
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11,
                                     color=colour, lw=1.8 if edge.status == WRONG else 1.0,
                                     shrinkA=0, shrinkB=1, zorder=1))
        span = abs(spec.positions[child][0] - spec.positions[parent][0])
        t = 0.5 if span <= 1 else 0.25
        where = (start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))
        text = f"{edge.formula} = {fmt(edge.value)}"
        if edge.status == WRONG:
            text += f" ✗\nnumerical {fmt(edge.numerical)}"
        elif edge.status in (NOT_IMPLEMENTED, ERROR):
            text += f"\n({edge.status})"
        ax.text(*where, text, fontsize=7, ha="center", va="center", zorder=3,
                color={WRONG: RED, OK: GREEN, GIVEN: "#444"}.get(edge.status, GREY),
                gid=f"edge-{parent}-{child}",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})

    loss = spec.output
    for name, r in graph.nodes.items():
        x, y = xy[name]
        red = WRONG in (r.status, r.value_status)
        grey = r.status in (NOT_IMPLEMENTED, ERROR)
        kind = WRONG if red else "grey" if grey else "leaf" if name in spec.leaves else "op"
        ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
                                    boxstyle="round,pad=0.02,rounding_size=0.12",
                                    fc=FILL[kind], ec=RED if red else "#5f6b7a",
                                    lw=2.2 if red else 1.0, zorder=2, gid=f"node-{name}"))
        label = spec.labels.get(name)
        title = f"{name} = {label}" if label else name
        value, value_colour = _value_line(r)
        lines = [(title, INK, "name"), (value, value_colour, "value")]
        lines += _gradient_lines(name, loss, r)
        step = BOX_H / (len(lines) + 0.6)
        top = y + step * (len(lines) - 1) / 2
        for i, (text, colour, part) in enumerate(lines):
            ax.text(x, top - i * step, text, fontsize={"name": 8.5, "value": 7.5}.get(part, 7),
                    ha="center", va="center", color=colour, zorder=4,
                    weight="bold" if part == "name" else "normal",
                    style="italic" if colour == BLUE else "normal", gid=f"node-{name}-{part}")

    for i, (text, colour) in enumerate(footer):
        ax.text(x0 + 0.3, y_low - 0.1 - 0.42 * i, text, fontsize=8.5, color=colour,
                va="center", gid=f"footer-{i}")
    return fig


def _footer(graph: ComputationalGraph) -> list[tuple[str, str]]:
    lines = [(f"Boxes: the node's value and its gradient d{graph.spec.output}/d(node). Green: "
              "your gradient agrees with the numerical one (central differences). Red ✗: it "
              "does not.", INK),
             ("Grey: your function is not implemented or failed. Blue ≈: no function computes "
              "it, the numerical value is shown. Arrows: the local derivative "
              "d(child)/d(parent).", INK)]
    lines += [(f"✗ {m}", RED) for m in graph.mistakes()]
    lines += [(f"not evaluated: {p}", GREY) for p in graph.problems]
    return [(t if len(t) <= 190 else t[:187] + "...", c) for t, c in lines]


def render(graph: ComputationalGraph, format: str) -> bytes:
    """The drawing as bytes.

    Parameters
    ----------
    graph : ComputationalGraph
        The evaluated graph.
    format : {"svg", "png"}
        Output format.

    Returns
    -------
    bytes
        An SVG document (text kept as text) or a PNG image.
    """
    if format not in FORMATS:
        raise ValueError(f"cannot draw {format!r}: use .svg or .png")
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "grader"}):
        fig = figure(graph)
        metadata: dict[str, str | None] = {"Date": None} if format == "svg" else {}
        fig.savefig(buffer, format=format, dpi=110, metadata=metadata)
    return buffer.getvalue()


def save(graph: ComputationalGraph, path: Path) -> Path:
    """Draw ``graph`` into ``path``, in the format its suffix names (``.svg`` or ``.png``).

    Raises
    ------
    ValueError
        If the suffix is neither.
    """
    format = path.suffix.lower().lstrip(".")
    if format not in FORMATS:
        raise ValueError(f"cannot draw {path.name}: the output must end in .svg or .png")
    atomic_write(path, render(graph, format))
    return path

