"""Shared fixtures: a tiny course built in a temporary folder, and a helper writing modules.

The toy course has one module, ``toy``, with one contract function, ``add_one``. Its hidden
tests are a reference comparison (2 points) and a deliberately failing comparison whose
message shows the per-student random input (0 points), so tests can read the seed.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from grader.course.config import Course, load_course

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
