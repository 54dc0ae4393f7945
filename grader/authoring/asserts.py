"""Plain ``assert`` in checks and hidden tests, with the asserted values in the feedback.

A course's check and test files (``checks/check_<m>.py``, ``autograde_tests/test_<m>.py``) may
use plain ``assert`` beside the ``ctx.expect...`` methods::

    out = ctx.student.forward(x)
    assert out.shape == (3, 1)

When the grader imports one of those files (`grader.course.loading.collect`), `rewrite` turns
each of *its own* ``assert`` statements into a call of this module; nothing else is rewritten:
not the course's helper modules, never the student's code. The call evaluates what the
statement would (each operand once, left to right, the message only on failure) and then:

- a passing assertion records a passing check (`Expectations.passed`), so a test made of plain
  asserts has positive evidence like any other;
- a failing one fails the test, the student's failure like a failed ``ctx.expect``
  (`CheckFailed`), with the values as pytest shows them::

      assert (3,) == (3, 1)
       +  where (3,) = out.shape

  For a hidden test of a course with ``[grading] show_expected = false`` only the statement's
  source is shown, no value.

The same goes for a call of an ``assert_...`` function used as a statement, the way
``numpy.testing`` is used (``np.testing.assert_allclose(out, expected)``,
``npt.assert_array_equal(a, b)``, a helper of the file named ``assert_shapes``): a call that
returns records a passing check; one that raises ``AssertionError`` fails the test with the
statement and the function's own message (numpy's mismatch report), or the statement alone
where expected values are not shown. Only a call whose function's name starts with
``assert_`` and whose value is not used is rewritten; other exceptions pass through unchanged.

Outside a running test (an ``assert`` at import time) a failing assertion raises
``AssertionError`` with the same text. Rewritten statements run under ``python -O`` too.

Why not pytest's own rewriter (``_pytest.assertion.rewrite``): it is private API, its code
imports pytest at run time (so pytest would ship to every student with the public checks), its
detailed comparisons need the hooks of a pytest session, and it can count passing assertions
only through a process-wide hook that the threads of a Dask worker, grading several students
at once, would share. The transform here is small, and the test being recorded is found
through a context variable (`recording`), which each thread has its own copy of.
"""

from __future__ import annotations

import ast
import contextlib
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from types import BuiltinFunctionType, FunctionType, MappingProxyType
from typing import Any

import numpy as np

from grader.authoring.expectations import CheckFailed, Expectations
from grader.authoring.wording import py

__all__ = ["HOOK", "call", "compare", "recording", "rewrite", "statement", "truth"]

HOOK = "__grader_assert__"
"""The global name under which a rewritten module finds this module."""
_LIMIT = 300  # characters of one value shown
_ROWS = 12  # lines of an assert_... function's message shown
#: each comparison operator's word, and the comparison it makes
_OPS: Mapping[type[ast.cmpop], tuple[str, Callable[[Any, Any], Any]]] = MappingProxyType({
    ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne), ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le), ast.Gt: (">", operator.gt), ast.GtE: (">=", operator.ge),
    ast.Is: ("is", operator.is_), ast.IsNot: ("is not", operator.is_not),
    ast.In: ("in", lambda a, b: a in b), ast.NotIn: ("not in", lambda a, b: a not in b),
})
_BY_WORD: Mapping[str, Callable[[Any, Any], Any]] = MappingProxyType(dict(_OPS.values()))
#: the expectations of the test running in this thread (or task), while `recording`
_current: ContextVar[Expectations | None] = ContextVar("grader_assert_test", default=None)


@contextlib.contextmanager
def recording(expectations: Expectations) -> Iterator[None]:
    """Within the block, rewritten assertions record into ``expectations`` (the running
    test's context), in this thread only."""
    token = _current.set(expectations)
    try:
        yield
    finally:
        _current.reset(token)


# -- the transform ----------------------------------------------------------------------------
def rewrite(tree: ast.Module, source: str) -> ast.Module:
    """Turn every ``assert`` statement of a module, and every ``assert_...(...)`` call used
    as a statement (``np.testing.assert_allclose(a, b)``), into a call of this module.

    Parameters
    ----------
    tree : ast.Module
        The parsed module (changed in place).
    source : str
        Its source, for the text of each assertion.

    Returns
    -------
    ast.Module
        ``tree``, rewritten, ready to compile; the module's globals must hold this module
        under the name `HOOK`.
    """
    rewritten = _Rewriter(source).visit(tree)
    assert isinstance(rewritten, ast.Module)
    return ast.fix_missing_locations(rewritten)


class _Rewriter(ast.NodeTransformer):
    def __init__(self, source: str) -> None:
        self.source = source

    def text(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)

    def side(self, node: ast.expr) -> str:
        """An operand's text, or ``""`` for a literal (its value says it all)."""
        try:
            ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return self.text(node)
        return ""

    def visit_Assert(self, node: ast.Assert) -> ast.stmt:
        test, text = node.test, self.text(node.test)
        message: ast.expr = ast.Constant(None) if node.msg is None else ast.Lambda(
            ast.arguments([], [], None, [], [], None, []), node.msg)
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            word = _OPS[type(test.ops[0])][0]
            name, args = "compare", [test.left, ast.Constant(word), test.comparators[0],
                                     ast.Constant(text), ast.Constant(self.side(test.left)),
                                     ast.Constant(self.side(test.comparators[0]))]
        elif isinstance(test, ast.Call):
            name, args = "call", [*_parts(test), ast.Constant(text),
                                  ast.Constant(self.text(test.func))]
        else:
            name, args = "truth", [test, ast.Constant(text)]
        return ast.copy_location(ast.Expr(_hook(name, [*args, message])), node)

    def visit_Expr(self, node: ast.Expr) -> ast.stmt:
        """``np.testing.assert_allclose(a, b)`` as a statement: `statement`."""
        self.generic_visit(node)
        call = node.value
        if not isinstance(call, ast.Call):
            return node
        function = call.func
        name = (function.id if isinstance(function, ast.Name)
                else function.attr if isinstance(function, ast.Attribute) else "")
        if not name.startswith("assert_"):
            return node
        args = [*_parts(call), ast.Constant(self.text(call))]
        return ast.copy_location(ast.Expr(_hook("statement", args)), node)


def _parts(call: ast.Call) -> list[ast.expr]:
    """A call's function, its positional arguments as a tuple and its keyword arguments as a
    dict (``*args`` and ``**kwargs`` unpacked in them), each evaluated once, in order."""
    keywords = ast.Dict([None if k.arg is None else ast.Constant(k.arg) for k in call.keywords],
                        [k.value for k in call.keywords])
    return [call.func, ast.Tuple(list(call.args), ast.Load()), keywords]


def _hook(name: str, args: list[ast.expr]) -> ast.Call:
    """A call of this module's function ``name``, as a rewritten module finds it."""
    return ast.Call(ast.Attribute(ast.Name(HOOK, ast.Load()), name, ast.Load()), args, [])


# -- what a rewritten assertion calls ---------------------------------------------------------
def compare(left: Any, word: str, right: Any, text: str, left_text: str, right_text: str,
            message: Callable[[], object] | None) -> None:
    """``assert left <word> right``: record a pass, or fail showing both values."""
    if _BY_WORD[word](left, right):
        _passed()
        return
    lines = [f"assert {_shown(left)} {word} {_shown(right)}"]
    lines += _where((left, left_text), (right, right_text))
    _failed(text, lines, message)


def call(function: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any],
         text: str, function_text: str, message: Callable[[], object] | None) -> None:
    """``assert function(*args, **kwargs)``: record a pass, or fail showing the arguments."""
    value = function(*args, **kwargs)
    if value:
        _passed()
        return
    given = [_shown(a) for a in args] + [f"{k}={_shown(v)}" for k, v in kwargs.items()]
    lines = [f"assert {_shown(value)}",
             f" +  where {_shown(value)} = {function_text}({', '.join(given)})"]
    _failed(text, lines, message)


def statement(function: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any],
              text: str) -> None:
    """``assert_something(*args, **kwargs)`` as a statement (``np.testing.assert_allclose``):
    record a pass if it returns; if it raises ``AssertionError``, fail showing the statement
    and the error's own message (the statement only where expected values are not shown).

    Any other exception, `CheckFailed` from the test's own helper included, passes through.
    Outside a running test the ``AssertionError`` is raised unchanged.
    """
    try:
        function(*args, **kwargs)
    except AssertionError as exc:
        expectations = _current.get()
        if expectations is None:
            raise
        said = [_cut(row.rstrip()) for row in str(exc).splitlines() if row.strip()]
        text = re.sub(r"\s*\n\s*", " ", text)  # the statement on one line
        shown = [text, *said[:_ROWS]] if expectations.show_expected else [text]
        raise CheckFailed("\n".join(shown)) from None
    _passed()


def truth(value: Any, text: str, message: Callable[[], object] | None) -> None:
    """``assert value``: record a pass, or fail showing the value."""
    if value:
        _passed()
        return
    _failed(text, [f"assert {_shown(value)}", *_where((value, text))], message)


def _where(*pairs: tuple[Any, str]) -> list[str]:
    """pytest's ``+  where value = expression`` lines, for expressions that are not their
    value's text (nor literals, given as ``""``)."""
    return [f" +  where {_shown(value)} = {source}" for value, source in pairs
            if source and _shown(value) != source]


def _passed() -> None:
    expectations = _current.get()
    if expectations is not None:
        expectations.passed()


def _failed(text: str, lines: list[str], message: Callable[[], object] | None) -> None:
    expectations = _current.get()
    if expectations is not None and not expectations.show_expected:
        lines = [f"assert {text}"]  # the values may be the expected ones
    if message is not None:
        lines.insert(0, str(message()))
    if expectations is None:
        raise AssertionError("\n".join(lines))
    raise CheckFailed("\n".join(lines))


def _shown(value: Any) -> str:
    """A value on one line, as ``repr`` shows it, cut to a few hundred characters (a numpy
    scalar as the Python number it holds, a large array summarised, a class or function by
    its name)."""
    if isinstance(value, np.ndarray):
        with np.printoptions(threshold=24, edgeitems=3):
            text = repr(value)
    elif isinstance(value, type | FunctionType | BuiltinFunctionType):
        text = value.__qualname__  # float, not <class 'float'>
    else:
        text = repr(py(value))
    text = re.sub(r"\n\s*", " ", text)  # a string's own newlines are escaped in its repr
    return _cut(text)


def _cut(text: str) -> str:
    """``text`` cut to `_LIMIT` characters."""
    return text if len(text) <= _LIMIT else text[: _LIMIT - 3] + "..."
