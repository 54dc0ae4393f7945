"""Does the batch package keep no state of its own: no module-level registry (a dict, list or
set filled at run time, a lock guarding one), no ``global`` rebinding and no assignment into an
imported module (``pipeline._SHARED = ...``)? What a run shares is
a `grader.batch.jobs.BatchState` handed to the executor; what a Dask worker has loaded is held
by the grader's worker plugin (`grader.batch.executors.dask.WorkerCourses`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BATCH = Path(__file__).resolve().parents[2] / "grader" / "batch"
MUTABLE_CALLS = {"dict", "list", "set", "defaultdict", "OrderedDict", "Counter", "deque",
                 "Lock", "RLock", "WeakKeyDictionary", "WeakValueDictionary"}
#: set on purpose: a forked pool worker sends its own temporary files to its own folder
#: (`grader.batch.pool`), a setting of that process, not state shared between jobs
ALLOWED = {"tempfile.tempdir"}


def _mutable(value: ast.expr | None) -> bool:
    if isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp
                  | ast.SetComp):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in MUTABLE_CALLS
    return False


@pytest.mark.parametrize("path", sorted(BATCH.rglob("*.py")), ids=lambda p: p.name)
def test_no_module_level_mutable_state(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if names != ["__all__"] and _mutable(node.value):
                found.append(f"line {node.lineno}: {', '.join(names)}")
    found += [f"line {n.lineno}: global {', '.join(n.names)}" for n in ast.walk(tree)
              if isinstance(n, ast.Global)]
    imported = {a.asname or a.name.split(".")[0] for n in ast.walk(tree)
                if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
    found += [f"line {n.lineno}: {ast.unparse(t)} set" for n in ast.walk(tree)
              if isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign)
              for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
              if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
              and t.value.id in imported and ast.unparse(t) not in ALLOWED]
    assert not found, f"{path}: module-level state: {found}"


def test_the_check_sees_a_registry(tmp_path: Path) -> None:
    """Negative control: a registry, a lock, a ``global`` and a module's state set from
    outside are each found."""
    path = tmp_path / "state.py"
    path.write_text("import threading\nfrom grader.batch import pipeline as batch\n"
                    "_LOADED: dict[str, int] = {}\n_LOCK = threading.Lock()\n"
                    "def init(x):\n    global _X\n    batch._SHARED = x\n")
    with pytest.raises(AssertionError) as caught:
        test_no_module_level_mutable_state(path)
    for name in ("_LOADED", "_LOCK", "global _X", "batch._SHARED set"):
        assert name in str(caught.value)
