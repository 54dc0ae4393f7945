"""An in-process stand-in for the sandbox, for grading inside a Jupyter kernel (nbgrader).

nbgrader runs the tests in the same kernel as the student's code; there is no boundary to keep
there. :class:`InProcess` gives the test API the same behaviour as
:class:`grader.sandbox.box.Sandbox` (plain data in and out, changed arguments reported, deadlines,
isolation by patching), so a hidden test means the same thing in both places — but a grade that
matters should come from the sandboxed ``grader grade``.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import FrameType, ModuleType
from typing import Any

import numpy as np

from grader.sandbox import swapping, wire
from grader.sandbox.box import CallResult, StudentError, StudentTimeout
from grader.sandbox.limits import Limits


class InProcess:
    """Calls functions of modules loaded in this process, as the sandbox would.

    Parameters
    ----------
    namespaces : mapping of str to module or dict
        Where each course module's functions live (a notebook's globals for its own module).
    limits : Limits
        Only ``call_timeout`` applies (through ``SIGALRM``, in the main thread).
    """

    def __init__(self, namespaces: Mapping[str, ModuleType | dict[str, Any]],
                 limits: Limits | None = None) -> None:
        self.namespaces = dict(namespaces)
        self.limits = limits or Limits()
        #: values returned that are not plain data, by handle number (as the child keeps them)
        self.kept: dict[int, Any] = {}

    def output(self) -> str:
        """Nothing is captured in-process."""
        return ""

    def _namespace(self, module: str) -> dict[str, Any]:
        found = self.namespaces.get(module)
        if found is None:
            try:
                found = importlib.import_module(module)
            except Exception as exc:
                raise StudentError("ImportError", f"{module} could not be imported: {exc}") \
                    from None
            self.namespaces[module] = found
        return found if isinstance(found, dict) else vars(found)

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
        """Call ``module.function`` with copies of the arguments; see ``Sandbox.call``.

        As in the sandbox, ``mutated`` lists the array arguments whose bytes the call changed
        (or whose entry it replaced), ``unobserved`` the handles passed back, and nothing is
        said about aliasing.
        """
        target = self._namespace(module).get(function)
        if not callable(target):
            raise StudentError("MissingFunction", f"{module} has no function {function!r}")
        callbacks = callbacks or {}
        given = (list(args), dict(kwargs or {}))
        call_args = _resolve(copy.deepcopy(given[0]), callbacks, self.kept)
        call_kwargs = _resolve(copy.deepcopy(given[1]), callbacks, self.kept)
        # what the call was given, and a copy of each array's bytes to compare with after
        before = dict(_arrays("args", call_args)) | dict(_arrays("kwargs", call_kwargs))
        sent = {path: a.tobytes() for path, a in before.items()}
        with self._patched(patch, callbacks), _deadline(timeout or self.limits.call_timeout):
            started = time.perf_counter()
            try:
                if errstate:
                    with np.errstate(all=errstate, under="ignore"):  # type: ignore[arg-type]
                        value = target(*call_args, **call_kwargs)
                else:
                    value = target(*call_args, **call_kwargs)
            except StudentTimeout:
                raise StudentTimeout(f"{module}.{function} did not return within "
                                     f"{timeout or self.limits.call_timeout:g} s") from None
            except Exception as exc:
                raise StudentError(type(exc).__name__, str(exc)[:2000], mutated=_mutated(
                    before, sent, call_args, call_kwargs)) from None
            seconds = time.perf_counter() - started
        mutated = _mutated(before, sent, call_args, call_kwargs)
        unobserved = [path for path, v in _values("args", given[0])
                      if isinstance(v, wire.Handle)]
        unobserved += [path for path, v in _values("kwargs", given[1])
                       if isinstance(v, wire.Handle)]
        rebuilt = wire.decode(wire.encode(value, keep=self.kept))  # plain data, as from the sandbox
        return CallResult(rebuilt, mutated, unobserved, seconds,
                          unisolated=list(getattr(self, "unisolated", [])))

    @contextlib.contextmanager
    def _patched(self, patch: Sequence[tuple[str, str, str]],
                 callbacks: Mapping[str, Callable[..., Any]]) -> Iterator[None]:
        """Within the block, each patched function calls its callback wherever the student's
        namespaces hold it, as in the sandbox (`grader.sandbox.swapping`); what could not be reached
        is left in ``self.unisolated``."""
        self.unisolated: list[str] = []
        if not patch:
            yield
            return
        swaps = [(self._namespace(module), function, f"{module}.{function}", callbacks[name])
                 for module, function, name in patch]
        namespaces = [self._namespace(m) for m in list(self.namespaces)]
        restore, self.unisolated = swapping.swap_in(swaps, namespaces)
        try:
            yield
        finally:
            restore()


def _resolve(value: Any, callbacks: Mapping[str, Callable[..., Any]],
             kept: Mapping[int, Any]) -> Any:
    if isinstance(value, wire.Callback):
        return callbacks[value.name]
    if isinstance(value, wire.Helper):
        return callbacks[value.key]
    if isinstance(value, wire.Handle):
        if value.number not in kept:
            raise StudentError("ValueError", "unknown handle")
        return kept[value.number]
    if isinstance(value, list):
        return [_resolve(v, callbacks, kept) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v, callbacks, kept) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, callbacks, kept) for k, v in value.items()}
    return value


def _values(path: str, value: Any) -> Iterator[tuple[str, Any]]:
    """Every value in a structure of lists, tuples and dicts, with its path, in order."""
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _values(f"{path}[{i}]", v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _values(f"{path}[{k!r}]", v)
    else:
        yield path, value


def _arrays(path: str, value: Any) -> Iterator[tuple[str, np.ndarray[Any, Any]]]:
    return ((p, v) for p, v in _values(path, value) if isinstance(v, np.ndarray))


def _mutated(before: Mapping[str, np.ndarray[Any, Any]], sent: Mapping[str, bytes],
             args: Any, kwargs: Any) -> list[str]:
    """Paths of the arrays given whose bytes changed, or whose entry was replaced."""
    after = dict(_arrays("args", args)) | dict(_arrays("kwargs", kwargs))
    return [path for path, a in before.items()
            if after.get(path) is not a or a.tobytes() != sent[path]]


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise StudentTimeout in this (main) thread after ``seconds``."""
    def expire(signum: int, frame: FrameType | None) -> None:
        raise StudentTimeout("deadline")

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:  # not the main thread: no deadline
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
