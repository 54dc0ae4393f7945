"""Every channel between grader and child has a deadline and a size: messages, callback
requests and replies, callback compute time and memory; and every string the child sends
arrives as valid Unicode. Real child processes, under the isolation this machine offers."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.sandbox import wire
from grader.sandbox.box import Sandbox, SandboxCrash, StudentError, StudentTimeout
from grader.sandbox.limits import Limits

ROOT = Path(__file__).resolve().parents[2]

STUDENT = r'''
import json
import os
import struct
import sys
import time

import numpy as np


def _raw(header, body=b""):
    """Write straight into the grader's channel, bypassing the harness."""
    os.write(int(sys.argv[3]), struct.pack(">I", header) + body)


def unread_reply(name):
    """Ask for a callback whose reply fills the pipe, then never read it."""
    body = json.dumps({"op": "callback", "name": name, "args": [], "kwargs": {}}).encode()
    _raw(len(body), body)
    time.sleep(10**6)


def huge_message(mb):
    """Announce and send one forged message of ``mb`` MB."""
    body = b'{"op":"result","id":1,"ok":true,"value":"' + b"a" * (mb << 20) + b'"}'
    _raw(len(body), body)
    time.sleep(10**6)


def wide_message(mb, fill):
    """A message of ``mb`` MB made of one string whose characters ``fill`` widen in memory."""
    text = "a" * ((mb << 20) - 100) + fill
    body = json.dumps({"op": "importing", "module": text}).encode()
    _raw(len(body), body)
    return "sent"


def catch(f, *args):
    try:
        f(*args)
    except Exception as exc:
        return [type(exc).__name__, str(exc)]
    return "no error"


def call(f, *args):
    return f(*args)


def surrogates():
    raise ValueError("lone \ud800 surrogate \udfff")


def returns_surrogates():
    return {"key \udc80": ["value \ud83d", ("\ude00",)]}


def fresh(x):
    return x * 2
'''


def one_hot(labels: Any, n_classes: int) -> np.ndarray[Any, Any]:
    """The reference's one_hot (solutions/losses.py): one 1.0 per row."""
    labels = np.asarray(labels)
    out = np.zeros((labels.size, n_classes))
    out[np.arange(labels.size), labels] = 1.0
    return out


@pytest.fixture
def folder(tmp_path: Path, modules: Callable[..., Path]) -> Path:
    return modules(tmp_path / "submission", m=STUDENT)


def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


@contextlib.contextmanager
def peak_growth() -> Iterator[list[int]]:
    """The growth of this process's peak resident memory over the block, in bytes."""
    with open("/proc/self/clear_refs", "w") as fh:  # resets VmHWM to the current RSS
        fh.write("5")
    before = _status("VmRSS")
    found: list[int] = []
    yield found
    found.append(_status("VmHWM") - before)


def within(seconds: float, function: Callable[[], Any]) -> Any:
    """Run ``function`` in a thread: its result or exception, or a failure if it is still
    running after ``seconds`` (the grader hung)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the grader was still blocked after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# -- writes to the child ----------------------------------------------------------------------
def test_does_a_callback_reply_the_child_never_reads_time_out_the_call_not_the_batch(
    folder: Path,
) -> None:
    """Issue 11 item 2: a reply bigger than the pipe buffer, and a child that sleeps instead
    of reading it, cost that call its deadline; the next call gets a fresh child."""
    with Sandbox(folder, Limits(call_timeout=2.0, submission_timeout=30.0)) as box:
        box.call("m", "fresh", [1.0])  # started here: a child dies with the thread that made it
        started = time.monotonic()
        with pytest.raises(StudentTimeout, match=r"m\.unread_reply did not return within 2 s"):
            within(15.0, lambda: box.call("m", "unread_reply", ["big"],
                                          callbacks={"big": lambda: np.zeros(1 << 20)}))
        assert time.monotonic() - started < 4.0
        assert box.call("m", "fresh", [1.5]).value == 3.0


# -- messages from the child ------------------------------------------------------------------
def test_is_a_200_mb_forged_message_refused_at_its_header(folder: Path) -> None:
    """Issue 11 item 12: one forged 200 MB message is refused as soon as its header is read:
    the grader neither waits for nor keeps its body."""
    with Sandbox(folder, Limits(call_timeout=20.0, message_mb=32)) as box:
        box.call("m", "fresh", [1.0])  # the child runs: its start costs nothing below
        started = time.monotonic()
        with peak_growth() as growth, pytest.raises(SandboxCrash, match="over the limit"):
            box.call("m", "huge_message", [200])
        assert time.monotonic() - started < 5.0
        assert box.call("m", "fresh", [2.0]).value == 4.0
    assert growth[0] < 16 << 20


@pytest.mark.parametrize("fill", ["", "\u00e9", "\u4e00", "\U0001f600"])
def test_does_a_message_just_under_the_cap_stay_within_the_documented_bound(
    folder: Path, fill: str,
) -> None:
    """A message of nearly ``message_mb``, whose one string is stored at 1, 2 or 4 bytes a
    character, grows the grader by less than ``Limits.message_memory_bytes``."""
    limits = Limits(call_timeout=20.0, message_mb=16)
    with Sandbox(folder, limits) as box:
        box.call("m", "fresh", [1.0])
        with peak_growth() as growth:
            assert box.call("m", "wide_message", [15, fill]).value == "sent"
    print(f"reading a 15 MB message {fill!r}: +{growth[0] / 2**20:.0f} MB")
    assert 15 << 20 < growth[0] < limits.message_memory_bytes


# -- callbacks --------------------------------------------------------------------------------
def test_is_a_callback_amplifier_stopped_by_the_callback_memory_budget(folder: Path) -> None:
    """Issue 11 item 4: a 100-byte request ``one_hot([0], 25_000_000)`` served by the
    reference is the student's error, and the grader grows by less than its budget."""
    limits = Limits(call_timeout=20.0, callback_mb=128)
    with Sandbox(folder, limits) as box:
        box.call("m", "fresh", [1.0])
        with peak_growth() as growth:
            kind, message = box.call("m", "catch", [wire.Callback("one_hot"), [0], 25_000_000],
                                     callbacks={"one_hot": one_hot}).value
        assert kind == "CallbackError"
        assert "128 MB" in message
        assert box.call("m", "call", [wire.Callback("one_hot"), [1], 3],
                        callbacks={"one_hot": one_hot}).value.tolist() == [[0.0, 1.0, 0.0]]
    assert growth[0] < (128 + 48) << 20


def test_is_a_callback_reply_over_the_message_cap_the_students_error(folder: Path) -> None:
    """A reply that would be larger than ``message_mb`` is refused: the child gets a
    CallbackError saying so, and the channel stays usable."""
    with Sandbox(folder, Limits(call_timeout=20.0, message_mb=1)) as box:
        kind, message = box.call("m", "catch", [wire.Callback("big")],
                                 callbacks={"big": lambda: np.zeros(1 << 18)}).value
        assert kind == "CallbackError"
        assert "over the limit of 1 MB" in message
        assert box.call("m", "fresh", [2.0]).value == 4.0


FOREVER = """
import sys, time
from pathlib import Path
from grader.sandbox import wire
from grader.sandbox.box import Sandbox, StudentTimeout
from grader.sandbox.limits import Limits

def forever():
    while True:
        pass

with Sandbox(Path(sys.argv[1]), Limits(call_timeout=1.5, submission_timeout=30.0)) as box:
    started = time.monotonic()
    try:
        box.call("m", "call", [wire.Callback("f")], callbacks={"f": forever})
    except StudentTimeout as exc:
        print("timeout", round(time.monotonic() - started, 2), exc)
    print("next", box.call("m", "fresh", [2.0]).value)
"""


def test_does_a_callback_that_computes_forever_cost_only_the_calls_deadline(
    folder: Path,
) -> None:
    """Callback compute time counts against the call's deadline and is cut there (in the
    grading process's main thread, as a worker runs)."""
    proc = subprocess.run([sys.executable, "-c", FOREVER, str(folder)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, second = proc.stdout.splitlines()
    word, seconds, message = first.split(" ", 2)
    assert word == "timeout" and float(seconds) < 3.0
    assert "m.call did not return within 1.5 s" in message
    assert second == "next 4.0"


def test_does_a_callback_that_returns_after_the_deadline_time_the_call_out(
    folder: Path,
) -> None:
    """Where it cannot be interrupted (outside the main thread), a callback that returns
    after the call's deadline still ends the call as a timeout."""
    with Sandbox(folder, Limits(call_timeout=1.0, submission_timeout=30.0)) as box:
        box.call("m", "fresh", [1.0])
        with pytest.raises(StudentTimeout):
            within(15.0, lambda: box.call("m", "call", [wire.Callback("slow")],
                                          callbacks={"slow": lambda: time.sleep(1.5)}))


def test_is_the_graders_memory_limit_restored_after_each_callback(folder: Path) -> None:
    """The budget lowers the grader's own address-space limit only while a callback runs."""
    import resource

    before = resource.getrlimit(resource.RLIMIT_AS)
    seen: list[tuple[int, int]] = []

    def look() -> int:
        seen.append(resource.getrlimit(resource.RLIMIT_AS))
        return 1

    with Sandbox(folder, Limits(call_timeout=10.0, callback_mb=64)) as box:
        assert box.call("m", "call", [wire.Callback("look")], callbacks={"look": look}).value == 1
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert seen and seen[0][0] != resource.RLIM_INFINITY
    assert before[0] == resource.RLIM_INFINITY or seen[0][0] < before[0]


# -- text -------------------------------------------------------------------------------------
def _writable(value: Any) -> None:
    """Every string in ``value`` encodes as UTF-8 (what a JSON or CSV writer needs)."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, list | tuple):
        for item in value:
            _writable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _writable(key)
            _writable(item)


def test_is_an_error_message_with_lone_surrogates_made_writable(folder: Path) -> None:
    """Issue 11 item 5: ``raise ValueError("\\ud800")`` reaches the grader as valid text."""
    with Sandbox(folder, Limits(call_timeout=10.0)) as box:
        with pytest.raises(StudentError) as info:
            box.call("m", "surrogates")
    error = info.value
    _writable([error.type_name, error.message, error.traceback, str(error)])
    assert error.message == "lone \ufffd surrogate \ufffd"


def test_are_returned_strings_with_lone_surrogates_made_writable(folder: Path) -> None:
    with Sandbox(folder, Limits(call_timeout=10.0)) as box:
        value = box.call("m", "returns_surrogates").value
    _writable(value)
    assert value == {"key \ufffd": ["value \ufffd", ("\ufffd",)]}
