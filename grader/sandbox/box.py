"""The sandbox: student code runs in a child process; the grader only ever sees plain data.

:class:`Sandbox` starts ``_child.py`` in a new session (its own process group) with resource
limits, a scrubbed environment and an empty working directory, and calls the submission's
functions through the :mod:`grader.sandbox.wire` channel. Every returned value is rebuilt from bytes
in this process. A call that overruns its deadline, or a child that dies, costs that call only:
the process group is killed and the next call starts a fresh child.

Guarantees, each resting on a limit of :class:`Limits`:

- **Deadlines.** Every write to the child and every read from it ends by the call's deadline
  (``call_timeout``, cut to what is left of ``submission_timeout``), callbacks included; a
  child that stops reading or answering costs its call a timeout and is killed.
- **Sizes.** A message from the child over ``message_mb`` is refused at its header and the
  child killed; a callback reply that would be larger is the student's error (a
  ``CallbackError`` in the child), and so is a callback that needs more than ``callback_mb``
  of memory (:mod:`grader.sandbox.budget`).
- **Memory of the grader.** What one child can make a grading process allocate beyond the
  grader's own (the course, the reference, the test's values) is at most
  :attr:`Limits.grader_memory_bytes` = ``wire.READ_FACTOR * message_mb + callback_mb``
  (256 MB + 256 MB by default): reading its largest message, then serving a callback.
- **Evidence.** A call's array arguments are written to a new file of the child's I/O
  folder, which the child maps and builds its arguments on; after the call the grader reads
  the file back itself (:mod:`grader.sandbox.evidence`), so :attr:`CallResult.mutated` is its own
  observation, whatever the student's code replaced in the child. Arguments passed as
  handles stay in the child and cannot be observed (:attr:`CallResult.unobserved`); whether
  a result shares memory with an argument cannot be observed at all, and is not reported.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from grader.sandbox import budget, evidence, launch, wire
from grader.sandbox.isolation import Isolation, detect
from grader.sandbox.limits import Limits

CHILD_SCRIPT = Path(__file__).with_name("_child.py")


class StudentError(Exception):
    """The student's code raised an exception (or could not be imported)."""

    def __init__(self, type_name: str, message: str, traceback: str = "",
                 mutated: list[str] | None = None) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        #: argument paths the call changed in place before it raised (see CallResult.mutated)
        self.mutated = mutated or []

    @property
    def not_implemented(self) -> bool:
        """Whether the function is still the stub (raises ``NotImplementedError``)."""
        return self.type_name == "NotImplementedError"


class StudentTimeout(Exception):
    """A call ran past its deadline, or the submission used up its time budget."""


class SandboxCrash(Exception):
    """The child process ended during a call (exit, signal, or a broken channel)."""


class SandboxUnavailable(Exception):
    """The child could not start at all, before any student code ran: the grader's problem
    (a broken installation, a memory limit too small), never a student's."""


@dataclass
class CallResult:
    """What one call returned, rebuilt in the grader's process.

    Attributes
    ----------
    value : Any
        The returned value: fresh numpy arrays, Python numbers, strings, containers.
    mutated : list of str
        Argument paths (``args[0]['W1']``) of arrays the call changed in place: the grader
        saw their bytes change (its own observation), or the child reported the entry
        replaced (its word against itself: it can add a failure, never remove one).
    unobserved : list of str
        Argument paths of handles: values kept in the child, whose changes the grader
        cannot see (a call with any is no evidence of leaving its arguments unchanged).
    seconds : float
        Time spent inside the student's function, as measured in the child.
    unisolated : list of str
        The child's word on functions it was asked to swap for the reference but could not
        reach everywhere the student's code holds them (`grader.sandbox.swapping`): feedback only.
    """

    value: Any
    mutated: list[str] = field(default_factory=list)
    unobserved: list[str] = field(default_factory=list)
    seconds: float = 0.0
    unisolated: list[str] = field(default_factory=list)


class Runner(Protocol):
    """What the test API calls student code through: :class:`Sandbox`, or
    :class:`grader.sandbox.inprocess.InProcess` inside a notebook kernel."""

    def call(
        self,
        module: str,
        function: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        callbacks: Mapping[str, Callable[..., Any]] | None = None,
        patch: Sequence[tuple[str, str, str]] = (),
        errstate: str | None = None,
        timeout: float | None = None,
    ) -> CallResult:
        """Call ``module.function``; see :meth:`Sandbox.call`."""
        ...

    def output(self) -> str:
        """What the student's code printed, capped."""
        ...


def _copy_modules(source: Path, target: Path) -> None:
    """Copy the regular ``*.py`` files of ``source`` (no links, no folders) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return
    for path in source.iterdir():
        if path.suffix == ".py" and path.is_file() and not path.is_symlink():
            shutil.copyfile(path, target / path.name)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "the process stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if name == "SIGXFSZ":
            return "the process was killed for writing too much output (file size limit)"
        if name in ("SIGKILL", "SIGSEGV"):
            return f"the process was killed ({name}); a common cause is running out of memory"
        return f"the process was killed by {name}"
    return f"the process exited with code {code}"


class Sandbox:
    """A child process that imports one submission and calls its functions.

    Parameters
    ----------
    submission : Path
        Folder holding the submission's modules (``neuron.py`` ...).
    limits : Limits
        Deadlines and resource limits.
    unavailable : mapping of str to str, optional
        Modules known to be unusable (unreadable file ...), with the reason given to students.
    isolation : Isolation, optional
        How the child is isolated (default: the best this machine offers).
    course : mapping of str to sequence of str, optional
        The course's modules and contract functions: a module that a submission's module
        imports but that is missing or broken is replaced by stand-ins, so the mistake costs
        only its own points.
    helpers : mapping of str to str, optional
        Public course helper modules (name to source) that tests may pass to student code as
        :class:`grader.sandbox.wire.Helper` functions; the child runs them itself.
    """

    def __init__(self, submission: Path, limits: Limits | None = None,
                 unavailable: Mapping[str, str] | None = None,
                 isolation: Isolation | None = None,
                 course: Mapping[str, Sequence[str]] | None = None,
                 helpers: Mapping[str, str] | None = None) -> None:
        self.limits = limits or Limits()
        self.isolation = (isolation or detect()).allowing(self.limits.allow_imports)
        self.course = {m: list(fs) for m, fs in (course or {}).items()}
        self.helpers = dict(helpers or {})
        self.budget_left = self.limits.submission_timeout
        #: modules that cannot be called, with the reason (missing, unreadable, broken import)
        self.broken_modules: dict[str, str] = dict(unavailable or {})
        #: functions that ran past a deadline: not called again, each would cost another one
        self.timed_out: dict[tuple[str, str], str] = {}
        #: blocked or suspicious actions the child reported (for the instructor, no points)
        self.attempts: list[str] = []
        self._present: set[str] = set()
        self._child: launch.Child | None = None
        self._zygote: launch.Zygote | None = None
        self._ids = itertools.count(1)
        self._tmp = Path(tempfile.mkdtemp(prefix="grader-sandbox-"))
        self._outputs = (self._tmp / "stdout.txt", self._tmp / "stderr.txt")
        #: the child's folders (its copy of the submission, its working folder), in a folder
        #: with a random name inside ours, which the child may enter but not list: a child
        #: that runs as uid 65534 without bubblewrap reaches its own folders and cannot find
        #: those of another student graded at the same time
        self._place = Path(tempfile.mkdtemp(dir=self._tmp))
        for folder in (self._tmp, self._place):
            os.chmod(folder, 0o711)
        #: the child's own copy of the submission's modules: whatever it does to them, the
        #: originals are untouched (under bubblewrap the copy is read-only too)
        self.submission = self._place / "submission"
        _copy_modules(Path(submission), self.submission)

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the child and remove its temporary files."""
        self._kill()
        zygote, self._zygote = self._zygote, None
        if zygote is not None:
            launch.release(zygote)
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _start(self) -> None:
        limits = self.limits
        try:
            if launch.warm_allowed(self.isolation):  # the zygote's folders serve the child
                if self._zygote is None or not self._zygote.healthy:
                    self._zygote = launch.acquire(self.isolation)
                self._child = self._zygote.spawn(self.submission, self._outputs,
                                                 limits.memory_mb, limits.file_size_mb)
            else:  # a fresh, empty working folder for every cold child
                workdir = self._place / "work"
                shutil.rmtree(workdir, ignore_errors=True)
                workdir.mkdir()
                self._child = launch.ColdChild(self.isolation, self.submission, workdir,
                                               self._outputs, limits.memory_mb,
                                               limits.file_size_mb)
        except launch.Unavailable as exc:
            raise SandboxUnavailable(f"{exc}; check `grader doctor`") from None
        self._child.reader.limit = limits.message_mb << 20
        start_deadline = time.monotonic() + max(self.limits.call_timeout, 10.0)
        try:  # no student code has run yet: a failure here is the grader's, not the student's
            ready = self._read(start_deadline)
        except (wire.WireError, OSError) as exc:
            ready = {"op": f"nothing ({exc})"}
        if ready.get("op") != "ready":
            self._kill()
            tail = self.output().strip().splitlines()[-3:]
            raise SandboxUnavailable(
                f"the sandbox could not start ({ready.get('op')}): {' '.join(tail)}; "
                "check `grader doctor` and the memory limit")
        if self.course or self.helpers:
            assert self._child is not None
            wire.write_message(self._child.write_fd, {"op": "course", "modules": self.course,
                                                      "helpers": self.helpers}, start_deadline)

    def _kill(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.kill()

    def output(self) -> str:
        """The start of what the child printed so far (stdout, then stderr), capped."""
        parts = []
        for path in self._outputs:
            with contextlib.suppress(OSError), open(path, "rb") as fh:
                parts.append(fh.read(self.limits.output_bytes).decode("utf-8", "replace"))
        return "".join(parts)[: self.limits.output_bytes]

    # -- calling ------------------------------------------------------------------------------
    def _read(self, deadline: float) -> dict[str, Any]:
        assert self._child is not None
        message = self._child.reader.read(deadline)
        if not isinstance(message, dict):
            raise wire.WireError("a message that is not an object")
        return message

    def call(
        self,
        module: str,
        function: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        callbacks: Mapping[str, Callable[..., Any]] | None = None,
        patch: Sequence[tuple[str, str, str]] = (),
        errstate: str | None = None,
        timeout: float | None = None,
    ) -> CallResult:
        """Call ``module.function(*args, **kwargs)`` in the child.

        Parameters
        ----------
        module, function : str
            What to call, e.g. ``"neuron"``, ``"backward"``.
        args, kwargs
            Plain data; :class:`grader.sandbox.wire.Callback` values become callables in the child.
        callbacks : mapping
            Parent-side functions the child may call, by callback name.
        patch : sequence of (module, function, callback name)
            Functions of the submission replaced, for this call, by a callback (a reference
            implementation, so that one mistake costs only its own points).
        errstate : str or None
            ``np.errstate(all=...)`` around the call, e.g. ``"raise"``.
        timeout : float or None
            This call's deadline in seconds (default ``limits.call_timeout``).

        Returns
        -------
        CallResult

        Raises
        ------
        StudentError
            The function raised, is missing, or its module could not be imported.
        StudentTimeout
            The deadline passed; the child was killed.
        SandboxCrash
            The child ended during the call.
        """
        if module not in self.broken_modules and module not in self._present:
            if not (self.submission / f"{module}.py").is_file():
                self.broken_modules[module] = f"{module}.py is missing from the submission"
            else:  # the grader's own copy: it does not change during the run
                self._present.add(module)
        if module in self.broken_modules:
            raise StudentError("ImportError", self.broken_modules[module])
        if self.budget_left <= 0:
            raise StudentTimeout(
                f"the submission used up its time budget of {self.limits.submission_timeout:g} s"
            )
        if (module, function) in self.timed_out:
            raise StudentTimeout(self.timed_out[module, function] + " (earlier in this run; "
                                 "it was not called again)")
        wanted = timeout or self.limits.call_timeout
        limit = min(wanted, self.budget_left)
        started = time.monotonic()
        try:
            with budget.calling(started + limit):
                return self._call(module, function, args, kwargs or {}, callbacks or {},
                                  patch, errstate, started + limit, limit, limit >= wanted)
        finally:
            self.budget_left -= time.monotonic() - started

    def _call(
        self, module: str, function: str, args: Sequence[Any], kwargs: Mapping[str, Any],
        callbacks: Mapping[str, Callable[..., Any]], patch: Sequence[tuple[str, str, str]],
        errstate: str | None, deadline: float, limit: float, full_deadline: bool,
    ) -> CallResult:
        call_id = next(self._ids)
        shared = wire.SharedArrays()  # the array arguments: observed by the grader itself
        message = {"op": "call", "id": call_id, "module": module, "function": function,
                   "args": wire.encode(list(args), shared=shared),
                   "kwargs": wire.encode(dict(kwargs), shared=shared),
                   "patch": [list(p) for p in patch], "errstate": errstate}
        importing: str | None = None
        written: evidence.SharedFile | None = None
        try:
            if self._child is None:
                self._start()  # SandboxUnavailable passes through: it is not the student's
            assert self._child is not None
            if shared.regions:
                try:
                    written = evidence.SharedFile(self._child.io, shared.data)
                except evidence.Unusable as exc:
                    raise SandboxUnavailable(str(exc)) from None
                message["shared"] = written.child_path
            wire.write_message(self._child.write_fd, message, deadline)
            while True:
                reply = self._read(deadline)
                op = reply.get("op")
                if op == "importing":
                    importing = str(reply.get("module"))[:200]
                elif op == "imported":
                    importing = None
                elif op == "callback":
                    self._serve_callback(reply, callbacks, deadline)
                elif op == "result":
                    launch.note_attempts(self.attempts, reply.get("attempts"))
                    if reply.get("id") == call_id:
                        seen = evidence.observe(shared, written, args, kwargs,
                                                reply.get("replaced"))
                        return self._result(reply, seen)
                    # a stale or forged answer to another call: it cannot be this call's
                else:
                    raise wire.WireError(f"unexpected message {op!r}")
        except wire.ChannelTimeout:
            self._kill()
            if importing is not None:
                self.broken_modules[importing] = (
                    f"importing {importing}.py did not finish within {limit:g} s"
                )
            stopped = f"{module}.{function} did not return within {limit:g} s and was stopped"
            if full_deadline:  # not cut short by the submission's budget
                self.timed_out[module, function] = stopped
            raise StudentTimeout(stopped) from None
        except (wire.WireError, OSError) as exc:
            if isinstance(exc, wire.MessageTooLarge):  # no need to wait: it is still sending
                self._kill()
                what = (f"the process sent a message of {exc.size / 2**20:.3g} MB, over the "
                        f"limit of {self.limits.message_mb} MB,")
            else:
                code = self._child.exit_code(1.0) if self._child is not None else None
                self._kill()
                what = _describe_exit(code) if code is not None \
                    else f"the channel broke ({exc})"
            if importing is not None:
                self.broken_modules[importing] = (
                    f"importing {importing}.py ended the process: {what}")
            raise SandboxCrash(f"{what} during the call to {module}.{function}") from None
        finally:
            if written is not None:
                written.close()

    def _serve_callback(self, request: dict[str, Any],
                        callbacks: Mapping[str, Callable[..., Any]], deadline: float) -> None:
        """Run the grader's function the child asked for, within the call's deadline and the
        callback budget, and send its reply (at most ``message_mb``) back."""
        name = str(request.get("name"))[:200]
        function = callbacks.get(name)
        limits = self.limits
        try:
            if function is None:
                raise LookupError(f"no function {name!r} was offered to the submission")
            args = wire.decode(request.get("args", []))
            kwargs = wire.decode(request.get("kwargs", {}))
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise TypeError("malformed arguments")
            # the reply is encoded within the budget too: its size is the request's doing
            with budget.serving(deadline, limits.callback_mb << 20):
                value = function(*args, **kwargs)
                data = wire.dumps({"op": "callback_result", "ok": True,
                                   "value": wire.encode(value),
                                   "rng_states": wire.rng_states(args, kwargs)})
                del value
            if len(data) - 4 > limits.message_mb << 20:
                data = _callback_error(f"the reply of {name} would be {len(data) / 2**20:.3g} "
                                       f"MB, over the limit of {limits.message_mb} MB")
        except budget.OutOfTime:
            raise wire.ChannelTimeout("a callback ran into the call's deadline") from None
        except MemoryError:
            data = _callback_error(f"{name} needed more memory than the callback budget of "
                                   f"{limits.callback_mb} MB allows")
        except Exception as exc:  # the submission passed something the function rejects
            data = _callback_error(f"{name} raised {type(exc).__name__}: {str(exc)[:1000]}")
        if time.monotonic() > deadline:  # where the callback could not be interrupted
            raise wire.ChannelTimeout("a callback ran past the call's deadline")
        assert self._child is not None
        wire.write(self._child.write_fd, data, deadline)

    def _result(self, reply: dict[str, Any], seen: tuple[list[str], list[str]]) -> CallResult:
        mutated, unobserved = seen
        if not reply.get("ok"):
            error = reply.get("error")
            if not isinstance(error, dict):
                raise wire.WireError("malformed error")
            type_name = str(error.get("type", "Error"))[:200]
            message = str(error.get("message", ""))[:2000]
            tb = str(error.get("traceback", ""))[:4000]
            if type_name == "OutputLimitExceeded":
                # its output files are full: every later print would fail too, so start afresh
                self._kill()
                message = (f"{message} ({self.limits.file_size_mb} MB); print less, or "
                           "remove the debugging prints")
            raise StudentError(type_name, message, tb, mutated)
        value = wire.decode(reply.get("value"))
        seconds = reply.get("seconds", 0.0)
        unisolated = reply.get("unisolated")
        return CallResult(value, mutated, unobserved,
                          float(seconds) if isinstance(seconds, int | float) else 0.0,
                          [str(line)[:300] for line in unisolated[:10]]
                          if isinstance(unisolated, list) else [])


def _callback_error(message: str) -> bytes:
    return wire.dumps({"op": "callback_result", "ok": False, "error": message})
