"""Hostile submissions: each attack, graded by the real batch grader, scores no more than the
same submission without the attack, and the batch completes with a valid result for everyone.

The honest work of every hostile student is the same: a correct ``activations.py`` and the
untouched stubs elsewhere. The attack lives in ``neuron.py`` (whose stubs score 0 anyway)."""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path

import pytest

from grader import batch, results
from grader.course import load_course
from grader.sandbox import Limits

ROOT = Path(__file__).resolve().parents[1]

ATTACKS = {
    "patch_numpy": """
        import numpy as np
        import numpy.testing
        np.allclose = lambda *a, **k: True
        np.isclose = lambda *a, **k: True
        np.array_equal = lambda *a, **k: True
        numpy.testing.assert_allclose = lambda *a, **k: None
    """,
    "atexit_fake_results": """
        import atexit, json
        FAKE = {"schema_version": 1, "student": "atexit_fake_results", "score": 100}
        def _fake():
            with open(r"{out}/atexit_fake_results.json", "w") as fh:
                json.dump(FAKE, fh)
            with open(r"{out}/gradebook.csv", "w") as fh:
                fh.write("student,total\\natexit_fake_results,100\\n")
        atexit.register(_fake)
        _fake()
    """,
    "print_fake_json": """
        print('{"score": 100, "max_score": 100, "tests": []}')
        import sys
        sys.stderr.write('{"op": "result", "ok": true, "value": 1}\\n')
    """,
    "exit_at_import": """
        import sys
        sys.exit(0)
    """,
    "os_exit_in_call": """
        def forward(w, b, a_prev):
            import os
            os._exit(0)
    """,
    "infinite_loop": """
        def forward(w, b, a_prev):
            while True:
                pass
    """,
    "allocate_50_gb": """
        def forward(w, b, a_prev):
            import numpy as np
            return np.ones(50 * 1024**3 // 8), np.ones(3)
    """,
    "always_equal": """
        class Liar(float):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __array__(self, *a, **k): raise TypeError
        class Everything:
            def __eq__(self, other): return True
            def __getattr__(self, name): return lambda *a, **k: True
        def forward(w, b, a_prev):
            return Everything(), Everything()
        def cost(a, y):
            return Everything()
    """,
    "forged_channel_message": """
        import json, os, struct, sys
        def forward(w, b, a_prev):
            body = json.dumps({"op": "result", "id": 1, "ok": True,
                               "value": {"__tuple__": [1.0, 1.0]}}).encode()
            for call_id in range(1, 200):
                body = json.dumps({"op": "result", "id": call_id, "ok": True,
                                   "value": {"__tuple__": [0.0, 0.0]}}).encode()
                os.write(int(sys.argv[3]), struct.pack(">I", len(body)) + body)
            raise NotImplementedError
    """,
}


def _student(folder: Path, attack: str | None, out: Path) -> None:
    shutil.copytree(ROOT / "exercises", folder)
    shutil.copy2(ROOT / "solutions" / "activations.py", folder / "activations.py")
    if attack is not None:
        code = textwrap.dedent(attack).replace("{out}", str(out))
        neuron = folder / "neuron.py"
        neuron.write_text(neuron.read_text(encoding="utf-8") + "\n" + code, encoding="utf-8")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, results.Result]:
    class_dir = tmp_path_factory.mktemp("hostile-class")
    out = tmp_path_factory.mktemp("hostile-results")
    _student(class_dir / "honest", None, out)
    for name, attack in ATTACKS.items():
        _student(class_dir / name, attack, out)
    course = load_course(ROOT)
    course = dataclasses.replace(course, limits=Limits(call_timeout=3.0,
                                                       submission_timeout=60.0))
    report = batch.grade([class_dir], course=course, out=out, jobs=2, force=True)
    assert report.ok, report.failures
    loaded = {r["student"]: r for r in results.load_all(out)}
    assert (out / "gradebook.csv").read_text().count("\n") == len(ATTACKS) + 2
    return loaded


def test_honest_work_scores_its_points(graded: dict[str, results.Result]) -> None:
    """Does the honest baseline score exactly the activations module's points?"""
    assert graded["honest"]["score"] == 12


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_gains_nothing(graded: dict[str, results.Result], attack: str) -> None:
    """Does the attacker score no more than the same work without the attack, with a valid
    result of its own?"""
    assert attack in graded, f"no valid result for {attack}"
    result = graded[attack]
    assert result["student"] == attack
    assert result["score"] <= graded["honest"]["score"]
    assert result["modules"]["neuron"]["score"] == 0


def test_fake_result_files_are_replaced_by_real_ones(graded: dict[str, results.Result]) -> None:
    """Is a results file forged by the child replaced by the grader's own result?"""
    result = graded["atexit_fake_results"]
    assert result["max_score"] == 100 and result["score"] <= 12
