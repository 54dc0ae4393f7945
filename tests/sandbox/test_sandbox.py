"""The sandbox: student code runs in a child process and only plain data comes back."""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import wire
from grader.sandbox.box import (
    Sandbox,
    SandboxCrash,
    SandboxUnavailable,
    StudentError,
    StudentTimeout,
)
from grader.sandbox.isolation import detect
from grader.sandbox.limits import Limits

STUDENT = """\
import os
import sys
import time

import numpy as np


class Liar:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


class LiarArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)


def liar():
    return Liar()


def liar_array():
    return np.arange(3.0).view(LiarArray)


def type_of(obj):
    return type(obj).__name__


def stub(x):
    raise NotImplementedError


def divide(x):
    return 1 / x


def loop():
    while True:
        pass


def hard_exit():
    os._exit(7)


def soft_exit():
    sys.exit(0)


def huge():
    return np.ones(50 * 1024**3 // 8)


def flood():
    sys.stdout.write("x" * (100 * 1024 * 1024))
    sys.stdout.flush()
    return "printed"


def say(text):
    print(text, flush=True)
    return "said"


def fake_frame():
    sys.stdout.buffer.write(b'\\x00\\x00\\x00\\x10{"op":"result"}')
    sys.stdout.flush()
    return "real"


def sleep(seconds):
    time.sleep(seconds)
    return seconds


TOKEN = os.urandom(8).hex()  # differs in every new child, even where every pid is 2


def pid():
    return f"{os.getpid()}-{TOKEN}"


def add_in_place(x):
    x += 1
    return x


def view_of(d):
    return d["w"][:2]


def fresh(x):
    return x * 2


def echo(*args, **kwargs):
    return [list(args), kwargs, [type(a).__name__ for a in args]]


def apply(f, x):
    return f(x) * 2


def catch(f):
    try:
        f(1)
    except Exception as exc:
        return [type(exc).__name__, str(exc)]
    return "no error"


def call_then_draw(f, rng):
    f(rng)
    return rng.random()


def environment():
    return {"env": dict(os.environ), "cwd": os.getcwd(), "listing": sorted(os.listdir("."))}


def write(name):
    with open(name, "w") as fh:
        fh.write("x")


def read(path):
    with open(path) as fh:
        return fh.read()


def connect(port):
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return "connected"


def forge_result():
    import json

    body = json.dumps({"op": "result", "id": 999, "ok": True, "value": 1}).encode()
    os.write(int(sys.argv[3]), len(body).to_bytes(4, "big") + body)
    return "genuine"
"""

PATCHED = {
    "c": """\
        def f():
            return "original"

        def via_c():
            return f()
        """,
    "b": """\
        from c import f

        def g():
            return f()
        """,
    "a": """\
        import b

        def h():
            return b.g()
        """,
}

HIDES_MUTATION = """\
import numpy as np

np.array_equal = lambda *args, **kwargs: True
np.shares_memory = lambda *args, **kwargs: False


def add_in_place(x):
    x += 1
    return x
"""

FAST = Limits(call_timeout=5.0, submission_timeout=60.0)


@pytest.fixture
def submission(tmp_path: Path, modules: Callable[..., Path]) -> Path:
    return modules(
        tmp_path / "submission",
        m=STUDENT,
        exits_at_import="import sys\nsys.exit(0)\n",
        dies_at_import="import os\nos._exit(3)\n",
        loops_at_import="while True:\n    pass\n",
        syntax_error="def f(:\n",
        hides_mutation=HIDES_MUTATION,
        **PATCHED,
    )


@pytest.fixture
def sandbox(submission: Path) -> Iterator[Sandbox]:
    with Sandbox(submission, FAST) as box:
        yield box


# -- what comes back ---------------------------------------------------------------------------
def test_does_an_object_whose_eq_is_always_true_come_back_as_an_incomparable_handle(
    sandbox: Sandbox,
) -> None:
    value = sandbox.call("m", "liar").value
    assert isinstance(value, wire.Handle)
    assert value.type_name == "Liar"
    assert value != 1.0
    assert value != np.float64(1.0)
    assert not value == "anything"  # the == itself is what is under test


def test_can_a_handle_be_passed_back_to_the_child(sandbox: Sandbox) -> None:
    handle = sandbox.call("m", "liar").value
    assert sandbox.call("m", "type_of", [handle]).value == "Liar"


def test_is_a_returned_ndarray_subclass_rebuilt_as_a_plain_ndarray(sandbox: Sandbox) -> None:
    value = sandbox.call("m", "liar_array").value
    assert type(value) is np.ndarray
    np.testing.assert_array_equal(value, [0.0, 1.0, 2.0])
    assert not (value == 5.0).any()


def test_do_arguments_arrive_as_plain_data_of_the_same_structure(sandbox: Sandbox) -> None:
    args, kwargs, types = sandbox.call(
        "m", "echo", [(1, 2.5), np.arange(3, dtype=np.int32)], {"k": {"a": [None, True]}}
    ).value
    assert args[0] == (1, 2.5)
    assert args[1].dtype == np.int32
    np.testing.assert_array_equal(args[1], [0, 1, 2])
    assert kwargs == {"k": {"a": [None, True]}}
    assert types == ["tuple", "ndarray"]


def test_is_the_grader_protected_from_fake_frames_printed_to_stdout(sandbox: Sandbox) -> None:
    assert sandbox.call("m", "fake_frame").value == "real"


def test_is_a_forged_answer_for_another_call_ignored(sandbox: Sandbox) -> None:
    assert sandbox.call("m", "forge_result").value == "genuine"
    assert sandbox.call("m", "fresh", [np.ones(2)]).value.tolist() == [2.0, 2.0]


def test_is_what_the_child_prints_kept_for_feedback(sandbox: Sandbox) -> None:
    sandbox.call("m", "say", ["hello from the student"])
    assert "hello from the student" in sandbox.output()


# -- the student's errors ------------------------------------------------------------------------
def test_is_a_stub_reported_as_not_implemented(sandbox: Sandbox) -> None:
    with pytest.raises(StudentError) as info:
        sandbox.call("m", "stub", [1.0])
    assert info.value.not_implemented


def test_is_an_exception_reported_with_the_students_traceback(sandbox: Sandbox) -> None:
    with pytest.raises(StudentError) as info:
        sandbox.call("m", "divide", [0])
    assert info.value.type_name == "ZeroDivisionError"
    assert not info.value.not_implemented
    assert "m.py" in info.value.traceback
    assert "return 1 / x" in info.value.traceback
    assert "_child.py" not in info.value.traceback


def test_is_a_missing_module_reported_as_missing_from_the_submission(sandbox: Sandbox) -> None:
    with pytest.raises(StudentError, match="missing from the submission") as info:
        sandbox.call("nope", "f")
    assert info.value.type_name == "ImportError"


def test_is_a_missing_function_reported_by_name(sandbox: Sandbox) -> None:
    with pytest.raises(StudentError, match="'no_such_function'") as info:
        sandbox.call("m", "no_such_function")
    assert info.value.type_name == "MissingFunction"


def test_is_a_module_known_to_be_unusable_refused_with_its_reason(submission: Path) -> None:
    with Sandbox(submission, FAST, unavailable={"m": "m.py is not UTF-8 text"}) as box:
        with pytest.raises(StudentError, match="not UTF-8"):
            box.call("m", "pid")


def test_is_a_syntax_error_reported_as_a_student_error(sandbox: Sandbox) -> None:
    with pytest.raises(StudentError) as info:
        sandbox.call("syntax_error", "f")
    assert info.value.type_name == "SyntaxError"


# -- exits, crashes and deadlines ----------------------------------------------------------------
def test_does_an_endless_loop_time_out_within_the_deadline_and_the_next_call_work(
    submission: Path,
) -> None:
    with Sandbox(submission, Limits(call_timeout=1.0, submission_timeout=30.0)) as box:
        first = box.call("m", "pid").value
        started = time.monotonic()
        with pytest.raises(StudentTimeout, match=r"m\.loop did not return within 1 s"):
            box.call("m", "loop")
        assert time.monotonic() - started < 3.0
        second = box.call("m", "pid").value
    assert second != first


def test_does_os_exit_in_a_call_crash_only_that_call(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxCrash, match=r"exited with code 7 during the call to m\.hard_exit"):
        sandbox.call("m", "hard_exit")
    assert sandbox.call("m", "fresh", [1.5]).value == 3.0


def test_does_sys_exit_in_a_call_become_a_student_error(sandbox: Sandbox) -> None:
    with pytest.raises(StudentError, match=r"your code called sys\.exit\(0\)") as info:
        sandbox.call("m", "soft_exit")
    assert info.value.type_name == "SystemExit"
    assert sandbox.call("m", "fresh", [1.5]).value == 3.0


def test_does_sys_exit_at_import_become_a_student_error(sandbox: Sandbox) -> None:
    with pytest.raises(StudentError, match=r"sys\.exit\(0\)"):
        sandbox.call("exits_at_import", "f")
    assert sandbox.call("m", "fresh", [2.0]).value == 4.0


def test_does_os_exit_at_import_break_that_module_only(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxCrash, match="exited with code 3"):
        sandbox.call("dies_at_import", "f")
    with pytest.raises(StudentError, match=r"importing dies_at_import\.py ended the process"):
        sandbox.call("dies_at_import", "f")
    assert sandbox.call("m", "fresh", [2.0]).value == 4.0


def test_does_an_import_that_never_ends_time_out_and_break_that_module(
    submission: Path,
) -> None:
    with Sandbox(submission, Limits(call_timeout=1.0, submission_timeout=30.0)) as box:
        with pytest.raises(StudentTimeout):
            box.call("loops_at_import", "f")
        with pytest.raises(StudentError, match=r"did not finish within 1 s"):
            box.call("loops_at_import", "f")
        assert box.call("m", "fresh", [2.0]).value == 4.0


def test_is_a_50_gb_allocation_a_memory_error_not_a_grader_crash(sandbox: Sandbox) -> None:
    first = sandbox.call("m", "pid").value
    with pytest.raises(StudentError) as info:
        sandbox.call("m", "huge")
    assert info.value.type_name == "MemoryError"
    assert sandbox.call("m", "pid").value == first


def test_is_printing_100_mb_stopped_by_the_file_size_limit_with_a_clear_message(
    submission: Path,
) -> None:
    limits = Limits(call_timeout=10.0, submission_timeout=60.0, file_size_mb=1)
    with Sandbox(submission, limits) as box:
        with pytest.raises((StudentError, SandboxCrash)) as info:
            box.call("m", "flood")
        assert re.search(r"file.size|file too large", str(info.value), re.IGNORECASE)
        assert len(box.output()) <= limits.output_bytes
        assert box.call("m", "fresh", [2.0]).value == 4.0


def test_does_a_print_in_a_later_call_work_after_the_output_limit_was_hit(
    submission: Path,
) -> None:
    limits = Limits(call_timeout=10.0, submission_timeout=60.0, file_size_mb=1)
    with Sandbox(submission, limits) as box:
        with pytest.raises((StudentError, SandboxCrash)):
            box.call("m", "flood")
        assert box.call("m", "say", ["a short debugging line"]).value == "said"


def test_does_the_submission_time_budget_stop_calls_once_used_up(submission: Path) -> None:
    with Sandbox(submission, Limits(call_timeout=10.0, submission_timeout=2.5)) as box:
        assert box.call("m", "sleep", [0.2]).value == 0.2
        started = time.monotonic()
        with pytest.raises(StudentTimeout):
            box.call("m", "sleep", [9.0])  # cut at what is left of the 2.5 s, not at 10 s
        assert time.monotonic() - started < 3.0
        started = time.monotonic()
        with pytest.raises(StudentTimeout, match=r"used up its time budget of 2\.5 s"):
            box.call("m", "pid")
        assert time.monotonic() - started < 0.5


def test_is_a_child_that_cannot_start_the_graders_failure_not_the_students(
    submission: Path,
) -> None:
    with Sandbox(submission, Limits(call_timeout=5.0, memory_mb=30)) as box:
        with pytest.raises(SandboxUnavailable, match="could not start"):
            box.call("m", "pid")


# -- mutation (more in test_evidence.py) ----------------------------------------------------------
def test_is_an_argument_changed_in_place_reported_and_the_graders_copy_untouched(
    sandbox: Sandbox,
) -> None:
    x = np.zeros(3)
    result = sandbox.call("m", "add_in_place", [x])
    assert result.mutated == ["args[0]"]
    np.testing.assert_array_equal(result.value, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(x, [0.0, 0.0, 0.0])


def test_is_a_returned_view_of_a_nested_argument_neither_a_change_nor_reported(
    sandbox: Sandbox,
) -> None:
    """Aliasing can only be seen in the child: nothing about it comes back."""
    result = sandbox.call("m", "view_of", [{"w": np.arange(4.0)}])
    assert result.mutated == []
    assert not hasattr(result, "aliased")
    np.testing.assert_array_equal(result.value, [0.0, 1.0])


def test_is_mutation_reported_even_when_the_submission_patches_numpy(sandbox: Sandbox) -> None:
    result = sandbox.call("hides_mutation", "add_in_place", [np.zeros(3)])
    assert result.mutated == ["args[0]"]


def test_is_a_fresh_result_neither_mutated_nor_unobserved(sandbox: Sandbox) -> None:
    result = sandbox.call("m", "fresh", [np.arange(4.0)])
    assert result.mutated == [] and result.unobserved == []
    assert result.seconds >= 0.0


# -- callbacks and patches -----------------------------------------------------------------------
def test_can_the_child_call_a_grader_function_it_was_given(sandbox: Sandbox) -> None:
    seen = []

    def increment(x: object) -> object:
        seen.append(x)
        return x + 1  # type: ignore[operator]

    value = sandbox.call("m", "apply", [wire.Callback("inc"), np.arange(3.0)],
                         callbacks={"inc": increment}).value
    np.testing.assert_array_equal(value, [2.0, 4.0, 6.0])
    assert type(seen[0]) is np.ndarray


def test_does_an_error_in_a_callback_surface_as_an_exception_in_the_child(
    sandbox: Sandbox,
) -> None:
    def bad(x: object) -> object:
        raise ValueError("no negative inputs")

    value = sandbox.call("m", "catch", [wire.Callback("bad")], callbacks={"bad": bad}).value
    assert value == ["CallbackError", "bad raised ValueError: no negative inputs"]


def test_does_an_uncaught_callback_error_fail_the_call_as_a_student_error(
    sandbox: Sandbox,
) -> None:
    with pytest.raises(StudentError, match="no function 'ghost' was offered") as info:
        sandbox.call("m", "apply", [wire.Callback("ghost"), 1.0])
    assert info.value.type_name == "CallbackError"


def test_does_a_generator_advanced_by_a_callback_advance_in_the_child_too(
    sandbox: Sandbox,
) -> None:
    def draw(rng: np.random.Generator) -> float:
        return float(rng.random())

    value = sandbox.call("m", "call_then_draw", [wire.Callback("draw"),
                                                 np.random.default_rng(5)],
                         callbacks={"draw": draw}).value
    expected = np.random.default_rng(5)
    expected.random()
    assert value == expected.random()


def test_does_a_patch_replace_the_function_where_it_is_defined_and_imported(
    sandbox: Sandbox,
) -> None:
    callbacks = {"ref": lambda: "patched"}
    patch = [("c", "f", "ref")]
    assert sandbox.call("b", "g", patch=patch, callbacks=callbacks).value == "patched"
    assert sandbox.call("c", "via_c", patch=patch, callbacks=callbacks).value == "patched"


def test_is_a_patch_undone_after_the_call(sandbox: Sandbox) -> None:
    sandbox.call("b", "g", patch=[("c", "f", "ref")], callbacks={"ref": lambda: "patched"})
    assert sandbox.call("b", "g").value == "original"
    assert sandbox.call("c", "via_c").value == "original"


def test_does_a_patch_reach_a_module_imported_only_indirectly(sandbox: Sandbox) -> None:
    value = sandbox.call("a", "h", patch=[("c", "f", "ref")],
                         callbacks={"ref": lambda: "patched"}).value
    assert value == "patched"


# -- isolation -----------------------------------------------------------------------------------
needs_isolation = pytest.mark.skipif(detect().level != "bubblewrap",
                                     reason="needs bubblewrap (apt-get install bubblewrap)")

def test_is_the_environment_scrubbed_of_the_graders_secrets(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADER_SECRET", "s3cret-value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "another-s3cret")
    seen = sandbox.call("m", "environment").value
    assert "GRADER_SECRET" not in seen["env"]
    assert not any("s3cret" in v for v in seen["env"].values())
    assert set(seen["env"]) <= {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONHASHSEED", "PWD",
                                "PYTHONDONTWRITEBYTECODE", "OPENBLAS_NUM_THREADS",
                                "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE",
                                "OPENBLAS_L2_SIZE"}


def test_is_the_working_directory_an_empty_folder_outside_the_submission(
    sandbox: Sandbox, submission: Path
) -> None:
    seen = sandbox.call("m", "environment").value
    assert seen["listing"] == []
    cwd = Path(seen["cwd"]).resolve()
    assert cwd != submission.resolve()
    assert submission.resolve() not in cwd.parents
    assert seen["env"]["HOME"] == seen["cwd"]


def test_are_the_sandboxs_temporary_files_removed_on_close(submission: Path) -> None:
    marker = f"marker-{os.urandom(6).hex()}"
    tmp = Path(tempfile.gettempdir())

    def written() -> list[Path]:  # a cold child's folder, or a warm zygote's
        return [*tmp.glob(f"grader-sandbox-*/work/{marker}"),
                *tmp.glob(f"grader-zygote-*/work/{marker}")]

    with Sandbox(submission, FAST) as box:
        box.call("m", "write", [marker])
        # under bubblewrap /work is the child's own tmpfs: never on the host at all
        assert bool(written()) == (box.isolation.level != "bubblewrap")
    assert not written()


@needs_isolation
def test_is_a_file_outside_the_submission_hidden_from_the_child(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    secret = tmp_path / "solutions" / "m.py"
    secret.parent.mkdir()
    secret.write_text("ANSWER = 42\n")
    with pytest.raises(StudentError):
        sandbox.call("m", "read", [str(secret)])


@needs_isolation
def test_is_the_network_closed_to_the_child(sandbox: Sandbox) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with pytest.raises(StudentError):
            sandbox.call("m", "connect", [server.getsockname()[1]])


# -- a folder adopted instead of copied --------------------------------------------------------
def test_does_a_sandbox_adopt_a_private_copy_without_copying_it(tmp_path: Path) -> None:
    """With ``copy=False`` is the folder moved into the sandbox (gone from where it was), its
    modules used, and everything a copy would leave out (links, folders, other files) left out
    too, a hard-linked module replaced by a file of its own, and the host files untouched?"""
    folder = tmp_path / "private"
    folder.mkdir()
    (folder / "m.py").write_text("import os\n\n\ndef listing():\n"
                                 "    return sorted(os.listdir(os.path.dirname(__file__)))\n")
    victim = tmp_path / "victim.py"
    victim.write_text("V = 1\n")
    os.chmod(victim, 0o600)
    (folder / "link.py").symlink_to(victim)
    os.link(victim, folder / "hard.py")
    (folder / "inner").mkdir()
    (folder / "inner" / "x.py").write_text("X = 1\n")
    (folder / "notes.txt").write_text("not a module\n")
    with Sandbox(folder, FAST, copy=False) as box:
        assert not folder.exists()
        assert box.call("m", "listing").value == ["hard.py", "m.py"]
        kept = box.submission / "hard.py"  # its bytes, in a file of its own
        assert kept.read_text() == "V = 1\n" and kept.stat().st_nlink == 1
    assert victim.read_text() == "V = 1\n" and victim.stat().st_mode & 0o777 == 0o600
    assert victim.stat().st_nlink == 1  # the sandbox's copy went with it


def test_does_a_copying_sandbox_leave_the_folder_as_it_was(submission: Path) -> None:
    before = sorted(p.name for p in submission.iterdir())
    with Sandbox(submission, FAST) as box:
        assert box.call("m", "divide", [2.0]).value == 0.5
    assert sorted(p.name for p in submission.iterdir()) == before
