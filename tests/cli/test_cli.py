"""The command line: `grader check`, `list`, `schema`, `grade`, `release`, `gradescope`, with
click's CliRunner and as real subprocesses."""

from __future__ import annotations

import ast
import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main

ROOT = Path(__file__).resolve().parents[2]
N_FUNCTIONS = 43


def student_course(tmp_path: Path, source: str = "solutions") -> Path:
    """A copy of the course whose exercises/ are replaced by ``source``'s modules."""
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy2(ROOT / "course.toml", course / "course.toml")
    shutil.copytree(ROOT / "checks", course / "checks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / source, course / "exercises",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return course


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=600, env={**os.environ, **env})


def test_check_passes_everything_on_the_reference(tmp_path: Path) -> None:
    """In a copy where solutions/ replace exercises/, does `grader check` (a real process)
    exit 0 with every function passing?"""
    proc = run(["check"], cwd=student_course(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" passed (") == N_FUNCTIONS
    assert f"{N_FUNCTIONS} of {N_FUNCTIONS} functions pass their public checks." in proc.stdout
    assert "These are the public checks only" in proc.stdout


def test_check_on_the_stubs_reports_everything_not_implemented(tmp_path: Path) -> None:
    """On the untouched stubs, does `grader check` exit 1 with every function 'not
    implemented yet'?"""
    proc = run(["check"], cwd=student_course(tmp_path, "exercises"))
    assert proc.returncode == 1
    assert proc.stdout.count("not implemented yet") == N_FUNCTIONS + 1  # + the summary line
    assert f"0 of {N_FUNCTIONS} functions pass" in proc.stdout


def _mutated(tmp_path: Path, module: str, old: str, new: str) -> Path:
    course = student_course(tmp_path)
    path = course / "exercises" / f"{module}.py"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return course


def test_missing_factor_two_is_named() -> None:
    """Does a neuron.backward using (a - y) for 2 (a - y) fail with feedback naming the
    missing factor 2?"""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        course = _mutated(Path(tmp), "neuron", "delta = sigmoid_prime(z) * 2.0 * (a - y)",
                          "delta = sigmoid_prime(z) * (a - y)")
        result = CliRunner().invoke(main, ["check", "neuron", "--course", str(course),
                                           "--path", str(course / "exercises")])
    assert result.exit_code == 1
    backward = result.output.split("  backward ")[1]
    assert backward.lstrip().startswith("FAILED")
    assert "Missing factor 2" in result.output
    assert "2(a - y)" in result.output


def test_unstable_softmax_is_named(tmp_path: Path) -> None:
    """Does a softmax without the max shift fail with feedback about overflow?"""
    course = _mutated(tmp_path, "activations",
                      "shifted = z - np.max(z, axis=-1, keepdims=True)", "shifted = z")
    result = CliRunner().invoke(main, ["check", "activations", "--course", str(course),
                                       "--path", str(course / "exercises")])
    assert result.exit_code == 1
    softmax = result.output.split("  softmax ")[1].split("\n  softmax_backward")[0]
    assert "FAILED" in softmax
    assert "overflow" in softmax.lower()


def test_check_usage_errors() -> None:
    """Unknown module or missing folder: exit 2 with a message that says what to do?"""
    runner = CliRunner()
    unknown = runner.invoke(main, ["check", "tanh", "--course", str(ROOT)])
    assert unknown.exit_code == 2
    assert "unknown module tanh" in unknown.output and "activations" in unknown.output
    missing = runner.invoke(main, ["check", "--course", str(ROOT), "--path", "/nonexistent"])
    assert missing.exit_code == 2
    assert "no such folder" in missing.output


def test_check_from_python_returns_a_report(tmp_path: Path) -> None:
    """Does `check("neuron")` work from Python (as in a notebook) and return a report?"""
    import io

    from grader import check

    course = student_course(tmp_path)
    stream = io.StringIO()
    report = check("neuron", path=course / "exercises", course=course, stream=stream)
    assert report.ok
    assert "neuron.py" in stream.getvalue()
    assert repr(report) == "<CheckReport: 6/6 passed>"


def test_list_shows_functions_and_points() -> None:
    """Does `grader list` show every module, function and 100 points?"""
    result = CliRunner().invoke(main, ["list", "--course", str(ROOT)])
    assert result.exit_code == 0
    assert "neuron.py  (14 points)" in result.output
    assert "total: 100 points" in result.output


def test_schema_prints_the_result_schema() -> None:
    """Does `grader schema` print the pinned result schema?"""
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["properties"]["schema_version"] == {
        "description": schema["properties"]["schema_version"]["description"], "const": 1}
    assert schema["additionalProperties"] is False


def test_grade_the_example_class(tmp_path: Path) -> None:
    """Does the README's main job run as a real process: exit 0, a valid result per student,
    the gradebook, the summary on stdout and progress on stderr?"""
    out = tmp_path / "results"
    proc = run(["grade", str(ROOT / "examples" / "submissions"), "--out", str(out),
                "--gradescope"], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    rows = {r["student"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert set(rows) == {"ada", "ben", "cleo", "dev", "eve", "fay", "mallory"}
    assert float(rows["ada"]["total"]) == 100 and float(rows["fay"]["total"]) == 100
    assert float(rows["mallory"]["total"]) == 26
    for student, module in (("ben", "neuron"), ("cleo", "activations"), ("dev", "mlp"),
                            ("eve", "losses")):
        lost = [m for m in rows[student] if m in ("activations", "neuron", "layer",
                                                   "worked_example", "losses", "gradcheck",
                                                   "mlp", "sgd")
                and float(rows[student][m]) < float(rows["ada"][m])]
        assert lost == [module], (student, lost)
    assert "mean:" in proc.stdout and "most common misconceptions" in proc.stdout
    assert "[7/7]" in proc.stderr
    gradescope = json.loads((out / "ben.gradescope.json").read_text())
    assert {"score", "tests", "output"} <= gradescope.keys()


def test_grade_usage_error_for_missing_submission(tmp_path: Path) -> None:
    """Does grading a path that does not exist exit 2 with a clear message?"""
    result = CliRunner().invoke(main, ["grade", str(tmp_path / "nope"), "--out",
                                       str(tmp_path / "out"), "--course", str(ROOT)])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def _solution_bodies() -> list[str]:
    """The ast dumps of every graded function body of the reference solutions."""
    bodies = []
    for path in (ROOT / "solutions").glob("*.py"):
        stub = ast.parse((ROOT / "exercises" / path.name).read_text(encoding="utf-8"))
        graded = {n.name for n in stub.body if isinstance(n, ast.FunctionDef)
                  and any(isinstance(s, ast.Raise) for s in n.body)}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name in graded:
                bodies.append(ast.dump(ast.Module(body=node.body[1:], type_ignores=[])))
    return bodies


def test_release_holds_no_solution_and_no_hidden_test(tmp_path: Path) -> None:
    """Does the student bundle hold stubs, checks and the grader, but no solution body, no
    hidden test and no secret, and does `grader check`/`list` work inside it?"""
    out = tmp_path / "bundle"
    result = CliRunner().invoke(main, ["release", "--out", str(out), "--course", str(ROOT)])
    assert result.exit_code == 0, result.output
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not any("solutions" in p.parts or "autograde_tests" in p.parts for p in files)
    assert (out / "exercises" / "neuron.py").is_file()
    assert (out / "grader" / "cli" / "__init__.py").is_file()
    for shared in ("misconceptions.toml", "course_helpers.py"):  # what checks need to run
        assert (out / "checks" / shared).is_file(), shared
    bodies = set(_solution_bodies())
    hidden_names = {n.name for p in (ROOT / "autograde_tests").glob("*.py")
                    for n in ast.parse(p.read_text()).body
                    if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    for path in files:
        if path.suffix != ".py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                body = ast.dump(ast.Module(body=node.body[1:], type_ignores=[]))
                assert body not in bodies or "NotImplementedError" in body, (path, node.name)
                assert node.name not in hidden_names or path.parent.name != "checks", node.name
    config = (out / "course.toml").read_text()
    assert "secret =" not in config
    listed = run(["list"], cwd=out)
    assert listed.returncode == 0 and "total: 100 points" in listed.stdout
    checked = run(["check", "activations"], cwd=out)
    assert checked.returncode == 1 and "not implemented yet" in checked.stdout


def test_gradescope_entry_point_writes_results_json(tmp_path: Path) -> None:
    """Does `grader gradescope` grade /autograder/submission-like folders into results.json?"""
    results_file = tmp_path / "results" / "results.json"
    metadata = tmp_path / "submission_metadata.json"
    metadata.write_text(json.dumps({"id": 12345}))
    submission = tmp_path / "submission"
    with zipfile.ZipFile(ROOT / "examples" / "submissions" / "ben.zip") as archive:
        archive.extractall(submission)
    proc = run(["gradescope", "--submission", str(submission / "ben"),
                "--results", str(results_file), "--metadata", str(metadata),
                "--course", str(ROOT)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(results_file.read_text())
    assert 0 < payload["score"] < 100
    failed = [t for t in payload["tests"] if t["status"] == "failed"]
    assert failed and all(t["name"].startswith("neuron.") for t in failed)


@pytest.mark.parametrize("args", [["--help"], ["grade", "--help"], ["check", "--help"]])
def test_help_documents_exit_codes(args: list[str]) -> None:
    """Does every --help state the exit codes?"""
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0
    assert "Exit codes" in result.output and "2  usage error" in result.output


def test_gradescope_entry_point_still_writes_a_valid_file_when_it_fails(tmp_path: Path) -> None:
    """If the grader itself breaks inside Gradescope (here: a broken reference solution), does
    the student still get a valid results.json that says so?"""
    course = tmp_path / "course"
    for name in ("exercises", "solutions", "checks", "autograde_tests"):
        shutil.copytree(ROOT / name, course / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "course.toml", course / "course.toml")
    (course / "solutions" / "neuron.py").write_text("this is not python\n")
    results_file = tmp_path / "results.json"
    proc = run(["gradescope", "--submission", str(ROOT / "solutions"), "--results",
                str(results_file), "--metadata", str(tmp_path / "none.json"), "--course",
                str(course)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(results_file.read_text())
    assert payload["score"] == 0.0 and payload["tests"] == []
    assert "could not grade this submission" in payload["output"]
