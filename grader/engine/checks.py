"""Running a course's public checks on one submission: the one way ``grader check`` and
``grader selftest`` run them."""

from __future__ import annotations

from collections.abc import Sequence

from grader.course.config import Course, TestSpec
from grader.engine import blame
from grader.engine.runner import PASSED, Outcome, run_tests
from grader.sandbox.runner import Runner

__all__ = ["run_checks"]


def run_checks(course: Course, sandbox: Runner, modules: Sequence[str], *,
               checks: Sequence[TestSpec] | None = None) -> list[Outcome]:
    """The public checks of ``modules``, then those of every function a failing check depends
    on that lies outside them (`grader.engine.blame`: a check of neuron's backward that fails
    because the student's sigmoid_prime is wrong must know that sigmoid_prime fails its own check).

    Parameters
    ----------
    course : Course
        Gives the checks, the modules and their contract functions.
    sandbox : Runner
        Where the student's code runs: a `grader.sandbox.box.Sandbox`, or a
        `grader.sandbox.inprocess.InProcess` for trusted code.
    modules : sequence of str
        The course modules to check, in order.
    checks : sequence of TestSpec, optional
        The course's public checks, already collected (``course.collect(hidden=False)``), to
        run many submissions without importing the check files again for each; default:
        collected here.

    Returns
    -------
    list of Outcome
        The checks of ``modules`` in order, then the dependencies' checks.
    """
    def of(module: str) -> list[TestSpec]:
        if checks is None:
            return course.collect([module], hidden=False)
        return [s for s in checks if s.module == module]

    outcomes: list[Outcome] = []
    done: set[str] = set()
    for module in modules:
        outcomes += run_tests(of(module), sandbox, student="local", secret=None)
        done.update(f"{module}.{f}" for f in course.functions(module))
    while True:  # failing checks' dependencies not checked yet, until there are none
        wanted = {d for o in outcomes if o.status != PASSED for d in blame.dependencies(o)
                  if d not in done and d.partition(".")[0] in course.modules}
        if not wanted:
            return outcomes
        done |= wanted
        for module in sorted({w.partition(".")[0] for w in wanted}):
            specs = [s for s in of(module) if f"{module}.{s.function}" in wanted]
            outcomes += run_tests(specs, sandbox, student="local", secret=None)
