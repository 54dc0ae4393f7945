"""Write docs/authoring.md, the reference of the author API, from the docstrings.

Every name of ``grader.authoring.__all__`` and of each module's ``__all__`` is documented once,
in the module that defines it: its signature and the paragraphs of its numpydoc docstring before
the first section (and a class's ``Attributes`` and its public methods). The page ends with the
built-in misconceptions, as `grader.authoring.misconceptions.Catalogue.builtin` holds them, and
how a course rewords one.

Run ``python docs/gen_author_api.py`` after changing a docstring of ``grader/authoring/``:
``tests/docs/test_author_docs.py`` fails while the committed page differs from `render`.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "authoring.md"
PACKAGE = "grader.authoring"
SECTIONS = ("Parameters", "Returns", "Yields", "Receives", "Raises", "Warns", "Warnings",
            "Other Parameters", "Attributes", "Methods", "See Also", "Notes", "References",
            "Examples")
#: longest value shown after ``NAME =``; a longer one shows its annotation instead
MAX_VALUE = 90


# -- docstrings to markdown -------------------------------------------------------------------
def _inline(text: str) -> str:
    """rst inline markup as markdown: ``:role:`x``` and ````x```` become code; outside code,
    ``<`` before a letter is escaped (it would open an HTML tag)."""
    text = re.sub(r":(?:[a-z]+:)+`~?([^`]+)`", r"`\1`", text)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # the even parts are outside code spans
        parts[i] = re.sub(r"<(?=[A-Za-z/])", "&lt;", parts[i])
    return "`".join(parts)


def _markdown(text: str) -> str:
    """rst prose as markdown: inline markup (`_inline`), and a ``::`` paragraph's indented
    block as a fenced python block."""
    out: list[str] = []
    prose: list[str] = []

    def flush() -> None:
        out.append(_inline("\n".join(prose)))
        prose.clear()

    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.rstrip().endswith("::"):
            prose.append(line)
            i += 1
            continue
        head = line.rstrip()[:-2].rstrip()
        if head:
            prose.append(head + ":")
        flush()
        base = len(line) - len(line.lstrip())
        i += 1
        block: list[str] = []
        while i < len(lines) and (not lines[i].strip()
                                  or len(lines[i]) - len(lines[i].lstrip()) > base):
            block.append(lines[i])
            i += 1
        while block and not block[0].strip():
            block.pop(0)
        while block and not block[-1].strip():
            block.pop()
        indent = min(len(b) - len(b.lstrip()) for b in block if b.strip()) if block else 0
        out.append("\n".join(["", "```python", *(b[indent:] for b in block), "```", ""]))
    flush()
    return "\n".join(out).strip()


def _split(doc: str) -> tuple[str, dict[str, list[str]]]:
    """A numpydoc docstring: the paragraphs before its first section, and each section's
    lines by title."""
    lines = doc.splitlines()
    sections: dict[str, list[str]] = {}
    prose: list[str] = []
    current: list[str] = prose
    i = 0
    while i < len(lines):
        title = lines[i].strip()
        if (title in SECTIONS and i + 1 < len(lines)
                and set(lines[i + 1].strip()) == {"-"}):
            current = sections.setdefault(title, [])
            i += 2
            continue
        current.append(lines[i])
        i += 1
    return "\n".join(prose).strip(), sections


def _fields(lines: list[str]) -> list[str]:
    """A numpydoc list (``name : type`` then indented text) as markdown bullets."""
    items: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        if not line.startswith(" "):
            name, _, kind = line.partition(" : ")
            names = ", ".join(f"`{n.strip()}`" for n in name.split(","))
            items.append(f"- {names}" + (f" ({_inline(kind.strip())})" if kind else "") + ":")
        elif items:
            items[-1] += " " + _inline(line.strip())
    return [item.removesuffix(":") for item in items]


def _doc(obj: object, *, attributes: bool = False) -> str:
    """The markdown of an object's docstring: its prose (and ``Attributes``, if asked)."""
    doc = inspect.getdoc(obj) or ""
    prose, sections = _split(doc)
    text = _markdown(prose)
    if attributes and sections.get("Attributes"):
        text += "\n\nAttributes:\n\n" + "\n".join(_fields(sections["Attributes"]))
    return text


# -- signatures -------------------------------------------------------------------------------
def _annotation(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, type):
        return value.__qualname__
    return re.sub(r"\b(?:[a-z_][a-z0-9_]*\.)+(?=[A-Za-z_])", "",
                  inspect.formatannotation(value))


def _signature(name: str, obj: Any, *, drop_self: bool = False) -> str | None:
    """``name(a: int, *, b: str = 'x') -> T``, one parameter a line when long; None if
    Python cannot tell."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params: list[str] = []
    star = False
    for i, p in enumerate(sig.parameters.values()):
        if drop_self and i == 0:
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            params.append("*")
            star = True
        prefix = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        text = prefix + p.name
        star = star or p.kind is p.VAR_POSITIONAL
        if p.annotation is not p.empty:
            text += f": {_annotation(p.annotation)}"
        if p.default is not p.empty:
            text += (" = " if p.annotation is not p.empty else "=") + repr(p.default)
        params.append(text)
        if p.kind is p.POSITIONAL_ONLY and (
                i + 1 == len(sig.parameters)
                or list(sig.parameters.values())[i + 1].kind is not p.POSITIONAL_ONLY):
            params.append("/")
    returns = ("" if sig.return_annotation is sig.empty or inspect.isclass(obj)
               else f" -> {_annotation(sig.return_annotation)}")
    flat = f"{name}({', '.join(params)}){returns}"
    if len(flat) <= 96:
        return flat
    return f"{name}(\n" + "".join(f"    {p},\n" for p in params) + f"){returns}"


# -- what each module defines -----------------------------------------------------------------
def _bindings(module: ModuleType) -> dict[str, tuple[str, str]]:
    """The module-level names a module assigns (not imports), each with the source of its
    value (or annotation) and its attribute docstring (the string right after it)."""
    source = inspect.getsource(module)
    body = ast.parse(source).body
    found: dict[str, tuple[str, str]] = {}
    for i, node in enumerate(body):
        targets: list[ast.expr] = []
        shown = ""
        if isinstance(node, ast.Assign):
            targets = node.targets
            shown = ast.get_source_segment(source, node.value) or ""
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
            value = ast.get_source_segment(source, node.value) if node.value else None
            annotation = ast.get_source_segment(source, node.annotation) or ""
            shown = value if value and len(value) <= MAX_VALUE else f": {annotation}"
        nxt = body[i + 1] if i + 1 < len(body) else None
        doc = (nxt.value.value if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
               and isinstance(nxt.value.value, str) else "")
        for target in targets:
            if isinstance(target, ast.Name):
                found[target.id] = (shown, inspect.cleandoc(doc))
    return found


def _defined_in(name: str, obj: Any, modules: dict[str, ModuleType],
                first: str | None = None) -> str | None:
    """The module of ``grader.authoring`` that defines ``obj``, bound to ``name`` (None: none
    of them): a class's or function's own module, else the one that assigns ``name`` to this
    very object, ``first`` (where it was found) before the others."""
    home = getattr(obj, "__module__", None)
    if (inspect.isclass(obj) or inspect.isfunction(obj)) and home in modules:
        return str(home)
    order = ([first] if first in modules else []) + [m for m in modules if m != first]
    return next((m for m in order if name in _bindings(modules[m])
                 and getattr(modules[m], name, None) is obj), None)


def _anchor(module: str, name: str = "") -> str:
    return (module + ("." + name if name else "")).replace(".", "-").replace("_", "-").lower()


def _members(cls: type, documented: set[str]) -> tuple[list[tuple[str, Any]], list[str]]:
    """A class's public methods and properties defined in ``grader.authoring``, in source
    order: its own, and those of its bases there that have no entry of their own; and the
    names of the bases that have one (their members are documented there)."""
    seen: dict[str, Any] = {}
    bases: list[str] = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith(PACKAGE):
            continue
        if klass is not cls and klass.__name__ in documented:
            bases.append(klass.__name__)
            continue
        for key, value in vars(klass).items():
            if key.startswith("_") or key in seen:
                continue
            if inspect.isfunction(value) or isinstance(value, (property, classmethod,
                                                               staticmethod)):
                seen[key] = value
    return list(seen.items()), bases


def _entry(module: str, name: str, obj: Any, bindings: dict[str, tuple[str, str]],
           links: dict[str, str]) -> list[str]:
    """The markdown of one name defined in ``module`` (``links``: the anchors of the classes
    that have an entry, by name)."""
    out = [f'<a id="{_anchor(module, name)}"></a>', ""]
    if inspect.isclass(obj):
        return out + _class_entry(name, obj, links)
    if inspect.isfunction(obj):
        return [*out, f"### `{name}`", "", "```python", _signature(name, obj) or name, "```",
                "", _doc(obj), ""]
    shown, doc = bindings.get(name, ("", ""))
    value = shown if shown.startswith(":") or len(shown) <= MAX_VALUE else ""
    out += [f"### `{name}`", "", "```python",
            f"{name}{value}" if value.startswith(":") else f"{name} = {value or '...'}",
            "```", ""]
    return out + ([_markdown(doc), ""] if doc else [])


def _class_entry(name: str, cls: type, links: dict[str, str]) -> list[str]:
    """A class: its signature, prose and attributes, properties, then methods."""
    error = issubclass(cls, BaseException)
    out = [f"### {'exception' if error else 'class'} `{name}`", ""]
    sig = None if error else _signature(name, cls)
    if sig:
        out += ["```python", sig, "```", ""]
    out += [_doc(cls, attributes=True), ""]
    members, bases = _members(cls, set(links))
    properties = [(k, m) for k, m in members if isinstance(m, property)]
    if properties:
        out += ["Properties:", ""]
        out += [f"- `{name}.{k}`: " + _doc(m).replace("\n\n", " ") for k, m in properties]
        out.append("")
    if bases:
        out += ["Also the methods of " + ", ".join(f"[`{b}`](#{links[b]})" for b in bases)
                + ".", ""]
    for key, member in members:
        if isinstance(member, property):
            continue
        kind = "classmethod " if isinstance(member, classmethod) else ""
        function = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
        sig = _signature(f"{name}.{key}", function, drop_self=not isinstance(member,
                                                                              staticmethod))
        out += [f"#### {kind}`{name}.{key}`", "", "```python", sig or key, "```", "",
                _doc(function), ""]
    return out


def _summary(module: ModuleType) -> str:
    """The first paragraph of a module's docstring, on one line."""
    return _inline((inspect.getdoc(module) or "").split("\n\n")[0].replace("\n", " "))


# -- the page ---------------------------------------------------------------------------------
def _modules() -> dict[str, ModuleType]:
    package = importlib.import_module(PACKAGE)
    names = sorted(f"{PACKAGE}.{m.name}" for m in pkgutil.iter_modules(package.__path__))
    return {name: importlib.import_module(name) for name in names}


def _misconceptions() -> list[str]:
    from grader.authoring.misconceptions import Catalogue

    def cell(text: str) -> str:
        return _inline(text).replace("|", "\\|").replace("\n", " ")

    rows = ["| key | title | hint |", "|---|---|---|"]
    rows += [f"| `{m.key}` | {cell(m.title)} | {cell(m.hint)} |"
             for m in Catalogue.builtin().values()]
    return rows


OVERRIDE = """\
## Rewording a built-in, and a course's own misconceptions

A course's misconceptions are data: one TOML table per key in `checks/misconceptions.toml` (or
the file `[course] misconceptions = "..."` of `course.toml` names), with `title`, `hint` (the
fix, with the formula) and an optional `symptom` (what a matching output looks like, completing
"result ..."). An entry whose key is a built-in's replaces the built-in's text for this course
(its detector still recognises the mistake; students read the course's words); any other key
adds a misconception the course's tests name with `variants={key: output}` or
`misconception=key`. The file ships to students with the checks, so it holds nothing secret.

```toml
# checks/misconceptions.toml
[sum_instead_of_mean]            # a built-in's key: this course's words replace the built-in's
title = "Sum instead of mean"
hint = "The mean divides the sum by n: mean(x) = sum(x) / n."
symptom = "is n times the expected value"

[sample_variance]                # the course's own: a test passes the output it would give
title = "Divided by n - 1"
hint = "The population variance divides by n, not n - 1: var(x) = sum((x - mean(x))^2) / n."
symptom = "is the sample variance (divided by n - 1)"
```

`grader.course.config.Course.catalogue` reads the file (a malformed one is a course error,
exit code 2) into `Catalogue.builtin().extended(entries, replace=True)`, and every check and
test's `Context.catalogue` is that catalogue. The tutorial (`docs/tutorial.md`) uses both
entries above.
"""


def render() -> str:
    """The whole page, as ``docs/authoring.md`` holds it."""
    package = importlib.import_module(PACKAGE)
    modules = _modules()
    exported: list[str] = list(package.__all__)
    #: (module, name) -> the module whose entry documents it
    home: dict[tuple[str, str], str] = {}
    for module_name, module in modules.items():
        for name in getattr(module, "__all__", []):
            found = _defined_in(name, getattr(module, name), modules, module_name)
            home[module_name, name] = found or module_name
    for name in exported:
        home[PACKAGE, name] = _defined_in(name, getattr(package, name), modules) or PACKAGE
    links = {name: _anchor(module_name, name) for (module_name, name), where in home.items()
             if where == module_name and inspect.isclass(getattr(modules[module_name], name))}
    out = [
        "# The author API: `grader.authoring`", "",
        "<!-- Generated by docs/gen_author_api.py from the docstrings of grader/authoring/: do "
        "not edit. Regenerate with `python docs/gen_author_api.py`; "
        "tests/docs/test_author_docs.py fails while this page is out of date. -->", "",
        _markdown(inspect.getdoc(package) or ""), "",
        "## What checks and tests import", "",
        "`from grader.authoring import ...` (each name links to its entry):", "",
        "| name | defined in |", "|---|---|",
    ]
    out += [f"| [`{n}`](#{_anchor(home[PACKAGE, n], n)}) | `{home[PACKAGE, n]}` |"
            for n in exported]
    out += ["", "The modules, then the built-in misconceptions:", ""]
    out += [f"- [`{m}`](#{_anchor(m)}): " + _summary(module) for m, module in modules.items()]
    out += ["- [Built-in misconceptions](#built-in-misconceptions), and how a course rewords "
            "one", ""]
    for module_name, module in modules.items():
        names = list(getattr(module, "__all__", []))
        if not names:
            continue
        bindings = _bindings(module)
        out += [f'<a id="{_anchor(module_name)}"></a>', "", f"## `{module_name}`", "",
                _markdown(inspect.getdoc(module) or ""), ""]
        elsewhere = [n for n in names if home[module_name, n] != module_name]
        if elsewhere:
            out += ["Also importable from here: " + ", ".join(
                f"[`{n}`](#{_anchor(home[module_name, n], n)})" for n in elsewhere) + ".", ""]
        for name in names:
            if home[module_name, name] == module_name:
                out += _entry(module_name, name, getattr(module, name), bindings, links)
    out += ['<a id="built-in-misconceptions"></a>', "", "## Built-in misconceptions", "",
            "`Catalogue.builtin()`: what every course's tests can name, worded for any numpy "
            "course.", "", *_misconceptions(), "", OVERRIDE]
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip() + "\n"


def main() -> None:
    """Write the page."""
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
