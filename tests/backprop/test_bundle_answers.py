"""Does the student bundle hand out answers? A submission built from the bundle's own code
earns nothing for the functions it was built for.

``grader release`` ships the grader package, the public checks (with ``course_helpers`` and
``public_models``) and the stubs. Every function of the released bundle whose name shares a
word with a contract function's name (``stencil_gradient`` and ``numerical_gradient``,
``relative_difference`` and ``relative_error``, ``course_helpers.sigmoid`` and ``sigmoid``,
``softmax_backward_variants`` and ``softmax_backward``, ...) is copied into a submission the way
a student would copy it: the function with every helper it needs from the bundle, type hints
dropped, called with the contract function's arguments. Those submissions are graded by the
real CLI, and each such function must earn nothing.
"""

from __future__ import annotations

import ast
import builtins
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_delegation import ROOT, earned, grade, signatures, with_bodies

from grader.course.config import load_course

STOP = {"check", "checks", "test", "expect", "get", "make", "is", "of", "to", "the", "a", "by",
        "for", "with", "and", "from", "in", "on", "as", "at", "all", "known", "value", "values"}
SYNONYMS = {"rel": "relative", "grad": "gradient", "numeric": "numerical", "diff": "difference",
            "err": "error", "deriv": "derivative", "logistic": "sigmoid", "expit": "sigmoid",
            "sig": "sigmoid", "lossfn": "loss"}


def words(name: str) -> set[str]:
    """The meaningful words of a function name: split on _, plurals and abbreviations folded."""
    found = set()
    for word in name.strip("_").lower().split("_"):
        if re.search(r"(ch|sh|x)es$", word):
            word = word[:-2]
        elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            word = word[:-1]
        word = SYNONYMS.get(word, word)
        if len(word) > 1 and word not in STOP:
            found.add(word)
    return found


@dataclass
class Copied:
    """A bundle function, extracted with what it needs, as code a student could paste."""

    where: str  # bundle-relative path and name, for messages
    name: str  # its name in the pasted code
    code: str
    params: list[str]
    varargs: bool
    unresolved: set[str] = field(default_factory=set)


class Bundle:
    """The released bundle's Python files, and extraction of a function with its helpers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = {p: ast.parse(p.read_text(encoding="utf-8")) for p in root.rglob("*.py")}

    def module_file(self, dotted: str, near: Path) -> Path | None:
        """The bundle file of an import (``grader.authoring.gradcheck``, or ``course_helpers`` beside
        the checks)."""
        for candidate in (self.root / (dotted.replace(".", "/") + ".py"),
                          near.parent / (dotted + ".py")):
            if candidate in self.files:
                return candidate
        return None

    def functions(self) -> list[tuple[Path, str]]:
        """Every top-level function of the bundle, but the stubs' contract functions (they
        only raise) and the checks and their helpers that take the test context (``ctx``: they
        call the student's own code, and cannot run in a submission)."""
        found = []
        for path, tree in sorted(self.files.items()):
            for node in tree.body:
                params = [a.arg for a in node.args.args] if isinstance(
                    node, ast.FunctionDef) else []
                if isinstance(node, ast.FunctionDef) and not _only_raises(node) \
                        and params[:1] != ["ctx"]:
                    found.append((path, node.name))
        return found

    def copy(self, path: Path, name: str, prefix: str) -> Copied:
        """``path``'s function ``name`` with every top-level definition it needs (in its file
        and, through ``from X import y``, in other bundle files), renamed under ``prefix``;
        standard library and numpy imports kept; type hints dropped."""
        imports: dict[str, str] = {}
        taken: dict[tuple[Path, str], ast.stmt] = {}  # in dependency order: needed first
        visiting: set[tuple[Path, str]] = set()
        unresolved: set[str] = set()
        renames: dict[tuple[Path, str], str] = {}

        def new_name(where: Path, original: str) -> str:
            key = (where, original)
            if key not in renames:
                renames[key] = f"{prefix}{len(renames)}_{original}"
            return renames[key]

        def take(where: Path, wanted: str) -> str | None:
            tree = self.files[where]
            for node in tree.body:
                if isinstance(node, ast.ImportFrom | ast.Import):
                    for alias in node.names:
                        bound = alias.asname or alias.name.split(".")[0]
                        if bound != wanted:
                            continue
                        module = node.module if isinstance(node, ast.ImportFrom) else None
                        if isinstance(node, ast.ImportFrom) and node.level == 0 and module:
                            source = self.module_file(module, where)
                            if source is not None:
                                return take(source, alias.name)
                            if _importable(module):
                                imports[wanted] = (f"from {module} import {alias.name} as "
                                                   f"{wanted}")
                                return wanted
                        elif isinstance(node, ast.Import) and _importable(alias.name):
                            imports[wanted] = ast.unparse(ast.Import([alias]))
                            return wanted
                        unresolved.add(wanted)
                        return None
                defined = _defines(node)
                if wanted in defined:
                    renamed = new_name(where, wanted)
                    if (where, wanted) not in taken and (where, wanted) not in visiting:
                        visiting.add((where, wanted))
                        for other in defined - {wanted}:
                            new_name(where, other)
                        for needed in sorted(_loads(node) - defined):
                            target = take(where, needed)
                            if target is not None:
                                renames.setdefault((where, needed), target)
                        taken[(where, wanted)] = node
                    return renamed
            if not hasattr(builtins, wanted):
                unresolved.add(wanted)
            return None

        top = take(path, name)
        assert top is not None, (path, name)
        blocks = []
        for (where, _), node in taken.items():
            mapping = {orig: new for (w, orig), new in renames.items() if w == where}
            blocks.append(ast.unparse(_Rename(mapping).visit(_strip_hints(node))))
        code = "\n".join([*dict.fromkeys(imports.values()), *dict.fromkeys(blocks)])
        node = next(n for n in self.files[path].body
                    if isinstance(n, ast.FunctionDef) and n.name == name)
        args = node.args
        return Copied(f"{path.relative_to(self.root)}:{name}", top, code,
                      [a.arg for a in args.posonlyargs + args.args],
                      args.vararg is not None, unresolved)


def _only_raises(node: ast.FunctionDef) -> bool:
    body = [n for n in node.body if not (isinstance(n, ast.Expr)
                                         and isinstance(n.value, ast.Constant))]
    return len(body) == 1 and isinstance(body[0], ast.Raise)


def _importable(module: str) -> bool:
    top = module.split(".")[0]
    return top in sys.stdlib_module_names or top == "numpy"


def _defines(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def _loads(node: ast.stmt) -> set[str]:
    """The free names of a top-level statement: loaded, and bound nowhere inside it."""
    stripped = _strip_hints(node)
    loaded, bound = set(), set()
    for n in ast.walk(stripped):
        if isinstance(n, ast.Name):
            (loaded if isinstance(n.ctx, ast.Load) else bound).add(n.id)
        elif isinstance(n, ast.arg):
            bound.add(n.arg)
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                and n is not stripped:
            bound.add(n.name)
        elif isinstance(n, ast.alias):
            bound.add(n.asname or n.name.split(".")[0])
        elif isinstance(n, ast.ExceptHandler) and n.name:
            bound.add(n.name)
    return loaded - bound


def _strip_hints(node: ast.stmt) -> ast.stmt:
    node = ast.parse(ast.unparse(node)).body[0]  # a copy
    for sub in ast.walk(node):
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
            sub.returns = None
            for arg in (*sub.args.posonlyargs, *sub.args.args, *sub.args.kwonlyargs,
                        sub.args.vararg, sub.args.kwarg):
                if arg is not None:
                    arg.annotation = None
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return ast.Assign([node.target], node.value, lineno=node.lineno)
    return node


class _Rename(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node


# -- the bundle, its candidates and the submissions built from them ------------------------------
@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """The student bundle, written by the real CLI (``grader release``)."""
    out = tmp_path_factory.mktemp("release") / "bundle"
    proc = subprocess.run([sys.executable, "-m", "grader", "release", "--out", str(out),
                           "--course", str(ROOT)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return Bundle(out)


def candidates(bundle: Bundle) -> dict[str, list[Copied]]:
    """Contract function -> the bundle functions that share a word with its name, copied."""
    sigs = signatures()
    found: dict[str, list[Copied]] = defaultdict(list)
    for k, (path, name) in enumerate(bundle.functions()):
        for qualified, sig in sigs.items():
            if words(name) & words(sig.name):
                found[qualified].append(bundle.copy(path, name, f"_bundle{k}_"))
    return found


@pytest.fixture(scope="module")
def copies(bundle: Bundle) -> dict[str, list[Copied]]:
    return candidates(bundle)


@pytest.fixture(scope="module")
def graded(copies: dict[str, list[Copied]],
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Submission k: every contract function calls its k-th candidate with its arguments."""
    base = tmp_path_factory.mktemp("copied")
    sigs = signatures()
    course = load_course(ROOT)
    for k in range(max(len(c) for c in copies.values())):
        folder = base / "class" / f"copy-{k:02d}"
        shutil.copytree(ROOT / "exercises", folder)
        for module in course.modules:
            bodies, pasted = {}, []
            for qualified, found in copies.items():
                sig = sigs[qualified]
                if sig.module != module or k >= len(found):
                    continue
                copied = found[k]
                n = len(sig.params) if copied.varargs else len(copied.params)
                bodies[sig.name] = f"return {copied.name}({', '.join(sig.params[:n])})"
                pasted.append(copied.code)
            path = folder / f"{module}.py"
            source = with_bodies(path.read_text(encoding="utf-8"), bodies)
            path.write_text(source + "\n\n" + "\n\n\n".join(pasted) + "\n", encoding="utf-8")
    return grade(base / "class", base / "out")


def test_the_bundle_s_own_numerics_are_among_the_copies(copies: dict[str, list[Copied]]) -> None:
    """Are the grader's gradient check, the checks' sigmoid and the mistakes' formulas tried
    where a student would try them, and copied whole (nothing left unresolved)?"""
    wanted = {
        "gradcheck.numerical_gradient": ["grader/authoring/gradcheck.py:stencil_gradient",
                                         "grader/authoring/gradcheck.py:numerical_vjp"],
        "gradcheck.relative_error": ["grader/authoring/gradcheck.py:relative_difference",
                                     "checks/course_helpers.py:relative_error_variants"],
        "activations.sigmoid": ["checks/course_helpers.py:sigmoid",
                                "commands/deckgraphs.py:_sigmoid"],
        "activations.softmax_backward": ["checks/course_helpers.py:softmax_backward_variants"],
    }
    for function, wheres in wanted.items():
        by_where = {c.where: c for c in copies[function]}
        for where in wheres:
            assert where in by_where, (function, where, sorted(by_where))
            assert by_where[where].unresolved == set(), (where, by_where[where].unresolved)
            scope: dict[str, object] = {}
            exec(compile(by_where[where].code, where, "exec"), scope)  # our own bundle's code
            assert callable(scope[by_where[where].name])


def test_every_copy_defines_its_function(copies: dict[str, list[Copied]]) -> None:
    """Does every pasted copy run as a module of its own (so that a submission built from it
    fails on its merits, not because the copy is broken)?"""
    for found in copies.values():
        for copied in found:
            scope: dict[str, object] = {}
            exec(compile(copied.code, copied.where, "exec"), scope)  # our own bundle's code
            assert callable(scope[copied.name]), copied.where


def test_no_contract_function_earns_a_point_from_the_bundle_s_code(
        copies: dict[str, list[Copied]], graded: dict[str, dict]) -> None:
    """Does every contract function built from any matching bundle function earn nothing?"""
    gained = {f"{function} <- {c.where}": earned(graded[f"copy-{k:02d}"], function)
              for function, found in copies.items() for k, c in enumerate(found)}
    assert len(gained) >= 30
    assert {g: p for g, p in gained.items() if p} == {}
