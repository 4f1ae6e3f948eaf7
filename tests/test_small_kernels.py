"""pynn._blas's small-product kernels (csrc/_small.c): generic C and AVX2.

Each variant is checked against a NumPy float64 oracle (to a tolerance), and
the variants against each other bit for bit: single products over shapes
that are not multiples of the vector width (8 floats, 4 doubles) and every
transpose the passes use, then whole online-SGD
trainings of identically seeded nets (float32 and float64, plain and tied
weights, batch 1 and small batches).  The variant is switched with
``_blas.set_kernel_variant``; a subprocess checks that ``PYNN_SIMD=0``
selects the generic variant at import.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import pynn
from pynn import _blas

from oracle import (HUGE_LIMIT, small_product_limit, temporarily,
                    kernel_variant as variant)

DTYPES = [np.float32, np.float64]
VARIANTS = _blas.available_kernel_variants()
needs_avx2 = pytest.mark.skipif("avx2" not in VARIANTS,
                                reason="CPU without AVX2: one variant only")


def vector_limit(limit):
    return temporarily(_blas.set_vector_kernel_limit, limit)


# (m, n, k): the batch-1 products of 64-32-10 and 784-128-10 (forward
# u = W z, backward g = δᵀ W, rank-1 W += α δ zᵀ), then ragged sizes.
SHAPES = [(1, 32, 64), (1, 10, 32), (1, 32, 10), (32, 64, 1), (10, 32, 1),
          (1, 128, 784), (1, 10, 128), (128, 784, 1), (1, 1, 1), (1, 7, 5),
          (1, 9, 13), (3, 33, 17), (5, 41, 1), (2, 3, 100), (1, 65, 3),
          (4, 17, 31)]


def reference(A, B, C, ta, tb, alpha, beta):
    a, b = A.astype(np.float64), B.astype(np.float64)
    return alpha * (a.T if ta else a) @ (b.T if tb else b) + beta * C


def operands(m, n, k, dtype, ta, tb, seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    return A, B, C


def run(A, B, C, ta, tb, alpha, beta, path):
    out = C.copy()
    _blas.matmul(A, B, out, ta, tb, alpha, beta, path)
    return out


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True),
                                   (True, False), (True, True)])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_each_variant_matches_numpy(name, dtype, ta, tb, m, n, k):
    """Hand loops and the auto path (GEMV/GER shapes then run the kernels)."""
    A, B, C = operands(m, n, k, dtype, ta, tb, seed=m * 1000 + n * 10 + k)
    alpha, beta = -1.25, 0.5
    want = reference(A, B, C, ta, tb, alpha, beta)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    scale = np.sqrt(k) + 1
    with variant(name), vector_limit(HUGE_LIMIT):
        for path in ("loops", "auto"):
            got = run(A, B, C, ta, tb, alpha, beta, path)
            np.testing.assert_allclose(got, want, rtol=tol * scale,
                                       atol=tol * scale, err_msg=path)


@needs_avx2
@pytest.mark.parametrize("dtype", DTYPES)
def test_variants_bit_identical_on_products(dtype):
    """Random shapes 1…80 (ragged against 8 and 4 lanes), transposes, α, β,
    on the hand loops and on the auto path: the same bits in both variants."""
    rng = np.random.default_rng(5)
    for draw in range(300):
        m = int(rng.integers(1, 5)) if draw % 3 else 1
        n, k = (int(v) for v in rng.integers(1, 81, size=2))
        if draw % 5 == 0:
            k = 1                                    # rank-1 updates
        ta, tb = (bool(v) for v in rng.integers(0, 2, size=2))
        alpha = float(rng.choice([1.0, -0.3, 2.5]))
        beta = float(rng.choice([0.0, 1.0, 0.75]))
        A, B, C = operands(m, n, k, dtype, ta, tb, seed=draw)
        out = {}
        for name in ("generic", "avx2"):
            with variant(name), vector_limit(HUGE_LIMIT):
                out[name] = [run(A, B, C, ta, tb, alpha, beta, p)
                             for p in ("loops", "auto")]
        for p in range(2):
            assert out["generic"][p].tobytes() == out["avx2"][p].tobytes(), \
                (m, n, k, ta, tb, alpha, beta, p)


def nt_rows_limit(limit):
    return temporarily(_blas.set_nt_rows_limit, limit)


# Around the blocked NT kernel's edges: tiles of 2 rows of A x 4 rows of B,
# chunks of 32 x 32, k blocks of 1024 and the 8-lane tail.
NT_M = [2, 3, 4, 5, 7, 8, 31, 32, 33, 36, 37, 67]
NT_N = [1, 2, 3, 31, 32, 33, 34, 64, 65]
NT_K = [1, 7, 8, 9, 17, 784, 1023, 1024, 1025, 2049]


@needs_avx2
def test_blocked_nt_kernel_bits_and_values():
    """C = α A·Bᵀ + β C for several rows of A (a mini-batch's D·Wᵀ): the
    tiled AVX2 kernel gives the generic dot8's bits (every element the same
    lanes and tree, however the tiles, chunks and k blocks fall), on the
    hand loops and on the auto path, and the float64 product to rounding."""
    rng = np.random.default_rng(11)
    with nt_rows_limit(10**6), vector_limit(HUGE_LIMIT):
        for draw in range(120):
            m, n, k = (int(rng.choice(v)) for v in (NT_M, NT_N, NT_K))
            alpha = float(rng.choice([1.0, -0.3]))
            beta = float(rng.choice([0.0, 1.0, 0.75]))
            A, B, C = operands(m, n, k, np.float32, False, True, seed=draw)
            got = {}
            for name in ("generic", "avx2"):
                with variant(name):
                    for p in ("loops", "auto"):
                        got[name, p] = run(A, B, C, False, True, alpha, beta, p)
            want = got["generic", "loops"].tobytes()
            for key, out in got.items():
                if n > 1 and k > 1 or key[1] == "loops":
                    # ("auto" sends n == 1 to GEMV, k == 1 to GER)
                    assert out.tobytes() == want, (m, n, k, key)
            scale = 2e-5 * (np.sqrt(k) + 1)
            np.testing.assert_allclose(
                got["avx2", "auto"], reference(A, B, C, False, True, alpha, beta),
                rtol=scale, atol=scale, err_msg=str((m, n, k)))


def test_nt_rows_limit_routes_the_forward_product():
    """Up to nt_rows_limit rows a float32 A·Bᵀ GEMM runs pynn's kernel (the
    loops' bits), above it (or with the limit 0) OpenBLAS (other bits, the
    same values to rounding); float64 always OpenBLAS."""
    A, B, C = operands(32, 40, 784, np.float32, False, True, seed=3)
    loops = run(A, B, C, False, True, 1.0, 0.0, "loops")
    assert _blas.get_nt_rows_limit() >= 32
    assert run(A, B, C, False, True, 1.0, 0.0, "auto").tobytes() == \
        loops.tobytes()
    with nt_rows_limit(0):
        blas = run(A, B, C, False, True, 1.0, 0.0, "auto")
    assert blas.tobytes() != loops.tobytes()
    np.testing.assert_allclose(blas, loops, rtol=1e-4, atol=1e-4)
    with nt_rows_limit(31):
        assert run(A, B, C, False, True, 1.0, 0.0, "auto").tobytes() == \
            blas.tobytes()
    with pytest.raises(ValueError, match="limit"):
        _blas.set_nt_rows_limit(-1)


def train(dtype, sizes, name, batch_size=1, tied=False, epochs=2, n=150):
    """Params after an online-SGD fit of a seeded net under variant name."""
    rng = np.random.default_rng(3)
    X = rng.random((n, sizes[0])).astype(dtype)
    with variant(name):
        if tied:
            model = pynn.Autoencoder(sizes, tied=True, seed=1, dtype=dtype)
            T = X
        else:
            model = pynn.MLP(sizes, hidden="sigmoid", output="sigmoid",
                             seed=1, dtype=dtype)
            T = (rng.random((n, sizes[-1])) > 0.5).astype(dtype)
        pynn.Trainer(model, loss="squared_error", optimizer="sgd", lr=0.3,
                     batch_size=batch_size, epochs=epochs, shuffle=True,
                     seed=4, n_threads=1).fit(X, T)
        return model.params.copy()


@needs_avx2
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes,batch_size", [([64, 32, 10], 1),
                                              ([13, 21, 7, 3], 1),
                                              ([9, 5, 2], 3),
                                              ([30, 17, 10], 2),
                                              ([40, 33, 10], 13)])
def test_training_bit_identical_across_variants(dtype, sizes, batch_size):
    a = train(dtype, sizes, "generic", batch_size)
    b = train(dtype, sizes, "avx2", batch_size)
    assert a.dtype == np.dtype(dtype)
    assert not np.array_equal(a, train(dtype, sizes, "generic", batch_size,
                                       epochs=1))      # it did train
    assert a.tobytes() == b.tobytes()


@needs_avx2
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tied_autoencoder_bit_identical_across_variants(dtype):
    """Tied weights: the decoder multiplies by the stored Wᵀ (the other
    transpose of each product) and the step goes through the gradient."""
    a = train(dtype, [20, 11], "generic", tied=True)
    b = train(dtype, [20, 11], "avx2", tied=True)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", VARIANTS)
def test_online_training_matches_blas_to_tolerance(name):
    """The kernels' batch-1 step against the same step through OpenBLAS
    (vector limit 0): the same training up to float rounding."""
    with vector_limit(HUGE_LIMIT):
        a = train("float64", [64, 32, 10], name)
    with vector_limit(0), small_product_limit(0):
        b = train("float64", [64, 32, 10], name)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_variant_switch_and_errors():
    assert _blas.kernel_variant() in VARIANTS
    assert "generic" in VARIANTS
    with pytest.raises(ValueError, match="variant"):
        _blas.set_kernel_variant("sse9")
    with pytest.raises(ValueError, match="limit"):
        _blas.set_vector_kernel_limit(-1)
    old = _blas.get_vector_kernel_limit()
    assert _blas.set_vector_kernel_limit(old) == old


@pytest.mark.parametrize("env,want", [("0", "generic"), ("", None)])
def test_pynn_simd_environment_picks_the_variant(env, want, tmp_path):
    """PYNN_SIMD=0 forces the generic kernels at import; unset, the best
    variant the CPU runs is chosen."""
    if want is None:
        want = VARIANTS[-1]          # the best: avx512, avx2, generic
    root = os.path.dirname(os.path.dirname(os.path.abspath(pynn.__file__)))
    code = "from pynn import _blas; print(_blas.kernel_variant())"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                         env={**os.environ, "PYNN_SIMD": env,
                              "PYTHONPATH": root},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == want
