"""The files of a submission's folder or zip archive, listed safely: no link followed, nothing
extracted, every count capped, and the folders that are never a student's code not entered.
"""

from __future__ import annotations

import contextlib
import re
import stat
import zipfile
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

#: most entries read from one archive or folder
MAX_ENTRIES = 5000
#: deepest folder level searched for module files
MAX_DEPTH = 4
#: folders never read for the student's code: the grader's and the course's own, caches,
#: installed packages, and the resource forks macOS adds to zips
NEVER_READ = frozenset({"grader", "checks", "solutions", "autograde_tests", "__pycache__",
                        "site-packages", "dist-packages", "__MACOSX"})
#: beside an ``exercises/`` folder, what makes a folder a release or a course
COURSE_MARKS = frozenset({"checks", "grader", "solutions", "autograde_tests", "course.toml"})
#: a file name that is a course module's name misspelt, copied or renamed by a browser
_NEAR_MISS = re.compile(r"(?P<stem>.+?)(?:\.py)+(?:\.txt)?", re.IGNORECASE)
_COPY_SUFFIX = re.compile(r"(?:\s*\(\d+\)|\s*-?\s*copy(?:\s*\(?\d+\)?)?|[-_ ]\d+)$",
                          re.IGNORECASE)
#: sizes that mark entries which are not readable files
DIRECTORY, LINK, OUTSIDE = -3, -1, -2


class SubmissionError(Exception):
    """The submission as a whole cannot be read (the message says why and what to do)."""


class Reader:
    """Reads at most ``limit`` bytes (plus one, to tell an oversized file) of one file."""

    def __init__(self, open_file: Callable[[], IO[bytes]] | None, name: str) -> None:
        self._open = open_file
        self.name = name

    def read(self, limit: int) -> bytes:
        """The file's first ``limit + 1`` bytes."""
        if self._open is None:
            raise OSError(f"{self.name} is not a regular file")
        with self._open() as fh:
            data: bytes = fh.read(limit + 1)
        return data


#: (path relative to the submission, size or a marker, how to read it)
FileEntry = tuple[PurePosixPath, int, Reader]


def _opener(path: Path) -> Callable[[], IO[bytes]]:
    return lambda: open(path, "rb")


def _skipped_folder(folder: Path) -> bool:
    """Whether a folder is never entered: never read, hidden, or a virtual environment."""
    name = folder.name
    return (name in NEVER_READ or name.startswith(".") or (folder / "pyvenv.cfg").exists()
            or (folder / "conda-meta").is_dir())


def folder_files(root: Path) -> Iterator[FileEntry]:
    """The regular files of a folder, up to `MAX_DEPTH` folders down; links and folders that
    are never read are listed (as `LINK`, `DIRECTORY`) but not followed or entered.

    Raises
    ------
    SubmissionError
        The folder holds more than `MAX_ENTRIES` entries (outside skipped folders).
    """
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
                yield relative, LINK, Reader(None, "link")
            elif stat.S_ISDIR(info.st_mode):
                yield relative, DIRECTORY, Reader(None, "folder")
                if depth < MAX_DEPTH and not _skipped_folder(entry):
                    stack.append((entry, depth + 1))
            elif stat.S_ISREG(info.st_mode):
                yield relative, info.st_size, Reader(_opener(entry), str(relative))


@contextlib.contextmanager
def zip_files(path: Path) -> Iterator[list[FileEntry]]:
    """The members of a zip archive, readable while the block runs: files, and links and
    paths that climb out of the archive marked (`LINK`, `OUTSIDE`) so they are never read.

    Raises
    ------
    SubmissionError
        The archive cannot be opened, or holds more than `MAX_ENTRIES` entries.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{path.name} is not a readable zip archive ({exc}); "
                              "zip the folder again and resubmit") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise SubmissionError(f"{path.name} holds more than {MAX_ENTRIES} entries")
        entries: list[FileEntry] = []
        for info in infos:
            name = info.filename.replace("\\", "/")
            relative = PurePosixPath(name)
            if info.is_dir():
                entries.append((relative, DIRECTORY, Reader(None, name)))
            elif name.startswith("/") or ".." in relative.parts or re.match(r"^[A-Za-z]:",
                                                                            name):
                entries.append((relative, OUTSIDE, Reader(None, name)))
            elif stat.S_ISLNK(info.external_attr >> 16):
                entries.append((relative, LINK, Reader(None, name)))
            else:
                entries.append((relative, info.file_size,
                                Reader(partial(archive.open, info), name)))
        yield entries


def near_miss(name: str, modules: Sequence[str]) -> str | None:
    """The course module a file name is a near miss of (``Neuron.py``, ``neuron (1).py``,
    ``neuron-1.py``, ``neuron.py.txt``, ``neuron copy.py``), or None."""
    match = _NEAR_MISS.fullmatch(name)
    if match is None:
        return None
    stem = match.group("stem").strip()
    while (shorter := _COPY_SUFFIX.sub("", stem)) != stem and shorter:
        stem = shorter
    key = re.sub(r"[\s\-.]+", "_", stem.lower())
    for module in modules:
        if key == module.lower() and name != f"{module}.py":
            return module
    return None
