"""The mistakes in a course's own files that loading catches before any student is graded.

Each function here returns problems, one line each, naming the file and line
(``checks/check_layer.py:12: ...``); `grader.course.loading` and `grader.course.config` raise
them together as one `grader.course.loading.CourseError` (exit code 2), so an author sees
every mistake of a run at once:

- a check or test marked for a function the module does not have (``@public("momentum_stepp")``),
  or using one (``uses=("cots",)``);
- ``@graded`` in a check file or ``@public`` in a hidden test file (it would never run);
- two marked functions of one name in one file (the second replaces the first, which never
  runs);
- a misconception key a test names (``misconception="..."``, the keys of a literal
  ``variants={...}``) that the course's catalogue does not hold; keys computed at run time
  are checked when the test runs (`grader.authoring.expectations.AuthorError`);
- a contract function (``[functions]`` of ``course.toml``) whose stub does not raise
  ``NotImplementedError``, or that the stub does not define;
- a ``checks/check_<m>.py`` or ``autograde_tests/test_<m>.py`` for no course module;
- a ``[calls]`` entry for a function that is not a contract function.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from grader.authoring.markers import Marker

__all__ = ["calls_mistakes", "is_stub", "marker_mistakes", "source_mistakes", "stray_files",
           "stub_mistakes"]

_MARKERS = {"public", "graded"}


def is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a function is one the student writes: its body raises ``NotImplementedError``
    at its top level (after a docstring and any provided setup lines, nbgrader's style:
    ``x = np.asarray(x)``, a comment, then ``raise NotImplementedError()``), so it always
    raises before it could return an answer."""
    return any(isinstance(statement, ast.Raise) and statement.exc is not None
               and "NotImplementedError" in ast.unparse(statement.exc)
               for statement in node.body)


def source_mistakes(path: Path, tree: ast.Module, keys: Iterable[str]) -> list[str]:
    """What is wrong in a check or test file's source: two marked functions of one name, and
    misconception keys (``misconception=``, literal ``variants=`` keys) not in ``keys``.

    Parameters
    ----------
    path : Path
        The file (named in the problems).
    tree : ast.Module
        Its parsed source.
    keys : iterable of str
        The keys of the course's catalogue of misconceptions.
    """
    known = set(keys)
    problems: list[tuple[int, str]] = []
    first: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _marked(node):
            if node.name in first:
                problems.append((node.lineno, (
                    f"{path}:{node.lineno}: a second test named {node.name} (the first is at "
                    f"line {first[node.name]}): it replaces the first, which would never run; "
                    "rename one")))
            first.setdefault(node.name, node.lineno)
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        for keyword in call.keywords:
            named: list[ast.expr] = []
            if keyword.arg == "misconception":
                named = _branches(keyword.value)
            elif keyword.arg == "variants" and isinstance(keyword.value, ast.Dict):
                named = [k for k in keyword.value.keys if k is not None]
            for key in named:
                if isinstance(key, ast.Constant) and isinstance(key.value, str) \
                        and key.value not in known:
                    problems.append((key.lineno, (
                        f"{path}:{key.lineno}: {keyword.arg} names {key.value!r}, which is not "
                        f"a misconception of the course{_close(key.value, known)}: add it to "
                        "the course's misconceptions file or fix the key")))
    return [text for _, text in sorted(problems)]


def _marked(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a decorator of ``node`` is ``public(...)`` or ``graded(...)``."""
    for decorator in node.decorator_list:
        callee = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
        if name in _MARKERS:
            return True
    return False


def _branches(value: ast.expr) -> list[ast.expr]:
    """The expressions a keyword's value may be: both arms of ``a if c else b``."""
    if isinstance(value, ast.IfExp):
        return _branches(value.body) + _branches(value.orelse)
    return [value]


def marker_mistakes(path: Path, module: str, name: str, value: Any, found: Marker, *,
                    hidden: bool,
                    functions: Mapping[str, Sequence[str]] | None) -> list[str]:
    """What is wrong with one marked function of a check or test file.

    Parameters
    ----------
    path : Path
        The file.
    module : str
        The course module it tests.
    name : str
        The function's name in the file.
    value : Any
        The function (its line is that of its first decorator).
    found : Marker
        What its decorator recorded.
    hidden : bool
        Whether the file holds hidden tests (else public checks).
    functions : mapping of str to sequence of str or None
        Every course module's contract functions (None: not checked).
    """
    line = getattr(getattr(value, "__code__", None), "co_firstlineno", 0)
    where = f"{path}:{line}" if line else str(path)
    decorator = "@public" if found.public else "@graded"
    if found.public == hidden:
        other = (f"autograde_tests/test_{module}.py" if found.public
                 else f"checks/check_{module}.py")
        return [f"{where}: {decorator} marks {name} as a "
                f"{'public check' if found.public else 'hidden test'}, but this file holds "
                f"{'hidden tests' if hidden else 'public checks'}: it would never run; move it "
                f"to {other}"]
    if functions is None:
        return []
    own = functions.get(module, ())
    problems = []
    if found.function not in own:
        problems.append(f"{where}: {decorator}({found.function!r}) names no function of "
                        f"{module}{_close(found.function, own)} (its functions: "
                        f"{', '.join(own) or 'none'})")
    for used in found.uses:
        owner, _, function = used.rpartition(".")
        theirs = functions.get(owner or module, ())
        if function not in theirs:
            problems.append(f"{where}: uses={used!r} names no function of the course"
                            f"{_close(function, theirs)} ({owner or module} has "
                            f"{', '.join(theirs) or 'no functions'})")
    return problems


def stub_mistakes(path: Path, module: str, listed: Sequence[str]) -> list[str]:
    """Whether the stub defines every function ``[functions]`` lists for ``module``, each
    raising ``NotImplementedError`` (else the release would hand students working code, and
    a student who never wrote it would read as having done so)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError) as exc:
        return [f"cannot read the stub {path}: {exc}"]
    defined = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    problems = []
    for function in listed:
        node = defined.get(function)
        if node is None:
            problems.append(f"{path}: course.toml [functions] lists {module}.{function}, but "
                            f"the stub defines no function {function}"
                            f"{_close(function, defined)}")
        elif not is_stub(node):
            problems.append(f"{path}:{node.lineno}: {function} is a contract function "
                            "(course.toml [functions]) but its stub does not raise "
                            "NotImplementedError: its body must end with `raise "
                            "NotImplementedError()` (after the docstring and any setup "
                            "lines)")
    return problems


def stray_files(folder: Path, prefix: str, modules: Sequence[str]) -> list[str]:
    """Check or test files (``folder/<prefix><name>.py``) of no course module: their tests
    would never run."""
    kind = "tests" if prefix == "test_" else "checks"
    return [f"{path}: {path.stem[len(prefix):]!r} is not a course module "
            f"({', '.join(modules)}){_close(path.stem[len(prefix):], modules)}: its {kind} "
            "would never run; rename the file or add the module to course.toml"
            for path in sorted(folder.glob(f"{prefix}*.py"))
            if path.stem[len(prefix):] not in modules]


def calls_mistakes(path: Path, calls: Mapping[str, Sequence[str]],
                   functions: Mapping[str, Sequence[str]]) -> list[str]:
    """``[calls]`` entries (qualified names) of no contract function."""
    return [f"{path}: [calls] {key!r}: {key.rpartition('.')[2]} is not a contract function "
            f"of {key.rpartition('.')[0]}"
            f"{_close(key.rpartition('.')[2], functions.get(key.rpartition('.')[0], ()))}"
            for key in calls
            if key.rpartition(".")[2] not in functions.get(key.rpartition(".")[0], ())]


def _close(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'mean'?)"``, or nothing."""
    found = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {found[0]!r}?)" if found else ""
