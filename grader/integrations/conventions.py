"""A module's own conventions: the bullets of its docstring's sections that concern it.

A course often states its conventions once and repeats them in every stub's docstring
("Conventions", "What a correct submission may do"). In a file that is one scroll; in the
locked cell of one notebook it is the whole course's contract in front of one module's
exercise. `own_docstring` keeps, in each bulleted section, the bullets that concern the module:

- a bullet that names nothing of any module (no module, function or name a stub imports from
  a course module) is general and is kept everywhere ("All arrays are float64");
- a bullet that names something of this module (its name, a contract function, a name it
  imports from a course module, ``module.function`` of it) is kept;
- a bullet that names only other modules' things is left out ("MLP parameters are a dict"
  in the notebook of ``activations``).

Words are compared whole and without case (``MLP`` names ``mlp``); a qualified
``mlp.forward`` names ``mlp`` only; what is in parentheses is an example, not the bullet's
topic, and is not read. Text outside bulleted sections is kept as written.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence

from grader.course.config import Course

__all__ = ["own_docstring", "vocabulary"]

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
BULLET = re.compile(r"^(\s*)[-*] ")
PARENTHESIS = re.compile(r"\([^()]*\)")


def _imports(source: str, modules: Sequence[str]) -> set[str]:
    """Course modules a stub imports, and the names it imports from them."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module in modules:
            found |= {node.module, *(a.name for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
    return found


def vocabulary(course: Course) -> dict[str, set[str]]:
    """Each module's words, lower case: its name, contract functions, what they may call
    (``[calls]``, with those functions' modules) and what its stub imports from the course's
    modules."""
    words: dict[str, set[str]] = {}
    for module in course.modules:
        path = course.exercises / f"{module}.py"
        source = path.read_text(encoding="utf-8") if path.is_file() else ""
        functions = course.functions(module)
        calls = {part for f in functions for call in course.declared_calls(module, f)
                 for part in call.split(".")}
        names = {module, *functions, *calls, *_imports(source, course.modules)}
        words[module] = {n.lower() for n in names}
    return words


def _mentions(text: str, module: str, words: Mapping[str, set[str]]) -> tuple[bool, bool]:
    """Whether ``text`` names something of ``module``, and whether it names anything of
    any module."""
    own = anything = False
    while PARENTHESIS.search(text):  # examples in parentheses do not make a bullet's topic
        text = PARENTHESIS.sub(" ", text)
    for token in WORD.findall(text):
        head, _, rest = token.lower().partition(".")
        if rest and head in words:  # mlp.forward: names mlp only
            hits = {head}
        else:
            parts = token.lower().split(".")
            hits = {m for m, vocab in words.items() if vocab & set(parts)}
        anything = anything or bool(hits)
        own = own or module in hits
    return own, anything


def _bullets(lines: list[str], module: str, words: Mapping[str, set[str]]) -> list[str]:
    """``lines`` without the bullets that name only other modules."""
    kept: list[str] = []
    item: list[str] = []
    depth = -1

    def flush() -> None:
        own, anything = _mentions(" ".join(item), module, words)
        if own or not anything:
            kept.extend(item)
        item.clear()

    for line in lines:
        bullet = BULLET.match(line)
        continuing = item and line.strip() and len(line) - len(line.lstrip()) > depth
        if bullet:
            if item:
                flush()
            item.append(line)
            depth = len(bullet.group(1))
        elif continuing:
            item.append(line)
        else:
            if item:
                flush()
            kept.append(line)
    if item:
        flush()
    return kept


def own_docstring(source: str, course: Course, module: str) -> str:
    """``source`` (a stub's code) with its module docstring keeping only ``module``'s own
    bullets (see the module docstring); unchanged if it has no docstring."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source
    first = tree.body[0] if tree.body else None
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str) and first.end_lineno is not None):
        return source
    lines = source.splitlines(keepends=True)
    doc = "".join(lines[first.lineno - 1:first.end_lineno])
    words = vocabulary(course)
    body = [line.rstrip("\n") for line in doc.splitlines(keepends=True)]
    trimmed = "\n".join(_bullets(body, module, words)) + "\n"
    return "".join(lines[:first.lineno - 1]) + trimmed + "".join(lines[first.end_lineno:])
