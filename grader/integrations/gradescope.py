"""Gradescope's autograder: the zip an instructor uploads, and what runs inside it.

`build` writes ``autograder.zip`` (``grader release --gradescope``). Gradescope extracts it
into ``/autograder/source`` and runs, once when it builds the image, its ``setup.sh``
(bubblewrap and a Python of at least 3.11 from apt, then the grader from the zip's own copy in
``package/``, in a virtual environment ``/autograder/venv``), and for every submission its
``run_autograder`` (``grader gradescope`` on ``/autograder/submission``). The zip's root is the
course folder itself, with its hidden tests, its solutions and its secret: it is the
instructor's upload and must never reach a student. Both scripts take their root from
``$AUTOGRADER_ROOT`` (default ``/autograder``), so the autograder can be tried on any machine.

`identify` is who a submission belongs to (its ``submission_metadata.json``) and why, `failure`
the ``results.json`` of a submission the grader could not grade (a generic message: the
reason, with the host's paths, goes to the instructor-only output), and `finish` completes a
``results.json`` with the fields Gradescope reads about the run itself.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType

from grader.course.bundle_project import framework, project_text
from grader.course.config import Course, CourseError
from grader.course.points import listing, verify
from grader.engine.results import write_json
from grader.exports.gradebook import GradescopeResult
from grader.util import inert
from grader.util.files import atomic_open

__all__ = ["FAILURE_MESSAGE", "PACKAGE", "RUN_FIELDS", "SECRET_FILE", "build", "check_target",
           "failure", "finish", "identify", "submission_entry"]

#: where the zip keeps its copy of the grader (what ``setup.sh`` installs)
PACKAGE = "package"
#: the file of the zip holding the course secret (``run_autograder`` exports it)
SECRET_FILE = "secret.txt"
#: the course's folders that go into the autograder (the hidden tests and solutions too)
COURSE_FOLDERS = ("exercises", "checks", "solutions", "autograde_tests")
#: what is never copied from a folder: caches and compiled files
_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
_EXECUTABLE = 0o755
_READABLE = 0o644
#: what a student reads when the grader could not grade their submission (why: in stdout)
FAILURE_MESSAGE = ("The autograder could not grade this submission; your instructor has the "
                   "details.")
#: the fields of a results.json about the run itself (``execution_time`` besides)
RUN_FIELDS: Mapping[str, str] = MappingProxyType(
    {"stdout_visibility": "hidden", "output_format": "text", "test_output_format": "text"})

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root on its Ubuntu image, when it builds the autograder:
# bubblewrap (the grader's sandbox), a Python of at least 3.11, and the grader installed
# into a virtual environment from this zip's own copy (package/). pip fetches the grader's
# requirements from PyPI, never the grader itself.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends bubblewrap python3 python3-venv python3-pip
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        PYTHON="$candidate"
        break
    fi
done
if [ -z "$PYTHON" ]; then  # Ubuntu 22.04: python3 is 3.10, python3.11 is a package
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
    PYTHON=python3.11
fi
"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --upgrade pip
"$ROOT/venv/bin/python" -m pip install "$SOURCE/package"
# the build log shows which protections of the sandbox are active in Gradescope's container
(cd "$SOURCE" && "$ROOT/venv/bin/grader" doctor) || true
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: it grades $ROOT/submission with the course in
# $ROOT/source and writes $ROOT/results/results.json (score, tests, visibility). ROOT is
# $AUTOGRADER_ROOT, by default /autograder (set it to try the autograder on your machine).
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
fail() {  # whatever went wrong, a results.json the student can read (the reason: in stdout)
    echo "run_autograder: $1" >&2
    cat > "$RESULTS" <<'JSON'
@FAILURE@
JSON
    exit 1
}
GRADER="$ROOT/venv/bin/grader"
if [ ! -x "$GRADER" ]; then  # not installed by setup.sh: the grader on PATH, if any
    GRADER="$(command -v grader || true)"
fi
[ -n "$GRADER" ] || fail "no grader in $ROOT/venv (did setup.sh fail?) nor on PATH"
# What a submission must never read, even where the sandbox falls back to running it as
# another user (Gradescope's container may refuse bubblewrap's namespaces; `grader doctor` in
# the build log says): the course with its hidden tests, solutions and secret, and the
# students' names and emails in the metadata. The grader reads them as their owner.
chmod -R go-rwx "$SOURCE" "$ROOT/submission_metadata.json" 2>/dev/null || true
if [ -f "$SOURCE/secret.txt" ]; then
    GRADER_SECRET="$(cat "$SOURCE/secret.txt")"
    export GRADER_SECRET
fi
"$GRADER" gradescope --course "$SOURCE" --submission "$ROOT/submission" \\
    --metadata "$ROOT/submission_metadata.json" --results "$RESULTS"
status=$?
[ -s "$RESULTS" ] || fail "grader gradescope wrote no results.json (exit code $status)"
exit "$status"
"""
RUN_AUTOGRADER = RUN_AUTOGRADER.replace("@FAILURE@", json.dumps(
    {"score": 0, "output": FAILURE_MESSAGE, "tests": [], "visibility": "visible",
     **RUN_FIELDS}))

NOTICE = """\
# Gradescope autograder: {name}

Built by `grader release --gradescope`. Upload this zip, as it is, in Gradescope:
Programming Assignment > Configure Autograder > Zip file upload (an Ubuntu base image).

INSTRUCTORS ONLY. It holds the hidden tests (autograde_tests/), the reference solutions
(solutions/) and the course secret ({secret}): anyone who has it can read every answer and
compute every student's inputs. Never give it to students; they get `grader release --out`.

- setup.sh: run once when Gradescope builds the image (bubblewrap, Python, the grader from
  package/).
- run_autograder: run for every submission; writes /autograder/results/results.json.
"""


def build(course: Course, path: Path) -> list[str]:
    """Write Gradescope's autograder zip for ``course`` at ``path``.

    The zip holds, at its root, ``setup.sh`` and ``run_autograder`` (both executable), the
    course folder's ``course.toml``, its stubs (``exercises/<module>.py``, nothing else found
    there), its ``checks/``, ``solutions/`` and ``autograde_tests/`` (with the misconceptions
    file and the folders of the course's own commands where they lie elsewhere), the course
    secret in ``secret.txt``, the grader in ``package/`` (its ``pyproject.toml`` requiring the
    grader's own requirements and the course's ``[course] dependencies``) and
    ``AUTOGRADER.md`` saying what it is. Nothing is written unless the course loads as
    ``grader grade`` loads it (its hidden tests, its ``[points]``), and the zip appears only
    when complete.

    Parameters
    ----------
    course : Course
        The instructor's course, its secret resolved (``--secret``, ``$GRADER_SECRET``, then
        ``course.toml``).
    path : Path
        The zip to write: a new file whose name ends in ``.zip``.

    Returns
    -------
    list of str
        The names of the zip's members, in order.

    Raises
    ------
    CourseError
        ``path`` exists or cannot be a new zip, the course has no hidden tests or no solutions
        (a student bundle), the course's checks or hidden tests do not load, or its
        ``[points]`` disagree with its hidden tests.
    """
    check_target(path)
    absent = [f"{f.name}/" for f in (course.hidden_tests, course.solutions) if not f.is_dir()]
    if absent:
        raise CourseError(f"{course.root} has no {' and no '.join(absent)} (no hidden tests or "
                          "solutions here: a student bundle?); build the autograder from the "
                          "instructor's course")
    course.collect(hidden=False)  # the public checks load as `grader check` loads them
    verify(course, listing(course))  # the hidden tests load as `grader grade` loads them
    members = dict(_course_files(course))
    package = Path(__file__).resolve().parents[1]
    members.update((f"{PACKAGE}/grader/{name}", source)
                   for name, source in _tree(package))
    texts = {"setup.sh": SETUP_SH, "run_autograder": RUN_AUTOGRADER,
             f"{PACKAGE}/pyproject.toml": _pyproject(course, package),
             "AUTOGRADER.md": NOTICE.format(
                 name=course.name, secret=SECRET_FILE if course.secret else "none: set one")}
    if course.secret:
        texts[SECRET_FILE] = course.secret
    try:
        with atomic_open(path, binary=True) as fh, \
                zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in texts.items():
                mode = _EXECUTABLE if name in ("setup.sh", "run_autograder") else _READABLE
                archive.writestr(_info(name, mode), text)
            for name, source in sorted(members.items()):
                archive.writestr(_info(name, _READABLE), source.read_bytes())
    except OSError as exc:
        raise CourseError(f"cannot write {path}: {exc.strerror or exc}") from None
    return [*texts, *sorted(members)]


def identify(metadata: Path | None) -> tuple[str, str]:
    """Who a submission belongs to, from Gradescope's ``submission_metadata.json``, and why.

    The Gradescope ids of its ``users`` (sorted as text and joined by ``+`` for a group), so
    the per-student inputs are the same for every submission of one student with the same
    files, and a regrade on Gradescope or ``grader grade`` on a folder named by that id gives
    the same result; else the submission's ``id``; else ``"submission"`` (a file that is
    missing or is not valid JSON: nothing in it is guessed at, and every such submission
    shares that id's inputs).

    Parameters
    ----------
    metadata : Path or None
        Gradescope's ``submission_metadata.json``.

    Returns
    -------
    tuple of (str, str)
        The student id (text that encodes as UTF-8), and which field of the file it is, or
        why the file gave none, for the instructor's output.
    """
    if metadata is None:
        return "submission", "no metadata file given"
    try:
        data = json.loads(metadata.read_text(encoding="utf-8"))
    except OSError as exc:
        return "submission", f"{metadata} cannot be read ({exc.strerror or exc})"
    except ValueError as exc:
        return "submission", f"{metadata} is not valid JSON ({exc})"
    if not isinstance(data, dict):
        return "submission", f"{metadata} is not a JSON object"
    users = data.get("users")
    ids = sorted({str(u["id"]) for u in users if isinstance(u, dict) and u.get("id") is not None}
                 if isinstance(users, list) else ())
    if ids:
        whose = "the Gradescope id of its user" if len(ids) == 1 else \
            f"the Gradescope ids of its {len(ids)} users, sorted and joined by +"
        return inert.text("+".join(ids)), whose
    if data.get("id"):
        return inert.text(str(data["id"])), "no users: the submission's own id"
    return "submission", f"{metadata} has neither users nor an id"


def failure() -> GradescopeResult:
    """The ``results.json`` of a submission the grader could not grade: score 0 and
    `FAILURE_MESSAGE` (visible), no test; the reason is the instructor's (stdout)."""
    return {"score": 0.0, "output": FAILURE_MESSAGE, "tests": [], "visibility": "visible"}


def submission_entry(folder: Path) -> Path:
    """What to grade in Gradescope's submission folder: the folder, or the one ``.zip`` it
    holds when that is all it holds (an upload Gradescope did not unpack: a zip in a zip)."""
    try:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    except OSError:
        return folder
    if len(entries) == 1 and entries[0].suffix.lower() == ".zip" and entries[0].is_file():
        return entries[0]
    return folder


def finish(results_file: Path, seconds: float) -> None:
    """Complete a written ``results.json`` with the fields about the run itself.

    ``execution_time`` (whole seconds), ``stdout_visibility`` ``hidden`` (the autograder's own
    output is the instructor's), and ``output_format`` and ``test_output_format`` ``text``
    (feedback is aligned text: shown as written). No ``leaderboard``: a course has no score
    to rank beyond its total. A file that cannot be read is left as it is.
    """
    try:
        payload = json.loads(results_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(payload, dict):
        return
    payload.setdefault("execution_time", round(seconds))
    for name, value in RUN_FIELDS.items():
        payload.setdefault(name, value)
    write_json(payload, results_file)


def check_target(path: Path) -> None:
    """Refuse a zip path that exists, is not a ``.zip`` or lies where no file can be made."""
    if path.is_dir():
        raise CourseError(f"{path} is a folder; give the zip file to write, e.g. "
                          f"{path / 'autograder.zip'}")
    if path.suffix.lower() != ".zip":
        raise CourseError(f"{path}: Gradescope takes a .zip file; name it e.g. autograder.zip")
    if path.exists() or path.is_symlink():
        raise CourseError(f"{path} exists; remove it or choose a new name")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise CourseError(f"cannot write {path}: {parent} is not a folder")


def _course_files(course: Course) -> Iterator[tuple[str, Path]]:
    """The course's files the autograder needs, as (name in the zip, file)."""
    yield "course.toml", course.root / "course.toml"
    misconceptions = Path(course.misconceptions_file).parts[:1]
    needed = {*_command_parts(course), *misconceptions}  # whole, wherever they lie
    for top in dict.fromkeys([*COURSE_FOLDERS, *sorted(needed)]):
        source = course.root / top
        if source == course.exercises and top not in needed:  # the stubs, no stray file
            yield from ((f"{top}/{m}.py", source / f"{m}.py") for m in course.modules
                        if (source / f"{m}.py").is_file())
        elif source.is_file():
            yield top, source
        elif source.is_dir():
            yield from ((f"{top}/{name}", path) for name, path in _tree(source))


def _command_parts(course: Course) -> list[str]:
    """The top folder (or file) of each of the course's own commands."""
    parts = (Path(target.rpartition(":")[0]).parts for target in course.commands.values())
    return sorted({p[0] for p in parts if p})


def _tree(folder: Path) -> Iterator[tuple[str, Path]]:
    """Every file under ``folder`` as (path relative to it, file), caches left out; symbolic
    links are not followed (a link to outside the course never ships)."""
    for where, dirs, files in os.walk(folder):
        skipped = _SKIPPED(where, [*dirs, *files])
        dirs[:] = sorted(d for d in dirs if d not in skipped)
        for name in sorted(files):
            path = Path(where) / name
            if name not in skipped and path.is_file() and not path.is_symlink():
                yield path.relative_to(folder).as_posix(), path


def _pyproject(course: Course, package: Path) -> str:
    """The ``pyproject.toml`` installing the zip's copy of the grader: its console script,
    its package data, the grader's requirements and the course's own."""
    requirements = list(dict.fromkeys([*framework()[2], *course.dependencies]))
    return project_text("backprop-grader", f"The autograder of {course.name}", requirements,
                        package, readme=None)


def _info(name: str, mode: int) -> zipfile.ZipInfo:
    """A zip member named ``name`` with Unix permissions ``mode`` and a fixed date."""
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info

