"""Submissions: find them (folder, zip, notebook, or a folder of those) and unpack their modules.

Only the course's module files are taken from a submission, as text, and written into a fresh
folder for the sandbox: nothing is extracted by the archive's own paths, no link is followed,
and every size is capped, so a hostile archive cannot write outside that folder or fill the
disk. What cannot be read becomes a message in that student's result.
"""

from __future__ import annotations

import json
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

#: largest module file accepted (bytes)
MAX_MODULE_BYTES = 1024 * 1024
#: largest notebook accepted (bytes)
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
#: most entries read from one archive or folder
MAX_ENTRIES = 5000
#: deepest folder level searched for module files
MAX_DEPTH = 4
ENTRY_SUFFIXES = (".zip", ".ipynb")


class SubmissionError(Exception):
    """The submission as a whole cannot be read (the message says why and what to do)."""


@dataclass(frozen=True)
class Submission:
    """One student's entry: a folder, a ``.zip`` or a ``.ipynb``."""

    student: str
    path: Path


@dataclass
class Unpacked:
    """The modules found in a submission, as source text, and what went wrong on the way."""

    modules: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def write(self, folder: Path) -> None:
        """Write the modules found into ``folder`` as ``<module>.py``."""
        folder.mkdir(parents=True, exist_ok=True)
        for module, source in self.modules.items():
            (folder / f"{module}.py").write_text(source, encoding="utf-8")


def student_id(path: Path) -> str:
    """The student id: the entry's name without its extension."""
    name = path.name
    for suffix in ENTRY_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def discover(paths: Sequence[Path], modules: Sequence[str]) -> list[Submission]:
    """Turn command-line paths into submissions.

    A path is one submission when it is a ``.zip``, a ``.ipynb``, or a folder holding module
    files; any other folder is a class: each of its folders, zips and notebooks is a student.

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
                         if not p.name.startswith(".") and (p.is_dir() or p.is_symlink()
                                                            or p.suffix.lower()
                                                            in ENTRY_SUFFIXES))
        if not entries:
            raise SubmissionError(
                f"{path} holds no submissions (folders, .zip or .ipynb files, or module files "
                f"such as {modules[0]}.py)")
        found.extend(Submission(student_id(p), p) for p in entries)
    return found


def _is_entry(path: Path, modules: Sequence[str]) -> bool:
    if path.suffix.lower() in ENTRY_SUFFIXES:
        return True
    return path.is_dir() and any((path / f"{m}.py").is_file() for m in modules)


def unpack(submission: Submission, modules: Sequence[str]) -> Unpacked:
    """Read the course modules out of a submission.

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
        return _from_notebook(path, modules)
    if suffix == ".zip":
        return _pick(_zip_files(path), modules, f"{path.name}")
    if path.is_dir():
        found = _pick(_folder_files(path), modules, f"{path.name}/")
        notebooks = sorted(p for p in path.glob("*.ipynb") if p.is_file())
        if not found.modules and not found.problems and notebooks:
            return _from_notebooks(notebooks, modules)  # e.g. nbgrader: a notebook per module
        return found
    raise SubmissionError(f"{path.name} is not a folder, .zip or .ipynb")


# -- files of folders and archives ---------------------------------------------------------------
# Each yields (relative POSIX path, size, read function) for regular files only.
FileEntry = tuple[PurePosixPath, int, "Reader"]


class Reader:
    """Reads at most ``limit`` bytes of one file of a folder or archive."""

    def __init__(self, open_file: object, name: str) -> None:
        self._open = open_file
        self.name = name

    def read(self, limit: int) -> bytes:
        with self._open() as fh:  # type: ignore[operator]
            data: bytes = fh.read(limit + 1)
        return data


def _folder_files(root: Path) -> Iterator[FileEntry]:
    count = 0
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        for entry in sorted(folder.iterdir()):
            count += 1
            if count > MAX_ENTRIES:
                raise SubmissionError(f"{root.name} holds more than {MAX_ENTRIES} files")
            info = entry.lstat()
            relative = PurePosixPath(entry.relative_to(root).as_posix())
            if stat.S_ISLNK(info.st_mode):
                yield relative, -1, Reader(None, "link")
            elif stat.S_ISDIR(info.st_mode) and depth < MAX_DEPTH:
                stack.append((entry, depth + 1))
            elif stat.S_ISREG(info.st_mode):
                yield relative, info.st_size, Reader(lambda e=entry: open(e, "rb"), str(relative))


def _zip_files(path: Path) -> Iterator[FileEntry]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{path.name} is not a readable zip archive ({exc}); "
                              "zip the folder again and resubmit") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise SubmissionError(f"{path.name} holds more than {MAX_ENTRIES} entries")
        for info in infos:
            name = info.filename.replace("\\", "/")
            relative = PurePosixPath(name)
            if info.is_dir():
                continue
            if name.startswith("/") or ".." in relative.parts or re.match(r"^[A-Za-z]:", name):
                yield relative, -2, Reader(None, name)
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                yield relative, -1, Reader(None, name)
                continue
            yield relative, info.file_size, Reader(
                lambda i=info: archive.open(i), name)


def _pick(files: Iterator[FileEntry], modules: Sequence[str], where: str) -> Unpacked:
    """Take the shallowest ``<module>.py`` for each module; note everything refused."""
    wanted = {f"{m}.py": m for m in modules}
    depth_of: dict[str, int] = {}
    result = Unpacked()
    for relative, size, reader in files:
        if relative.parts and relative.parts[0] == "__MACOSX":
            continue
        module = wanted.get(relative.name)
        if module is None:
            continue
        if size == -2:
            result.notes.append(f"{relative} ignored: archive paths must stay inside the archive")
            continue
        if size == -1:
            result.notes.append(f"{relative} ignored: it is a symbolic link, which is not "
                                "followed; submit the file itself")
            continue
        depth = len(relative.parts)
        if depth >= depth_of.get(module, MAX_DEPTH + 2):
            continue
        depth_of[module] = depth
        result.modules.pop(module, None)
        result.problems.pop(module, None)
        if size > MAX_MODULE_BYTES:
            result.problems[module] = (f"{relative} is {size} bytes, over the limit of "
                                       f"{MAX_MODULE_BYTES} bytes for a module file")
            continue
        try:  # read now: the archive is open only meanwhile
            data = reader.read(MAX_MODULE_BYTES)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            result.problems[module] = f"{relative} cannot be read ({exc}); submit it again"
            continue
        if len(data) > MAX_MODULE_BYTES:
            result.problems[module] = f"{relative} is over {MAX_MODULE_BYTES} bytes"
            continue
        _add_source(result, module, data, str(relative))
    if not result.modules and not result.problems:
        result.notes.append(f"no module files found in {where}")
    return result


def _add_source(result: Unpacked, module: str, data: bytes, label: str) -> None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        result.problems[module] = (f"{label} is not UTF-8 text (byte {exc.start}); "
                                   "save the file as UTF-8 and resubmit")
        return
    if "\x00" in text:
        result.problems[module] = f"{label} contains NUL bytes; it is not a Python source file"
        return
    result.modules[module] = text


# -- notebooks ------------------------------------------------------------------------------------
_MODULE_LINE = re.compile(r"^\s*#\s*module\s*:\s*([A-Za-z_]\w*)\s*$")
_WRITEFILE = re.compile(r"^\s*%%writefile\s+(?:\S*/)?([A-Za-z_]\w*)\.py\s*$")


def _from_notebook(path: Path, modules: Sequence[str]) -> Unpacked:
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise SubmissionError(f"{path.name} is over {MAX_NOTEBOOK_BYTES} bytes")
        notebook = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise SubmissionError(f"{path.name} is not UTF-8 text; save it again from "
                              "Jupyter") from None
    except ValueError as exc:
        raise SubmissionError(f"{path.name} is not valid notebook JSON ({exc}); open it in "
                              "Jupyter, save it, and resubmit") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise SubmissionError(f"{path.name} is not a Jupyter notebook (no list of cells)")
    if notebook.get("nbformat") != 4:
        raise SubmissionError(f"{path.name} is nbformat {notebook.get('nbformat')!r}; "
                              "only nbformat 4 notebooks are read (save it with Jupyter 4+)")
    return notebook_modules(notebook["cells"], modules)


def _from_notebooks(paths: Sequence[Path], modules: Sequence[str]) -> Unpacked:
    """Merge the modules of several notebooks (the first notebook holding a module wins)."""
    merged = Unpacked()
    for path in paths:
        try:
            found = _from_notebook(path, modules)
        except SubmissionError as exc:
            merged.notes.append(str(exc))
            continue
        for module, source in found.modules.items():
            merged.modules.setdefault(module, source)
        for module, problem in found.problems.items():
            merged.problems.setdefault(module, problem)
    for module in merged.modules:
        merged.problems.pop(module, None)
    if not merged.modules and not merged.problems:
        merged.notes.append("no module cells found in the notebooks")
    return merged


def notebook_modules(cells: Sequence[object], modules: Sequence[str]) -> Unpacked:
    """Gather each module's code from notebook cells.

    A code cell belongs to a module when its first line is ``# module: <name>`` or
    ``%%writefile <name>.py``, or when its nbgrader ``grade_id`` is ``<name>`` or starts with
    ``<name>`` followed by ``-``, ``_``, ``.`` or ``:``. A module's cells are joined in order.
    """
    known = set(modules)
    parts: dict[str, list[str]] = {}
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        lines = text.splitlines()
        module = None
        if lines:
            for pattern in (_MODULE_LINE, _WRITEFILE):
                match = pattern.match(lines[0])
                if match and match.group(1) in known:
                    module = match.group(1)
                    if pattern is _WRITEFILE:
                        text = "\n".join(lines[1:])
        if module is None:
            metadata = cell.get("metadata")
            nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
            grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
            if isinstance(nbgrader, dict) and nbgrader.get("grade") and \
                    not nbgrader.get("solution"):
                continue  # an autograder test cell: the grader's, not the student's code
            if isinstance(grade_id, str):
                candidates = [m for m in modules
                              if grade_id == m or re.match(rf"^{m}[-_.:]", grade_id)]
                module = max(candidates, key=len) if candidates else None
        if module is not None:
            parts.setdefault(module, []).append(text)
    result = Unpacked()
    for module, texts in parts.items():
        _add_source(result, module, "\n\n".join(texts).encode("utf-8"), f"{module} cells")
    if not result.modules:
        result.notes.append("no module cells found: start each code cell with a line "
                            "'# module: <name>' (e.g. '# module: neuron')")
    return result
