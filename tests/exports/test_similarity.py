"""``grader similarity``: a class of independent correct solutions with planted copies.

The independent solutions are the differently written correct solutions of
``tests/fixtures/correct_styles/`` and ``tests/fixtures/independent/`` (one of them handed in
as per-module notebooks). The test writes the copies itself, each disguised one way with
``ast`` and text edits: every local name renamed; every module's functions in reverse order;
reformatted (``ast.unparse``) with its comments replaced, handed in as a zip; and all three at
once. Every copy pair must rank above every other pair, whatever the disguise.
"""

from __future__ import annotations

import ast
import builtins
import html
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.engine import results
from grader.exports import report, similarity

ROOT = Path(__file__).resolve().parents[2]
STYLES = ROOT / "tests" / "fixtures" / "correct_styles"
#: independent correct solutions: folder name in the class to where it comes from
INDEPENDENT = {
    "ines": ROOT / "tests" / "fixtures" / "independent",
    "liu": STYLES / "loops",
    "maya": STYLES / "mathlists",
    "emil": STYLES / "einsum",
    "lea": STYLES / "logaddexp",
    "cora": STYLES / "cache_layout",
    "tom": STYLES / "table_acts",
    "nora": STYLES / "notebooks_per_module",
}

pytestmark = pytest.mark.slow  # tokenizes a class of full submissions (about 10 s)


class _Rename(ast.NodeTransformer):
    """Rename every name the module binds itself (arguments, locals), not imports,
    builtins or the contract's function names."""

    def __init__(self, keep: set[str]) -> None:
        self.keep = keep
        self.names: dict[str, str] = {}

    def _new(self, name: str) -> str:
        if name in self.keep or name in dir(builtins):
            return name
        return self.names.setdefault(name, f"q{len(self.names)}_{name[::-1]}")

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self._new(node.arg)
        return node


def renamed(source: str) -> str:
    tree = ast.parse(source)
    keep = {a.asname or a.name.split(".")[0] for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) for a in node.names}
    keep |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    return ast.unparse(_Rename(keep).visit(tree)) + "\n"


def reordered(source: str) -> str:
    """The module's functions in reverse order, each exactly as written."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(functions) < 2:
        return source
    first = min(n.decorator_list[0].lineno if n.decorator_list else n.lineno
                for n in functions) - 1
    parts = ["".join(lines[(n.decorator_list[0].lineno if n.decorator_list else n.lineno) - 1:
                           n.end_lineno]) for n in functions]
    rest = [n for n in tree.body[tree.body.index(functions[0]):]
            if not isinstance(n, ast.FunctionDef)]
    tail = "".join("".join(lines[n.lineno - 1:n.end_lineno]) for n in rest)
    return "".join(lines[:first]) + "\n\n".join(reversed(parts)) + "\n" + tail


def reformatted(source: str) -> str:
    """Formatted by ``ast.unparse`` (comments gone), four-space indents made two, and a new
    comment above every function."""
    lines = []
    for line in ast.unparse(ast.parse(source)).splitlines():
        stripped = line.lstrip(" ")
        indent = (len(line) - len(stripped)) // 2
        if stripped.startswith("def "):
            lines.append(" " * indent + "# my own helper, written late at night")
        lines.append(" " * indent + stripped)
    return "\n".join(lines) + "\n"


def all_three(source: str) -> str:
    return reformatted(renamed(reordered(source)))


#: planted copies: copier, original, disguise, handed in as a zip
COPIES: list[tuple[str, str, Callable[[str], str], bool]] = [
    ("rita", "liu", renamed, False),
    ("otto", "emil", reordered, False),
    ("felix", "ines", reformatted, True),
    ("ada", "maya", all_three, False),
]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The class folder: 8 independent students and 4 copiers."""
    folder = tmp_path_factory.mktemp("class")
    for name, source in INDEPENDENT.items():
        shutil.copytree(source, folder / name)
    for copier, original, disguise, as_zip in COPIES:
        files = {p.name: disguise(p.read_text(encoding="utf-8-sig"))
                 for p in sorted((folder / original).glob("*.py"))}
        assert files and all(files.values())
        for name, text in files.items():
            compile(text, name, "exec")  # still Python, still a submission
            assert text != (folder / original / name).read_text(encoding="utf-8-sig") \
                or disguise is reordered
        if as_zip:
            with zipfile.ZipFile(folder / f"{copier}.zip", "w") as archive:
                for name, text in files.items():
                    archive.writestr(f"{copier}/{name}", text)
        else:
            (folder / copier).mkdir()
            for name, text in files.items():
                (folder / copier / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def ranked(planted: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """`grader similarity` run as a user would, writing every pair as JSON."""
    out = tmp_path_factory.mktemp("out") / "similarity.json"
    run = subprocess.run(
        [sys.executable, "-m", "grader", "similarity", str(planted), "--top", "5",
         "--out", str(out), "--course", str(ROOT)],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr
    data: dict[str, object] = json.loads(out.read_text(encoding="utf-8"))
    data["stdout"] = run.stdout
    return data


def test_every_copy_ranks_above_every_independent_pair(ranked: dict[str, object]) -> None:
    pairs = ranked["pairs"]
    assert isinstance(pairs, list)
    assert ranked["students"] == len(INDEPENDENT) + len(COPIES)
    copies = {frozenset((copier, original)) for copier, original, _, _ in COPIES}
    order = [frozenset((p["first"], p["second"])) for p in pairs]
    assert copies <= set(order), f"a copy pair was not ranked: {copies - set(order)}"
    assert set(order[:len(copies)]) == copies, order[:len(copies) + 2]
    lowest_copy = min(p["similarity"] for p in pairs if frozenset((p["first"], p["second"]))
                      in copies)
    highest_other = max(p["similarity"] for p in pairs if frozenset((p["first"], p["second"]))
                        not in copies)
    assert lowest_copy > highest_other


def test_the_table_names_the_pairs_and_the_files(ranked: dict[str, object]) -> None:
    lines = str(ranked["stdout"]).splitlines()
    assert lines[0].startswith("12 submissions, 66 pairs")
    rows = [line for line in lines if line.strip()[:1].isdigit() and "~" in line]
    assert len(rows) == 5  # --top 5
    first = rows[0].split()
    assert first[0] == "1" and first[1].endswith("%")
    assert "neuron.py" in rows[0] or "layer.py" in rows[0]
    pairs = ranked["pairs"]
    assert isinstance(pairs, list)
    top = pairs[0]
    assert {f for f, _ in top["first_files"]} >= {"activations.py", "neuron.py", "mlp.py"}


def test_the_stubs_are_boilerplate(tmp_path: Path) -> None:
    """Two untouched stubs share nothing once the stubs are boilerplate; two copies of one
    solution share everything."""
    stubs = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "exercises").glob("*.py")}
    solution = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "solutions").glob("*.py")}
    ranking = similarity.rank({"s1": stubs, "s2": dict(stubs), "a": solution,
                               "b": dict(solution)}, stubs.values(), top=3)
    pairs = {frozenset((p.first, p.second)): p for p in ranking.pairs}
    assert frozenset(("s1", "s2")) not in pairs
    assert pairs[frozenset(("a", "b"))].similarity == pytest.approx(1.0)
    assert ranking.pairs[0].first == "a"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "grader", "similarity", str(tmp_path / "nowhere"),
         "--course", str(ROOT)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 2
    assert "does not exist" in run.stderr and "Traceback" not in run.stderr


def _result(student: str) -> dict[str, object]:
    """A valid result of one passed test."""
    result: dict[str, object] = {
        "schema_version": 1, "student": student, "assignment": "backprop",
        "grader_version": "0", "graded_at": "2026-12-01T12:00:00+00:00", "score": 1.0,
        "max_score": 1.0, "modules": {"neuron": {"score": 1.0, "max_score": 1.0}},
        "tests": [{"id": "neuron::t", "name": "t", "module": "neuron", "function": "forward",
                   "score": 1.0, "max_score": 1.0, "status": "passed",
                   "visibility": "visible", "feedback": "", "diagnosis": None}],
        "errors": []}
    results.validate(result)
    return result


def test_the_report_shows_the_ranking_beside_the_results(ranked: dict[str, object],
                                                         tmp_path: Path) -> None:
    """`grader report` shows similarity.json of its results folder: the copies first."""
    students = [*INDEPENDENT, *(c for c, _, _, _ in COPIES)]
    for student in students:
        results.write_json(_result(student), results.result_path(tmp_path, student))
    ranking = {k: v for k, v in ranked.items() if k != "stdout"}
    (tmp_path / similarity.REPORT_FILE).write_text(json.dumps(ranking), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "grader", "report", str(tmp_path),
                          "--course", str(ROOT)], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = page.split('<h2 id="similarity">')[1].split("<h2")[0]
    rows = section.split("<tr data-pair=")[1:]
    assert len(rows) == min(20, len(ranked["pairs"]))  # type: ignore[arg-type]
    copies = {frozenset((c, o)) for c, o, _, _ in COPIES}
    for row in rows[:len(copies)]:
        first, second = row.split('"')[1].split()
        assert frozenset((first, second)) in copies
    assert "12 submissions, 66 pairs" in section and "run it again" not in section


def test_the_report_says_how_to_get_the_section_and_escapes_ids(tmp_path: Path) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    code = (ROOT / "solutions" / "activations.py").read_text(encoding="utf-8")
    ranking = similarity.rank({hostile: {"activations.py": code},
                               "bob": {"activations.py": code}}, [], top=1)
    results.write_json(_result("bob"), results.result_path(tmp_path, "bob"))
    report.build(tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Not computed. Run <code>grader similarity" in page
    similarity.write(ranking, tmp_path / similarity.REPORT_FILE)
    report.build(tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = page.split('<h2 id="similarity">')[1].split("<h2")[0]
    assert hostile not in page and html.escape(hostile) in section
    assert "It read 2 submissions, this report holds 1 results" in section


def test_an_unreadable_submission_is_named_not_fatal(tmp_path: Path) -> None:
    for name in ("a", "b"):
        shutil.copytree(ROOT / "solutions", tmp_path / name)
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    ran = CliRunner().invoke(main, ["similarity", str(tmp_path), "--course", str(ROOT)])
    assert ran.exit_code == 0, ran.output
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("2 submissions, 1 pairs")
    assert any(line.startswith("not compared: broken: ") for line in lines)
    assert any(line.split()[:3] == ["1", "100%", "a"] for line in lines)
