"""The training curves' result: each run's numbers, the figure of both and a text summary.

The figure is drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas (no
pyplot, no global backend state), so it works headless, in the CLI and in a notebook alike;
matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from grader.api import UsageError
from grader.util.files import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Array = NDArray[np.float64]
SUFFIXES = (".png", ".svg")
FULL, MINI = "#c0392b", "#2471a3"


class CurvesError(Exception):
    """A student function failed, so the curves cannot be drawn (exit code 1)."""

    def __init__(self, function: str, problem: str) -> None:
        module = function.split(".")[0]
        super().__init__(f"{function} {problem}; run `grader check {module}` to check it.")
        self.function = function
        self.problem = problem


class CurvesUsageError(UsageError):
    """Bad arguments: an output suffix other than .png or .svg, --reference with --path, a
    course without the contract's mlp and sgd (exit code 2)."""


@dataclass(frozen=True)
class Run:
    """One way of training, and what it measured.

    Attributes
    ----------
    name : str
        ``"full batch"`` or ``"mini-batch"``.
    batch_size : int
        Examples per update (the whole training set for full batch).
    loss_per_epoch : ndarray, shape (E + 1,)
        Loss on the whole training set before training and after each epoch (shorter if
        training diverged).
    loss_per_update : ndarray, shape (U,)
        The batch loss each update was computed from (before its step).
    test_accuracy : ndarray, shape (E + 1,)
        Test accuracy before training and after each epoch.
    seconds : float
        Wall-clock seconds of the training steps (sandbox calls included, evaluation not).
    student_seconds : float
        Of those, the seconds spent inside the student's functions.
    diverged : str
        Empty, or when and how the loss stopped being finite.
    """

    name: str
    batch_size: int
    loss_per_epoch: Array
    loss_per_update: Array
    test_accuracy: Array
    seconds: float
    student_seconds: float
    diverged: str = ""

    @property
    def updates(self) -> int:
        """How many parameter updates (``sgd_step`` calls) were taken."""
        return len(self.loss_per_update)

    @property
    def final_loss(self) -> float:
        """The last training-set loss."""
        return float(self.loss_per_epoch[-1])

    @property
    def final_accuracy(self) -> float:
        """The last test accuracy."""
        return float(self.test_accuracy[-1])


@dataclass(frozen=True)
class Curves:
    """Full batch against mini-batch SGD: the numbers, a figure, a text summary.

    In Jupyter the object displays as its figure (``_repr_png_``).
    """

    full_batch: Run
    minibatch: Run
    epochs: int
    lr: float
    hidden: int
    seed: int
    source: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def figure(self) -> Figure:
        """The three panels: loss per epoch, loss per update, test accuracy per epoch."""
        return draw(self)

    def save(self, path: str | Path) -> Path:
        """Write the figure to ``path`` (``.png`` or ``.svg``); returns the path."""
        out = Path(path)
        check_suffix(out)
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format=out.suffix.lower().lstrip("."), dpi=110)
        atomic_write(out, buffer.getvalue())
        return out

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()

    def summary(self) -> str:
        """A few lines: final training loss, test accuracy, updates and seconds of each way."""
        lines = [f"{self.source}: sigmoid MLP 64-{self.hidden}-10, squared error, lr {self.lr:g}, "
                 f"{self.epochs} epochs, seed {self.seed}"]
        for run in (self.full_batch, self.minibatch):
            size = "all" if run.name == "full batch" else str(run.batch_size)
            lines.append(
                f"  {run.name:<11} (batch {size:>4}): final train loss {run.final_loss:.4f}, "
                f"test accuracy {run.final_accuracy:.3f}, {run.updates:4d} updates, "
                f"{run.seconds:.2f} s ({run.student_seconds:.2f} s in the student's code)"
                + (f"; DIVERGED: {run.diverged}" if run.diverged else ""))
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<Curves: full batch loss {self.full_batch.final_loss:.4f} in "
                f"{self.full_batch.updates} updates, mini-batch {self.minibatch.final_loss:.4f}"
                f" in {self.minibatch.updates}>")


def check_suffix(path: Path) -> None:
    """Raise :class:`CurvesUsageError` unless ``path`` ends in ``.png`` or ``.svg``."""
    if path.suffix.lower() not in SUFFIXES:
        raise CurvesUsageError(f"cannot write {path.name!r}: the figure is written as .png or "
                               f".svg (got {path.suffix or 'no suffix'!r})")


def _label(run: Run) -> str:
    per_epoch = "1 per epoch" if run.name == "full batch" else f"batches of {run.batch_size}"
    return (f"{run.name}: {run.updates} updates ({per_epoch})"
            + (" - DIVERGED" if run.diverged else ""))


def _running_mean(values: Array, window: int) -> Array:
    """Mean of the last ``window`` values at each position (fewer at the start)."""
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return np.asarray((sums[ends] - sums[starts]) / (ends - starts), dtype=np.float64)


def draw(curves: Curves) -> Figure:
    """Draw the three panels.

    Parameters
    ----------
    curves : Curves
        What :func:`commands.training_curves.curves` measured.

    Returns
    -------
    Figure
        Loss on the training set per epoch; loss per update against the update count (the
        mini-batch losses, their running mean over one epoch, and the full-batch losses);
        test accuracy per epoch.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    full, mini = curves.full_batch, curves.minibatch
    figure = Figure(figsize=(15, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    by_epoch, by_update, accuracy = figure.subplots(1, 3)

    for run, colour in ((full, FULL), (mini, MINI)):
        epochs = np.arange(len(run.loss_per_epoch))
        by_epoch.plot(epochs, run.loss_per_epoch, "o-", color=colour, ms=4, label=_label(run))
        accuracy.plot(np.arange(len(run.test_accuracy)), run.test_accuracy, "o-", color=colour,
                      ms=4, label=f"{run.name}: {run.final_accuracy:.3f}")
    by_epoch.set(title="Loss on the whole training set", xlabel="epoch",
                 ylabel="mean squared error per example")
    by_epoch.legend(fontsize=9)

    per_epoch = -(-full.batch_size // mini.batch_size)  # updates per epoch of SGD
    steps = np.arange(1, mini.updates + 1)
    by_update.plot(steps, mini.loss_per_update, color=MINI, lw=0.6, alpha=0.35,
                   label=f"mini-batch: loss of each batch ({mini.updates} updates)")
    if mini.updates:
        by_update.plot(steps, _running_mean(mini.loss_per_update, per_epoch), color=MINI, lw=2,
                       label="mini-batch: running mean over one epoch")
    by_update.plot(np.arange(1, full.updates + 1), full.loss_per_update, "s-", color=FULL,
                   ms=5, lw=2, label=f"full batch: loss of each update ({full.updates} updates)")
    by_update.set(title="Loss per update: many cheap steps against a few exact ones",
                  xlabel="update (sgd_step call)", ylabel="loss of the batch it was computed on")
    by_update.legend(fontsize=8)
    if full.updates and mini.updates:
        level = full.final_loss
        by_update.axhline(level, color=FULL, lw=0.8, ls=":")
        smooth = _running_mean(mini.loss_per_update, per_epoch)
        below = np.flatnonzero(smooth < level)
        passed = (f"mini-batch passes it after {below[0] + 1} cheap updates"
                  if below.size else "mini-batch has not reached it")
        by_update.annotate(f"full batch ends at {level:.3f} after {full.updates} full-set "
                           f"updates;\n{passed}", xy=(full.updates, level),
                           xytext=(0.3, 0.6), textcoords="axes fraction", fontsize=8,
                           arrowprops={"arrowstyle": "->"})

    accuracy.set(title="Test accuracy (360 images)", xlabel="epoch", ylabel="accuracy",
                 ylim=(0.0, 1.02))
    accuracy.legend(fontsize=9, loc="center right")

    for run, colour in ((full, FULL), (mini, MINI)):
        if run.diverged:
            by_update.axvline(run.updates + 1, color=colour, ls="--", lw=1)
            by_update.annotate(f"{run.name} diverged:\n{run.diverged}",
                               xy=(run.updates + 1, 0.3), xycoords=("data", "axes fraction"),
                               ha="right", va="bottom", fontsize=8, color=colour,
                               bbox={"facecolor": "white", "edgecolor": colour})
    for axes in (by_epoch, accuracy):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))

    def counted(run: Run) -> str:
        return f"{run.updates} updates" + (", diverged" if run.diverged else "")

    figure.suptitle(
        f"{curves.source}: full-batch gradient descent ({counted(full)}) against mini-batch "
        f"SGD ({counted(mini)}), {curves.epochs} epochs each, lr {curves.lr:g}, MLP "
        f"64-{curves.hidden}-10", fontsize=11)
    return figure
