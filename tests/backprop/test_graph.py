"""`grader graph`: the deck's computational graphs, evaluated on real code in the real sandbox,
drawn into real SVG and PNG files."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image
import pytest
from click.testing import CliRunner

import commands
from commands.compgraph import NOT_IMPLEMENTED, NUMERICAL, OK, ComputationalGraph
from commands.deckgraphs import NEURON_DEFAULTS, graph, provided_constants
from grader.api import UsageError
from grader.cli import main
from grader.course.config import load_course

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"
W_NAMES = {"w11", "w12", "w21", "w22"}
V_NAMES = {"v11", "v12", "v21", "v22"}


def _copy_solutions(tmp_path: Path, module: str, old: str, new: str) -> Path:
    """A student folder: the reference solutions with one source line changed."""
    folder = tmp_path / "student"
    shutil.copytree(ROOT / "solutions", folder)
    path = folder / f"{module}.py"
    source = path.read_text(encoding="utf-8")
    assert old in source, f"{old!r} is no longer in solutions/{module}.py"
    path.write_text(source.replace(old, new), encoding="utf-8")
    return folder


def _svg_texts(path: Path) -> dict[str, str]:
    """Each drawn text's id -> its text, from the SVG file."""
    root = ET.parse(path).getroot()
    return {g.attrib["id"]: "".join("".join(t.itertext()) for t in g.iter(f"{SVG}text"))
            for g in root.iter(f"{SVG}g") if g.attrib.get("id", "").startswith(("node-", "edge-"))}


def _number(text: str) -> float:
    match = re.search(r"= (-?[0-9.]+(?:e-?\d+)?)", text)
    assert match, text
    return float(match.group(1))


@pytest.fixture(scope="module")
def reference() -> ComputationalGraph:
    return graph("worked-example", example=1, reference=True, course=ROOT)


@pytest.fixture(scope="module")
def missing_factor_two(tmp_path_factory: pytest.TempPathFactory) -> ComputationalGraph:
    folder = _copy_solutions(tmp_path_factory.mktemp("factor2"), "worked_example",
                             "return 2.0 * (y - t) * y * (1.0 - y)",
                             "return (y - t) * y * (1.0 - y)")
    return graph("worked-example", path=folder, course=ROOT)


def test_reference_graph_carries_the_worked_example_numbers(reference: ComputationalGraph) -> None:
    """Do the reference's nodes carry the contract's numbers (docs/contract.md), on the right
    names?"""
    nodes = reference.nodes
    expected_gradients = {"y1_in": -0.10469872, "y2_in": 0.026489717, "v21": -0.0017579594,
                          "h1": -0.15767816, "h2": 0.002219457, "w11": -2.906e-06,
                          "w12": 1.0992e-04, "v11": -0.10469808, "v22": 0.00044477952}
    for name, value in expected_gradients.items():
        assert nodes[name].status == OK, name
        assert nodes[name].gradient == pytest.approx(value, rel=2e-4), name
        assert nodes[name].numerical == pytest.approx(value, rel=2e-4), name
    assert nodes["y1_in"].source == "output_deltas"
    assert nodes["v21"].source == "grad_V" and nodes["h1"].source == "grad_h"
    assert nodes["w21"].source == "gradient_vector"
    for name, value in {"h1": 0.99999386, "h2": 0.016790648, "y1": 0.73270479,
                        "y2": 0.12288394, "L": 0.086547192, "x1": 3.0, "t2": 0.0}.items():
        assert nodes[name].value == pytest.approx(value, rel=1e-7), name
    assert nodes["e1"].value == pytest.approx(0.73270479 - 1.0, rel=1e-7)
    # nodes no function computes a gradient for show the numerical one, never a red mark
    assert {n for n, r in nodes.items() if r.status == NUMERICAL} == {
        "x1", "x2", "t1", "t2", "z1", "z2", "y1", "y2", "e1", "e2", "L"}
    assert nodes["L"].numerical == pytest.approx(1.0)
    assert nodes["y1"].numerical == pytest.approx(2 * (0.73270479 - 1.0), rel=1e-6)
    assert reference.wrong == [] and reference.problems == []
    # every edge is labelled with its local derivative: dy1_in/dh1 = v11, dz1/dw11 = x1, ...
    assert reference.edges["h1", "y1_in"].value == pytest.approx(1.0)
    assert reference.edges["h2", "y1_in"].value == pytest.approx(0.5)
    assert reference.edges["w11", "z1"].value == pytest.approx(3.0)
    assert reference.edges["z1", "h1"].formula == "\u03c3'(z1)"
    assert reference.edges["e1", "L"].value == pytest.approx(2 * (0.73270479 - 1.0), rel=1e-6)
    assert len(reference.nodes) == 23 and len(reference.edges) == 26


def test_constants_are_read_without_running_the_module() -> None:
    """Are X, T, W, V read from the course's file (not executed) and equal to the module's?"""
    course = load_course(ROOT)
    constants = provided_constants(course)
    module = course.reference()["worked_example"]
    for name in ("X", "T", "W", "V"):
        assert (constants[name] == getattr(module, name)).all(), name


def test_cli_reference_svg_has_the_numbers_on_the_right_nodes(tmp_path: Path) -> None:
    """Does the SVG show dL/dy1_in = -0.1047, dL/dv21 = -0.00176, dL/dh1 = -0.1577 inside
    those nodes' boxes, as text?"""
    out = tmp_path / "graph.svg"
    result = CliRunner().invoke(main, ["graph", "worked-example", "--example", "1",
                                       "--reference", "--course", str(ROOT), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert out.stat().st_size > 20_000
    texts = _svg_texts(out)
    for name, shown in {"y1_in": -0.1047, "v21": -0.00176, "h1": -0.1577}.items():
        text = texts[f"node-{name}-grad"]
        assert text.startswith(f"dL/d{name} = "), text
        assert _number(text) == pytest.approx(shown, abs=0.6 * 10 ** math.floor(
            math.log10(abs(shown)) - 2)), text
    assert "-0.1047" not in texts["node-y2_in-grad"] and "-0.1577" not in texts["node-h2-grad"]
    assert texts["node-h1-value"] == "= 0.999994"
    assert texts["edge-h2-y1_in"] == "v21 = 0.5"


def test_missing_factor_two_marks_exactly_what_it_feeds(
        missing_factor_two: ComputationalGraph) -> None:
    """Does output_deltas without its factor 2 mark dL/dy_in and what the student's code
    builds on it (grad_V, grad_h, gradient_vector), and nothing else?"""
    g = missing_factor_two
    assert set(g.wrong) == {"y1_in", "y2_in", "h1", "h2"} | W_NAMES | V_NAMES
    assert g.nodes["y1_in"].gradient == pytest.approx(-0.10469872 / 2, rel=1e-6)
    assert g.nodes["y1_in"].numerical == pytest.approx(-0.10469872, rel=1e-6)
    # its forward pass is right: no value is marked, and the untouched gradients show numbers
    assert all(r.value_status in (OK, "given") for r in g.nodes.values())
    assert g.nodes["z1"].status == NUMERICAL and g.problems == []
    assert "dL/dy1_in (output_deltas): your -0.05235, numerical -0.1047" in g.mistakes()
    assert "dL/dv21 (grad_V): your -0.000879, numerical -0.001758" in g.mistakes()


def test_cli_on_a_student_folder_writes_a_png_and_lists_the_red_nodes(tmp_path: Path) -> None:
    """Does `grader graph --path` print the red gradients and write a decodable PNG?"""
    folder = _copy_solutions(tmp_path, "worked_example",
                             "return 2.0 * (y - t) * y * (1.0 - y)",
                             "return (y - t) * y * (1.0 - y)")
    out = tmp_path / "graph.png"
    result = CliRunner().invoke(main, ["graph", "worked-example", "--path", str(folder),
                                       "--course", str(ROOT), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "dL/dy1_in (output_deltas): your -0.05235, numerical -0.1047" in result.output
    assert "dL/dh1 (grad_h): your -0.07884, numerical -0.1577" in result.output
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    image = matplotlib.image.imread(out)
    assert image.shape[0] > 600 and image.shape[1] > 1500
    # red pixels are drawn (the marked boxes' borders)
    red = (image[..., 0] > 0.7) & (image[..., 1] < 0.3) & (image[..., 2] < 0.3)
    assert red.sum() > 500


def _neuron_by_hand(w: float, b: float, a_prev: float, y: float) -> dict[str, float]:
    z = w * a_prev + b
    a = 1.0 / (1.0 + math.exp(-z))
    da_dz = a * (1.0 - a)
    dC_da = 2.0 * (a - y)
    delta = da_dz * dC_da
    return {"z": z, "a": a, "C0": (a - y) ** 2, "da_dz": da_dz, "dC_da": dC_da,
            "dw": a_prev * delta, "db": delta, "da_prev": w * delta, "dz": delta,
            "dy": -dC_da}


def test_neuron_reference_matches_the_chain_rule_by_hand(tmp_path: Path) -> None:
    """Do the neuron graph's values, gradients and edge labels equal the chain rule by hand?"""
    w, b, a_prev, y = 0.7, 0.2, -1.3, 0.25
    g = graph("neuron", reference=True, course=ROOT, w=w, b=b, a_prev=a_prev, y=y)
    hand = _neuron_by_hand(w, b, a_prev, y)
    for name in ("z", "a", "C0"):
        assert g.nodes[name].value == pytest.approx(hand[name], rel=1e-12)
    for node, key in {"w": "dw", "b": "db", "a_prev": "da_prev", "a": "dC_da"}.items():
        assert g.nodes[node].status == OK
        assert g.nodes[node].gradient == pytest.approx(hand[key], rel=1e-12)
        assert g.nodes[node].numerical == pytest.approx(hand[key], rel=1e-7)
    assert g.nodes["z"].numerical == pytest.approx(hand["dz"], rel=1e-7)
    assert g.nodes["y"].numerical == pytest.approx(hand["dy"], rel=1e-7)
    assert g.edges["z", "a"].value == pytest.approx(hand["da_dz"], rel=1e-12)
    assert g.edges["z", "a"].source == "chain_factors" and g.edges["z", "a"].status == OK
    assert g.edges["w", "z"].value == pytest.approx(a_prev, rel=1e-12)
    assert g.edges["a_prev", "z"].value == pytest.approx(w, rel=1e-7)
    assert g.wrong == []
    out = tmp_path / "neuron.svg"
    g.save(out)
    assert ET.parse(out).getroot().tag == f"{SVG}svg"
    assert _number(_svg_texts(out)["node-b-grad"]) == pytest.approx(hand["db"], rel=1e-3)


def test_neuron_wrong_db_is_red_and_broken_functions_are_grey(tmp_path: Path) -> None:
    """Is a planted wrong db marked red (and only it), while a stub and a crashing function
    are grey, listed, and crash nothing?"""
    folder = _copy_solutions(tmp_path, "neuron",
                             '"db": delta,', '"db": 2.0 * delta,')
    source = (folder / "neuron.py").read_text(encoding="utf-8")
    source = source.replace('    return {"dz_dw": dz_dw,', '    raise NotImplementedError\n'
                            '    return {"dz_dw": dz_dw,')
    source = source.replace("    return (a - y) ** 2", "    return 1 / 0")
    (folder / "neuron.py").write_text(source, encoding="utf-8")
    g = graph("neuron", path=folder, course=ROOT)
    assert g.wrong == ["b"]
    assert g.nodes["b"].gradient == pytest.approx(2 * g.nodes["b"].numerical, rel=1e-6)
    assert g.nodes["w"].status == OK and g.nodes["a_prev"].status == OK
    assert g.nodes["a"].status == NOT_IMPLEMENTED and g.edges["z", "a"].status == NOT_IMPLEMENTED
    assert g.nodes["C0"].value_status == "error"
    assert g.nodes["C0"].value == pytest.approx(g.nodes["C0"].expected)  # the grader's value
    assert g.problems == ["neuron.cost: error: ZeroDivisionError: division by zero",
                          "neuron.chain_factors: not implemented yet"]
    text = g.render_text()
    assert "dC0/db (backward): your -0.2943, numerical -0.1471" in text
    assert "Could not be evaluated (drawn grey):" in text


def test_stubs_draw_grey_and_say_what_could_not_be_evaluated(tmp_path: Path) -> None:
    """Do the untouched stubs give a drawn graph, nothing red, and a clear list (exit 0)?"""
    out = tmp_path / "stub.svg"
    result = CliRunner().invoke(main, ["graph", "neuron", "--course", str(ROOT),
                                       "--out", str(out), "--w", "2", "--y", "0"])
    assert result.exit_code == 0, result.output
    for function in ("forward", "cost", "chain_factors", "backward"):
        assert f"neuron.{function}: not implemented yet" in result.output
    assert "Marked red" not in result.output
    assert "w = 2, b = -0.5, a_prev = 0.8, y = 0" in result.output
    texts = _svg_texts(out)
    assert texts["node-w-grad"] == "dC0/dw: not implemented"
    assert texts["node-z-numerical"].startswith("dC0/dz \u2248 ")


def test_notebook_api_renders_inline_and_saves(tmp_path: Path) -> None:
    """Does commands.graph(...) give an object that renders as SVG and saves by suffix?"""
    g = commands.graph("worked-example", example=2, reference=True, course=ROOT)
    svg = g._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert "x = (-1, 4), t = (0, 1)" in svg
    assert set(g.nodes["v21"].__dataclass_fields__) >= {"value", "gradient", "numerical",
                                                          "status"}
    assert g.save(tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"\.svg or \.png"):
        g.save(tmp_path / "g.jpg")


def test_import_grader_stays_light() -> None:
    """Does `import commands` (the course's own) leave the graph modules and matplotlib
    unimported until commands.graph is used?"""
    code = ("import sys, commands; print(sorted(m for m in ('matplotlib', 'commands.deckgraphs') "
            "if m in sys.modules)); commands.graph; print('commands.deckgraphs' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.split() == ["[]", "True"]


@pytest.mark.parametrize(("args", "message"), [
    (["graph", "nope", "--out", "g.svg"], "'nope' is not one of"),
    (["graph", "neuron", "--reference", "--out", "g.pdf"], "must end in .svg or .png"),
    (["graph", "neuron", "--path", "no/such/folder", "--out", "g.svg"], "no such folder"),
    (["graph", "neuron", "--example", "2", "--reference", "--out", "g.svg"],
     "--example belongs to the worked-example graph"),
    (["graph", "worked-example", "--w", "1", "--reference", "--out", "g.svg"],
     "belong to the neuron graph"),
    (["graph", "worked-example", "--example", "3", "--reference", "--out", "g.svg"],
     "--example is 1 to 2"),
    (["graph", "neuron", "--out", "g.svg", "--course", "no/such/course"], "course.toml"),
])
def test_bad_input_is_a_usage_error(tmp_path: Path, args: list[str], message: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Does bad input give a clear message, exit code 2 and no file?"""
    monkeypatch.chdir(ROOT)
    args = [str(tmp_path / a) if a.startswith(("g.", "no/")) else a for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not list(tmp_path.iterdir())


def test_missing_module_and_api_errors(tmp_path: Path) -> None:
    """Is a folder without the graph's module, or an unknown graph, a UsageError?"""
    (tmp_path / "activations.py").write_text("", encoding="utf-8")
    with pytest.raises(UsageError, match=r"no worked_example\.py in"):
        graph("worked-example", path=tmp_path, course=ROOT)
    with pytest.raises(UsageError, match="unknown graph 'layer'"):
        graph("layer", course=ROOT)
    with pytest.raises(UsageError, match="exclude each other"):
        graph("neuron", path=tmp_path, reference=True, course=ROOT)


def test_cli_help_states_the_neuron_defaults() -> None:
    """Does `grader graph --help` state the defaults the API uses?"""
    result = CliRunner().invoke(main, ["graph", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for option, key in (("--w", "w"), ("--b", "b"), ("--a-prev", "a_prev"), ("--y", "y")):
        assert re.search(rf"{option} FLOAT .*?\(default {NEURON_DEFAULTS[key]:g}", text), option


def test_wrong_forward_and_wrong_shape(tmp_path: Path) -> None:
    """Is a wrong forward pass marked on the values (and passed on), and a gradient of the
    wrong shape grey with its reason, not red?"""
    folder = _copy_solutions(tmp_path, "worked_example", "    z = x @ W\n    h = sigmoid(z)",
                             "    z = x @ W.T\n    h = sigmoid(z)")
    source = (folder / "worked_example.py").read_text(encoding="utf-8")
    (folder / "worked_example.py").write_text(
        source.replace("    return V @ delta\n", "    return [1.0, 2.0, 3.0]\n"),
        encoding="utf-8")
    g = graph("worked-example", path=folder, course=ROOT)
    assert {n for n, r in g.nodes.items() if r.value_status == "wrong"} == {
        "z1", "z2", "h1", "h2", "y1_in", "y2_in", "y1", "y2", "L"}
    assert g.nodes["z1"].value == pytest.approx(7.5) and g.nodes["z1"].expected == 12.0
    assert g.nodes["L"].value_source == "loss"  # the student's loss of their own y
    assert g.nodes["h1"].status == "error" and "h1" in g.wrong  # red for its value only
    assert "worked_example.grad_h: error: returned shape (3,), expected (2,)" in g.problems
    assert "z1 (value, forward): your 7.5, expected 12" in g.mistakes()
