"""``grader curves``: the student's MLP trained two ways, and the figure of both
(:func:`commands.training_curves.curves`).

The grader runs it with its usual errors: a course or usage problem exits 2, a sandbox that
cannot start exits 1 with its message; a student function that fails exits 1 here.
"""

from __future__ import annotations

from pathlib import Path

import click

from .capstone import BATCH_SIZE, EPOCHS, HIDDEN, LR, SEED
from .options import course_option, exit_codes


@click.command("curves", epilog=exit_codes(
    "the figure was written",
    "one of your functions failed, the sandbox could not start, or the figure could not be "
    "written",
    "an --out that is not .png or .svg, --reference with --path, no course, bad option"))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The figure to write: a .png or .svg file.")
@click.option("--epochs", type=click.IntRange(min=1), default=EPOCHS, show_default=True,
              help="Passes over the training set, for each way.")
@click.option("--batch-size", type=click.IntRange(min=1), default=BATCH_SIZE,
              show_default=True, help="Mini-batch size of SGD.")
@click.option("--lr", type=float, default=LR, show_default=True, help="Learning rate.")
@click.option("--hidden", type=click.IntRange(min=1), default=HIDDEN, show_default=True,
              help="Hidden units of the MLP [64, hidden, 10].")
@click.option("--seed", type=int, default=SEED, show_default=True,
              help="Seeds the initial parameters and the shuffles.")
@click.option("--reference", is_flag=True, help="Train the course's reference solutions.")
@click.option("--path", type=click.Path(path_type=Path),
              help="Folder of your modules (default: the course's exercises/).")
@course_option
def curves(out: Path, epochs: int, batch_size: int, lr: float, hidden: int, seed: int,
           reference: bool, path: Path | None, course: Path | None) -> None:
    """Train your MLP on the digits by full-batch gradient descent and by mini-batch SGD,
    from the same start for the same epochs, and plot the loss and accuracy curves."""
    from grader.api import terminal

    from .training_curves import CurvesError, check_suffix
    from .training_curves import curves as train

    try:
        check_suffix(out)
        result = train(epochs=epochs, batch_size=batch_size, lr=lr, hidden=hidden, seed=seed,
                       reference=reference, path=path, course=course,
                       progress=lambda line: click.echo(terminal(line), err=True))
        written = result.save(out)
    except CurvesError as exc:
        raise click.ClickException(terminal(str(exc))) from None
    except OSError as exc:
        raise click.ClickException(terminal(f"cannot write {out}: {exc}")) from None
    click.echo(terminal(result.summary()))
    click.echo(f"figure: {written}")
