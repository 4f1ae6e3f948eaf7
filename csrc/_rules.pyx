"""Classic single-layer learning rules, whole epochs per call.

Every rule here is one update of a layer of ``n_out`` independent units,
``u_k = W[k]·x + b_k`` (dot product accumulated in double), applied per
sample (online) or once per epoch with the mean (batch)::

    online:  W[k] ← a_k W[k] + η r_k x,           b_k ← b_k + η r_k
    batch:   W[k] ← (1 − (η/n) Σ_i D_ik) W[k] + (η/n) Σ_i r_ik x_i,
             b_k  ← b_k + (η/n) Σ_i r_ik

with the factor r = r(rule, t, u) and output y = φ(u) of each rule:

=================  ==============  =====================  ===================
rule               y               r                      a (online)
=================  ==============  =====================  ===================
PERCEPTRON_STEP    I{u > 0}        t − y                  1
PERCEPTRON_SIGN    sign(u)         t − y                  1
LMS (delta rule)   u               d − u                  1
DELTA_SIGMOID      σ(u)            (d − y) y (1 − y)      1
DELTA_TANH         tanh u          (d − y) (1 − y²)       1
HEBB               u               y                      1
ANTI_HEBB          u               −y                     1
OJA                u               y                      1 − η y²
=================  ==============  =====================  ===================

(sign(u) = +1 if u > 0 else −1; Oja's rule is Δw = η y (x − y w), so D = y²
for OJA and 0 otherwise.)  One loop serves them all, as scikit-learn's
``_plain_sgd`` serves its losses: the rule only changes the scalar r.

Layers of this file (see sklearn/_loss/_loss.pyx.tp for the pattern):
  1. scalar ``cdef inline`` functions: ``_respond`` (y and r of a rule), the
     double-accumulated ``_dot``, the ``_axpy`` updates, the RNG;
  2. ``run_epochs``: the ``noexcept nogil`` epoch loop over raw pointers;
     it never raises, it returns a status (CONVERGED, DIVERGED, ...);
     ``linear_forward``: U = X Wᵀ + b with the same dot product;
  3. ``fit_epochs`` / ``forward``: thin ``def`` entries that check shapes,
     allocate work buffers, take the pointers once and release the GIL;
  4. the classes of ``pynn/rules.py`` validate the user's input and
     hyper-parameters and turn the status into results or errors.

Sample weights (``sample_weight``, optional, one s_i ≥ 0 per sample): the
factor r of sample i is multiplied by s_i, so the online step becomes
η s_i r_i x_i and the batch step the weighted mean
(η / Σ_i s_i) Σ_i s_i r_i x_i; the loss statistic is the weighted mean
Σ s_i ½‖d_i − y_i‖² / Σ s_i.  A sample with s_i = 0 is skipped entirely
(no update, no statistic, not counted as an error), which is exactly
removing it; s_i = 1 for every sample is bit-identical to no weights.

Shuffling: the order array is shuffled in place at the start of every
epoch by exactly the algorithm of NumPy's ``Generator.shuffle`` (Fisher–
Yates from the end, j = ``random_interval(i)`` by masked rejection
sampling) over the caller's NumPy bit generator, so epoch k's order is the
k-th ``np.random.default_rng(seed).shuffle(order)`` of the previous one.

Per-epoch statistic (``stats``): the number of updates (perceptron rules,
i.e. misclassified samples summed over units), the mean over samples of
½‖d − y‖² measured just before each sample's own update (LMS and delta
rules; in batch mode this is the loss of the weights at the start of the
epoch), or the mean of ‖y‖² (Hebbian rules).
"""
from cython cimport floating
from pynn._finite cimport all_finite
from libc.math cimport isfinite, fabs, sqrt, tanh
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy, memset
from numpy.random cimport bitgen_t

from pynn._activations cimport sigmoid
from pynn._fpenv cimport fpenv_t, fpenv_enter, fpenv_exit

import numpy as np

# The dot product keeps LANES partial sums in an array: gcc -O3 turns the
# fixed-length loops over it into SIMD code (a plain running sum is never
# vectorised without -ffast-math, which would reorder it behind our back).
# Whole BLOCKs of elements are first summed per lane in the data's dtype
# (BLOCK / LANES = 4 products per lane), then added to the double lanes.
cdef enum:
    LANES = 8
    BLOCK = 32


# ---------------------------------------------------------------- layer 1
cdef inline double _respond(int rule, double t, double u,
                            double* y) noexcept nogil:
    """Set y = φ(u) and return r, the factor of the update w ← w + η r x."""
    cdef double v
    if rule == PERCEPTRON_STEP:
        v = 1.0 if u > 0 else 0.0
        y[0] = v
        return t - v
    elif rule == PERCEPTRON_SIGN:
        v = 1.0 if u > 0 else -1.0
        y[0] = v
        return t - v
    elif rule == LMS:
        y[0] = u
        return t - u
    elif rule == DELTA_SIGMOID:
        v = sigmoid(u)
        y[0] = v
        return (t - v) * v * (1.0 - v)
    elif rule == DELTA_TANH:
        v = tanh(u)
        y[0] = v
        return (t - v) * (1.0 - v * v)
    elif rule == ANTI_HEBB:
        y[0] = u
        return -u
    else:   # HEBB, OJA
        y[0] = u
        return u


cdef inline double _dot(const floating* w, const floating* x,
                        Py_ssize_t n) noexcept nogil:
    """Σ_j w_j x_j, accumulated in double.

    Order: blocks of 32 elements, each lane summing 4 products in the dtype
    of w and x before adding them to its double accumulator; then chunks of
    8 straight into the double lanes; lanes added as a tree; then the last
    n mod 8 products left to right (so n < 8 is a plain left-to-right sum,
    as a NumPy reference computes it).  For float64 every operation is in
    double.  For float32 the rounding error is below ~4 ulp(float32) of
    Σ|w_j x_j| whatever n (a float32 running sum's grows like n), and the
    4-product float blocks make an epoch ~35% faster than converting every
    product (2.5 vs 3.4 ms for 100,000 × 100 on one core, measured).
    """
    cdef double acc[LANES]
    cdef floating part[LANES]
    cdef double s
    cdef Py_ssize_t j = 0, l, q
    for l in range(LANES):
        acc[l] = 0
    while j + BLOCK <= n:
        for l in range(LANES):
            part[l] = w[j + l] * x[j + l]
        for q in range(1, BLOCK // LANES):
            for l in range(LANES):
                part[l] = part[l] + w[j + q * LANES + l] * x[j + q * LANES + l]
        for l in range(LANES):
            acc[l] += part[l]
        j += BLOCK
    while j + LANES <= n:
        for l in range(LANES):
            acc[l] += <double>w[j + l] * <double>x[j + l]
        j += LANES
    s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + \
        ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    while j < n:
        s += <double>w[j] * <double>x[j]
        j += 1
    return s


cdef inline void _axpy(floating* w, const floating* x, double c,
                       Py_ssize_t n) noexcept nogil:
    """w ← w + c x (c rounded to the dtype of w, as NumPy would)."""
    cdef floating cf = <floating>c
    cdef Py_ssize_t j
    for j in range(n):
        w[j] = w[j] + cf * x[j]


cdef inline void _scale_axpy(floating* w, const floating* x, double a,
                             double c, Py_ssize_t n) noexcept nogil:
    """w ← a w + c x (Oja's online update)."""
    cdef floating af = <floating>a, cf = <floating>c
    cdef Py_ssize_t j
    for j in range(n):
        w[j] = af * w[j] + cf * x[j]


cdef inline void _axpy_acc(double* g, const floating* x, double c,
                           Py_ssize_t n) noexcept nogil:
    """g ← g + c x into a double accumulator (batch mode)."""
    cdef Py_ssize_t j
    for j in range(n):
        g[j] += c * x[j]


cdef inline uint64_t _interval(bitgen_t* rng, uint64_t mx) noexcept nogil:
    """A uniform integer in [0, mx]: NumPy's ``random_interval`` (draws
    masked to the smallest 2^k − 1 ≥ mx, rejected while > mx; 32-bit draws
    when mx fits in 32 bits), so the stream matches ``Generator.shuffle``."""
    cdef uint64_t mask = mx, value
    if mx == 0:
        return 0
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    mask |= mask >> 32
    if mx <= 0xFFFFFFFFULL:
        while True:
            value = rng.next_uint32(rng.state) & mask
            if value <= mx:
                return value
    while True:
        value = rng.next_uint64(rng.state) & mask
        if value <= mx:
            return value


cdef inline void _shuffle(Py_ssize_t* order, Py_ssize_t n,
                          bitgen_t* rng) noexcept nogil:
    """Fisher–Yates shuffle of order[0:n] in place, as
    ``np.random.Generator.shuffle`` does it on a 1-D array."""
    cdef Py_ssize_t i, j, tmp
    for i in range(n - 1, 0, -1):
        j = <Py_ssize_t>_interval(rng, <uint64_t>i)
        tmp = order[i]
        order[i] = order[j]
        order[j] = tmp


# ---------------------------------------------------------------- layer 2
cdef int run_epochs(int rule, const floating* X, const floating* T,
                    const floating* SW, double sw_total,
                    floating* W, floating* b,
                    Py_ssize_t n, Py_ssize_t n_in, Py_ssize_t n_out,
                    double lr, Py_ssize_t first_epoch, Py_ssize_t n_epochs,
                    bint batch, bint fit_bias, Py_ssize_t* order,
                    bitgen_t* rng, double tol, double* prev_stat,
                    double* stat_out, double* wnorm_out,
                    floating* W_prev, floating* b_prev,
                    double* G, double* gb, double* D,
                    Py_ssize_t* n_epochs_out) noexcept nogil:
    """Run epochs first_epoch … first_epoch + n_epochs − 1 of ``rule``;
    return a ``Status``.

    X (n × n_in), T (n × n_out; unused and may be NULL for the Hebbian
    rules), W (n_out × n_in), b (n_out), all row-major.  SW (n) holds the
    sample weights, or is NULL for none (then sw_total must be n); sw_total
    is Σ SW.  ``order`` holds the sample order, shuffled in place at the
    start of each epoch by ``rng`` unless it is NULL.  W_prev/b_prev are
    scratch of W's/b's size; G (n_out × n_in), gb and D (n_out) are batch
    accumulators (unused online).  ``prev_stat`` carries the previous
    epoch's statistic from one call to the next (the caller runs long
    trainings as a series of calls, so the per-epoch outputs are allocated
    in proportion to the epochs actually run).

    Stops after the first epoch without an update (perceptron rules), when
    |L_k − L_{k−1}| < tol (other supervised rules, tol ≥ 0, k ≥ 1), or when
    W, b or the epoch statistic stop being finite: then the weights of the
    end of the previous epoch are restored and DIVERGED is returned.  The
    statistic and ‖W‖_F of epoch first_epoch + k go to stat_out[k] and
    wnorm_out[k]; the number of epochs completed in this call to
    n_epochs_out[0].
    """
    cdef Py_ssize_t epoch, ii, i, j, k, m = n_out * n_in, done = 0
    cdef const floating* x
    cdef floating* wk
    cdef double* gk
    cdef double u, y = 0, r, c, a, t = 0, e, stat, s, sw = 1.0
    cdef int status = MAX_EPOCHS
    cdef bint perceptron = rule == PERCEPTRON_STEP or rule == PERCEPTRON_SIGN
    cdef bint supervised = rule <= DELTA_TANH

    for epoch in range(n_epochs):
        memcpy(W_prev, W, m * sizeof(floating))
        memcpy(b_prev, b, n_out * sizeof(floating))
        if rng != NULL:
            _shuffle(order, n, rng)
        if batch:
            memset(G, 0, m * sizeof(double))
            memset(gb, 0, n_out * sizeof(double))
            memset(D, 0, n_out * sizeof(double))
        stat = 0
        for ii in range(n):
            i = order[ii]
            if SW != NULL:
                sw = SW[i]
                if sw == 0:
                    continue             # weight 0: exactly as if absent
            x = X + i * n_in
            for k in range(n_out):
                wk = W + k * n_in
                u = _dot(wk, x, n_in) + b[k]
                if supervised:
                    t = T[i * n_out + k]
                r = _respond(rule, t, u, &y)
                if perceptron:
                    if r != 0:
                        stat += 1
                elif supervised:
                    e = t - y
                    stat += sw * (0.5 * e * e)
                else:
                    stat += y * y
                if r == 0:
                    continue
                if SW != NULL:
                    r = r * sw
                if batch:
                    _axpy_acc(G + k * n_in, x, r, n_in)
                    gb[k] += r
                    if rule == OJA:
                        D[k] += y * y
                elif rule == OJA:
                    c = lr * r
                    _scale_axpy(wk, x, 1.0 - c * y, c, n_in)
                else:
                    c = lr * r
                    _axpy(wk, x, c, n_in)
                    if fit_bias:
                        b[k] = <floating>(b[k] + c)
        if batch:
            c = lr / sw_total
            for k in range(n_out):
                wk = W + k * n_in
                gk = G + k * n_in
                a = 1.0 - c * D[k]
                if a == 1.0:
                    for j in range(n_in):
                        wk[j] = <floating>(wk[j] + c * gk[j])
                else:
                    for j in range(n_in):
                        wk[j] = <floating>(a * wk[j] + c * gk[j])
                if fit_bias:
                    b[k] = <floating>(b[k] + c * gb[k])
        if not perceptron:
            stat /= sw_total
        if not (isfinite(stat) and all_finite(W, m) and all_finite(b, n_out)):
            memcpy(W, W_prev, m * sizeof(floating))
            memcpy(b, b_prev, n_out * sizeof(floating))
            status = DIVERGED
            break
        s = 0
        for j in range(m):
            s += <double>W[j] * <double>W[j]
        stat_out[epoch] = stat
        wnorm_out[epoch] = sqrt(s)
        done = epoch + 1
        if perceptron:
            if stat == 0:
                status = CONVERGED
                break
        elif supervised and tol >= 0 and first_epoch + epoch > 0 \
                and fabs(stat - prev_stat[0]) < tol:
            status = CONVERGED
            break
        prev_stat[0] = stat
    n_epochs_out[0] = done
    return status


cdef void linear_forward(const floating* X, const floating* W,
                         const floating* b, double* U,
                         Py_ssize_t n, Py_ssize_t n_in,
                         Py_ssize_t n_out) noexcept nogil:
    """U[i, k] = W[k]·X[i] + b_k in double, exactly as ``run_epochs`` does."""
    cdef Py_ssize_t i, k
    for i in range(n):
        for k in range(n_out):
            U[i * n_out + k] = _dot(W + k * n_in, X + i * n_in, n_in) + b[k]


# ---------------------------------------------------------------- layer 3
# Per-epoch outputs are allocated per call of run_epochs: the first call
# runs up to CHUNK0 epochs, each next one twice as many (at most CHUNK_MAX),
# so memory follows the epochs actually run, never max_epochs.
cdef enum:
    CHUNK0 = 256
    CHUNK_MAX = 65536


def fit_epochs(int rule, const floating[:, ::1] X, const floating[:, ::1] T,
               floating[:, ::1] W, floating[::1] b, double lr,
               Py_ssize_t max_epochs, bint batch=False, bint fit_bias=True,
               Py_ssize_t[::1] order=None, bint shuffle=False,
               seed=0, double tol=-1.0, const floating[::1] sample_weight=None):
    """Train W, b in place by ``rule`` for up to ``max_epochs`` epochs.

    Implements the online or batch update in the module docstring (``rule``
    is a ``Rule`` code).  T must be (n, n_out) for the supervised rules; the
    Hebbian rules ignore it (pass an (n, 0) array).  ``order`` (n,) is the
    sample order, default 0..n−1; with ``shuffle`` it is reshuffled in place
    at the start of every epoch by ``np.random.default_rng(seed)`` (an int,
    None for fresh entropy, or a Generator, which is advanced), exactly as
    that generator's ``shuffle`` would.  ``tol < 0`` disables the
    |ΔL| < tol stop.  ``sample_weight`` (n,), finite, ≥ 0 with a positive
    sum (checked by the caller), weights each sample's factor r.

    Returns ``(n_epochs, status, stats, wnorms)``: completed epochs, a
    ``Status`` code, and the per-epoch statistic and ‖W‖_F (float64 arrays
    of length n_epochs).  On DIVERGED, W and b hold the last finite weights.
    """
    cdef Py_ssize_t n = X.shape[0], n_in = X.shape[1], n_out = W.shape[0]
    cdef bint supervised = PERCEPTRON_STEP <= rule <= DELTA_TANH
    if not PERCEPTRON_STEP <= rule <= OJA:
        raise ValueError(f"unknown rule code {rule}")
    if n == 0 or n_in == 0:
        raise ValueError(f"X must have at least one sample and one feature, "
                         f"got shape ({n}, {n_in})")
    if n_out == 0 or W.shape[1] != n_in:
        raise ValueError(f"W must have shape (n_out ≥ 1, {n_in}), got "
                         f"({W.shape[0]}, {W.shape[1]})")
    if b.shape[0] != n_out:
        raise ValueError(f"b must have shape ({n_out},), got ({b.shape[0]},)")
    if supervised and (T is None or T.shape[0] != n or T.shape[1] != n_out):
        raise ValueError(f"T must have shape ({n}, {n_out}) for this rule")
    if not isfinite(lr) or max_epochs < 0:
        raise ValueError("lr must be finite and max_epochs ≥ 0")
    if order is None:
        order = np.arange(n, dtype=np.intp)
    elif order.shape[0] != n:
        raise ValueError(f"order must have shape ({n},), got ({order.shape[0]},)")
    else:
        arr = np.asarray(order)
        if arr.min() < 0 or arr.max() >= n:
            raise ValueError(f"order must hold sample indices in [0, {n})")
    cdef const floating* sw_ptr = NULL
    cdef double sw_total = <double>n
    if sample_weight is not None:
        if sample_weight.shape[0] != n:
            raise ValueError(f"sample_weight must have shape ({n},)")
        sw = np.asarray(sample_weight)
        sw_total = float(np.sum(sw, dtype=np.float64))
        if not (isfinite(sw_total) and sw_total > 0 and sw.min() >= 0):
            raise ValueError("sample_weight must be finite, ≥ 0 and have a "
                             "positive sum")
        sw_ptr = &sample_weight[0]
    cdef bitgen_t* rng = NULL
    bitgen = None
    if shuffle:
        bitgen = np.random.default_rng(seed).bit_generator
        rng = <bitgen_t*>PyCapsule_GetPointer(bitgen.capsule, "BitGenerator")
    dtype = np.float32 if floating is float else np.float64
    W_prev = np.empty((n_out, n_in), dtype=dtype)
    b_prev = np.empty(n_out, dtype=dtype)
    cdef Py_ssize_t nb = n_out * n_in if batch else 1
    G = np.empty(nb, dtype=np.float64)
    gb = np.empty(n_out, dtype=np.float64)
    D = np.empty(n_out, dtype=np.float64)
    cdef double[::1] G_v = G, gb_v = gb, D_v = D, stats_v, wnorms_v
    cdef floating[:, ::1] Wp_v = W_prev
    cdef floating[::1] bp_v = b_prev
    cdef const floating* t_ptr = &T[0, 0] if supervised else NULL
    cdef Py_ssize_t done = 0, ran, chunk = CHUNK0
    cdef double prev_stat = 0
    cdef int status = MAX_EPOCHS
    cdef fpenv_t fpe
    stats_parts, wnorm_parts = [], []
    lock = bitgen.lock if shuffle else _NoLock()
    with lock:
        while done < max_epochs:
            chunk = min(chunk, max_epochs - done)
            stats = np.zeros(chunk, dtype=np.float64)
            wnorms = np.zeros(chunk, dtype=np.float64)
            stats_v = stats
            wnorms_v = wnorms
            with nogil:
                fpe = fpenv_enter()
                status = run_epochs(rule, &X[0, 0], t_ptr, sw_ptr, sw_total,
                                    &W[0, 0], &b[0], n, n_in, n_out, lr,
                                    done, chunk, batch, fit_bias, &order[0],
                                    rng, tol, &prev_stat, &stats_v[0],
                                    &wnorms_v[0], &Wp_v[0, 0], &bp_v[0],
                                    &G_v[0], &gb_v[0], &D_v[0], &ran)
                fpenv_exit(fpe)
            stats_parts.append(stats[:ran])
            wnorm_parts.append(wnorms[:ran])
            done += ran
            if status != MAX_EPOCHS:
                break
            chunk = min(2 * chunk, <Py_ssize_t>CHUNK_MAX)
    if not stats_parts:
        return 0, status, np.zeros(0), np.zeros(0)
    return (done, status, np.concatenate(stats_parts),
            np.concatenate(wnorm_parts))


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def forward(const floating[:, ::1] X, const floating[:, ::1] W,
            const floating[::1] b, double[:, ::1] U_out):
    """U_out = X Wᵀ + b (float64), each entry W[k]·X[i] + b_k summed in double.

    The same arithmetic as the training loop, so a unit's decision on a
    training sample after fitting is exactly the one the rule saw.
    """
    cdef Py_ssize_t n = X.shape[0], n_in = X.shape[1], n_out = W.shape[0]
    if W.shape[1] != n_in or b.shape[0] != n_out:
        raise ValueError(f"W must be ({n_out}, {n_in}) and b ({n_out},) "
                         f"for X with {n_in} features")
    if U_out.shape[0] != n or U_out.shape[1] != n_out:
        raise ValueError(f"U_out must have shape ({n}, {n_out})")
    if n == 0 or n_out == 0:
        return np.asarray(U_out)
    if n_in == 0:
        for k in range(n_out):
            U_out[:, k] = b[k]
        return np.asarray(U_out)
    cdef fpenv_t fpe
    with nogil:
        fpe = fpenv_enter()     # as in training: a decision matches the rule's
        linear_forward(&X[0, 0], &W[0, 0], &b[0], &U_out[0, 0], n, n_in, n_out)
        fpenv_exit(fpe)
    return np.asarray(U_out)
