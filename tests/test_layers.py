"""Does ``grader/`` keep its architecture: layered packages whose imports only go downward,
no cycle between modules, and no module over 400 lines?

The layers, from the bottom (docs/architecture.md): ``util`` < ``sandbox`` < ``authoring`` <
``course`` < ``engine`` < ``exports`` < ``batch`` < ``integrations`` < the root (``api``, then
``cli``). A module may import from its own package and from the layers below it; every import
counts, a function-level one too (one inside a function would only hide a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GRADER = Path(__file__).resolve().parents[1] / "grader"
LAYERS = ["util", "sandbox", "authoring", "course", "engine", "exports", "batch",
          "integrations", "api", "cli"]
#: root modules and their layer (``grader/__init__`` and ``__main__`` sit on top)
ROOT_LAYER = {"api": "api", "cli": "cli", "__main__": "cli", "__init__": "cli"}
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    """Every module of grader/ by dotted name (``grader.sandbox.box``)."""
    found = {}
    for path in sorted(GRADER.rglob("*.py")):
        parts = path.relative_to(GRADER.parent).with_suffix("").parts
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) >= 3 or (len(parts) == 2 and parts[1] in LAYERS and parts[1] != "api"
                           and parts[1] != "cli" and (GRADER / parts[1]).is_dir()):
        return LAYERS.index(parts[1])
    name = parts[1] if len(parts) > 1 else "__init__"
    if name in ROOT_LAYER:
        return LAYERS.index(ROOT_LAYER[name])
    raise AssertionError(f"{module} belongs to no layer: put it in one of {LAYERS}")


def _imports(module: str) -> set[str]:
    """The grader modules ``module`` imports, anywhere in it."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module and name != "grader":
                found.add(name)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def test_every_module_belongs_to_a_layer() -> None:
    for module in MODULES:
        _layer(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_only_downward(module: str) -> None:
    """Does ``module`` import only from its own package and the layers below?"""
    upward = [m for m in sorted(GRAPH[module]) if _layer(m) > _layer(module)]
    assert not upward, f"{module} (layer {LAYERS[_layer(module)]}) imports from above: {upward}"


def test_no_cycle_between_modules() -> None:
    """Is the import graph of grader/ acyclic (function-level imports included)?"""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_400_lines(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines (at most {MAX_LINES})"


def test_the_layer_test_catches_an_upward_import(tmp_path: Path) -> None:
    """Negative control: the checks above see an upward import and a cycle when there is one."""
    assert "grader.engine.runner" in GRAPH["grader.engine.results"]
    assert _layer("grader.engine.results") > _layer("grader.sandbox.box")
    assert _layer("grader.api") > _layer("grader.batch.pipeline")
    assert _layer("grader.cli") > _layer("grader.api")
