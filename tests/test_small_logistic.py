"""The float32 logistic of csrc/_small.c (pynn._blas.logistic, used by the
sigmoid activation on float32): accuracy against float64 math, edge values,
and the generic and AVX2 variants bit for bit.

The bound is 2.5 ulp of the exact σ(u) = 1/(1 + e^{−u}) (the largest error
over every float32, checked exhaustively when the kernel was written, is
2.40 ulp); σ values below FLT_MIN are within FLT_MIN of exact, and 0 for
u < ln FLT_MIN ≈ −87.34 (as under flush-to-zero).  The oracle is NumPy's float64 exp, whose own error (< 1 ulp
of float64) is 2⁻²⁹ of a float32 ulp.
"""
import numpy as np
import pytest

import pynn
from pynn import _activations, _blas

from oracle import kernel_variant as variant

VARIANTS = _blas.available_kernel_variants()
needs_avx2 = pytest.mark.skipif("avx2" not in VARIANTS,
                                reason="CPU without AVX2: one variant only")
ULP_BOUND = 2.5
TINY = np.finfo(np.float32).tiny


def exact(u):
    """σ(u) in float64, from the side where e^{·} cannot overflow."""
    x = u.astype(np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def ulp_error(z, ref):
    """|z − ref| in units of the float32 ulp of ref's binade."""
    _, e = np.frexp(ref)                    # ref in [2^(e−1), 2^e)
    return np.abs(z.astype(np.float64) - ref) / np.ldexp(1.0, e - 24)


def logistic(u):
    return _blas.logistic(np.ascontiguousarray(u, np.float32),
                          np.empty(len(u), np.float32))


def inputs():
    """Dense grid over [−90, 90], every float32 of [−1, −0.999] and of
    [16, 16.01] (σ rounds near 1 there), powers of 2, near the cut-offs."""
    grid = np.linspace(-90, 90, 400_001, dtype=np.float32)
    lo = np.float32(-1.0).view(np.int32)
    run1 = np.arange(lo, lo + 16_777, dtype=np.int32).view(np.float32)
    hi = np.float32(16.0).view(np.int32)
    run2 = np.arange(hi, hi + 5_000, dtype=np.int32).view(np.float32)
    p2 = np.float32(2.0) ** np.arange(-149, 8, dtype=np.float32)
    cut = np.float32(-87.33654475) + np.arange(-50, 50, dtype=np.float32) * 1e-5
    u = np.concatenate([grid, run1, run2, p2, -p2, cut]).astype(np.float32)
    return u


@pytest.mark.parametrize("name", VARIANTS)
def test_within_ulp_bound_of_float64_math(name):
    u = inputs()
    with variant(name):
        z = logistic(u)
    ref = exact(u)
    normal = ref >= TINY
    err = ulp_error(z[normal], ref[normal])
    assert err.max() <= ULP_BOUND, (u[normal][err.argmax()], err.max())
    # ... and a real approximation, not the float64 value rounded
    assert err.max() > 0.5
    # below FLT_MIN: never more than FLT_MIN away, 0 past ln FLT_MIN
    assert np.all(np.abs(z[~normal].astype(np.float64) - ref[~normal]) <= TINY)
    assert np.all(z[u < np.float32(-87.33654475)] == 0)


@pytest.mark.parametrize("name", VARIANTS)
def test_edge_values(name):
    u = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 88.0, -88.0, 1e30,
                  -1e30, 17.0, -87.0, TINY, -TINY, 1e-45, -1e-45],
                 np.float32)
    with variant(name):
        z = logistic(u)
    assert z[0] == 0.5 and z[1] == 0.5
    assert z[2] == 1.0 and z[3] == 0.0
    assert np.isnan(z[4])
    assert z[5] == 1.0 and z[6] == 0.0          # e^{−88} < FLT_MIN
    assert z[7] == 1.0 and z[8] == 0.0
    assert ulp_error(z[9:11], exact(u[9:11])).max() <= ULP_BOUND
    assert np.all(z[11:] == 0.5)
    assert np.all((z >= 0) | np.isnan(z)) and np.all((z <= 1) | np.isnan(z))


def test_monotone_on_a_fine_grid():
    u = np.linspace(-20, 20, 200_001, dtype=np.float32)
    z = logistic(u)
    assert np.all(np.diff(z) >= 0)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 42, 100])
def test_any_length_in_place_and_out_of_place(n):
    u = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 8
    out = logistic(u)
    inplace = u.copy()
    _blas.logistic(inplace, inplace)
    assert np.array_equal(out, inplace)
    if n:
        assert ulp_error(out, exact(u)).max() <= ULP_BOUND


def test_length_mismatch_refused():
    with pytest.raises(ValueError, match="same length"):
        _blas.logistic(np.zeros(3, np.float32), np.zeros(4, np.float32))


@needs_avx2
def test_variants_bit_identical():
    rng = np.random.default_rng(1)
    u = np.concatenate([inputs(), (rng.standard_normal(100_003) * 30)
                        .astype(np.float32),
                        rng.integers(0, 2**32, 100_003, dtype=np.uint64)
                        .astype(np.uint32).view(np.float32)])
    with variant("generic"):
        zg = logistic(u)
    with variant("avx2"):
        za = logistic(u)
    assert np.array_equal(zg.view(np.uint32), za.view(np.uint32))


def test_sigmoid_activation_uses_it_on_float32_only():
    """float32 sigmoid layers give the kernel's bits; float64 keeps the
    libm form (within 1 ulp of float64)."""
    sig = int(_activations.Activation.SIGMOID)
    u = np.random.default_rng(2).standard_normal((7, 13)).astype(np.float32) * 6
    z = _activations.forward(sig, 0.0, u, np.empty_like(u))
    assert np.array_equal(z.ravel(), logistic(u.ravel()))
    u64 = u.astype(np.float64)
    z64 = _activations.forward(sig, 0.0, u64, np.empty_like(u64))
    assert np.allclose(z64, exact(u64), rtol=2e-16, atol=0)


def test_model_forward_matches_float64_model():
    """A float32 sigmoid MLP agrees with its float64 twin to float32
    rounding (the logistic's few ulp do not accumulate)."""
    m32 = pynn.MLP([64, 32, 10], hidden="sigmoid", output="sigmoid", seed=0,
                   dtype=np.float32)
    m64 = pynn.MLP([64, 32, 10], hidden="sigmoid", output="sigmoid", seed=0,
                   dtype=np.float64)
    x = np.random.default_rng(3).random((50, 64))
    y32 = m32.forward(x.astype(np.float32))
    y64 = m64.forward(x)
    assert np.max(np.abs(y32 - y64)) < 1e-5


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("n", [1, 3, 4, 5, 32, 42, 1001])
def test_backward_is_the_double_product_rounded_once(name, n):
    """σ′ from the output: g ← g·z(1 − z), in double, one rounding (what
    the float64 formula gives, rounded to float32)."""
    sig = int(_activations.Activation.SIGMOID)
    rng = np.random.default_rng(n)
    z = rng.random((1, n)).astype(np.float32)
    g = rng.standard_normal((1, n)).astype(np.float32)
    want = (g.astype(np.float64) * (z.astype(np.float64) * (1 - z.astype(np.float64)))
            ).astype(np.float32)
    with variant(name):
        got = _activations.backward(sig, 0.0, z, z, g.copy())
    assert np.array_equal(got, want)
