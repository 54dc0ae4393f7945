"""The four files of a new module, written from its functions' signatures.

`grader new module` (`grader.course.scaffold.new_module`) writes, for a module ``m``:
``exercises/m.py`` (the stub, unless it exists already), ``solutions/m.py`` (the stub with a
placeholder reference in each function), ``checks/check_m.py`` (one known-value check per
function) and ``autograde_tests/test_m.py`` (one hidden test per function: the reference on
random inputs). Until the author writes the real reference, the placeholder returns a float64
copy of the function's first argument, and the generated check expects exactly that, so the
new module passes its own checks and tests from the start, and ``grader check`` reports the
stub as not implemented. Every place the author must fill in says ``TODO``.

Inputs are arrays of shape (N, D) for every required argument; arguments with defaults are
left to their defaults.
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Sequence
from dataclasses import dataclass

from grader.course.loading import CourseError

__all__ = ["POINTS", "Signature", "check_source", "signatures", "solution_source",
           "stub_source", "test_source", "valid_name"]

#: the points of each generated hidden test
POINTS = 1.0
#: names the generated check and test files use themselves (an argument so named is renamed)
_TAKEN = frozenset({"ctx", "np", "expected", "n", "d", "Context", "public", "graded",
                    "SHAPES"})


@dataclass(frozen=True)
class Signature:
    """What the generated files need of one contract function.

    Attributes
    ----------
    name : str
        The function's name.
    positional : tuple of str
        Its required positional arguments, in order.
    keyword : tuple of str
        Its required keyword-only arguments, in order.
    """

    name: str
    positional: tuple[str, ...] = ("x",)
    keyword: tuple[str, ...] = ()

    @property
    def arguments(self) -> tuple[str, ...]:
        """Every required argument, positional ones first."""
        return self.positional + self.keyword

    def call(self, names: Sequence[str]) -> str:
        """The argument list of a call with the variables ``names`` (one per argument)."""
        positional = list(names[:len(self.positional)])
        keywords = [f"{k}={v}" for k, v in zip(self.keyword, names[len(self.positional):],
                                                strict=True)]
        return ", ".join(positional + keywords)


def signatures(source: str, functions: Sequence[str]) -> list[Signature]:
    """The signatures of ``functions`` in the stub ``source``, in the order given.

    Raises
    ------
    CourseError
        If the source does not parse or lacks one of the functions at its top level.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise CourseError(f"the stub does not parse: {exc}") from None
    nodes = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    found = []
    for name in functions:
        if name not in nodes:
            raise CourseError(f"the stub has no function {name!r} (at its top level)")
        args = nodes[name].args
        ordered = [*args.posonlyargs, *args.args]
        required = ordered[:len(ordered) - len(args.defaults)]
        keyword_only = [a for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                        if default is None]
        found.append(Signature(name, tuple(a.arg for a in required),
                               tuple(a.arg for a in keyword_only)))
    return found


def _placeholder(signature: Signature, indent: str) -> list[str]:
    """The lines of a placeholder reference body."""
    if not signature.arguments:
        value, what = "0.0", "0.0"
    else:
        first = signature.arguments[0]
        value, what = f"np.array({first}, dtype=np.float64)", f"a float64 copy of {first}"
    return [f"{indent}# TODO: the reference computation. Until then this placeholder returns "
            f"{what},", f"{indent}# which is what the generated check expects.",
            f"{indent}return {value}"]


def stub_source(module: str, functions: Sequence[Signature]) -> str:
    """A new stub: a module docstring, then each function with a numpydoc docstring (shapes
    included) whose body raises ``NotImplementedError``."""
    parts = [f'"""{module}: TODO one line on what these exercises are about.\n\n'
             "Conventions\n-----------\n"
             "- Arrays are float64 numpy arrays; a batch is 2-D with shape (N, D): one row per\n"
             "  example.\n"
             "- No function modifies its arguments. Each stub raises NotImplementedError: "
             "replace\n  the `raise` with your code, and run `grader check` to see how far "
             'you are.\n"""\n\nimport numpy as np\n']
    for signature in functions:
        params = ", ".join(f"{a}: np.ndarray" for a in signature.positional)
        if signature.keyword:
            params += (", " if params else "") + "*, " + ", ".join(
                f"{a}: np.ndarray" for a in signature.keyword)
        doc = [f"TODO: what {signature.name} computes, with its formula.", ""]
        if signature.arguments:
            doc += ["Parameters", "----------"]
            for a in signature.arguments:
                doc += [f"{a} : np.ndarray, shape (N, D)", f"    TODO: what {a} holds."]
            doc.append("")
        returns = "np.ndarray" if signature.arguments else "float"
        doc += ["Returns", "-------", f"{returns}, shape (N, D)" if signature.arguments
                else returns, "    TODO: what the result holds."]
        body = "\n".join(f"    {line}" if line else "" for line in doc)
        parts.append(f"\ndef {signature.name}({params}) -> {returns}:\n"
                     f'    """{body.lstrip()}\n    """\n'
                     f'    raise NotImplementedError("{signature.name}")\n')
    return "\n".join(parts)


def solution_source(stub: str, functions: Sequence[Signature]) -> str:
    """The stub ``stub`` with each of ``functions``' bodies (after its docstring) replaced by a
    placeholder reference, and ``import numpy as np`` added if the stub lacks it.

    Raises
    ------
    CourseError
        If a function's body shares a line with other code (``def f(x): raise ...``).
    """
    tree = ast.parse(stub)
    lines = stub.splitlines()
    wanted = {s.name: s for s in functions}
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    for node in sorted(nodes, key=lambda n: n.lineno, reverse=True):
        body = node.body
        if len(body) > 1 and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            body = body[1:]
        first, last = body[0], body[-1]
        end = last.end_lineno or last.lineno
        before = lines[first.lineno - 1][:first.col_offset]
        after = lines[end - 1][last.end_col_offset or 0:].strip()
        if before.strip() or (after and not after.startswith("#")):
            raise CourseError(f"the body of {node.name} shares a line with other code: write "
                              "it on lines of its own")
        lines[first.lineno - 1:end] = _placeholder(wanted[node.name], before)
    if not _binds_np(tree):
        at = 0  # after the docstring and any __future__ import
        for n in tree.body:
            if (n is tree.body[0] and ast.get_docstring(tree) is not None) or (
                    isinstance(n, ast.ImportFrom) and n.module == "__future__"):
                at = n.end_lineno or n.lineno
        lines[at:at] = ["", "import numpy as np"] if at else ["import numpy as np", ""]
    return "\n".join(lines) + "\n"


def _binds_np(tree: ast.Module) -> bool:
    """Whether the module imports numpy as ``np`` at its top level."""
    return any(isinstance(n, ast.Import) and any(a.name == "numpy" and a.asname == "np"
                                                 for a in n.names) for n in tree.body)


def _variables(signature: Signature) -> list[str]:
    """A variable name per argument, none of them a name the generated files use."""
    names: list[str] = []
    for a in signature.arguments:
        name = a
        while name in _TAKEN or name in names or keyword.iskeyword(name):
            name += "_"
        names.append(name)
    return names


def check_source(module: str, functions: Sequence[Signature]) -> str:
    """Public checks: one known-value check per function, on a 4 x 3 example per argument,
    expecting what the placeholder reference returns."""
    parts = [f'"""Public checks of {module}.py: TODO known values, properties, gradients.\n\n'
             "Public checks ship to students and run on their machines (`grader check`): they "
             "never\nsee the reference, so every expected value is written out or follows from "
             'a property.\n"""\n\nimport numpy as np\n\nfrom grader.authoring import Context, '
             "public\n"]
    for signature in functions:
        names = _variables(signature)
        setup = [f"    {v} = np.linspace({i - 1.0!r}, {i + 1.0!r}, 12).reshape(4, 3)"
                 for i, v in enumerate(names)]
        expected = f"{names[0]}.copy()" if names else "0.0"
        call = f"ctx.student.{signature.name}({signature.call(names)})"
        what = f"{signature.name}({signature.call(signature.arguments)})"
        parts.append(
            f'\n@public("{signature.name}")\n'
            f"def check_{signature.name}_known_value(ctx: Context) -> None:\n"
            f'    """{signature.name} on an example (TODO: say what it must give)"""\n'
            + "".join(f"{line}\n" for line in setup)
            + f"    expected = {expected}  # TODO: the value it must have, written out\n"
            f"    ctx.expect_close({call}, expected, rtol=1e-12, atol=1e-12,\n"
            f'                     what="{what}")\n'
            + ("    ctx.expect_unchanged()\n" if names else ""))
    return "\n".join(parts)


def test_source(module: str, functions: Sequence[Signature]) -> str:
    """Hidden tests: one per function (`POINTS` each), the reference on random inputs of the
    shapes of ``SHAPES``."""
    parts = [f'"""Hidden tests of {module}.py: the reference on random inputs (TODO: edge '
             "cases, and\nvariants= that name the classic mistakes in the feedback).\n\n"
             "Hidden tests run only in `grader grade` and never ship to students. A test's "
             "points go to\nthe function it names, all or nothing; its first docstring line "
             'is what the student sees.\n"""\n\nfrom grader.authoring import Context, graded\n'
             "\n# Shapes (N, D) of the random inputs: N != D, so that a transpose shows.\n"
             "SHAPES = [(5, 3), (2, 7)]\n"]
    for signature in functions:
        names = _variables(signature)
        args = signature.call(names)
        what = f"{signature.name}({signature.call(signature.arguments)})"
        student, ref = f"ctx.student.{signature.name}({args})", f"ctx.ref.{signature.name}({args})"
        body = (f'\n@graded("{signature.name}", points={POINTS!r}, visibility="visible")\n'
                f"def test_{signature.name}_matches_reference(ctx: Context) -> None:\n"
                f'    """{signature.name} matches the reference on random inputs"""\n')
        if names:
            body += ("    for n, d in SHAPES:\n"
                     + "".join(f"        {v} = ctx.rng.normal(size=(n, d))\n" for v in names)
                     + f"        ctx.expect_close({student},"
                     + (f" {ref},\n" if len(student) + len(ref) < 70
                        else f"\n{' ' * 25}{ref},\n")
                     + f"{' ' * 25}rtol=1e-10, atol=1e-12,\n"
                     f'{" " * 25}what=f"{what} for inputs of shape {{(n, d)}}")\n')
        else:
            body += (f"    ctx.expect_close({student}, {ref}, rtol=1e-10, atol=1e-12,\n"
                     f'{" " * 21}what="{what}")\n')
        parts.append(body)
    return "\n".join(parts)


def valid_name(name: str) -> bool:
    """Whether ``name`` can name a generated function or module: a lower-case identifier, not
    a keyword, not private."""
    return (name.isidentifier() and name.isascii() and name == name.lower()
            and not keyword.iskeyword(name) and not name.startswith("_"))
