"""(In the sandboxed child.) What the instructor sees: attempts at blocked or suspicious actions.

An audit hook (which cannot be removed) notes network use, writes outside the child's own
folders, signals, forks, programs started and native code loaded; the harness's own names
(every function, class and module of the child's modules) are remembered before any student
code runs, and any of them replaced since, or the import guard removed, is noted as
tampering. Each result message carries what was noted since the previous one
(:meth:`Watch.take`); the grader keeps them as testimony, never as a score. Standard library
only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from operator import is_not, itemgetter
from types import ModuleType
from typing import Any

#: at most this many attempts go in one message
MAX_ATTEMPTS = 20
_WATCHED = frozenset({
    "socket.connect", "socket.bind", "socket.sendto", "open", "os.kill", "os.killpg",
    "signal.pthread_kill", "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.system",
    "subprocess.Popen", "ctypes.dlopen"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Watch:
    """The attempts one child noted, and the harness it compares against.

    Attributes
    ----------
    harness : list of (str, object, str, object)
        ``(label, holder, name, value)`` of each harness name, as it was at start.
    guard : object or None
        The import guard, once installed (its removal is noted).
    """

    def __init__(self) -> None:
        self.attempts: list[str] = []  # not yet reported
        self.seen: set[str] = set()  # every one noted (each is reported once)
        self.writable: tuple[str, ...] = ()
        self.harness: list[tuple[str, Any, str, Any]] = []
        self.guard: object | None = None
        #: the harness by namespace: (its mapping, a getter of its names, their values)
        self._spaces: list[tuple[Mapping[str, Any], Callable[[Any], Any], tuple[Any, ...]]] = []

    def remember(self, modules: Iterable[tuple[str, ModuleType]]) -> None:
        """Note the module-level functions, classes (and their methods) and modules of the
        harness's ``(label, module)`` pairs."""
        for label, holder in modules:
            for name, value in vars(holder).items():
                if name.startswith("__") or not (callable(value)
                                                 or isinstance(value, ModuleType)):
                    continue
                self.harness.append((label, holder, name, value))
                if isinstance(value, type) and value.__module__ == holder.__name__:
                    self.harness.extend((f"{label}.{name}", value, attr, member)
                                        for attr, member in vars(value).items()
                                        if callable(member))
        spaces: dict[int, tuple[Mapping[str, Any], list[str], list[Any]]] = {}
        for _, holder, name, value in self.harness:
            space = spaces.setdefault(id(holder), (vars(holder), [], []))
            space[1].append(name)
            space[2].append(value)
        # the first name twice: an itemgetter of two names or more always gives a tuple
        self._spaces = [(space, itemgetter(*names, names[0]), (*values, values[0]))
                        for space, names, values in spaces.values()]

    def tampered(self) -> bool:
        """Whether any harness name is no longer what it was: one pass in C per namespace
        (this runs before every result)."""
        try:
            for space, names, values in self._spaces:
                if any(map(is_not, names(space), values)):
                    return True
        except KeyError:  # a name deleted
            return True
        return False

    def start(self, writable: Iterable[str]) -> None:
        """Start noting, with the folders the child may write in; the hook stays for good."""
        self.writable = tuple(os.path.realpath(p) + os.sep for p in writable)
        sys.addaudithook(self.audit)

    def note(self, text: str) -> None:
        """Note one attempt (made printable, cut short, each once)."""
        text = "".join(c if c.isprintable() else "?" for c in text[:160])
        if text not in self.seen and len(self.seen) < 5 * MAX_ATTEMPTS:
            self.seen.add(text)
            self.attempts.append(text)

    def take(self) -> list[str]:
        """What was noted since the last call (at most :data:`MAX_ATTEMPTS`), the harness
        checked first."""
        if self.tampered():
            for label, holder, name, value in self.harness:
                if vars(holder).get(name) is not value:
                    self.note(f"harness tampering: {label}.{name} replaced")
        if self.guard is not None and self.guard not in sys.meta_path:
            self.note("harness tampering: the import guard was removed")
        taken = self.attempts[:MAX_ATTEMPTS]
        del self.attempts[:]
        return taken

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        """The audit hook: notes the events worth telling the instructor."""
        if event not in _WATCHED:
            return
        try:
            text = self.describe(event, args)
        except Exception:  # an odd argument: nothing to report
            return
        if text:
            self.note(text)

    def describe(self, event: str, args: tuple[Any, ...]) -> str | None:
        """One watched event in a few words, or None when it is harmless."""
        if event == "open":
            path, mode, flags = args
            writes = any(c in mode for c in "wax+") if isinstance(mode, str) \
                else bool(flags & _WRITE_FLAGS)
            if not writes or isinstance(path, int):
                return None
            name = os.path.abspath(os.fsdecode(path))
            if name in ("/dev/null", "/dev/stdout", "/dev/stderr") \
                    or (name + os.sep).startswith(self.writable):
                return None
            return f"write outside the sandbox's folders: {name}"
        if event.startswith("socket."):
            address = args[1]
            where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
            return f"network: {event[7:]} {where}"
        if event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            target = "process" if event == "os.kill" else "group"
            return f"signal {args[1]} sent to {target} {args[0]}"
        if event in ("os.fork", "os.forkpty"):
            return "process: fork"
        if event == "subprocess.Popen":
            program = args[0] or (args[1][0] if isinstance(args[1], list | tuple) else args[1])
            return f"process: subprocess {os.fsdecode(program)}"
        if event == "ctypes.dlopen":
            return f"native code: ctypes loads {args[0]}"
        return f"process: {event[3:]} {os.fsdecode(args[0])}"  # exec, posix_spawn, system
