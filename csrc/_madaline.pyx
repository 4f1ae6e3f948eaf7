"""MADALINE trained by MRII (Widrow & Winter's Madaline Rule II), whole
epochs per call.

The network: H hidden ADALINEs ``u_j = W[j]·x + b_j`` (dot products in
double) with threshold outputs ``h_j = +1 if u_j > 0 else −1``, feeding a
fixed logic unit ``y = L(h)``:

    OR        y = +1 iff some h_j = +1
    AND       y = +1 iff every h_j = +1
    MAJORITY  y = +1 iff #{j : h_j = +1} > H / 2   (ties give −1)

MRII, one sample at a time, only when y ≠ t (t = ±1):
  1. order the hidden units by |u_j| (closest to 0 first, ties by index);
  2. for each unit j in that order, trial-flip h_j → −h_j; if then
     L(h) = t (the output error falls from 1 to 0), keep the flip: adapt
     unit j toward its flipped value d = −h_j by the α-LMS (ADALINE) rule
         W[j] ← W[j] + η (d − u_j) x / (‖x‖² + 1),
         b_j  ← b_j  + η (d − u_j)   / (‖x‖² + 1)
     (the bias is the weight of a constant input 1, hence the +1; with
     η = 1 the new u_j is exactly d) and go to the next sample;
  3. if no single flip helps and pairs are enabled, trial-flip pairs of
     units, closest to 0 first (smallest |u_j| + |u_k|, ties by index);
     the first pair that makes L(h) = t is adapted as in 2, both units.
  Otherwise the sample is left as it is.
An epoch with no output error stops training (CONVERGED).

Layers (as in _rules.pyx): scalar inline helpers; the ``noexcept nogil``
epoch loop ``run_mrii`` over raw pointers, which returns a status; the thin
``def`` entries ``fit_mrii`` and ``forward``; the Python class in
``pynn/madaline.py`` validates and allocates.
"""
from cython cimport floating
from pynn._finite cimport all_finite
from libc.math cimport isfinite, fabs
from libc.string cimport memcpy
from pynn._fpenv cimport fpenv_t, fpenv_enter, fpenv_exit

import numpy as np

cpdef enum Logic:
    OR = 0
    AND = 1
    MAJORITY = 2

cpdef enum Status:
    MAX_EPOCHS = 0        # ran every epoch asked for
    CONVERGED = 1         # an epoch without an output error
    DIVERGED = 2          # weights became inf/NaN (last finite restored)

# Per-epoch error counts are allocated per call of run_mrii (256, 512, ...
# epochs, at most 65536), so memory follows the epochs actually run.
cdef enum:
    CHUNK0 = 256
    CHUNK_MAX = 65536


# ---------------------------------------------------------------- layer 1
cdef inline double _dot(const floating* w, const floating* x,
                        Py_ssize_t n) noexcept nogil:
    """Σ_j w_j x_j left to right in double."""
    cdef double s = 0
    cdef Py_ssize_t j
    for j in range(n):
        s += <double>w[j] * <double>x[j]
    return s


cdef inline int _logic(int code, const signed char* h,
                       Py_ssize_t H) noexcept nogil:
    """y = L(h) in {−1, +1}."""
    cdef Py_ssize_t j, p = 0
    for j in range(H):
        if h[j] > 0:
            p += 1
    if code == OR:
        return 1 if p > 0 else -1
    elif code == AND:
        return 1 if p == H else -1
    return 1 if 2 * p > H else -1


cdef inline void _adapt(floating* w, floating* b, const floating* x,
                        Py_ssize_t n, double u, double d, double lr,
                        double xn2) noexcept nogil:
    """α-LMS toward d: w ← w + η (d − u) x / (‖x‖² + 1), b likewise."""
    cdef double c = lr * (d - u) / xn2
    cdef floating cf = <floating>c
    cdef Py_ssize_t j
    for j in range(n):
        w[j] = w[j] + cf * x[j]
    b[0] = <floating>(b[0] + c)


# ---------------------------------------------------------------- layer 2
cdef int run_mrii(int code, const floating* X, const floating* T,
                  floating* W, floating* b, Py_ssize_t n, Py_ssize_t n_in,
                  Py_ssize_t H, double lr, Py_ssize_t n_epochs, bint pairs,
                  double* U, signed char* h, Py_ssize_t* rank,
                  floating* W_prev, floating* b_prev,
                  double* errors_out, Py_ssize_t* n_epochs_out) noexcept nogil:
    """Run up to ``n_epochs`` epochs of MRII; return a ``Status``.

    X (n × n_in), T (n) in {−1, +1}, W (H × n_in), b (H), row-major.  U (H),
    h (H), rank (H) and W_prev/b_prev are scratch.  The number of samples
    with a wrong output (counted as each is visited) of epoch k goes to
    errors_out[k]; the epochs completed to n_epochs_out[0].
    """
    cdef Py_ssize_t epoch, i, j, k, q, a, c, best_a, best_c, done = 0
    cdef Py_ssize_t n_err
    cdef const floating* x
    cdef double t, xn2, cost, best
    cdef bint fixed
    cdef int status = MAX_EPOCHS
    for epoch in range(n_epochs):
        memcpy(W_prev, W, H * n_in * sizeof(floating))
        memcpy(b_prev, b, H * sizeof(floating))
        n_err = 0
        for i in range(n):
            x = X + i * n_in
            t = T[i]
            for j in range(H):
                U[j] = _dot(W + j * n_in, x, n_in) + b[j]
                h[j] = 1 if U[j] > 0 else -1
            if _logic(code, h, H) == t:
                continue                     # update only on error
            n_err += 1
            xn2 = _dot(x, x, n_in) + 1.0
            # rank: units by |u| ascending, ties by index (insertion sort)
            for j in range(H):
                k = j
                while k > 0 and fabs(U[rank[k - 1]]) > fabs(U[j]):
                    rank[k] = rank[k - 1]
                    k -= 1
                rank[k] = j
            fixed = False
            for q in range(H):
                j = rank[q]
                h[j] = -h[j]
                if _logic(code, h, H) == t:
                    _adapt(W + j * n_in, b + j, x, n_in, U[j], h[j], lr, xn2)
                    fixed = True
                    break
                h[j] = -h[j]
            if fixed or not pairs:
                continue
            best = -1
            best_a = best_c = 0
            for a in range(H):
                for c in range(a + 1, H):
                    h[a] = -h[a]
                    h[c] = -h[c]
                    if _logic(code, h, H) == t:
                        cost = fabs(U[a]) + fabs(U[c])
                        if best < 0 or cost < best:
                            best, best_a, best_c = cost, a, c
                    h[a] = -h[a]
                    h[c] = -h[c]
            if best >= 0:
                _adapt(W + best_a * n_in, b + best_a, x, n_in, U[best_a],
                       -h[best_a], lr, xn2)
                _adapt(W + best_c * n_in, b + best_c, x, n_in, U[best_c],
                       -h[best_c], lr, xn2)
        if not (all_finite(W, H * n_in) and all_finite(b, H)):
            memcpy(W, W_prev, H * n_in * sizeof(floating))
            memcpy(b, b_prev, H * sizeof(floating))
            status = DIVERGED
            break
        errors_out[epoch] = n_err
        done = epoch + 1
        if n_err == 0:
            status = CONVERGED
            break
    n_epochs_out[0] = done
    return status


# ---------------------------------------------------------------- layer 3
def fit_mrii(int code, const floating[:, ::1] X, const floating[::1] T,
             floating[:, ::1] W, floating[::1] b, double lr,
             Py_ssize_t max_epochs, bint pairs=True):
    """Train W (H, n_in), b (H) in place by MRII for up to ``max_epochs``
    epochs (see the module docstring); T holds ±1 targets.

    Returns ``(n_epochs, status, errors)``: completed epochs, a ``Status``
    and the per-epoch count of samples with a wrong output (float64).
    """
    cdef Py_ssize_t n = X.shape[0], n_in = X.shape[1], H = W.shape[0]
    if not OR <= code <= MAJORITY:
        raise ValueError(f"unknown logic code {code}")
    if n == 0 or n_in == 0:
        raise ValueError(f"X must have at least one sample and one feature, "
                         f"got shape ({n}, {n_in})")
    if H == 0 or W.shape[1] != n_in or b.shape[0] != H:
        raise ValueError(f"W must have shape (H ≥ 1, {n_in}) and b (H,)")
    if T.shape[0] != n:
        raise ValueError(f"T must have shape ({n},)")
    arr = np.asarray(T)
    if not ((arr == 1) | (arr == -1)).all():
        raise ValueError("T must hold -1/+1 targets")
    if not isfinite(lr) or max_epochs < 0:
        raise ValueError("lr must be finite and max_epochs ≥ 0")
    dtype = np.float32 if floating is float else np.float64
    W_prev = np.empty((H, n_in), dtype=dtype)
    b_prev = np.empty(H, dtype=dtype)
    U = np.empty(H, dtype=np.float64)
    h = np.empty(H, dtype=np.int8)
    rank = np.empty(H, dtype=np.intp)
    cdef double[::1] U_v = U, err_v
    cdef signed char[::1] h_v = h
    cdef Py_ssize_t[::1] rank_v = rank
    cdef floating[:, ::1] Wp_v = W_prev
    cdef floating[::1] bp_v = b_prev
    cdef Py_ssize_t done = 0, ran = 0, chunk = CHUNK0
    cdef int status = MAX_EPOCHS
    cdef fpenv_t fpe
    parts = []
    while done < max_epochs:
        chunk = min(chunk, max_epochs - done)
        errors = np.zeros(chunk, dtype=np.float64)
        err_v = errors
        with nogil:
            fpe = fpenv_enter()
            status = run_mrii(code, &X[0, 0], &T[0], &W[0, 0], &b[0], n,
                              n_in, H, lr, chunk, pairs, &U_v[0], &h_v[0],
                              &rank_v[0], &Wp_v[0, 0], &bp_v[0], &err_v[0],
                              &ran)
            fpenv_exit(fpe)
        parts.append(errors[:ran])
        done += ran
        if status != MAX_EPOCHS:
            break
        chunk = min(2 * chunk, <Py_ssize_t>CHUNK_MAX)
    errs = np.concatenate(parts) if parts else np.zeros(0)
    return done, status, errs


def forward(int code, const floating[:, ::1] X, const floating[:, ::1] W,
            const floating[::1] b, double[:, ::1] U_out):
    """U_out[i, j] = W[j]·X[i] + b_j (double, as in training); returns the
    outputs y = L(h) as an int8 array of ±1."""
    cdef Py_ssize_t n = X.shape[0], n_in = X.shape[1], H = W.shape[0]
    cdef Py_ssize_t i, j
    if W.shape[1] != n_in or b.shape[0] != H:
        raise ValueError(f"W must be ({H}, {n_in}) and b ({H},)")
    if U_out.shape[0] != n or U_out.shape[1] != H:
        raise ValueError(f"U_out must have shape ({n}, {H})")
    y = np.empty(n, dtype=np.int8)
    h = np.empty(max(H, 1), dtype=np.int8)
    cdef signed char[::1] y_v = y, h_v = h
    if n == 0:
        return y
    cdef fpenv_t fpe
    with nogil:
        fpe = fpenv_enter()     # as in training: the same decisions
        for i in range(n):
            for j in range(H):
                U_out[i, j] = _dot(&W[j, 0], &X[i, 0], n_in) + b[j]
                h_v[j] = 1 if U_out[i, j] > 0 else -1
            y_v[i] = _logic(code, &h_v[0], H)
        fpenv_exit(fpe)
    return y
