"""Row-major matrix products: C ← α·op(A)·op(B) + β·C.

Layers of this file (see sklearn/_loss/_loss.pyx.tp for the pattern):
  1. ``gemm``/``gemv``/``ger``: thin row-major wrappers over
     scipy.linalg.cython_blas (column-major BLAS sees a row-major matrix as
     its transpose, so C = op(A)·op(B) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ by
     swapping the operands);
  2. ``small_mm``: hand-written loops for products too small for a BLAS call
     to pay off (its fixed cost is ~0.1-1 µs);
  3. ``mm``: the one entry the kernels use; ``choose_path`` (its only
     decision, also behind ``product_path``) picks the hand loops up to
     ``small_product_limit`` multiply-adds m·n·k (or when k == 0), else GER
     for rank-1 updates (k == 1), GEMV for matrix-vector products (m == 1 or
     n == 1), GEMM otherwise;
  4. ``def`` entry points taking NumPy arrays, for tests and benchmarks.

The GER path and the row-vector GEMV path (m == 1) run pynn's own
register-blocked kernels (csrc/_small.c: generic C, or AVX2 chosen at import
on CPUs that have it) instead of OpenBLAS while the product has at most
``vector_kernel_limit`` multiply-adds: for the batch-1 products of small nets
a BLAS call's fixed cost is larger than the arithmetic.  The hand loops use
the same kernels, and so does a float32 GEMM of the form A·Bᵀ with at most
``nt_rows_limit`` rows (a mini-batch's forward product D·Wᵀ: the kernel reads
W in place where OpenBLAS would pack it).  Their arithmetic is fixed (see
csrc/_small.h): every variant gives bit-identical results.

op(X) is X or Xᵀ; all leading dimensions are row strides in elements.

``logistic_f`` (float32 σ(u) = 1/(1 + e^{−u}) over an array, for
pynn._activations) and ``logistic_grad_f`` (its backward pass) are the
kernels of _small.c that are not products: they live here because the variant switch does (same dispatch, same
bit-identity between variants; accuracy bound in csrc/_small.h).
"""
from cython cimport floating
from libc.limits cimport INT_MAX
cimport scipy.linalg.cython_blas as cblas

import os

import numpy as np

cdef extern from "_small.h" nogil:
    int PYNN_SMALL_GENERIC
    int PYNN_SMALL_AVX2
    int PYNN_SMALL_AVX512
    int pynn_small_set_variant(int variant)
    int pynn_small_variant()
    int pynn_small_have_avx2()
    int pynn_small_have_avx512()
    void pynn_small_nn_f(int m, int n, int k, int trans_a, float alpha,
                         const float* A, int lda, const float* B, int ldb,
                         float* C, int ldc)
    void pynn_small_nn_d(int m, int n, int k, int trans_a, double alpha,
                         const double* A, int lda, const double* B, int ldb,
                         double* C, int ldc)
    void pynn_small_nt_f(int m, int n, int k, float alpha, const float* A,
                         int lda, const float* B, int ldb, float* C, int ldc)
    void pynn_small_nt_d(int m, int n, int k, double alpha, const double* A,
                         int lda, const double* B, int ldb, double* C, int ldc)
    void pynn_small_logistic_f(long n, const float* u, float* z)
    void pynn_small_logistic_grad_f(long n, const float* z, float* g)

_VARIANTS = {"generic": PYNN_SMALL_GENERIC, "avx2": PYNN_SMALL_AVX2,
             "avx512": PYNN_SMALL_AVX512}

# Below this many multiply-adds (m·n·k) ``mm`` uses the hand loops.  Chosen by
# measurement (bench/test_bench_core.py::test_small_products): OpenBLAS calls
# cost ~0.1 µs, so the loops win only for the tiniest products.
cdef Py_ssize_t _small_limit = 256


def get_small_product_limit():
    """Largest product (m·n·k multiply-adds) that ``mm`` computes by hand."""
    return _small_limit


def set_small_product_limit(Py_ssize_t limit):
    """Set the hand-loop/BLAS crossover of ``mm``; returns the previous value.

    0 sends every product to BLAS; a huge value sends every one to the hand
    loops (the tests use both to cover both paths).
    """
    global _small_limit
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    old = _small_limit
    _small_limit = limit
    return old


# GER and row-vector GEMV products of at most this many multiply-adds run
# the kernels of _small.c instead of OpenBLAS (measured crossover: see
# bench/small_nets.py --crossover).
cdef Py_ssize_t _vector_limit = 1 << 17


def get_vector_kernel_limit():
    """Largest GER / row-vector GEMV product (m·n·k multiply-adds) that
    ``mm`` computes with pynn's own kernels rather than OpenBLAS."""
    return _vector_limit


def set_vector_kernel_limit(Py_ssize_t limit):
    """Set the pynn-kernel/OpenBLAS crossover of the GER and GEMV paths;
    returns the previous value (0: always OpenBLAS)."""
    global _vector_limit
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    old = _vector_limit
    _vector_limit = limit
    return old


# GEMM products C = A·Bᵀ (A and B both contiguous along k, as a dense
# layer's forward U = D·Wᵀ) with at most this many rows m run _small.c's NT
# kernel in float32 (tiles of 2 rows of A × 4 rows of B) instead of
# OpenBLAS: with few rows OpenBLAS spends much of the call packing B (W),
# which the dot-product form reads in place.  Measured (one thread, C
# harness, n = 256, k = 784): 1.3× OpenBLAS at m = 32, 1.8× at m = 16,
# 2.8× at m = 8; OpenBLAS 1.1× faster at m = 48 and 1.05× at m = 64.
cdef Py_ssize_t _nt_rows_limit = 32


def get_nt_rows_limit():
    """Most rows m of a float32 A·Bᵀ product that ``mm`` computes with
    pynn's blocked NT kernel rather than OpenBLAS's GEMM."""
    return _nt_rows_limit


def set_nt_rows_limit(Py_ssize_t limit):
    """Set the NT-kernel/GEMM crossover in rows; returns the previous value
    (0 or 1: always OpenBLAS for products with two or more rows)."""
    global _nt_rows_limit
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    old = _nt_rows_limit
    _nt_rows_limit = limit
    return old


def available_kernel_variants():
    """Names of the small-kernel variants this build and CPU can run, the
    baseline first: "generic", then "avx2", then "avx512" (the AVX2 kernels
    with the float32 fused online step's W_1 pass in AVX-512F)."""
    return (["generic"] + (["avx2"] if pynn_small_have_avx2() else [])
            + (["avx512"] if pynn_small_have_avx512() else []))


def kernel_variant():
    """Name of the small-kernel variant in use ("generic", "avx2" or
    "avx512")."""
    code = pynn_small_variant()
    return next(name for name, c in _VARIANTS.items() if c == code)


def kernel_variant_code():
    """The variant in use as csrc/_small.h's PYNN_SMALL_* number."""
    return pynn_small_variant()


def set_kernel_variant(str name):
    """Switch the small kernels to variant ``name`` ("generic", "avx2" or
    "avx512"); returns the previous name.  The variants give bit-identical results;
    this exists for tests and benchmarks.  Raises ValueError for an unknown
    name or one this CPU or build cannot run."""
    old = kernel_variant()
    if name not in _VARIANTS:
        raise ValueError(f"variant must be one of {sorted(_VARIANTS)}, got {name!r}")
    if pynn_small_set_variant(_VARIANTS[name]) != 0:
        raise ValueError(f"kernel variant {name!r} is not available on this "
                         "CPU or build")
    return old


def _init_variant():
    """The best variant the CPU runs (AVX-512, else AVX2), unless
    PYNN_SIMD=0 (also off/false/no).

    Where the CPU (or platform) has no AVX2 the GER/GEMV paths stay on
    OpenBLAS (vector limit 0): there the generic kernels are slower than
    OpenBLAS's (measured 2.5× on 784-128-10).  PYNN_SIMD=0 on an AVX2 CPU
    keeps the limit, so it computes the same bits with the generic code.
    """
    global _vector_limit
    off = os.environ.get("PYNN_SIMD", "").strip().lower() in ("0", "off", "false", "no")
    if not pynn_small_have_avx2():
        _vector_limit = 0
    elif not off:
        if pynn_small_set_variant(PYNN_SMALL_AVX512) != 0:
            pynn_small_set_variant(PYNN_SMALL_AVX2)


_init_variant()


# ---------------------------------------------------------------- layer 1
cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating* A, int lda,
               const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil:
    """C (m×n) ← α op(A) op(B) + β C, all row-major; m, n, k ≥ 1."""
    cdef char ta = b't' if trans_a else b'n'
    cdef char tb = b't' if trans_b else b'n'
    if floating is float:
        cblas.sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb,
                    <float*>A, &lda, &beta, C, &ldc)
    else:
        cblas.dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb,
                    <double*>A, &lda, &beta, C, &ldc)


cdef void gemv(bint trans_a, int m, int n, floating alpha,
               const floating* A, int lda, const floating* x, int incx,
               floating beta, floating* y, int incy) noexcept nogil:
    """y ← α op(A) x + β y with A (m×n) row-major; m, n ≥ 1."""
    # Row-major A is column-major Aᵀ (n×m): flip the transpose flag.
    cdef char t = b'n' if trans_a else b't'
    if floating is float:
        cblas.sgemv(&t, &n, &m, &alpha, <float*>A, &lda, <float*>x, &incx,
                    &beta, y, &incy)
    else:
        cblas.dgemv(&t, &n, &m, &alpha, <double*>A, &lda, <double*>x, &incx,
                    &beta, y, &incy)


cdef void ger(int m, int n, floating alpha, const floating* x, int incx,
              const floating* y, int incy, floating* A, int lda) noexcept nogil:
    """A (m×n, row-major) ← A + α x yᵀ; m, n ≥ 1."""
    # Column-major view: Aᵀ ← Aᵀ + α y xᵀ.
    if floating is float:
        cblas.sger(&n, &m, &alpha, <float*>y, &incy, <float*>x, &incx, A, &lda)
    else:
        cblas.dger(&n, &m, &alpha, <double*>y, &incy, <double*>x, &incx, A, &lda)


# ---------------------------------------------------------------- layer 2
cdef inline void _scale_rows(int m, int n, floating beta, floating* C,
                             int ldc) noexcept nogil:
    """C ← β C; β = 0 writes zeros (BLAS semantics: C's old NaNs vanish)."""
    cdef Py_ssize_t i, j
    if beta == 1:
        return
    for i in range(m):
        if beta == 0:
            for j in range(n):
                C[i * ldc + j] = 0
        else:
            for j in range(n):
                C[i * ldc + j] *= beta


cdef inline void _nn(bint trans_a, int m, int n, int k, floating alpha,
                     const floating* A, int lda, const floating* B, int ldb,
                     floating* C, int ldc) noexcept nogil:
    """C[i, :] += Σ_p (α op(A)[i, p]) B[p, :], p ascending (_small.c)."""
    if floating is float:
        pynn_small_nn_f(m, n, k, trans_a, alpha, A, lda, B, ldb, C, ldc)
    else:
        pynn_small_nn_d(m, n, k, trans_a, alpha, A, lda, B, ldb, C, ldc)


cdef inline void _nt(int m, int n, int k, floating alpha,
                     const floating* A, int lda, const floating* B, int ldb,
                     floating* C, int ldc) noexcept nogil:
    """C[i, j] += α A[i, :]·B[j, :] in fixed lanes and tree (_small.c)."""
    if floating is float:
        pynn_small_nt_f(m, n, k, alpha, A, lda, B, ldb, C, ldc)
    else:
        pynn_small_nt_d(m, n, k, alpha, A, lda, B, ldb, C, ldc)


cdef void small_mm(bint trans_a, bint trans_b, int m, int n, int k,
                   floating alpha, const floating* A, int lda,
                   const floating* B, int ldb,
                   floating beta, floating* C, int ldc) noexcept nogil:
    """C ← α op(A) op(B) + β C by loops whose inner loop is contiguous."""
    cdef Py_ssize_t i, j, p
    cdef floating a
    _scale_rows(m, n, beta, C, ldc)
    if alpha == 0 or k == 0:
        return
    if not trans_b:
        # C[i, :] += α op(A)[i, p] B[p, :]   (axpy over contiguous rows)
        _nn(trans_a, m, n, k, alpha, A, lda, B, ldb, C, ldc)
    elif not trans_a:
        # C[i, j] += α A[i, :]·B[j, :]   (dot of two contiguous rows)
        _nt(m, n, k, alpha, A, lda, B, ldb, C, ldc)
    else:
        # C[i, j] += α Σ_p A[p, i] B[j, p]   (rare: both transposed)
        for i in range(m):
            for j in range(n):
                a = 0
                for p in range(k):
                    a = a + A[p * lda + i] * B[j * ldb + p]
                C[i * ldc + j] += alpha * a


# ---------------------------------------------------------------- layer 3
# The paths of ``mm``, in the order ``product_path`` names them.
cdef enum:
    PATH_LOOPS = 0
    PATH_GER = 1
    PATH_GEMV = 2
    PATH_GEMM = 3

_PATH_NAMES = ("loops", "ger", "gemv", "gemm")


cdef inline int choose_path(int m, int n, int k) noexcept nogil:
    """The path of an m×n×k product (m, n ≥ 1): the hand loops when it costs
    at most ``_small_limit`` multiply-adds m·n·k (or k ≤ 0), else GER (k == 1),
    GEMV (m == 1 or n == 1), GEMM.  ``mm`` decides here and only here."""
    if k <= 0 or <Py_ssize_t>m * n * k <= _small_limit:
        return PATH_LOOPS
    if k == 1:
        return PATH_GER
    if m == 1 or n == 1:
        return PATH_GEMV
    return PATH_GEMM


cdef void mm(bint trans_a, bint trans_b, int m, int n, int k,
             floating alpha, const floating* A, int lda,
             const floating* B, int ldb,
             floating beta, floating* C, int ldc) noexcept nogil:
    """C (m×n) ← α op(A) op(B) + β C, row-major, choosing the cheapest path."""
    cdef int path
    if m <= 0 or n <= 0:
        return
    path = choose_path(m, n, k)
    if path == PATH_LOOPS:
        small_mm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    elif path == PATH_GER:
        # Rank-1 update: C += α a bᵀ with a = op(A)[:, 0], b = op(B)[0, :].
        _scale_rows(m, n, beta, C, ldc)
        if alpha == 0:
            return
        if not trans_b and <Py_ssize_t>m * n <= _vector_limit:
            _nn(trans_a, m, n, 1, alpha, A, lda, B, ldb, C, ldc)
        else:
            ger(m, n, alpha, A, 1 if trans_a else lda, B, ldb if trans_b else 1,
                C, ldc)
    elif (path == PATH_GEMV and m == 1 and not (trans_a and trans_b)
          and <Py_ssize_t>n * k <= _vector_limit):
        # Row vector times matrix, by pynn's kernels (no BLAS call).
        _scale_rows(1, n, beta, C, ldc)
        if alpha == 0:
            return
        if trans_b:
            _nt(1, n, k, alpha, A, lda, B, ldb, C, ldc)
        else:
            _nn(trans_a, 1, n, k, alpha, A, lda, B, ldb, C, ldc)
    elif path == PATH_GEMV and m == 1:
        # Row vector times matrix: cᵀ = α op(B)ᵀ a + β c.
        gemv(not trans_b, k if not trans_b else n, n if not trans_b else k,
             alpha, B, ldb, A, lda if trans_a else 1, beta, C, 1)
    elif path == PATH_GEMV:
        # Matrix times column vector (n == 1): c = α op(A) b + β c.
        gemv(trans_a, k if trans_a else m, m if trans_a else k,
             alpha, A, lda, B, 1 if trans_b else ldb, beta, C, ldc)
    elif (floating is float and trans_b and not trans_a
          and m <= _nt_rows_limit):
        # Few rows of D·Wᵀ: pynn's blocked dot-product kernel, W in place.
        _scale_rows(m, n, beta, C, ldc)
        if alpha != 0:
            _nt(m, n, k, alpha, A, lda, B, ldb, C, ldc)
    else:
        gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


cdef void logistic_f(Py_ssize_t n, const float* u, float* z) noexcept nogil:
    """z[i] = σ(u[i]) = 1/(1 + e^{−u[i]}), float32, within 2.5 ulp of the
    exact value (see csrc/_small.h); z may alias u."""
    pynn_small_logistic_f(<long>n, u, z)


cdef void logistic_grad_f(Py_ssize_t n, const float* z, float* g) noexcept nogil:
    """g[i] ← g[i]·z[i](1 − z[i]) (σ′ from the output z = σ(u)), the
    products in double and rounded once to float32."""
    pynn_small_logistic_grad_f(<long>n, z, g)


# ---------------------------------------------------------------- layer 4
def logistic(const float[::1] u, float[::1] z_out):
    """z_out = σ(u) = 1/(1 + e^{−u}) elementwise by ``logistic_f`` (the
    small kernels' variant in use); z_out may be u.  Returns z_out."""
    if u.shape[0] != z_out.shape[0]:
        raise ValueError("u and z_out must have the same length")
    if u.shape[0]:
        with nogil:
            logistic_f(u.shape[0], &u[0], &z_out[0])
    return np.asarray(z_out)


def product_path(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k):
    """Name of the path ``mm`` (and ``matmul(..., path="auto")``) takes for
    C (m×n) ← α op(A) op(B) + β C with inner dimension k.

    Returns "loops" (the hand loops: k == 0, or m·n·k at most
    ``get_small_product_limit()`` multiply-adds), "ger" (k == 1), "gemv"
    (m == 1 or n == 1), "gemm" (otherwise), or "empty" when m·n == 0 (no
    work).  Decided by the same ``choose_path`` that ``mm`` calls.
    """
    for name, dim in (("m", m), ("n", n), ("k", k)):
        if dim < 0 or dim > INT_MAX:
            raise ValueError(f"{name} must be in [0, {INT_MAX}], got {dim}")
    if m == 0 or n == 0:
        return "empty"
    return _PATH_NAMES[choose_path(<int>m, <int>n, <int>k)]


def matmul(const floating[:, ::1] A, const floating[:, ::1] B,
           floating[:, ::1] C_out, bint trans_a=False, bint trans_b=False,
           double alpha=1.0, double beta=0.0, str path="auto"):
    """C_out ← α op(A) op(B) + β C_out, written in place.

    ``path`` is "auto" (what the kernels use), "blas" (always gemm) or
    "loops" (always the hand-written loops).  Shapes are checked here; the
    nogil layers below assume them.
    """
    for dim in (A.shape[0], A.shape[1], B.shape[0], B.shape[1],
                C_out.shape[0], C_out.shape[1]):
        if dim > INT_MAX:
            raise ValueError(f"dimension {dim} exceeds the BLAS limit {INT_MAX}")
    if np.shares_memory(np.asarray(C_out), np.asarray(A)) or \
            np.shares_memory(np.asarray(C_out), np.asarray(B)):
        raise ValueError("C_out must not share memory with A or B")
    cdef int m = C_out.shape[0], n = C_out.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef int a_rows = A.shape[1] if trans_a else A.shape[0]
    cdef int b_rows = B.shape[1] if trans_b else B.shape[0]
    cdef int b_cols = B.shape[0] if trans_b else B.shape[1]
    if a_rows != m or b_cols != n or b_rows != k:
        raise ValueError(
            f"shapes do not match: op(A) is ({a_rows}, {k}), op(B) is "
            f"({b_rows}, {b_cols}), C_out is ({m}, {n})")
    if path not in ("auto", "blas", "loops"):
        raise ValueError(f"path must be 'auto', 'blas' or 'loops', got {path!r}")
    if m == 0 or n == 0:
        return np.asarray(C_out)
    cdef const floating* a = &A[0, 0] if A.shape[0] * A.shape[1] else NULL
    cdef const floating* b = &B[0, 0] if B.shape[0] * B.shape[1] else NULL
    # Leading dimensions must be ≥ 1 for BLAS even when a dimension is 0.
    cdef int lda = max(A.shape[1], 1), ldb = max(B.shape[1], 1)
    cdef int ldc = C_out.shape[1]
    cdef floating fa = <floating>alpha, fb = <floating>beta
    cdef int mode = 0 if path == "auto" else (1 if path == "blas" else 2)
    with nogil:
        if mode == 2 or k == 0:
            small_mm(trans_a, trans_b, m, n, k, fa, a, lda, b, ldb, fb,
                     &C_out[0, 0], ldc)
        elif mode == 1:
            gemm(trans_a, trans_b, m, n, k, fa, a, lda, b, ldb, fb,
                 &C_out[0, 0], ldc)
        else:
            mm(trans_a, trans_b, m, n, k, fa, a, lda, b, ldb, fb,
               &C_out[0, 0], ldc)
    return np.asarray(C_out)
