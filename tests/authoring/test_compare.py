"""Tests for grader.authoring.compare: what passes, what fails, and the exact words of each message."""

import math

import numpy as np
import pytest

from grader.authoring.compare import Comparison, ComparisonError, about, compare

TOL = {"rtol": 1e-6, "atol": 1e-9}


def grid() -> np.ndarray:
    return np.arange(12.0).reshape(3, 4)


# -- exact messages -------------------------------------------------------------------------------

def test_none_message_asks_about_return() -> None:
    result = compare(None, grid(), **TOL)
    assert not result.ok
    assert result.reason == "none"
    assert result.message == "result: returned None — did you forget a `return`?"


def test_shape_is_checked_before_values() -> None:
    result = compare(grid().T, grid(), **TOL, name="dW")
    assert result.reason == "shape"
    assert result.message == "dW: shape (4, 3), expected (3, 4)"


def test_list_where_array_expected_is_a_type_error() -> None:
    result = compare([[0.0, 1.0]], np.array([[0.0, 1.0]]), **TOL)
    assert result.reason == "type"
    assert result.message == "result: expected a numpy array, got a list"


def test_float32_array_fails_dtype_check() -> None:
    result = compare(grid().astype(np.float32), grid(), **TOL)
    assert result.reason == "dtype"
    assert result.message == "result: dtype float32, expected float64"


def test_value_mismatch_lists_worst_entries_largest_first() -> None:
    expected = grid()
    actual = expected.copy()
    actual[0, 1] = 1.5  # abs diff 0.5
    actual[2, 3] = 10.0  # abs diff 1
    actual[1, 0] = -4.0  # abs diff 8
    actual[1, 1] = 5.25  # abs diff 0.25
    result = compare(actual, expected, **TOL)
    assert result.message == (
        "result: not equal to tolerance rtol=1e-06, atol=1e-09\n"
        "  Mismatched elements: 4 / 12 (33.3%)\n"
        "  Max absolute difference: 8\n"
        "  Max relative difference: 2\n"
        "  Largest differences:\n"
        "    index (1, 0): actual -4, expected 4\n"
        "    index (2, 3): actual 10, expected 11\n"
        "    index (0, 1): actual 1.5, expected 1"
    )
    assert (result.n_bad, result.n_total) == (4, 12)
    assert result.max_abs == 8.0
    assert result.max_rel == 2.0
    assert [w[0] for w in result.worst] == [(1, 0), (2, 3), (0, 1)]
    assert result.worst[0] == ((1, 0), -4.0, 4.0)


def test_dict_missing_key_is_named() -> None:
    expected = {"dW": grid(), "db": np.zeros(4)}
    result = compare({"dW": grid()}, expected, **TOL, name="grads")
    assert result.reason == "keys"
    assert result.message == "grads is missing key 'db'"


def test_dict_missing_and_extra_keys_and_a_wrong_entry_all_reported_when_strict() -> None:
    expected = {"dW": grid(), "db": np.zeros(4), "dA": np.ones(2)}
    actual = {"dW": grid() * 2, "dz": np.zeros(4)}
    result = compare(actual, expected, **TOL, strict_keys=True)
    lines = result.message.splitlines()
    assert lines[0] == "result is missing keys 'db', 'dA' and has unexpected key 'dz'"
    assert lines[1] == "result['dW']: not equal to tolerance rtol=1e-06, atol=1e-09"


def test_are_extra_keys_beside_the_expected_ones_ignored_by_default() -> None:
    """A returned dict may hold more than the documented keys (the contract ignores them)."""
    expected = {"dw": np.ones(3), "db": np.zeros(3), "da_prev": np.ones(3)}
    assert compare({**expected, "dz": np.full(3, 7.0)}, expected, **TOL).ok
    missing = compare({"dw": np.ones(3), "dz": np.ones(3)}, expected, **TOL)
    assert missing.message == "result is missing keys 'db', 'da_prev'"


def test_scalar_mismatch_is_one_line() -> None:
    result = compare(1.5, 1.0, **TOL, name="loss")
    assert result.message == (
        "loss: got 1.5, expected 1 (absolute difference 0.5, relative difference 0.5; "
        "rtol=1e-06, atol=1e-09)"
    )
    assert result.worst == (((), 1.5, 1.0),)


def test_close_values_print_with_enough_digits_to_differ() -> None:
    result = compare(0.7310586, 0.7310585, rtol=1e-9, atol=1e-12)
    assert result.message.startswith("result: got 0.7310586, expected 0.7310585 ")


def test_nan_where_finite_expected_is_reported_before_values() -> None:
    expected = grid()
    actual = expected.copy()
    actual[0, 0] = np.nan
    actual[1, 2] = np.inf
    actual[2, 2] = 99.0  # an ordinary mismatch too: NaN/inf are reported first
    result = compare(actual, expected, **TOL)
    assert result.reason == "nonfinite"
    assert result.message == (
        "result: NaN or inf where finite values are expected at 2 / 12 positions (16.7%)\n"
        "  index (0, 0): actual nan, expected 0\n"
        "  index (1, 2): actual inf, expected 6"
    )


def test_missing_nan_is_a_position_mismatch() -> None:
    result = compare(np.array([1.0, 2.0]), np.array([1.0, np.nan]), **TOL)
    assert result.message == (
        "result: NaN or inf positions differ at 1 / 2 positions (50%)\n"
        "  index (1,): actual 2, expected nan"
    )


def test_integer_arrays_compare_exactly() -> None:
    result = compare(np.array([1, 2, 3]), np.array([1, 2, 4]), **TOL, name="labels")
    assert result.message == (
        "labels: not equal (exact comparison)\n"
        "  Mismatched elements: 1 / 3 (33.3%)\n"
        "  First differences:\n"
        "    index (2,): actual 3, expected 4"
    )


def test_sets_report_missing_and_unexpected_elements() -> None:
    result = compare({1, 2, 5}, {1, 2, 3, 4}, **TOL)
    assert result.message == "result: missing elements 3, 4; unexpected element 5"
    assert compare({3, 1}, {1, 3}, **TOL).ok


def test_sequence_length_and_nested_paths() -> None:
    assert compare((1.0, 2.0), (1.0, 2.0, 3.0), **TOL).message == "result: length 2, expected 3"
    expected = {"cache": (np.ones(2), np.zeros(2))}
    actual = {"cache": (np.ones(2), np.ones(2))}
    result = compare(actual, expected, **TOL)
    assert result.path == "result['cache'][1]"
    assert result.message.startswith("result['cache'][1]: not equal to tolerance")


def test_strings_and_ints_compare_exactly() -> None:
    assert compare("relu", "relu", **TOL).ok
    assert compare("Relu", "relu", **TOL).message == "result: got 'Relu', expected 'relu'"
    assert compare(3, 4, **TOL).message == "result: got 3, expected 4"
    assert compare(np.int32(4), 4, **TOL).ok


# -- what is accepted --------------------------------------------------------------------------

@pytest.mark.parametrize("actual", [0.25, np.float64(0.25), np.array(0.25)])
def test_float_scalar_forms_are_interchangeable(actual: object) -> None:
    assert compare(actual, 0.25, **TOL).ok
    assert compare(actual, np.float64(0.25), **TOL).ok
    assert compare(actual, np.array(0.25), **TOL).ok


@pytest.mark.parametrize("actual", [0, np.int64(0), np.float32(0.0), np.array(0), -0.0, 0.0])
def test_is_any_real_scalar_accepted_where_a_float_scalar_is_expected(actual: object) -> None:
    """relu(-0.99) written as max(0, z) returns the int 0: a real number, compared by value."""
    assert compare(actual, 0.0, rtol=1e-12, atol=1e-15).ok
    assert compare(actual, np.float64(0.0), rtol=1e-12, atol=1e-15).ok


def test_scalar_type_and_dtype_problems() -> None:
    assert compare(1, 1.5, **TOL).message == (
        "result: got 1, expected 1.5 (absolute difference 0.5, relative difference 0.333333; "
        "rtol=1e-06, atol=1e-09)")
    assert compare(True, 1.0, **TOL).message == "result: expected a float (float64), got a bool"
    assert compare(np.ones(1), 1.0, **TOL).message == (
        "result: expected a float (float64), got an array of shape (1,) (float64)")
    assert compare(np.ones(2, dtype=np.float32), np.ones(2), **TOL).message == (
        "result: dtype float32, expected float64")
    assert compare(1, 1.0, **TOL, check_dtype=False).ok


def test_any_integer_dtype_is_accepted_for_integers_but_not_float() -> None:
    expected = np.array([1, 2], dtype=np.int64)
    assert compare(np.array([1, 2], dtype=np.int32), expected, **TOL).ok
    result = compare(np.array([1.0, 2.0]), expected, **TOL)
    assert result.message == "result: dtype float64, expected an integer dtype"
    assert compare(np.array([1.0, 2.0]), expected, **TOL, check_dtype=False).ok


def test_bool_needs_bool() -> None:
    assert compare(np.array([True]), np.array([True]), **TOL).ok
    assert compare(np.array([1]), np.array([True]), **TOL).message == (
        "result: dtype int64, expected bool")
    assert compare(True, True, **TOL).ok


def test_matching_nan_and_same_signed_inf_count_as_equal() -> None:
    expected = np.array([np.nan, np.inf, -np.inf, 1.0])
    assert compare(expected.copy(), expected, **TOL).ok
    flipped = np.array([np.nan, -np.inf, -np.inf, 1.0])
    assert compare(flipped, expected, **TOL).n_bad == 1


def test_tolerance_is_relative_to_expected() -> None:
    # |1.0 - 1.1| = 0.1 <= 0.095 * 1.1 but not <= 0.095 * 1.0: the test is asymmetric.
    assert compare(1.0, 1.1, rtol=0.095, atol=1e-12).ok
    assert not compare(1.1, 1.0, rtol=0.095, atol=1e-12).ok


def test_atol_is_what_makes_zeros_comparable() -> None:
    assert not compare(np.array([1e-17]), np.array([0.0]), rtol=1e-6, atol=0.0).ok
    assert compare(np.array([1e-17]), np.array([0.0]), rtol=1e-6, atol=1e-12).ok
    result = compare(np.array([1.0]), np.array([0.0]), **TOL)
    assert result.max_rel == math.inf


def test_passing_comparison_reports_how_close_it_came() -> None:
    result = compare(grid() + 1e-12, grid(), **TOL)
    assert result.ok and result.message == ""
    assert result.n_bad == 0 and result.n_total == 12
    assert 0 < result.max_abs < 1e-11


def test_max_worst_limits_listed_entries() -> None:
    result = compare(grid() + 1.0, grid(), **TOL, max_worst=1)
    assert len(result.worst) == 1
    assert result.message.count("index (") == 1


def test_empty_arrays_are_equal() -> None:
    assert compare(np.zeros((0, 3)), np.zeros((0, 3)), **TOL).ok


def test_dict_of_equal_arrays_passes_with_totals() -> None:
    expected = {"W": grid(), "b": np.zeros(4)}
    result = compare({"W": grid(), "b": np.zeros(4)}, expected, **TOL)
    assert result == Comparison(ok=True, path="result", n_total=16)


@pytest.mark.parametrize(("rtol", "atol"), [(0.0, 0.0), (-1.0, 1e-9), (1e-6, math.nan)])
def test_bad_tolerances_are_rejected(rtol: float, atol: float) -> None:
    with pytest.raises(ValueError):
        compare(1.0, 1.0, rtol=rtol, atol=atol)


def test_unsupported_expected_type_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        compare(object(), object(), **TOL)


def test_assert_ok_raises_with_the_message() -> None:
    compare(1.0, 1.0, **TOL).assert_ok()
    with pytest.raises(ComparisonError, match="returned None"):
        compare(None, 1.0, **TOL).assert_ok()


def test_object_lying_about_equality_gains_nothing() -> None:
    class Liar:
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = object.__hash__

    assert compare(Liar(), grid(), **TOL).reason == "type"
    assert compare(Liar(), 1.0, **TOL).reason == "type"


# -- hidden expected values ---------------------------------------------------------------------

def test_does_a_hidden_comparison_say_where_and_how_much_but_print_no_value() -> None:
    """With show_expected=False no expected (or returned) number is printed: only positions,
    counts and the relative difference to one digit."""
    expected = np.array([[0.123456, 2.5], [3.75, -4.125]])
    actual = expected.copy()
    actual[1, 0] *= 1.5
    result = compare(actual, expected, **TOL, show_expected=False)
    assert result.message == (
        "result: not equal to tolerance rtol=1e-06, atol=1e-09\n"
        "  Mismatched elements: 1 / 4 (25%)\n"
        "  Largest relative difference: about 50%\n"
        "  Largest differences at index (1, 0)")
    scalar = compare(0.3001, 0.3, **TOL, show_expected=False)
    assert scalar.message == ("result: differs from the expected value by about 3e-04 "
                              "relative (rtol=1e-06, atol=1e-09)")
    for text in (result.message, scalar.message):
        for number in ("0.123", "3.75", "5.625", "0.3001", "0.3,"):
            assert number not in text


def test_do_hidden_sets_integers_and_strings_keep_their_expected_values_back() -> None:
    assert compare({"W1"}, {"b1"}, **TOL, show_expected=False).message == (
        "result: 1 expected element missing; unexpected element 'W1'")
    assert compare(np.array([4, 1, 2]), np.array([4, 3, 2]), **TOL,
                   show_expected=False).message == (
        "result: not equal (exact comparison) at 1 / 3 positions (33.3%), first at index (1,)")
    assert compare(7, 11, **TOL, show_expected=False).message == "result: not the expected value"
    assert compare("relu", "sigmoid", **TOL, show_expected=False).message == (
        "result: not the expected string")
    assert compare(np.array([np.nan, 1.0]), np.array([2.0, 1.0]), **TOL,
                   show_expected=False).message == (
        "result: NaN or inf where finite values are expected at 1 / 2 positions (50%), first "
        "at index (0,)")


@pytest.mark.parametrize(("relative", "words"), [
    (0.5, "about 50%"), (0.0123, "about 1%"), (2.0, "about 200%"),
    (3.4e-7, "about 3e-07 relative"),
    (math.inf, "an infinite relative amount (the expected value is 0)")])
def test_is_a_relative_difference_told_to_one_digit(relative: float, words: str) -> None:
    assert about(relative) == words
