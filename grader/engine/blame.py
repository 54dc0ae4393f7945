"""Which failing public check is another function's fault: dependency blame for ``grader check``.

A public check of ``backward`` that compares it with finite differences of the student's own
``forward`` and ``cost`` fails when ``cost`` is wrong, although ``backward`` is right; a
diagnosis of ``backward`` would then send the student to break correct code. So a failing check
that depends on a function that fails its own check is reported as that function's failure::

    this uses your cost, which fails its check: fix cost first

and is not diagnosed. A check depends on the student functions it called (recorded by the
context, `grader.engine.runner.Outcome.calls`) and on what the function under test may call inside
the student's code, where the check cannot see: its declared calls (``[calls]`` of
``course.toml``, `grader.course.config.TestSpec.declared_calls`) and what the check's marker says it
``uses`` (`grader.authoring.markers.public`). Blame follows a chain to its root ("this uses your
forward, which uses your sigmoid in activations.py, which fails its check: fix sigmoid first"). A
function fails *its own* check when one of its failing checks depends on no failing function.

A module the folder does not hold at all (``absent``) is no function's fault: a check that
failed only by reaching a stand-in of such a module's function that its function declares
(``[calls]``) passes (`excused`), because the graded run swaps that call for the reference; a
chain whose root is such a function says the module "is not in this folder".
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence, Set
from dataclasses import replace
from pathlib import Path

from grader.course.verify import is_stub
from grader.engine.runner import FAILED, PASSED, Outcome

__all__ = ["apply", "dependencies", "excused", "implemented_in", "qualified"]


def qualified(name: str, module: str) -> str:
    """``name`` as ``module.function`` (a bare name belongs to ``module``)."""
    return name if "." in name else f"{module}.{name}"


def dependencies(outcome: Outcome) -> list[str]:
    """The student functions ``outcome``'s check depends on, qualified, in order, without the
    function under test: its declared calls, those the check says it ``uses``, then those it
    called."""
    own = qualified(outcome.spec.function, outcome.spec.module)
    found: list[str] = []
    for name in (*outcome.spec.declared_calls, *outcome.spec.marker.uses, *outcome.calls):
        full = qualified(name, outcome.spec.module)
        if full != own and full not in found:
            found.append(full)
    return found


class _Graph:
    """The failing functions of one run of checks and why each fails."""

    def __init__(self, outcomes: Iterable[Outcome], implemented: Set[str]) -> None:
        self.failing: dict[str, list[Outcome]] = {}
        self.stub: set[str] = set()
        for o in outcomes:
            name = qualified(o.spec.function, o.spec.module)
            if o.status != PASSED:
                self.failing.setdefault(name, []).append(o)
                if o.not_implemented and name not in implemented:
                    self.stub.add(name)

    def failing_deps(self, outcome: Outcome, visiting: frozenset[str]) -> list[str]:
        return [d for d in dependencies(outcome) if d in self.failing and d not in visiting]

    def fails_on_its_own(self, name: str, visiting: frozenset[str]) -> bool:
        """Whether one of ``name``'s failing checks depends on no other failing function."""
        inside = visiting | {name}
        return name in self.stub or any(not self.failing_deps(o, inside)
                                        for o in self.failing.get(name, []))

    def chains(self, name: str, visiting: frozenset[str]) -> list[list[str]]:
        """Paths from ``name`` to the functions at the root of its failure (``[name]`` when it
        fails on its own, or when a cycle leaves no other root)."""
        if self.fails_on_its_own(name, visiting):
            return [[name]]
        inside = visiting | {name}
        paths: list[list[str]] = []
        for o in self.failing[name]:
            for dep in self.failing_deps(o, inside):
                paths += [[name, *rest] for rest in self.chains(dep, inside)
                          if [name, *rest] not in paths]
        return paths or [[name]]


def implemented_in(folder: Path, modules: Iterable[str]) -> set[str]:
    """The functions (``module.function``) of the student's module files in ``folder`` that
    are no longer stubs (`grader.course.verify.is_stub`): read, never run. A file that is missing
    or does not parse gives none (its functions may be stubs)."""
    found: set[str] = set()
    for module in modules:
        try:
            tree = ast.parse((folder / f"{module}.py").read_text(encoding="utf-8-sig"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not is_stub(node):
                found.add(f"{module}.{node.name}")
    return found


def excused(outcomes: Iterable[Outcome], absent: Set[str]) -> dict[str, list[str]]:
    """The functions whose every failing check failed only by reaching a function of a module
    missing from the folder that they declare (``[calls]``), which ``grader grade`` takes from
    the reference: each with those functions (``module.function``).

    A failing check is excused when its feedback is a stand-in's "``activations.sigmoid`` is
    unavailable" for a declared call in an ``absent`` module, and every other failing function
    it depends on is excused too (found to a fixed point).
    """
    failing: dict[str, list[Outcome]] = {}
    for o in outcomes:
        if o.status != PASSED:
            failing.setdefault(qualified(o.spec.function, o.spec.module), []).append(o)
    found: dict[str, list[str]] = {}
    changed = True
    while changed:
        changed = False
        for name, outs in failing.items():
            if name in found or name.partition(".")[0] in absent:
                continue
            reached: list[str] = []
            for o in outs:
                declared = {qualified(c, o.spec.module) for c in o.spec.declared_calls}
                gone = [d for d in declared if d.partition(".")[0] in absent
                        and f"{d} is unavailable: " in o.feedback]
                others = [d for d in dependencies(o) if d in failing
                          and d.partition(".")[0] not in absent and d not in found]
                if o.not_implemented or not gone or others:
                    break
                reached += [d for d in gone if d not in reached]
            else:
                found[name] = reached
                changed = True
    return found


def _said(name: str, module: str) -> str:
    """How a function is named to a student checking ``module``: ``cost`` in its own module,
    ``sigmoid in activations.py`` in another."""
    where, _, function = name.rpartition(".")
    return function if where == module else f"{function} in {where}.py"


def _message(chains: Sequence[Sequence[str]], module: str, stubs: set[str],
             absent: Set[str] = frozenset()) -> str:
    first = chains[0]
    said = [f"your {_said(n, module)}" for n in first]
    root = first[-1]
    where = root.partition(".")[0]
    if where in absent:
        return ("this uses " + ", which uses ".join(said) + f", but {where}.py is not in this "
                f"folder (it earns nothing): add {where}.py")
    state = "is not implemented yet" if root in stubs else "fails its check"
    text = "this uses " + ", which uses ".join(said) + f", which {state}"
    roots = [c[-1] for c in chains if c[-1].partition(".")[0] not in absent]
    roots = [r for i, r in enumerate(roots) if r not in roots[:i]]
    verb = "implement" if all(r in stubs for r in roots) else "fix"
    names = [r.rpartition(".")[2] for r in roots]
    if len(names) > 3:  # one failure everywhere (a file that does not load): name a few
        names = [*names[:2], f"{len(names) - 2} more"]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{text}: {verb} {listed} first"


def apply(outcomes: Sequence[Outcome], implemented: Set[str] = frozenset(),
          absent: Set[str] = frozenset()) -> list[Outcome]:
    """The outcomes with each failure that comes through another failing function reported
    as that function's, undiagnosed.

    Parameters
    ----------
    outcomes : sequence of Outcome
        Public-check outcomes of one submission, of every function a check may depend on
        (the dependencies' checks must have run, or their failures cannot be seen).
    implemented : set of str, optional
        Functions (``module.function``) known not to be stubs (`implemented_in`): one of
        them that raised NotImplementedError got it from a stub it calls, which is named.
    absent : set of str, optional
        Course modules missing from the student's folder: a check failing only through one
        of them is passed (`excused`), and a chain rooted there says so.

    Returns
    -------
    list of Outcome
        The same outcomes, in the same order except that, within a function, a failure that
        is the function's own comes before one blamed on a dependency (the first failure is
        the one a summary shows). A blamed outcome has status ``failed``, the message above
        and no diagnosis. A stub's own "not implemented" outcome is never blamed. An excused
        outcome has status ``passed`` and says which absent function it could not reach.
    """
    spared = excused(outcomes, absent)
    outcomes = [replace(o, status=PASSED, diagnosis=None, feedback=(
        f"not checked in full: {', '.join(spared[n])} not in this folder"))
        if o.status != PASSED and (n := qualified(o.spec.function, o.spec.module)) in spared
        else o for o in outcomes]
    graph = _Graph(outcomes, implemented)
    result: list[Outcome] = []
    blamed: set[int] = set()
    for o in outcomes:
        name = qualified(o.spec.function, o.spec.module)
        deps = graph.failing_deps(o, frozenset({name})) if o.status != PASSED else []
        if not deps or (o.not_implemented and name in graph.stub):
            result.append(o)
            continue
        chains = sorted((c for d in deps for c in graph.chains(d, frozenset({name}))),
                        key=lambda c: c[-1].partition(".")[0] in absent)  # the student's first
        message = _message(chains, o.spec.module, graph.stub, absent)
        blamed.add(len(result))
        result.append(replace(o, status=FAILED, feedback=message, diagnosis=None))
    order = {id(o): i for i, o in enumerate(result)}
    first_of: dict[tuple[str, str], int] = {}
    for i, o in enumerate(result):
        first_of.setdefault((o.spec.module, o.spec.function), i)
    return sorted(result, key=lambda o: (first_of[(o.spec.module, o.spec.function)],
                                         order[id(o)] in blamed, order[id(o)]))
