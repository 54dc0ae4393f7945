"""The sandboxed child: imports a submission's modules and calls their functions on request.

Run as a script by :mod:`grader.sandbox` (``python -I _child.py SUBMISSION READ_FD WRITE_FD``),
never imported by the grader. It trusts nothing it runs: every reply is plain data built by
:mod:`grader.wire` and the parent re-checks all of it. Only numpy and the standard library are
imported here, so the start-up cost stays that of numpy.
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

import numpy as np  # noqa: E402  (after the wire module, which imports it anyway)

# Bound now, before any student code runs: a submission that patches numpy cannot hide
# a mutation or an aliased output from these.
_array_equal = np.array_equal
_shares_memory = np.shares_memory
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
        call_id = message.get("id")
        args: Any = ()
        kwargs: Any = {}
        snapshot: dict[str, Any] = {}
        try:
            module = self.module(str(message["module"]))
            function = getattr(module, str(message["function"]), None)
            if not callable(function):
                return _failure(call_id, "MissingFunction",
                                f"{message['module']}.py has no function "
                                f"{message['function']!r}", "")
            args = self.resolve(wire.decode(message.get("args", [])))
            kwargs = self.resolve(wire.decode(message.get("kwargs", {})))
            snapshot = _snapshot(args, kwargs)
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
            after = list(_arrays(("args", args), ("kwargs", kwargs)))  # one walk for both
            mutated = [path for path, now in after
                       if path in snapshot and not _same(snapshot[path], now)]
            returned = [out for _, out in _arrays(("result", value))]
            aliased = sorted({path for path, arr in after
                              for out in returned if _shares_memory(arr, out)}) \
                if returned else []
            return {"op": "result", "id": call_id, "ok": True,
                    "value": wire.encode(value, keep=self.kept),
                    "mutated": mutated, "aliased": aliased, "seconds": seconds}
        except BaseException as exc:  # the student's exception, whatever it is, is data
            failure = _failure(call_id, _type_name(exc), _message(exc),
                               self.student_traceback(exc))
            failure["mutated"] = [path for path, before, now in _changed(snapshot, args, kwargs)
                                  if not _same(before, now)]
            return failure

    def patch(self, patches: list[list[str]]) -> Callable[[], None]:
        """Replace functions by parent callbacks in every module that refers to them."""
        undo: list[tuple[ModuleType, str, Any]] = []
        modules = self.student_modules() if patches else []
        for module_name, function_name, callback_name in patches:
            standing_in = sys.modules.get(module_name)
            if getattr(standing_in, "__grader_placeholder__", False):
                source = standing_in  # a dependency replaced by stand-ins: patch those
            else:
                try:
                    source = self.module(module_name)
                except BaseException:  # a module that cannot be imported has nothing to patch
                    continue
            original = getattr(source, function_name, None)
            replacement = self.callback(callback_name)
            for module in modules:
                for attr, current in list(vars(module).items()):
                    if (module is source and attr == function_name) or (
                        original is not None and current is original
                    ):
                        undo.append((module, attr, current))
                        setattr(module, attr, replacement)

        def restore() -> None:
            for module, attr, current in reversed(undo):
                setattr(module, attr, current)

        return restore

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


def _snapshot(args: Any, kwargs: Any) -> dict[str, np.ndarray[Any, Any]]:
    return {path: arr.copy() for path, arr in _arrays(("args", args), ("kwargs", kwargs))}


def _changed(
    snapshot: dict[str, np.ndarray[Any, Any]], args: Any, kwargs: Any
) -> Iterator[tuple[str, np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    for path, arr in _arrays(("args", args), ("kwargs", kwargs)):
        if path in snapshot:
            yield path, snapshot[path], arr


def _same(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> bool:
    if a.shape != b.shape:
        return False
    try:
        return bool(_array_equal(a, b, equal_nan=True))
    except TypeError:
        return bool(_array_equal(a, b))


def run_child(submission: str, read_fd: int, write_fd: int) -> None:
    """Serve one submission's calls until the grader says exit or closes the channel."""
    child = Child(submission, read_fd, write_fd)
    try:
        child.serve()
    except wire.ChannelClosed:
        pass


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
        read_fd, write_fd, out_fd, err_fd = fds
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        for fd in (out_fd, err_fd):
            if fd > 2:
                os.close(fd)
        _prctl(PR_SET_PDEATHSIG, 9)  # the zygote gone: nothing of this submission lingers
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
        run_child(submission, read_fd, write_fd)
        code = 0
    finally:
        os._exit(code)


def zygote(control_fd: int) -> int:
    """Serve fork requests from the grader on a unix socket, one child at a time.

    Requests (JSON, one per datagram): ``fork`` with four descriptors attached (the call
    channel's read and write ends, stdout, stderr) starts a child for the submission folder
    given; ``reset`` ends it and everything it started (``kill(-1)`` in this pid namespace,
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

    answer({"op": "ready", "pid": os.getpid()})
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
            if len(fds) != 4:
                for fd in fds:
                    os.close(fd)
                answer({"op": "error", "message": "fork needs four descriptors"})
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
    if len(argv) == 3 and argv[1] == "--zygote":
        return zygote(int(argv[2]))
    run_child(argv[1], int(argv[2]), int(argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
