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

How the child is started is :mod:`grader.sandbox.launch`'s (a ``Launcher``, this process's
own unless one is given); what a call returns and raises is :mod:`grader.sandbox.runner`'s
(re-exported here); the child's callbacks are served by :mod:`grader.sandbox.callbacks`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from grader.sandbox import evidence, launch, wire
from grader.sandbox.budget import process_budget
from grader.sandbox.callbacks import serve as serve_callback
from grader.sandbox.children import Child, Unavailable
from grader.sandbox.isolation import Isolation, detect
from grader.sandbox.limits import Limits
from grader.sandbox.mounts import adopt_modules, copy_modules
from grader.sandbox.runner import (
    CallResult,
    Runner,
    SandboxCrash,
    SandboxUnavailable,
    StudentError,
    StudentTimeout,
    describe_exit,
)
from grader.sandbox.zygote import Zygote

__all__ = ["CallResult", "Runner", "Sandbox", "SandboxCrash", "SandboxUnavailable",
           "StudentError", "StudentTimeout"]


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
    copy : bool, default True
        Whether the sandbox copies the modules of ``submission`` (the folder is left as it
        is). False adopts the folder instead: it must be a private copy its maker gives up
        (a temporary folder of the grader's own); it is moved into the sandbox's place, left
        with only its regular ``*.py`` files, and removed with the sandbox.
    launcher : grader.sandbox.launch.Launcher, optional
        What starts the children and keeps warm zygotes between sandboxes (default: this
        process's own, :func:`grader.sandbox.launch.process_launcher`).
    """

    def __init__(self, submission: Path, limits: Limits | None = None,
                 unavailable: Mapping[str, str] | None = None,
                 isolation: Isolation | None = None,
                 course: Mapping[str, Sequence[str]] | None = None,
                 helpers: Mapping[str, str] | None = None, *, copy: bool = True,
                 launcher: launch.Launcher | None = None) -> None:
        self.limits = limits or Limits()
        self.launcher = launcher or launch.process_launcher()
        self.budget = process_budget()
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
        self._child: Child | None = None
        self._zygote: Zygote | None = None
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
        if copy:
            copy_modules(Path(submission), self.submission)
        else:
            adopt_modules(Path(submission), self.submission)

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
            self.launcher.release(zygote)
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _start(self) -> None:
        limits = self.limits
        try:
            if self.launcher.warm_allowed(self.isolation):  # the zygote's folders serve it
                if self._zygote is None or not self._zygote.healthy:
                    self._zygote = self.launcher.acquire(self.isolation)
                self._child = self._zygote.spawn(self.submission, self._outputs,
                                                 limits.memory_mb, limits.file_size_mb)
            else:  # a fresh, empty working folder for every cold child
                workdir = self._place / "work"
                shutil.rmtree(workdir, ignore_errors=True)
                workdir.mkdir()
                self._child = self.launcher.cold(self.isolation, self.submission, workdir,
                                                 self._outputs, limits.memory_mb,
                                                 limits.file_size_mb)
        except Unavailable as exc:
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
            with self.budget.calling(started + limit):
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
                    data = serve_callback(reply, callbacks, deadline, self.limits, self.budget)
                    wire.write(self._child.write_fd, data, deadline)
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
                what = describe_exit(code) if code is not None \
                    else f"the channel broke ({exc})"
            if importing is not None:
                self.broken_modules[importing] = (
                    f"importing {importing}.py ended the process: {what}")
            raise SandboxCrash(f"{what} during the call to {module}.{function}") from None
        finally:
            if written is not None:
                written.close()

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

