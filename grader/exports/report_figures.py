"""The instructor report's figures: inline SVG drawn by matplotlib, text kept as text."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

from matplotlib.figure import Figure

#: score bands of the histogram: tenths of the maximum score
BINS = 10


def histogram_svg(counts: Sequence[int]) -> str:
    """The score histogram: students per band of ``100 / BINS`` percent."""
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(7.5, 3.2))
    ax = fig.subplots()
    step = 100 // BINS
    ax.bar(range(len(counts)), counts, width=0.85, color="#3b6ea8")
    ax.set_xticks(range(len(counts)),
                  [f"{i * step}-{(i + 1) * step}" for i in range(len(counts))])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("score (% of the maximum)")
    ax.set_ylabel("students")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, "hist")


def pass_svg(rates: Sequence[tuple[str, str, int, int, float, float]]) -> str:
    """The pass rate of every function, as horizontal bars."""

    labels = [f"{m}.{f}" for m, f, *_ in rates]
    values = [100.0 * n / t for _, _, n, t, _, _ in rates]
    fig = Figure(figsize=(7.5, 0.8 + 0.22 * max(1, len(rates))))
    ax = fig.subplots()
    ax.barh(range(len(values)), values, height=0.7, color="#3b8a5a")
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("students passing (%)")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig, "pass")


def _svg(fig: Figure, prefix: str) -> str:
    """A figure as an inline ``<svg>`` element: text kept as text (no embedded or fetched
    fonts), no XML prolog or metadata, ids fixed (the same class, the same page) and
    prefixed so two figures cannot clash."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "grader-report",
                                "font.family": "sans-serif"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text[text.index("<svg"):], flags=re.S)
    return re.sub(r'(\bid="|url\(#|href="#)', rf"\g<1>{prefix}-", text)
