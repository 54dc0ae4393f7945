"""Hostile submissions: each attack, graded by the real batch grader, scores no more than the
same submission without the attack, and the batch completes with a valid result for everyone.

The honest work of every hostile student is the same: a correct ``activations.py`` and the
untouched stubs elsewhere. The attack lives in ``neuron.py`` (whose stubs score 0 anyway)."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from grader.engine import results
from grader.sandbox.isolation import detect

ROOT = Path(__file__).resolve().parents[2]

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
    """,    "read_the_solutions": """
        import glob, os
        _found = []
        for pattern in ("../../solutions/neuron.py", "../solutions/neuron.py",
                        "/proc/1/cwd/solutions/neuron.py", "/proc/*/cwd/solutions/neuron.py",
                        "/proc/*/cwd/../solutions/neuron.py", "/*/solutions/neuron.py",
                        "/*/*/solutions/neuron.py", "/*/*/*/solutions/neuron.py",
                        "/tmp/*/*/solutions/neuron.py", "{root}/solutions/neuron.py"):
            _found += glob.glob(pattern)
        for _path in _found:
            try:
                exec(open(_path).read())  # delegate to the reference
                break
            except Exception:
                pass
    """,
    "overwrite_other_results": """
        import json
        for _name in ("honest", "patch_numpy"):
            try:
                with open(r"{out}/" + _name + ".json", "w") as fh:
                    json.dump({"student": _name, "score": 0}, fh)
            except OSError:
                pass
        try:
            with open("{marker_file}", "w") as fh:
                fh.write("escaped")
        except OSError:
            pass
    """,
    "open_a_socket": """
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=1).sendall(b"stolen")
        except OSError:
            pass
    """,
    "kill_the_grader": """
        import os, signal
        for _target in (os.getppid(), 1):
            try:
                os.kill(_target, signal.SIGKILL)
            except OSError:
                pass
        for _group in (os.getpgid(0), 0):
            try:
                os.killpg(_group, signal.SIGTERM)
            except OSError:
                pass
    """,
    "fork_sleepers": """
        import os
        def forward(w, b, a_prev):
            for _ in range(50):
                if os.fork() == 0:
                    os.setsid()
                    os.execv("/bin/sleep", ["sleep", "{sleep_marker}"])
            return 0.0, 0.0
    """,
    "ignore_sigterm_and_loop": """
        import signal
        def forward(w, b, a_prev):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                pass
    """,
    "print_200_mb": """
        def forward(w, b, a_prev):
            chunk = "x" * (1 << 20)
            for _ in range(200):
                print(chunk)
            return 0.0, 0.0
    """,
    "sleep_at_import": """
        import time
        time.sleep(10**6)
    """,
    "close_own_streams": """
        import os
        for _fd in (0, 1, 2):
            os.close(_fd)
    """,
}


SLEEP_MARKER = f"9{os.getpid() % 1000:03d}.{int.from_bytes(os.urandom(3), 'big')}"
CALL_TIMEOUT = 3.0
SUBMISSION_TIMEOUT = 60.0


class Listener:
    """A TCP server on 127.0.0.1 that records whether anyone connected."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.server.close()


def _course_copy(target: Path) -> Path:
    """The course with short deadlines, so the attacks that hang cost seconds."""
    for name in ("exercises", "solutions", "checks", "autograde_tests"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    config = (ROOT / "course.toml").read_text(encoding="utf-8")
    config = re.sub(r"call_timeout = .*", f"call_timeout = {CALL_TIMEOUT}", config)
    config = re.sub(r"submission_timeout = .*", f"submission_timeout = {SUBMISSION_TIMEOUT}",
                    config)
    (target / "course.toml").write_text(config, encoding="utf-8")
    return target


def _student(folder: Path, attack: str | None, values: dict[str, str]) -> None:
    shutil.copytree(ROOT / "exercises", folder)
    shutil.copy2(ROOT / "solutions" / "activations.py", folder / "activations.py")
    if attack is not None:
        code = textwrap.dedent(attack)
        for key, value in values.items():
            code = code.replace("{" + key + "}", value)
        neuron = folder / "neuron.py"
        neuron.write_text(neuron.read_text(encoding="utf-8") + "\n" + code, encoding="utf-8")


@dataclasses.dataclass
class Run:
    results: dict[str, results.Result]
    seconds: float
    returncode: int
    connections: int
    marker_file: Path
    survivors: str


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Grade the hostile class once, through the real CLI, in a real process."""
    base = tmp_path_factory.mktemp("hostile")
    course = _course_copy(base / "course")
    class_dir, out = base / "class", base / "results"
    marker_file = Path(tempfile.gettempdir()) / f"escaped-{os.urandom(4).hex()}"
    listener = Listener()
    values = {"out": str(out), "root": str(course), "port": str(listener.port),
              "sleep_marker": SLEEP_MARKER, "marker_file": str(marker_file)}
    _student(class_dir / "honest", None, values)
    for name, attack in ATTACKS.items():
        _student(class_dir / name, attack, values)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "grader", "grade", str(class_dir), "--out", str(out),
             "--jobs", "2", "--course", str(course)],
            capture_output=True, text=True, timeout=900)
    finally:
        listener.close()
    seconds = time.monotonic() - started
    time.sleep(0.5)
    survivors = subprocess.run(["pgrep", "-af", f"sleep {SLEEP_MARKER}"], capture_output=True,
                               text=True).stdout
    loaded = {r["student"]: r for r in results.load_all(out)}
    print(proc.stderr[-3000:])
    return Run(loaded, seconds, proc.returncode, listener.connections, marker_file, survivors)


needs_isolation = pytest.mark.skipif(
    detect().level != "bubblewrap",
    reason="the hostile suite needs bubblewrap (apt-get install bubblewrap)")


@needs_isolation
def test_batch_completes_with_a_valid_result_for_everyone(run: Run) -> None:
    """Does the batch finish, within its deadlines, with exit 0 and a valid result each?"""
    assert run.returncode == 0
    assert set(run.results) == {"honest", *ATTACKS}
    for result in run.results.values():
        assert result["seconds"] <= SUBMISSION_TIMEOUT + 30, result["student"]
    assert run.seconds < 600


@needs_isolation
def test_honest_work_scores_its_points(run: Run) -> None:
    """Does the honest baseline score exactly the activations module's points, untouched by
    the attacks that tried to overwrite its result?"""
    assert run.results["honest"]["score"] == 12
    assert run.results["honest"]["tests"]


@needs_isolation
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_gains_nothing(run: Run, attack: str) -> None:
    """Does the attacker score no more than the same work without the attack?"""
    result = run.results[attack]
    assert result["student"] == attack
    assert result["score"] <= run.results["honest"]["score"]
    assert result["modules"]["neuron"]["score"] == 0


@needs_isolation
def test_no_connection_reaches_a_server_on_localhost(run: Run) -> None:
    """Does the socket attack fail to reach the test's own server on 127.0.0.1?"""
    assert run.connections == 0


@needs_isolation
def test_no_process_of_a_submission_survives(run: Run) -> None:
    """Are the 50 detached sleepers gone once the batch is over?"""
    assert run.survivors == ""


@needs_isolation
def test_nothing_is_written_outside_the_sandbox(run: Run) -> None:
    """Did no attack write a file outside its sandbox's own folder?"""
    assert not run.marker_file.exists()


@needs_isolation
def test_forged_result_files_are_replaced_by_real_ones(run: Run) -> None:
    """Are results and gradebook the grader's own, whatever the children wrote?"""
    assert run.results["atexit_fake_results"]["score"] <= 12
    gradebook = (Path(run.results["honest"]["source"]).parents[1] / "results" /
                 "gradebook.csv").read_text()
    assert "atexit_fake_results,100" not in gradebook
    assert gradebook.count("\n") == len(ATTACKS) + 2
