"""Swap a student's function for the reference during one call, wherever the student holds it.

Used where isolation happens (`grader.authoring.context.Context.isolated`), through the call
semantics of :mod:`grader.sandbox.calls`: by the sandboxed child (which loads this file from its
own folder, so it needs nothing but the standard library) and by the in-process runner of
notebook kernels (`grader.sandbox.inprocess`). Both call `swap_in` with the functions to
replace and the student's namespaces, run the student's function, then call the returned
``restore``.

How a function is reached, by what it is:

- a function the student defined (``def``, ``lambda``; in the child, one whose code comes from
  a file of the submission): its ``__code__`` is swapped for a trampoline that calls the
  replacement. The object keeps its identity, so every place that holds it reaches the
  reference: module names and aliases (``from activations import sigmoid as s``,
  ``act.sigmoid``), dicts, lists, tuples, closures, default arguments, ``functools.partial``,
  class attributes, staticmethods, even a C object holding it (``functools.lru_cache``,
  ``np.vectorize``), and ``is`` or dict-key lookups still agree;
- anything else (a ``functools.partial``, a callable object, a numpy ufunc, a stand-in for a
  missing module): every reference to that object found in the student's namespaces is
  replaced, by a walk through dicts, lists, sets, tuples (rebuilt), closure cells, default
  arguments, partials, bound methods, class attributes, staticmethods and classmethods, and
  instance attributes (the student's objects, a SimpleNamespace). What still holds the object
  after the walk (a C object, another library's module, the walk's bounds) is reported as
  ``unreached``.

Everything is restored exactly after the call (the same objects in the same places). The walk
is bounded (`MAX_DEPTH`, `MAX_VALUES`) so that a module holding a huge or deeply nested value
cannot make isolation slow; it runs only for replaced objects that are not the student's own
functions, which is rare: a student's ``def`` costs one attribute assignment.
"""

from __future__ import annotations

import functools
import gc
import types
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from typing import Any

MAX_DEPTH = 8
"""How deep the walk follows containers from a namespace (module -> dict -> tuple ...)."""
MAX_VALUES = 20_000
"""How many values the walk visits at most, over all namespaces of one call."""

KEY = "_grader_reference_"
"""The keyword-only parameter of a trampoline that holds its replacement (a kwdefault)."""

_ATOMS = (str, bytes, int, float, complex, bool, type(None), range, types.ModuleType,
          types.BuiltinFunctionType)

Namespace = MutableMapping[str, Any]
Swap = tuple[Namespace, str, str, Callable[..., Any]]
"""One function to replace: (its module's namespace, its name there, a label such as
``"activations.sigmoid"`` for messages, the replacement)."""


@functools.cache
def trampoline(free: int) -> types.CodeType:
    """A code object that calls its keyword-only default ``KEY`` with every argument.

    It has ``free`` free variables, because a function's ``__code__`` may only be replaced by a
    code with as many free variables as the function has closure cells.

    Parameters
    ----------
    free : int
        Number of free variables (``len(function.__code__.co_freevars)``).

    Returns
    -------
    types.CodeType
        ``def _isolated(*args, KEY, **kwargs): return KEY(*args, **kwargs)``.
    """
    names = [f"_grader_cell_{i}" for i in range(free)]
    lines = ["def _outer():", *(f"    {name} = None" for name in names),
             f"    def _isolated(*args, {KEY}, **kwargs):"]
    if names:  # referenced, so that they are free variables of _isolated
        lines.append(f"        ({', '.join(names)},)")
    lines += [f"        return {KEY}(*args, **kwargs)", "    return _isolated"]
    scope: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<grader isolation>", "exec"), scope)  # fixed text
    code: types.CodeType = scope["_outer"]().__code__
    return code


class _Walk:
    """Replaces objects by identity in the student's namespaces, remembering how to undo."""

    def __init__(self, replacements: dict[int, Any], student_globals: set[int],
                 student_modules: set[str]) -> None:
        self.replacements = replacements
        self.student_globals = student_globals
        self.student_modules = student_modules
        self.undo: list[Callable[[], None]] = []
        self.rebuilt: list[Any] = []  # immutable holders replaced by new ones (kept alive)
        self.seen: set[int] = set()
        self.values = 0
        self.truncated = False

    def namespace(self, space: Namespace) -> None:
        if id(space) in self.seen:
            return
        self.seen.add(id(space))
        for key, item in list(space.items()):
            if isinstance(key, str) and key.startswith("__") and key.endswith("__"):
                continue  # __builtins__, __spec__, ...: the interpreter's, not the student's
            new = self.value(item, 1)
            if new is not item:
                self.undo.append(functools.partial(space.__setitem__, key, item))
                space[key] = new

    def value(self, obj: Any, depth: int) -> Any:
        """``obj``, or what replaces it (a rebuilt immutable holder, or the replacement)."""
        found = self.replacements.get(id(obj))
        if found is not None:
            return found
        self.values += 1  # atoms count too: a tuple of a million ints is a million values
        if self.truncated or isinstance(obj, _ATOMS):
            if self.values > MAX_VALUES:
                self.truncated = True
            return obj
        if depth >= MAX_DEPTH or self.values > MAX_VALUES:
            self.truncated = True
            return obj
        if isinstance(obj, tuple | frozenset | staticmethod | classmethod | types.MethodType):
            return self.immutable(obj, depth)  # may be seen twice: rebuilt where it is held
        if id(obj) in self.seen:
            return obj
        self.seen.add(id(obj))
        if isinstance(obj, dict):
            self.mapping(obj, depth)
        elif isinstance(obj, list):
            for i, item in enumerate(obj):
                if self.truncated:  # stop at once: the rest may be a million values
                    break
                new = self.value(item, depth + 1)
                if new is not item:
                    self.undo.append(functools.partial(obj.__setitem__, i, item))
                    obj[i] = new
        elif isinstance(obj, set):
            self.set(obj, depth)
        elif isinstance(obj, functools.partial):
            self.partial(obj, depth)
        elif isinstance(obj, types.FunctionType):
            if id(obj.__globals__) in self.student_globals:
                self.function(obj, depth)
        elif isinstance(obj, type):
            if obj.__module__ in self.student_modules:
                self.attributes(obj, depth)
        else:  # an instance: the student's, a SimpleNamespace, np.vectorize ...
            try:  # never the object's own __getattr__
                instance = object.__getattribute__(obj, "__dict__")
            except Exception:
                instance = None
            if type(instance) is dict:
                self.mapping(instance, depth)
        return obj

    def mapping(self, space: MutableMapping[Any, Any], depth: int) -> None:
        for key, item in list(space.items()):
            if self.truncated:
                break
            new = self.value(item, depth + 1)
            if new is not item:
                self.undo.append(functools.partial(space.__setitem__, key, item))
                space[key] = new

    def set(self, held: set[Any], depth: int) -> None:
        for item in list(held):
            if self.truncated:
                break
            new = self.value(item, depth + 1)
            if new is not item:
                held.discard(item)
                held.add(new)
                self.undo.append(functools.partial(_put_back, held, new, item))

    def immutable(self, obj: Any, depth: int) -> Any:
        new = self.rebuild(obj, depth)
        if new is not obj:
            self.rebuilt.append(obj)
        return new

    def rebuild(self, obj: Any, depth: int) -> Any:
        if isinstance(obj, staticmethod | classmethod):
            inner = self.value(obj.__func__, depth + 1)
            return obj if inner is obj.__func__ else type(obj)(inner)
        if isinstance(obj, types.MethodType):
            func, owner = self.value(obj.__func__, depth + 1), self.value(obj.__self__, depth + 1)
            same = func is obj.__func__ and owner is obj.__self__
            return obj if same else types.MethodType(func, owner)
        items = []
        for item in obj:
            if self.truncated:  # stop at once: the rest may be a million values
                return obj
            items.append(self.value(item, depth + 1))
        if all(new is old for new, old in zip(items, obj, strict=True)):
            return obj
        if isinstance(obj, frozenset):
            return frozenset(items)
        if type(obj) is tuple:
            return tuple(items)
        make = getattr(type(obj), "_make", None)  # a namedtuple
        try:
            return make(items) if callable(make) else type(obj)(items)
        except Exception:  # a tuple subclass that cannot be rebuilt: left as it is
            return obj

    def partial(self, obj: Any, depth: int) -> None:
        func = self.value(obj.func, depth + 1)
        args = self.value(obj.args, depth + 1)
        keywords = dict(obj.keywords)
        self.mapping(keywords, depth)
        changed = any(keywords[k] is not v for k, v in obj.keywords.items())  # never ==
        if func is not obj.func or args is not obj.args or changed:
            state = obj.__reduce__()[2]
            self.rebuilt += [state, *state[1:3]]  # the old state still holds what was replaced
            self.undo.append(functools.partial(obj.__setstate__, state))
            obj.__setstate__((func, args, keywords, state[3]))  # the same object, changed

    def function(self, obj: types.FunctionType, depth: int) -> None:
        for cell in obj.__closure__ or ():
            try:
                item = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            new = self.value(item, depth + 1)
            if new is not item:
                self.undo.append(functools.partial(setattr, cell, "cell_contents", item))
                cell.cell_contents = new
        defaults = obj.__defaults__
        if defaults:
            new_defaults = self.value(defaults, depth + 1)
            if new_defaults is not defaults:
                self.rebuilt.append(defaults)
                self.undo.append(functools.partial(setattr, obj, "__defaults__", defaults))
                obj.__defaults__ = new_defaults
        if obj.__kwdefaults__:
            self.mapping(obj.__kwdefaults__, depth)

    def attributes(self, cls: type, depth: int) -> None:
        for name, item in list(vars(cls).items()):
            if name.startswith("__") and name.endswith("__"):
                continue
            new = self.value(item, depth + 1)
            if new is not item:
                self.undo.append(functools.partial(setattr, cls, name, item))
                setattr(cls, name, new)


def _put_back(held: set[Any], new: Any, old: Any) -> None:
    held.discard(new)
    held.add(old)


def swap_in(swaps: Sequence[Swap],
            namespaces: Iterable[Namespace] | Callable[[], Iterable[Namespace]], *,
            own: Callable[[types.FunctionType], bool] | None = None,
            ) -> tuple[Callable[[], None], list[str]]:
    """Make every use of the given functions in the student's code call their replacements.

    Parameters
    ----------
    swaps : sequence of (namespace, name, label, replacement)
        Each function to replace: where it is defined (the module's namespace, which need not
        be among ``namespaces``), its name there, how messages call it, and the callable to
        run instead. A name missing from its namespace is set there for the call.
    namespaces : iterable of dict, or a callable returning one
        The student's module namespaces: where the walk looks for other holders (a callable
        is called only when a walk is needed) and, without ``own``, whose functions count as
        the student's own.
    own : callable, optional
        Whether a function is the student's own (its code may be swapped); default: its
        ``__globals__`` is one of ``namespaces``.

    Returns
    -------
    restore : callable
        Puts everything back as it was; call it exactly once, after the call.
    unreached : list of str
        One line per function that could not be swapped everywhere it is held (empty when
        every use of every function reaches its replacement).
    """
    spaces: dict[int, Namespace] = {}
    if own is None or not callable(namespaces):
        spaces = {id(space): space for space in _listed(namespaces)}
        known = set(spaces)
        own = own or (lambda function: id(function.__globals__) in known)
    undo: list[Callable[[], None]] = []
    unreached: list[str] = []
    walked: dict[int, tuple[str, Any]] = {}  # objects replaced by identity, with their labels
    replacements: dict[int, Any] = {}
    swapped: dict[int, str] = {}
    sources = {id(source): source for source, _, _, _ in swaps}
    for source, name, label, replacement in swaps:
        if name not in source:
            source[name] = replacement
            undo.append(functools.partial(source.pop, name, None))
            continue
        original = source[name]
        if original is replacement:  # the student's code is the reference itself (in process)
            continue
        if isinstance(original, types.FunctionType) and own(original):
            if id(original) in swapped:  # one function under two names: the first one wins
                unreached.append(f"{label} is the same function as {swapped[id(original)]}, "
                                 f"so it runs as {swapped[id(original)]}'s reference")
                continue
            swapped[id(original)] = label
            undo.append(functools.partial(_restore_code, original, original.__code__,
                                          original.__kwdefaults__))
            original.__code__ = trampoline(len(original.__code__.co_freevars))
            original.__kwdefaults__ = {KEY: replacement}
        elif id(original) not in replacements:
            replacements[id(original)] = replacement
            walked[id(original)] = (label, original)
    if walked:  # rare: a partial, a callable object, a stand-in... (see the module docstring)
        if not spaces:
            spaces = {id(space): space for space in _listed(namespaces)}
        student_globals = set(spaces)
        student_modules = {str(space.get("__name__")) for space in spaces.values()}
        spaces.update(sources)
        walk = _Walk(replacements, student_globals, student_modules)
        for space in spaces.values():
            walk.namespace(space)
        undo.extend(walk.undo)
        unreached += _still_held(walked, walk, spaces)

    def restore() -> None:
        for step in reversed(undo):
            step()

    return restore, unreached


def _listed(namespaces: Iterable[Namespace] | Callable[[], Iterable[Namespace]]
            ) -> list[Namespace]:
    return list(namespaces() if callable(namespaces) else namespaces)


def _restore_code(function: types.FunctionType, code: types.CodeType,
                  kwdefaults: dict[str, Any] | None) -> None:
    function.__code__ = code
    function.__kwdefaults__ = kwdefaults


def _still_held(walked: dict[int, tuple[str, Any]], walk: _Walk,
                spaces: dict[int, Namespace]) -> list[str]:
    """What still holds a replaced object after the walk, one line per object."""
    if walk.truncated:
        return [f"{label}: your modules hold more values than the grader searches (over "
                f"{MAX_VALUES}, or nested deeper than {MAX_DEPTH})"
                for label, _ in walked.values()]
    # the walk's own records, and other libraries' modules (numpy's own ufunc is not a use)
    ours = {id(walked), *map(id, walked.values()), *map(id, walk.rebuilt), *spaces}
    for step in walk.undo:
        if isinstance(step, functools.partial):
            ours |= {id(step), id(step.args)}
    ours |= {id(vars(m)) for m in _modules()}
    lines = []
    for label, original in walked.values():
        holders = sorted({type(r).__name__ for r in gc.get_referrers(original)
                          if id(r) not in ours and not isinstance(r, types.FrameType)})
        if holders:
            lines.append(f"{label}: also held by {', '.join(holders)} objects the grader "
                         "cannot reach")
    return lines


def _modules() -> list[types.ModuleType]:
    import sys

    return [m for m in list(sys.modules.values()) if isinstance(m, types.ModuleType)]
