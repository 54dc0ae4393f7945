"""Registering a new module in ``course.toml`` by editing its text, so that every comment, blank
line and the order of everything stay as the author wrote them.

The edits: the module's name is appended to ``[course] modules`` (inside the brackets, in the
array's own layout: one line, or one item per line); a line ``name = ["f", "g"]`` is added at
the end of the ``[functions]`` table (the table is added at the end of the file when there is
none); and where the file has a ``[points]`` table, a line ``"name.f" = 1`` per function is
added at its end (a course without one keeps none: its points are the hidden tests'). The
edited text is then parsed and must equal the old configuration with exactly those additions;
anything else (an array written in a way this editor does not follow) is refused with what to
add by hand, and the file is left as it was.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Mapping

from grader.course.loading import CourseError

__all__ = ["register_module"]

_HEADER = re.compile(r"^[ \t]*\[\[?[ \t]*([^\]\s#]+)[ \t]*\]\]?[ \t]*(#[^\r\n]*)?\r?$",
                     re.MULTILINE)


def register_module(text: str, module: str, functions: Mapping[str, float]) -> str:
    """``text`` (a ``course.toml``) with ``module`` and its ``functions`` registered.

    Parameters
    ----------
    text : str
        The file's text.
    module : str
        The new module's name (a bare TOML key: letters, digits, ``_``).
    functions : mapping of str to float
        Its contract functions, in order, to their points (written only into an existing
        ``[points]`` table).

    Returns
    -------
    str
        The new text: the old one with the module appended to ``[course] modules``, a
        ``[functions]`` entry and any ``[points]`` entries added, nothing else changed.

    Raises
    ------
    CourseError
        If the text is not valid TOML, lists the module already, or cannot be edited so
        that exactly those two things change.
    """
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CourseError(f"course.toml is not valid TOML: {exc}") from None
    listed = before.get("course", {}).get("modules")
    if not isinstance(listed, list):
        raise CourseError("course.toml has no [course] modules list")
    if module in listed or module in before.get("functions", {}):
        raise CourseError(f"course.toml names the module {module!r} already")
    items = ", ".join(f'"{name}"' for name in functions)
    entry = f"{module} = [{items}]"
    points = [f'"{module}.{name}" = {value:g}' for name, value in functions.items()]
    expected = copy.deepcopy(before)
    expected["course"]["modules"].append(module)
    expected.setdefault("functions", {})[module] = list(functions)
    if "points" in before:
        if not isinstance(before["points"], dict) or any(
                f"{module}.{name}" in before["points"] for name in functions):
            raise CourseError(f"course.toml's [points] names the module {module!r} already")
        expected["points"].update({f"{module}.{name}": v for name, v in functions.items()})
    try:
        edited = _add_entries(_append_module(text, module), "functions", [entry])
        if "points" in before:
            edited = _add_entries(edited, "points", points)
        after = tomllib.loads(edited)
    except (CourseError, tomllib.TOMLDecodeError):
        after = None
    if after != expected:
        raise CourseError(
            f"could not edit course.toml safely: add \"{module}\" to [course] modules, the "
            f"line `{entry}` to [functions]"
            + (f" and `{'`, `'.join(points)}` to [points]" if "points" in before else "")
            + " by hand")
    return edited


def _tables(text: str) -> list[tuple[str, int, int]]:
    """Every table header: (its name, where its line starts, where the next line starts)."""
    found = []
    for m in _HEADER.finditer(text):
        after = text.find("\n", m.end())
        found.append((m.group(1), m.start(), len(text) if after < 0 else after + 1))
    return found


def _table_span(text: str, name: str) -> tuple[int, int] | None:
    """Where the body of table ``name`` starts (the line after its header) and ends (at the next
    header, or the end of the text); None when there is no such table."""
    tables = _tables(text)
    for i, (table, _, end) in enumerate(tables):
        if table == name:
            return end, tables[i + 1][1] if i + 1 < len(tables) else len(text)
    return None


def _append_module(text: str, module: str) -> str:
    """``text`` with ``"module"`` appended to the ``modules`` array of ``[course]``."""
    span = _table_span(text, "course")
    if span is None:
        raise CourseError("no [course] table")
    key = re.compile(r"^[ \t]*modules[ \t]*=[ \t]*\[", re.MULTILINE).search(text, *span)
    if key is None:
        raise CourseError("no modules = [ in [course]")
    opening = key.end() - 1
    close, last = _array_end(text, opening)
    item = f'"{module}"'
    newline = "\r\n" if "\r\n" in text else "\n"
    if last == opening:  # an empty array
        return f"{text[:opening + 1]}{item}{text[opening + 1:]}"
    if "\n" not in text[last:close]:  # the closing bracket is on the last item's line
        comma = "" if text[last] == "," else ","
        return f"{text[:last + 1]}{comma} {item}{text[last + 1:]}"
    line_start = text.rfind("\n", 0, last) + 1
    indent = re.match(r"[ \t]*", text[line_start:]).group(0)  # type: ignore[union-attr]
    line_end = text.index("\n", last)
    if line_end > 0 and text[line_end - 1] == "\r":
        line_end -= 1
    comma = "" if text[last] == "," else ","
    return (f"{text[:last + 1]}{comma}{text[last + 1:line_end]}{newline}{indent}{item},"
            f"{text[line_end:]}")


def _array_end(text: str, opening: int) -> tuple[int, int]:
    """The index of the ``]`` that closes the array opened at ``opening``, and of the last
    character before it that is neither white space nor part of a comment."""
    depth, last, i = 0, opening, opening
    while i < len(text):
        char = text[i]
        if char == "#":
            i = text.find("\n", i)
            if i < 0:
                break
            continue
        if char in "\"'":
            end = _string_end(text, i)
            last, i = end - 1, end
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i, last
        if not char.isspace():
            last = i
        i += 1
    raise CourseError("the modules array is not closed")


def _string_end(text: str, start: int) -> int:
    """The index just after the TOML string that starts at ``start``."""
    quote = text[start]
    if text.startswith(quote * 3, start):
        end = text.find(quote * 3, start + 3)
        if end < 0:
            raise CourseError("a string is not closed")
        end += 3
        while text.startswith(quote, end):  # up to two quotes may end the content
            end += 1
        return end
    i = start + 1
    while i < len(text) and text[i] != quote and text[i] != "\n":
        i += 2 if quote == '"' and text[i] == "\\" else 1
    if i >= len(text) or text[i] != quote:
        raise CourseError("a string is not closed")
    return i + 1


def _add_entries(text: str, table: str, entries: list[str]) -> str:
    """``text`` with the lines ``entries`` at the end of ``[table]`` (after its last line that
    is neither blank nor a comment), or in a new table at the end of the text."""
    newline = "\r\n" if "\r\n" in text else "\n"
    entry = newline.join(entries)
    span = _table_span(text, table)
    if span is None:
        ending = "" if not text or text.endswith("\n") else newline
        return f"{text}{ending}{newline}[{table}]{newline}{entry}{newline}"
    start, end = span
    cut = start
    for line in re.finditer(r"[^\n]*(\n|$)", text[start:end]):
        if line.group(0).strip() and not line.group(0).strip().startswith("#"):
            cut = start + line.end()
    if cut == len(text) and not text.endswith("\n"):
        return f"{text}{newline}{entry}{newline}"
    return f"{text[:cut]}{entry}{newline}{text[cut:]}"
