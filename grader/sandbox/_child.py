"""The sandboxed child: imports a submission's modules and calls their functions on request.

Run as a script by :mod:`grader.sandbox.box` (``python -I _child.py SUBMISSION READ_FD WRITE_FD``),
never imported by the grader. It trusts nothing it runs: every reply is plain data built by
:mod:`grader.sandbox.wire` and the parent re-checks all of it. Only numpy and the standard library
are imported here, so the start-up cost stays that of numpy.
"""

from __future__ import annotations

import errno
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any


def _load_wire() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_grader_wire", Path(__file__).with_name("wire.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_grader_wire"] = module
    spec.loader.exec_module(module)
    return module


wire = _load_wire()


def _load_swapping() -> ModuleType:
    """grader/sandbox/swapping.py (standard library only), loaded before any student code."""
    spec = importlib.util.spec_from_file_location(
        "_grader_swapping", Path(__file__).with_name("swapping.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


swapping = _load_swapping()

import numpy as np  # noqa: E402  (after the wire module, which imports it anyway)

# Bound now, before any student code runs. Whether a call changed its arguments is not
# decided here (the grader reads the shared arguments back itself): what the child reports,
# entries of its arguments replaced, can only add a failure.
_ndarray = np.ndarray


class CallbackError(Exception):
    """A parent-side function called from the submission raised an error."""


class CourseFinder(importlib.abc.MetaPathFinder):
    """Imports course modules that a student module depends on, with a stand-in when one is
    missing or fails to import, so one broken file costs only its own points.

    The stand-in has every contract function of that module, each raising ImportError with the
    reason; the grader replaces them with the reference where a test isolates a function. The
    module under test itself (``top``) is always imported for real, its errors reported.
    """

    def __init__(self, submission: str) -> None:
        self.submission = submission
        self.course: dict[str, list[str]] = {}
        self.top: str | None = None

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.course or fullname == self.top:
            return None
        real = importlib.machinery.PathFinder.find_spec(fullname, [self.submission])
        return importlib.util.spec_from_loader(
            fullname, FallbackLoader(real, self.course[fullname]),
            origin=real.origin if real is not None else None)


class FallbackLoader(importlib.abc.Loader):
    """Runs the real module; on any failure fills it with stand-in functions instead."""

    def __init__(self, real: Any, functions: list[str]) -> None:
        self.real = real
        self.functions = functions

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        if self.real is None:
            reason = f"{module.__name__}.py is missing from the submission"
        else:
            module.__file__ = self.real.origin
            try:
                self.real.loader.exec_module(module)
                return
            except BaseException as exc:  # whatever the dependency does, it is data
                reason = (f"{module.__name__}.py could not be imported "
                          f"({type(exc).__name__}: {str(exc)[:200]})")
        module.__grader_placeholder__ = True  # type: ignore[attr-defined]
        for name in self.functions:
            setattr(module, name, _stand_in(module.__name__, name, reason))


def _stand_in(module: str, function: str, reason: str) -> Callable[..., Any]:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise ImportError(f"{module}.{function} is unavailable: {reason}")

    unavailable.__name__ = function
    return unavailable


class ImportGuard(importlib.abc.MetaPathFinder):
    """Refuses a top-level import the course does not allow, with one clear message.

    Allowed: the standard library, numpy (and its submodules), the packages the course
    allows (``[grading] allow_imports``, with what they need), and the submission's own
    modules. Installed before any student code; under bubblewrap the same rule holds by what
    is mounted, so removing the guard gains nothing there.
    """

    def __init__(self, submission: str, importable: list[str]) -> None:
        self.extra = sorted(set(importable) - {"numpy"})
        self.allowed = set(sys.stdlib_module_names) | set(importable) | {"__main__"}
        # where the standard library's private modules live (_sysconfigdata_*), and the
        # student's own helper modules
        stdlib = os.path.dirname(os.__file__)
        self.places = [submission, *(p for p in sys.path if p.startswith(stdlib)
                                     and "-packages" not in p)]
        self.found: dict[str, bool] = {}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if "." in fullname or fullname in self.allowed:
            return None  # a submodule's parent was allowed already
        if fullname not in self.found:
            self.found[fullname] = importlib.machinery.PathFinder.find_spec(
                fullname, self.places) is not None
        if self.found[fullname]:
            return None
        also = f" (this course also allows: {', '.join(self.extra)})" if self.extra else ""
        raise ModuleNotFoundError(
            f"{fullname} is not available here: a submission may import numpy, its "
            f"submodules and the Python standard library{also}", name=fullname)


class Child:
    """State of one child: the submission folder, its imported modules and kept values."""

    def __init__(self, submission: str, read_fd: int, write_fd: int) -> None:
        self.submission = os.path.realpath(submission)
        self.reader = wire.Reader(read_fd)
        self.write_fd = write_fd
        self.modules: dict[str, ModuleType] = {}
        self.kept: dict[int, Any] = {}
        self._student_files: dict[tuple[str, Any], bool] = {}
        self.finder = CourseFinder(self.submission)
        #: public course helpers: their sources (sent by the grader), and those loaded
        self.helper_sources: dict[str, str] = {}
        self.helpers: dict[str, ModuleType] = {}
        sys.meta_path.insert(0, self.finder)

    # -- messages ---------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        wire.write_message(self.write_fd, message)

    def serve(self) -> None:
        self.send({"op": "ready", "pid": os.getpid()})
        while True:
            message = self.reader.read()
            op = message.get("op")
            if op == "exit":
                return
            if op == "course":  # the course's modules and their contract functions
                modules = message.get("modules", {})
                self.finder.course = {str(m): [str(f) for f in fs] for m, fs in modules.items()}
                self.helper_sources = {str(k): str(v)
                                       for k, v in message.get("helpers", {}).items()}
                continue
            if op == "call":
                self.send(self.call(message))
            else:
                self.send({"op": "result", "id": message.get("id"), "ok": False,
                           "error": {"type": "ProtocolError", "message": f"unknown op {op!r}",
                                     "traceback": ""}})

    # -- importing --------------------------------------------------------------------------
    def module(self, name: str) -> ModuleType:
        if name not in self.modules:
            if self.submission not in sys.path:
                sys.path.insert(0, self.submission)
            if getattr(sys.modules.get(name), "__grader_placeholder__", False):
                del sys.modules[name]  # a stand-in for a dependency; now import it for real
            self.send({"op": "importing", "module": name})
            self.finder.top = name
            try:
                self.modules[name] = importlib.import_module(name)
            finally:
                self.finder.top = None
            self.send({"op": "imported", "module": name})
        return self.modules[name]

    # -- values -----------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """Turn decoded handles back into kept objects and callbacks into callables."""
        if isinstance(value, wire.Handle):
            if value.number not in self.kept:
                raise ValueError("unknown handle")
            return self.kept[value.number]
        if isinstance(value, wire.Callback):
            return self.callback(value.name)
        if isinstance(value, wire.Helper):
            return self.helper(value.module, value.function)
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve(v) for v in value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def helper(self, module: str, function: str) -> Callable[..., Any]:
        """A public course helper, run from this child's own copy of its module."""
        if module not in self.helpers:
            if module not in self.helper_sources:
                raise ValueError(f"no course helper module {module!r}")
            loaded = ModuleType(f"_grader_helper_{module}")
            code = compile(self.helper_sources[module], f"<course helper {module}>", "exec")
            exec(code, loaded.__dict__)  # public course code, sent by the grader
            self.helpers[module] = loaded
        found = getattr(self.helpers[module], function, None)
        if not callable(found):
            raise ValueError(f"no course helper {module}.{function}")
        return found  # type: ignore[no-any-return]

    def callback(self, name: str) -> Callable[..., Any]:
        def call_parent(*args: Any, **kwargs: Any) -> Any:
            self.send({"op": "callback", "name": name,
                       "args": wire.encode(list(args), keep=self.kept),
                       "kwargs": wire.encode(kwargs, keep=self.kept)})
            reply = self.reader.read()
            if reply.get("op") != "callback_result":
                raise CallbackError("the grader sent an unexpected message")
            if not reply.get("ok"):
                raise CallbackError(str(reply.get("error", "the grader's function failed")))
            # the parent drew from its copies of our generators: advance ours the same way
            states = reply.get("rng_states") or {}
            pairs = [*zip(args, states.get("args", []), strict=False),
                     *((kwargs.get(k), s) for k, s in states.get("kwargs", {}).items())]
            for arg, state in pairs:
                if state is not None and isinstance(arg, np.random.Generator):
                    arg.bit_generator.state = wire.decode(state)
            return self.resolve(wire.decode(reply.get("value")))

        call_parent.__name__ = call_parent.__qualname__ = name.rsplit(".", 1)[-1]
        return call_parent

    # -- calling ----------------------------------------------------------------------------
    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        """Run one call; its result message (the value, or the error, and the entries of the
        arguments the call replaced)."""
        call_id = message.get("id")
        args: Any = ()
        kwargs: Any = {}
        before: dict[str, Any] = {}
        try:
            module = self.module(str(message["module"]))
            function = getattr(module, str(message["function"]), None)
            if not callable(function):
                return _failure(call_id, "MissingFunction",
                                f"{message['module']}.py has no function "
                                f"{message['function']!r}", "")
            # the array arguments live in the grader's file, mapped: it reads them back itself
            shared = _mapped(message.get("shared"))
            args = self.resolve(wire.decode(message.get("args", []), shared=shared))
            kwargs = self.resolve(wire.decode(message.get("kwargs", {}), shared=shared))
            del shared  # the arrays keep the mapping while they live (a cache may keep X)
            before = dict(_arrays(("args", args), ("kwargs", kwargs)))
            restore = self.patch(message.get("patch", []))
            errstate = message.get("errstate")
            try:
                start = time.perf_counter()
                if errstate:
                    # underflow to 0 is the right answer of a stable exp; numpy ignores it too
                    with np.errstate(all=errstate, under="ignore"):
                        value = function(*args, **kwargs)
                else:
                    value = function(*args, **kwargs)
                seconds = time.perf_counter() - start
            finally:
                restore()
            return {"op": "result", "id": call_id, "ok": True,
                    "value": wire.encode(value, keep=self.kept),
                    "replaced": _replaced(before, args, kwargs), "seconds": seconds,
                    "unisolated": getattr(self, "unisolated", [])}
        except BaseException as exc:  # the student's exception, whatever it is, is data
            failure = _failure(call_id, _type_name(exc), _message(exc),
                               self.student_traceback(exc))
            failure["replaced"] = _replaced(before, args, kwargs)
            return failure

    def patch(self, patches: list[list[str]]) -> Callable[[], None]:
        """Swap functions for parent callbacks wherever the student's code holds them.

        Each patch is (module, function, callback name). A function the student defined keeps
        its identity and gets the callback's code; anything else is replaced wherever a walk
        of the student's modules finds it (``grader/sandbox/swapping.py``). What could not be
        reached is left in ``self.unisolated`` for the call's reply. Returns what restores it all.
        """
        self.unisolated: list[str] = []
        if not patches:
            return _nothing
        swaps = []
        for module_name, function_name, callback_name in patches:
            standing_in = sys.modules.get(module_name)
            if getattr(standing_in, "__grader_placeholder__", False):
                source = standing_in  # a dependency replaced by stand-ins: patch those
            else:
                try:
                    source = self.module(module_name)
                except BaseException:  # a module that cannot be imported has nothing to patch
                    continue
            swaps.append((vars(source), function_name, f"{module_name}.{function_name}",
                          self.callback(callback_name)))
        prefix = self.submission + os.sep

        def own(function: Any) -> bool:  # defined in the submission: its code may be swapped
            return os.path.normpath(str(function.__code__.co_filename)).startswith(prefix)

        # the student's modules are listed only if a walk is needed (not for a def)
        restore, self.unisolated = swapping.swap_in(
            swaps, lambda: [vars(module) for module in self.student_modules()], own=own)
        return restore  # type: ignore[no-any-return]

    def student_modules(self) -> list[ModuleType]:
        """Every loaded module whose file is in the submission (imported directly or not)."""
        prefix = self.submission + os.sep
        found = []
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            key = (name, path)
            if key not in self._student_files:
                # normpath, not realpath: no system call for each of numpy's ~200 modules
                # (the submission's copy holds regular files only, no links)
                self._student_files[key] = isinstance(path, str) and \
                    os.path.normpath(path).startswith(prefix)
            if self._student_files[key]:
                found.append(module)
        return found

    def student_traceback(self, exc: BaseException) -> str:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if os.path.realpath(f.filename).startswith(self.submission + os.sep)]
        lines = traceback.format_list(frames[-5:])
        lines += traceback.format_exception_only(type(exc), exc)
        return "".join(lines)[-4000:]


def _nothing() -> None:
    """Restores nothing (a call without patches)."""


def _type_name(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "OutputLimitExceeded"
    return type(exc).__name__


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "your code wrote more output than the file-size limit allows"
    if isinstance(exc, SystemExit):
        return f"your code called sys.exit({exc.code!r})"
    text = str(exc)
    return text[:2000]


def _failure(call_id: Any, type_name: str, message: str, tb: str) -> dict[str, Any]:
    return {"op": "result", "id": call_id, "ok": False,
            "error": {"type": type_name, "message": message, "traceback": tb}}


def _arrays(*named: tuple[str, Any]) -> Iterator[tuple[str, np.ndarray[Any, Any]]]:
    stack = list(named)
    while stack:
        path, value = stack.pop()
        if isinstance(value, _ndarray):
            yield path, value
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, dict):
            stack.extend((f"{path}[{k!r}]", v) for k, v in value.items())


def _mapped(path: Any) -> Any:
    """The call's shared file (written by the grader), mapped read-write and shared, or None
    when the call has no array arguments."""
    if not path:
        return None
    import mmap

    fd = os.open(str(path), os.O_RDWR | os.O_CLOEXEC)
    try:
        return mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)


def _replaced(before: dict[str, Any], args: Any, kwargs: Any) -> list[str]:
    """Paths whose array is no longer the one the call was given (an entry of a dict or list
    argument replaced or removed): a change the grader cannot see in the shared file."""
    try:
        after = dict(_arrays(("args", args), ("kwargs", kwargs)))
        return [path for path, arr in before.items() if after.get(path) is not arr]
    except Exception:  # arguments the call made unwalkable: nothing to add
        return []


def run_child(submission: str, read_fd: int, write_fd: int, importable: list[str]) -> None:
    """Serve one submission's calls until the grader says exit or closes the channel."""
    startup(submission, importable)
    child = WatchedChild(submission, read_fd, write_fd)
    try:
        child.serve()
    except wire.ChannelClosed:
        pass


# -- what the instructor sees: attempts at blocked or suspicious actions --------------------------
MAX_ATTEMPTS = 20
#: attempts not yet reported, and every one seen (each is reported once)
_attempts: list[str] = []
_seen: set[str] = set()
_writable: tuple[str, ...] = ()
_harness: list[tuple[str, Any, str, Any]] = []
_guard: list[ImportGuard] = []
_WATCHED = frozenset({
    "socket.connect", "socket.bind", "socket.sendto", "open", "os.kill", "os.killpg",
    "signal.pthread_kill", "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.system",
    "subprocess.Popen", "ctypes.dlopen"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def startup(submission: str, importable: list[str]) -> None:
    """Before any student code: the import guard, and an audit hook (it cannot be removed)
    noting attempts; the harness's own names are remembered to notice their replacement."""
    global _writable
    guard = ImportGuard(os.path.realpath(submission), importable)
    sys.meta_path.insert(0, guard)
    _guard.append(guard)
    places = {"/work", "/tmp", "/dev/shm", "/io", os.getcwd(), os.environ.get("TMPDIR", "/tmp")}
    _writable = tuple(os.path.realpath(p) + os.sep for p in places)
    if not _harness:  # a forked child has the zygote's list: the same objects
        _remember_harness()
    forbid_namespaces()
    sys.addaudithook(_audit)


#: (audit arch, unshare, setns, clone, clone3, (add_key, request_key, keyctl)) of the
#: architectures the filter knows
_SYSCALLS = {"x86_64": (0xC000003E, 272, 308, 56, 435, (248, 249, 250)),
             "aarch64": (0xC00000B7, 97, 268, 220, 435, (217, 218, 219))}
#: every CLONE_NEW* flag (time, mount, cgroup, uts, ipc, user, pid, network)
_CLONE_NEW = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 \
    | 0x20000000 | 0x40000000


def forbid_namespaces() -> None:
    """A seccomp filter: no new namespace from here on (``unshare``, ``setns``, ``clone``
    with a ``CLONE_NEW*`` flag fail with EPERM, ``clone3`` with ENOSYS so that the C library
    falls back to ``clone``). Without it a child could make a user namespace of its own and
    there mount tmpfs or SysV memory that no limit of ours caps. The kernel's key store
    (``add_key``, ``request_key``, ``keyctl``) is refused too: a uid's user keyring outlives
    the child and would carry a message to the next student. Another architecture's system
    calls (x32, i386) are refused. Does nothing on an unknown machine."""
    import ctypes
    import platform
    import struct

    known = _SYSCALLS.get(platform.machine())
    if known is None:
        return
    arch, unshare, setns, clone, clone3, (add_key, request_key, keyctl) = known
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    load, equal, test, ret = 0x20, 0x15, 0x45, 0x06  # BPF_LD|W|ABS, JEQ|K, JSET|K, RET|K
    program = [
        (load, 0, 0, 4), (equal, 1, 0, arch), (ret, 0, 0, eperm),  # another ABI: refused
        (load, 0, 0, 0), (test, 0, 1, 0x40000000), (ret, 0, 0, eperm),  # x32 calls
        # jumps count the instructions skipped: to 17 (EPERM), 18 (ENOSYS) or 16 (allow)
        (equal, 10, 0, unshare), (equal, 9, 0, setns), (equal, 8, 0, add_key),
        (equal, 7, 0, request_key), (equal, 6, 0, keyctl), (equal, 6, 0, clone3),
        (equal, 0, 3, clone),
        (load, 0, 0, 16), (test, 0, 1, _CLONE_NEW), (ret, 0, 0, eperm), (ret, 0, 0, allow),
        (ret, 0, 0, eperm), (ret, 0, 0, enosys)]
    code = b"".join(struct.pack("=HBBI", *op) for op in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("=HxxxxxxQ", len(program), ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        number = ctypes.get_errno()
        raise OSError(number, f"no seccomp filter: {os.strerror(number)}")


def _remember_harness() -> None:
    """Note the harness's module-level functions, classes (and their methods) and modules."""
    main = sys.modules["__main__"]
    for label, holder in (("__main__", main), ("wire", wire)):
        for name, value in vars(holder).items():
            if name.startswith("__") or not (callable(value) or isinstance(value, ModuleType)):
                continue
            _harness.append((label, holder, name, value))
            if isinstance(value, type) and value.__module__ == main.__name__:
                _harness.extend((f"{label}.{name}", value, attr, member)
                                for attr, member in vars(value).items() if callable(member))


def _attempt(text: str) -> None:
    text = "".join(c if c.isprintable() else "?" for c in text[:160])
    if text not in _seen and len(_seen) < 5 * MAX_ATTEMPTS:
        _seen.add(text)
        _attempts.append(text)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event not in _WATCHED:
        return
    try:
        text = _describe(event, args)
    except Exception:  # an odd argument: nothing to report
        return
    if text:
        _attempt(text)


def _describe(event: str, args: tuple[Any, ...]) -> str | None:
    if event == "open":
        path, mode, flags = args
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) \
            else bool(flags & _WRITE_FLAGS)
        if not writes or isinstance(path, int):
            return None
        name = os.path.abspath(os.fsdecode(path))
        if name in ("/dev/null", "/dev/stdout", "/dev/stderr") \
                or (name + os.sep).startswith(_writable):
            return None
        return f"write outside the sandbox's folders: {name}"
    if event.startswith("socket."):
        address = args[1]
        where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        return f"network: {event[7:]} {where}"
    if event in ("os.kill", "os.killpg", "signal.pthread_kill"):
        return f"signal {args[1]} sent to {'process' if event == 'os.kill' else 'group'} {args[0]}"
    if event in ("os.fork", "os.forkpty"):
        return "process: fork"
    if event == "subprocess.Popen":
        program = args[0] or (args[1][0] if isinstance(args[1], list | tuple) else args[1])
        return f"process: subprocess {os.fsdecode(program)}"
    if event == "ctypes.dlopen":
        return f"native code: ctypes loads {args[0]}"
    return f"process: {event[3:]} {os.fsdecode(args[0])}"  # exec, posix_spawn, system


def _check_harness() -> None:
    """Note any harness name that is no longer the object it was at start."""
    for label, holder, name, value in _harness:
        if vars(holder).get(name) is not value:
            _attempt(f"harness tampering: {label}.{name} replaced")
    if _guard and _guard[0] not in sys.meta_path:
        _attempt("harness tampering: the import guard was removed")


class WatchedChild(Child):
    """A child whose result messages carry the attempts seen since the previous one."""

    def send(self, message: dict[str, Any]) -> None:
        if message.get("op") == "result":
            _check_harness()
            if _attempts:
                message["attempts"] = _attempts[:MAX_ATTEMPTS]
                del _attempts[:]
        super().send(message)


# -- the warm start: a zygote that forks one child per submission --------------------------------
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4


def _prctl(option: int, value: int) -> None:
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _others() -> list[int]:
    """Every live process of this pid namespace but the zygote and the namespace's init."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (1, me):
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    state = fh.read().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue  # gone meanwhile
            if state not in (b"Z", b"X"):
                found.append(int(entry))
    return found


def _clean(child: int | None, grace: float) -> int | None:
    """End the current child and everything it left behind; return its exit status.

    Waits up to ``grace`` seconds for the child to end by itself (after a crash, to report
    how it ended), then kills every other process of the namespace, as many times as needed.
    """
    import signal

    code: int | None = None
    until = time.monotonic() + grace
    while child is not None:
        try:
            pid, status = os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() >= until:
            break
        time.sleep(0.002)
    for _ in range(1000):
        try:
            os.kill(-1, signal.SIGKILL)  # all this uid may signal here: never us, never init
        except ProcessLookupError:
            pass
        while True:  # reap our own children; orphans go to the namespace's init
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            if pid == child and code is None:
                code = os.waitstatus_to_exitcode(status)
        if not _others():
            return code
        time.sleep(0.001)
    raise RuntimeError("processes of the previous submission would not die")


def _address_space() -> int:
    """This process's virtual memory size in bytes (what RLIMIT_AS counts)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _start_forked(request: dict[str, Any], fds: list[int]) -> None:
    """(In the forked child.) Become a fresh child for one submission; never returns."""
    import resource

    code = 70
    try:
        read_fd, write_fd, out_fd, err_fd, folder = fds
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        for fd in (out_fd, err_fd):
            if fd > 2:
                os.close(fd)
        _prctl(PR_SET_PDEATHSIG, 9)  # the zygote gone: nothing of this submission lingers
        try:
            fresh_world({str(k): int(v) for k, v in request["tmpfs"].items()},
                        int(request.get("sysv", 0)), folder)
            os.close(folder)
        except OSError as exc:
            wire.write_message(write_fd, {"op": f"no fresh world for the child: {exc}"})
            return
        _own_pids((read_fd, write_fd))
        memory = int(request["memory"])
        size = int(request["file_size"])
        if memory <= _address_space():  # a cold start could not even import numpy
            wire.write_message(write_fd, {"op": f"too little memory: the limit of "
                                                f"{memory >> 20} MB is below what Python and "
                                                f"numpy take ({_address_space() >> 20} MB)"})
            return
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.chdir(str(request["cwd"]))
        submission = str(request["submission"])
        sys.argv = [sys.argv[0], submission, str(read_fd), str(write_fd)]  # as a cold start
        run_child(submission, read_fd, write_fd, [str(n) for n in request.get("allow", [])])
        code = 0
    finally:
        os._exit(code)


def _own_pids(channel: tuple[int, int]) -> None:
    """(After :func:`fresh_world`.) Return in the first process of a pid namespace of its
    own: pid 1 for every student, whatever an earlier one forked (the pid counter is no
    channel between students), and when it ends every process it left ends too. As a
    namespace's init it ignores signals it sends itself without a handler (a self-SIGKILL
    does nothing; faults still kill it) and adopts its orphans. The process above waits
    for it and ends as it ended, without the call channel, so the channel's end is seen at
    once; that one never returns. One fork (about 1 ms): a pid 1 of its own to keep the
    student at pid 2 would take a second one."""
    import contextlib
    import signal

    child = os.fork()
    if child == 0:
        _prctl(PR_SET_PDEATHSIG, 9)
        return
    for fd in channel:
        os.close(fd)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 70)


# -- a fresh world per forked child ---------------------------------------------------------------
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x08000000, 0x10000000, \
    0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE, MS_RELATIME = 4096, 16384, 1 << 18, 1 << 21
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 24, 38, 47
#: the writable places of a child (the grader sends each one's size)
PLACES = ("/tmp", "/work", "/dev/shm")
NOBODY = 65534


def fresh_world(sizes: dict[str, int], sysv: int = 0, submission: int | None = None) -> None:
    """(In a forked child, before any student code.) Own namespaces, fresh writable places.

    A new user namespace A, where this process is root (its own uid, mapped to 0), owning a
    new mount and IPC namespace: a size-capped tmpfs on each writable place (binds that
    were below one, a venv under /tmp, carried over read-only), the submission's files
    copied from the descriptor ``submission`` into a read-only tmpfs at /submission (so no
    host folder of the submission is bound), SysV IPC of its own limited to ``sysv`` bytes of
    shared memory and 8 small queues, and /proc/sys read-only; then a user namespace B inside
    A, where the uid is its own again, without any power over A's namespaces, and every
    capability dropped. All of it dies with the child and its processes. The root and /dev
    are read-only already (bubblewrap's ``--remount-ro``).
    """
    import ctypes

    libc, below = _world_tools(tuple(sizes))

    def check(result: int, what: str) -> None:
        if result != 0:
            number = ctypes.get_errno()
            raise OSError(number, f"{what}: {os.strerror(number)}")

    def mount(source: str | None, target: str, kind: str | None, flags: int,
              data: str | None = None) -> None:
        check(libc.mount(source and source.encode(), target.encode(), kind and kind.encode(),
                         flags, data and data.encode()), f"mount {target}")

    def enter(inside: int, outside: int) -> None:
        check(libc.unshare(CLONE_NEWUSER | (CLONE_NEWNS | CLONE_NEWIPC if inside == 0 else 0)),
              "unshare")
        for name, text in (("setgroups", "deny"), ("uid_map", f"{inside} {outside} 1"),
                           ("gid_map", f"{inside} {outside} 1")):
            with open(f"/proc/self/{name}", "w") as fh:
                fh.write(text)

    uid = os.geteuid()
    # dumpable again (the zygote is not), or /proc/self/uid_map would be root's to write
    check(libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")
    enter(0, uid)  # A: root of its mount and IPC namespaces
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing of ours propagates back
    for place, size in sizes.items():
        old = os.open(place, os.O_PATH | os.O_DIRECTORY)  # the covered folder, for its binds
        try:
            mode = "755" if place == "/work" else "1777"
            mount("tmpfs", place, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode={mode}")
            for inner in below[place]:
                target = os.path.join(place, inner)
                os.makedirs(target, exist_ok=True)
                mount(f"/proc/self/fd/{old}/{inner}", target, None, MS_BIND | MS_REC)
        finally:
            os.close(old)
    if submission is not None:
        files = _read_modules(submission)
        room = max(sum(len(data) for data in files.values()) * 2, 1 << 16)
        mount("tmpfs", "/submission", "tmpfs", MS_NOSUID | MS_NODEV, f"size={room},mode=755")
        for name, data in files.items():
            with open(f"/submission/{name}", "wb") as fh:
                fh.write(data)
        mount(None, "/submission", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    limit_ipc(sysv)
    mount("/proc/sys", "/proc/sys", None, MS_BIND | MS_REC)  # as A's root we could raise them
    mount(None, "/proc/sys", None,
          MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME)
    enter(NOBODY, 0)  # B: the student's own uid, no capability over A
    check(libc.unshare(CLONE_NEWPID), "unshare pid")  # see _own_pids
    _drop_capabilities(libc)


def _read_modules(folder: int) -> dict[str, bytes]:
    """The regular ``*.py`` files of the open folder ``folder`` (never through a link)."""
    found = {}
    for name in os.listdir(folder):
        if name.endswith(".py") and "/" not in name:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder)
            with os.fdopen(fd, "rb") as fh:
                found[name] = fh.read()
    return found


def limit_ipc(sysv: int) -> None:
    """Cap this (new) IPC namespace's SysV shared memory at ``sysv`` bytes, 64 segments, and
    8 message queues of 16 KiB: memory no address-space limit counts (0: no change)."""
    if sysv <= 0:
        return
    for name, value in (("shmmax", sysv), ("shmall", max(sysv // 4096, 1)), ("shmmni", 64),
                        ("msgmni", 8), ("msgmnb", 16384)):
        with open(f"/proc/sys/kernel/{name}", "w") as fh:
            fh.write(str(value))


def _drop_capabilities(libc: Any) -> None:
    """Drop every capability for good: the bounding set first (that needs CAP_SETPCAP), the
    ambient ones, then all others; no exec may gain any back."""
    import ctypes

    for cap in range(64):  # past the last one: EINVAL, ignored
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 \
            or libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"dropping capabilities: {os.strerror(number)}")


def become_nobody(sysv: int) -> None:
    """(Under bubblewrap started by root, first thing.) Cap this child's own IPC namespace
    (see :func:`limit_ipc`: its root may), then leave the namespace's root, which is the
    host's uid 0, for the real uid 65534, with no capability left."""
    import ctypes

    limit_ipc(sysv)
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(64):  # while CAP_SETPCAP is still ours
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)  # the permitted and effective sets go with uid 0
    _drop_capabilities(libc)
    if os.geteuid() != NOBODY or os.getegid() != NOBODY:
        raise SystemExit("the sandbox could not leave uid 0")


_tools: dict[tuple[str, ...], tuple[Any, dict[str, list[str]]]] = {}


def _world_tools(places: tuple[str, ...]) -> tuple[Any, dict[str, list[str]]]:
    """libc for ctypes, and the mounts below each place: found once, in the zygote (a child
    forked from it finds them ready, which saves it about 2 ms)."""
    if places not in _tools:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                               ctypes.c_ulong, ctypes.c_char_p]
        _tools[places] = (libc, _mounts_below(places))
    return _tools[places]


def _mounts_below(places: tuple[str, ...]) -> dict[str, list[str]]:
    """Per place, the outermost mounts below it (relative paths), from mountinfo."""
    with open("/proc/self/mountinfo") as fh:
        points = [_unescape(line.split()[4]) for line in fh]
    found: dict[str, list[str]] = {}
    for place in places:
        inner = sorted(p for p in points if p.startswith(place + "/"))
        outer = [p for p in inner if not any(p.startswith(q + "/") for q in inner)]
        found[place] = sorted({os.path.relpath(p, place) for p in outer})
    return found


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape").encode("latin-1").decode(errors="replace")


def _probe_fresh_world() -> str | None:
    """Whether a forked child can make its fresh world here: None, or why not."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            fresh_world(dict.fromkeys(PLACES, 1 << 20), 1 << 20,
                        os.open("/grader", os.O_RDONLY | os.O_DIRECTORY))
            code = 0
        except BaseException as exc:
            os.write(write_end, str(exc).encode()[:300])
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        why = fh.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if status == 0 and not why:
        return None
    return why or f"the probe ended with status {status}"


def zygote(control_fd: int) -> int:
    """Serve fork requests from the grader on a unix socket, one child at a time.

    Requests (JSON, one per datagram): ``fork`` with five descriptors attached (the call
    channel's read and write ends, stdout, stderr, the submission's folder) starts a child;
    ``reset`` ends it and everything it started (``kill(-1)`` in this pid namespace,
    which spares only this process and the namespace's init) and answers with its exit
    status. The zygote is not dumpable, so a child running as the same uid cannot ptrace it
    or read its memory.
    """
    import json
    import socket

    _prctl(PR_SET_DUMPABLE, 0)
    sock = socket.socket(fileno=control_fd)
    # numpy loads these lazily, and student code touches them (an ``rng: np.random.Generator``
    # annotation, ``np.linalg.norm``): loaded once here, no child pays for them
    import numpy.linalg
    import numpy.random  # noqa: F401

    def answer(message: dict[str, Any]) -> None:
        sock.send(json.dumps(message).encode("utf-8"))

    _world_tools(PLACES)
    _remember_harness()
    answer({"op": "ready", "pid": os.getpid(), "fresh_world": _probe_fresh_world()})
    child: int | None = None
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 8)
        except OSError:
            return 0
        if not data:
            return 0  # the grader is gone
        request = json.loads(data)
        op = request.get("op")
        if op == "fork":
            _clean(child, 0.0)
            if len(fds) != 5:
                for fd in fds:
                    os.close(fd)
                answer({"op": "error", "message": "fork needs five descriptors"})
                continue
            pid = os.fork()
            if pid == 0:
                sock.close()
                _start_forked(request, fds)
            for fd in fds:
                os.close(fd)
            child = pid
            answer({"op": "forked", "pid": pid})
        elif op == "reset":
            code = _clean(child, float(request.get("grace", 0.0)))
            child = None
            answer({"op": "clean", "code": code})
        else:
            for fd in fds:
                os.close(fd)
            answer({"op": "error", "message": f"unknown op {op!r}"})


def main(argv: list[str]) -> int:
    if argv[1:2] == ["--cwd"]:  # under bubblewrap, started in Python's folder
        os.chdir(argv[2])
        argv = argv[:1] + argv[3:]
    if argv[1:2] == ["--as-nobody"]:
        become_nobody(int(argv[2]))
        argv = argv[:1] + argv[3:]
    if len(argv) == 3 and argv[1] == "--zygote":
        return zygote(int(argv[2]))
    importable = argv[4].split(",") if len(argv) > 4 else []
    run_child(argv[1], int(argv[2]), int(argv[3]), [name for name in importable if name])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
