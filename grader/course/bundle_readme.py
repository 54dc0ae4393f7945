"""The student bundle's ``README.md``: install, check, the course's own commands, and exactly
what to hand in. Written from what the course holds (its modules, checks, notes and
``[commands]``), so nothing in it is particular to one course."""

from __future__ import annotations

import ast
import textwrap

from grader.course.config import Course

__all__ = ["command_summary", "readme"]


def command_summary(course: Course, target: str) -> str:
    """The first paragraph of a course command's docstring, on one line, read from its file
    without running it (``target``: ``"commands/graph.py:graph"``); empty when there is none."""
    file, _, name = target.rpartition(":")
    try:
        tree = ast.parse((course.root / file).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return ""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            doc = ast.get_docstring(node) or ""
            return " ".join(doc.split("\n\n")[0].split())
    return ""


def _wrap(text: str) -> str:
    """``text`` wrapped at 90 columns; a list item's (``- ...``) later lines indented."""
    return textwrap.fill(text, width=90, subsequent_indent="  " if text.startswith("- ") else "")


def readme(course: Course, folder: str, zip_name: str, has_notes: bool) -> str:
    """The bundle's README.

    Parameters
    ----------
    course : Course
        The course released.
    folder : str
        The bundle folder's name (for ``pip install ./<folder>``).
    zip_name : str
        The file ``grader submit`` writes by default.
    has_notes : bool
        Whether the bundle ships the course's ``notes/``.

    Returns
    -------
    str
        Markdown.
    """
    first = course.modules[0]
    checks = course.checks.is_dir()
    modules = ", ".join(f"`{m}`" for m in course.modules)
    parts = [f"# {course.name}", "",
             _wrap("Fill in the functions of `exercises/` (each raises `NotImplementedError` "
                   "until you write it), " + ("check your work with the public checks, " if checks
                                              else "") + "and hand in the zip that "
                   "`grader submit` writes."), "",
             "## Install", "",
             "With Python 3.11 or later, in this folder:",
             "", "```bash", "python -m venv .venv && . .venv/bin/activate",
             "pip install -e .", "```", "",
             _wrap(f"or `pip install ./{folder}` from the folder above. This installs the "
                   "`grader` command and what the course needs (`pyproject.toml` lists it). "
                   "Run every `grader` command below in this folder. Use an environment of "
                   "its own (the virtual environment above, or your machine's Python), not "
                   "one that holds the instructor's grader: both provide `grader`."), "",
             "## What is here", "",
             _wrap(f"- `exercises/`: one module per topic, in this order: {modules}. Fill "
                   "them in; only the functions' bodies are yours to change.")]
    if has_notes:
        parts.append(_wrap("- `notes/`: the course's notes on the exercises (read them "
                           "first)."))
    if checks:
        parts.append("- `checks/`: the public checks that `grader check` runs (do not edit).")
    parts += ["- `course.toml`, `grader/`: the course's settings and the grader (do not edit).",
              "", "## Check your work", "", "```bash"]
    if checks:
        parts += ["grader check                   # every module",
                  f"grader check {first:<17} # one module",
                  "grader check --path work.ipynb # a notebook instead of exercises/"]
    parts += ["grader list                    # modules, functions and points", "```", ""]
    if checks:
        parts += [f'In a notebook in this folder: `from grader import check; check("{first}")`.',
                  "", _wrap("These are the public checks: passing them is necessary but not "
                            "sufficient. The graded run also compares every function with a "
                            "reference solution on new random inputs, different for every "
                            "student."), ""]
    else:
        parts += [_wrap("This course has no public checks: your work is graded by comparing "
                        "every function with a reference solution on random inputs, different "
                        "for every student."), ""]
    if course.commands:
        parts += ["## The course's own commands", ""]
        for name, target in course.commands.items():
            summary = command_summary(course, target)
            parts.append(_wrap(f"- `grader {name}`" + (f": {summary}" if summary else ""))
                         + f" Its options: `grader {name} --help`.")
        parts.append("")
    done = "some checks fail or " if checks else ""
    parts += ["## What to hand in", "", "```bash",
              f"grader submit                  # {'checks every module, then ' if checks else ''}"
              f"writes {zip_name}",
              "grader submit --out FILE.zip   # the same, into FILE.zip", "```", "",
              _wrap(f"Upload that zip, nothing else. It holds exactly the files that will be "
                    f"graded, flat: your modules ({', '.join(f'{m}.py' for m in course.modules)})"
                    " and your own helper modules beside them in `exercises/` (any other "
                    "importable `.py` file there). `grader submit` lists them under \"will be "
                    f"graded\" and names any file it will not take (\"found {first.title()}.py: "
                    f"rename it to {first}.py\"). `grader/`, `checks/` and this README are never "
                    "graded."),
              "",
              _wrap("Partial work counts: `grader submit` writes the zip even when "
                    f"{done}some functions are not written yet, says which, and exits 1 "
                    "instead of 0. Upload it as it is, or fix what it names and run `grader "
                    "submit` again: each function earns its own points."), ""]
    return "\n".join(parts)
