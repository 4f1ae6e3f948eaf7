"""The boundary checks of pynn._validation, on their own."""
import fractions

import numpy as np
import pytest

from pynn._validation import check_sample_weight


# ------------------------------------------------------ check_sample_weight
def test_sample_weight_none_is_none():
    assert check_sample_weight(None, 3, np.float32) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("given", [
    [1, 0, 2.5],
    np.array([1, 0, 2.5]),
    np.array([1, 0, 2.5], np.float32)[::-1][::-1],
    np.array([[1, 9], [0, 9], [2.5, 9]])[:, 0],        # strided view
    np.array([1, 0, 2], np.int64),
    np.array([1, 0, 2], np.uint8),
    np.array([True, False, True]),
])
def test_sample_weight_becomes_contiguous_1d_of_dtype(given, dtype):
    expect = np.asarray(given).astype(np.float64)
    ro = np.array(given)
    ro.setflags(write=False)                 # read-only input is fine too
    for arg in (given, ro):
        w = check_sample_weight(arg, 3, dtype)
        assert w.dtype == dtype and w.ndim == 1 and w.flags.c_contiguous
        np.testing.assert_array_equal(w.astype(np.float64), expect)


def test_sample_weight_is_not_a_view_the_caller_can_change_mid_fit():
    """A float array of the right dtype may be returned as is (no copy is
    promised), but a converted one never aliases the input."""
    a = np.array([1.0, 2.0], np.float64)
    w = check_sample_weight(a, 2, np.float32)
    a[0] = 7
    assert w[0] == 1


@pytest.mark.parametrize("given, n, match", [
    ([1.0, 2.0], 3, "sample_weight has 2 weights for 3 samples"),
    (np.ones((3, 1)), 3, "sample_weight must be a 1-D"),
    (2.0, 3, "sample_weight must be a 1-D"),
    ([1.0, -0.5, 1.0], 3, "sample_weight must be ≥ 0"),
    ([1.0, np.nan, 1.0], 3, "sample_weight contains NaN or infinity"),
    ([1.0, np.inf, 1.0], 3, "sample_weight contains NaN or infinity"),
    ([0.0, 0, 0], 3, "sample_weight sums to 0"),
    ([], 0, "sample_weight sums to 0"),
    ([1.0, [2.0, 3.0], 1.0], 3, "sample_weight must be a numeric array"),
    ([1e300, 1.0, 1.0], 3, "sample_weight holds values too large for float32"),
    ([1e-50, 0.0, 0.0], 3, "sample_weight sums to 0"),   # underflows float32
])
def test_sample_weight_value_errors_name_it(given, n, match):
    with pytest.raises(ValueError, match=match):
        check_sample_weight(given, n, np.float32)


def test_sample_weight_sum_overflowing_float64_is_refused():
    with pytest.raises(ValueError, match="sample_weight sums to more"):
        check_sample_weight([1.7e308, 1.7e308], 2, np.float64)


@pytest.mark.parametrize("given", [
    np.array([1 + 2j, 1, 1]),
    np.zeros(3, dtype=[("a", "f8")]),
    np.array([1, 2, 3], dtype=object),
    ["a", "b", "c"],
    [fractions.Fraction(1, 3)] * 3,
    [2 ** 70, 1, 1],                        # object dtype in NumPy
])
def test_sample_weight_type_errors_name_it(given):
    with pytest.raises(TypeError, match="sample_weight must hold real"):
        check_sample_weight(given, 3, np.float64)


def test_sample_weight_error_uses_the_given_name():
    with pytest.raises(ValueError, match="^w has 1 weights"):
        check_sample_weight([1.0], 2, np.float64, name="w")


def test_sample_weight_masked_entries_are_refused():
    w = np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0])
    with pytest.raises(ValueError, match="sample_weight is a masked array"):
        check_sample_weight(w, 3, np.float64)
    clean = np.ma.masked_array([1.0, 2.0, 3.0], mask=False)
    assert type(check_sample_weight(clean, 3, np.float64)) is np.ndarray


# ------------------------------------------------ check_positive / check_seed
from pynn._validation import check_positive, check_seed   # noqa: E402


def test_check_positive_integers():
    assert check_positive(np.int64(5), "n", integer=True) == 5
    assert type(check_positive(np.uint8(5), "n", integer=True)) is int
    assert check_positive(2 ** 63 - 1, "n", integer=True) == 2 ** 63 - 1
    with pytest.raises(ValueError, match="^n must be at most 2\\*\\*63 - 1"):
        check_positive(2 ** 63, "n", integer=True)
    with pytest.raises(ValueError, match="^n must be > 0"):
        check_positive(0, "n", integer=True)
    assert check_positive(0, "n", integer=True, allow_zero=True) == 0
    for bad in (True, 2.0, fractions.Fraction(2, 1), "2", None):
        with pytest.raises(TypeError, match="^n must be an integer"):
            check_positive(bad, "n", integer=True)


def test_check_positive_reals():
    assert check_positive(np.float32(0.5), "lr") == np.float32(0.5)
    assert check_positive(2 ** 80, "lr") == 2 ** 80
    assert check_positive(fractions.Fraction(3, 8), "lr") == 0.375
    with pytest.raises(ValueError, match="not exactly a float64"):
        check_positive(fractions.Fraction(1, 10), "lr")
    with pytest.raises(ValueError, match="too large for float64"):
        check_positive(10 ** 400, "lr")
    with pytest.raises(ValueError, match="too large for float64"):
        check_positive(fractions.Fraction(10 ** 400, 3), "lr")
    for bad in (np.nan, np.inf, -1.0, 0.0):
        with pytest.raises(ValueError, match="^lr must be > 0 and finite"):
            check_positive(bad, "lr")
    for bad in (True, 1j, "1", None, np.array([1.0])):
        with pytest.raises(TypeError, match="^lr must be a real number"):
            check_positive(bad, "lr")


def test_check_seed():
    assert check_seed(None) is None
    assert check_seed(2 ** 200) == 2 ** 200
    assert type(check_seed(np.uint64(2 ** 64 - 1))) is int
    for bad in (1.0, fractions.Fraction(1, 1), True, "1"):
        with pytest.raises(TypeError, match="^seed must be None"):
            check_seed(bad)
    with pytest.raises(ValueError, match="^seed must be None"):
        check_seed(-1)
