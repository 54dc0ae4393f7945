"""The sandboxed child: imports a submission's modules and calls their functions on request.

Run as a script by :mod:`grader.sandbox.launch` (``python -I -B _child.py SUBMISSION READ_FD
WRITE_FD IMPORTABLE``, or ``--zygote CONTROL_FD`` for warm starts), never imported by the
grader. It trusts nothing it runs: every reply is plain data built by
:mod:`grader.sandbox.wire` and the parent re-checks all of it. Only numpy and the standard
library are imported here, so the start-up cost stays that of numpy.

Its sibling modules come from this file's own folder (under bubblewrap, the copies bound at
``/grader``; see ``CHILD_MODULES`` in :mod:`grader.sandbox.mounts`), never from an installed
grader: :mod:`~grader.sandbox.calls` (what a call means, shared with the in-process runner),
:mod:`~grader.sandbox.wire`, :mod:`~grader.sandbox.swapping`, and the child's own
:mod:`~grader.sandbox._guard` (imports), :mod:`~grader.sandbox._watch` (attempts),
:mod:`~grader.sandbox._world` (namespaces, seccomp) and :mod:`~grader.sandbox._zygote`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

#: the name the child gives its folder's modules, as a package of their own
PACKAGE = "_grader_sandbox"


def _as_package() -> None:
    """Make this file's folder the package :data:`PACKAGE`. Run as a script in isolated mode
    this file has no package and its folder is not on ``sys.path``; as a package of their
    own its siblings import each other (``from . import wire``) as they do in the grader."""
    spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
    spec.submodule_search_locations = [os.path.dirname(os.path.abspath(__file__))]
    sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)


if not __package__:  # run as a script: the sandbox's way
    _as_package()
    __package__ = PACKAGE

import errno  # noqa: E402  (after the package exists)
import importlib  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402
from collections.abc import Callable  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from . import _guard, _watch, _world, _zygote, calls, frames, swapping, wire  # noqa: E402

#: the harness's modules, remembered at start (replacing one of their names is tampering)
_HARNESS = (("wire", wire), ("frames", frames), ("calls", calls), ("swapping", swapping),
            ("_guard", _guard), ("_watch", _watch), ("_world", _world), ("_zygote", _zygote))


class CallbackError(Exception):
    """A parent-side function called from the submission raised an error."""


class Child(calls.Caller):
    """One child: the submission folder, its imported modules, kept values, and the channel.

    Calls run with the semantics of :class:`grader.sandbox.calls.Caller`; this class says
    where things are (callbacks go through the channel, helpers are run from the child's own
    copy) and turns each outcome into a result message.
    """

    def __init__(self, submission: str, read_fd: int, write_fd: int,
                 watch: _watch.Watch | None = None) -> None:
        super().__init__()
        self.submission = os.path.realpath(submission)
        self.reader = wire.Reader(read_fd)
        self.write_fd = write_fd
        self.watch = watch
        self.modules: dict[str, ModuleType] = {}
        self._student_files: dict[tuple[str, Any], bool] = {}
        self.finder = _guard.CourseFinder(self.submission)
        #: public course helpers: their sources (sent by the grader), and those loaded
        self.helper_sources: dict[str, str] = {}
        self.helpers: dict[str, ModuleType] = {}
        sys.meta_path.insert(0, self.finder)

    # -- messages ---------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        """Send a message; a result carries the attempts noted since the previous one."""
        if message.get("op") == "result" and self.watch is not None:
            attempts = self.watch.take()
            if attempts:
                message["attempts"] = attempts
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

    # -- where things are (see calls.Caller) --------------------------------------------------
    def helper(self, reference: wire.Helper) -> Callable[..., Any]:
        """A public course helper, run from this child's own copy of its module."""
        module, function = reference.module, reference.function
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
        """A function that calls the grader's function ``name`` through the channel."""
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

    def source(self, module: str) -> calls.Namespace | None:
        """A declared function's module: a dependency's stand-ins, or the module imported
        (None when it cannot be: it has nothing to swap)."""
        standing_in = sys.modules.get(module)
        if getattr(standing_in, "__grader_placeholder__", False):
            return vars(standing_in)  # a dependency replaced by stand-ins: patch those
        try:
            return vars(self.module(module))
        except BaseException:  # a module that cannot be imported has nothing to patch
            return None

    def scope(self) -> tuple[Callable[[], list[calls.Namespace]],
                             Callable[[types.FunctionType], bool]]:
        """The student's modules (listed only if a walk is needed, not for a def), and as
        the student's own, the functions whose code comes from a file of the submission."""
        prefix = self.submission + os.sep

        def own(function: types.FunctionType) -> bool:
            return os.path.normpath(str(function.__code__.co_filename)).startswith(prefix)

        return (lambda: [vars(module) for module in self.student_modules()]), own

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

    # -- calling ----------------------------------------------------------------------------
    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        """Run one call; its result message (the value, or the error, and the entries of the
        arguments the call replaced)."""
        call_id = message.get("id")
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
            outcome = self.run(function, args, kwargs, message.get("patch", []),
                               message.get("errstate"))
            if outcome.error is None:
                try:
                    value = wire.encode(outcome.value, keep=self.kept)
                except BaseException as exc:  # a value that cannot be sent: the call's error
                    outcome.error = exc
                else:
                    return {"op": "result", "id": call_id, "ok": True, "value": value,
                            "replaced": outcome.replaced, "seconds": outcome.seconds,
                            "unisolated": outcome.unisolated}
            failure = self.failure(call_id, outcome.error)
            failure["replaced"] = outcome.replaced
            return failure
        except BaseException as exc:  # the student's exception, whatever it is, is data
            failure = self.failure(call_id, exc)
            failure["replaced"] = []
            return failure

    def failure(self, call_id: Any, exc: BaseException) -> dict[str, Any]:
        """The result message of a call that raised ``exc``."""
        return _failure(call_id, _type_name(exc), _message(exc), self.student_traceback(exc))

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
    return calls.error_text(exc)


def _failure(call_id: Any, type_name: str, message: str, tb: str) -> dict[str, Any]:
    return {"op": "result", "id": call_id, "ok": False,
            "error": {"type": type_name, "message": message, "traceback": tb}}


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


def harness() -> list[tuple[str, ModuleType]]:
    """The harness's modules, with their labels in attempts: this script and its siblings."""
    return [("__main__", sys.modules["__main__"]), *_HARNESS]


def startup(submission: str, importable: list[str], watch: _watch.Watch) -> None:
    """Before any student code: the import guard, and an audit hook (it cannot be removed)
    noting attempts; the harness's own names are remembered to notice their replacement."""
    guard = _guard.ImportGuard(os.path.realpath(submission), importable)
    sys.meta_path.insert(0, guard)
    watch.guard = guard
    if not watch.harness:  # a forked child has the zygote's list: the same objects
        watch.remember(harness())
    _world.forbid_namespaces()
    watch.start({"/work", "/tmp", "/dev/shm", "/io", os.getcwd(),
                 os.environ.get("TMPDIR", "/tmp")})


def run_child(submission: str, read_fd: int, write_fd: int, importable: list[str],
              watch: _watch.Watch | None = None) -> None:
    """Serve one submission's calls until the grader says exit or closes the channel."""
    watch = watch or _watch.Watch()
    startup(submission, importable, watch)
    child = Child(submission, read_fd, write_fd, watch)
    try:
        child.serve()
    except wire.ChannelClosed:
        pass


def main(argv: list[str]) -> int:
    if argv[1:2] == ["--cwd"]:  # under bubblewrap, started in Python's folder
        os.chdir(argv[2])
        argv = argv[:1] + argv[3:]
    if argv[1:2] == ["--as-nobody"]:
        _world.become_nobody(int(argv[2]))
        argv = argv[:1] + argv[3:]
    watch = _watch.Watch()
    if len(argv) == 3 and argv[1] == "--zygote":
        watch.remember(harness())  # once: every forked child compares with the same list

        def start(submission: str, read_fd: int, write_fd: int, allow: list[str]) -> None:
            run_child(submission, read_fd, write_fd, allow, watch)

        return _zygote.serve(int(argv[2]), start)
    importable = argv[4].split(",") if len(argv) > 4 else []
    run_child(argv[1], int(argv[2]), int(argv[3]), [name for name in importable if name],
              watch)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
