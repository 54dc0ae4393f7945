"""Training curves (`grader curves`, `commands.curves`): the reference and broken submissions
trained through the real sandbox, the real CLI, real figure files."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.image import imread

from commands.training_curves import Curves, CurvesError, curves, digits
from grader.cli import main

ROOT = Path(__file__).resolve().parents[2]
EPOCHS, BATCH = 3, 32
N_TRAIN = 1437
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STEP = "    return {name: value - lr * np.asarray(grads[name]) for name, value in params.items()}"


@pytest.fixture(scope="module")
def reference() -> Curves:
    """The reference solutions, 3 epochs each way (about a second)."""
    return curves(epochs=EPOCHS, batch_size=BATCH, reference=True, course=ROOT)


def student(tmp_path: Path, sgd_step: str | None = None, minibatches: bool = True) -> Path:
    """A copy of the reference solutions with sgd_step's body replaced, or minibatches a stub."""
    folder = tmp_path / "student"
    shutil.copytree(ROOT / "solutions", folder)
    source = (folder / "sgd.py").read_text(encoding="utf-8")
    assert STEP in source
    if sgd_step is not None:
        source = source.replace(STEP, f"    {sgd_step}")
    if not minibatches:
        marker = "    perm = rng.permutation(n)\n"
        source = source.replace(marker, "    raise NotImplementedError\n" + marker)
    (folder / "sgd.py").write_text(source, encoding="utf-8")
    return folder


def test_update_counts(reference: Curves) -> None:
    """Does mini-batch SGD make ceil(N/B) updates per epoch and full batch one?"""
    assert reference.minibatch.updates == math.ceil(N_TRAIN / BATCH) * EPOCHS == 135
    assert reference.full_batch.updates == EPOCHS
    for run in (reference.full_batch, reference.minibatch):
        assert run.loss_per_epoch.shape == run.test_accuracy.shape == (EPOCHS + 1,)
        assert run.loss_per_update.shape == (run.updates,)
        assert not run.diverged and run.seconds > 0
    assert reference.full_batch.batch_size == N_TRAIN and reference.minibatch.batch_size == BATCH


def test_same_start_minibatches_win(reference: Curves) -> None:
    """From the same start and for the same epochs, does SGD end lower (the deck's point) and
    classify the test digits well, while full batch has barely moved?"""
    full, mini = reference.full_batch, reference.minibatch
    assert full.loss_per_epoch[0] == mini.loss_per_epoch[0]  # the same initial parameters
    assert full.test_accuracy[0] == mini.test_accuracy[0]
    assert mini.final_loss < 0.5 * full.final_loss
    assert mini.final_accuracy > 0.75
    assert full.final_accuracy < mini.final_accuracy
    assert np.all(np.diff(full.loss_per_update) <= 1e-12)  # exact gradient: never goes up


def test_summary_states_each_way(reference: Curves) -> None:
    """Does the summary give final loss, accuracy, updates and seconds of both ways?"""
    text = reference.summary()
    for run in (reference.full_batch, reference.minibatch):
        assert f"final train loss {run.final_loss:.4f}" in text
        assert f"test accuracy {run.final_accuracy:.3f}" in text
        assert f"{run.updates:4d} updates" in text
    assert text.count(" s (") == 2


def test_figure_files(reference: Curves, tmp_path: Path) -> None:
    """Are the PNG, the SVG and the notebook's inline PNG real, non-blank figures?"""
    png = reference.save(tmp_path / "sub" / "curves.png")
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 30_000
    pixels = imread(png)
    assert pixels.ndim == 3 and pixels.shape[0] > 300 and pixels.shape[1] > 900
    grey = pixels[..., :3].mean(axis=2)
    assert grey.std() > 0.05 and (grey < 0.5).mean() > 0.005  # lines and text, not blank
    svg = reference.save(tmp_path / "curves.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and "mini-batch" in svg
    assert reference._repr_png_().startswith(PNG_MAGIC)


def test_cli_writes_figure_and_summary(tmp_path: Path) -> None:
    """Does `grader curves --reference` write the figure and print the summary (exit 0)?"""
    out = tmp_path / "c.png"
    result = CliRunner().invoke(main, ["curves", "--reference", "--epochs", "1", "--out",
                                       str(out), "--course", str(ROOT)])
    assert result.exit_code == 0, result.output
    assert "mini-batch" in result.stdout and "45 updates" in result.stdout
    assert "1 updates" in result.stdout and f"figure: {out}" in result.stdout
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_not_implemented_sgd_step(tmp_path: Path) -> None:
    """Does a stub sgd_step stop the run with a message naming it and `grader check sgd`?"""
    folder = student(tmp_path, sgd_step="raise NotImplementedError")
    out = tmp_path / "c.png"
    result = CliRunner().invoke(main, ["curves", "--path", str(folder), "--out", str(out),
                                       "--course", str(ROOT)])
    assert result.exit_code == 1
    assert "sgd.sgd_step is not implemented yet" in result.stderr
    assert "grader check sgd" in result.stderr
    assert not out.exists()


def test_wrong_shape_names_function(tmp_path: Path) -> None:
    """Does an sgd_step returning the wrong shapes fail with its name (exit 1)?"""
    folder = student(tmp_path, sgd_step="return {k: v.ravel() for k, v in params.items()}")
    with pytest.raises(CurvesError, match=r"sgd.sgd_step returned W1 of shape"):
        curves(epochs=1, path=folder, course=ROOT)


def test_divergence_still_plots(tmp_path: Path) -> None:
    """When the loss becomes NaN, is what exists still plotted, and the divergence said?"""
    folder = student(tmp_path, sgd_step="return {k: (v - lr * grads[k]) * (np.inf if "
                                        "np.abs(v).max() > 1.5 else 1.0) for k, v in "
                                        "params.items()}")
    out = tmp_path / "d.svg"
    result = CliRunner().invoke(main, ["curves", "--path", str(folder), "--epochs", "4",
                                       "--out", str(out), "--course", str(ROOT)])
    assert result.exit_code == 0, result.output
    assert "DIVERGED: the batch loss became nan at update" in result.stdout
    assert "<svg" in out.read_text(encoding="utf-8")


def test_broken_minibatches_falls_back(tmp_path: Path) -> None:
    """Does a stub minibatches still give curves, with the grader's own shuffle, and say so?"""
    result = curves(epochs=1, path=student(tmp_path, minibatches=False), course=ROOT)
    assert result.minibatch.updates == math.ceil(N_TRAIN / BATCH)
    assert any("sgd.minibatches is not implemented yet" in note for note in result.notes)
    assert "grader shuffled the batches itself" in result.summary()


@pytest.mark.parametrize("args", [["--out", "c.jpg", "--reference"],
                                  ["--out", "c", "--reference"],
                                  ["--out", "c.png", "--reference", "--path", "."]])
def test_usage_errors(args: list[str], tmp_path: Path) -> None:
    """Is a bad suffix (or --reference with --path) a usage error, exit 2, before training?"""
    result = CliRunner().invoke(main, ["curves", *args, "--course", str(ROOT)])
    assert result.exit_code == 2
    assert ".png or .svg" in result.stderr or "not both" in result.stderr


def test_digits_match_sklearn() -> None:
    """Is the data the contract's split of sklearn's load_digits (read without sklearn)?"""
    from sklearn.datasets import load_digits

    X, y, X_test, y_test = digits()
    loaded = load_digits()
    perm = np.random.default_rng(0).permutation(1797)
    assert np.array_equal(X, loaded.data[perm[:N_TRAIN]] / 16.0)
    assert np.array_equal(y_test, loaded.target[perm[N_TRAIN:]])
    assert X.dtype == np.float64 and X_test.shape == (360, 64) and y.shape == (N_TRAIN,)


def test_student_code_stays_in_the_sandbox(reference: Curves) -> None:
    """After training, is no course module imported into the grader's process?"""
    assert reference.minibatch.updates > 0
    for name in ("mlp", "sgd", "activations", "losses"):
        module = sys.modules.get(name)
        assert module is None or "solutions" not in str(getattr(module, "__file__", ""))


def test_lazy_export() -> None:
    """Is `commands.curves` the API function, without `import commands` loading it or
    matplotlib?"""
    code = ("import sys, commands; assert 'commands.training_curves' not in sys.modules; "
            "assert 'matplotlib' not in sys.modules; f = commands.curves; "
            "assert callable(f) and f.__module__ == 'commands.training_curves'; "
            "assert 'matplotlib' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr


def test_reference_curves_in_a_student_release_say_there_is_none(tmp_path: Path) -> None:
    """A student bundle has no solutions: --reference says so and what to do instead."""
    student = tmp_path / "student"
    for name in ("course.toml", "exercises", "checks", "commands"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, student / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            student.mkdir(exist_ok=True)
            shutil.copy2(source, student / name)
    result = CliRunner().invoke(main, ["curves", "--reference", "--course", str(student),
                                       "--out", str(tmp_path / "c.png")])
    assert result.exit_code == 2, result.output
    assert "a student release has none" in result.output
    assert "without --reference" in result.output
    assert not (tmp_path / "c.png").exists()
