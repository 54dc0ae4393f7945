"""Training curves: the student's MLP trained by full-batch gradient descent and by mini-batch SGD.

The loop runs here, in the grader's process; every step calls the student's own functions in
the sandbox (``mlp.init_params``, ``mlp.loss_and_grads``, ``sgd.minibatches``,
``sgd.sgd_step``, ``mlp.predict``), so each loss of each update is seen. The data (the
contract's split of scikit-learn's 8x8 digits) stays here and only the batch at hand crosses.
The setup is the capstone's: a sigmoid MLP ``[64, hidden, 10]`` with the squared error on
one-hot targets. This command is specific to a course with the contract's ``mlp`` and ``sgd``
modules (``docs/contract.md``); any other course gets a usage error.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.api import (
    Course,
    Runner,
    SandboxCrash,
    StudentError,
    StudentTimeout,
    locate,
    open_sandbox,
)

from .capstone import BATCH_SIZE, EPOCHS, HIDDEN, LR, SEED
from .training_plot import Curves, CurvesError, CurvesUsageError, Run, check_suffix

__all__ = ["BATCH_SIZE", "EPOCHS", "HIDDEN", "LR", "SEED", "Curves", "CurvesError",
           "CurvesUsageError", "Run", "check_suffix", "curves", "digits"]

Array = NDArray[np.float64]
Params = dict[str, Array]

#: the contract's split: perm = default_rng(0).permutation(1797), the first 1437 for training
N_TRAIN, SPLIT_SEED = 1437, 0
OPTIONS = {"hidden": "sigmoid", "output": "sigmoid"}
NEEDS = {"mlp": ("init_params", "loss_and_grads", "predict"), "sgd": ("minibatches", "sgd_step")}


def digits() -> tuple[Array, NDArray[np.int64], Array, NDArray[np.int64]]:
    """The contract's split of scikit-learn's 8x8 digits, loaded here (never in the sandbox).

    Returns
    -------
    X_train : ndarray, shape (1437, 64)
        Pixels divided by 16.
    y_train : ndarray, shape (1437,)
        Labels 0..9.
    X_test : ndarray, shape (360, 64)
    y_test : ndarray, shape (360,)

    Raises
    ------
    CurvesUsageError
        If scikit-learn is not installed.
    """
    spec = importlib.util.find_spec("sklearn")
    csv = Path(spec.origin).parent / "datasets/data/digits.csv.gz" if spec and spec.origin \
        else None
    if csv is not None and csv.is_file():  # the file load_digits reads, without sklearn's import
        with gzip.open(csv, "rt") as fh:
            table = np.loadtxt(fh, delimiter=",")
        data, target = table[:, :-1], table[:, -1]
    else:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise CurvesUsageError("the training curves need scikit-learn's digits: install "
                                   "the course's dependencies (pip install scikit-learn)") \
                from None
        loaded = load_digits()
        data, target = loaded.data, loaded.target
    X = np.asarray(data, dtype=np.float64) / 16.0
    y = np.asarray(target).astype(np.int64)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(X))
    train, test = perm[:N_TRAIN], perm[N_TRAIN:]
    return X[train], y[train], X[test], y[test]


class _Student:
    """The student's functions, called in the sandbox and checked; failures become
    :class:`CurvesError` naming the function."""

    def __init__(self, sandbox: Runner, shapes: dict[str, tuple[int, ...]]) -> None:
        self.sandbox = sandbox
        self.shapes = shapes
        self.seconds = 0.0
        self.own_shuffle = False
        self.notes: list[str] = []

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        module, function = name.split(".")
        try:
            result = self.sandbox.call(module, function, args, kwargs)
        except StudentError as exc:
            if exc.not_implemented:
                raise CurvesError(name, "is not implemented yet") from None
            raise CurvesError(name, f"raised {exc}") from None
        except (StudentTimeout, SandboxCrash) as exc:
            raise CurvesError(name, f"failed: {exc}") from None
        self.seconds += result.seconds
        return result.value

    def params(self, value: Any, name: str, finite: bool = False) -> Params:
        """A params (or grads) dict with the expected keys and shapes, as float64."""
        if not isinstance(value, dict) or set(value) != set(self.shapes):
            keys = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise CurvesError(name, f"returned {keys}, not a dict with keys "
                                    f"{sorted(self.shapes)}")
        out: Params = {}
        for key, shape in self.shapes.items():
            array = np.asarray(value[key])
            if array.shape != shape or array.dtype.kind not in "fiu":
                raise CurvesError(name, f"returned {key} of shape {array.shape} and dtype "
                                        f"{array.dtype}, expected {shape} float64")
            if finite and not np.isfinite(array).all():
                raise CurvesError(name, f"returned {key} with NaN or inf entries")
            out[key] = array.astype(np.float64)
        return out

    def loss_and_grads(self, params: Params, X: Array, Y: Array) -> tuple[float, Params]:
        value = self.call("mlp.loss_and_grads", params, X, Y, loss="sse", **OPTIONS)
        loss = np.asarray(value[0]) if isinstance(value, tuple | list) and len(value) == 2 \
            else None
        if loss is None or loss.shape != () or loss.dtype.kind not in "fiu":
            raise CurvesError("mlp.loss_and_grads", "must return a pair (loss: float, grads)")
        return float(loss), self.params(value[1], "mlp.loss_and_grads")

    def step(self, params: Params, grads: Params, lr: float) -> Params:
        return self.params(self.call("sgd.sgd_step", params, grads, lr), "sgd.sgd_step")

    def accuracy(self, params: Params, X: Array, labels: NDArray[np.int64]) -> float:
        # predict, not accuracy: the fraction is counted here, from the student's labels
        value = np.asarray(self.call("mlp.predict", params, X, **OPTIONS))
        if value.shape != labels.shape:
            raise CurvesError("mlp.predict", f"returned shape {value.shape}, expected "
                                             f"{labels.shape} (one label per example)")
        return float(np.mean(value == labels))


def _batches(student: _Student, n: int, batch_size: int,
             rng: np.random.Generator) -> list[NDArray[np.int64]]:
    """The student's ``minibatches`` while it partitions ``range(n)``; once it does not, the
    grader's own shuffle (and ``student.notes`` says so)."""
    if not student.own_shuffle:
        try:
            value = student.call("sgd.minibatches", n, batch_size, rng)
            batches = [np.asarray(b) for b in value] if isinstance(value, list) else []
            every = np.sort(np.concatenate(batches)) if batches else np.zeros(0)
            if (batches and all(b.ndim == 1 and b.dtype.kind in "iu" for b in batches)
                    and np.array_equal(every, np.arange(n))):
                return [b.astype(np.int64) for b in batches]
            problem = "does not return a list of index arrays that partition range(n)"
        except CurvesError as exc:
            problem = exc.problem
        student.own_shuffle = True
        student.notes.append(f"sgd.minibatches {problem}: the grader shuffled the batches "
                             "itself (run `grader check sgd`)")
    perm = rng.permutation(n)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def _train(student: _Student, name: str, start: Params, data: tuple[Any, ...], *, epochs: int,
           batch_size: int | None, lr: float, rng: np.random.Generator) -> Run:
    """Train from ``start`` for ``epochs``; ``batch_size`` None means full batch."""
    X, Y, X_test, y_test = data
    params = start
    first, _ = student.loss_and_grads(params, X, Y)
    if not math.isfinite(first):
        raise CurvesError("mlp.loss_and_grads", f"returned a loss of {first} for the initial "
                                                "parameters")
    per_epoch, per_update = [first], list[float]()
    accuracy = [student.accuracy(params, X_test, y_test)]
    seconds = in_student = 0.0
    diverged = ""
    for epoch in range(1, epochs + 1):
        started, before = time.perf_counter(), student.seconds
        if batch_size is None:
            batches = [np.arange(len(X))]
        else:
            shuffle = np.random.default_rng(int(rng.integers(2**62)))
            batches = _batches(student, len(X), batch_size, shuffle)
        for idx in batches:
            loss, grads = student.loss_and_grads(params, X[idx], Y[idx])
            if not math.isfinite(loss):
                diverged = f"the batch loss became {loss} at update {len(per_update) + 1}"
                break
            per_update.append(loss)
            params = student.step(params, grads, lr)
        seconds += time.perf_counter() - started
        in_student += student.seconds - before
        if diverged:
            break
        # evaluation, not training: the loss on the whole set and the test accuracy
        loss, _ = student.loss_and_grads(params, X, Y)
        if not math.isfinite(loss):
            diverged = f"the training loss became {loss} after epoch {epoch}"
            break
        per_epoch.append(loss)
        accuracy.append(student.accuracy(params, X_test, y_test))
    return Run(name, batch_size or len(X), np.array(per_epoch), np.array(per_update),
               np.array(accuracy), seconds, in_student, diverged)


def curves(
    *,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    lr: float = LR,
    hidden: int = HIDDEN,
    seed: int = SEED,
    reference: bool = False,
    path: str | Path | None = None,
    course: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Curves:
    """Train the student's MLP on the digits two ways and return the curves.

    Both ways start from the same parameters (the student's ``init_params`` with ``seed``)
    and run for the same number of epochs: full-batch gradient descent takes one update per
    epoch on the whole training set, mini-batch SGD ``ceil(1437 / batch_size)``.

    Parameters
    ----------
    epochs : int
        Passes over the 1437 training images, for each way.
    batch_size : int
        Mini-batch size of SGD.
    lr : float
        Learning rate of both.
    hidden : int
        Hidden units: the network is ``[64, hidden, 10]``, sigmoid, squared error.
    seed : int
        Seeds the initial parameters and the shuffles.
    reference : bool
        Train the course's reference solutions instead of the student's code.
    path : str or Path, optional
        Folder of the student's modules (default: the course's ``exercises/``).
    course : str or Path, optional
        Course folder (default: found from the current folder or from ``path``).
    progress : callable, optional
        Called with a line of progress (the CLI prints it to stderr).

    Returns
    -------
    Curves
        ``.full_batch`` and ``.minibatch`` (a :class:`Run` each), ``.save(path)``, ``.summary()``.

    Raises
    ------
    CurvesError
        A student function is missing, raised, timed out or returned the wrong thing.
    CurvesUsageError
        Bad arguments, or a course without the contract's mlp and sgd.
    """
    if epochs < 1 or batch_size < 1 or hidden < 1:
        raise CurvesUsageError("epochs, batch size and hidden units must be at least 1")
    loaded, folder, source = _locate(reference, path, course)
    X, y, X_test, y_test = digits()
    data = (X, np.eye(10)[y], X_test, y_test)
    sizes = [X.shape[1], hidden, 10]
    shapes: dict[str, tuple[int, ...]] = {}
    for i in (1, 2):
        shapes[f"W{i}"], shapes[f"b{i}"] = (sizes[i], sizes[i - 1]), (sizes[i],)
    seeds = np.random.SeedSequence(seed).spawn(2)
    say = progress or (lambda _line: None)
    # every call keeps its deadline; the whole run is as long as the epochs asked for
    limits = replace(loaded.limits, submission_timeout=math.inf)
    with open_sandbox(loaded, folder, limits=limits) as sandbox:
        student = _Student(sandbox, shapes)
        start = student.params(student.call("mlp.init_params", sizes,
                                            np.random.default_rng(seeds[0])),
                               "mlp.init_params", finite=True)
        say(f"full-batch gradient descent, {epochs} epochs ...")
        full = _train(student, "full batch", start, data, epochs=epochs, batch_size=None,
                      lr=lr, rng=np.random.default_rng(seeds[1]))
        say(f"mini-batch SGD, batches of {batch_size}, {epochs} epochs ...")
        mini = _train(student, "mini-batch", start, data, epochs=epochs, batch_size=batch_size,
                      lr=lr, rng=np.random.default_rng(seeds[1]))
    return Curves(full, mini, epochs, lr, hidden, seed, source, tuple(student.notes))


def _locate(reference: bool, path: str | Path | None,
            course: str | Path | None) -> tuple[Course, Path, str]:
    """The course, the folder of modules to train and how to name it."""
    if reference and path is not None:
        raise CurvesUsageError("give --reference or --path, not both")
    loaded, folder = locate(path, course, CurvesUsageError)  # as `grader check` finds them
    missing = [f"{m}.{f}" for m, fs in NEEDS.items() for f in fs
               if m not in loaded.modules or f not in loaded.functions(m)]
    if missing:
        raise CurvesUsageError(f"the course {loaded.name!r} lacks {', '.join(missing)}: the "
                               "training curves need the contract's mlp and sgd modules")
    if reference:
        if not loaded.solutions.is_dir():
            raise CurvesUsageError(f"no reference solutions at {loaded.solutions} (a student "
                                   "release has none): train your own code, without "
                                   "--reference")
        folder, source = loaded.solutions, "reference solutions"
    else:
        folder = folder or loaded.exercises
        source = f"your code ({folder.name}/)"
    if not folder.is_dir():
        raise CurvesUsageError(f"no such folder: {folder}")
    return loaded, folder, source
