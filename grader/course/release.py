"""The student bundle: stubs, public checks and the grader, without solutions or hidden tests."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from grader.api import listing
from grader.course.config import Course

#: what a release may never contain (folders of the course root)
SECRET_PARTS = ("solutions", "autograde_tests")


def release(course: Course, out: Path) -> list[Path]:
    """Write the student bundle into ``out``.

    The bundle holds ``course.toml`` (without the secret, with a ``[points]`` table so
    ``grader list`` still shows the points, and the ``[calls]`` the graded run isolates),
    ``exercises/``, ``checks/``, the ``grader`` package and its ``pyproject.toml``, and a short
    README. Nothing of ``solutions/`` or ``autograde_tests/`` is copied, and nothing copied
    answers an exercise: the grader's own numerics are not the exercise's formulas
    (`grader.authoring.gradcheck`), which ``tests/test_bundle_answers.py`` proves by grading a
    submission built from the bundle's code.

    Returns
    -------
    list of Path
        Every file written.
    """
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    package = Path(__file__).resolve().parents[1]
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(course.exercises, out / "exercises", ignore=ignore)
    shutil.copytree(course.checks, out / "checks", ignore=ignore)
    shutil.copytree(package, out / "grader", ignore=ignore)
    pyproject = package.parent / "pyproject.toml"
    if pyproject.is_file():
        shutil.copy2(pyproject, out / "pyproject.toml")
    (out / "course.toml").write_text(_student_config(course), encoding="utf-8")
    (out / "README.md").write_text(_readme(course), encoding="utf-8")
    written = sorted(p for p in out.rglob("*") if p.is_file())
    leaked = [p for p in written if any(part in SECRET_PARTS for part in p.parts)]
    if leaked:
        raise RuntimeError(f"release would leak instructor files: {leaked}")
    return written


def _student_config(course: Course) -> str:
    config = tomllib.loads((course.root / "course.toml").read_text(encoding="utf-8"))
    section = config.get("course", {})
    grading = config.get("grading", {})
    lines = ["# Student copy: no secret, points listed for `grader list`.", "[course]"]
    for key in ("name", "assignment"):
        lines.append(f"{key} = {_toml(section.get(key, ''))}")
    lines.append("modules = [" + ", ".join(_toml(m) for m in course.modules) + "]")
    if "misconceptions" in section:  # the file ships with the checks; keep its path
        lines.append(f"misconceptions = {_toml(course.misconceptions_file)}")
    lines += ["", "[grading]"]
    for key, value in grading.items():
        if key != "secret":
            lines.append(f"{key} = {_toml(value)}")
    lines += ["", "[functions]"]
    for module in course.modules:
        lines.append(f"{module} = [" + ", ".join(_toml(f) for f in course.functions(module))
                     + "]")
    if course.calls:  # which calls the graded run isolates; `grader check` blames along them
        lines += ["", "[calls]"]
        for function, calls in course.calls.items():
            lines.append(f"{_toml(function)} = [" + ", ".join(_toml(c) for c in calls) + "]")
    lines += ["", "[points]"]
    for module, functions in listing(course).items():
        for function, points in functions.items():
            lines.append(f'"{module}.{function}" = {points:g}')
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):  # TOML's booleans are lower case (str(True) is not TOML)
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def _readme(course: Course) -> str:
    return f"""# {course.name}

Fill in the functions in `exercises/` (each raises `NotImplementedError` until you do), then
check your work:

    pip install -e .
    grader check            # every module
    grader check neuron     # one module
    grader list             # modules, functions and points

In a notebook: `from grader import check; check("neuron")`.

These are the public checks. The graded run also compares every function with a reference
solution on new random inputs, different for every student.
"""
