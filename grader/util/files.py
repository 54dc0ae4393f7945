"""Writing a file so that no reader ever sees half of it: the one atomic write of the grader.

Every file the grader writes for a person (results, the gradebook, the report, exports) goes
through :func:`atomic_open`: a temporary file with a unique name in the same folder, flushed
and ``fsync``-ed, given :data:`FILE_MODE`, then renamed over the target. A crash leaves either
the old file or the new one, never a mix, and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["FILE_MODE", "atomic_open", "atomic_write"]

#: The permissions of every file the grader writes: the owner writes, everyone may read.
#: Folders that must stay private (the output folder at the uid isolation level) are
#: protected by their own mode, not by their files'.
FILE_MODE = 0o644


@contextlib.contextmanager
def atomic_open(path: Path, binary: bool = False) -> Iterator[IO[Any]]:
    """Open ``path`` for writing, atomically: what is written appears all at once on success.

    Parameters
    ----------
    path : Path
        The file to write; its folder is created if needed.
    binary : bool
        Bytes instead of UTF-8 text.

    Yields
    ------
    file
        A file object on a temporary file beside ``path``; on leaving the block without an
        exception it is flushed, synced, given `FILE_MODE` and renamed to ``path``; on an
        exception it is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        fh: IO[Any] = (os.fdopen(fd, "wb") if binary
                       else os.fdopen(fd, "w", encoding="utf-8"))
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically (see `atomic_open`)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_open(path, binary=True) as fh:
        fh.write(data)
