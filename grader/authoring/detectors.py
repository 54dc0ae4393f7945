"""Detectors: recognise a known mistake in a wrong output, and say what was observed.

A detector knows the shape of a mistake, not how to teach its fix: it returns a `Finding`, the
key of the mistake and one sentence of what the output looks like ("dA is exactly half the
expected value."), and a `grader.authoring.misconceptions.Catalogue` turns that into a
diagnosis with the title and hint of its entry.

`recognise` compares a wrong output with what each mistake would produce: first the variants a
test computes itself (e.g. the activation where its derivative belongs), then generic
detectors (factors 0.5, 2, -1, N and 1/N, and any other clean constant factor, which is named:
3, 1/4, 2/N, 1e-05 ...; transposes; a bias gradient not summed over the batch; (N,) / (N, 1)
broadcasting; overflow; wrong dtype; batches of indices that repeat or leave out examples). A
detector fires only when the output matches the mistake within tolerance *and* the mistake is
distinguishable from the correct value, so correct outputs, unrelated wrong outputs and
all-zero expected values give None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from grader.authoring.compare import compare
from grader.authoring.factors import batch_problems, constant_factor, partition_size

__all__ = ["Finding", "mutation_finding", "recognise", "recognise_batches",
           "recognise_exception"]


@dataclass(frozen=True)
class Finding:
    """A mistake recognised in one output.

    Attributes
    ----------
    key : str
        The mistake's catalogue key (``"missing_factor_2"``).
    observation : str
        What the output looks like, one sentence ending in a full stop.
    """

    key: str
    observation: str


@dataclass(frozen=True)
class _Tol:
    rtol: float
    atol: float
    batch_size: int | None

    def close(self, actual: object, expected: object, *, check_dtype: bool = False) -> bool:
        try:
            return compare(actual, expected, rtol=self.rtol, atol=self.atol,
                           check_dtype=check_dtype, max_worst=0).ok
        except TypeError:
            return False


def recognise(
    actual: object,
    expected: object,
    *,
    variants: Mapping[str, object],
    symptoms: Mapping[str, str],
    batch_size: int | None,
    rtol: float,
    atol: float,
    name: str,
) -> Finding | None:
    """The mistake behind a wrong output, or None.

    Parameters
    ----------
    actual : object
        The output under test (array, scalar, or dict/tuple/list of them).
    expected : object
        The correct output, of the same structure.
    variants : mapping of str to object
        Mistake key -> the output that mistake produces on the same inputs, tried before the
        generic detectors; dict/tuple entries are matched per entry.
    symptoms : mapping of str to str
        Mistake key of each variant -> what its output looks like, completing "result ..."
        (``""``: "matches the output of this mistake").
    batch_size : int or None
        N, the number of examples; enables the factor-N and 1/N detectors when > 1 (tried
        before the factor-2 ones, so with N = 2 a factor 2 reads as a sum/mean mix-up).
    rtol, atol : float
        Tolerances for "matches" (as in `grader.authoring.compare.compare`).
    name : str
        How the output is called in the observation.

    Returns
    -------
    Finding or None
        None when ``actual`` is correct or matches no known mistake. For dicts and tuples the
        first differing entry that matches a mistake is found and named (``result['db']``).
    """
    return _recognise(actual, expected, dict(variants), symptoms,
                      _Tol(rtol, atol, batch_size), name)


def _recognise(actual: object, expected: object, variants: dict[str, object],
               symptoms: Mapping[str, str], tol: _Tol, path: str) -> Finding | None:
    if actual is None and expected is not None:
        return Finding("returned_none", f"{path} is None.")
    if tol.close(actual, expected, check_dtype=True):
        return None
    for key, variant in variants.items():
        if tol.close(actual, variant) and not tol.close(variant, expected):
            symptom = symptoms.get(key) or "matches the output of this mistake"
            return Finding(key, f"{path} {symptom}.")
    n = partition_size(expected)
    if n is not None and isinstance(actual, tuple | list):
        found = recognise_batches(actual, n, name=path)
        if found is not None:
            return found
    if not isinstance(expected, Mapping | tuple | list):
        return _recognise_leaf(actual, expected, tol, path)
    for sub_a, sub_e, sub_variants, sub_path in _entries(actual, expected, variants, path):
        if tol.close(sub_a, sub_e, check_dtype=True):
            continue
        found = _recognise(sub_a, sub_e, sub_variants, symptoms, tol, sub_path)
        if found is not None:
            return found
    return None


def _entries(
    actual: object, expected: object, variants: dict[str, object], path: str
) -> list[tuple[object, object, dict[str, object], str]]:
    """Aligned entries of two dicts (common keys) or two equal-length tuples/lists."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        return [(actual[k], e, {key: v[k] for key, v in variants.items()
                                if isinstance(v, Mapping) and k in v}, f"{path}[{k!r}]")
                for k, e in expected.items() if k in actual]
    if isinstance(expected, tuple | list) and isinstance(actual, tuple | list) \
            and len(actual) == len(expected):
        return [(a, e, {key: v[i] for key, v in variants.items()
                        if isinstance(v, tuple | list) and len(v) == len(expected)},
                 f"{path}[{i}]")
                for i, (a, e) in enumerate(zip(actual, expected, strict=True))]
    return []


def _as_float(x: object) -> NDArray[np.float64] | None:
    """``x`` as a float64 array if it is a real number or an array of them, else None."""
    if isinstance(x, bool | int | float | np.generic | np.ndarray):
        arr = np.asarray(x)
        if arr.dtype.kind in "biuf":
            return arr.astype(np.float64)
    return None


def _recognise_leaf(actual: object, expected: object, tol: _Tol, path: str) -> Finding | None:
    a, e = _as_float(actual), _as_float(expected)
    if a is None or e is None:
        return None
    if a.shape != e.shape:
        return _shape_detectors(a, e, tol, path)
    if (~np.isfinite(a) & np.isfinite(e)).any():
        return Finding("overflow", f"{path} contains NaN or inf where the expected values are "
                                   "finite.")
    a_dtype, e_dtype = np.asarray(actual).dtype, np.asarray(expected).dtype
    # a scalar may be any real number (an int 0 is a right relu(-1)); arrays must be float64
    scalar_ok = e.ndim == 0 and a_dtype.kind in "iu"
    if e_dtype == np.float64 and a_dtype != np.float64 and not scalar_ok:
        what = (f"is a Python {type(actual).__name__}" if isinstance(actual, bool | int)
                else f"has dtype {a_dtype}")
        return Finding("wrong_dtype", f"{path} {what}, expected float64.")
    if e_dtype.kind != "f":  # factors and transposes of labels or counts teach nothing
        return None
    factors: list[tuple[float, str, str]] = []
    n = tol.batch_size
    if n is not None and n > 1:
        factors += [(float(n), "sum_instead_of_mean",
                     f"{path} is {n} times the expected value (N = {n}, the batch size)."),
                    (1.0 / n, "mean_instead_of_sum",
                     f"{path} is the expected value divided by N = {n}, the batch size.")]
    factors += [(0.5, "missing_factor_2", f"{path} is exactly half the expected value."),
                (2.0, "extra_factor_2", f"{path} is exactly twice the expected value."),
                (-1.0, "sign_error", f"{path} has the right size but the opposite sign.")]
    for factor, key, observation in factors:
        candidate = factor * e
        if tol.close(a, candidate) and not tol.close(candidate, e):
            return Finding(key, observation)
    if e.ndim == 2 and tol.close(a.T, e) and not tol.close(e.T, e):
        return Finding("transposed", f"{path} is the transpose of the expected array.")
    return _constant_factor(a, e, tol, path)


def _constant_factor(a: NDArray[np.float64], e: NDArray[np.float64], tol: _Tol,
                     path: str) -> Finding | None:
    """``a`` is ``c e`` for a clean constant ``c`` (3, 1/4, -2, 2/N, 1e-05, ...): name it."""
    if tol.close(np.zeros_like(e), e):
        return None  # an expected value within tolerance of 0 has no telling multiples
    words = constant_factor(a, e, tol.close, tol.batch_size)
    if words is None:
        return None
    return Finding("scaled_by_constant", f"{path} is exactly the expected value times {words}.")


def _shape_detectors(
    a: NDArray[np.float64], e: NDArray[np.float64], tol: _Tol, path: str
) -> Finding | None:
    shapes = f"{path} has shape {a.shape}, expected {e.shape}"
    squeezed = tuple(d for d in e.shape if d != 1)
    if a.size == e.size and tuple(d for d in a.shape if d != 1) == squeezed and \
            tol.close(a.ravel(), e.ravel()):
        return Finding("broadcast_column", f"{shapes}, with the right values.")
    if len(squeezed) == 1 and a.shape == squeezed * 2 and tol.close(np.diag(a), e.ravel()):
        return Finding("broadcast_column", f"{shapes}, and its diagonal is the expected vector.")
    if a.ndim == e.ndim == 2 and a.shape == e.shape[::-1] and tol.close(a.T, e):
        return Finding("transposed", f"{shapes}, and is the transpose of the expected array.")
    summed: NDArray[np.float64] | None = None
    if a.ndim == e.ndim + 1 and a.shape[1:] == e.shape:
        summed = a.sum(axis=0)
    elif a.ndim == e.ndim >= 1 and e.shape[0] == 1 and a.shape[1:] == e.shape[1:]:
        summed = a.sum(axis=0, keepdims=True)
    if summed is not None and tol.close(summed, e):
        return Finding("bias_not_summed", f"{shapes}: one row per example, and their sum over "
                                          "axis 0 is the expected value.")
    return None


def recognise_batches(batches: object, n: int, *, name: str) -> Finding | None:
    """Whether mini-batches of range(n) repeat some examples or leave some out.

    Parameters
    ----------
    batches : object
        What the student returned: a list of index arrays, expected to hold each of range(n)
        exactly once.
    n : int
        The number of examples.
    name : str
        How the batches are called in the observation.

    Returns
    -------
    Finding or None
        ``batches_repeat_or_miss``, naming how many indices repeat or are missing and one of
        each; None when every index of range(n) appears exactly once, or ``batches`` is not a
        list of integer arrays (another failure explains that).
    """
    problems = batch_problems(batches, n)
    if problems is None:
        return None
    return Finding("batches_repeat_or_miss", f"{name} {problems}.")


_SHAPE_ERRORS = ("could not be broadcast", "not aligned", "mismatch in its core dimension",
                 "dimension mismatch")


def recognise_exception(exc_type: str, message: str) -> Finding | None:
    """Recognise a mistake from an exception the student's code raised.

    Parameters
    ----------
    exc_type : str
        The exception's class name (``"FloatingPointError"``).
    message : str
        Its message.

    Returns
    -------
    Finding or None
        Overflow for FloatingPointError or an "overflow" message; a shape mismatch for
        numpy's broadcasting and matmul shape errors; None otherwise, including
        NotImplementedError (the caller reports "not implemented yet").
    """
    text = message.strip()
    low = text.lower()
    raised = f"{exc_type}: {text}" if text else exc_type
    if exc_type == "NotImplementedError":
        return None
    if exc_type == "FloatingPointError" or "overflow" in low:
        return Finding("overflow", f"The computation overflowed ({raised}).")
    if exc_type == "ValueError" and any(s in low for s in _SHAPE_ERRORS):
        return Finding("shape_mismatch", f"Two arrays with incompatible shapes met ({raised}).")
    return None


def mutation_finding(arg_names: Sequence[str]) -> Finding:
    """The finding for a function that changed its arguments in place.

    Parameters
    ----------
    arg_names : sequence of str
        Names of the modified arguments (may be empty when unknown).
    """
    names = ", ".join(f"`{n}`" for n in arg_names)
    if not names:
        observation = "The function changed one of its arguments in place."
    else:
        noun = "argument" if len(arg_names) == 1 else "arguments"
        observation = f"The function changed its {noun} {names} in place."
    return Finding("modified_input", observation)
