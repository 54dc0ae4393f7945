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
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence, Set
from dataclasses import replace
from pathlib import Path

from grader.course.verify import is_stub
from grader.engine.runner import FAILED, PASSED, Outcome

__all__ = ["apply", "dependencies", "implemented_in", "qualified"]


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


def _said(name: str, module: str) -> str:
    """How a function is named to a student checking ``module``: ``cost`` in its own module,
    ``sigmoid in activations.py`` in another."""
    where, _, function = name.rpartition(".")
    return function if where == module else f"{function} in {where}.py"


def _message(chains: Sequence[Sequence[str]], module: str, stubs: set[str]) -> str:
    first = chains[0]
    said = [f"your {_said(n, module)}" for n in first]
    root = first[-1]
    state = "is not implemented yet" if root in stubs else "fails its check"
    text = "this uses " + ", which uses ".join(said) + f", which {state}"
    roots = [c[-1] for c in chains]
    roots = [r for i, r in enumerate(roots) if r not in roots[:i]]
    verb = "implement" if all(r in stubs for r in roots) else "fix"
    names = [r.rpartition(".")[2] for r in roots]
    if len(names) > 3:  # one failure everywhere (a file that does not load): name a few
        names = [*names[:2], f"{len(names) - 2} more"]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{text}: {verb} {listed} first"


def apply(outcomes: Sequence[Outcome], implemented: Set[str] = frozenset()) -> list[Outcome]:
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

    Returns
    -------
    list of Outcome
        The same outcomes, in the same order except that, within a function, a failure that
        is the function's own comes before one blamed on a dependency (the first failure is
        the one a summary shows). A blamed outcome has status ``failed``, the message above
        and no diagnosis. A stub's own "not implemented" outcome is never blamed.
    """
    graph = _Graph(outcomes, implemented)
    result: list[Outcome] = []
    blamed: set[int] = set()
    for o in outcomes:
        name = qualified(o.spec.function, o.spec.module)
        deps = graph.failing_deps(o, frozenset({name})) if o.status != PASSED else []
        if not deps or (o.not_implemented and name in graph.stub):
            result.append(o)
            continue
        chains = [c for d in deps for c in graph.chains(d, frozenset({name}))]
        message = _message(chains, o.spec.module, graph.stub)
        blamed.add(len(result))
        result.append(replace(o, status=FAILED, feedback=message, diagnosis=None))
    order = {id(o): i for i, o in enumerate(result)}
    first_of: dict[tuple[str, str], int] = {}
    for i, o in enumerate(result):
        first_of.setdefault((o.spec.module, o.spec.function), i)
    return sorted(result, key=lambda o: (first_of[(o.spec.module, o.spec.function)],
                                         order[id(o)] in blamed, order[id(o)]))
