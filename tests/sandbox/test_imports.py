"""Imports in the sandbox: whatever the grader's interpreter can import of numpy and the standard
library imports the same in every start mode and isolation level, wherever the venv lives;
only what the course allows is importable besides, with one clear message for the rest, in
`grader grade` and `grader check` alike."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy
import pytest
from conftest import _reachable_by_nobody, _venv_under_tmp, base_python

from grader.engine import results
from grader.sandbox import launch
from grader.sandbox.box import Sandbox
from grader.sandbox.isolation import Isolation, detect
from grader.sandbox.limits import Limits

ROOT = Path(__file__).resolve().parents[2]
FAST = Limits(call_timeout=20.0, submission_timeout=120.0)
ON_CI = os.environ.get("CI") == "true"

needs_bwrap = pytest.mark.skipif(detect().level != "bubblewrap",
                                 reason="needs bubblewrap (apt-get install bubblewrap)")

IMPORTER = """\
import importlib
import json
import os
import sys


def imports(names):
    found = {}
    for name in names:
        try:
            importlib.import_module(name)
            found[name] = "ok"
        except BaseException as exc:
            found[name] = f"{type(exc).__name__}: {exc}"
    return found


def without_guard(name):
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "ImportGuard"]
    try:
        importlib.import_module(name)
        return "imported"
    except ImportError as exc:
        return type(exc).__name__


def parent_listing():
    here = os.getcwd()
    out = {}
    for up in (os.path.dirname(here), os.path.dirname(os.path.dirname(here))):
        try:
            os.listdir(up)
            out[up] = "listed"
        except PermissionError:
            out[up] = "refused"
    return out


def site_listing():
    import site
    return {p: sorted(os.listdir(p)) for p in site.getsitepackages() if os.path.isdir(p)}
"""


def _public_numpy_modules() -> list[str]:
    """numpy's public submodules that this interpreter itself imports."""
    names = [f"numpy.{m.name}" for m in pkgutil.iter_modules(numpy.__path__)
             if not m.name.startswith("_") and m.name not in ("conftest", "setup", "tests")]
    found = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            continue
        found.append(name)
    return sorted(found)


STDLIB = ["json", "math", "functools", "itertools", "collections", "typing", "dataclasses",
          "statistics", "random", "decimal", "fractions", "sysconfig", "unittest", "ctypes"]

MODES = [("bubblewrap", "warm"), ("bubblewrap", "cold"), ("uid", "cold"), ("none", "cold")]


@pytest.fixture(params=MODES, ids=["-".join(m) for m in MODES])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Isolation]:
    """Each isolation level and start mode this machine offers."""
    level, start = request.param
    if level == "bubblewrap" and detect().level != "bubblewrap":
        pytest.skip("needs bubblewrap")
    if level == "uid":
        if os.geteuid() != 0:
            pytest.skip("the uid level needs root")
        try:
            subprocess.run([sys.executable, "-c", ""], check=True,
                           preexec_fn=Isolation("uid", (), ()).preexec())
        except (OSError, subprocess.SubprocessError):
            pytest.skip("this Python is not runnable by uid 65534 (under a private home)")
    monkeypatch.setenv(launch.ENV_WARM, "1" if start == "warm" else "0")
    if start == "warm" and not launch.warm_allowed(detect()):
        pytest.fail(f"warm starts are off: {launch.warm_problem(detect())}")
    yield detect() if level == "bubblewrap" else Isolation(level, (), ())


@pytest.fixture()
def importer(tmp_path: Path) -> Path:
    folder = tmp_path / "importer"
    folder.mkdir()
    (folder / "importer.py").write_text(IMPORTER, encoding="utf-8")
    (folder / "my_helper.py").write_text("VALUE = 3\n", encoding="utf-8")
    return folder


def test_does_every_numpy_submodule_and_the_stdlib_import_in_every_mode(
        mode: Isolation, importer: Path) -> None:
    """Does every public numpy submodule this interpreter imports (numpy.typing, fft, ma,
    polynomial, testing ...), the standard library and the student's own helper module
    import in the child, several children in a row (a warm zygote's later children too)?"""
    wanted = [*_public_numpy_modules(), *STDLIB, "my_helper"]
    assert {"numpy.typing", "numpy.fft", "numpy.ma", "numpy.polynomial",
            "numpy.testing"} <= set(wanted)
    for _ in range(3):
        with Sandbox(importer, FAST, isolation=mode) as box:
            found = box.call("importer", "imports", [wanted]).value
        assert {k: v for k, v in found.items() if v != "ok"} == {}


def test_is_a_package_the_course_does_not_allow_refused_with_one_clear_message(
        mode: Isolation, importer: Path) -> None:
    """Is scikit-learn (installed here) refused with one line naming what is allowed, and
    importable once the course allows it?"""
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed")
    with Sandbox(importer, FAST, isolation=mode) as box:
        refused = box.call("importer", "imports", [["sklearn", "click", "grader"]]).value
    for name in ("sklearn", "click", "grader"):
        assert refused[name] == (
            f"ModuleNotFoundError: {name} is not available here: a submission may import "
            "numpy, its submodules, the Python standard library and its own .py modules "
            "beside its exercise modules (not folders)")
    allowing = Limits(FAST.call_timeout, FAST.submission_timeout, allow_imports=("sklearn",))
    with Sandbox(importer, allowing, isolation=mode) as box:
        found = box.call("importer", "imports",
                         [["sklearn.neural_network", "scipy.linalg", "click"]]).value
    assert found["sklearn.neural_network"] == found["scipy.linalg"] == "ok"
    also = [n for n in mode.allowing(["sklearn"]).importable() if n != "numpy"]
    assert {"sklearn", "scipy"} <= set(also)
    assert found["click"].endswith(f"(this course also allows: {', '.join(also)})")


@needs_bwrap
def test_is_what_the_course_does_not_allow_absent_under_bubblewrap(
        importer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under bubblewrap, does site-packages show only numpy (and what numpy's wheel vendors),
    so that a submission that removes the import guard still cannot import scikit-learn?"""
    for start in ("1", "0"):
        monkeypatch.setenv(launch.ENV_WARM, start)
        with Sandbox(importer, FAST) as box:
            listing = box.call("importer", "site_listing").value
            assert box.call("importer", "without_guard", ["sklearn"]).value == \
                "ModuleNotFoundError"
        for names in listing.values():
            assert {re.split(r"[-.]", n)[0] for n in names} == {"numpy"}, names


UID_SCRIPT = """\
import importlib, json, pkgutil, sys
import numpy
from grader.sandbox.isolation import Isolation
from grader.sandbox.box import Sandbox
from grader.sandbox.limits import Limits

folder, stdlib = sys.argv[1], sys.argv[2].split(",")
numpy_modules = []
for m in pkgutil.iter_modules(numpy.__path__):
    if m.name.startswith("_") or m.name in ("conftest", "setup", "tests"):
        continue
    try:
        importlib.import_module("numpy." + m.name)
    except Exception:
        continue
    numpy_modules.append("numpy." + m.name)
level = Isolation("uid", (), ())
limits = Limits(call_timeout=20.0, submission_timeout=120.0)
failed = []
for _ in range(3):
    with Sandbox(folder, limits, isolation=level) as box:
        found = box.call("importer", "imports", [[*numpy_modules, *stdlib, "my_helper"]]).value
    failed.append({k: v for k, v in found.items() if v != "ok"})
with Sandbox(folder, limits, isolation=level) as box:
    refused = box.call("importer", "imports", [["sklearn", "grader"]]).value
    listing = box.call("importer", "parent_listing").value
print(json.dumps({"numpy": numpy_modules, "failed": failed, "refused": refused,
                  "listing": listing}))
"""


def test_at_the_uid_level_does_every_numpy_submodule_import_and_sklearn_get_one_line(
        importer: Path, tmp_path: Path) -> None:
    """The uid level (root without bubblewrap: the child drops to uid 65534) run from a Python
    that uid 65534 can start (this one lives under a private home): do numpy's public
    submodules, the standard library and the student's helper import, three children in a
    row, is scikit-learn refused with the one clear line, and can the child not list the
    folders that hold its own (where another student's would be)?"""
    if os.geteuid() != 0:
        pytest.skip("the uid level needs root")
    python = _venv_under_tmp()
    if not _reachable_by_nobody(python):
        message = f"no Python here that uid 65534 can start (tried {base_python()})"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    with tempfile.TemporaryDirectory(prefix="grader-uid-") as shared:  # pytest's is 0700
        folder = Path(shared) / "importer"
        shutil.copytree(importer, folder)
        for path in (Path(shared), folder, *folder.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        proc = subprocess.run([str(python), "-c", UID_SCRIPT, str(folder), ",".join(STDLIB)],
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert {"numpy.typing", "numpy.fft", "numpy.ma", "numpy.polynomial",
            "numpy.testing"} <= set(report["numpy"])
    assert report["failed"] == [{}, {}, {}]
    for name in ("sklearn", "grader"):
        assert report["refused"][name] == (
            f"ModuleNotFoundError: {name} is not available here: a submission may import "
            "numpy, its submodules, the Python standard library and its own .py modules "
            "beside its exercise modules (not folders)")
    assert list(report["listing"].values()) == ["refused", "refused"], report["listing"]


# -- through the real command line -----------------------------------------------------------
STUDENT = """\
import numpy as np
import numpy.fft
import numpy.ma
import numpy.polynomial
import numpy.testing
from numpy.typing import NDArray
{extra}


def add_one(x) -> NDArray[np.float64]:
    return np.asarray(x, dtype=np.float64) + 1.0
"""


def _toy_class(tmp_path: Path, extra: str = "") -> Path:
    folder = tmp_path / "class" / "s1"
    folder.mkdir(parents=True)
    (folder / "toy.py").write_text(STUDENT.replace("{extra}", extra), encoding="utf-8")
    return folder.parent


def _grade(python: str, course: Path, klass: Path, out: Path, warm: bool) -> results.Result:
    env = {**os.environ, launch.ENV_WARM: "1" if warm else "0"}
    proc = subprocess.run([python, "-m", "grader", "grade", str(klass), "--out", str(out),
                           "--jobs", "1", "--course", str(course), "--force"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (graded,) = results.load_all(out)
    return graded


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_does_grade_score_numpy_submodule_imports_fully(
        warm: bool, toy_course: object, tmp_path: Path) -> None:
    """With the normal installation, does `python -m grader grade` give full points to a
    correct module that imports numpy.typing, fft, ma, polynomial and testing?"""
    graded = _grade(sys.executable, tmp_path / "course", _toy_class(tmp_path),
                    tmp_path / "out", warm)
    assert graded["score"] == 2.0, graded


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_with_the_venv_under_tmp_do_numpy_submodules_import_in_grade_and_check(
        warm: bool, toy_course: object, tmp_path: Path) -> None:
    """With the grader's venv under /tmp (whose binds once vanished when the sandbox's /tmp
    was emptied), does `grade` give full points to the same module, twice in a row in one
    worker, and is scikit-learn (installed in that venv) still refused?"""
    python = str(_venv_under_tmp())
    assert python.startswith("/tmp/")
    klass = _toy_class(tmp_path, extra="")
    (klass / "s2").mkdir()
    shutil.copy(klass / "s1" / "toy.py", klass / "s2" / "toy.py")
    env = {**os.environ, launch.ENV_WARM: "1" if warm else "0"}
    out = tmp_path / "out"
    proc = subprocess.run([python, "-m", "grader", "grade", str(klass), "--out", str(out),
                           "--jobs", "1", "--course", str(tmp_path / "course")],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["score"] for r in results.load_all(out)] == [2.0, 2.0]
    sklearn = _toy_class(tmp_path / "sk", extra="import sklearn")
    graded = _grade(python, tmp_path / "course", sklearn, tmp_path / "out-sk", warm)
    assert graded["score"] == 0.0
    assert "sklearn is not available here" in str(graded)


CHECK_STUDENT = '''\
"""Activations that lean on a package the course does not allow."""
import sklearn  # noqa: F401

'''


def _course_copy(target: Path, allow: list[str]) -> Path:
    for name in ("exercises", "solutions", "checks", "autograde_tests"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    config = (ROOT / "course.toml").read_text(encoding="utf-8")
    config = re.sub(r"allow_imports = .*", f"allow_imports = {allow!r}".replace("'", '"'),
                    config)
    (target / "course.toml").write_text(config, encoding="utf-8")
    return target


@needs_bwrap
@pytest.mark.parametrize("allow", [[], ["sklearn"]], ids=["default", "allowing-sklearn"])
def test_does_check_apply_the_courses_import_rule(allow: list[str], tmp_path: Path) -> None:
    """Does `python -m grader check` refuse scikit-learn with the same one line as `grade`,
    and pass the same file once course.toml allows it?"""
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed")
    course = _course_copy(tmp_path / "course", allow)
    mine = tmp_path / "mine"
    shutil.copytree(ROOT / "exercises", mine)
    solution = (ROOT / "solutions" / "activations.py").read_text(encoding="utf-8")
    (mine / "activations.py").write_text(CHECK_STUDENT + solution, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "grader", "check", "activations", "--path",
                           str(mine), "--course", str(course)],
                          capture_output=True, text=True, timeout=600)
    shown = proc.stdout + proc.stderr
    if allow:
        assert proc.returncode == 0, shown[-3000:]
        assert "sklearn is not available" not in shown
    else:
        assert proc.returncode == 1, shown[-3000:]
        assert "sklearn is not available here: a submission may import numpy, its " \
               "submodules, the Python standard library and its own .py modules" in shown


def test_does_the_course_read_allow_imports(tmp_path: Path) -> None:
    """Is `[grading] allow_imports` read into Course.allow_imports (default: none), and a
    malformed value refused with the key's name?"""
    from grader.course.config import CourseError, load_course

    course = _course_copy(tmp_path / "course", ["scipy"])
    assert load_course(course).allow_imports == ("scipy",)
    assert load_course(ROOT).allow_imports == ()
    text = (course / "course.toml").read_text(encoding="utf-8")
    (course / "course.toml").write_text(text.replace('["scipy"]', '"scipy"'), encoding="utf-8")
    with pytest.raises(CourseError, match="allow_imports"):
        load_course(course)
