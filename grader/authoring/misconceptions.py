"""Known backprop mistakes: a catalogue of hints, and detectors that recognise them in outputs.

`diagnose` compares a wrong output with what each catalogued mistake would produce: first the
variants a test computes itself (e.g. the activation where its derivative belongs), then generic
detectors (factors 0.5, 2, -1, N and 1/N, and any other clean constant factor, which is named:
3, 1/4, 2/N, 1e-05 ...; transposes; a bias gradient not summed over the batch; (N,) / (N, 1)
broadcasting; overflow; wrong dtype; batches of indices that repeat or leave out examples). A
detector fires only when the output matches the mistake within tolerance *and* the mistake is
distinguishable from the correct value, so correct outputs, unrelated wrong outputs and all-zero
expected values give None.
Courses add their own entries with `register`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from grader.authoring import factors as _factors
from grader.authoring.compare import compare

__all__ = [
    "CATALOGUE", "Diagnosis", "Misconception", "diagnose", "diagnose_batches",
    "diagnose_exception", "diagnosis_for", "mutation_diagnosis", "register",
]


@dataclass(frozen=True)
class Misconception:
    """A known mistake and how to fix it.

    Attributes
    ----------
    key : str
        Stable identifier (``"missing_factor_2"``), used in results and summaries.
    title : str
        Short name shown to students and instructors.
    hint : str
        The fix, with the formula that explains it.
    symptom : str, optional
        What an output produced by this mistake looks like, completing "result ...", used when
        a caller-supplied variant matches.
    """

    key: str
    title: str
    hint: str
    symptom: str = ""


@dataclass(frozen=True)
class Diagnosis:
    """A recognised mistake in one output.

    Attributes
    ----------
    key, title : str
        From the catalogue entry.
    message : str
        What the output looks like, then the fix (one or two sentences).
    """

    key: str
    title: str
    message: str


CATALOGUE: dict[str, Misconception] = {}
"""Every known misconception by key; extend it with `register`."""


def register(m: Misconception, *, replace: bool = False) -> Misconception:
    """Add a misconception to `CATALOGUE` (a course's own mistakes) and return it.

    Raises
    ------
    ValueError
        If the key is taken and ``replace`` is False.
    """
    if m.key in CATALOGUE and not replace:
        raise ValueError(f"misconception {m.key!r} is already registered")
    CATALOGUE[m.key] = m
    return m


for _m in (
    Misconception(
        "missing_factor_2", "Missing factor 2",
        "The derivative of (a - y)^2 is 2(a - y): dC/da = 2(a - y), and dC/dA = 2(A - Y)/N for "
        "the mean over N examples.", "is half the expected value"),
    Misconception(
        "extra_factor_2", "Extra factor 2",
        "Differentiating (a - y)^2 gives the factor 2 once: dC/da = 2(a - y). Apply it in one "
        "place only, and do not double the loss itself.", "is twice the expected value"),
    Misconception(
        "sum_instead_of_mean", "Sum instead of mean",
        "The cost is the mean over the N examples, C = (1/N) sum_n C_n, so its gradient carries "
        "the 1/N: dC/dA = 2(A - Y)/N. Divide by N (or use np.mean) exactly once.",
        "is N times the expected value"),
    Misconception(
        "mean_instead_of_sum", "Mean instead of sum",
        "Divide by N exactly once: dC/dA = 2(A - Y)/N already holds the 1/N, so the later sums "
        "over the batch (dW = dZ^T A_prev, db = sum over the batch of dZ) are sums, not means.",
        "is the expected value divided by N"),
    Misconception(
        "scaled_by_constant", "Off by a constant factor",
        "Every entry is the expected one times the same constant, so the formula is right up to "
        "a factor applied twice or not at all: the 2 of a square, the 1/N of a mean, a step "
        "size eps or a learning rate, a sign. Find where that constant enters and apply it "
        "exactly once.", "is a constant multiple of the expected value"),
    Misconception(
        "batches_repeat_or_miss", "Examples repeated or left out",
        "Each pass over the data uses every example exactly once: shuffle the indices once with "
        "rng.permutation(n) and cut that permutation into consecutive slices. Drawing indices "
        "with rng.integers or rng.choice (with replacement) repeats some examples and misses "
        "others.", "repeats some examples and leaves others out"),
    Misconception(
        "sign_error", "Sign error",
        "Check the sign: dC/da = 2(a - y), not 2(y - a), and gradient descent steps against the "
        "gradient: w <- w - lr * dC/dw.", "has the opposite sign of the expected value"),
    Misconception(
        "transposed", "Transposed gradient",
        "A gradient has the shape of what it differentiates. For Z = A_prev W^T + b "
        "(W of shape (n_out, n_in)), dW = dZ^T A_prev; for Z = A_prev W + b, dW = A_prev^T dZ.",
        "is the transpose of the expected array"),
    Misconception(
        "activation_instead_of_derivative", "Activation instead of its derivative",
        "Backprop multiplies by the derivative of the activation, not the activation: "
        "dZ = dA * sigma'(Z) with sigma'(z) = sigma(z)(1 - sigma(z)).",
        "is what the activation itself gives where its derivative belongs"),
    Misconception(
        "bias_not_summed", "Bias gradient not summed over the batch",
        "The bias is shared by all examples, so its gradient sums over the batch: "
        "db = sum over the batch of dZ (dZ.sum(axis=0)), with the shape of b.",
        "has one row per example instead of their sum"),
    Misconception(
        "broadcast_column", "(N,) and (N, 1) mixed up",
        "An (N,) array combined with an (N, 1) one broadcasts to (N, N). Keep vectors 1-D "
        "(.ravel() or .reshape(-1)) or use (N, 1) throughout, and check each intermediate shape.",
        "has a length-1 axis too many or too few"),
    Misconception(
        "overflow", "Overflow in exp",
        "np.exp overflows for large inputs: use the stable form, subtracting the max before exp: "
        "softmax(z) = exp(z - max z) / sum exp(z - max z); for the sigmoid use exp(z) / "
        "(1 + exp(z)) when z < 0 and 1 / (1 + exp(-z)) otherwise.", "contains NaN or inf"),
    Misconception(
        "modified_input", "Input modified in place",
        "Work on a copy: x = x.copy(), or build new arrays (y = x * 2, not x *= 2); +=, "
        "x[...] = and out= write into the caller's array.", "changed its input"),
    Misconception(
        "returned_none", "Nothing returned",
        "End the function with `return <result>`: a function without a return statement "
        "returns None.", "is None"),
    Misconception(
        "wrong_dtype", "Wrong dtype",
        "Use float64: create arrays with dtype=np.float64 (np.zeros_like of an integer array "
        "is an integer array) and avoid astype(np.float32) and integer division.",
        "has the wrong dtype"),
    Misconception(
        "output_aliases_input", "Output shares memory with the input",
        "Return a new array, not the input or a view of it: compute a new result "
        "(np.maximum(x, 0)) or return x.copy().", "shares memory with the input"),
    Misconception(
        "shape_mismatch", "Shapes do not line up",
        "Write the shape next to each array: with A_prev (N, n_in) and W (n_out, n_in), "
        "Z = A_prev W^T + b is (N, n_out). A matmul needs equal inner dimensions, so a missing "
        "or extra .T is the usual cause.", "has the wrong shape"),
):
    register(_m)


def diagnosis_for(key: str, observation: str) -> Diagnosis:
    """A `Diagnosis` for catalogued ``key``: the ``observation`` sentence, then the hint."""
    m = CATALOGUE[key]
    return Diagnosis(m.key, m.title, f"{observation} {m.hint}")


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


def diagnose(
    actual: object,
    expected: object,
    *,
    batch_size: int | None = None,
    variants: Mapping[str, object] | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    name: str = "result",
) -> Diagnosis | None:
    """Name the likely mistake behind a wrong output, or None.

    Parameters
    ----------
    actual : object
        The output under test (array, scalar, or dict/tuple/list of them).
    expected : object
        The correct output.
    batch_size : int, optional
        N, the number of examples; enables the factor-N and 1/N detectors when > 1 (tried
        before the factor-2 ones, so with N = 2 a factor 2 reads as a sum/mean mix-up).
    variants : mapping of str to object, optional
        Catalogue key -> the output that mistake produces on the same inputs (computed by the
        caller), tried before the generic detectors; dict/tuple entries are matched per entry.
    rtol, atol : float, optional
        Tolerances for "matches" (as in `grader.authoring.compare.compare`).
    name : str, optional
        How the output is called in the message.

    Returns
    -------
    Diagnosis or None
        None when ``actual`` is correct or matches no known mistake. For dicts and tuples the
        first differing entry that matches a mistake is diagnosed and named (``result['db']``).

    Raises
    ------
    KeyError
        If a variant's key is not in `CATALOGUE`.
    """
    for key in variants or {}:
        if key not in CATALOGUE:
            raise KeyError(f"variant {key!r} is not a catalogued misconception")
    return _diagnose(actual, expected, dict(variants or {}), _Tol(rtol, atol, batch_size), name)


def _diagnose(
    actual: object, expected: object, variants: dict[str, object], tol: _Tol, path: str
) -> Diagnosis | None:
    if actual is None and expected is not None:
        return diagnosis_for("returned_none", f"{path} is None.")
    if tol.close(actual, expected, check_dtype=True):
        return None
    for key, variant in variants.items():
        if tol.close(actual, variant) and not tol.close(variant, expected):
            symptom = CATALOGUE[key].symptom or "matches the output of this mistake"
            return diagnosis_for(key, f"{path} {symptom}.")
    n = _factors.partition_size(expected)
    if n is not None and isinstance(actual, tuple | list):
        found = diagnose_batches(actual, n, name=path)
        if found is not None:
            return found
    if not isinstance(expected, Mapping | tuple | list):
        return _diagnose_leaf(actual, expected, tol, path)
    for sub_a, sub_e, sub_variants, sub_path in _entries(actual, expected, variants, path):
        if tol.close(sub_a, sub_e, check_dtype=True):
            continue
        found = _diagnose(sub_a, sub_e, sub_variants, tol, sub_path)
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


def _diagnose_leaf(actual: object, expected: object, tol: _Tol, path: str) -> Diagnosis | None:
    a, e = _as_float(actual), _as_float(expected)
    if a is None or e is None:
        return None
    if a.shape != e.shape:
        return _shape_detectors(a, e, tol, path)
    if (~np.isfinite(a) & np.isfinite(e)).any():
        return diagnosis_for("overflow", f"{path} contains NaN or inf where the expected "
                                         "values are finite.")
    a_dtype, e_dtype = np.asarray(actual).dtype, np.asarray(expected).dtype
    # a scalar may be any real number (an int 0 is a right relu(-1)); arrays must be float64
    scalar_ok = e.ndim == 0 and a_dtype.kind in "iu"
    if e_dtype == np.float64 and a_dtype != np.float64 and not scalar_ok:
        what = (f"is a Python {type(actual).__name__}" if isinstance(actual, bool | int)
                else f"has dtype {a_dtype}")
        return diagnosis_for("wrong_dtype", f"{path} {what}, expected float64.")
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
            return diagnosis_for(key, observation)
    if e.ndim == 2 and tol.close(a.T, e) and not tol.close(e.T, e):
        return diagnosis_for("transposed", f"{path} is the transpose of the expected array.")
    return _constant_factor(a, e, tol, path)


def _constant_factor(a: NDArray[np.float64], e: NDArray[np.float64], tol: _Tol,
                     path: str) -> Diagnosis | None:
    """``a`` is ``c e`` for a clean constant ``c`` (3, 1/4, -2, 2/N, 1e-05, ...): name it."""
    if tol.close(np.zeros_like(e), e):
        return None  # an expected value within tolerance of 0 has no telling multiples
    words = _factors.constant_factor(a, e, tol.close, tol.batch_size)
    if words is None:
        return None
    return diagnosis_for("scaled_by_constant", f"{path} is exactly the expected value times "
                                               f"{words}.")


def diagnose_batches(batches: object, n: int, *, name: str = "result") -> Diagnosis | None:
    """Whether mini-batches of range(n) repeat some examples or leave some out.

    Parameters
    ----------
    batches : object
        What the student returned: a list of index arrays, expected to hold each of range(n)
        exactly once.
    n : int
        The number of examples.
    name : str, optional
        How the batches are called in the message.

    Returns
    -------
    Diagnosis or None
        ``batches_repeat_or_miss``, naming how many indices repeat or are missing and one of
        each; None when every index of range(n) appears exactly once, or ``batches`` is not a
        list of integer arrays (another failure explains that).
    """
    problems = _factors.batch_problems(batches, n)
    if problems is None:
        return None
    return diagnosis_for("batches_repeat_or_miss", f"{name} {problems}.")


def _shape_detectors(
    a: NDArray[np.float64], e: NDArray[np.float64], tol: _Tol, path: str
) -> Diagnosis | None:
    shapes = f"{path} has shape {a.shape}, expected {e.shape}"
    squeezed = tuple(d for d in e.shape if d != 1)
    if a.size == e.size and tuple(d for d in a.shape if d != 1) == squeezed and \
            tol.close(a.ravel(), e.ravel()):
        return diagnosis_for("broadcast_column", f"{shapes}, with the right values.")
    if len(squeezed) == 1 and a.shape == squeezed * 2 and tol.close(np.diag(a), e.ravel()):
        return diagnosis_for("broadcast_column",
                             f"{shapes}, and its diagonal is the expected vector.")
    if a.ndim == e.ndim == 2 and a.shape == e.shape[::-1] and tol.close(a.T, e):
        return diagnosis_for("transposed", f"{shapes}, and is the transpose of the expected "
                                           "array.")
    summed: NDArray[np.float64] | None = None
    if a.ndim == e.ndim + 1 and a.shape[1:] == e.shape:
        summed = a.sum(axis=0)
    elif a.ndim == e.ndim >= 1 and e.shape[0] == 1 and a.shape[1:] == e.shape[1:]:
        summed = a.sum(axis=0, keepdims=True)
    if summed is not None and tol.close(summed, e):
        return diagnosis_for("bias_not_summed", f"{shapes}: one row per example, and their "
                                                "sum over axis 0 is the expected value.")
    return None


_SHAPE_ERRORS = ("could not be broadcast", "not aligned", "mismatch in its core dimension",
                 "dimension mismatch")


def diagnose_exception(exc_type: str, message: str) -> Diagnosis | None:
    """Recognise a mistake from an exception the student's code raised.

    Parameters
    ----------
    exc_type : str
        The exception's class name (``"FloatingPointError"``).
    message : str
        Its message.

    Returns
    -------
    Diagnosis or None
        Overflow for FloatingPointError or an "overflow" message; a shape hint for numpy's
        broadcasting and matmul shape errors; None otherwise, including NotImplementedError
        (the caller reports "not implemented yet").
    """
    text = message.strip()
    low = text.lower()
    raised = f"{exc_type}: {text}" if text else exc_type
    if exc_type == "NotImplementedError":
        return None
    if exc_type == "FloatingPointError" or "overflow" in low:
        return diagnosis_for("overflow", f"The computation overflowed ({raised}).")
    if exc_type == "ValueError" and any(s in low for s in _SHAPE_ERRORS):
        return diagnosis_for("shape_mismatch", f"Two arrays with incompatible shapes met "
                                               f"({raised}).")
    return None


def mutation_diagnosis(arg_names: Sequence[str]) -> Diagnosis:
    """The diagnosis for a function that changed its arguments in place.

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
    return diagnosis_for("modified_input", observation)
