"""Tests for grader.authoring.misconceptions and detectors: each mistake is named, correct or
random output is not.

The catalogue used is the one this course's students see: the built-in misconceptions with the
course's own (checks/misconceptions.toml), which words some built-ins in the course's formulas.
"""

import pickle
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from grader.authoring import Catalogue, Diagnosis, Misconception
from grader.authoring.misconceptions import BUILTINS
from grader.course.config import load_course

CATALOGUE = load_course(Path(__file__).resolve().parents[2]).catalogue()
diagnose = CATALOGUE.diagnose
diagnose_batches = CATALOGUE.diagnose_batches
diagnose_exception = CATALOGUE.diagnose_exception
diagnosis_for = CATALOGUE.diagnosis
mutation_diagnosis = CATALOGUE.mutation_diagnosis

N = 5  # batch size used throughout
BUILTIN_KEYS = {
    "missing_factor_2", "extra_factor_2", "sum_instead_of_mean", "mean_instead_of_sum",
    "sign_error", "transposed", "activation_instead_of_derivative", "bias_not_summed",
    "broadcast_column", "overflow", "modified_input", "returned_none", "wrong_dtype",
    "output_aliases_input", "scaled_by_constant", "batches_repeat_or_miss",
}


def expected_grad(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N, 3))


def key(d: Diagnosis | None) -> str | None:
    return None if d is None else d.key


def test_catalogue_has_the_builtin_misconceptions_with_hints() -> None:
    assert BUILTIN_KEYS <= set(CATALOGUE)
    for k, m in CATALOGUE.items():
        assert m.key == k and m.title and m.hint


# -- each generic detector fires on its mistake ----------------------------------------------

MISTAKES: dict[str, Callable[[np.ndarray], object]] = {
    "missing_factor_2": lambda e: 0.5 * e,
    "extra_factor_2": lambda e: 2 * e,
    "sign_error": lambda e: -e,
    "sum_instead_of_mean": lambda e: N * e,
    "mean_instead_of_sum": lambda e: e / N,
    "transposed": lambda e: e.T.copy(),
    "overflow": lambda e: np.where(e > 0, np.nan, e),
    "wrong_dtype": lambda e: e.astype(np.float32),
    "returned_none": lambda e: None,
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_detector_fires_on_its_mistake(mistake: str) -> None:
    expected = expected_grad()
    assert key(diagnose(MISTAKES[mistake](expected), expected, batch_size=N)) == mistake


def test_missing_factor_2_message_is_observation_then_fix() -> None:
    expected = expected_grad()
    assert diagnose(0.5 * expected, expected, name="dA") == Diagnosis(
        "missing_factor_2", "Missing factor 2",
        "dA is exactly half the expected value. The derivative of (a - y)^2 is 2(a - y): "
        "dC/da = 2(a - y), and dC/dA = 2(A - Y)/N for the mean over N examples.")


def test_correct_output_gives_no_diagnosis() -> None:
    expected = expected_grad()
    assert diagnose(expected + 1e-13, expected, batch_size=N) is None
    assert diagnose({"dW": expected}, {"dW": expected.copy()}) is None
    assert diagnose(0.25, 0.25) is None


@pytest.mark.parametrize("seed", range(40))
def test_random_wrong_output_gives_no_diagnosis(seed: int) -> None:
    rng = np.random.default_rng(seed)
    expected = rng.normal(size=(4, 4)) if seed % 2 else rng.normal(size=(N, 3))
    noise = rng.normal(size=expected.shape)
    assert diagnose(noise, expected, batch_size=N) is None
    assert diagnose(noise.T.copy(), expected, batch_size=N) is None
    assert diagnose(float(noise.flat[0]), float(expected.flat[0]), batch_size=N) is None


def test_all_zero_expected_never_triggers_a_factor() -> None:
    zeros = np.zeros((N, 3))
    assert diagnose(np.zeros((N, 3)), zeros, batch_size=N) is None
    assert diagnose(-np.zeros((N, 3)), zeros, batch_size=N) is None
    assert diagnose(np.full((N, 3), 1e-3), zeros, batch_size=N) is None
    tiny = np.full((N, 3), 1e-12)  # below atol: a factor of it is indistinguishable
    assert diagnose(np.full((N, 3), 0.1), tiny, batch_size=N) is None


def test_batch_factors_need_a_batch_size() -> None:
    """Without N a factor of 5 is named as the plain constant it is, not as a sum over N."""
    expected = expected_grad()
    for batch_size in (None, 1):
        d = diagnose(N * expected, expected, batch_size=batch_size)
        assert d is not None and d.key == "scaled_by_constant"
        assert d.message.startswith("result is exactly the expected value times 5. ")


def test_scalar_loss_sum_instead_of_mean() -> None:
    d = diagnose(0.8 * N, 0.8, batch_size=N, name="loss")
    assert d is not None and d.key == "sum_instead_of_mean"
    assert d.message.startswith("loss is 5 times the expected value (N = 5, the batch size). ")


def test_square_transpose_but_not_of_a_symmetric_matrix() -> None:
    square = np.random.default_rng(1).normal(size=(4, 4))
    assert key(diagnose(square.T.copy(), square)) == "transposed"
    symmetric = square + square.T
    assert key(diagnose(symmetric * 3, symmetric)) == "scaled_by_constant"
    assert diagnose(symmetric, symmetric) is None


def test_bias_not_summed_over_the_batch() -> None:
    dz = np.random.default_rng(2).normal(size=(N, 3))
    d = diagnose(dz, dz.sum(axis=0), name="db")
    assert d is not None and d.key == "bias_not_summed"
    assert d.message.startswith("db has shape (5, 3), expected (3,): one row per example")
    assert key(diagnose(dz, dz.sum(axis=0, keepdims=True))) == "bias_not_summed"
    assert diagnose(dz, dz.mean(axis=0) + 1.0) is None


def test_broadcast_column_shapes() -> None:
    v = np.random.default_rng(3).normal(size=N)
    d = diagnose(v[:, None], v)
    assert d is not None and d.key == "broadcast_column"
    assert d.message.startswith("result has shape (5, 1), expected (5,), with the right values.")
    rng = np.random.default_rng(8)
    a, y = rng.normal(size=N), rng.normal(size=N)
    broadcast = a - y[:, None]  # y kept as a column: (N,) - (N, 1) -> (N, N)
    d = diagnose(broadcast, a - y)
    assert d is not None and d.key == "broadcast_column"
    assert d.message.startswith(
        "result has shape (5, 5), expected (5,), and its diagonal is the expected vector. ")
    assert key(diagnose(v, v[:, None])) == "broadcast_column"
    assert diagnose(np.random.default_rng(4).normal(size=(N, N)), v) is None


def test_wrong_dtype_for_ints() -> None:
    expected = np.array([1.0, 2.0, 3.0])
    d = diagnose(np.array([1, 2, 3]), expected)
    assert d is not None and d.message.startswith("result has dtype int64, expected float64.")
    d = diagnose(np.float32(0.1), 0.1, rtol=1e-9)
    assert d is not None and d.message.startswith("result has dtype float32, expected float64.")


def test_is_an_int_scalar_not_blamed_for_its_type() -> None:
    """Where a scalar is returned any real number is allowed: a wrong int is wrong by value."""
    assert diagnose(0, 0.0) is None
    d = diagnose(3, 1.5, batch_size=None)
    assert d is not None and d.key == "extra_factor_2"


def test_integer_outputs_get_no_factor_diagnosis() -> None:
    labels = np.array([1, 2, 3])
    assert diagnose(2 * labels, labels) is None
    assert diagnose(np.array([[1, 2], [3, 4]]).T, np.array([[1, 2], [3, 4]])) is None


def test_overflow_only_where_expected_is_finite() -> None:
    expected = np.array([1.0, np.inf])
    assert diagnose(np.array([1.0, np.inf]), expected) is None
    assert key(diagnose(np.array([np.inf, np.inf]), expected)) == "overflow"


# -- variants supplied by the caller ---------------------------------------------------------

def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def test_variant_activation_instead_of_derivative() -> None:
    z = np.random.default_rng(5).normal(size=(N, 3))
    upstream = np.random.default_rng(6).normal(size=(N, 3))
    expected = upstream * sigmoid(z) * (1 - sigmoid(z))
    mistake = upstream * sigmoid(z)
    variants = {"activation_instead_of_derivative": mistake}
    d = diagnose(mistake, expected, variants=variants, name="dZ")
    assert d is not None and d.key == "activation_instead_of_derivative"
    assert d.message.startswith(
        "dZ is what the activation itself gives where its derivative belongs. ")
    assert diagnose(expected, expected, variants=variants) is None
    assert diagnose(np.zeros_like(expected) + 0.3, expected, variants=variants) is None


def test_variant_equal_to_expected_is_ignored() -> None:
    expected = expected_grad()
    variants = {"activation_instead_of_derivative": expected + 1e-12}
    assert key(diagnose(2 * expected, expected, variants=variants)) == "extra_factor_2"


def test_unknown_variant_key_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="not a catalogued misconception"):
        diagnose(1.0, 2.0, variants={"typo": 1.0})


# -- containers ------------------------------------------------------------------------------

def test_dict_diagnoses_the_differing_entry_and_names_it() -> None:
    dz = np.random.default_rng(7).normal(size=(N, 3))
    expected = {"dW": expected_grad(), "db": dz.sum(axis=0)}
    d = diagnose({"dW": expected["dW"], "db": dz}, expected, name="grads")
    assert d is not None and d.key == "bias_not_summed"
    assert d.message.startswith("grads['db'] has shape (5, 3), expected (3,)")
    d = diagnose({"dW": None, "db": expected["db"]}, expected)
    assert d is not None and d.key == "returned_none"
    assert d.message.startswith("result['dW'] is None. ")


def test_tuple_and_nested_variants() -> None:
    a, b = expected_grad(1), expected_grad(2)
    assert key(diagnose((a, -b), (a, b))) == "sign_error"
    variants = {"activation_instead_of_derivative": (a, b + 1.0)}
    assert key(diagnose((a + 7, b + 1.0), (a, b), variants=variants)) == (
        "activation_instead_of_derivative")
    assert diagnose((a,), (a, b)) is None  # length mismatch: compare's message is enough


def test_unrelated_dict_mistakes_give_none() -> None:
    expected = {"dW": expected_grad(), "db": np.ones(3)}
    assert diagnose({"dW": expected_grad(9), "db": np.ones(3)}, expected) is None
    assert diagnose({"db": np.ones(3)}, expected) is None


# -- exceptions, mutation, registry ------------------------------------------------------------

def numpy_error(action: Callable[[], object]) -> tuple[str, str]:
    try:
        with np.errstate(all="raise"):
            action()
    except Exception as exc:  # the real numpy messages, not hand-written copies
        return type(exc).__name__, str(exc)
    raise AssertionError("no exception")


def test_exceptions_numpy_raises_are_recognised() -> None:
    overflow = numpy_error(lambda: np.exp(np.array([1000.0])))
    assert key(diagnose_exception(*overflow)) == "overflow"
    matmul = numpy_error(lambda: np.ones((3, 4)) @ np.ones((3, 4)))
    assert key(diagnose_exception(*matmul)) == "shape_mismatch"
    broadcast = numpy_error(lambda: np.ones((3, 4)) + np.ones((4, 3)))
    d = diagnose_exception(*broadcast)
    assert d is not None and d.key == "shape_mismatch"
    assert d.message.startswith("Two arrays with incompatible shapes met (ValueError: operands")
    dot = numpy_error(lambda: np.dot(np.ones((3, 4)), np.ones((3, 4))))
    assert key(diagnose_exception(*dot)) == "shape_mismatch"


def test_exceptions_that_are_not_diagnosed() -> None:
    assert diagnose_exception("NotImplementedError", "") is None
    assert diagnose_exception("KeyError", "'W1'") is None
    assert diagnose_exception("ValueError", "math domain error") is None


def test_mutation_diagnosis_names_the_arguments() -> None:
    d = mutation_diagnosis(["x"])
    assert d.key == "modified_input"
    assert d.message == (
        "The function changed its argument `x` in place. Work on a copy: x = x.copy(), or build "
        "new arrays (y = x * 2, not x *= 2); +=, x[...] = and out= write into the caller's "
        "array.")
    assert mutation_diagnosis(["W", "b"]).message.startswith(
        "The function changed its arguments `W`, `b` in place.")
    assert mutation_diagnosis([]).message.startswith("The function changed one of its arguments")


@pytest.fixture
def course_entry() -> Misconception:
    return Misconception("tanh_as_sigmoid", "tanh derivative from the sigmoid",
                         "tanh'(z) = 1 - tanh(z)^2.", "uses the sigmoid's derivative")


def test_courses_register_their_own_misconceptions(course_entry: Misconception) -> None:
    catalogue = CATALOGUE.extended([course_entry])
    assert catalogue["tanh_as_sigmoid"] is course_entry
    assert "tanh_as_sigmoid" not in CATALOGUE  # extending gives a new catalogue
    with pytest.raises(ValueError, match="already registered"):
        catalogue.extended([course_entry])
    z = np.linspace(-2, 2, 6)
    wrong = sigmoid(z) * (1 - sigmoid(z))
    d = catalogue.diagnose(wrong, 1 - np.tanh(z) ** 2, variants={"tanh_as_sigmoid": wrong})
    assert d == Diagnosis("tanh_as_sigmoid", "tanh derivative from the sigmoid",
                          "result uses the sigmoid's derivative. tanh'(z) = 1 - tanh(z)^2.")
    assert catalogue.diagnosis("tanh_as_sigmoid", "Seen.").message == (
        "Seen. tanh'(z) = 1 - tanh(z)^2.")


def test_does_a_course_entry_replace_the_builtin_of_its_key() -> None:
    """A course rewords a built-in by giving its key; the entry keeps its place."""
    builtin = Catalogue.builtin()
    mine = Misconception("sign_error", "Sign error", "In this course: a - b, never b - a.")
    with pytest.raises(ValueError, match="already registered"):
        builtin.extended([mine])
    reworded = builtin.extended([mine], replace=True)
    assert reworded["sign_error"] is mine and builtin["sign_error"] is not mine
    assert list(reworded) == list(builtin)
    expected = expected_grad()
    d = reworded.diagnose(-expected, expected, name="dW")
    assert d is not None and d.message == (
        "dW has the right size but the opposite sign. In this course: a - b, never b - a.")


def test_are_the_builtin_misconceptions_worded_for_any_course() -> None:
    """The built-in hints speak of no course's formulas; this course's words for them live in
    its own file and are what its students see."""
    course_words = re.compile(r"sigmoid|sigma|2\(a - y\)|gradient descent|A_prev|digits|"
                              r"worked|slide", re.IGNORECASE)
    for m in BUILTINS:
        for text in (m.title, m.hint, m.symptom):
            assert not course_words.search(text), (m.key, text)
    course = {m.key: m for m in load_course(Path(__file__).resolve().parents[2])
              .load_misconceptions()}
    for key in ("missing_factor_2", "sign_error", "overflow", "transposed"):
        assert CATALOGUE[key] == course[key] != Catalogue.builtin()[key]


def test_is_a_catalogue_a_value() -> None:
    """A catalogue repeats no key, travels between processes, and equals its copy."""
    entry = BUILTINS[0]
    with pytest.raises(ValueError, match="already registered"):
        Catalogue([entry, entry])
    assert pickle.loads(pickle.dumps(CATALOGUE)) == CATALOGUE
    assert hash(Catalogue.builtin()) == hash(Catalogue(BUILTINS))
    assert len(Catalogue.builtin()) == len(BUILTINS)
    hint = next(m.hint for m in BUILTINS if m.key == "returned_none")
    assert Catalogue.builtin().named("returned_none") == Diagnosis(
        "returned_none", "Nothing returned", hint)


# -- any clean constant factor ------------------------------------------------------------------
@pytest.mark.parametrize(("factor", "said"), [
    (3.0, "3"), (1 / 3, "1/3"), (-2.0, "-2"), (0.75, "3/4"), (-0.5, "-1/2"),
    (2 / N, "2/N = 2/5"), (float(N * N), "N^2 = 25"),
    (1e-5, "1e-05 (a power of ten: a step size eps or eps^2, or a learning rate?)"),
    (1e-10, "1e-10 (a power of ten: a step size eps or eps^2, or a learning rate?)"),
])
def test_is_any_clean_constant_factor_named(factor: float, said: str) -> None:
    """Is an output that is the expected one times 3, 1/3, 2/N, eps, eps^2 ... told which?"""
    expected = expected_grad(3)
    d = diagnose(factor * expected, expected, batch_size=N, rtol=1e-9, atol=1e-15, name="dW")
    assert d is not None and d.key == "scaled_by_constant", d
    assert d.message.startswith(f"dW is exactly the expected value times {said}. ")


def test_do_the_catalogued_factors_keep_their_own_teaching() -> None:
    """2, 1/2, -1, N and 1/N keep their specific entries (with the formula that explains them)."""
    expected = expected_grad(4)
    found = {f: key(diagnose(f * expected, expected, batch_size=N))
             for f in (2.0, 0.5, -1.0, float(N), 1 / N)}
    assert found == {2.0: "extra_factor_2", 0.5: "missing_factor_2", -1.0: "sign_error",
                     float(N): "sum_instead_of_mean", 1 / N: "mean_instead_of_sum"}


def test_is_one_number_only_matched_against_slips_of_a_formula() -> None:
    """Any wrong number is some fraction of the right one: a scalar gets no p/q, but a power of
    ten (a step size) is still named."""
    assert diagnose(0.75, 0.5) is None  # 3/2 of an accuracy is no mistake of a formula
    d = diagnose(0.5e-5, 0.5, rtol=1e-9, atol=1e-15)
    assert d is not None and d.key == "scaled_by_constant"


@pytest.mark.parametrize("seed", range(200))
def test_is_a_random_wrong_array_never_a_clean_multiple(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    expected = rng.normal(size=(3, 4))
    perturbed = expected * rng.uniform(0.2, 5.0) + rng.normal(0.0, 1e-3, size=(3, 4))
    assert diagnose(perturbed, expected, batch_size=N) is None


# -- mini-batches that repeat or miss examples --------------------------------------------------
def test_are_repeated_and_missing_examples_counted_and_named() -> None:
    batches = [np.array([4, 1, 1]), np.array([0, 4]), np.array([6])]
    d = diagnose_batches(batches, 7, name="minibatches(7, 3, rng)")
    assert d is not None and d.key == "batches_repeat_or_miss"
    assert d.message.startswith(
        "minibatches(7, 3, rng) repeats 2 of the 7 examples (index 1 is in it 2 times) and "
        "leaves 3 out (index 2 is in no batch). ")
    outside = diagnose_batches([np.array([0, 1]), np.array([2, 3])], 3)
    assert outside is not None and "holds 1 indices outside range(3) (such as 3)" in \
        outside.message
    assert diagnose_batches([np.array([2, 0]), np.array([1])], 3) is None
    assert diagnose_batches("not batches", 3) is None


def test_does_diagnose_recognise_batches_that_sample_with_replacement() -> None:
    """Batches drawn with replacement, compared with the expected partition, are named."""
    expected = [np.array([3, 0, 4]), np.array([2, 1])]
    drawn = [np.array([3, 3, 4]), np.array([2, 1])]
    assert key(diagnose(drawn, expected, name="batches")) == "batches_repeat_or_miss"
    assert diagnose([np.array([0, 3, 4]), np.array([2, 1])], expected) is None
