"""``grader graph``: one of the deck's computational graphs, evaluated on the student's code
(:func:`commands.deckgraphs.graph`) and drawn (:mod:`commands.draw`).

The grader runs it with its usual errors: a course or usage problem exits 2, a sandbox that
cannot start exits 1 with its message.
"""

from __future__ import annotations

from pathlib import Path

import click

from .options import course_option, exit_codes


@click.command("graph", epilog=exit_codes(
    "the graph was drawn, red marks or not",
    "the sandbox could not start, or the file could not be written",
    "a NAME other than worked-example or neuron, an --out that is not .svg or .png, "
    "--reference with --path, no course, bad option"))
@click.argument("name", metavar="NAME", type=click.Choice(["worked-example", "neuron"]))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The drawing to write: a .svg or .png file.")
@click.option("--example", type=int, help="worked-example: the training example, 1 (default) "
                                          "or 2.")
@click.option("--w", type=float, help="neuron: the weight w (default 1.5).")
@click.option("--b", type=float, help="neuron: the bias b (default -0.5).")
@click.option("--a-prev", "a_prev", type=float,
              help="neuron: the previous activation a_prev (default 0.8).")
@click.option("--y", type=float, help="neuron: the desired output y (default 1.0).")
@click.option("--reference", is_flag=True,
              help="Evaluate the course's solutions instead of your code.")
@click.option("--path", type=click.Path(path_type=Path),
              help="Folder of your modules (default: the course's exercises/).")
@course_option
def graph(name: str, out: Path, example: int | None, w: float | None, b: float | None,
          a_prev: float | None, y: float | None, reference: bool, path: Path | None,
          course: Path | None) -> None:
    """Draw NAME (worked-example or neuron) as a computational graph that your code computes:
    every node's value and
    gradient, every edge's local derivative; red where your gradient disagrees with the
    numerical one (central differences), grey where your function is not implemented or fails.

    \b
    grader graph worked-example --example 1 --out graph.svg
    grader graph neuron --w 1.5 --b -0.5 --a-prev 0.8 --y 1 --out neuron.png
    """
    from grader.api import terminal

    from .deckgraphs import graph as evaluate
    from .draw import FORMATS

    if out.suffix.lower().lstrip(".") not in FORMATS:
        raise click.UsageError(f"--out must end in .svg or .png, not {out.name!r}")
    result = evaluate(name, example=example, reference=reference, path=path, course=course,
                      w=w, b=b, a_prev=a_prev, y=y)
    click.echo(terminal(result.render_text()))
    try:
        result.save(out)
    except OSError as exc:
        click.echo(f"Error: cannot write {out}: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"wrote {out}")
