"""The instructors' commands: ``grader grade``, ``report``, ``schema``, ``release``,
``gradescope`` and ``doctor`` (``nbgrader generate`` is in :mod:`grader.cli.nbgrader`)."""

from __future__ import annotations

from pathlib import Path

import click

from grader.cli.common import course_option, exit_codes, usage, warn_isolation
from grader.course import points
from grader.course.config import CourseError, load_course
from grader.util import inert


@click.command(epilog=exit_codes(
    "every submission got a result, whatever its score",
    "a submission got no result (the grader failed), a hidden test failed through its own "
    "fault (the course's error), another `grader grade` is writing to --out, the Dask "
    "cluster failed, grading was interrupted, or --report could not be built",
    "no course, missing submissions, bad option"))
@click.argument("submissions", nargs=-1, type=click.Path(path_type=Path, exists=False))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Output folder for <student>.json, gradebook.csv, ...")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Parallel workers of the local executor (default: the CPU count).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local",
              show_default=True,
              help="Grade on this machine, or on the workers of a Dask cluster (results are "
                   "written here as they come back; needs the dask extra).")
@click.option("--scheduler", metavar="ADDRESS",
              help="The Dask scheduler's address, e.g. tcp://10.0.0.5:8786 (--executor dask).")
@click.option("--secret", envvar="GRADER_SECRET", default=None,
              help="Course secret for per-student inputs (default: $GRADER_SECRET, then "
                   "course.toml).")
@click.option("--gradescope", is_flag=True,
              help="Also write <student>.gradescope.json in Gradescope's results.json format.")
@click.option("--force", is_flag=True,
              help="Regrade every student, also those whose files are unchanged since their "
                   "result (a rerun regrades only changed files).")
@click.option("--nbgrader-course", type=click.Path(path_type=Path, file_okay=False),
              help="An nbgrader course folder: grade its submitted/<student>/<assignment>/ "
                   "(when no SUBMISSIONS are given) and write the scores into its gradebook.")
@click.option("--assignment", help="The nbgrader assignment (default: the course's).")
@click.option("--report", "with_report", is_flag=True,
              help="Also write the instructor report, OUT/report.html (see `grader report`).")
@click.option("--progress", type=click.Choice(["auto", "steps", "each"]), default="auto",
              show_default=True,
              help="On stderr: a bar with rate and ETA on a terminal, else a line per 5% of the "
                   "class (auto); always such lines (steps); a line per student (each).")
@course_option
def grade(submissions: tuple[Path, ...], out: Path, jobs: int | None, executor: str,
          scheduler: str | None, secret: str | None, gradescope: bool, force: bool,
          nbgrader_course: Path | None, assignment: str | None, course: Path | None,
          with_report: bool, progress: str) -> None:
    """Grade SUBMISSIONS (folders, .zip or .ipynb files, or folders of them) into --out.

    A student's whole release folder (exercises/ beside checks/, grader/ ...) is one
    submission, read from its exercises/. From each submission the course's modules are
    taken, with the student's own helper modules beside them and modules written by
    notebooks (%%writefile, -a too; per-module notebooks); grader/, checks/, solutions/,
    hidden folders and virtual environments are never read. Results go to
    OUT/<id>.json (ids escaped in file names: `a.b` is `a%2Eb.json`). A rerun regrades the
    students whose files changed and keeps the others. A worker that does not finish a
    submission within its budget (plus its last call's deadline and GRADER_WORKER_SLACK
    seconds, 40 by default) is replaced and that student gets an error result.
    """
    from grader.batch import pipeline as batch
    from grader.batch.executors import ClusterError, ExecutorError, executor_for
    from grader.batch.submissions import Submission, SubmissionError
    from grader.engine.results import iter_results
    from grader.integrations import nbgrader

    try:
        chosen = executor_for(executor, jobs=jobs, scheduler=scheduler)  # usage errors first
    except ExecutorError as exc:
        raise usage(exc) from exc
    if executor == "local":  # on a cluster, each worker checks its own isolation
        warn_isolation()
    try:
        loaded = load_course(course, secret=secret)
        points.verify(loaded)  # the points students were told are those they are graded on
        entries: list[Path | Submission] = list(submissions)
        name = assignment or loaded.assignment
        if nbgrader_course is not None:
            nbgrader.require()  # before grading: the scores go into its gradebook
        if nbgrader_course is not None and not entries:
            entries += nbgrader.submissions(nbgrader_course, name)
        if not entries:
            raise click.UsageError("give SUBMISSIONS to grade, or --nbgrader-course")
        report = batch.grade(entries, course=loaded, out=out, jobs=jobs,
                             gradescope=gradescope, force=force, executor=chosen,
                             progress=progress)
        if nbgrader_course is not None:
            graded = {g.student for g in report.graded}
            count = nbgrader.write_gradebook(
                nbgrader_course, name,
                (r for r in iter_results(out) if r["student"] in graded))
            click.echo(f"nbgrader gradebook: {count} grades written to "
                       f"{nbgrader_course / 'gradebook.db'}", err=True)
    except (CourseError, SubmissionError, ExecutorError) as exc:
        raise usage(exc) from exc
    except (batch.OutputLocked, ClusterError) as exc:
        click.echo(inert.terminal(f"Error: {exc}"), err=True)
        raise SystemExit(1) from None
    except batch.Interrupted as exc:
        click.echo(f"\n{exc}. Every result written so far is complete and kept: run the same "
                   "command again to resume (add --force to regrade everyone).", err=True)
        raise SystemExit(1) from None
    click.echo(report.render(loaded.modules))
    click.echo(inert.terminal(f"results: {out}/<student>.json, gradebook: "
                              f"{out / 'gradebook.csv'}"))
    if with_report:
        from grader.exports import report as instructor_report

        try:
            click.echo(f"report: {instructor_report.build(out, course=loaded)}")
        except instructor_report.NoResults as exc:  # every submission was a grader failure
            click.echo(f"Error: no report: {exc}", err=True)
            raise SystemExit(1) from None
    raise SystemExit(0 if report.ok else 1)


@click.command("report", epilog=exit_codes("the page was written", "the page could not be "
                                           "written", "no results in DIR, bad option"))
@click.argument("results_dir", metavar="DIR",
                type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the page (default: DIR/report.html).")
@course_option
def report_(results_dir: Path, out_file: Path | None, course: Path | None) -> None:
    """Build the instructor report (one offline HTML page) from the results in DIR.

    It shows the score histogram, every function's pass rate, the most common
    misconceptions with an example each, and each student's tests exactly as their
    Gradescope results show them. Nothing is regraded.
    """
    from grader.exports.report import NoResults, build

    try:
        loaded = load_course(course)
    except CourseError as exc:
        if course is not None:
            raise usage(exc) from exc
        loaded = None  # no course here: order and names come from the results
    try:
        written = build(results_dir, course=loaded, path=out_file)
    except NoResults as exc:
        raise usage(exc) from exc
    except OSError as exc:
        click.echo(f"Error: cannot write the report: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"report: {written}")


@click.command(epilog=exit_codes("the schema was printed", None, "bad option"))
def schema() -> None:
    """Print the JSON Schema of a result file."""
    import json

    from grader.engine.results import schema as result_schema

    click.echo(json.dumps(result_schema(), indent=2))


@click.command(epilog=exit_codes(
    "the student bundle (--out) and/or the autograder zip (--gradescope) was written", None,
    "no course, a course that does not load, a folder that is not empty, a zip that exists, "
    "neither --out nor --gradescope"))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="An empty (or new) folder for the student bundle.")
@click.option("--gradescope", "autograder", metavar="FILE.zip",
              type=click.Path(path_type=Path), default=None,
              help="Also (or only) write Gradescope's autograder zip: setup.sh, "
                   "run_autograder, the grader and the course WITH its hidden tests, "
                   "solutions and secret. The instructor's upload: never give it to students.")
@click.option("--secret", envvar="GRADER_SECRET", default=None,
              help="The course secret the autograder seeds per-student inputs with "
                   "(--gradescope; default: $GRADER_SECRET, then course.toml).")
@course_option
def release(out: Path | None, autograder: Path | None, secret: str | None,
            course: Path | None) -> None:
    """Build the student bundle (--out: stubs, public checks, the grader; no solutions or
    hidden tests) and/or Gradescope's autograder zip (--gradescope)."""
    from grader.course.release import release as build_release
    from grader.integrations import gradescope as autograder_zip

    if out is None and autograder is None:
        raise click.UsageError("give --out DIR (the student bundle), --gradescope FILE.zip "
                               "(Gradescope's autograder), or both")
    try:
        loaded = load_course(course, secret=secret)
        if autograder is not None and out is not None:  # refuse a bad zip before writing
            autograder_zip.check_target(autograder)
        if out is not None:
            written = build_release(loaded, out)
            click.echo(f"wrote {len(written)} files to {out}")
        if autograder is not None:
            members = autograder_zip.build(loaded, autograder)
            click.echo(f"wrote {autograder} ({len(members)} files): upload it to Gradescope "
                       "(Configure Autograder); it holds the hidden tests, solutions and "
                       "secret: never give it to students")
            if not loaded.secret:
                click.echo("Warning: the course has no secret (--secret, $GRADER_SECRET or "
                           "course.toml): anyone can compute a student's inputs", err=True)
    except (CourseError, FileExistsError) as exc:
        raise usage(exc) from exc


@click.command(epilog=exit_codes("results.json was written, whatever the score (a submission "
                                 "the grader could not grade: score 0, the reason in stdout)",
                                 None, "no course at --course, bad option"))
@click.option("--submission", type=click.Path(path_type=Path, file_okay=False),
              default=Path("/autograder/submission"), show_default=True)
@click.option("--results", "results_file", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("/autograder/results/results.json"), show_default=True)
@click.option("--metadata", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("/autograder/submission_metadata.json"), show_default=True)
@click.option("--course", type=click.Path(path_type=Path, file_okay=False),
              default=Path("/autograder/source"), show_default=True,
              help="The course folder inside the autograder image.")
def gradescope(submission: Path, results_file: Path, metadata: Path, course: Path) -> None:
    """Entry point inside Gradescope's autograder container (run_autograder).

    The student is the Gradescope ids of the metadata's users (a group's joined by +), so
    `grader grade` on a folder named by that id gives the same result. The output (stdout
    and stderr) is the instructor's: Gradescope hides it from students.
    """
    import time

    from grader import api
    from grader.integrations import gradescope as autograder

    started = time.monotonic()
    warn_isolation()  # on Gradescope, bubblewrap may be refused: the instructor must know
    try:
        loaded = load_course(course)
    except CourseError as exc:
        raise usage(exc) from exc
    student, why = autograder.identify(metadata)
    click.echo(inert.terminal(f"graded as student id {student!r}: {why}"))
    score, problem = api.gradescope_run(submission=autograder.submission_entry(submission),
                                        results_file=results_file, course=loaded,
                                        student=student)
    autograder.finish(results_file, time.monotonic() - started)
    if problem:
        click.echo(inert.terminal("the grader could not grade this submission (the student "
                                  f"sees only that it failed):\n{problem}"))
    click.echo(f"score {score:g}; wrote {results_file}")


@click.command(epilog=exit_codes("the report was printed", None, "bad option"))
def doctor() -> None:
    """Report which protections of the sandbox are active on this machine."""
    import os

    from grader.sandbox.isolation import detect

    isolation = detect()
    click.echo(f"isolation level: {isolation.level}")
    click.echo("active:")
    for item in isolation.protections:
        click.echo(f"  + {item}")
    if isolation.missing:
        click.echo("missing:")
        for item in isolation.missing:
            click.echo(f"  - {item}")
    from grader.sandbox import affinity, launch

    try:
        allowed = load_course().allow_imports
    except CourseError:  # not in a course folder: the default rule
        allowed = ()
    isolation = isolation.allowing(allowed)
    also = f"; this course also allows {', '.join(allowed)}" if allowed else ""
    click.echo(f"imports: numpy, the standard library and the submission's own modules{also}")
    if isolation.level == "bubblewrap":
        shown = ", ".join(isolation.importable())
        click.echo(f"  enforced by what is mounted (site-packages shows only {shown}) and an "
                   "import guard with one clear message")
    else:
        click.echo(f"  enforced only by an import guard in the child ({isolation.level} level):"
                   " code that removes it can import anything installed")
    click.echo("speed:")
    probe = isolation.level == "bubblewrap" and os.environ.get(launch.ENV_WARM, "1") != "0"
    problem = launch.warm_problem(isolation) if probe else None
    if launch.warm_allowed(isolation):
        warm = f"on: a zygote per grading process forks the children ({launch.ENV_WARM}=0 " \
               "turns this off)"
    elif problem is not None:
        warm = f"off: a forked child cannot get a fresh world here ({problem}); every " \
               "child starts as a new process"
    elif isolation.level == "bubblewrap":
        warm = f"off: turned off by {launch.ENV_WARM}=0"
    else:
        warm = "off: a new process per child (warm starts need bubblewrap)"
    click.echo(f"  warm starts: {warm}")
    cpus = len(affinity.available())
    pinning = (f"on: one CPU per worker, {cpus} CPUs here ({affinity.ENV_PIN}=0 turns this off)"
               if affinity.enabled(1) else
               f"off ({affinity.ENV_PIN}=0)" if cpus else "off: not available here")
    click.echo(f"  CPU pinning: {pinning}")
    if isolation.warning:
        click.echo(isolation.warning, err=True)
