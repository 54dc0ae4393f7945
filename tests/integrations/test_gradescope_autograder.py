"""Gradescope's autograder zip, built and run as Gradescope runs it.

``grader release --gradescope`` builds the zip with the real CLI; it is unpacked (with ``unzip``
where installed) into a temporary ``/autograder``-shaped folder (``source/``, ``run_autograder``
copied beside it, ``submission/``, ``submission_metadata.json``), and ``run_autograder`` runs
as a subprocess with ``AUTOGRADER_ROOT`` pointing there, on the reference solutions (files, as
Gradescope unpacks an uploaded zip) and on ``ben`` (one mistake; his zip left packed). Its
``results.json`` is checked against Gradescope's documented format and against what
``grader grade --gradescope`` gives the same files under the same student id. ``setup.sh`` is
not run (apt, root): it is parsed with ``bash -n`` and read for what it installs, and the zip's
copy of the grader is built by setuptools as its ``pip install`` builds it (offline).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from grader.course.config import CourseError, load_course
from grader.integrations import gradescope

ROOT = Path(__file__).resolve().parents[2]
BIN = str(Path(sys.executable).parent)

_VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
_FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
#: Gradescope's results.json, as its autograder specification documents it (every field it
#: lists, and no other)
RESULTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["score", "tests"],
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "output_format": _FORMAT,
        "test_output_format": _FORMAT,
        "test_name_format": _FORMAT,
        "visibility": _VISIBILITY,
        "stdout_visibility": _VISIBILITY,
        "extra_data": {"type": "object"},
        "leaderboard": {"type": "array", "items": {
            "type": "object", "required": ["name", "value"],
            "properties": {"name": {"type": "string"}, "value": {},
                           "order": {"enum": ["asc", "desc"]}}}},
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "score", "max_score", "output", "visibility"],
            "additionalProperties": False,
            "properties": {
                "score": {"type": "number"}, "max_score": {"type": "number"},
                "status": {"enum": ["passed", "failed"]}, "name": {"type": "string"},
                "name_format": _FORMAT, "number": {"type": "string"},
                "output": {"type": "string"}, "output_format": _FORMAT,
                "tags": {"type": "array", "items": {"type": "string"}},
                "visibility": _VISIBILITY, "extra_data": {"type": "object"}}}},
    },
}
#: the run's own fields, which `grader grade --gradescope` does not write
RUN_FIELDS = ("execution_time", "stdout_visibility", "output_format", "test_output_format")


def _grader(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _course_copy(folder: Path, without: str = "") -> Path:
    """This repository's course (its ``course.toml`` and folders), copied to ``folder``."""
    for name in {*gradescope.COURSE_FOLDERS, "commands"} - {without}:
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "course.toml", folder / "course.toml")
    return folder


def _unpack(archive: Path, folder: Path) -> None:
    """Unpack as Gradescope does: with ``unzip`` (which keeps the members' Unix modes), or,
    where it is not installed, with zipfile and those modes applied the same way."""
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-q", str(archive), "-d", str(folder)], check=True)
        return
    with zipfile.ZipFile(archive) as members:
        for info in members.infolist():
            members.extract(info, folder)
            if info.external_attr >> 16:
                (folder / info.filename).chmod(info.external_attr >> 16 & 0o777)


def _autograder_root(source: Path, root: Path, users: list[int]) -> Path:
    """An /autograder-shaped folder as Gradescope lays it out for one submission."""
    (root / "submission").mkdir(parents=True)
    shutil.copytree(source, root / "source")
    shutil.copy2(source / "run_autograder", root / "run_autograder")
    metadata = {"id": 555000 + len(users), "created_at": "2026-12-07T10:00:00.000000-08:00",
                "assignment": {"title": "backprop", "total_points": "100.0"},
                "users": [{"email": f"s{u}@example.edu", "id": u, "name": f"Student {u}"}
                          for u in users]}
    (root / "submission_metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return root


def _start_autograder(root: Path, path: str) -> subprocess.Popen[str]:
    """Start ``run_autograder`` as Gradescope does (from the root), the root moved by
    ``AUTOGRADER_ROOT`` and ``path`` as ``PATH``."""
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": path}
    env.pop("GRADER_SECRET", None)
    return subprocess.Popen([str(root / "run_autograder")], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finished(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The zip built by the CLI, unpacked, run on two submissions, and the same two graded
    by `grader grade --gradescope`."""
    tmp = tmp_path_factory.mktemp("gradescope")
    archive = tmp / "out" / "autograder.zip"
    made = _grader("release", "--gradescope", archive, "--secret", "s3cret-for-test")
    assert made.returncode == 0, made.stderr
    source = tmp / "source"
    _unpack(archive, source)
    ada = _autograder_root(source, tmp / "ada", [1001])  # files, as Gradescope unpacks a zip
    shutil.copytree(ROOT / "solutions", ada / "submission", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    ben = _autograder_root(source, tmp / "ben", [4242, 17])  # a group of two
    # an upload Gradescope did not unpack (a zip in a zip) is graded as the zip it is
    shutil.copy2(ROOT / "examples" / "submissions" / "ben.zip", ben / "submission")
    # the same files under the ids the autograder gives them, for `grader grade`
    offline = tmp / "offline"
    shutil.copytree(ada / "submission", offline / "1001")
    shutil.copy2(ben / "submission" / "ben.zip", offline / "17+4242.zip")
    path = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    started = {name: _start_autograder(root, path) for name, root in (("ada", ada), ("ben", ben))}
    graded = _grader("grade", offline, "--out", tmp / "graded", "--gradescope",  # meanwhile
                     "--secret", "s3cret-for-test")
    runs = {name: _finished(process) for name, process in started.items()}
    return {"archive": archive, "source": source, "runs": runs, "graded": graded,
            "results": {n: json.loads((r / "results" / "results.json").read_text("utf-8"))
                        for n, r in (("ada", ada), ("ben", ben))},
            "offline": {n: json.loads((tmp / "graded" / f"{f}.gradescope.json").read_text())
                        for n, f in (("ada", "1001"), ("ben", "17%2B4242"))},
            "tmp": tmp, "roots": {"ada": ada, "ben": ben}}


@pytest.mark.slow
def test_the_zip_holds_what_gradescope_runs_and_the_whole_course(built: dict[str, Any]) -> None:
    with zipfile.ZipFile(built["archive"]) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 & 0o777 for i in archive.infolist()}
    for name in ("setup.sh", "run_autograder", "course.toml", gradescope.SECRET_FILE,
                 "package/pyproject.toml", "package/grader/__init__.py",
                 "package/grader/engine/schema/result.v1.json",
                 "solutions/neuron.py", "autograde_tests/test_neuron.py",
                 "checks/check_neuron.py", "checks/public_models.py", "exercises/neuron.py"):
        assert name in names, name
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert (built["source"] / "secret.txt").read_text() == "s3cret-for-test"
    assert os.access(built["source"] / "run_autograder", os.X_OK)  # unpacked with its mode


@pytest.mark.slow
def test_setup_sh_parses_and_installs_bubblewrap_and_the_zip_s_own_grader(
        built: dict[str, Any]) -> None:
    setup = built["source"] / "setup.sh"
    assert subprocess.run(["bash", "-n", str(setup)]).returncode == 0
    assert subprocess.run(["bash", "-n", str(built["source"] / "run_autograder")]
                          ).returncode == 0
    text = setup.read_text()
    assert "apt-get install" in text and "bubblewrap" in text
    assert 'pip install "$SOURCE/package"' in text
    assert "git+" not in text and "http" not in text  # our code comes from the zip only
    # what that pip install builds from the zip's copy (setuptools, as pip runs it, offline:
    # no wheel): the metadata (requirements, console script), the package with its data
    package, out = built["source"] / "package", built["tmp"] / "build"
    steps = (["egg_info", "-e", out / "meta"], ["build_py", "-d", out / "lib"])
    (out / "meta").mkdir(parents=True)
    for step in steps:
        made = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()",
                               "-q", *map(str, step)], cwd=package,
                              capture_output=True, text=True, timeout=300)
        assert made.returncode == 0, made.stderr
    (info,) = (out / "meta").glob("*.egg-info")
    assert "grader = grader.cli:main" in (info / "entry_points.txt").read_text()
    requires = (info / "requires.txt").read_text().split()
    for requirement in ("numpy", "click", "jsonschema", "scikit-learn"):
        assert any(r.startswith(requirement) for r in requires), requires
    lib = out / "lib" / "grader"
    for name in ("api.py", "cli/__init__.py", "engine/schema/result.v1.json",
                 "exports/templates/report.html"):
        assert (lib / name).is_file(), name


@pytest.mark.slow
def test_run_autograder_writes_gradescope_s_results_json(built: dict[str, Any]) -> None:
    for name, run in built["runs"].items():
        assert run.returncode == 0, (name, run.stdout, run.stderr)
        payload = built["results"][name]
        jsonschema.validate(payload, RESULTS_SCHEMA)
        assert payload["stdout_visibility"] == "hidden"
        assert payload["score"] == pytest.approx(sum(t["score"] for t in payload["tests"]))
        assert sum(t["max_score"] for t in payload["tests"]) == pytest.approx(100)
    assert built["results"]["ada"]["score"] == pytest.approx(100)
    ben = built["results"]["ben"]
    assert 0 < ben["score"] < 100
    failed = [t for t in ben["tests"] if t["status"] == "failed"]
    assert failed and all(t["name"].startswith("neuron.") for t in failed)
    assert any("Missing factor 2" in t["output"] for t in failed)


@pytest.mark.slow
def test_run_autograder_leaves_the_course_and_the_metadata_readable_by_their_owner_only(
        built: dict[str, Any]) -> None:
    """Where the sandbox can only run a submission as another user, that user must not read
    the hidden tests, the solutions, the secret or the students' emails."""
    for root in built["roots"].values():
        private = [root / "submission_metadata.json", root / "source",
                   *(root / "source").rglob("*")]
        assert len(private) > 50
        shared = [p for p in private if not p.is_symlink() and p.stat().st_mode & 0o077]
        assert shared == []
        assert (root / "source" / gradescope.SECRET_FILE) in private


@pytest.mark.slow
def test_the_score_is_what_grader_grade_gives_the_same_files(built: dict[str, Any]) -> None:
    assert built["graded"].returncode == 0, built["graded"].stderr
    for name in ("ada", "ben"):
        autograder = {k: v for k, v in built["results"][name].items() if k not in RUN_FIELDS}
        assert autograder["score"] == built["offline"][name]["score"]
        # the same student id and secret: the same inputs, so the very same tests and text
        assert autograder == built["offline"][name]


def test_release_refuses_an_existing_zip_and_a_missing_target_with_usage_errors(
        tmp_path: Path) -> None:
    taken = tmp_path / "taken.zip"
    taken.write_bytes(b"keep me")
    bundle = tmp_path / "bundle"
    for args, words in (([], "--gradescope FILE.zip"),
                        (["--gradescope", taken], "exists"),
                        (["--out", bundle, "--gradescope", taken], "exists")):
        run = _grader("release", *args)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert words in run.stderr and "Traceback" not in run.stderr, (args, run.stderr)
    assert taken.read_bytes() == b"keep me"
    assert not bundle.exists()  # a refused zip writes no student bundle either


def test_a_zip_path_must_be_a_new_zip_file_where_one_can_be_made(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    for path, words in ((tmp_path, "is a folder"), (tmp_path / "autograder.tar", ".zip"),
                        (tmp_path / "a-file" / "autograder.zip", "not a folder")):
        with pytest.raises(CourseError, match=words):
            gradescope.check_target(path)
    gradescope.check_target(tmp_path / "new" / "folders" / "autograder.zip")  # made on write


def test_run_autograder_that_cannot_grade_still_writes_valid_results(tmp_path: Path) -> None:
    script = tmp_path / "run_autograder"
    script.write_text(gradescope.RUN_AUTOGRADER, encoding="utf-8")
    script.chmod(0o755)
    for path, reason in (("/usr/bin:/bin", "did setup.sh fail?"),  # no grader installed
                         (f"{BIN}{os.pathsep}/usr/bin:/bin", "exit code 2")):  # no course
        run = _finished(_start_autograder(tmp_path, path))
        assert run.returncode != 0 and reason in run.stderr, (run.stdout, run.stderr)
        payload = json.loads((tmp_path / "results" / "results.json").read_text())
        jsonschema.validate(payload, RESULTS_SCHEMA)
        # the student reads a generic message; the reason is in the instructor's output only
        assert payload == {"score": 0, "output": gradescope.FAILURE_MESSAGE, "tests": [],
                           "visibility": "visible", "stdout_visibility": "hidden",
                           "output_format": "text", "test_output_format": "text"}


def test_a_grader_failure_tells_the_student_nothing_of_the_host_and_the_instructor_why(
        tmp_path: Path) -> None:
    """A course that loads but cannot grade (its solutions are missing), a corrupt metadata
    file and a sandbox forced below bubblewrap, in one run of `grader gradescope`."""
    course = _course_copy(tmp_path / "course", without="solutions")
    (tmp_path / "submission").mkdir()
    shutil.copy2(ROOT / "examples" / "submissions" / "ben.zip", tmp_path / "submission")
    metadata = tmp_path / "submission_metadata.json"
    metadata.write_text('{"id": 12, "users": [', encoding="utf-8")
    results_file = tmp_path / "results" / "results.json"
    env = {**os.environ, "GRADER_ISOLATION": "none"}
    run = subprocess.run([sys.executable, "-m", "grader", "gradescope", "--course", str(course),
                          "--submission", str(tmp_path / "submission"), "--metadata",
                          str(metadata), "--results", str(results_file)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.stdout, run.stderr)
    payload = json.loads(results_file.read_text(encoding="utf-8"))
    jsonschema.validate(payload, RESULTS_SCHEMA)
    assert payload["score"] == 0 and payload["output"] == gradescope.FAILURE_MESSAGE
    assert str(tmp_path) not in results_file.read_text(encoding="utf-8")
    assert payload["visibility"] == "visible" and payload["stdout_visibility"] == "hidden"
    # the instructor-only output: why, with the paths, and under which id it was graded
    assert "CourseError: no reference solutions at " + str(course / "solutions") in run.stdout
    assert "graded as student id 'submission'" in run.stdout
    assert "is not valid JSON" in run.stdout
    assert "WARNING: reduced isolation (none)" in run.stderr  # what `grader grade` says


def test_the_student_is_the_users_of_the_submission(tmp_path: Path) -> None:
    metadata = tmp_path / "submission_metadata.json"
    for data, expected, why in (
            ({"id": 9, "users": [{"id": 31, "email": "a@b"}]}, "31", "the Gradescope id"),
            ({"id": 9, "users": [{"id": 31}, {"id": 7}]}, "31+7", "of its 2 users"),
            ({"id": 9, "users": []}, "9", "no users: the submission's own id"),
            ({"users": "nonsense"}, "submission", "neither users nor an id"),
            ([1, 2], "submission", "not a JSON object")):
        metadata.write_text(json.dumps(data), encoding="utf-8")
        assert gradescope.identify(metadata)[0] == expected, data
        assert gradescope.identify(metadata)[0] == expected
        assert why in gradescope.identify(metadata)[1], (data, gradescope.identify(metadata))
    metadata.write_text('{"id": 12, "users": [', encoding="utf-8")
    assert gradescope.identify(metadata)[0] == "submission"  # not 12: nothing is guessed
    assert "is not valid JSON" in gradescope.identify(metadata)[1]
    assert gradescope.identify(tmp_path / "missing.json")[0] == "submission"
    assert "cannot be read" in gradescope.identify(tmp_path / "missing.json")[1]
    assert gradescope.identify(None)[0] == "submission"


def test_release_refuses_to_build_an_autograder_from_a_student_bundle(tmp_path: Path) -> None:
    bundle, archive = tmp_path / "bundle", tmp_path / "autograder.zip"
    assert _grader("release", "--out", bundle).returncode == 0
    run = _grader("release", "--gradescope", archive, cwd=bundle)
    assert run.returncode == 2, (run.stdout, run.stderr)
    (error,) = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert "no hidden tests" in error and "instructor's course" in error, run.stderr
    assert "Traceback" not in run.stderr
    assert not archive.exists()


def test_the_zip_takes_the_course_s_stubs_from_exercises_and_nothing_else(
        tmp_path: Path) -> None:
    course = _course_copy(tmp_path / "course")
    (course / "exercises" / "Layer.py").write_text("# a student's stray copy\n")
    (course / "exercises" / "scratch").mkdir()
    (course / "exercises" / "scratch" / "notes.py").write_text("x = 1\n")
    names = [n for n, _ in gradescope._course_files(load_course(course))
             if n.startswith("exercises/")]
    assert names == [f"exercises/{m}.py" for m in load_course(course).modules]
