"""pynn._blas.matmul: C ← α op(A) op(B) + β C, against NumPy, in place.

Over dtype × trans_a × trans_b × path with α ≠ 1 and β ≠ 0, on shapes that
reach every dispatch branch of ``mm`` (hand loops, GER for k = 1, GEMV for
m = 1 or n = 1, GEMM), plus k = 0 and the crossover knob.
"""
import itertools

import numpy as np
import pytest

from pynn import _blas

from oracle import HUGE_LIMIT, small_product_limit

DTYPES = [np.float32, np.float64]
SHAPES = [  # (m, n, k)
    (1, 1, 1), (1, 7, 5), (6, 1, 5), (6, 7, 1), (1, 1, 9), (1, 9, 1),
    (9, 1, 1), (3, 4, 0), (5, 3, 7), (2, 11, 13), (37, 53, 29), (64, 3, 70),
]
ALPHA, BETA = -1.75, 0.625


@pytest.fixture(params=["blas", "loops"])
def forced_path(request):
    """Force every "auto" product onto one path; restore the old limit after."""
    old = _blas.get_small_product_limit()
    with small_product_limit(0 if request.param == "blas" else HUGE_LIMIT):
        yield request.param
    assert _blas.get_small_product_limit() == old


def operands(m, n, k, dtype, ta, tb, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    return A, B, C


def expected(A, B, C, ta, tb, alpha, beta):
    a = A.astype(np.float64)
    b = B.astype(np.float64)
    return (alpha * (a.T if ta else a) @ (b.T if tb else b)
            + beta * C.astype(np.float64))


def check(A, B, C, ta, tb, alpha, beta, path):
    dtype = C.dtype
    # The kernel works with α and β rounded to the dtype.
    want = expected(A, B, C, ta, tb, float(dtype.type(alpha)),
                    float(dtype.type(beta)))
    A0, B0 = A.copy(), B.copy()
    ptr = C.__array_interface__["data"][0]
    out = _blas.matmul(A, B, C, ta, tb, alpha, beta, path)
    # Written in place: the returned array is C's memory, and C holds it.
    assert C.size == 0 or np.shares_memory(out, C)
    assert out.shape == C.shape
    assert C.__array_interface__["data"][0] == ptr
    assert out.dtype == dtype and C.dtype == dtype
    k = A.shape[0] if ta else A.shape[1]
    scale = np.sqrt(max(k, 1)) * abs(alpha) + abs(beta)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(C, want, rtol=0, atol=20 * eps * scale)
    np.testing.assert_array_equal(out, C)
    # Inputs untouched.
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(B, B0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("path", ["auto", "blas", "loops"])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_matmul_matches_numpy(m, n, k, path, ta, tb, dtype):
    A, B, C = operands(m, n, k, dtype, ta, tb)
    check(A, B, C, ta, tb, ALPHA, BETA, path)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_auto_dispatch_both_paths(m, n, k, ta, tb, dtype, forced_path):
    """limit 0: GER/GEMV/GEMM branches; huge limit: hand loops, via "auto"."""
    A, B, C = operands(m, n, k, dtype, ta, tb, seed=1)
    check(A, B, C, ta, tb, ALPHA, BETA, "auto")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("path", ["auto", "blas", "loops"])
@pytest.mark.parametrize("m,n,k", [(1, 7, 5), (6, 1, 5), (6, 7, 1), (5, 3, 7),
                                   (3, 4, 0), (37, 53, 29)])
@pytest.mark.parametrize("limit", [0, HUGE_LIMIT])
def test_beta_zero_ignores_old_contents(m, n, k, path, dtype, limit):
    """β = 0 overwrites C: old NaNs vanish (BLAS semantics), on every branch."""
    A, B, _ = operands(m, n, k, dtype, False, False, seed=2)
    C = np.full((m, n), np.nan, dtype=dtype)
    with small_product_limit(limit):
        _blas.matmul(A, B, C, False, False, 0.5, 0.0, path)
    np.testing.assert_allclose(C, 0.5 * A.astype(np.float64) @ B,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", ["auto", "blas", "loops"])
def test_alpha_zero_and_beta_one(path):
    A, B, C = operands(4, 5, 6, np.float64, False, False, seed=3)
    C0 = C.copy()
    _blas.matmul(A, B, C, False, False, 0.0, 1.0, path)
    np.testing.assert_array_equal(C, C0)
    _blas.matmul(A, B, C, False, False, 1.0, 1.0, path)
    np.testing.assert_allclose(C, C0 + A @ B, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_outputs(dtype):
    for m, n, k in [(0, 3, 4), (3, 0, 4), (0, 0, 0)]:
        A, B, C = operands(m, n, k, dtype, False, False)
        out = _blas.matmul(A, B, C, False, False, 2.0, 3.0, "auto")
        assert out.shape == (m, n)


def test_shape_mismatch_raises():
    A = np.ones((3, 4))
    B = np.ones((5, 2))
    C = np.zeros((3, 2))
    C0 = C.copy()
    with pytest.raises(ValueError, match="shapes do not match"):
        _blas.matmul(A, B, C)
    with pytest.raises(ValueError, match="shapes do not match"):
        _blas.matmul(A, np.ones((4, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="path"):
        _blas.matmul(A, np.ones((4, 2)), C, path="gpu")
    np.testing.assert_array_equal(C, C0)


def test_non_contiguous_and_readonly_inputs():
    """Typed memoryviews reject strided arrays; const lets read-only in."""
    A = np.ones((3, 8))[:, ::2]
    B = np.ones((4, 2))
    with pytest.raises(ValueError):
        _blas.matmul(A, B, np.zeros((3, 2)))
    A = np.arange(12.0).reshape(3, 4)
    A.flags.writeable = False
    B.flags.writeable = False
    C = np.zeros((3, 2))
    _blas.matmul(A, B, C)
    np.testing.assert_array_equal(C, A @ B)
    C.flags.writeable = False
    with pytest.raises((ValueError, TypeError)):
        _blas.matmul(A, B, C)


def test_mixed_dtypes_rejected():
    with pytest.raises((ValueError, TypeError)):
        _blas.matmul(np.ones((2, 2), np.float32), np.ones((2, 2)),
                     np.zeros((2, 2)))


def test_small_product_limit_roundtrip():
    old = _blas.get_small_product_limit()
    assert old >= 0
    try:
        assert _blas.set_small_product_limit(7) == old
        assert _blas.get_small_product_limit() == 7
        with pytest.raises(ValueError, match="limit"):
            _blas.set_small_product_limit(-1)
        assert _blas.get_small_product_limit() == 7
    finally:
        _blas.set_small_product_limit(old)
    assert _blas.get_small_product_limit() == old


def _random_scalar(rng):
    """0, or a magnitude in [1e-3, 3] of either sign."""
    kind = rng.integers(3)
    return 0.0 if kind == 0 else float(rng.uniform(1e-3, 3) * (1 if kind == 1 else -1))


@pytest.mark.parametrize("draw", range(80))
def test_matmul_random_cases(draw):
    """Random shapes 0…12 (empty ones included), transposes, paths, dtypes,
    α, β and small-product limits against the oracle: a seeded sweep of the
    space the parametrised tests above sample on a grid."""
    rng = np.random.default_rng(1000 + draw)
    m, n, k = (int(v) for v in rng.integers(0, 13, size=3))
    ta, tb = (bool(v) for v in rng.integers(0, 2, size=2))
    path = ["auto", "blas", "loops"][rng.integers(3)]
    dtype = DTYPES[rng.integers(len(DTYPES))]
    alpha, beta = _random_scalar(rng), _random_scalar(rng)
    limit = [0, 5, 512, HUGE_LIMIT][rng.integers(4)]
    A, B, C = operands(m, n, k, dtype, ta, tb, seed=m * 169 + n * 13 + k)
    with small_product_limit(limit):
        check(A, B, C, ta, tb, alpha, beta, path)


# ------------------------------------------------ which path the dispatcher takes
def rule_path(m, n, k, limit):
    """The documented dispatch rule of ``mm``, written out independently."""
    if m == 0 or n == 0:
        return "empty"
    if k == 0 or m * n * k <= limit:
        return "loops"
    if k == 1:
        return "ger"
    if m == 1 or n == 1:
        return "gemv"
    return "gemm"


# (m, n, k, limit, path): shapes whose m·n is at most the limit but whose
# m·n·k is above it (a crossover computed from m·n would take the loops),
# and both sides of the boundary m·n·k == limit.
PATH_CASES = [
    (2, 2, 200000, 256, "gemm"),     # 2×200000 · 200000×2: m·n = 4
    (3, 3, 29, 256, "gemm"),         # m·n·k = 261 > 256, m·n = 9
    (4, 4, 16, 256, "loops"),        # m·n·k = 256 exactly: still the loops
    (4, 4, 17, 256, "gemm"),
    (1, 16, 17, 256, "gemv"),        # 272 > 256, m·n = 16
    (16, 1, 17, 256, "gemv"),
    (1, 1, 257, 256, "gemv"),        # a dot product, m·n = 1
    (16, 16, 1, 255, "ger"),         # rank-1 update, 256 > 255
    (16, 16, 1, 256, "loops"),
    (9, 9, 0, 0, "loops"),           # k = 0: nothing to multiply
    (0, 9, 9, 0, "empty"),
    (9, 0, 9, 0, "empty"),
    (5, 7, 3, 0, "gemm"),            # limit 0: everything to BLAS
    (1000, 1000, 1000, 10**9, "loops"),
    (1000, 1000, 1000, 10**9 - 1, "gemm"),
]


@pytest.mark.parametrize("m,n,k,limit,path", PATH_CASES)
def test_product_path_uses_m_n_k(m, n, k, limit, path):
    assert rule_path(m, n, k, limit) == path       # the table is the rule
    with small_product_limit(limit):
        assert _blas.product_path(m, n, k) == path


def test_product_path_follows_the_limit():
    """The default crossover, and a sweep of shapes × limits against the rule."""
    limit = _blas.get_small_product_limit()
    assert _blas.product_path(2, 2, 200000) == "gemm"
    assert _blas.product_path(2, 2, 1) == ("loops" if 4 <= limit else "ger")
    rng = np.random.default_rng(7)
    for _ in range(400):
        m, n, k = (int(v) for v in rng.integers(0, 40, size=3))
        lim = int(rng.choice([0, 1, 64, 256, 4096, m * n, m * n * k,
                              max(m * n * k - 1, 0)]))
        with small_product_limit(lim):
            assert _blas.product_path(m, n, k) == rule_path(m, n, k, lim), \
                (m, n, k, lim)


def test_product_path_rejects_bad_dimensions():
    for bad in [(-1, 2, 2), (2, -1, 2), (2, 2, -1), (2**31, 1, 1)]:
        with pytest.raises(ValueError, match="must be in"):
            _blas.product_path(*bad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k,limit", [(2, 2, 200000, 256), (3, 3, 29, 256),
                                         (4, 4, 16, 256), (3, 5, 40, 1000)])
def test_auto_takes_the_reported_path(m, n, k, limit, dtype):
    """matmul(path="auto") runs ``mm``: its bits equal those of the path that
    product_path names (hand loops or GEMM).  On 2×200000·200000×2 the two
    paths' sums of 200000 products differ in their last bits, so there a
    dispatcher deciding apart from product_path is caught."""
    from pynn._threads import limit_blas_threads
    rng = np.random.default_rng(m * n + k)
    A = rng.standard_normal((m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    out = {}
    with small_product_limit(limit), limit_blas_threads(1):
        for path in ("auto", "loops", "blas"):
            C = np.zeros((m, n), dtype)
            out[path] = _blas.matmul(A, B, C, path=path)
        named = _blas.product_path(m, n, k)
    assert named in ("loops", "gemm")
    if k == 200000:
        assert not np.array_equal(out["loops"], out["blas"]), \
            "loops and GEMM agree bit for bit: this shape cannot tell them apart"
    np.testing.assert_array_equal(out["auto"],
                                  out["loops" if named == "loops" else "blas"])
