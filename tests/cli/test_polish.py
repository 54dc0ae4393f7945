"""What a user notices of `grader grade` and of every command's help: the summary describes
the whole output folder (misconceptions with their students, each module's maximum), progress
is a bar with rate and ETA on a terminal and a few parseable lines elsewhere, every file
written has one mode, each command's exit-code help is true for it, and ``--course`` means
the grader course everywhere."""

from __future__ import annotations

import ast
import fcntl
import inspect
import io
import json
import os
import pty
import re
import select
import statistics
import struct
import subprocess
import sys
import termios
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import TOY_SOLUTION, make_toy_course

from grader.batch.jobs import Graded
from grader.batch.progress import PLAIN_ALL_UP_TO, Progress
from grader.batch.summary import STUDENTS_SHOWN, BatchReport
from grader.cli import main
from grader.cli.course_commands import CourseCommands
from grader.course.config import load_course

ROOT = Path(__file__).resolve().parents[2]
PLAIN_LINE = re.compile(r"^\[(\d+)/(\d+)\] (\S+): [\d.]+/[\d.]+ \([\d.]+ s\) (\d+)%, "
                        r"[\d.]+ students/s, [\d:]+ left$")


#: the toy course's submissions: add_one's expression (``x`` as float64 is ``v``), and what
#: it is diagnosed with
RIGHT, TWICE, NEGATED = "v + 1.0", "2.0 * (v + 1.0)", "-(v + 1.0)"


@dataclass(frozen=True)
class ToyClass:
    """Two runs of `grader grade` into one output folder, under a umask of 077: four
    students, then one more (with ``--gradescope --report``) with stderr on a
    pseudo-terminal.

    Attributes
    ----------
    out : Path
        The output folder.
    summary : str
        The summary of the second run (one new student into a folder of four results).
    terminal : str
        What the second run showed on its terminal (stderr).
    """

    out: Path
    summary: str
    terminal: str


def _grade(args: list[str], cwd: Path, stderr: int = subprocess.PIPE,
           ) -> subprocess.Popen[bytes]:
    """``grader grade ARGS`` started as a real process, files private by umask."""
    return subprocess.Popen([sys.executable, "-m", "grader", "grade", *args], cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                            preexec_fn=lambda: os.umask(0o077))


def _on_a_terminal(args: list[str], cwd: Path) -> tuple[str, str]:
    """Run ``grader grade ARGS`` with stderr on a pseudo-terminal (120 columns); return
    its stdout and what the terminal showed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = _grade(args, cwd, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, shown.decode(errors="replace") + stdout.decode()
    return stdout.decode(), shown.decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def toy_class(tmp_path_factory: pytest.TempPathFactory) -> ToyClass:
    """Four toy students graded, then one more with stderr on a pseudo-terminal."""
    root = tmp_path_factory.mktemp("polish")
    course = make_toy_course(root / "course").root
    students = {"ann": RIGHT, "bob": TWICE, "cid": TWICE, "dan": NEGATED, "eve": TWICE}
    for student, expression in students.items():
        (root / student).mkdir()
        (root / student / "toy.py").write_text(TOY_SOLUTION.replace(
            "np.asarray(x, dtype=np.float64) + 1.0",
            expression.replace("v", "np.asarray(x, dtype=np.float64)")), encoding="utf-8")
    out = root / "out"
    common = ["--out", str(out), "--course", str(course)]
    first = _grade([*(str(root / s) for s in ("ann", "bob", "cid", "dan")), *common], root)
    assert first.communicate(timeout=120) and first.returncode == 0
    summary, shown = _on_a_terminal([str(root / "eve"), *common, "--gradescope", "--report"],
                                    root)
    return ToyClass(out, summary, shown)


@pytest.mark.slow
def test_summary_describes_the_whole_output_folder(toy_class: ToyClass) -> None:
    """After one new student is graded into a folder of four results, does the summary say
    five results (one graded now, four kept) with the mean of the five?"""
    summary = toy_class.summary
    assert "graded: 1 submission: 1 new," in summary
    assert "5 results: 1 graded now, 4 kept (4 from earlier runs, not given now)" in summary
    scores = [json.loads(p.read_text())["score"] for p in toy_class.out.glob("*.json")
              if p.name.count(".") == 1]
    assert len(scores) == 5
    assert f"mean: {statistics.fmean(scores):.2f} / 2 " in summary
    assert "(all 5 results)" in summary


@pytest.mark.slow
def test_summary_shows_each_module_mean_with_its_maximum(toy_class: ToyClass) -> None:
    """Is the module's line its mean over the five results and its maximum points, as the
    result files state them?"""
    found = [json.loads((toy_class.out / f"{s}.json").read_text())["modules"]["toy"]
             for s in ("ann", "bob", "cid", "dan", "eve")]
    mean = statistics.fmean(m["score"] for m in found)
    assert {m["max_score"] for m in found} == {2.0}
    assert re.search(rf"^  toy +{mean:.2f} / 2$", toy_class.summary, re.M), toy_class.summary


@pytest.mark.slow
def test_summary_names_the_students_behind_each_misconception(toy_class: ToyClass) -> None:
    """Is each misconception listed with how many students have it and who, those graded in
    the earlier run too?"""
    who: dict[str, list[str]] = {}
    for path in sorted(toy_class.out.glob("*.json")):
        if path.name.count(".") != 1:  # a Gradescope file
            continue
        result = json.loads(path.read_text())
        for test in result["tests"]:
            if (d := test.get("diagnosis")) and d["key"] != "not_implemented":
                who.setdefault(d["title"], []).append(result["student"])
    assert sorted(map(sorted, who.values())) == [["bob", "cid", "eve"], ["dan"]]
    for title, students in who.items():
        assert f"{len(students):>6}  {title}: {', '.join(sorted(students))}\n" in \
            toy_class.summary, title


def test_a_misconception_names_the_first_students_then_how_many_more() -> None:
    """With more students than are named, does the line name the first few (sorted) and say
    how many more, with the count of all?"""
    many = [f"s{i}" for i in range(STUDENTS_SHOWN + 3)]
    graded = [Graded(s, 1.0, 2.0, {"toy": 1.0}, (("factor", "Missing factor 2"),),
                     maxima={"toy": 2.0}) for s in reversed(many)]
    text = BatchReport(graded=graded, new=len(many)).render(["toy"])
    assert (f"{len(many):>6}  Missing factor 2: {', '.join(many[:STUDENTS_SHOWN])} and 3 more"
            in text)
    assert re.search(r"^  toy +1\.00 / 2$", text, re.M)


# -- progress -----------------------------------------------------------------------------------
def _advance(total: int, mode: str = "auto") -> list[str]:
    stream = io.StringIO()
    with Progress(total, stream, mode) as progress:
        for i in range(total):
            progress.advance(Graded(f"s{i}", 1.0, 2.0, {}, ()))
    return stream.getvalue().splitlines()


def test_plain_progress_of_a_large_class_is_a_line_per_step() -> None:
    """Without a terminal, do 1,000 students print about twenty parseable lines (first, every
    5 %, last), not 1,000?"""
    lines = _advance(1000)
    assert 20 <= len(lines) <= 22, lines
    parsed = [PLAIN_LINE.match(line) for line in lines]
    assert all(parsed), lines
    done = [int(m.group(1)) for m in parsed if m]
    assert done[0] == 1 and done[-1] == 1000 and done == sorted(done)
    assert {int(m.group(4)) for m in parsed if m} >= set(range(5, 101, 5))


def test_plain_progress_of_a_small_class_is_a_line_per_student() -> None:
    """Does a class of up to PLAIN_ALL_UP_TO students still get one line each?"""
    lines = _advance(PLAIN_ALL_UP_TO)
    assert [int(m.group(1)) for line in lines if (m := PLAIN_LINE.match(line))] == \
        list(range(1, PLAIN_ALL_UP_TO + 1))


def test_each_mode_prints_a_line_per_student_of_a_large_class() -> None:
    """With ``--progress each`` (a tool that follows every student), does every student of a
    large class get its line, in the same shape?"""
    lines = _advance(3 * PLAIN_ALL_UP_TO, "each")
    assert [int(m.group(1)) for line in lines if (m := PLAIN_LINE.match(line))] == \
        list(range(1, 3 * PLAIN_ALL_UP_TO + 1))


def test_unknown_progress_mode_is_refused() -> None:
    """Is a progress mode other than auto, steps and each a usage error of `grader grade`?"""
    result = CliRunner().invoke(main, ["grade", "x", "--out", "y", "--progress", "bars"])
    assert result.exit_code == 2 and "'bars' is not one of" in result.output


@pytest.mark.slow
def test_progress_on_a_terminal_is_a_bar_with_rate_and_eta(toy_class: ToyClass) -> None:
    """On a real pseudo-terminal, is progress one redrawn bar showing done/total, elapsed <
    time left and the rate, not plain lines?"""
    shown = toy_class.terminal
    assert "\r" in shown
    final = shown.replace("\r\n", "\n").split("\r")[-1]
    assert re.search(r"grading: 100%.*\| 1/1 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+ students/s",
                     final), shown
    assert not PLAIN_LINE.search(shown.replace("\r", "\n")), shown


def test_a_terminal_of_unknown_size_still_gets_the_bar() -> None:
    """On a real pseudo-terminal that states no size (0 x 0, as `script` makes), is the bar
    still drawn, at a usual width, with the messages printed meanwhile (made inert) on lines
    of their own above it?"""
    leader, follower = pty.openpty()
    try:
        with open(follower, "w", encoding="utf-8", closefd=False) as stream:
            assert stream.isatty() and os.get_terminal_size(follower).columns == 0
            with Progress(3, stream) as progress:
                for student in ("ann", "bob", "cid"):
                    progress.advance(Graded(student, 2.0, 2.0, {}, ()))
                    if student == "ann":  # messages while the bar runs go above it
                        print("waiting for a worker", file=progress.log, flush=True)
                        progress.note("grader failure: bob: \x1b[31m")
        data = b""
        while select.select([leader], [], [], 0.5)[0]:  # all it shows, in as many reads
            data += os.read(leader, 65536)
        shown = data.decode("utf-8", errors="replace")
    finally:
        os.close(leader)
        os.close(follower)
    final = shown.replace("\r\n", "\n").split("\r")[-1].rstrip("\n")
    assert re.search(r"grading: 100%.*\| 3/3 \[.*students/s, cid: 2/2\]$", final), shown
    assert 60 <= len(final) <= 80, final
    lines = [line.split("\r")[-1] for line in shown.split("\r\n")]
    assert "waiting for a worker" in lines and "grader failure: bob: \\x1b[31m" in lines, lines


@pytest.mark.slow
def test_every_file_written_has_one_mode(toy_class: ToyClass) -> None:
    """Under a umask of 077, are the results, Gradescope files, gradebook, report and lock all
    -rw-r--r--?"""
    out = toy_class.out
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in out.iterdir() if p.is_file()}
    assert {"ann.json", "eve.gradescope.json", "gradebook.csv", "report.html",
            ".grader.lock"} <= modes.keys()
    assert set(modes.values()) == {"0o644"}, modes


# -- every command's help and --course ----------------------------------------------------------
def _commands() -> Iterator[tuple[str, click.Command]]:
    """Every command of ``grader`` (groups and their commands), then this course's own."""
    def walk(prefix: str, command: click.Command) -> Iterator[tuple[str, click.Command]]:
        yield prefix, command
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(f"{prefix} {name}".strip(), sub)

    yield from walk("", main)
    found = CourseCommands(load_course(ROOT))
    for name in found.names:
        command = found.get(name)
        assert command is not None
        yield name, command


def _exits_1(function: object) -> bool:
    """Whether ``function``'s code (and the functions of its module it calls) can end with
    exit code 1: a ``SystemExit`` with a code other than 0, a ``ClickException``, or the
    grader's `student_errors`."""
    module = sys.modules[getattr(function, "__module__", "")]
    tree = ast.parse(textwrap.dedent(inspect.getsource(module)))
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    seen: set[str] = set()

    def signals(name: str) -> bool:
        if name in seen or name not in functions:
            return False
        seen.add(name)
        for node in ast.walk(functions[name]):
            if isinstance(node, ast.Call):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else \
                    node.func.id if isinstance(node.func, ast.Name) else ""
                if called == "SystemExit" and not (
                        node.args and isinstance(node.args[0], ast.Constant)
                        and node.args[0].value in (0, 2)):
                    return True
                if called in ("ClickException", "student_errors") or signals(called):
                    return True
        return False

    return signals(getattr(function, "__name__", ""))


def test_each_command_help_states_its_own_exit_codes() -> None:
    """Does every command's --help state exit codes 0 and 2, and exit code 1 exactly when its
    code can end with it (the course's commands always can: a sandbox that cannot start)?"""
    checks_line = next(line for line in (main.commands["check"].epilog or "").splitlines()
                       if line.startswith("  0  "))
    course_commands = load_course(ROOT).commands
    wrong = []
    for name, command in _commands():
        epilog = command.epilog or ""
        if not ("Exit codes:" in epilog and "  0  " in epilog and "  2  usage error" in epilog):
            wrong.append(f"`grader {name}` --help states no exit codes 0 and 2")
        if name in ("", "check") or isinstance(command, click.Group):
            continue  # a group's codes are those of its commands; check's words are its own
        says_1 = "\n  1  " in epilog
        if says_1 != (name in course_commands or _exits_1(command.callback)):
            wrong.append(f"`grader {name}` --help {'says' if says_1 else 'does not say'} "
                         "it exits 1")
        if checks_line in epilog.splitlines():
            wrong.append(f"`grader {name}` --help uses the words of `grader check`")
    assert not wrong, wrong


#: what commands need besides their required parameters to reach their course
NEEDS = {"release": ["--out", "{work}/bundle"]}


def _filled(name: str, command: click.Command, tmp: Path) -> list[str]:
    """Arguments that satisfy ``command``'s required parameters (but --course)."""
    args = [arg.format(work=tmp) for arg in NEEDS.get(name, [])]
    for param in command.params:
        if not param.required or "--course" in param.opts:
            continue
        kind = param.type
        if isinstance(kind, click.Choice):
            value = str(kind.choices[0])
        elif isinstance(kind, click.Path) and not kind.file_okay:
            value = str(tmp)
        elif isinstance(kind, click.Path):
            value = str(tmp / "out.svg")
        else:
            value = "x"
        if isinstance(param, click.Argument):
            args.insert(0, value)
        else:
            args += [param.opts[0], value]
    return args


def test_course_means_the_grader_course_in_every_command(tmp_path: Path) -> None:
    """Does every command with --course (the course's own too) take it for the folder of
    course.toml: given an empty folder, exit 2 saying there is no course.toml there?"""
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "work").mkdir()
    runner = CliRunner()
    tried = []
    for name, command in _commands():
        if not any("--course" in p.opts for p in command.params):
            continue
        tried.append(name)
        words = name.split()
        prefix = words if name not in load_course(ROOT).commands else []
        target = main if prefix else command
        result = runner.invoke(target, [*prefix, *_filled(name, command, tmp_path / "work"),
                                        "--course", str(empty)])
        assert result.exit_code == 2, (name, result.output)
        assert "course.toml" in result.output and str(empty) in result.output, \
            (name, result.output)
    assert {"check", "grade", "graph", "curves", "selftest"} <= set(tried)
