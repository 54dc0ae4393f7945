"""An in-process stand-in for the sandbox, for grading inside a Jupyter kernel (nbgrader).

nbgrader runs the tests in the same kernel as the student's code; there is no boundary to keep
there. :class:`InProcess` gives the test API the same behaviour as :class:`grader.sandbox.Sandbox`
(plain data in and out, mutation and aliasing reported, deadlines, isolation by patching), so a
hidden test means the same thing in both places — but a grade that matters should come from the
sandboxed ``grader grade``.
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

from grader import wire
from grader.sandbox import CallResult, Limits, StudentError, StudentTimeout


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
        """Call ``module.function`` with copies of the arguments; see ``Sandbox.call``."""
        target = self._namespace(module).get(function)
        if not callable(target):
            raise StudentError("MissingFunction", f"{module} has no function {function!r}")
        callbacks = callbacks or {}
        before = copy.deepcopy((list(args), dict(kwargs or {})))  # callbacks still by name
        call_args = _resolve(copy.deepcopy(before[0]), callbacks)
        call_kwargs = _resolve(copy.deepcopy(before[1]), callbacks)
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
                raise StudentError(type(exc).__name__, str(exc)[:2000]) from None
            seconds = time.perf_counter() - started
        arrays = dict(_arrays("args", call_args)) | dict(_arrays("kwargs", call_kwargs))
        originals = dict(_arrays("args", before[0])) | dict(_arrays("kwargs", before[1]))
        mutated = sorted(p for p, a in arrays.items()
                         if p in originals and not _same(a, originals[p]))
        outputs = [a for _, a in _arrays("result", value)]
        aliased = sorted(p for p, a in arrays.items()
                         if any(np.shares_memory(a, o) for o in outputs))
        rebuilt = wire.decode(wire.encode(value, keep={}))  # plain data, as from the sandbox
        return CallResult(rebuilt, mutated, aliased, seconds)

    @contextlib.contextmanager
    def _patched(self, patch: Sequence[tuple[str, str, str]],
                 callbacks: Mapping[str, Callable[..., Any]]) -> Iterator[None]:
        undo: list[tuple[dict[str, Any], str, Any]] = []
        try:
            for module, function, name in patch:
                source = self._namespace(module)
                original = source.get(function)
                for namespace in [self._namespace(m) for m in list(self.namespaces)]:
                    for attr, current in list(namespace.items()):
                        if (namespace is source and attr == function) or (
                                original is not None and current is original):
                            undo.append((namespace, attr, current))
                            namespace[attr] = callbacks[name]
            yield
        finally:
            for namespace, attr, current in reversed(undo):
                namespace[attr] = current


def _resolve(value: Any, callbacks: Mapping[str, Callable[..., Any]]) -> Any:
    if isinstance(value, wire.Callback):
        return callbacks[value.name]
    if isinstance(value, wire.Helper):
        return callbacks[value.key]
    if isinstance(value, list):
        return [_resolve(v, callbacks) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v, callbacks) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, callbacks) for k, v in value.items()}
    return value


def _arrays(path: str, value: Any) -> Iterator[tuple[str, np.ndarray[Any, Any]]]:
    if isinstance(value, np.ndarray):
        yield path, value
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _arrays(f"{path}[{i}]", v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _arrays(f"{path}[{k!r}]", v)


def _same(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> bool:
    try:
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:
        return a.shape == b.shape and bool(np.array_equal(a, b))


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
