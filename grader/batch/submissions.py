"""The student's code: one definition of which files are taken from a submission, and from where.

`grader grade`, `grader check`, the nbgrader bridge and Gradescope all read a submission (a
folder, a ``.zip`` or a ``.ipynb``) through `unpack`, so each sees the same files:

- **from which folder**: a release- or course-shaped folder (``exercises/`` beside ``checks/``,
  ``grader/``, ``solutions/``, ``autograde_tests/`` or ``course.toml``) is one student, read
  from its ``exercises/`` only. Folders named ``grader``, ``checks``, ``solutions``,
  ``autograde_tests``, ``__pycache__``, ``site-packages`` or ``__MACOSX``, hidden folders
  (``.ipynb_checkpoints``, ``.venv`` ...) and virtual environments (a folder holding
  ``pyvenv.cfg``) are never read; nor is anything deeper than four folders;
- **which files**: for each course module the shallowest ``<module>.py``, and beside them the
  student's own helper modules (the other ``.py`` files of those folders whose names can be
  imported and hide no standard-library module: at most `MAX_HELPERS`, each at most
  `MAX_MODULE_BYTES`, `MAX_HELPER_BYTES` in all);
- **notebooks** (`grader.batch.cells`), for the modules no ``.py`` file gave, or gave as the
  untouched course stub (a note names both files): ``%%writefile``, ``# module: <name>``
  cells, nbgrader ``grade_id``s, one notebook per module (``activations.ipynb``);
- **near misses** (``Neuron.py``, ``neuron (1).py``, ``neuron-1.py``, ``Neuron.ipynb``) are
  not taken, but named: "found Neuron.py: rename it to neuron.py".

Files are read as text, never extracted by an archive's own paths, links are never followed,
and every size is capped, so a hostile archive cannot write outside the grader's folder or fill
the disk. What cannot be read becomes a message in that student's result. What is read is an
`Unpacked` (`grader.batch.unpacked`, plain data; ``Submission`` and ``Unpacked`` are importable
from here too).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

from grader.batch.cells import cell_files, helper_name_ok, parse_notebook
from grader.batch.unpacked import Submission, Unpacked
from grader.util import inert
from grader.util.tree import (
    COURSE_MARKS,
    LINK,
    MAX_DEPTH,
    MAX_ENTRIES,
    NEVER_READ,
    OUTSIDE,
    FileEntry,
    Reader,
    SubmissionError,
    folder_files,
    near_miss,
    zip_files,
)

__all__ = ["MAX_DEPTH", "MAX_ENTRIES", "Submission", "SubmissionError", "Unpacked",
           "discover", "student_id", "unpack"]

#: largest module file accepted (bytes)
MAX_MODULE_BYTES = 1024 * 1024
#: largest notebook accepted (bytes)
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
#: most notebooks read from one submission
MAX_NOTEBOOKS = 32
#: most helper modules (the student's own ``.py`` files beside the course's) taken
MAX_HELPERS = 16
#: most bytes of helper modules taken, all together
MAX_HELPER_BYTES = 2 * 1024 * 1024
ENTRY_SUFFIXES = (".zip", ".ipynb")


def student_id(path: Path) -> str:
    """The student id: the entry's name without its extension (as valid Unicode text: a
    name that is not UTF-8 keeps its undecodable bytes as escapes, ``\\udcff``). Only a file
    loses its extension: a folder named ``victim.zip`` is the student ``victim.zip``, so no
    entry can take the id of another student's zip or notebook."""
    name = path.name
    if path.is_dir() and not path.is_symlink():
        return inert.text(name)
    for suffix in ENTRY_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return inert.text(name)


def discover(paths: Sequence[Path], modules: Sequence[str]) -> list[Submission]:
    """Turn command-line paths into submissions.

    A path is one submission when it is a ``.zip``, a ``.ipynb``, or a folder holding module
    files, per-module notebooks, a near miss of a module file, or a release or course
    (``exercises/`` beside ``checks/``, ``grader/`` ...); any other folder is a class: each of
    its folders, zips and notebooks is a student.

    Raises
    ------
    SubmissionError
        A path does not exist or holds nothing gradable.
    """
    found: list[Submission] = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise SubmissionError(f"{path} does not exist")
        if _is_entry(path, modules):
            found.append(Submission(student_id(path), path))
            continue
        if not path.is_dir():
            raise SubmissionError(f"{path} is not a folder, .zip or .ipynb submission")
        entries = sorted(p for p in path.iterdir()
                         if not p.name.startswith(".") and p.name not in ("__MACOSX",
                                                                          "__pycache__")
                         and (p.is_dir() or p.is_symlink()
                              or p.suffix.lower() in ENTRY_SUFFIXES))
        if not entries:
            raise SubmissionError(
                f"{path} holds no submissions (folders, .zip or .ipynb files, or module files "
                f"such as {modules[0]}.py)")
        found.extend(Submission(student_id(p), p) for p in entries)
    return found


def _is_entry(path: Path, modules: Sequence[str]) -> bool:
    if path.suffix.lower() in ENTRY_SUFFIXES:
        return True
    if path.is_symlink() or not path.is_dir():
        return False
    names = {p.name for p in path.iterdir()}
    return (any(f"{m}.py" in names or f"{m}.ipynb" in names for m in modules)
            or ("exercises" in names and bool(names & COURSE_MARKS))
            or any(near_miss(n, modules) for n in names))


def unpack(submission: Submission, modules: Sequence[str],
           stubs: Mapping[str, str] | None = None) -> Unpacked:
    """Read the student's code out of a submission (see the module docstring); ``stubs``
    (module to the course's stub text): a module found in two files is not the untouched stub.

    Raises
    ------
    SubmissionError
        The entry cannot be read at all (a broken zip, a notebook that is not JSON, a link).
    """
    path = submission.path
    if path.is_symlink():
        raise SubmissionError(f"{path.name} is a symbolic link; links are not followed")
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise SubmissionError(f"{path.name} is over {MAX_NOTEBOOK_BYTES} bytes")
        result = Unpacked()
        _add_notebook(result, parse_notebook(path.read_bytes(), path.name), modules,
                      path.name, path.stem)
        _hint(result, [PurePosixPath(path.name)], modules)
        if not result.modules and not result.problems:
            result.notes.append("no module cells found: start each code cell with a line "
                                "'# module: <name>' (e.g. '# module: neuron') or "
                                "'%%writefile <name>.py'")
        return result
    if suffix == ".zip":
        with zip_files(path) as members:  # read while the archive is open
            return _select(members, modules, path.name, stubs or {})
    if path.is_dir():
        return _select(folder_files(path), modules, f"{path.name}/", stubs or {})
    raise SubmissionError(f"{path.name} is not a folder, .zip or .ipynb")


# -- choosing the files ---------------------------------------------------------------------------
def _readable(relative: PurePosixPath, venvs: set[PurePosixPath]) -> bool:
    """Whether a file may be the student's code: not in a folder that is never read, not
    hidden, not too deep."""
    folders = relative.parts[:-1]
    return (len(relative.parts) <= MAX_DEPTH + 1 and not relative.name.startswith(".")
            and not any(p in NEVER_READ or p.startswith(".") for p in folders)
            and not any(parent in venvs for parent in relative.parents))


def _course_exercises(present: set[PurePosixPath],
                      modules: Sequence[str]) -> PurePosixPath | None:
    """The shallowest ``exercises/`` of a release- or course-shaped folder, if any."""
    shaped = [p for p in present if p.name == "exercises"
              and any(p.parent / mark in present for mark in COURSE_MARKS)
              and any(p / f"{m}{ext}" in present for m in modules for ext in (".py", ".ipynb"))]
    return min(shaped, key=lambda p: (len(p.parts), p.as_posix())) if shaped else None


def _select(files: Iterable[FileEntry], modules: Sequence[str], where: str,
            stubs: Mapping[str, str]) -> Unpacked:
    """Choose the student's code among a folder's or archive's files (module docstring)."""
    entries: list[FileEntry] = []
    present: set[PurePosixPath] = set()
    result = Unpacked()
    for entry in files:
        relative, size = entry[0], entry[1]
        present.add(relative)
        present.update(relative.parents)
        if size == OUTSIDE and relative.name[:-3] in modules:
            result.notes.append(f"{relative} ignored: archive paths must stay inside the archive")
        elif size >= 0 or size == LINK:
            entries.append(entry)
    venvs = {p.parent for p in present if p.name == "pyvenv.cfg"}
    base = _course_exercises(present, modules)
    kept = sorted((e for e in entries if _readable(e[0], venvs)
                   and (base is None or base in e[0].parents)),
                  key=lambda e: (len(e[0].parts), e[0].as_posix()))  # shallowest first
    folders: set[PurePosixPath] = set()
    for relative, size, reader in kept:
        module = relative.name[:-3] if relative.name.endswith(".py") else ""
        if module not in modules or module in result.modules or module in result.problems:
            continue
        if size == LINK:
            result.notes.append(f"{relative} ignored: it is a symbolic link, which is not "
                                "followed; submit the file itself")
            continue
        folders.add(relative.parent)
        _read_into(result, module, relative, size, reader)
    folders |= _notebooks(result, [e for e in kept if e[0].suffix.lower() == ".ipynb"],
                          modules, stubs)
    _helpers(result, [e for e in kept if e[0].parent in folders], modules)
    _hint(result, [e[0] for e in kept], modules)
    if not result.modules and not result.problems:
        result.notes.append(f"no module files found in {where}")
    return result


def _read_into(result: Unpacked, name: str, relative: PurePosixPath, size: int,
               reader: Reader, helper: bool = False) -> int:
    """Read one file into ``result``: a course module (what fails is its problem) or, with
    ``helper``, a helper module (what fails is a note). Returns the bytes taken."""
    limit = MAX_MODULE_BYTES
    if size > limit:
        why = f"{relative} is {size} bytes, over the limit of {limit} bytes for a module file"
        text = ""
    else:
        try:  # read now: the archive is open only meanwhile
            data = reader.read(limit)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            text, why = "", f"{relative} cannot be read ({exc}); submit it again"
        else:
            text, why = (("", f"{relative} is over {limit} bytes") if len(data) > limit
                         else _decode(data, str(relative)))
    if why:
        if helper:
            result.notes.append(f"{why} (not graded)")
        else:
            result.problems[name] = why
        return 0
    (result.helpers if helper else result.modules)[name] = text
    result.origins[f"{name}.py"] = relative.as_posix()
    return len(text.encode("utf-8"))


def _decode(data: bytes, label: str) -> tuple[str, str]:
    """``(text, "")`` for a usable source file, else ``("", why not)``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return "", (f"{label} is not UTF-8 text (byte {exc.start}); save the file as UTF-8 "
                    "and resubmit")
    if "\x00" in text:
        return "", f"{label} contains NUL bytes; it is not a Python source file"
    return text, ""


def _helpers(result: Unpacked, beside: Sequence[FileEntry], modules: Sequence[str]) -> None:
    """Take the student's own modules from the folders that hold the course modules."""
    total = sum(len(s.encode("utf-8")) for s in result.helpers.values())
    for relative, size, reader in sorted(beside, key=lambda e: e[0].name):
        name = relative.name[:-3]
        if (not relative.name.endswith(".py") or name in modules or name in result.helpers
                or not helper_name_ok(name) or size < 0):
            continue
        if len(result.helpers) >= MAX_HELPERS or total + size > MAX_HELPER_BYTES:
            result.notes.append(f"{relative} not graded: at most {MAX_HELPERS} helper modules "
                                f"of {MAX_HELPER_BYTES} bytes in all are taken")
            continue
        total += _read_into(result, name, relative, size, reader, helper=True)


# -- notebooks ------------------------------------------------------------------------------------
def _add_notebook(result: Unpacked, cells: Sequence[object], modules: Sequence[str],
                  label: str, stem: str | None = None,
                  stubs: Mapping[str, str] | None = None) -> None:
    """Take the modules no earlier file gave (or gave as the untouched stub, `_both`) and new
    helpers from one notebook's cells (``stem``: its name), and name its cells left out."""
    found = cell_files(cells, modules, stem)
    result.notes.extend(f"{label}: {name} is defined in a {magic} cell, which is not graded: "
                        "move it to a plain cell" for name, magic in found.in_magics.items())
    if found.unplaced and (found.modules or found.helpers):
        names = ", ".join(n for names in found.unplaced for n in names)
        result.notes.append(
            f"{label}: code cells without a '# module: <name>' first line are not graded, so "
            f"{names} {'is' if ',' not in names else 'are'} not part of any module: start "
            "such a cell with the marker of the module that uses it (e.g. '# module: "
            f"{next(iter(found.modules or found.helpers))}')")
    for kind, target in ((found.modules, result.modules), (found.helpers, result.helpers)):
        for name, text in kind.items():
            if kind is found.modules and name in target:
                _both(result, name, text, f"{label} ({name}.py)", stubs or {})
            if name in target or name in result.problems:
                continue
            if kind is found.helpers and len(result.helpers) >= MAX_HELPERS:
                result.notes.append(f"{name}.py of {label} not graded: at most {MAX_HELPERS} "
                                    "helper modules are taken")
                continue
            data = text.encode("utf-8", "surrogatepass")
            source, why = _decode(data, f"{name}.py of {label}")
            if not why and len(data) > MAX_MODULE_BYTES:
                why = f"{name}.py of {label} is over {MAX_MODULE_BYTES} bytes"
            if why and kind is found.modules:
                result.problems[name] = why
            elif why:
                result.notes.append(f"{why} (not graded)")
            else:
                target[name] = source
                result.origins[f"{name}.py"] = f"{label} ({name}.py)"


def _both(result: Unpacked, name: str, source: str, origin: str,
          stubs: Mapping[str, str]) -> None:
    """A module found in two files: an untouched stub (the course's text, whitespace aside)
    never wins over the other, else the first found stays; a note names both."""
    first = result.origins.get(f"{name}.py", "")
    stub = stubs[name].split() if name in stubs else None
    old, new = result.modules[name].split() == stub, source.split() == stub
    if old and not new:
        result.modules[name], result.origins[f"{name}.py"] = source, origin
    graded, other = (origin, first) if old and not new else (first, origin)
    why = f" ({other} is the untouched stub)" if old or new else ""
    result.notes.append(f"found both {first} and {origin}: {graded} is graded{why}")


def _notebooks(result: Unpacked, notebooks: Sequence[FileEntry], modules: Sequence[str],
               stubs: Mapping[str, str]) -> set[PurePosixPath]:
    """Fill the modules no ``.py`` file gave from the notebooks, shallowest first (`_both`);
    return the folders of those that gave one (helper modules beside them are taken too)."""
    folders: set[PurePosixPath] = set()
    for relative, size, reader in notebooks[:MAX_NOTEBOOKS]:
        if size < 0 or size > MAX_NOTEBOOK_BYTES:
            result.notes.append(f"{relative} ignored: a link, or over {MAX_NOTEBOOK_BYTES} "
                                "bytes")
            continue
        try:
            cells = parse_notebook(reader.read(MAX_NOTEBOOK_BYTES), relative.as_posix())
        except SubmissionError as exc:
            result.notes.append(str(exc))
            continue
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            result.notes.append(f"{relative} cannot be read ({exc}); submit it again")
            continue
        before = len(result.modules) + len(result.problems)
        _add_notebook(result, cells, modules, relative.as_posix(), relative.stem, stubs)
        if len(result.modules) + len(result.problems) > before:
            folders.add(relative.parent)
    if len(notebooks) > MAX_NOTEBOOKS:
        result.notes.append(f"only the first {MAX_NOTEBOOKS} notebooks were read")
    return folders


# -- near misses ----------------------------------------------------------------------------------
def _hint(result: Unpacked, seen: Iterable[PurePosixPath], modules: Sequence[str]) -> None:
    """Name each missing module's near miss among the files seen."""
    for relative in seen:
        notebook = relative.suffix == ".ipynb"
        module = near_miss(relative.stem + ".py" if notebook else relative.name, modules)
        if notebook and module is not None:
            if module not in result.modules and module not in result.problems:
                result.hints.setdefault(module, f"found {relative}: rename it to "
                                                f"{module}.ipynb")
            continue
        if module is not None and module not in {**result.modules, **result.problems,
                                                 **result.hints}:
            result.hints[module] = f"found {relative}: rename it to {module}.py"
            _drop_helper(result, relative.name[:-3])
    _hint_helpers(result, modules)


def _hint_helpers(result: Unpacked, modules: Sequence[str]) -> None:
    """A helper written under a near-miss name of a missing module (``%%writefile
    Neuron.py``) is that module misnamed: name it, and do not take it."""
    for name in list(result.helpers):
        module = near_miss(f"{name}.py", modules)
        if module is not None and module not in result.modules and module not in result.problems:
            where = result.origins.get(f"{name}.py", "").split(" (")[0]
            result.hints.setdefault(module, f"found {name}.py (written by {where}): rename "
                                            f"it to {module}.py")
            _drop_helper(result, name)


def _drop_helper(result: Unpacked, name: str) -> None:
    if result.helpers.pop(name, None) is not None:
        result.origins.pop(f"{name}.py", None)


def notebook_modules(cells: Sequence[object], modules: Sequence[str],
                     stem: str | None = None) -> Unpacked:
    """Gather each module's code from notebook cells (`grader.batch.cells.cell_files`)."""
    result = Unpacked()
    _add_notebook(result, cells, modules, "the notebook", stem)
    if not result.modules:
        result.notes.append("no module cells found: start each code cell with a line "
                            "'# module: <name>' (e.g. '# module: neuron')")
    return result
