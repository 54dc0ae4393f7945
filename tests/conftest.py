"""Shared fixtures: a tiny course built in a temporary folder, and a helper writing modules.

The toy course has one module, ``toy``, with one contract function, ``add_one``. Its hidden
tests are a reference comparison (2 points) and a deliberately failing comparison whose
message shows the per-student random input (0 points), so tests can read the seed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from grader.course.config import Course, load_course

#: The fixtures are course folders and student code, not tests of this suite: a fixture
#: course's hidden tests (``autograde_tests/test_<module>.py``) are run by the grader, never
#: collected by pytest.
collect_ignore_glob = ["fixtures/*"]

TOY_STUB = '''\
"""Toy exercise."""

import numpy as np


def add_one(x):
    """Return x + 1 as float64."""
    raise NotImplementedError("add_one")
'''

TOY_SOLUTION = '''\
"""Toy exercise."""

import numpy as np


def add_one(x):
    """Return x + 1 as float64."""
    return np.asarray(x, dtype=np.float64) + 1.0
'''

TOY_TESTS = '''\
"""Hidden tests of the toy module."""

from grader.authoring import graded


@graded("add_one", points=2.0, visibility="visible")
def test_add_one_matches_reference(ctx):
    """add_one matches the reference on random inputs"""
    x = ctx.rng.normal(size=(4,))
    ctx.expect_close(ctx.student.add_one(x), ctx.ref.add_one(x), rtol=1e-12, atol=1e-12)


@graded("add_one", points=0.0)
def test_add_one_shows_its_input(ctx):
    """add_one compared with a wrong value (the message shows the seeded input)"""
    x = ctx.rng.integers(0, 10**9, size=(1,)).astype("float64")
    value = ctx.student.add_one(x)
    ctx.expect(False, f"input was {int(x[0])}, add_one gave {float(value[0]):.1f}")
'''


def write_modules(folder: Path, **sources: str) -> Path:
    """Write ``<name>.py`` files (dedented) into ``folder`` and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in sources.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return folder


def make_toy_course(root: Path, *, call_timeout: float = 5.0,
                    submission_timeout: float = 20.0) -> Course:
    """Build the toy course in ``root`` and load it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "course.toml").write_text(
        '[course]\nname = "Toy"\nassignment = "toy-assignment"\nmodules = ["toy"]\n\n'
        f'[grading]\nsecret = "toy-secret"\ncall_timeout = {call_timeout}\n'
        f"submission_timeout = {submission_timeout}\n",
        encoding="utf-8",
    )
    write_modules(root / "exercises", toy=TOY_STUB)
    write_modules(root / "solutions", toy=TOY_SOLUTION)
    write_modules(root / "autograde_tests", test_toy=TOY_TESTS)
    return load_course(root)


@pytest.fixture
def toy_course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Course:
    """The toy course, in ``tmp_path / "course"`` (``GRADER_SECRET`` unset)."""
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    return make_toy_course(tmp_path / "course")


@pytest.fixture
def modules() -> Callable[..., Path]:
    """The :func:`write_modules` helper, as a fixture."""
    return write_modules


_NUMPY_FUNCTIONS = {name: getattr(np, name) for name in
                    ("array_equal", "allclose", "isclose", "shares_memory", "asarray")}


@pytest.fixture(autouse=True)
def _numpy_left_intact() -> Iterator[None]:
    """Student code run in this process (the notebook runner's tests) must not leave numpy
    patched for every later test: fail the test that did it, and put numpy back."""
    yield
    patched = [name for name, function in _NUMPY_FUNCTIONS.items()
               if getattr(np, name) is not function]
    for name in patched:
        setattr(np, name, _NUMPY_FUNCTIONS[name])
    assert not patched, f"this test left numpy.{', numpy.'.join(patched)} replaced"


ROOT = Path(__file__).resolve().parents[1]


# -- a venv under /tmp that uid 65534 can run (the uid isolation level's tests) ---------------
def _reachable_by_nobody(path: Path) -> bool:
    """Can uid 65534 (the uid level's student) enter every folder on the way to ``path``?"""
    return all(folder.stat().st_mode & stat.S_IXOTH for folder in path.resolve().parents)


def base_python() -> Path:
    """The interpreter the venv under /tmp is made from: this one's base when uid 65534 can
    run it, else the system's Python of the same version (``/usr/bin/python3.X``): a Python
    under a private home such as ``/root/.pyenv`` cannot be started by the uid level."""
    ours = Path(getattr(sys, "_base_executable", sys.executable))
    if _reachable_by_nobody(ours) and _reachable_by_nobody(Path(os.__file__)):
        return ours
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    return system if system.exists() and _reachable_by_nobody(system) else ours


def _venv_under_tmp() -> Path:
    """A venv under /tmp with this project (and so numpy) installed: built once (about a
    minute), kept for later runs, rebuilt when pyproject changes. Made from
    :func:`base_python`, so that uid 65534 can run it too (the uid isolation level)."""
    base = base_python()
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + sys.version.encode()
                         + str(base).encode()).hexdigest()[:12]
    venv = Path("/tmp") / f"grader-test-venv-{key}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        try:
            subprocess.run([str(base), "-m", "venv", str(venv)], check=True,
                           capture_output=True, timeout=300)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(ROOT)],
                           check=True, capture_output=True, timeout=1800)
        except (OSError, subprocess.SubprocessError) as exc:
            shutil.rmtree(venv, ignore_errors=True)
            message = f"could not build a venv under /tmp: {exc}"
            if (os.environ.get("CI") == "true"):
                pytest.fail(message)
            pytest.skip(message)
        (venv / ".complete").write_text("ok\n", encoding="utf-8")
    return python


# -- markers: `pytest -m "not slow"` is the quick loop; CI runs everything -------------------
#: Test files that grade real classes through subprocesses, start bubblewrap children by the
#: hundred, drive nbgrader, Dask, a browser or a fresh venv: seconds to minutes each.
SLOW_FILES = frozenset({
    "test_correct_styles.py", "test_nbgrader.py", "test_suite.py", "test_stuck_worker.py",
    "test_imports.py", "test_crash_safety.py", "test_benchmarks.py", "test_resubmission.py",
    "test_attacks.py", "test_cli.py", "test_dask.py", "test_report.py", "test_student_code.py",
    "test_contract.py", "test_hostile.py", "test_bad_input.py", "test_batch.py",
    "test_attempts.py", "test_second_course.py", "test_fresh_world.py", "test_evidence.py",
    "test_values_isolation.py", "test_delegation.py", "test_channels.py",
    "test_bundle_answers.py", "test_tutorial.py", "test_scaffold.py", "test_selftest.py",
    "test_grader_errors.py", "test_checked_loading.py", "test_plain_asserts.py",
    "test_author.py",
})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the slow files' tests ``slow`` and the tests that open Chromium ``browser``."""
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
