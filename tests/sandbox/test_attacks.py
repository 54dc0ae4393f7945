"""The fourteen attacks of issue 11, and newer members of their classes, each a real
submission graded by the real CLI under bubblewrap.

The main class folder holds the attacks as students, most followed by an honest student
(``...z_next``) graded right after it by the same warm zygote (``--jobs 1``), who reports what its
sandbox holds (``fixtures/attacks/probe.py``). The questions, for every attack: does it score more
than its honest twin (the same submission without the attack)? Does every batch finish within
the sum of its budgets, no student holding it longer than its own? Does the next student see
anything of it, and score as the twin? Does the grader's memory stay bounded? Does every student
get a valid result?

The honest twin is a correct ``activations.py`` and ``layer.forward`` (``fixtures/attacks/``),
stubs elsewhere: 14 of 100. Side runs, alongside the main one: ``grader gradescope`` (unwritable
text), ``grader check`` (forged harnesses), a grader run as an ordinary user (cleanup that follows
a link; a resubmission), and three classes of their own for the attacks that today block or
stall their batch (so that everyone else is graded). The whole file takes about two minutes
today, most of it waiting for those to stall.

Assertions marked ``# FAILS TODAY`` failed on the committed grader (c6047d5) when this file was
written; that is the point of them.
"""

from __future__ import annotations

import ast
import base64
import csv
import dataclasses
import io
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import zlib
from pathlib import Path
from typing import Any

import pytest

from grader.engine import results as result_files
from grader.sandbox.isolation import detect

ROOT = Path(__file__).resolve().parents[2]
ATTACKS = Path(__file__).resolve().parents[1] / "fixtures" / "attacks"
CALL_TIMEOUT = 3.0
SUBMISSION_TIMEOUT = 20.0  # each student's budget
MEMORY_MB = 768  # the child's memory limit in the course copy
#: the longest a batch may go without finishing a student: one budget, plus the grader's own
#: work around it (reference values, numerical gradients, writing the result)
STALL = SUBMISSION_TIMEOUT + 10.0
#: the grader's peak resident memory while grading an attack. Measured on c6047d5: 152 MB idle
#: (the course, its references and sklearn's digits loaded), 911 MB for the callback amplifier,
#: 748 MB for the 200 MB message, about 2.7 GB for the 256 MB callback request
GRADER_MEMORY_BOUND_MB = 700
#: tmpfs memory an attack may leave behind once the next student is graded
PINNED_BOUND_MB = 256
#: the largest result or Gradescope file a student may cause (Gradescope takes a few MB)
RESULT_FILE_BOUND_MB = 4

needs_isolation = pytest.mark.skipif(
    detect().level != "bubblewrap",
    reason="the attacks need bubblewrap (apt-get install bubblewrap)")


# -- the class ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Student:
    """One entry of a class folder.

    Attributes
    ----------
    name : str
        The entry's file name (the student id).
    twin : str or None
        The student whose score bounds this one's (None: a twin or a victim itself).
    honest : bool
        The honest twin's work (else stubs only) under the attack.
    code : tuple of (module, snippet)
        Snippets of ``fixtures/attacks`` appended to modules, in order.
    tokens : tuple of (token, text)
        ``__TOKEN__`` replacements in the snippets.
    probe : bool
        An honest student whose ``neuron.forward`` reports its sandbox (``probe.py``).
    tag : str
        A word of the name that survives any sanitising of ids (to find the result).
    """

    name: str
    twin: str | None = "a00_honest"
    honest: bool = True
    code: tuple[tuple[str, str], ...] = ()
    tokens: tuple[tuple[str, str], ...] = ()
    probe: bool = False
    tag: str = ""

    @property
    def key(self) -> str:
        return self.tag or self.name


def _next(name: str) -> Student:
    return Student(name, twin=None, probe=True)


SKLEARN_AROUND_THE_SANDBOX = """\
import builtins, importlib, os, sys
    builtins.__import__ = importlib.__import__
    sys.meta_path[:] = [f for f in sys.meta_path
                        if f.__module__.startswith(("_frozen_importlib", "importlib"))]
    for name in [n for n in sys.modules if n.split(".")[0] in ("sklearn", "scipy", "joblib")]:
        del sys.modules[name]
    sys.path.insert(0, os.path.dirname(os.path.dirname(np.__file__)))
    sys.path_importer_cache.clear()
    importlib.invalidate_caches()"""

HOSTILE_IDS = {  # an entry name, and a word of it to find its result by
    "\x1b]0;pwned\x07\x1b[2J\x1b[31mtagAnsi": "tagAnsi",
    "tagCsi\u009b2J": "tagCsi",
    "tagNewline\nforged line: 100/100": "tagNewline",
    "tagReturn\rforged: 100 of 100": "tagReturn",
    '=HYPERLINK("evil.example","tagHyper")': "tagHyper",
    "+tagPlus": "tagPlus",
    "-tagMinus": "tagMinus",
    "@tagAt": "tagAt",
    "\t=tagTab": "tagTab",
    os.fsdecode(b"tagBytes\xff"): "tagBytes",  # not UTF-8: the name has a surrogate escape
}

CLASS: list[Student] = [
    _next("a00_honest"),
    Student("a00_stubs", twin=None, honest=False),
    # 1: sibling delegation; and the whole course delegated to whatever is not the student's
    Student("a01_siblings", code=(("layer", "siblings_layer"),
                                  ("worked_example", "siblings_worked_example"))),
    Student("a01b_delegate_all", twin="a00_stubs", honest=False),  # modules generated
    _next("a01z_next"),
    # 3: a forged harness, and (new) a forged result message, with an in-place sgd_step
    Student("a03_forged_harness", twin="a03_twin_inplace",
            code=(("sgd", "inplace_sgd_step"), ("sgd", "forged_harness"))),
    Student("a03_twin_inplace", twin=None, code=(("sgd", "inplace_sgd_step"),)),
    Student("a03b_forged_result", twin="a03_twin_inplace",
            code=(("sgd", "channel"), ("sgd", "forged_result"))),
    _next("a03z_next"),
    Student("a04_amplifier", code=(("losses", "amplifier"),)),
    _next("a04z_next"),
    Student("a05_surrogate", code=(("neuron", "surrogate"),)),
    _next("a05z_next"),
    Student("a06_victim", twin=None),
    Student("a06_victim.gradescope", twin="a00_stubs", honest=False),
    Student("a07_leftovers", code=(("neuron", "leftovers"),)),
    _next("a07z_next"),
    Student("a08_tmpfs_pin", code=(("neuron", "tmpfs_pin"),),
            tokens=(("__PLACES__", '("/dev/shm", "/")'),)),
    _next("a08z_next"),
    Student("a10_bundle", twin="a00_stubs", honest=False),  # modules generated
    Student("a11_sklearn", code=(("sgd", "sklearn_train"),),
            tokens=(("__BEFORE_IMPORT__", "pass"),)),
    Student("a11b_sklearn_around_the_sandbox", code=(("sgd", "sklearn_train"),),
            tokens=(("__BEFORE_IMPORT__", SKLEARN_AROUND_THE_SANDBOX),)),
    _next("a11z_next"),
    Student("a12_forged_200mb", code=(("neuron", "channel"), ("neuron", "forged_200mb"))),
    _next("a12z_next"),
    Student("a13_oracle", code=(("layer", "oracle"),)),
    Student("a14_info_leak", code=(("neuron", "info_leak"),)),
    # new members of the classes
    Student("n01_ipc_keyring_xattr", code=(("neuron", "ipc_keyring_xattr"),)),
    _next("n01z_next"),
    Student("n02_init_memory", code=(("neuron", "init_memory"),)),
    _next("n02z_next"),
    Student("n03_pid_counter", code=(("neuron", "pid_counter"),)),
    _next("n03z_next"),
    Student("n04_disk_fill", code=(("neuron", "tmpfs_pin"),),
            tokens=(("__PLACES__", '("/work", "/tmp")'),)),
    _next("n04z_next"),
    Student("n05_formula_note"),  # plus a link under a formula-named folder
    Student("n06_dupvictim", twin=None),
    Student("n06_dupvictim.zip", twin="a00_stubs", honest=False),  # a folder: the same id
    Student("n08_bloated_feedback", code=(("neuron", "channel"), ("neuron", "bloated_feedback"))),
    Student("n11_sysv_pin", code=(("neuron", "sysv_pin"),)),
    _next("n11z_next"),
    *(Student(name, twin="a00_stubs", honest=False, tag=tag)
      for name, tag in HOSTILE_IDS.items()),
]
BY_NAME = {s.name: s for s in CLASS}
FORMULA_FOLDER = '=HYPERLINK("evil.example","x")'


# -- building submissions -------------------------------------------------------------------------
def _course_copy(target: Path) -> Path:
    """The course with short deadlines and a smaller child, so the attacks cost seconds."""
    for name in ("exercises", "solutions", "checks", "autograde_tests"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    config = (ROOT / "course.toml").read_text(encoding="utf-8")
    for key, value in (("call_timeout", CALL_TIMEOUT), ("submission_timeout", SUBMISSION_TIMEOUT),
                       ("memory_mb", MEMORY_MB)):
        config = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", config)
    (target / "course.toml").write_text(config, encoding="utf-8")
    return target


def _functions(course: Path) -> dict[str, list[str]]:
    config = tomllib.loads((course / "course.toml").read_text(encoding="utf-8"))
    return {m: list(fs) for m, fs in config["functions"].items()}


def _snippet(name: str, tokens: tuple[tuple[str, str], ...] = ()) -> str:
    text = (ATTACKS / f"{name}.py").read_text(encoding="utf-8")
    for token, value in tokens:
        text = text.replace(token, value)
    return text


def _modules(course: Path, student: Student) -> dict[str, str]:
    """The module files of a student: stubs, the honest work, the probe, the attack."""
    modules = {p.stem: p.read_text(encoding="utf-8") for p in (course / "exercises").glob("*.py")}
    if student.honest:
        modules["activations"] = _snippet("honest_activations")
        modules["layer"] += _snippet("honest_layer")
    if student.probe:
        modules["neuron"] += _snippet("probe")
    for module, name in student.code:
        modules[module] += _snippet(name, student.tokens)
    return modules


def _delegate_all(course: Path) -> dict[str, str]:
    """Every contract function delegates to any course function that is not the student's own
    (the references swapped in for isolation) and accepts its arguments."""
    functions = _functions(course)
    return {module: (course / "exercises" / f"{module}.py").read_text(encoding="utf-8")
            + _snippet("delegate_all", (("__COURSE__", repr(functions)),
                                        ("__MODULE__", repr(module))))
            for module in functions}


def _bundle_copies(bundle: Path, course: Path) -> tuple[dict[str, str], list[str]]:
    """Stubs, with every function of the student bundle that bears a contract function's name
    copied in under that name (its file's other statements come along, each run if it can).

    Returns the modules and what was copied (``module.function from file``)."""
    functions = _functions(course)
    owner = {f: m for m, fs in functions.items() for f in fs}
    sources: dict[str, list[str]] = {}
    assignments: dict[str, list[str]] = {}
    copied: list[str] = []
    for path in sorted(bundle.rglob("*.py")):
        label = path.relative_to(bundle).as_posix()
        if label.startswith("exercises/"):
            continue
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in owner
                 and not any(c.startswith(f"{owner[n.name]}.{n.name} ") for c in copied)]
        if not names:
            continue
        # the file's statements but its docstring; a def without its decorators
        sources[label] = [ast.get_source_segment(text, n) or "" for n in tree.body
                          if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        for name in names:
            copied.append(f"{owner[name]}.{name} from {label}")
            assignments.setdefault(owner[name], []).append(
                f"{name} = _bundle_namespace({label!r}).get({name!r}, {name})")
    loader = f'''

import __future__ as _future

_BUNDLE = {sources!r}
_LOADED = {{}}


def _bundle_namespace(label):
    """Run a bundle file's statements, skipping those that cannot run here."""
    if label not in _LOADED:
        namespace = {{"__name__": "_bundle"}}
        for statement in _BUNDLE[label]:
            try:
                exec(compile(statement, label, "exec", dont_inherit=True,
                             flags=_future.annotations.compiler_flag), namespace)
            except Exception:
                pass
        _LOADED[label] = namespace
    return _LOADED[label]


'''
    modules = {m: (course / "exercises" / f"{m}.py").read_text(encoding="utf-8")
               + (loader + "\n".join(assignments[m]) + "\n" if m in assignments else "")
               for m in functions}
    return modules, copied


def _write(folder: Path, modules: dict[str, str]) -> None:
    folder.mkdir(parents=True)
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(source, encoding="utf-8")


def _build_class(folder: Path, course: Path, bundle: Path) -> list[str]:
    """Write every student of CLASS into ``folder``; returns what the bundle attack copied."""
    copied: list[str] = []
    for student in CLASS:
        target = folder / student.name
        if student.name == "a01b_delegate_all":
            _write(target, _delegate_all(course))
        elif student.name == "a10_bundle":
            modules, copied = _bundle_copies(bundle, course)
            _write(target, modules)
        else:
            _write(target, _modules(course, student))
    hidden = folder / "n05_formula_note" / FORMULA_FOLDER
    hidden.mkdir()
    (hidden / "neuron.py").symlink_to("/etc/hostname")  # refused, and named in the errors
    return copied


# -- running the CLI, watching its memory and progress -------------------------------------------
@dataclasses.dataclass
class Line:
    """One line the grader wrote to stderr, and what was measured until then."""

    text: bytes
    at: float  # seconds since the start
    peak_mb: float  # the grader's largest resident memory since the previous line
    shmem_mb: float  # the machine's shared memory (tmpfs pages included) at this line


@dataclasses.dataclass(repr=False)
class Run:
    """A finished (or stopped) CLI run."""

    returncode: int | None
    seconds: float
    stdout: bytes
    stderr: bytes
    stopped: str  # why the test stopped it ("" when it ended by itself)
    lines: list[Line]
    hwm_mb: float  # the grader process's own peak resident memory (VmHWM)
    maxrss_mb: float  # ru_maxrss of the grader and every descendant it waited for

    def __repr__(self) -> str:
        return f"<Run: {self.seconds:.0f} s, exit {self.returncode}, stopped {self.stopped!r}>"

    def window(self, student: str) -> tuple[int, Line] | None:
        """The progress line that ends ``student``'s grading (and its index)."""
        for index, line in enumerate(self.lines):
            if os.fsencode(student) + b":" in line.text:
                return index, line
        return None


def _status_mb(text: str, field: str) -> float | None:
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else None


def _shmem_mb() -> float:
    with open("/proc/meminfo") as fh:
        return _status_mb(fh.read(), "Shmem") or 0.0


def run_cli(command: list[str], *, stall: float, limit: float) -> Run:
    """Run a command to its end, sampling its resident memory every 5 ms; stop it (its whole
    process group) after ``stall`` seconds without a finished student or ``limit`` in all."""
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdout is not None and proc.stderr is not None
    lines: queue.Queue[bytes | None] = queue.Queue()
    out: list[bytes] = []
    state = {"peak": 0.0, "hwm": 0.0, "running": 1.0}
    lock = threading.Lock()

    def read_stdout() -> None:
        out.append(proc.stdout.read())  # type: ignore[union-attr]

    def read_stderr() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.put(line)
        lines.put(None)

    def sample() -> None:
        status = f"/proc/{proc.pid}/status"
        while state["running"]:
            try:
                with open(status) as fh:
                    text = fh.read()
            except OSError:
                return
            rss, hwm = _status_mb(text, "VmRSS"), _status_mb(text, "VmHWM")
            if rss is None or hwm is None:
                return  # a zombie: no memory any more
            with lock:
                state["peak"] = max(state["peak"], rss)
                state["hwm"] = max(state["hwm"], hwm)
            time.sleep(0.005)

    threads = [threading.Thread(target=f, daemon=True) for f in (read_stdout, read_stderr, sample)]
    for thread in threads:
        thread.start()
    seen: list[Line] = []
    stopped = ""
    last = started
    while True:
        try:
            item = lines.get(timeout=0.25)
        except queue.Empty:
            now = time.monotonic()
            if not stopped and (now - last > stall or now - started > limit):
                after = seen[-1].text.decode(errors="replace").strip() if seen else "the start"
                stopped = (f"no student finished for {now - last:.0f} s after {after!r}"
                           if now - last > stall else f"still running after {limit:g} s")
                os.killpg(proc.pid, signal.SIGKILL)
            continue
        if item is None:
            break
        now = time.monotonic()
        with lock:
            peak, state["peak"] = state["peak"], 0.0
        seen.append(Line(item, now - started, peak, _shmem_mb()))
        if item.startswith((b"[", b"grader failure")):
            last = now
    _, status, usage = os.wait4(proc.pid, 0)
    state["running"] = 0.0
    proc.returncode = os.waitstatus_to_exitcode(status)
    for thread in threads:
        thread.join(5)
    return Run(proc.returncode, time.monotonic() - started, b"".join(out),
               b"".join(line.text for line in seen), stopped, seen, state["hwm"],
               usage.ru_maxrss / 1024)


def grader(*args: str | Path, prefix: tuple[str, ...] = ()) -> list[str]:
    return [*prefix, sys.executable, "-m", "grader", *map(str, args)]


def unprivileged_prefix() -> tuple[tuple[str, ...] | None, str]:
    """How to run the grader as an ordinary user here: as is when we are not root, else in a
    user namespace that maps an ordinary uid onto ours (no capability over any file)."""
    if os.geteuid() != 0:
        return (), ""
    prefix = ("unshare", "--user", "--map-user=1000", "--map-group=1000")
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    if ok:
        return prefix, ""
    return None, ("running as root, and `unshare --user --map-user` cannot give the grader an "
                  "ordinary user here")


# -- results --------------------------------------------------------------------------------------
def load_results(out: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every ``*.json`` of ``out`` that follows the result schema (whatever its name: an id may
    be chosen to collide with another file), and the names of the other files that are not
    Gradescope files."""
    valid, invalid = [], []
    for path in sorted(out.glob("*.json")):
        try:
            result = json.loads(path.read_bytes().decode("utf-8"))
            result_files.validate(result)
            valid.append(result)
        except Exception as exc:  # any way of not being a result
            if not path.name.endswith(".gradescope.json"):
                invalid.append(f"{path.name}: {type(exc).__name__}")
    return valid, invalid


def find(found: list[dict[str, Any]], student: Student | str) -> dict[str, Any] | None:
    """The result of a student: by its exact id, else by the tag of its name."""
    student = BY_NAME.get(student, Student(student)) if isinstance(student, str) else student
    for result in found:
        if result["student"] == student.name:
            return result
    for result in found:
        if student.key in result["student"] or student.key in str(result.get("source", "")):
            return result
    return None


def points(result: dict[str, Any], module: str, function: str | None = None) -> float:
    return sum(t["score"] for t in result["tests"]
               if t["module"] == module and function in (None, t["function"]))


def feedback(result: dict[str, Any], module: str, function: str | None = None) -> str:
    return "\n".join(t["feedback"] for t in result["tests"]
                     if t["module"] == module and function in (None, t["function"]))


def view_of(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a probing honest student reported of its sandbox."""
    if result is None:
        return None
    match = re.search(r"VIEW:([A-Za-z0-9+/=]+):END", feedback(result, "neuron", "forward"))
    if match is None:
        return None
    view: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(match.group(1))))
    return view


def leaked(result: dict[str, Any]) -> dict[str, str]:
    """What the info-leak attack read, by name (cmdline, environ, mountinfo)."""
    found = {}
    for match in re.finditer(r"LEAK (\w+):([A-Za-z0-9+/=]+):END", feedback(result, "neuron")):
        data = zlib.decompress(base64.b64decode(match.group(2)))
        found[match.group(1)] = data.replace(b"\0", b" ").decode("utf-8", "replace")
    return found


def oracle_inputs(result: dict[str, Any] | None) -> list[str]:
    return re.findall(r"INPUTS (\[[^\]]*\])", feedback(result, "layer", "cost")) if result else []


# -- the runs -------------------------------------------------------------------------------------
#: grade runs beside the main one, each a class folder of its own; a13_oracle is added to two of
#: them (the resubmission with a changed comment, and the identical regrade)
SIDE_CLASSES = {
    # 2: today it blocks its batch until the test stops it
    "unread": [Student("a02_unread_reply", code=(("layer", "channel"), ("layer", "unread_reply"))),
               _next("a02z_next")],
    # today it holds its batch past the stall limit
    "regrade": [Student("n07_callback_request",
                        code=(("layer", "channel"), ("layer", "callback_request"))),
                _next("n07z_next")],
    # (new) today it blocks its batch too: the grader writes a call the child never reads
    "unread_call": [Student("n09_unread_call", code=(("mlp", "unread_call"),)),
                    _next("n09z_next")],
    # 9: graded by an ordinary user
    "unprivileged": [Student("a09_link_cleanup", code=(("neuron", "link_cleanup"),)),
                     _next("a09z_next")],
}
RUN_OF = {s.name: run for run, students in SIDE_CLASSES.items() for s in students}
BY_NAME.update({s.name: s for students in SIDE_CLASSES.values() for s in students})
CHECKED = ("a03_forged_harness", "a03b_forged_result", "a03_twin_inplace")


@dataclasses.dataclass(repr=False)
class Attacks:
    """Every run of this file and what it left."""

    course: Path
    out: Path  # the main run's output folder
    runs: dict[str, Run]  # main, unread, regrade, unprivileged, gradescope, check <student>
    found: dict[str, list[dict[str, Any]]]  # the valid results of each grade run
    invalid: list[str]  # files of the main output folder that should be results and are not
    gradebook: list[list[str]]
    copied: list[str]  # what the bundle attack copied
    gradescope_dir: Path
    unprivileged_why: str  # why there is no unprivileged run ("" when there is one)
    victim: tuple[int, str]  # mode and text of the instructor's file after the link attack

    def __repr__(self) -> str:  # pytest shows it on failures: keep it short
        return f"<Attacks in {self.course.parent}>"

    @property
    def main(self) -> Run:
        return self.runs["main"]

    @property
    def results(self) -> list[dict[str, Any]]:
        return self.found["main"]

    def result(self, name: str, run: str | None = None) -> dict[str, Any] | None:
        """A student's result in its run (or in ``run``)."""
        return find(self.found.get(run or RUN_OF.get(name, "main"), []), name)


def _in_thread(target: Any) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def attacks(tmp_path_factory: pytest.TempPathFactory) -> Attacks:
    """Grade the attacking class once, with the side runs alongside."""
    base = tmp_path_factory.mktemp("attacks")
    course = _course_copy(base / "course")
    bundle = base / "bundle"
    subprocess.run(grader("release", "--course", course, "--out", bundle), check=True,
                   capture_output=True, timeout=120)
    copied = _build_class(base / "class", course, bundle)
    victim = base / "victim.txt"
    victim.write_text("the instructor's file", encoding="utf-8")
    victim.chmod(0o444)
    for run, students in SIDE_CLASSES.items():
        for student in students:
            tokens = (*student.tokens, ("__VICTIM__", str(victim)))
            _write(base / run / student.name,
                   _modules(course, dataclasses.replace(student, tokens=tokens)))
    oracle = base / "class" / "a13_oracle"
    shutil.copytree(oracle, base / "regrade" / oracle.name)  # the same files again
    shutil.copytree(oracle, base / "unprivileged" / oracle.name)
    with open(base / "unprivileged" / oracle.name / "layer.py", "a", encoding="utf-8") as fh:
        fh.write("\n# resubmitted: only this comment changed\n")
    prefix, why = unprivileged_prefix()
    gs = base / "gradescope"
    gs.mkdir()
    (gs / "metadata.json").write_text(json.dumps({"id": "a05_surrogate"}), encoding="utf-8")

    def grade(run: str, *extra: str, prefix: tuple[str, ...] = ()) -> list[str]:
        return grader("grade", base / run, "--out", base / f"out-{run}", "--jobs", "1",
                      "--progress", "each", "--course", course, *extra, prefix=prefix)

    runs: dict[str, Run] = {}
    side = 3 * SUBMISSION_TIMEOUT + 120

    def first_side() -> None:
        runs["unread"] = run_cli(grade("unread"), stall=STALL, limit=side)
        for name in CHECKED:  # grader check on the forged harnesses, and the control
            runs[f"check {name}"] = run_cli(grader("check", "sgd", "--path",
                                                   base / "class" / name, "--course", course),
                                            stall=side, limit=side)
        runs["gradescope"] = run_cli(grader(
            "gradescope", "--submission", base / "class" / "a05_surrogate", "--results",
            gs / "results.json", "--metadata", gs / "metadata.json", "--course", course),
            stall=side, limit=side)

    def second_side() -> None:
        if prefix is not None:
            runs["unprivileged"] = run_cli(grade("unprivileged", prefix=prefix), stall=STALL,
                                           limit=side)
        runs["regrade"] = run_cli(grade("regrade"), stall=STALL, limit=side)

    threads = [_in_thread(lambda: runs.update(main=run_cli(
        grade("class", "--gradescope"), stall=STALL,
        limit=len(CLASS) * SUBMISSION_TIMEOUT + 60))), _in_thread(first_side),
        _in_thread(second_side), _in_thread(lambda: runs.update(unread_call=run_cli(
            grade("unread_call"), stall=STALL, limit=side)))]
    for thread in threads:
        thread.join()
    found, invalid = {}, []
    for run in ("class", *SIDE_CLASSES):
        found["main" if run == "class" else run], bad = load_results(base / f"out-{run}")
        invalid += bad if run == "class" else []
    book = base / "out-class" / "gradebook.csv"
    gradebook = list(csv.reader(io.StringIO(book.read_text("utf-8", "replace")))) \
        if book.exists() else []
    attacks = Attacks(course, base / "out-class", runs, found, invalid, gradebook, copied, gs,
                      why, (victim.stat().st_mode & 0o7777, victim.read_text(encoding="utf-8")))
    _report(attacks)
    return attacks


def _report(attacks: Attacks) -> None:
    """Print what was measured (pytest -s shows it)."""
    for name, run in attacks.runs.items():
        print(f"\n{name}: {run.seconds:.1f} s, exit {run.returncode}, stopped: {run.stopped!r}; "
              f"grader VmHWM {run.hwm_mb:.0f} MB, ru_maxrss with children {run.maxrss_mb:.0f} MB")
    for student in [*CLASS, *(s for students in SIDE_CLASSES.values() for s in students)]:
        run = attacks.runs.get(RUN_OF.get(student.name, "main"))
        window = run.window(student.name) if run else None
        result = attacks.result(student.name)
        score = f"{result['score']:g}" if result else "no result"
        took = f"{result.get('seconds', 0.0):5.1f} s" if result else "    ? s"
        peak = f"{window[1].peak_mb:5.0f} MB" if window else "    ? MB"
        print(f"  {student.key:<32} score {score:>9} {took}  grader peak {peak}  "
              f"shmem {window[1].shmem_mb if window else 0:5.0f} MB")


def result_of(attacks: Attacks, name: str) -> dict[str, Any]:
    result = attacks.result(name)
    assert result is not None, f"{name!r} has no valid result"
    return result


def honest_score(attacks: Attacks) -> float:
    score = float(result_of(attacks, "a00_honest")["score"])
    assert score == 14, "the honest twin should score its activations and layer.forward"
    return score


# -- every attack: a result, within the budgets, no more than the twin, nothing left --------------
GRADE_RUNS = ["main", *SIDE_CLASSES]


@needs_isolation
def test_every_student_gets_a_valid_result(attacks: Attacks) -> None:
    """Does the main batch end by itself with exit 0, a valid result for every student (hostile
    ids, the id that is not UTF-8 and the unwritable text included) and a gradebook row each?"""
    assert attacks.main.returncode == 0  # FAILS TODAY: a05_surrogate and tagBytes
    assert attacks.invalid == []
    missing = [s.key for s in CLASS if attacks.result(s.name) is None]
    assert missing == []  # FAILS TODAY: a05_surrogate, tagBytes
    rows = [" ".join(row) for row in attacks.gradebook[1:]]
    assert [s.key for s in CLASS if not any(s.key in row for row in rows)] == []  # FAILS TODAY


@needs_isolation
@pytest.mark.parametrize("run", GRADE_RUNS)
def test_no_student_holds_the_batch_beyond_its_budget(attacks: Attacks, run: str) -> None:
    """Does every grade run end by itself within the sum of its students' budgets, never going
    longer than one budget (plus the grader's own work) without finishing a student?"""
    if run not in attacks.runs:
        pytest.skip(attacks.unprivileged_why)
    graded = attacks.runs[run]
    # FAILS TODAY: unread and unread_call (blocked in write()), regrade (n07's request)
    assert not graded.stopped, graded.stopped
    students = len(CLASS) if run == "main" else len(SIDE_CLASSES[run]) + 1
    assert graded.seconds <= students * SUBMISSION_TIMEOUT
    slow = {r["student"]: r.get("seconds") for r in attacks.found[run]
            if r.get("seconds", 0.0) > SUBMISSION_TIMEOUT + 10}
    assert slow == {}


TWINNED = [s.name for s in CLASS if s.twin is not None]


@needs_isolation
@pytest.mark.parametrize("name", TWINNED)
def test_no_attack_scores_above_its_honest_twin(attacks: Attacks, name: str) -> None:
    """Does the attacker score at most what the same submission without the attack scores?"""
    student = BY_NAME[name]
    assert student.twin is not None
    twin = result_of(attacks, student.twin)
    result = attacks.result(name)
    assert result is not None, f"{name!r} has no result"  # FAILS TODAY: a05, tagBytes
    # FAILS TODAY: a01_siblings +13, a01b_delegate_all +9, a03_forged_harness and
    # a03b_forged_result +0.5, a10_bundle +7, a11_sklearn and a11b +5
    assert result["score"] <= twin["score"], {
        m: (v["score"], twin["modules"][m]["score"]) for m, v in result["modules"].items()
        if v["score"] > twin["modules"][m]["score"]}


NEXT = [s.name for students in (CLASS, *SIDE_CLASSES.values()) for s in students
        if s.probe and s.name != "a00_honest"]


@needs_isolation
@pytest.mark.parametrize("name", NEXT)
def test_next_student_scores_as_its_honest_twin(attacks: Attacks, name: str) -> None:
    """Does the honest student graded right after an attack get the honest twin's score?"""
    if RUN_OF.get(name) not in (None, *attacks.runs):
        pytest.skip(attacks.unprivileged_why)
    result = attacks.result(name)
    assert result is not None, f"{name} was not graded"  # FAILS TODAY: a02z, n07z, n09z
    assert result["score"] == honest_score(attacks)


LEFTOVERS = {  # attack: what it leaves
    "a07_leftovers": "files in every writable place, SysV shared memory, queue, semaphore",
    "a08_tmpfs_pin": "512 MB of files in each of /dev/shm and /",
    "a12_forged_200mb": "nothing but the message",
    "n01_ipc_keyring_xattr": "a POSIX message queue, a user key, xattrs and modes of folders",
    "n02_init_memory": "a message in the memory of the namespace's init",
    "n04_disk_fill": "512 MB of files in each of /work and /tmp",
    "n11_sysv_pin": "1 GB in detached SysV shared memory segments",
}


def _probe_before(name: str) -> str:
    """The last probing honest student graded before ``name`` in the main run."""
    index = [s.name for s in CLASS].index(name)
    return [s.name for s in CLASS[:index] if s.probe][-1]


@needs_isolation
@pytest.mark.parametrize("attack", list(LEFTOVERS))
def test_next_student_sees_nothing_of_the_attack(attacks: Attacks, attack: str) -> None:
    """Does the honest student graded right after the attack see its sandbox exactly as the
    honest student graded right before it did (files, folder modes and xattrs, IPC objects,
    keys, the memory of init)?"""
    before = view_of(attacks.result(_probe_before(attack)))
    after = view_of(attacks.result(attack[:3] + "z_next"))
    assert before is not None and after is not None, "a probe did not report"
    changed = {k: (before.get(k), after.get(k)) for k in {*before, *after}
               if k != "pid" and before.get(k) != after.get(k)}
    # FAILS TODAY: all but a12 and n04 (files in /, /dev, /dev/shm; SysV objects; a POSIX
    # queue, a user key, xattrs, /tmp left at 0555; init's memory; 1 GB of SysV segments)
    assert changed == {}, LEFTOVERS[attack]


@needs_isolation
def test_first_student_sees_an_empty_sandbox(attacks: Attacks) -> None:
    """Does the first honest student (a fresh sandbox) see empty writable folders and no IPC
    object, key or marked memory: the baseline the other probes are compared with?"""
    view = view_of(attacks.result("a00_honest"))
    assert view is not None
    assert all(v == [] for k, v in view.items() if k.startswith(("sysv ", "keys")))
    assert view["writable /work"] is True and view["writable /tmp"] is True
    assert view["init memory marked"] is not True
    assert view.get("ls /work", []) == [] and view.get("ls /tmp", []) == []


# -- 1: sibling delegation ------------------------------------------------------------------------
@needs_isolation
def test_sibling_delegation_earns_nothing(attacks: Attacks) -> None:
    """Does backward returning backward_loops (and the reverse), and gradient_vector built from
    batch_gradient (and the reverse), earn none of their points?"""
    result, twin = result_of(attacks, "a01_siblings"), result_of(attacks, "a00_honest")
    gained = {f"{m}.{f}": points(result, m, f)
              for m, f in (("layer", "backward"), ("layer", "backward_loops"),
                           ("worked_example", "gradient_vector"),
                           ("worked_example", "batch_gradient"))
              if points(result, m, f) > points(twin, m, f)}
    assert gained == {}  # FAILS TODAY: layer.backward 5, backward_loops 4, the worked example 4


@needs_isolation
def test_delegating_every_function_to_its_siblings_earns_nothing(attacks: Attacks) -> None:
    """A submission whose every function calls whichever course function is not its own (the
    references swapped in for isolation): does any function earn a point?"""
    result, stubs = result_of(attacks, "a01b_delegate_all"), result_of(attacks, "a00_stubs")
    gained = sorted({f"{t['module']}.{t['function']}" for t in result["tests"]
                     if points(result, t["module"], t["function"])
                     > points(stubs, t["module"], t["function"])})
    assert gained == []  # FAILS TODAY: layer.backward, layer.backward_loops


# -- 2: an unread callback reply -----------------------------------------------------------------
@needs_isolation
def test_unread_callback_reply_holds_nobody(attacks: Attacks) -> None:
    """A child that asks for an 11 MB callback reply and never reads it: does its grading end
    within its budget, with a result, and is the next student graded with the twin's score?"""
    run = attacks.runs["unread"]
    assert not run.stopped, run.stopped  # FAILS TODAY: the grader blocks in write()
    result = attacks.result("a02_unread_reply")
    assert result is not None and result.get("seconds", 0.0) <= SUBMISSION_TIMEOUT + 10
    assert result["score"] <= honest_score(attacks)


@needs_isolation
def test_unread_call_message_holds_nobody(attacks: Attacks) -> None:
    """(New.) A child that stops reading its channel after a call returns (its reader replaced
    through the harness's frame), before a call whose arguments (the digits, 1 MB) exceed a
    pipe: does its grading end within its budget, and is the next student graded?"""
    run = attacks.runs["unread_call"]
    assert not run.stopped, run.stopped  # FAILS TODAY: the grader blocks in write()
    result = attacks.result("n09_unread_call")
    assert result is not None and result.get("seconds", 0.0) <= SUBMISSION_TIMEOUT + 10
    assert result["score"] <= honest_score(attacks)


# -- 3: a forged harness --------------------------------------------------------------------------
UNCHANGED = "sgd_step returns p - lr * g and leaves params and grads unchanged"


@needs_isolation
@pytest.mark.parametrize("name", ["a03_forged_harness", "a03b_forged_result"])
def test_forged_harness_cannot_pass_the_mutation_test(attacks: Attacks, name: str) -> None:
    """An sgd_step that changes params in place, in a child whose mutation and aliasing checks
    are forged (``__main__._same``) or whose result message is forged (new): does the test that
    it leaves its inputs unchanged still fail?"""
    result, twin = result_of(attacks, name), result_of(attacks, "a03_twin_inplace")
    twin_test = next(t for t in twin["tests"] if t["name"] == UNCHANGED)
    assert twin_test["status"] != "passed", "the control: a plain in-place step fails it"
    test = next(t for t in result["tests"] if t["name"] == UNCHANGED)
    assert test["status"] != "passed"  # FAILS TODAY: both pass
    assert points(result, "sgd") <= points(twin, "sgd")


@needs_isolation
@pytest.mark.parametrize("name", CHECKED)
def test_forged_harness_fails_grader_check(attacks: Attacks, name: str) -> None:
    """Does ``grader check sgd`` report that the in-place sgd_step does not pass, forged
    harness or not?"""
    text = attacks.runs[f"check {name}"].stdout.decode("utf-8", "replace")
    line = re.search(r"^\s+sgd_step\s+(.*)$", text, re.M)
    assert line is not None, text[-2000:]
    assert not line.group(1).startswith("passed"), line.group(0)  # FAILS TODAY: a03, a03b


# -- 4, 12 and a new member: the grader's memory --------------------------------------------------
MEMORY_ATTACKS = {
    "a04_amplifier": "one_hot([0], 25_000_000) served by the reference",
    "a12_forged_200mb": "one 200 MB message",
    "n07_callback_request": "a 256 MB callback request (graded in the regrade run)",
}


@needs_isolation
@pytest.mark.parametrize("name", list(MEMORY_ATTACKS))
def test_grader_memory_stays_bounded(attacks: Attacks, name: str) -> None:
    """While this attack is graded, does the grader's resident memory stay under the bound?"""
    run = attacks.runs[RUN_OF.get(name, "main")]
    window = run.window(name)
    assert window is not None, f"{name} was not graded: {run.stopped}"  # FAILS TODAY: n07
    # FAILS TODAY: a04 911 MB, a12 748 MB (n07: about 2,500 MB before the test stops it)
    assert window[1].peak_mb < GRADER_MEMORY_BOUND_MB, MEMORY_ATTACKS[name]


# -- 5: text that cannot be written ---------------------------------------------------------------
@needs_isolation
def test_unwritable_text_still_gives_a_result(attacks: Attacks) -> None:
    """``raise ValueError("\\ud800")``: does the student still get a valid result with the
    twin's score, and a gradebook row?"""
    result = attacks.result("a05_surrogate")
    assert result is not None  # FAILS TODAY: UnicodeEncodeError, no result
    assert result["score"] == honest_score(attacks)
    assert any(row and row[0] == "a05_surrogate" for row in attacks.gradebook)


@needs_isolation
def test_gradescope_writes_results_json_for_unwritable_text(attacks: Attacks) -> None:
    """Does ``grader gradescope`` write a valid UTF-8 results.json with the twin's score?"""
    path = attacks.gradescope_dir / "results.json"
    # FAILS TODAY: UnicodeEncodeError while writing it, no file
    assert path.exists(), attacks.runs["gradescope"].stderr.decode(errors="replace")[-1500:]
    payload = json.loads(path.read_bytes().decode("utf-8"))
    assert "could not grade this submission" not in payload["output"], payload["output"]
    assert payload["score"] == honest_score(attacks)


@needs_isolation
def test_an_id_that_is_not_utf8_gets_a_result(attacks: Attacks) -> None:
    """(New.) An entry whose name is not UTF-8 (b"tagBytes\\xff"): does it get a result
    instead of a grader failure?"""
    assert attacks.result(os.fsdecode(b"tagBytes\xff")) is not None  # FAILS TODAY
    assert b"grader failure" not in attacks.main.stderr


# -- 6: hostile ids -------------------------------------------------------------------------------
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _row(attacks: Attacks, student: str) -> list[str]:
    rows = [row for row in attacks.gradebook if row and row[0] == student]
    assert rows, f"no gradebook row for {student} (the batch wrote {len(attacks.gradebook)})"
    return rows[0]


@needs_isolation
def test_no_gradebook_cell_is_a_formula(attacks: Attacks) -> None:
    """Does no cell of gradebook.csv start like a spreadsheet formula, whatever the ids?"""
    assert attacks.gradebook, "no gradebook"
    cells = [c for row in attacks.gradebook[1:] for c in row if c.startswith(FORMULA_START)]
    assert cells == []  # FAILS TODAY: the five formula ids, and n05's errors cell


@needs_isolation
def test_errors_column_is_never_a_formula(attacks: Attacks) -> None:
    """(New.) A refused link inside a folder named ``=HYPERLINK(...)``: the errors column names
    its path; does that cell still not start like a formula?"""
    naming = [cell for cell in _row(attacks, "n05_formula_note") if "HYPERLINK" in cell]
    assert [cell for cell in naming if cell.startswith(FORMULA_START)] == []  # FAILS TODAY


@needs_isolation
def test_no_control_character_reaches_the_terminal(attacks: Attacks) -> None:
    """Do the grader's stdout and stderr hold no control character but newlines and tabs,
    whatever the ids (ESC sequences, C1 CSI, carriage returns)?"""
    text = (attacks.main.stdout + attacks.main.stderr).decode("utf-8", "replace")
    controls = sorted({f"U+{ord(c):04X}" for c in text
                       if (ord(c) < 32 and c not in "\n\t") or 127 <= ord(c) < 160})
    assert controls == []  # FAILS TODAY: U+0007, U+000D, U+001B, U+009B


@needs_isolation
def test_an_id_cannot_forge_a_line_of_output(attacks: Attacks) -> None:
    """An id holding a newline: does no line of the output start with the forged text?"""
    text = (attacks.main.stdout + attacks.main.stderr).decode("utf-8", "replace")
    assert not re.search(r"(?m)^forged line", text)  # FAILS TODAY


@needs_isolation
def test_an_id_cannot_overwrite_another_students_gradescope_file(attacks: Attacks) -> None:
    """An entry named ``a06_victim.gradescope``: does the victim's Gradescope file still hold
    the victim's own results?"""
    victim = result_of(attacks, "a06_victim")
    payload = json.loads((attacks.out / "a06_victim.gradescope.json").read_text("utf-8"))
    assert payload.get("score") == victim["score"]  # FAILS TODAY: the attacker's result file
    assert len(payload.get("tests", [])) == len(victim["tests"])


@needs_isolation
def test_a_name_with_an_extension_cannot_take_a_victims_grade(attacks: Attacks) -> None:
    """(New.) A folder named ``n06_dupvictim.zip`` has the id of ``n06_dupvictim``: is the
    victim still graded, with the twin's score?"""
    # FAILS TODAY: neither entry is graded ("two submissions share the student id")
    assert result_of(attacks, "n06_dupvictim")["score"] == honest_score(attacks)


# -- 8 and a new member: memory and disk outside the address space --------------------------------
def pinned_mb(result: dict[str, Any]) -> int | None:
    """The most the attack reported it pinned (None: no report)."""
    found = [int(n) for n in re.findall(r"PINNED (\d+) MB", feedback(result, "neuron"))]
    return max(found) if found else None


PINS = {
    "a08_tmpfs_pin": "16 files of 32 MB in each of /dev/shm and /",
    "n04_disk_fill": "16 files of 32 MB in each of /work and /tmp (the grader's disk)",
    "n11_sysv_pin": "four SysV shared memory segments of 256 MB, each filled and detached",
}


@needs_isolation
@pytest.mark.parametrize("name", list(PINS))
def test_memory_a_child_pins_counts_against_its_limit(attacks: Attacks, name: str) -> None:
    """Memory and disk that no address-space limit counts (tmpfs files, files on the grader's
    disk, detached SysV segments): can the child take no more than its memory limit?"""
    result = result_of(attacks, name)
    pinned = pinned_mb(result)
    if pinned is None:  # stopped before it could say: only a kill for memory is an answer
        assert "did not return within" not in feedback(result, "neuron"), PINS[name]
    # FAILS TODAY: 1024 MB each
    assert (pinned or 0) <= MEMORY_MB, f"{pinned} MB: {PINS[name]}"


@needs_isolation
@pytest.mark.parametrize("name", ["a08_tmpfs_pin", "n11_sysv_pin"])
def test_pinned_memory_is_released_after_the_child(attacks: Attacks, name: str) -> None:
    """Once the next student is graded, is the machine's shared memory back where it was
    before the attack?"""
    before = attacks.main.window(_probe_before(name))
    after = attacks.main.window(name[:3] + "z_next")
    assert before is not None and after is not None
    pinned = after[1].shmem_mb - before[1].shmem_mb
    assert pinned < PINNED_BOUND_MB, f"{pinned:.0f} MB still pinned"  # FAILS TODAY: 1,024 MB


# -- 9: the cleanup follows a link (an ordinary user grading) -------------------------------------
@needs_isolation
def test_cleanup_never_follows_a_link(attacks: Attacks) -> None:
    """The grader running as an ordinary user; a child leaves ``/work/d`` and ``/tmp/d`` at mode
    0500, each holding a link to a file of the instructor: is that file untouched, and does
    every student get a result?"""
    if "unprivileged" not in attacks.runs:
        if os.environ.get("CI") == "true":
            pytest.fail(attacks.unprivileged_why)
        pytest.skip(attacks.unprivileged_why)
    mode, text = attacks.victim
    assert mode == 0o444, oct(mode)  # FAILS TODAY: chmod 0700 through the link
    assert text == "the instructor's file"
    run = attacks.runs["unprivileged"]
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-1500:]
    for name in ("a09_link_cleanup", "a09z_next", "a13_oracle"):
        assert attacks.result(name, "unprivileged") is not None, name


# -- 10: answers in the bundle --------------------------------------------------------------------
@needs_isolation
def test_functions_copied_from_the_bundle_earn_nothing(attacks: Attacks) -> None:
    """Every function of the student bundle named like a contract function, copied in under
    that name (``grader/authoring/gradcheck.py``'s numerical_gradient and relative_error,
    ``checks/course_helpers.py``'s sigmoid): does any of them earn a point?"""
    result, stubs = result_of(attacks, "a10_bundle"), result_of(attacks, "a00_stubs")
    gained = {}
    for copy in attacks.copied:
        module, function = copy.split(" ")[0].split(".")
        if points(result, module, function) > points(stubs, module, function):
            gained[copy] = points(result, module, function)
    # FAILS TODAY: gradcheck.numerical_gradient 4, relative_error 2, activations.sigmoid 1
    assert gained == {}


# -- 11: the sklearn capstone --------------------------------------------------------------------
@needs_isolation
@pytest.mark.parametrize("name", ["a11_sklearn", "a11b_sklearn_around_the_sandbox"])
def test_sklearn_cannot_pass_the_capstone(attacks: Attacks, name: str) -> None:
    """train() fitting scikit-learn's MLPClassifier (plainly, or after undoing import hooks and
    putting numpy's site-packages on sys.path): does it earn nothing for train, with feedback
    that names sklearn?"""
    result, twin = result_of(attacks, name), result_of(attacks, "a00_honest")
    assert points(result, "sgd", "train") <= points(twin, "sgd", "train")  # FAILS TODAY: 5
    assert "sklearn" in feedback(result, "sgd", "train")  # FAILS TODAY: it passed


# -- 13: the regrade oracle ----------------------------------------------------------------------
@needs_isolation
def test_resubmission_with_changed_code_gets_fresh_inputs(attacks: Attacks) -> None:
    """The same student resubmits with one comment changed: are the hidden test's inputs
    (which the feedback shows) different?"""
    if "unprivileged" not in attacks.runs:
        pytest.skip(attacks.unprivileged_why)
    first = oracle_inputs(attacks.result("a13_oracle"))
    second = oracle_inputs(attacks.result("a13_oracle", "unprivileged"))
    assert first and second
    assert first != second  # FAILS TODAY: the same inputs on every resubmission


@needs_isolation
def test_identical_resubmission_gets_identical_inputs(attacks: Attacks) -> None:
    """The same files graded again under the same id: are the inputs the same?"""
    first = oracle_inputs(attacks.result("a13_oracle"))
    assert first and first == oracle_inputs(attacks.result("a13_oracle", "regrade"))


# -- 14 and a new member: what the sandbox tells of the host --------------------------------------
def host_paths(attacks: Attacks, *, venv: bool) -> list[str]:
    """Host paths no sandbox file may name: the course, the grader's source (the repository,
    the default course), pytest's and the grader's temporary folders, and the venv."""
    paths = [str(attacks.course.parent), str(ROOT), tempfile.gettempdir().rstrip("/") + "/"]
    if venv:
        paths += [sys.prefix, os.path.realpath(sys.prefix)]
    return paths


@needs_isolation
@pytest.mark.parametrize("what", ["cmdline", "environ"])
def test_proc_1_shows_no_host_path(attacks: Attacks, what: str) -> None:
    """Does ``/proc/1/<what>`` inside the sandbox name no host path: not the course, the
    grader's source, the venv or the grader's temporary roots?"""
    text = leaked(result_of(attacks, "a14_info_leak")).get(what)
    assert text is not None, "the attack read nothing"
    # FAILS TODAY (cmdline): the grader's source, the venv, /tmp/grader-zygote-*
    assert [p for p in host_paths(attacks, venv=True) if p in text] == []


@needs_isolation
def test_mountinfo_shows_no_host_path(attacks: Attacks) -> None:
    """(New.) Does ``/proc/self/mountinfo`` name no host path of the course, the grader's
    source or its temporary roots (it shows the source of every bind)?"""
    text = leaked(result_of(attacks, "a14_info_leak")).get("mountinfo")
    assert text is not None, "the attack read nothing"
    # FAILS TODAY: /tmp/grader-zygote-*/..., the grader's source
    assert [p for p in host_paths(attacks, venv=False) if p in text] == []


# -- new members: a pid channel, bloated feedback -------------------------------------------------
@needs_isolation
def test_pid_counter_carries_nothing(attacks: Attacks) -> None:
    """(New.) After a child forked 50 processes, does the next student's process get the pid
    the first student got (a pid counter shared by students is a channel between them)?"""
    first = view_of(attacks.result("a00_honest"))
    after = view_of(attacks.result("n03z_next"))
    assert first is not None and after is not None
    assert after["pid"] == first["pid"]  # FAILS TODAY: 9, then 242


@needs_isolation
def test_forged_feedback_cannot_bloat_result_files(attacks: Attacks) -> None:
    """(New.) A forged result message listing 40 MB of "mutated" paths: do the result and
    Gradescope files stay small?"""
    sizes = {p.name: p.stat().st_size >> 20 for p in attacks.out.glob("*.json")
             if p.stat().st_size > RESULT_FILE_BOUND_MB << 20}
    assert sizes == {}  # FAILS TODAY: n08_bloated_feedback 120 MB, its Gradescope file 80 MB
