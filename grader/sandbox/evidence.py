"""The grader's own evidence of what a call did to its array arguments: a file it reads back.

A call's non-empty array arguments (:class:`grader.sandbox.wire.SharedArrays`) are written to a new
file of the child's I/O folder (``child.io``); the child maps it ``MAP_SHARED`` and builds its
arguments on it, so whatever the call writes into them lands in the file, and after the call
the grader reads the file back through its own descriptor and compares it with what it sent.
Nothing the student's code does in the child (replacing the harness's functions, forging its
messages) changes what the grader reads. Values passed back as handles stay in the child and
cannot be observed; they are reported as such.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from grader.sandbox import wire
from grader.sandbox.calls import walk


class Unusable(Exception):
    """The I/O folder cannot take the file (the grader's problem, never the student's)."""


class SharedFile:
    """One call's array arguments (:class:`grader.sandbox.wire.SharedArrays`) in a new file of the
    child's I/O folder: created only by the grader (never reused, so a view the child kept
    from an earlier call is never overwritten), read back through the grader's own
    descriptor (never mapped here: a child that truncates the file cannot fault the grader),
    and unlinked after the call (the child's mapping, if it keeps one, stays valid)."""

    def __init__(self, io: tuple[Path, str], data: bytearray) -> None:
        name = f"args-{os.urandom(8).hex()}"  # unguessable: nothing can be waiting there
        self.path = f"{io[0]}/{name}"
        self.child_path = f"{io[1]}/{name}"
        self.size = len(data)
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                              | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise Unusable(f"the sandbox's I/O folder is unusable: {exc}") from None
        try:
            os.fchmod(self.fd, 0o666)  # the child may run as another uid (not the umask's)
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as exc:
            self.close()
            raise Unusable(f"the sandbox's I/O folder is unusable: {exc}") from None

    def read(self) -> bytes:
        """The file's first ``size`` bytes as the call left them (fewer if it was cut)."""
        return os.pread(self.fd, self.size, 0)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def observe(shared: wire.SharedArrays, written: SharedFile | None, args: Sequence[Any],
            kwargs: Mapping[str, Any], replaced: Any) -> tuple[list[str], list[str]]:
    """What a call did to its arguments, as the grader can tell.

    Parameters
    ----------
    shared : grader.sandbox.wire.SharedArrays
        The call's array arguments as sent (``shared.data``, ``shared.regions``).
    written : SharedFile or None
        Their file (None when the call had no array argument).
    args, kwargs
        The call's arguments, in the grader.
    replaced : Any
        The child's report of argument entries it replaced (its word: it can only add).

    Returns
    -------
    mutated : list of str
        Paths (``args[0]['W1']``) of arrays whose bytes changed in the file, or whose entry
        the child reported replaced, in the order of the arguments.
    unobserved : list of str
        Paths of handles among the arguments: values in the child the grader cannot see.
    """
    changed = shared.changed(written.read()) if written is not None else []
    reported = replaced if isinstance(replaced, list) and replaced else []
    if not (changed or reported or shared.handles):
        return [], []  # the common case: no walk, no path strings
    arrays: list[str] = []
    handles: list[str] = []
    # in the order in which wire.encode met them, with the paths the child reports
    for path, value in walk(("args", list(args)), ("kwargs", dict(kwargs))):
        if isinstance(value, np.ndarray):
            if value.size:
                arrays.append(path)
        elif isinstance(value, wire.Handle):
            handles.append(path)
    found = {arrays[i] for i in changed if i < len(arrays)}
    found.update(p for p in reported if isinstance(p, str))  # only the grader's own paths
    return [p for p in arrays if p in found], handles
