"""(In the sandboxed child.) What a submission may import, and stand-ins for what is broken.

:class:`ImportGuard` refuses any top-level import the course does not allow, with one clear
message; :class:`CourseFinder` imports the course modules a student module depends on, with a
stand-in when one is missing or broken, so one broken file costs only its own points. Both are
installed by ``_child.py`` before any student code runs. Standard library only.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any


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
            f"submodules, the Python standard library and its own .py modules beside its "
            f"exercise modules (not folders){also}", name=fullname)
