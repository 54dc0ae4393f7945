"""The bundled example class is what `examples/build.py` makes from the current course."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_examples_are_up_to_date() -> None:
    """Do the committed examples equal a fresh build from solutions/ and exercises/?
    (If not: run `python examples/build.py` and commit.)"""
    spec = importlib.util.spec_from_file_location("_examples_build", ROOT / "examples" /
                                                  "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    built = build.examples()
    committed = {p.name: p.read_bytes() for p in (ROOT / "examples" / "submissions").iterdir()}
    assert committed.keys() == built.keys()
    for name, data in built.items():
        assert committed[name] == data, f"{name} is out of date: run python examples/build.py"
