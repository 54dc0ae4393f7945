"""What one call of a student's function means, in the sandboxed child and in-process alike.

A test's call runs in one of two places: the sandboxed child (``_child.py``, which loads this
file from its own folder) or :class:`grader.sandbox.inprocess.InProcess` (a notebook kernel,
the reference graded in-process). Both are a :class:`Caller`, so a call means the same there:

- **references resolved**: handles, callbacks and course helpers in the decoded arguments
  become the kept values and the callables they stand for (:meth:`Caller.resolve`);
- **declared calls swapped**: each patch ``(module, function, callback name)`` makes every use
  of that function in the student's code call the callback instead, for this call only
  (:mod:`grader.sandbox.swapping`); what cannot be reached is kept in ``unisolated``;
- **arguments watched**: the array arguments as given are remembered (:class:`Arguments`);
  after the call those whose entry was replaced are named, and in-process (where the grader
  keeps no copy of its own) those whose bytes changed;
- **what it reports** (:class:`Outcome`): the value or the exception, the seconds inside the
  function, the arguments replaced or changed, the functions left unisolated.

The child loads this module with its siblings :mod:`grader.sandbox.wire` and
:mod:`grader.sandbox.swapping` from its own folder, so it depends on numpy and the standard
library only.
"""

from __future__ import annotations

import contextlib
import time
import types
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import swapping, wire

# Bound now, before any student code runs: a student who replaces np.ndarray hides nothing
_ndarray = np.ndarray
#: how much of an error's text a reply carries
MAX_MESSAGE = 2000

Namespace = MutableMapping[str, Any]
Restore = Callable[[], None]


def walk(*named: tuple[str, Any]) -> list[tuple[str, Any]]:
    """Every value held in lists, tuples and dicts, with its path (``args[0]['W1']``).

    Parameters
    ----------
    *named : (str, Any)
        Each structure to walk and the path of its root (``("args", [...])``).

    Returns
    -------
    list of (str, Any)
        Each value that is not a list, tuple or dict, in order (depth first).
    """
    found: list[tuple[str, Any]] = []
    for path, value in named:
        _walk(path, value, found)
    return found


def _walk(path: str, value: Any, found: list[tuple[str, Any]]) -> None:
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _walk(f"{path}[{i}]", item, found)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(f"{path}[{key!r}]", item, found)
    else:
        found.append((path, value))


def arrays(args: Any, kwargs: Any) -> dict[str, np.ndarray[Any, Any]]:
    """The numpy arrays among a call's arguments, by path, in order."""
    return {path: value for path, value in walk(("args", args), ("kwargs", kwargs))
            if isinstance(value, _ndarray)}


class Arguments:
    """The array arguments of one call as it was given them, to tell what it did to them.

    Parameters
    ----------
    args, kwargs
        The call's arguments, resolved, before the call.
    keep_bytes : bool
        Keep a copy of each array's bytes (in-process), to tell which ones the call changed.
    """

    def __init__(self, args: Any, kwargs: Any, keep_bytes: bool = False) -> None:
        self.before = arrays(args, kwargs)
        self.sent = {path: a.tobytes() for path, a in self.before.items()} if keep_bytes \
            else None

    def replaced(self, args: Any, kwargs: Any) -> list[str]:
        """Paths whose array is no longer the one the call was given (an entry of a dict or
        list argument replaced or removed)."""
        try:
            after = arrays(args, kwargs)
        except Exception:  # arguments the call made unwalkable: nothing to add
            return []
        return [path for path, a in self.before.items() if after.get(path) is not a]

    def changed(self, args: Any, kwargs: Any) -> list[str]:
        """Paths of the arrays whose entry was replaced or whose bytes changed (needs
        ``keep_bytes``), in the order of the arguments."""
        replaced = set(self.replaced(args, kwargs))
        sent = self.sent or {}
        return [path for path, a in self.before.items()
                if path in replaced or a.tobytes() != sent[path]]


@dataclass
class Outcome:
    """What one call of the student's function did.

    Attributes
    ----------
    value : Any
        What it returned (None if it raised).
    error : BaseException or None
        What it raised.
    seconds : float
        Time inside the function.
    replaced : list of str
        Paths of array arguments whose entry the call replaced.
    changed : list of str
        Paths of array arguments replaced or changed in place (with ``keep_bytes`` only).
    unisolated : list of str
        Declared functions that could not be swapped everywhere the student holds them.
    """

    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0
    replaced: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unisolated: list[str] = field(default_factory=list)


def error_text(exc: BaseException) -> str:
    """An exception's message as a reply carries it (at most :data:`MAX_MESSAGE` characters)."""
    return str(exc)[:MAX_MESSAGE]


class Caller:
    """Runs calls of a student's functions with the semantics above.

    A subclass says where things are: :meth:`callback`, :meth:`helper`, :meth:`source` and
    :meth:`scope`. ``kept`` holds the values passed back as handles, by number.
    """

    #: keep each array argument's bytes to report in-place changes (in-process only: in the
    #: sandbox the grader reads the shared arguments back itself)
    keep_bytes = False

    def __init__(self) -> None:
        self.kept: dict[int, Any] = {}
        self.unisolated: list[str] = []

    # -- where things are (the subclass's) ---------------------------------------------------
    def callback(self, name: str) -> Callable[..., Any]:
        """The callable that the callback ``name`` stands for."""
        raise NotImplementedError

    def helper(self, reference: wire.Helper) -> Callable[..., Any]:
        """The course helper function that ``reference`` stands for."""
        raise NotImplementedError

    def source(self, module: str) -> Namespace | None:
        """Where ``module``'s functions live, or None if nothing of it can be swapped."""
        raise NotImplementedError

    def scope(self) -> tuple[Callable[[], list[Namespace]],
                             Callable[[types.FunctionType], bool] | None]:
        """The student's namespaces (a callable, called only when needed), and which
        functions are the student's own (None: those whose globals are such a namespace);
        see :func:`grader.sandbox.swapping.swap_in`."""
        raise NotImplementedError

    # -- the semantics ------------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """Turn decoded handles back into kept objects, callbacks and helpers into callables.

        Raises
        ------
        ValueError
            A handle that names no kept value.
        """
        if isinstance(value, wire.Handle):
            if value.number not in self.kept:
                raise ValueError("unknown handle")
            return self.kept[value.number]
        if isinstance(value, wire.Callback):
            return self.callback(value.name)
        if isinstance(value, wire.Helper):
            return self.helper(value)
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve(v) for v in value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def patch(self, patches: Sequence[Sequence[str]]) -> Restore:
        """Swap functions for callbacks wherever the student's code holds them.

        Each patch is (module, function, callback name). A function the student defined keeps
        its identity and gets the callback's code; anything else is replaced wherever a walk
        of the student's modules finds it. What could not be reached is left in
        ``self.unisolated``. Returns what restores it all.
        """
        self.unisolated = []
        if not patches:
            return _nothing
        swaps: list[swapping.Swap] = []
        for module, function, name in patches:
            source = self.source(module)
            if source is not None:
                swaps.append((source, function, f"{module}.{function}", self.callback(name)))
        namespaces, own = self.scope()
        restore, self.unisolated = swapping.swap_in(swaps, namespaces, own=own)
        return restore

    def run(self, function: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any],
            patches: Sequence[Sequence[str]] = (), errstate: str | None = None,
            within: contextlib.AbstractContextManager[Any] | None = None) -> Outcome:
        """Call ``function(*args, **kwargs)`` (arguments already resolved) with the patches
        applied, under ``np.errstate(all=errstate)`` (underflow ignored) and inside
        ``within`` (a deadline, in-process); an error of the patching itself is raised."""
        watched = Arguments(args, kwargs, self.keep_bytes)
        restore = self.patch(patches)
        try:
            if within is None:
                value, seconds = _timed(function, args, kwargs, errstate)
            else:
                with within:
                    value, seconds = _timed(function, args, kwargs, errstate)
        except BaseException as exc:  # the student's exception, whatever it is, is data
            return Outcome(error=exc, replaced=watched.replaced(args, kwargs),
                           changed=watched.changed(args, kwargs) if self.keep_bytes else [])
        finally:
            restore()
        return Outcome(value, None, seconds, watched.replaced(args, kwargs),
                       watched.changed(args, kwargs) if self.keep_bytes else [],
                       self.unisolated)


def _timed(function: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any],
           errstate: str | None) -> tuple[Any, float]:
    """What ``function`` returned, and the seconds it took."""
    start = time.perf_counter()
    if errstate:
        # underflow to 0 is the right answer of a stable exp; numpy ignores it too
        with np.errstate(all=errstate, under="ignore"):  # type: ignore[arg-type]
            value = function(*args, **kwargs)
    else:
        value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def _nothing() -> None:
    """Restores nothing (a call without patches)."""
