"""Evidence, not testimony: whether a call changed its array arguments is the grader's own
observation (the arguments live in files the grader reads back itself), so no harness
internals the student's code replaces can earn the "inputs unchanged" points; aliasing,
which only the child could see, earns none."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from grader.authoring import Context, Marker
from grader.course.config import TestSpec as Spec
from grader.engine.runner import ERROR, FAILED, PASSED, run_test
from grader.sandbox.box import Sandbox, StudentError
from grader.sandbox.inprocess import InProcess
from grader.sandbox.isolation import detect
from grader.sandbox.limits import Limits

ROOT = Path(__file__).resolve().parents[2]

FORGE = """
import __main__
import numpy as np

__main__._same = lambda a, b: True
__main__._shares_memory = lambda a, b: False
__main__._array_equal = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.shares_memory = lambda *a, **k: False
"""

STUDENT = FORGE + """
STORE = []


class Cache:
    def __init__(self, x):
        self.x = x


def add_in_place(x):
    x += 1
    return x


def add_in_place_then_fail(x):
    x *= 3
    raise ValueError("after the harm")


def scale_entries(params, lr):
    for name in params:
        params[name] *= lr
    return params


def replace_entry(d):
    d["w"] = d["w"] + 1.0
    return 0


def restores(x):
    x[0] = 99.0
    y = x * 2
    x[0] = 0.0
    return y


def fresh(x):
    return x * 2


def same(x):
    return x


def remember(x):
    STORE.append(x)
    return len(STORE) - 1


def recall(i):
    return STORE[i]


def make_cache(x):
    return Cache(x)


def use_cache(cache, x):
    cache.x += 1
    return x * 0


def mutate_kwarg(*, x):
    x[...] = 7
    return 0
"""
#: the same student run in this process (the notebook runner): without the forgery, which would
#: patch numpy for every later test of this pytest process
IN_KERNEL = STUDENT.replace(FORGE, "")


@pytest.fixture
def folder(tmp_path: Path, modules: Callable[..., Path]) -> Path:
    return modules(tmp_path / "submission", m=STUDENT)


@pytest.fixture
def sandbox(folder: Path) -> Iterator[Sandbox]:
    with Sandbox(folder, Limits(call_timeout=10.0)) as box:
        yield box


# -- the sandbox's observation --------------------------------------------------------------
def test_is_an_in_place_change_observed_though_the_harness_was_forged(sandbox: Sandbox) -> None:
    """Issue 11 item 3: ``__main__._same = lambda a, b: True`` (and numpy patched) cannot hide
    that the call wrote into its argument."""
    x = np.zeros(3)
    result = sandbox.call("m", "add_in_place", [x])
    assert result.mutated == ["args[0]"]
    np.testing.assert_array_equal(result.value, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(x, [0.0, 0.0, 0.0])  # the grader's own copy


def test_are_changed_entries_of_a_dict_named_by_their_paths(sandbox: Sandbox) -> None:
    params = {"W": np.ones((2, 2)), "b": np.ones(2), "n": 3}
    result = sandbox.call("m", "scale_entries", [params, 1.0])
    assert result.mutated == []  # lr = 1: every byte as it was
    result = sandbox.call("m", "scale_entries", [params, 0.5])
    assert result.mutated == ["args[0]['W']", "args[0]['b']"]


def test_is_a_keyword_argument_changed_in_place_observed(sandbox: Sandbox) -> None:
    assert sandbox.call("m", "mutate_kwarg", kwargs={"x": np.zeros(4)}).mutated == \
        ["kwargs['x']"]


def test_is_a_change_before_an_exception_observed(sandbox: Sandbox) -> None:
    with pytest.raises(StudentError) as info:
        sandbox.call("m", "add_in_place_then_fail", [np.ones(2)])
    assert info.value.mutated == ["args[0]"]


def test_is_an_argument_written_and_restored_before_returning_unchanged(
    sandbox: Sandbox,
) -> None:
    """What is observed is the argument as the call left it."""
    result = sandbox.call("m", "restores", [np.zeros(3)])
    assert result.mutated == []
    np.testing.assert_array_equal(result.value, [198.0, 0.0, 0.0])


def test_is_a_replaced_dict_entry_reported_though_no_byte_changed(sandbox: Sandbox) -> None:
    """The child's own report can add a failure (an entry replaced, which the grader cannot
    see), never remove one."""
    assert sandbox.call("m", "replace_entry", [{"w": np.zeros(2)}]).mutated == ["args[0]['w']"]


def test_does_a_view_the_child_kept_survive_later_calls(sandbox: Sandbox) -> None:
    """Each call's arguments are a new file: an array the child kept from an earlier call
    (a forward cache holding X) is never overwritten by a later call's arguments."""
    first = np.arange(5.0)
    assert sandbox.call("m", "remember", [first]).value == 0
    for k in range(5):
        sandbox.call("m", "fresh", [np.full(5, -1.0 - k)])
        sandbox.call("m", "remember", [np.full(5, 7.0 + k)])
    np.testing.assert_array_equal(sandbox.call("m", "recall", [0]).value, first)
    np.testing.assert_array_equal(sandbox.call("m", "recall", [5]).value, np.full(5, 11.0))


def test_is_an_argument_kept_in_the_child_reported_as_unobserved(sandbox: Sandbox) -> None:
    """A handle's contents live in the child: the grader cannot see them change."""
    cache = sandbox.call("m", "make_cache", [np.zeros(2)]).value
    result = sandbox.call("m", "use_cache", [cache, np.ones(2)])
    assert result.unobserved == ["args[0]"]
    assert result.mutated == []


@pytest.mark.parametrize("dtype", ["float64", "float32", "int8", "bool", "complex128"])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (4, 0, 2)])
def test_do_shared_arguments_arrive_with_their_values_dtype_and_shape(
    sandbox: Sandbox, dtype: str, shape: tuple[int, ...],
) -> None:
    x = (np.arange(int(np.prod(shape))) % 3).astype(dtype).reshape(shape)
    result = sandbox.call("m", "same", [x])
    assert result.value.dtype == x.dtype and result.value.shape == shape
    np.testing.assert_array_equal(result.value, x)
    assert result.mutated == []


def test_do_non_contiguous_and_big_endian_arguments_arrive_as_their_values(
    sandbox: Sandbox,
) -> None:
    base = np.arange(24.0).reshape(4, 6)
    args = [base[::2, 1::2].T, np.array([1.0, 2.0], dtype=">f8")]
    for x in args:
        np.testing.assert_array_equal(sandbox.call("m", "same", [x]).value, x)


# -- what the test API makes of it ------------------------------------------------------------
def _run(body: Callable[[Context], None], runner: object) -> str:
    spec = Spec(body, "m", body.__name__, f"m::{body.__name__}",
                    Marker("f", 1.0, "hidden", None, False))
    return run_test(spec, runner, seed=1).status  # type: ignore[arg-type]


def only_fresh(ctx: Context) -> None:
    ctx.student.same(np.ones(2))
    ctx.expect_fresh()


def unchanged_after_in_place(ctx: Context) -> None:
    ctx.student.add_in_place(np.ones(2))
    ctx.expect_unchanged()


def unchanged_after_fresh(ctx: Context) -> None:
    ctx.student.fresh(np.ones(2))
    ctx.expect_unchanged()


def unchanged_with_a_handle(ctx: Context) -> None:
    cache = ctx.student.make_cache(np.zeros(2))
    ctx.student.use_cache(cache, np.ones(2))
    ctx.expect_unchanged()


def unchanged_without_a_call(ctx: Context) -> None:
    ctx.expect_unchanged()


@pytest.mark.parametrize(("body", "status"), [
    (only_fresh, ERROR),  # no pass recorded: the test records no check
    (unchanged_after_in_place, FAILED),
    (unchanged_after_fresh, PASSED),
    (unchanged_with_a_handle, ERROR),
    (unchanged_without_a_call, ERROR),
])
def test_does_the_context_decide_on_the_graders_observation_only(
    sandbox: Sandbox, body: Callable[[Context], None], status: str,
) -> None:
    """``expect_fresh`` never records a pass (aliasing cannot be observed), and
    ``expect_unchanged`` passes only on arguments the grader observed unchanged."""
    assert _run(body, sandbox) == status


@pytest.mark.parametrize(("body", "status"), [
    (only_fresh, ERROR),
    (unchanged_after_in_place, FAILED),
    (unchanged_after_fresh, PASSED),
    (unchanged_with_a_handle, ERROR),
])
def test_does_the_notebook_runner_decide_the_same_way(
    body: Callable[[Context], None], status: str,
) -> None:
    """In a notebook kernel (no sandbox), the same test means the same thing."""
    module = types.ModuleType("m")
    exec(compile(IN_KERNEL, "m.py", "exec"), module.__dict__)
    assert _run(body, InProcess({"m": module})) == status


def test_does_the_notebook_runner_observe_changes_by_path() -> None:
    module = types.ModuleType("m")
    exec(compile(IN_KERNEL, "m.py", "exec"), module.__dict__)
    runner = InProcess({"m": module})
    params = {"W": np.ones(2), "b": np.ones(1)}
    assert runner.call("m", "scale_entries", [params, 0.5]).mutated == \
        ["args[0]['W']", "args[0]['b']"]
    np.testing.assert_array_equal(params["W"], [1.0, 1.0])
    assert runner.call("m", "replace_entry", [{"w": np.zeros(2)}]).mutated == ["args[0]['w']"]
    with pytest.raises(StudentError) as info:
        runner.call("m", "add_in_place_then_fail", [np.ones(2)])
    assert info.value.mutated == ["args[0]"]


# -- through the real command line -------------------------------------------------------------
IN_PLACE_SGD = """

def sgd_step(params, grads, lr):
    for name in params:
        params[name] -= lr * grads[name]
    return params
"""

needs_isolation = pytest.mark.skipif(detect().level != "bubblewrap",
                                     reason="needs bubblewrap (apt-get install bubblewrap)")


def _submission(folder: Path, forged: bool) -> Path:
    shutil.copytree(ROOT / "solutions", folder, ignore=shutil.ignore_patterns("__pycache__"))
    sgd = folder / "sgd.py"
    sgd.write_text(sgd.read_text(encoding="utf-8") + IN_PLACE_SGD + (FORGE if forged else ""),
                   encoding="utf-8")
    return folder


def _grader(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=600)


@needs_isolation
def test_does_a_forged_harness_lose_the_inputs_unchanged_points_in_grader_grade(
    tmp_path: Path,
) -> None:
    """An in-place ``sgd_step`` with the harness forged scores no more than its honest twin,
    and fails "leaves params and grads unchanged"."""
    klass = tmp_path / "class"
    _submission(klass / "forged", forged=True)
    _submission(klass / "twin", forged=False)
    proc = _grader("grade", str(klass), "--out", str(tmp_path / "out"), "--jobs", "1",
                   "--course", str(ROOT), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = {name: json.loads((tmp_path / "out" / f"{name}.json").read_text())
             for name in ("forged", "twin")}
    assert found["forged"]["score"] <= found["twin"]["score"]
    for result in found.values():
        tests = {t["name"]: t for t in result["tests"]}
        unchanged = tests["sgd_step returns p - lr * g and leaves params and grads unchanged"]
        assert unchanged["status"] == "failed"
        assert "changed its input in place" in unchanged["feedback"]


@needs_isolation
def test_does_a_forged_harness_fail_the_inputs_unchanged_check_in_grader_check(
    tmp_path: Path,
) -> None:
    folder = _submission(tmp_path / "student", forged=True)
    proc = _grader("check", "sgd", "--path", str(folder), "--course", str(ROOT), cwd=tmp_path)
    assert proc.returncode == 1
    section = proc.stdout.split("sgd_step", 1)[1].split("\n  train", 1)[0]
    assert "FAIL" in section.upper()
    assert "changed its input in place" in section
