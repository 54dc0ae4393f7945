"""Build the example class in ``examples/submissions/`` from the course's own files.

Each example is what a student would upload: a ``.zip`` of module files (or a notebook), made
from ``solutions/`` (the correct one), ``solutions/`` with one classic mistake, or the stubs with
hostile code appended. Run ``python examples/build.py`` after changing the solutions or stubs;
``tests/test_examples.py`` fails when the committed examples are out of date.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "examples" / "submissions"
MODULES = ("activations", "neuron", "layer", "worked_example", "losses", "gradcheck", "mlp",
           "sgd")
STAMP = (2026, 1, 1, 0, 0, 0)  # fixed, so a rebuild gives the same bytes

#: student -> (module, the reference's line, the student's line)
MISTAKES = {
    "ben": ("neuron", "delta = sigmoid_prime(z) * 2.0 * (a - y)",
            "delta = sigmoid_prime(z) * (a - y)"),
    "cleo": ("activations", "shifted = z - np.max(z, axis=-1, keepdims=True)", "shifted = z"),
    "dev": ("mlp", "return dZ @ W, dZ.T @ A_prev, dZ.sum(axis=0)",
            "return dZ @ W, A_prev.T @ dZ, dZ.sum(axis=0)"),
    "eve": ("losses", "return 2.0 * (A - Y) / A.shape[0]", "return 2.0 * (A - Y)"),
}

MALLORY_LAYER = '''

# --- mallory's attacks: none of them may earn a point ---------------------------------------
import numpy as _np  # noqa: E402
import numpy.testing as _npt  # noqa: E402

_np.allclose = lambda *a, **k: True  # "every comparison passes"
_npt.assert_allclose = lambda *a, **k: None
print('{"score": 100, "max_score": 100, "tests": []}')  # fake results on stdout
for _path in ("../../solutions/layer.py", "/proc/1/cwd/solutions/layer.py"):
    try:
        exec(open(_path).read())  # delegate to the reference, if it can be found
    except OSError:
        pass


class _AlwaysEqual:
    def __eq__(self, other):
        return True

    def __getattr__(self, name):
        return lambda *a, **k: True


def forward(W, b, a_prev):  # noqa: F811
    return _AlwaysEqual(), _AlwaysEqual()


def cost(a, y):  # noqa: F811
    return _AlwaysEqual()


def backward(W, b, a_prev, y):  # noqa: F811
    while True:  # hang: the deadline stops it
        pass


def backward_loops(W, b, a_prev, y):  # noqa: F811
    import os

    os._exit(0)  # kill the process in the middle of a call
'''

MALLORY_LOSSES = '''

import sys  # noqa: E402

sys.exit(0)  # leave at import: every losses test should just fail
'''


def _source(folder: str, module: str) -> str:
    return (ROOT / folder / f"{module}.py").read_text(encoding="utf-8")


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(zipfile.ZipInfo(name, STAMP), text)
    return buffer.getvalue()


def examples() -> dict[str, bytes]:
    """File name -> content of every example submission."""
    reference = {m: _source("solutions", m) for m in MODULES}
    built = {"ada.zip": _zip({f"ada/{m}.py": s for m, s in reference.items()})}
    for student, (module, old, new) in MISTAKES.items():
        sources = dict(reference)
        if old not in sources[module]:
            raise SystemExit(f"{student}: {old!r} is not in solutions/{module}.py any more")
        sources[module] = sources[module].replace(old, new, 1)
        built[f"{student}.zip"] = _zip({f"{student}/{m}.py": s for m, s in sources.items()})
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# My backprop homework"]}]
    for module, source in reference.items():
        cells.append({"cell_type": "code", "metadata": {}, "execution_count": None,
                      "outputs": [], "source": f"# module: {module}\n{source}"})
    notebook = {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                            "language": "python"}}}
    built["fay.ipynb"] = (json.dumps(notebook, indent=1) + "\n").encode("utf-8")
    mallory = {m: _source("exercises", m) for m in MODULES}
    mallory["activations"] = reference["activations"]
    mallory["neuron"] = reference["neuron"]
    mallory["layer"] += MALLORY_LAYER
    mallory["losses"] += MALLORY_LOSSES
    built["mallory.zip"] = _zip({f"{m}.py": s for m, s in mallory.items()})
    return built


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in examples().items():
        (OUT / name).write_bytes(data)
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
