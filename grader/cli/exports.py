"""The exports of results to other systems: ``grader export canvas|moodle`` (a gradebook an
LMS imports) and ``grader similarity`` (pairs of submissions ranked by code similarity)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import click

from grader.cli.common import course_option, exit_codes, usage
from grader.course.config import CourseError, load_course
from grader.util import inert

_LIST_SHOWN = 20  # names listed on stderr before "... and N more"


@click.group("export", epilog=exit_codes(
    "the file was written", "the file was written, but some results are not in the roster "
    "or two match one roster student",
    "no results, unreadable roster, bad option"))
def export() -> None:
    """Write the grades of a results folder in the CSV shape an LMS imports."""


def _lms_command(lms: str, roster_help: str, how: str) -> click.Command:
    @click.command(lms, epilog=exit_codes(
        "the file was written, every result placed (roster students without a result are "
        "listed on stderr)",
        "the file was written, but some results are not in the roster or two match one "
        "roster student (listed on stderr)",
        "no results in RESULTS_DIR, unreadable roster, no such --id-column, bad option"),
        help=f"Write the grades in RESULTS_DIR as a {how}\n\nThe roster maps the grader's "
             "student ids (the submissions' names: alice.zip is alice) to LMS users: the "
             "roster column given by --id-column holds them (case and outer spaces are "
             "ignored). Every roster student gets a row; one without a result is blank "
             "(or --missing-score) and listed on stderr; results whose student is not in the "
             "roster are listed on stderr (exit code 1).")
    @click.argument("results_dir", type=click.Path(path_type=Path, file_okay=False))
    @click.option("--roster", type=click.Path(path_type=Path, dir_okay=False), required=True,
                  help=roster_help)
    @click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
                  help="The CSV file to write (then import it into the LMS).")
    @click.option("--id-column", default=None,
                  help="The roster column holding the grader's student ids (default: "
                       f"{_defaults()[lms]!r}).")
    @click.option("--column", default=None,
                  help="The grade column's title (default: the assignment's name"
                       + (", or the roster's existing 'Name (id)' column for it" if lms ==
                          "canvas" else "") + ").")
    @click.option("--modules", is_flag=True,
                  help="Also write one column per module ('<column>: <module>').")
    @click.option("--missing-score", type=float, default=None,
                  help="The grade of a roster student without a result (default: blank).")
    def command(results_dir: Path, roster: Path, out: Path, id_column: str | None,
                column: str | None, modules: bool, missing_score: float | None) -> None:
        _export(lms, results_dir, roster, out, id_column, column, modules, missing_score)

    return command


def _defaults() -> Mapping[str, str]:
    from grader.exports.lms import DEFAULT_ID_COLUMN

    return DEFAULT_ID_COLUMN


def _export(lms: str, results_dir: Path, roster_path: Path, out: Path, id_column: str | None,
            column: str | None, modules: bool, missing_score: float | None) -> None:
    from grader.engine.results import load_all
    from grader.exports import lms as lms_export

    if not results_dir.is_dir():
        raise click.UsageError(f"{results_dir} is not a folder of results (grader grade --out)")
    results = load_all(results_dir)
    if not results:
        raise click.UsageError(f"{results_dir} holds no valid result file (<student>.json "
                               "from grader grade)")
    try:
        roster = lms_export.read_roster(roster_path, id_column or _defaults()[lms])
    except lms_export.LmsError as exc:
        raise usage(exc) from exc
    order = list(dict.fromkeys(m for r in results for m in r["modules"])) if modules else []
    made = lms_export.export("canvas" if lms == "canvas" else "moodle", roster, results,
                             column=column, modules=order, missing_score=missing_score)
    try:
        made.write(out)
    except OSError as exc:
        click.echo(f"Error: cannot write {out}: {exc.strerror or exc}", err=True)
        raise SystemExit(1) from None
    click.echo(inert.terminal(f"{lms}: {made.written} grades for {len(roster.rows)} roster "
                              f"students written to {out}"))
    if made.missing:
        what = "blank" if missing_score is None else f"{missing_score:g}"
        _list(f"{len(made.missing)} roster students have no result (written {what})",
              made.missing)
    if made.unmatched:
        _list(f"{len(made.unmatched)} results are not in the roster by {roster.id_column!r} "
              "(not written; fix the submission's name or pass another --id-column)",
              made.unmatched)
    if made.ambiguous:
        _list(f"{len(made.ambiguous)} roster students have two or more results (not written; "
              "keep one)",
              [f"{' and '.join(names)} for {who}" for who, names in made.ambiguous.items()])
    if made.unmatched or made.ambiguous:
        raise SystemExit(1)


def _list(title: str, names: list[str]) -> None:
    shown = ", ".join(names[:_LIST_SHOWN])
    more = f" ... and {len(names) - _LIST_SHOWN} more" if len(names) > _LIST_SHOWN else ""
    click.echo(inert.terminal(f"{title}: {shown}{more}"), err=True)


export.add_command(_lms_command(
    "canvas", "The Canvas gradebook export (Grades > Export > Export Entire Gradebook) as CSV.",
    "Canvas gradebook import CSV (Grades > Import)."))
export.add_command(_lms_command(
    "moodle", "A Moodle grades export (Grades > Export > Plain text file) as CSV, or any CSV "
              "of the participants with the --id-column.",
    "Moodle grade import CSV (Grades > Import > CSV file)."))


@click.command(epilog=exit_codes("the table was written", "the --out file could not be written",
                                 "no course, no submissions, bad option"))
@click.argument("submissions", nargs=-1, required=True,
                type=click.Path(path_type=Path, exists=False))
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write every ranked pair: JSON when FILE ends in .json (as "
                   "RESULTS/similarity.json it becomes a section of `grader report`), else CSV.")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many pairs to show (5 times as many, at least 100, are compared in "
                   "full).")
@course_option
def similarity(submissions: tuple[Path, ...], out: Path | None, top: int,
               course: Path | None) -> None:
    """Rank pairs of SUBMISSIONS (a class folder, or folders, zips and notebooks) by code
    similarity.

    The code compared is what `grader grade` takes. copydetect tokenizes it (names, strings,
    comments and layout do not count) and fingerprints it by winnowing, as MOSS does, so
    renamed variables and reordered functions still match; the course's stubs, and passages
    common to many submissions, never count. A pair's similarity is the share of both
    students' code that matches the other's.
    """
    from grader.batch.submissions import SubmissionError
    from grader.exports import similarity as sim

    try:
        loaded = load_course(course)
        files, unreadable = _class_files(submissions, loaded.modules, loaded.stubs)
    except (CourseError, SubmissionError) as exc:
        raise usage(exc) from exc
    stubs = [p.read_text(encoding="utf-8") for m in loaded.modules
             if (p := loaded.exercises / f"{m}.py").is_file()]
    ranked = sim.rank(files, stubs, top=top, unreadable=unreadable)
    click.echo(sim.table(ranked, top))
    if out is not None:
        try:
            sim.write(ranked, out)
        except OSError as exc:
            click.echo(f"Error: cannot write {out}: {exc.strerror or exc}", err=True)
            raise SystemExit(1) from None
        click.echo(inert.terminal(f"pairs: {out}"))


def _class_files(paths: tuple[Path, ...], modules: tuple[str, ...] | list[str],
                 stubs: Mapping[str, str]) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Each submission's graded files (as `grader grade` reads them, knowing the course's
    ``stubs``), and those unreadable."""
    from grader.batch.submissions import SubmissionError, discover, unpack

    files: dict[str, dict[str, str]] = {}
    unreadable: dict[str, str] = {}
    for submission in discover(list(paths), modules):
        name = submission.student
        if name in files or name in unreadable:  # two entries, one id: keep both, by name
            name = submission.path.name
        try:
            files[name] = unpack(submission, modules, stubs).files()
        except SubmissionError as exc:
            unreadable[name] = str(exc)
    return files, unreadable
