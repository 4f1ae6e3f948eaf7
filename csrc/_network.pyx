"""The MLP in matrix form, over one contiguous parameter buffer.

For a batch X (B × d_0, one sample per row) the forward pass computes, for
ℓ = 1 … L,
    U_ℓ = D_{ℓ−1} W_ℓᵀ + 1 b_ℓᵀ        (W_ℓ is d_ℓ × d_{ℓ−1})
    Z_ℓ = φ_ℓ(U_ℓ)
as one GEMM with β = 1 into U_ℓ pre-filled with the bias rows.  D_ℓ is Z_ℓ
as the next layer sees it: Z_ℓ itself (D_0 = X), or in training, with
inverted dropout and Gaussian noise, D_ℓ = Z_ℓ ⊙ M_ℓ + σ_ℓ ε with
M_ℓ ∈ {0, 1/(1−p_ℓ)} drawn per element.  The backward pass computes, per
sample (rows of Δ),
    Δ_L = ∂L/∂U_L                                         (_losses)
    G_{ℓ−1} = Δ_ℓ W_ℓ                  (gradient with respect to D_{ℓ−1})
    Δ_{ℓ−1} = J_φ(U_{ℓ−1})ᵀ (G_{ℓ−1} ⊙ M_{ℓ−1} + ∂P/∂Z_{ℓ−1})  (_activations)
    ∇W_ℓ = (1/B) Δ_ℓᵀ D_{ℓ−1},  ∇b_ℓ = (1/B) Σ_rows Δ_ℓ
where P is an optional activity penalty on a hidden layer (sparsity: KL
divergence of the batch-mean activation to a target ρ, or L1).  Depending
on ``mode`` it stores the gradients (GRADIENT), applies the plain SGD step
W_ℓ ← W_ℓ − (η/B) Δ_ℓᵀ D_{ℓ−1} as a GEMM with β = 1 straight into W_ℓ (GER
for one sample; SGD_UPDATE, no gradient buffer), or returns the per-sample
input gradient (INPUT_GRADIENT).  G_{ℓ−1} is always computed before W_ℓ is
updated, so the step uses the old weights.

Tied weights: a layer may use another layer's matrix transposed (an
autoencoder's decoder W = encoderᵀ); its products swap the transpose flags
and its gradient is added, transposed, to the owner's (so GRADIENT mode
zeroes grads first and accumulates).

The returned sum is Σ_i L_i + B·P, so that sum/B is the objective whose
gradient the pass computes.

A layer of kind RBF (radial basis functions) replaces the product and the
activation by U_ij = ‖d_i − c_j‖², Z_ij = exp(−β_j U_ij) with centres c_j
and widths β_j = e^{s_j} in the parameter buffer; its branches of both
passes (and their equations) are in the section "RBF layers" below.

Layers: nogil kernels taking a ``Net`` (layout) and raw pointers; ``def``
entry points ``forward``/``backward`` on NumPy arrays for pynn.model.
"""
from cython cimport floating
from libc.string cimport memcpy, memset
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from libc.math cimport isfinite, log, exp, sqrt, cos, fabs, M_PI

from pynn._blas cimport mm
from pynn._activations cimport (act_forward, act_backward, SOFTMAX, IDENTITY,
                                SIGMOID, TANH, RELU)
from libc.limits cimport INT_MAX
from pynn._losses cimport loss_and_delta, SQUARED_ERROR
from pynn._fpenv cimport fpenv_t, fpenv_enter, fpenv_exit
from pynn._update cimport (OnlineStep, update_span, update_row, span_constants,
                           pynn_update_t)
from pynn._losses import N_LOSSES
from pynn._activations import N_ACTIVATIONS

import numpy as np

N_PENALTIES = 3    # penalty codes are 0 … N_PENALTIES − 1
N_MODES = 4       # modes of the ``backward`` entry: 0 … N_MODES − 1
                  # (ONLINE_STEP needs an optimiser: ``online_step_pass``)


# ------------------------------------------------------------ random numbers
cdef inline rng_t _next(rng_t* s) noexcept nogil:
    """splitmix64: a fast generator with a 64-bit state, ample for masks."""
    s[0] += 0x9E3779B97F4A7C15ULL
    cdef rng_t z = s[0]
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline double _uniform(rng_t* s) noexcept nogil:
    """Uniform on (0, 1]."""
    return ((_next(s) >> 11) + 1) * (1.0 / 9007199254740992.0)


cdef inline double _normal(rng_t* s) noexcept nogil:
    """Standard normal by Box–Muller (one of the pair)."""
    return sqrt(-2.0 * log(_uniform(s))) * cos(2.0 * M_PI * _uniform(s))


# ------------------------------------------------------------ workspace
cdef Py_ssize_t workspace_size(const Net* net, Py_ssize_t batch) noexcept nogil:
    return net.ws_row * batch


cdef inline floating* _at(floating* work, Py_ssize_t batch,
                          Py_ssize_t offset) noexcept nogil:
    return work + offset * batch


cdef const floating* output_of(const Net* net, Py_ssize_t batch,
                               floating* work) noexcept nogil:
    return _at(work, batch, net.pos[net.n_layers].ws_z)


cdef inline const floating* _seen(const Net* net, Py_ssize_t batch,
                                  floating* work, const floating* X,
                                  Py_ssize_t l, bint training) noexcept nogil:
    """D_ℓ: the input of layer ℓ+1 (X for ℓ = 0)."""
    if training and net.pos[l].ws_d >= 0:
        return _at(work, batch, net.pos[l].ws_d)
    if l == 0:
        return X
    return _at(work, batch, net.pos[l].ws_z)


cdef const floating* seen_of(const Net* net, Py_ssize_t batch,
                             floating* work, const floating* X,
                             Py_ssize_t l, bint training) noexcept nogil:
    """D_ℓ (the input of layer ℓ+1) in a workspace of ``batch`` rows."""
    return _seen(net, batch, work, X, l, training)


cdef const floating* pre_of(const Net* net, Py_ssize_t batch, floating* work,
                            Py_ssize_t l) noexcept nogil:
    """U_ℓ (layer ℓ's pre-activation) in a workspace of ``batch`` rows."""
    return _at(work, batch, net.pos[l].ws_u)


cdef void _corrupt(const Net* net, Py_ssize_t l, const floating* Z,
                   Py_ssize_t n, floating* work, Py_ssize_t batch,
                   rng_t* rng) noexcept nogil:
    """D_ℓ = Z_ℓ ⊙ M_ℓ + σ ε (inverted dropout, then Gaussian noise)."""
    cdef floating* D = _at(work, batch, net.pos[l].ws_d)
    cdef floating* M
    cdef double p = net.pos[l].dropout, sigma = net.pos[l].noise
    cdef floating keep = <floating>(1.0 / (1.0 - p)) if p > 0 else 1
    cdef Py_ssize_t i
    if p > 0:
        M = _at(work, batch, net.pos[l].ws_m)
        for i in range(n):
            M[i] = keep if _uniform(rng) > p else 0
            D[i] = Z[i] * M[i]
    else:
        memcpy(D, Z, n * sizeof(floating))
    if sigma > 0:
        for i in range(n):
            D[i] = <floating>(D[i] + sigma * _normal(rng))


cdef inline void _column_sums(const floating* A, Py_ssize_t rows,
                              Py_ssize_t cols, Py_ssize_t j0, Py_ssize_t n_t,
                              double* sums) noexcept nogil:
    """sums[j] = Σ_i A[i, j0 + j] for j < n_t ≤ 64, each column summed in
    row order, in double.

    Walks A row by row over the tile so the inner loop is contiguous: a
    column-at-a-time sum strides by ``cols`` and defeats SIMD and the cache.
    """
    cdef Py_ssize_t i, j
    cdef const floating* row
    for j in range(n_t):
        sums[j] = 0
    for i in range(rows):
        row = A + i * cols + j0
        for j in range(n_t):
            sums[j] += row[j]


cdef double _penalty(const Net* net, Py_ssize_t l, const floating* Z,
                     Py_ssize_t batch, floating* g) noexcept nogil:
    """B·P for the activity penalty on Z_ℓ; adds B·∂P/∂Z to g unless NULL."""
    cdef Py_ssize_t i, j, d = net.sizes[l]
    cdef double w = net.pos[l].penalty_weight, rho = net.pos[l].penalty_target
    cdef double total = 0, mean
    cdef double sums[64]
    cdef floating v_tile[64]
    cdef Py_ssize_t j0, n_t
    cdef floating* g_row
    if net.pos[l].penalty == KL_SPARSITY:
        for j0 in range(0, d, 64):
            n_t = min(<Py_ssize_t>64, d - j0)
            _column_sums(Z, batch, d, j0, n_t, sums)
            for j in range(n_t):
                mean = sums[j] / batch
                # keep log() finite: ρ̂ in [1e-12, 1 − 1e-12]
                mean = min(max(mean, 1e-12), 1 - 1e-12)
                total += rho * log(rho / mean) + (1 - rho) * log((1 - rho) / (1 - mean))
                v_tile[j] = <floating>(w * (-rho / mean + (1 - rho) / (1 - mean)))
            if g != NULL:
                for i in range(batch):
                    g_row = g + i * d + j0
                    for j in range(n_t):
                        g_row[j] += v_tile[j]
        return w * total * batch
    elif net.pos[l].penalty == L1_ACTIVITY:
        for i in range(batch * d):
            total += fabs(Z[i])
            if g != NULL:
                g[i] += <floating>(w if Z[i] > 0 else (-w if Z[i] < 0 else 0))
        return w * total
    return 0


# ------------------------------------------------------------ RBF layers
# A radial-basis layer ℓ (kind RBF) holds centres C (d_ℓ × d_{ℓ−1}, row j is
# c_j) at w_off and s = log β (d_ℓ) at b_off; β_j = e^{s_j} > 0 whatever
# value an optimiser gives s_j, so no clamp is needed.  For a batch D
# (B × d_{ℓ−1}, rows d_i) it computes
#     U_ij = ‖d_i − c_j‖²,   Z_ij = exp(−β_j U_ij).
# Its backward pass works with E = ∂L/∂U (E_ij = −β_j Z_ij ∂L/∂Z_ij):
#     ∂L/∂c_j = −2 Σ_i E_ij (d_i − c_j) = −2 [(Eᵀ D)_j − (Σ_i E_ij) c_j]
#     ∂L/∂s_j = β_j ∂L/∂β_j = Σ_i ∂L/∂Z_ij Z_ij (−β_j U_ij) = Σ_i E_ij U_ij
#     ∂L/∂d_i = 2 Σ_j E_ij (d_i − c_j) = 2 [(Σ_j E_ij) d_i − (E C)_i]

# U_ij is first formed as ‖d_i‖² − 2 d_i·c_j + ‖c_j‖² (one GEMM); when it is
# below this fraction of ‖d_i‖² + ‖c_j‖², cancellation has cost more than
# 6 of the mantissa's bits and the entry is recomputed as Σ_k (d_ik − c_jk)²,
# which is exact to rounding (and ≥ 0).
cdef double RBF_CANCEL = 0.015625     # 2⁻⁶


cdef void _rbf_forward(const LayerDesc* ly, const floating* params,
                       const floating* D, Py_ssize_t batch, floating* U,
                       floating* Z, floating* scratch) noexcept nogil:
    """U_ij = ‖d_i − c_j‖², Z_ij = exp(−β_j U_ij) for the B rows of D.

    ``scratch`` holds 2 d_ℓ values (‖c_j‖², then β_j).
    """
    cdef Py_ssize_t n_in = ly.n_in, n_out = ly.n_out, i, j, k
    cdef const floating* C = params + ly.w_off
    cdef const floating* s = params + ly.b_off
    cdef const floating* d_row
    cdef const floating* c_row
    cdef floating* cc = scratch
    cdef floating* beta = scratch + n_out
    cdef double acc, dd, v, t
    for j in range(n_out):
        c_row = C + j * n_in
        acc = 0
        for k in range(n_in):
            acc += <double>c_row[k] * c_row[k]
        cc[j] = <floating>acc
        beta[j] = <floating>exp(s[j])
    # U ← −2 D Cᵀ
    mm(False, True, <int>batch, <int>n_out, <int>n_in, <floating>-2.0, D,
       <int>n_in, C, <int>n_in, <floating>0.0, U, <int>n_out)
    for i in range(batch):
        d_row = D + i * n_in
        dd = 0
        for k in range(n_in):
            dd += <double>d_row[k] * d_row[k]
        for j in range(n_out):
            v = dd + cc[j] + U[i * n_out + j]
            if v < RBF_CANCEL * (dd + cc[j]):
                c_row = C + j * n_in
                v = 0
                for k in range(n_in):
                    t = <double>d_row[k] - c_row[k]
                    v += t * t
            U[i * n_out + j] = <floating>v
            # v = 0 gives 1 even for β_j = ∞ (e^{s_j} overflowed), not ∞·0
            Z[i * n_out + j] = <floating>exp(-<double>beta[j] * v) if v > 0 else 1


cdef void _rbf_delta(const LayerDesc* ly, const floating* params,
                     const floating* Z, Py_ssize_t batch,
                     floating* g) noexcept nogil:
    """g ← E: ∂L/∂Z_ij into ∂L/∂U_ij = −β_j Z_ij ∂L/∂Z_ij, in place.

    Z_ij = 0 gives 0, also when β_j = ∞ (β e^{−βU} → 0 for U > 0), so an
    overflowed width leaves a dead unit rather than NaN.
    """
    cdef Py_ssize_t n_out = ly.n_out, i, j, j0, n_t
    cdef const floating* s = params + ly.b_off
    cdef floating beta[64]
    cdef floating z
    for j0 in range(0, n_out, 64):
        n_t = min(<Py_ssize_t>64, n_out - j0)
        for j in range(n_t):
            beta[j] = <floating>(-exp(s[j0 + j]))
        for i in range(batch):
            for j in range(n_t):
                z = Z[i * n_out + j0 + j]
                g[i * n_out + j0 + j] *= beta[j] * z if z != 0 else 0


cdef void _rbf_input_gradient(const LayerDesc* ly, const floating* params,
                              const floating* D, const floating* E,
                              Py_ssize_t batch, floating* dst) noexcept nogil:
    """dst_i = ∂L/∂d_i = 2 [(Σ_j E_ij) d_i − (E C)_i] (B × d_{ℓ−1})."""
    cdef Py_ssize_t n_in = ly.n_in, n_out = ly.n_out, i, j, k
    cdef const floating* C = params + ly.w_off
    cdef double r
    mm(False, False, <int>batch, <int>n_in, <int>n_out, <floating>-2.0, E,
       <int>n_out, C, <int>n_in, <floating>0.0, dst, <int>n_in)
    for i in range(batch):
        r = 0
        for j in range(n_out):
            r += E[i * n_out + j]
        for k in range(n_in):
            dst[i * n_in + k] += <floating>(2 * r * D[i * n_in + k])


cdef void _rbf_step(const LayerDesc* ly, floating* params, const floating* D,
                    const floating* E, const floating* U, Py_ssize_t batch,
                    floating alpha, bint store, floating* grads) noexcept nogil:
    """α times the gradient of the RBF layer, stored in ``grads`` (store)
    or added to ``params`` (the SGD step, α = −η/B).

    With S_j = Σ_i E_ij: the centres get α ∂L/∂c_j = −2α (Eᵀ D)_j + 2α S_j
    c_j — in the step as c_j ← (1 + 2α S_j) c_j, then one GEMM with β = 1
    adds −2α Eᵀ D — and s_j gets α Σ_i E_ij U_ij.  Uses the C before the
    step throughout.
    """
    cdef Py_ssize_t n_in = ly.n_in, n_out = ly.n_out, i, j, j0, n_t, k
    cdef floating* C = params + ly.w_off
    cdef floating* gC = (grads if store else params) + ly.w_off
    cdef floating* gs = (grads if store else params) + ly.b_off
    cdef double sums[64]
    cdef double eu[64]
    cdef double f
    cdef const floating* e_row
    cdef const floating* u_row
    for j0 in range(0, n_out, 64):
        n_t = min(<Py_ssize_t>64, n_out - j0)
        _column_sums(E, batch, n_out, j0, n_t, sums)
        for j in range(n_t):
            eu[j] = 0
        for i in range(batch):
            e_row = E + i * n_out + j0
            u_row = U + i * n_out + j0
            for j in range(n_t):
                eu[j] += <double>e_row[j] * u_row[j]
        for j in range(n_t):
            f = 2 * <double>alpha * sums[j]
            if store:
                gs[j0 + j] = <floating>(alpha * eu[j])
                for k in range(n_in):
                    gC[(j0 + j) * n_in + k] = <floating>(f * C[(j0 + j) * n_in + k])
            else:
                gs[j0 + j] += <floating>(alpha * eu[j])
                for k in range(n_in):
                    C[(j0 + j) * n_in + k] = <floating>(
                        (1 + f) * C[(j0 + j) * n_in + k])
    # gC ← gC − 2α Eᵀ D
    mm(True, False, <int>n_out, <int>n_in, <int>batch, <floating>(-2 * alpha),
       E, <int>n_out, D, <int>n_in, <floating>1.0, gC, <int>n_in)


# ------------------------------------------------------------ passes
# A Dense layer's products over a batch of one chunk (a small batch on a
# wide layer: B = 32 on 784-256), U_ℓ = D_{ℓ−1} W_ℓᵀ forward and
# G_{ℓ−1} = Δ_ℓ W_ℓ backward, are cut into column blocks of the result, one
# GEMM each, shared among threads by a Splitter: 4 blocks when the product
# does at least 4·SPLIT_FLOPS operations, 2 at 2·SPLIT_FLOPS, each a
# multiple of 16 columns (every block repacks the left factor, so there
# are few).
cdef double SPLIT_FLOPS = 2e6


cdef Py_ssize_t _block_width(double flops, Py_ssize_t n) noexcept nogil:
    """Columns per block of a product of ``flops`` operations with n
    columns: 4 blocks from 4·SPLIT_FLOPS, 2 from 2·SPLIT_FLOPS, else one,
    each a multiple of 16 columns."""
    cdef Py_ssize_t k = 1
    if flops >= 4 * SPLIT_FLOPS:
        k = 4
    elif flops >= 2 * SPLIT_FLOPS:
        k = 2
    return min(n, ((n + k - 1) // k + 15) // 16 * 16)


cdef inline double _layer_flops(const Net* net, Py_ssize_t l,
                                Py_ssize_t batch) noexcept nogil:
    """Operations of one of layer ℓ's products over ``batch`` rows
    (U_ℓ or G_{ℓ−1}: 2 B d_{ℓ−1} d_ℓ)."""
    return 2.0 * batch * net.sizes[l - 1] * net.sizes[l]


cdef Py_ssize_t forward_blocks(const Net* net, Py_ssize_t l,
                               Py_ssize_t batch) noexcept nogil:
    """Columns per block of layer ℓ's forward product U_ℓ = D_{ℓ−1} W_ℓᵀ
    over ``batch`` rows (d_ℓ: one block, not split)."""
    if net.layer[l - 1].kind != DENSE:
        return net.sizes[l]
    return _block_width(_layer_flops(net, l, batch), net.sizes[l])


cdef Py_ssize_t input_blocks(const Net* net, Py_ssize_t l,
                             Py_ssize_t batch) noexcept nogil:
    """Columns per block of layer ℓ's product G_{ℓ−1} = Δ_ℓ W_ℓ (B × d_{ℓ−1})
    in the backward pass (d_{ℓ−1}: one block)."""
    if net.layer[l - 1].kind != DENSE:
        return net.sizes[l - 1]
    return _block_width(_layer_flops(net, l, batch), net.sizes[l - 1])


cdef struct ColProduct:
    # C = β C + A op(B) (m × n, inner dimension k; op(B) = Bᵀ if trans_b),
    # row-major, in column blocks of ``width`` for ``_product_cols``; with
    # ``bias`` (then β = 1) C's rows are first set to it, else β = 0.
    # void*: float or double, as ``is_double``.
    const void* A
    const void* B
    const void* bias
    void* C
    Py_ssize_t m, n, k, lda, ldb, ldc, width
    bint trans_b, is_double


cdef void _product_cols(ColProduct* c, Py_ssize_t blk,
                        floating* kind) noexcept nogil:
    """Columns j0 ≤ j < j1 of C = A op(B) (+ 1 biasᵀ): block ``blk``."""
    cdef Py_ssize_t i, j0 = blk * c.width, j1 = min(c.n, (blk + 1) * c.width)
    cdef floating* C = <floating*>c.C
    cdef const floating* bias = <const floating*>c.bias
    cdef const floating* B = <const floating*>c.B
    if bias != NULL:
        for i in range(c.m):
            memcpy(C + i * c.ldc + j0, bias + j0, (j1 - j0) * sizeof(floating))
    # column j of op(B): row j of B (trans_b) or column j of B
    mm(False, c.trans_b, <int>c.m, <int>(j1 - j0), <int>c.k, <floating>1.0,
       <const floating*>c.A, <int>c.lda, B + (j0 * c.ldb if c.trans_b else j0),
       <int>c.ldb, <floating>(0.0 if bias == NULL else 1.0), C + j0,
       <int>c.ldc)


cdef void _product_block(void* ctx, Py_ssize_t blk) noexcept nogil:
    """A Splitter's block function for ``_product_cols``."""
    cdef ColProduct* c = <ColProduct*>ctx
    if c.is_double:
        _product_cols(c, blk, <double*>NULL)
    else:
        _product_cols(c, blk, <float*>NULL)


cdef void _run_product(ColProduct* c, Splitter* sp,
                       floating* kind) noexcept nogil:
    """The whole product: in its blocks on ``sp``'s threads, or one call."""
    if sp == NULL or c.width >= c.n:
        c.width = c.n
        _product_cols(c, 0, <floating*>NULL)
    else:
        sp.run(sp, (c.n + c.width - 1) // c.width, _product_block, c)


cdef void _dense_forward(const Net* net, Py_ssize_t l, const floating* params,
                         const floating* z_prev, Py_ssize_t batch, floating* U,
                         Splitter* sp) noexcept nogil:
    """U_ℓ = D_{ℓ−1} W_ℓᵀ + 1 b_ℓᵀ (tied: W is stored transposed, d_{ℓ−1} ×
    d_ℓ), in the column blocks of ``forward_blocks`` on ``sp``'s threads."""
    cdef ColProduct c
    cdef bint tied = net.layer[l - 1].w_trans
    c.A, c.B, c.C = z_prev, params + net.layer[l - 1].w_off, U
    c.bias = params + net.layer[l - 1].b_off
    c.m, c.n, c.k = batch, net.sizes[l], net.sizes[l - 1]
    c.lda, c.ldb, c.ldc = c.k, (c.n if tied else c.k), c.n
    c.trans_b, c.is_double = not tied, floating is double
    c.width = forward_blocks(net, l, batch)
    _run_product(&c, sp, <floating*>NULL)


cdef void _input_product(const Net* net, Py_ssize_t l, const floating* params,
                         const floating* delta, Py_ssize_t batch,
                         floating* G, Splitter* sp) noexcept nogil:
    """G_{ℓ−1} = Δ_ℓ W_ℓ (B × d_{ℓ−1}; tied: W stored transposed), in the
    column blocks of ``input_blocks`` on ``sp``'s threads."""
    cdef ColProduct c
    cdef bint tied = net.layer[l - 1].w_trans
    c.A, c.B, c.C = delta, params + net.layer[l - 1].w_off, G
    c.bias = NULL
    c.m, c.n, c.k = batch, net.sizes[l - 1], net.sizes[l]
    c.lda, c.ldb, c.ldc = c.k, (c.k if tied else c.n), c.n
    c.trans_b, c.is_double = tied, floating is double
    c.width = input_blocks(net, l, batch)
    _run_product(&c, sp, <floating*>NULL)


cdef void forward_pass(const Net* net, const floating* params,
                       const floating* X, Py_ssize_t batch,
                       floating* work, rng_t* rng) noexcept nogil:
    """Fill U_ℓ, Z_ℓ (and D_ℓ, M_ℓ in training) from X (B × d_0).

    ``rng`` NULL is inference: no dropout, no noise.
    """
    forward_pass_split(net, params, X, batch, work, rng, NULL)


cdef void forward_pass_split(const Net* net, const floating* params,
                             const floating* X, Py_ssize_t batch,
                             floating* work, rng_t* rng,
                             Splitter* sp) noexcept nogil:
    """``forward_pass``, each Dense product in column blocks on ``sp``'s
    threads when it is large (``forward_blocks``; sp NULL: whole)."""
    cdef Py_ssize_t l, n_out
    cdef const floating* z_prev = X
    cdef floating* U
    cdef floating* Z
    cdef bint training = rng != NULL
    if training and net.pos[0].ws_d >= 0:
        _corrupt(net, 0, X, batch * net.sizes[0], work, batch, rng)
        z_prev = _at(work, batch, net.pos[0].ws_d)
    for l in range(1, net.n_layers + 1):
        n_out = net.sizes[l]
        U = _at(work, batch, net.pos[l].ws_u)
        Z = _at(work, batch, net.pos[l].ws_z)
        if net.layer[l - 1].kind == RBF:
            # the Δ buffers are free until the backward pass: scratch
            _rbf_forward(&net.layer[l - 1], params, z_prev, batch, U, Z,
                         _at(work, batch, net.ws_delta))
        else:
            _dense_forward(net, l, params, z_prev, batch, U, sp)
            act_forward(net.layer[l - 1].act, net.layer[l - 1].act_param, U, Z,
                        batch, n_out)
        if training and l < net.n_layers and net.pos[l].ws_d >= 0:
            _corrupt(net, l, Z, batch * n_out, work, batch, rng)
            z_prev = _at(work, batch, net.pos[l].ws_d)
        else:
            z_prev = Z


cdef void _bias_step(const floating* delta, Py_ssize_t batch, Py_ssize_t n_out,
                     Py_ssize_t c0, Py_ssize_t c1, floating alpha, bint store,
                     floating* b) noexcept nogil:
    """b_j ← α Σ_i Δ_ij (store) or b_j ← b_j + α Σ_i Δ_ij for c0 ≤ j < c1,
    summing in double in row order."""
    cdef double sums[64]     # one tile of columns: its sums stay in L1
    cdef Py_ssize_t j0, j, n_t
    cdef double a = alpha
    if batch == 1:
        # One row: the sum is 0 + Δ_0j, rounded as _column_sums rounds it;
        # one loop per case, no tiles (online SGD takes this every sample).
        if store:
            for j in range(c0, c1):
                b[j] = <floating>(a * (0.0 + <double>delta[j]))
        else:
            for j in range(c0, c1):
                b[j] = b[j] + <floating>(a * (0.0 + <double>delta[j]))
        return
    for j0 in range(c0, c1, 64):
        n_t = min(<Py_ssize_t>64, c1 - j0)
        _column_sums(delta, batch, n_out, j0, n_t, sums)
        for j in range(n_t):
            if store:
                b[j0 + j] = <floating>(alpha * sums[j])
            else:
                b[j0 + j] += <floating>(alpha * sums[j])


cdef bint split_inputs(const Net* net, Py_ssize_t l) noexcept nogil:
    """Whether ``weight_block`` cuts layer ℓ's W_ℓ (d_ℓ × d_{ℓ−1}) into
    blocks of columns (inputs, when d_{ℓ−1} ≥ d_ℓ) or of rows (outputs)."""
    return net.sizes[l - 1] >= net.sizes[l]


cdef void weight_block(const Net* net, Py_ssize_t l, floating* params,
                       floating* grads, bint store, const floating* z_prev,
                       const floating* delta, const floating* U,
                       Py_ssize_t batch, floating alpha, floating beta,
                       Py_ssize_t k0, Py_ssize_t k1) noexcept nogil:
    """Layer ℓ's weight step over a batch of B rows, on one block.

    Dense: W ← β W + α Δ_ℓᵀ D_{ℓ−1} and b ← α Σ_i Δ_ℓ,i (store: into
    ``grads``, else b += that, into ``params``), restricted to the columns
    k0 ≤ k < k1 of W (inputs; the bias with the block k0 = 0) when
    ``split_inputs``, else to its rows k0 ≤ j < k1 (outputs, with b_j).
    Blocks write disjoint entries, so they can run on different threads.
    A tied W (stored as W_ℓᵀ, another layer's matrix) takes the whole
    layer: the owner's block += α D_{ℓ−1}ᵀ Δ_ℓ.  RBF: the whole layer
    (``_rbf_step``, which needs U_ℓ).
    """
    cdef Py_ssize_t n_in = net.sizes[l - 1], n_out = net.sizes[l]
    cdef floating* dst = grads if store else params
    cdef floating* W = dst + net.layer[l - 1].w_off
    cdef floating* b = dst + net.layer[l - 1].b_off
    if net.layer[l - 1].kind == RBF:
        _rbf_step(&net.layer[l - 1], params, z_prev, delta, U, batch, alpha,
                  store, grads)
    elif net.layer[l - 1].w_trans:
        # Owner's (d_{ℓ−1} × d_ℓ) block += α D_{ℓ−1}ᵀ Δ_ℓ = (α Δ_ℓᵀ D_{ℓ−1})ᵀ
        mm(True, False, <int>n_in, <int>n_out, <int>batch, alpha,
           z_prev, <int>n_in, delta, <int>n_out, beta, W, <int>n_out)
        _bias_step(delta, batch, n_out, 0, n_out, alpha, store, b)
    elif split_inputs(net, l):
        # W[:, k0:k1] ← β W[:, k0:k1] + α Δᵀ D[:, k0:k1]
        mm(True, False, <int>n_out, <int>(k1 - k0), <int>batch, alpha,
           delta, <int>n_out, z_prev + k0, <int>n_in, beta, W + k0, <int>n_in)
        if k0 == 0:
            _bias_step(delta, batch, n_out, 0, n_out, alpha, store, b)
    else:
        # W[k0:k1, :] ← β W[k0:k1, :] + α Δ[:, k0:k1]ᵀ D
        mm(True, False, <int>(k1 - k0), <int>n_in, <int>batch, alpha,
           delta + k0, <int>n_out, z_prev, <int>n_in, beta, W + k0 * n_in,
           <int>n_in)
        _bias_step(delta, batch, n_out, k0, k1, alpha, store, b)


cdef void _online_layer(const Net* net, Py_ssize_t i, floating* params,
                        const floating* delta, const floating* z,
                        floating alpha, const OnlineStep* st) noexcept nogil:
    """One optimiser step on W_ℓ, b_ℓ (layer ℓ = i + 1) from one sample's
    gradient ∇W_ℓ = α δ_ℓ z_{ℓ−1}ᵀ, ∇b_ℓ = α δ_ℓ (α = 1/w for a sample of
    weight w), a row of W at a time: ``update_row`` forms the row's
    gradient α δ_j z_{ℓ−1} in registers as it updates the row, so W, its
    state and the gradient are walked once (no gradient buffer goes to
    memory).  Each gradient element is rounded as the GRADIENT pass rounds
    it (GER into zeroed grads: 0 + (α δ_j)·z_k; the bias, through a tile in
    L1, as ``_bias_step``), so the step is bit-identical to apply_update's.
    The rule's constants are rounded once per layer (``span_constants``).
    """
    cdef floating tile[256]     # a tile of bias gradient elements, in L1
    cdef Py_ssize_t n_in = net.sizes[i], n_out = net.sizes[i + 1]
    cdef Py_ssize_t w_off = net.layer[i].w_off, b_off = net.layer[i].b_off
    cdef Py_ssize_t j, k, k0, n_t, off
    cdef floating* s1 = <floating*>st.s1
    cdef floating* s2 = <floating*>st.s2
    cdef pynn_update_t u
    span_constants(&st.rule, st.rule.l2, 1.0, st.c1, st.c2, &u)
    for j in range(n_out):
        off = w_off + j * n_in
        update_row(&u, n_in, params + off, alpha * delta[j], z,
                   NULL if s1 == NULL else s1 + off,
                   NULL if s2 == NULL else s2 + off)
    for k0 in range(0, n_out, 256):
        n_t = min(<Py_ssize_t>256, n_out - k0)
        for k in range(n_t):
            tile[k] = <floating>(<double>alpha * (0.0 + <double>delta[k0 + k]))
        off = b_off + k0
        update_span(params + off, tile, NULL if s1 == NULL else s1 + off,
                    NULL if s2 == NULL else s2 + off, n_t, &st.rule, 0.0,
                    1.0, st.c1, st.c2)


cdef inline Py_ssize_t _n_packed(const Net* net) noexcept nogil:
    """Elements of params the layers use (the last b_L ends the buffer)."""
    return net.layer[net.n_layers - 1].b_off + net.sizes[net.n_layers]


cdef void _backward_layers(const Net* net, floating* params,
                           const floating* X, Py_ssize_t batch, int mode,
                           double lr, floating* grads, floating* out,
                           floating* work, bint training,
                           floating* delta, double norm,
                           const OnlineStep* online, floating** panels,
                           Py_ssize_t r0, Splitter* sp) noexcept nogil:
    """Layers L … 1 of the backward pass, from the output delta in ``delta``.

    ``norm`` divides the summed gradient: the batch size B, or Σ_i w_i when
    the rows of ``delta`` carry sample weights.  ``online``: the step of
    ONLINE_STEP mode (NULL otherwise).  DELTAS mode takes no weight step
    and leaves Δ_ℓ in rows r0 … r0 + B − 1 of ``panels[ℓ − 1]`` (each a
    matrix of rows of d_ℓ; ``delta`` is already Δ_L's place there).
    ``sp``: where the products G_{ℓ−1} = Δ_ℓ W_ℓ run in column blocks (NULL:
    whole).
    """
    cdef Py_ssize_t L = net.n_layers, l, i, n_in, n_out
    cdef Py_ssize_t buf = batch * net.max_width
    cdef floating* g_prev = delta + buf
    cdef floating* swap
    cdef floating* W
    cdef floating* dst
    cdef const floating* M
    cdef const floating* z_prev
    cdef floating alpha, beta
    cdef bint tied
    if mode == SGD_UPDATE:
        alpha = <floating>(-lr / norm)
    else:               # GRADIENT, ONLINE_STEP: the gradient's scale
        alpha = <floating>(1.0 / norm)
    # Tied matrices get two contributions: zero first, then accumulate.
    beta = 1 if (mode == SGD_UPDATE or net.has_tied) else 0
    if mode == GRADIENT and net.has_tied:
        memset(grads, 0, _n_packed(net) * sizeof(floating))

    for l in range(L, 0, -1):
        n_in = net.sizes[l - 1]
        n_out = net.sizes[l]
        if mode == DELTAS and l > 1:
            g_prev = panels[l - 2] + r0 * n_in
        tied = net.layer[l - 1].w_trans
        W = params + net.layer[l - 1].w_off
        z_prev = _seen(net, batch, work, X, l - 1, training)

        # G_{ℓ−1} = Δ_ℓ W_ℓ with the weights before any update.
        if l > 1 or mode == INPUT_GRADIENT:
            dst = out if l == 1 else g_prev
            if net.layer[l - 1].kind == RBF:
                _rbf_input_gradient(&net.layer[l - 1], params, z_prev, delta,
                                    batch, dst)
            else:
                _input_product(net, l, params, delta, batch, dst, sp)
            if training and net.pos[l - 1].ws_m >= 0:
                M = _at(work, batch, net.pos[l - 1].ws_m)
                for i in range(batch * n_in):
                    dst[i] *= M[i]

        if mode == GRADIENT or mode == SGD_UPDATE:
            weight_block(net, l, params, grads, mode == GRADIENT, z_prev,
                         delta, _at(work, batch, net.pos[l].ws_u), batch,
                         alpha, beta, 0,
                         n_in if split_inputs(net, l) else n_out)
        elif mode == ONLINE_STEP:
            _online_layer(net, l - 1, params, delta, z_prev, alpha, online)

        if l > 1:
            if net.pos[l - 1].penalty != NO_PENALTY:
                _penalty(net, l - 1, _at(work, batch, net.pos[l - 1].ws_z), batch,
                         g_prev)
            if net.layer[l - 2].kind == RBF:
                _rbf_delta(&net.layer[l - 2], params,
                           _at(work, batch, net.pos[l - 1].ws_z), batch, g_prev)
            else:
                act_backward(net.layer[l - 2].act, net.layer[l - 2].act_param,
                             _at(work, batch, net.pos[l - 1].ws_u),
                             _at(work, batch, net.pos[l - 1].ws_z), g_prev,
                             batch, n_in)
            swap = delta
            delta = g_prev
            g_prev = swap


cdef void backward_into_step(const Net* net, floating* params,
                             const floating* X, Py_ssize_t batch, double lr,
                             floating* grads, floating* work, bint training,
                             floating* delta, double norm) noexcept nogil:
    """SGD for nets with tied weights: grads ← ∇ (GRADIENT pass reusing the
    output delta already in ``delta``), then params ← params − η grads."""
    cdef Py_ssize_t i, n = _n_packed(net)
    _backward_layers(net, params, X, batch, GRADIENT, 0.0, grads, NULL, work,
                     training, delta, norm, NULL, NULL, 0, NULL)
    for i in range(n):
        params[i] -= <floating>(lr * grads[i])


cdef double _weighted_loss(const Net* net, const floating* T,
                           Py_ssize_t batch, int loss, floating* work,
                           floating* delta, const floating* sw,
                           double* norm) noexcept nogil:
    """Σ_i w_i L_i with each row of the output delta scaled by w_i.

    Row by row (the loss kernel on one sample at a time), so that a weight
    of 1 gives that row's unweighted delta exactly.  ``norm`` ← Σ_i w_i.
    """
    cdef Py_ssize_t L = net.n_layers, i, j, d = net.sizes[L]
    cdef const floating* U = _at(work, batch, net.pos[L].ws_u)
    cdef const floating* Z = _at(work, batch, net.pos[L].ws_z)
    cdef double total = 0, wsum = 0
    for i in range(batch):
        total += sw[i] * loss_and_delta(
            loss, net.layer[L - 1].act, net.layer[L - 1].act_param, U + i * d,
            Z + i * d, T + i * d, NULL if delta == NULL else delta + i * d,
            1, d)
        wsum += sw[i]
        if delta != NULL:
            for j in range(d):
                delta[i * d + j] *= sw[i]
    norm[0] = wsum
    return total


cdef double backward_pass(const Net* net, floating* params, const floating* X,
                          const floating* T, Py_ssize_t batch, int loss,
                          int mode, double lr, floating* grads,
                          floating* out, floating* work,
                          bint training, const floating* sw) noexcept nogil:
    """Backpropagate after ``forward_pass`` (see ``_backward``)."""
    return _backward(net, params, X, T, batch, loss, mode, lr, grads, out,
                     work, training, sw, NULL, NULL, 0)


cdef double online_step_pass(const Net* net, floating* params,
                             const floating* X, const floating* T, int loss,
                             const OnlineStep* step, floating* work,
                             bint training, const floating* sw) noexcept nogil:
    """After ``forward_pass`` on one sample (batch 1): backpropagate and
    apply the optimiser step ``step`` layer by layer as the pass goes
    (ONLINE_STEP, see ``_online_layer``); only for nets that
    ``online_step_supported``.  The result is bit-identical to the
    GRADIENT pass followed by ``apply_update`` of _train.pyx.  Returns the
    loss as ``backward_pass``; a non-finite loss takes no step.
    """
    return _backward(net, params, X, T, 1, loss, ONLINE_STEP, 0.0, NULL,
                     NULL, work, training, sw, step, NULL, 0)


cdef double backward_deltas(const Net* net, const floating* params,
                            const floating* X, const floating* T,
                            Py_ssize_t n, int loss, floating* work,
                            bint training, const floating* sw,
                            floating** deltas, Py_ssize_t r0,
                            Splitter* sp) noexcept nogil:
    """After ``forward_pass`` on rows r0 … r0 + n − 1 of a batch (X, T and
    ``sw`` those rows, ``work`` a workspace of n rows): the deltas
    Δ_ℓ = ∂L/∂U_ℓ of those rows (Δ_L with the rows scaled by w_i) into
    rows r0 … of ``deltas[ℓ − 1]`` (B × d_ℓ each), for ℓ = L … 1, and no
    weight step: ``weight_block`` then forms the batch's Δ_ℓᵀ D_{ℓ−1}
    over all its rows.  Returns Σ_i w_i L_i over the rows (nets with
    activity penalties, whose Δ depends on the whole batch, must not be
    split).  ``sp``: where the products Δ_ℓ W_ℓ run in column blocks (NULL:
    whole).
    """
    return _backward_sp(net, <floating*>params, X, T, n, loss, DELTAS, 0.0,
                        NULL, NULL, work, training, sw, NULL, deltas, r0, sp)


cdef bint online_step_supported(const Net* net) noexcept nogil:
    """Whether ``online_step_pass`` can train this net: dense layers that
    own their weights (a tied matrix must not change before its second use
    is backpropagated), whose W and b are exactly the trainable regions."""
    cdef Py_ssize_t l
    if net.has_tied or net.n_regions != 2 * net.n_layers:
        return False
    for l in range(net.n_layers):
        if net.layer[l].kind != DENSE:
            return False
    return True


# Whether run_batches may train batch-1 plain SGD through the fused step
# (``set_fused_sgd``: False forces the unfused path, for comparison).
cdef bint _fused_sgd_enabled = True
# The float32 AVX2 fused step defers W_1's update into the next sample's
# forward product (one pass over W_1) when d_0·d_1 is at least this.  On
# every net by default: measured (bench/small_nets.py, same load, against
# not deferring) 784-128-10 18.0 → 14.6 µs a sample, 64-32-10 FANN ratio
# 6.3–6.9× → 7.7–8.2×.
cdef Py_ssize_t _fused_defer_min = 0


def set_fused_defer_min(Py_ssize_t n):
    """Set the d_0·d_1 from which the fused step defers W_1's update to
    the next sample's forward pass (same bits either way; for tests and
    benchmarks); returns the previous value."""
    global _fused_defer_min
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    old = _fused_defer_min
    _fused_defer_min = n
    return old


def set_fused_sgd(bint enabled):
    """Let (True, the default) or forbid ``run_batches`` to take the fused
    batch-1 SGD step of csrc/_fused.c; returns the previous setting.  Both
    paths give bit-identical parameters; this exists for tests and
    benchmarks."""
    global _fused_sgd_enabled
    old = _fused_sgd_enabled
    _fused_sgd_enabled = enabled
    return old


def fused_sgd_qualifies(Layout layout, int loss):
    """Whether ``run_batches`` trains this layout with ``loss`` (a loss code)
    through the fused batch-1 SGD step when the optimiser is plain SGD and
    batch_size is 1 (``fused_sgd_supported`` under pynn._blas's current
    product limits)."""
    from pynn import _blas
    return bool(fused_sgd_supported(&layout.net, loss,
                                    _blas.get_small_product_limit(),
                                    _blas.get_vector_kernel_limit()))


cdef inline bint _small_product(Py_ssize_t n_in, Py_ssize_t n_out,
                                Py_ssize_t small_limit,
                                Py_ssize_t vector_limit) noexcept nogil:
    """Whether pynn._blas.mm sends each batch-1 product of a Dense layer
    (u = W z: 1 × d_ℓ × d_{ℓ−1}; g = δᵀ W: 1 × d_{ℓ−1} × d_ℓ; the rank-1
    update: d_ℓ × d_{ℓ−1} × 1) to the kernels of _small.c: the hand loops
    up to ``small_limit`` multiply-adds, else the vector kernels up to
    ``vector_limit`` (but u = W z with d_{ℓ−1} = 1 is a GER of OpenBLAS)."""
    cdef Py_ssize_t n = n_in * n_out
    return n <= small_limit or (n <= vector_limit and n_in > 1)


cdef bint fused_sgd_supported(const Net* net, int loss,
                              Py_ssize_t small_limit,
                              Py_ssize_t vector_limit) noexcept nogil:
    """Whether the fused batch-1 SGD step (csrc/_fused.h) trains this net
    with the bits of forward_pass + backward_pass(SGD_UPDATE): the squared
    error; at most PYNN_FUSED_MAX_LAYERS Dense layers that own their
    weights (no tying), with identity, sigmoid, tanh or ReLU activations;
    no dropout, noise or activity penalty; W and b exactly the trainable
    regions; every product on the kernels of _small.c under pynn._blas's
    current limits (``_small_product``); and ``set_fused_sgd`` not off."""
    cdef Py_ssize_t l
    cdef int a
    if not _fused_sgd_enabled or loss != SQUARED_ERROR:
        return False
    if (net.has_tied or net.has_penalty or net.n_layers > PYNN_FUSED_MAX_LAYERS
            or net.n_regions != 2 * net.n_layers):
        return False
    for l in range(net.n_layers + 1):
        if net.pos[l].ws_d >= 0 or net.pos[l].dropout > 0 or net.pos[l].noise > 0:
            return False
    for l in range(net.n_layers):
        a = net.layer[l].act
        if net.layer[l].kind != DENSE or net.layer[l].w_trans:
            return False
        if not (a == IDENTITY or a == SIGMOID or a == TANH or a == RELU):
            return False
        if not _small_product(net.sizes[l], net.sizes[l + 1], small_limit,
                              vector_limit):
            return False
    return True


cdef void fused_sgd_describe(const Net* net, int variant,
                             pynn_fused_net* out) noexcept nogil:
    """The net as the fused step reads it (``fused_sgd_supported`` nets):
    sizes, activations, parameter offsets and the workspace offsets of a
    batch of one row (U_ℓ, Z_ℓ, the two delta buffers)."""
    cdef Py_ssize_t l, L = net.n_layers
    out.n_layers, out.variant = <int>L, variant
    out.sizes[0] = <int>net.sizes[0]
    out.u_off[0] = out.z_off[0] = 0
    for l in range(L):
        out.sizes[l + 1] = <int>net.sizes[l + 1]
        out.act[l] = net.layer[l].act
        out.w_off[l], out.b_off[l] = net.layer[l].w_off, net.layer[l].b_off
        out.u_off[l + 1] = net.pos[l + 1].ws_u
        out.z_off[l + 1] = net.pos[l + 1].ws_z
    out.d_off, out.max_width = net.ws_delta, net.max_width
    out.pend, out.pending = NULL, 0     # the caller's, for a deferred step
    out.defer_min = _fused_defer_min


cdef double _backward_sp(const Net* net, floating* params, const floating* X,
                      const floating* T, Py_ssize_t batch, int loss,
                      int mode, double lr, floating* grads,
                      floating* out, floating* work, bint training,
                      const floating* sw, const OnlineStep* online,
                      floating** panels, Py_ssize_t r0,
                      Splitter* sp) noexcept nogil:
    """Backpropagate after ``forward_pass`` on the same X, work and mode.

    Returns Σ_i L_i + B·P, or with sample weights ``sw`` (NULL: all 1)
    Σ_i w_i L_i, the gradient then being Σ_i w_i ∇L_i / Σ_i w_i (nets with
    activity penalties take no weights: the caller refuses them).  A batch
    whose weights sum to 0 leaves params unchanged and grads 0.  In
    SGD_UPDATE mode a non-finite loss leaves params untouched (the caller
    reports it).  ``grads`` is used in GRADIENT mode, and in SGD_UPDATE mode
    for nets with tied weights; ``out`` (B × d_0) in INPUT_GRADIENT mode;
    ``lr`` in SGD_UPDATE mode; ``online`` in ONLINE_STEP mode (then
    batch = 1); ``training`` says whether the forward pass applied
    dropout/noise; ``sp`` (DELTAS mode) where the products Δ_ℓ W_ℓ run in
    column blocks.
    """
    cdef Py_ssize_t L = net.n_layers, l
    cdef floating* delta = _at(work, batch, net.ws_delta)
    cdef floating* U = _at(work, batch, net.pos[L].ws_u)
    if mode == DELTAS:
        delta = panels[L - 1] + r0 * net.sizes[L]
    cdef double total, norm = batch
    cdef floating* d_out = NULL if mode == LOSS_ONLY else delta

    if sw == NULL or mode == INPUT_GRADIENT:
        total = loss_and_delta(loss, net.layer[L - 1].act, net.layer[L - 1].act_param,
                               U, _at(work, batch, net.pos[L].ws_z), T, d_out,
                               batch, net.sizes[L])
    else:
        total = _weighted_loss(net, T, batch, loss, work, d_out, sw, &norm)
    if net.has_penalty:
        for l in range(1, L):
            total += _penalty(net, l, _at(work, batch, net.pos[l].ws_z), batch, NULL)
    if mode == LOSS_ONLY:
        return total
    if mode == DELTAS:      # every row's deltas, whatever the loss or weights
        _backward_layers(net, params, X, batch, mode, lr, grads, out, work,
                         training, delta, 1.0, online, panels, r0, sp)
        return total
    if (mode == SGD_UPDATE or mode == ONLINE_STEP) and not isfinite(total):
        return total        # never step on a non-finite loss: keep W as is
    if norm == 0:           # every weight 0: nothing to learn from
        if mode == GRADIENT:
            memset(grads, 0, _n_packed(net) * sizeof(floating))
        return total
    if mode == SGD_UPDATE and net.has_tied:
        # A shared matrix must not change before its other use has been
        # backpropagated: compute the gradient, then step.  (grads required)
        backward_into_step(net, params, X, batch, lr, grads, work, training,
                           delta, norm)
        return total
    _backward_layers(net, params, X, batch, mode, lr, grads, out, work,
                     training, delta, norm, online, NULL, 0, NULL)
    return total


# ------------------------------------------------------------ entry points
cdef inline double _backward(const Net* net, floating* params,
                             const floating* X, const floating* T,
                             Py_ssize_t batch, int loss, int mode, double lr,
                             floating* grads, floating* out, floating* work,
                             bint training, const floating* sw,
                             const OnlineStep* online, floating** panels,
                             Py_ssize_t r0) noexcept nogil:
    """``_backward_sp`` with every product whole."""
    return _backward_sp(net, params, X, T, batch, loss, mode, lr, grads, out,
                        work, training, sw, online, panels, r0, NULL)


cdef class Layout:
    """The architecture as C arrays for the kernels.

    Parameters
    ----------
    sizes : d_0 … d_L;  acts, act_params : per layer (codes of _activations)
    w_offsets, b_offsets : where each W_ℓ / b_ℓ starts in params (default:
        packed in order, W_ℓ then b_ℓ)
    n_params : length of the params buffer (default: what the offsets need)
    w_trans : per layer, 1 if W_ℓ is tied (stored transposed elsewhere)
    dropout, noise : per layer input ℓ = 0 … L−1 (training only)
    penalty, penalty_weight, penalty_target : per ℓ = 0 … L (hidden only)
    kinds : per layer, a LayerKind (default all DENSE).  An RBF layer keeps
        its centres C (d_ℓ × d_{ℓ−1}) where a Dense layer keeps W and
        s = log β (d_ℓ) where it keeps b; its activation code is ignored.
        It must be a hidden layer (the losses act on a Dense output) and
        cannot be tied.
    """

    def __init__(self, sizes, acts, act_params, w_offsets=None, b_offsets=None,
                 n_params=None, w_trans=None, dropout=None, noise=None,
                 penalty=None, penalty_weight=None, penalty_target=None,
                 kinds=None):
        self.sizes = np.ascontiguousarray(sizes, dtype=np.intp)
        L = len(self.sizes) - 1
        self.acts = np.ascontiguousarray(acts, dtype=np.intc)
        self.act_params = np.ascontiguousarray(act_params, dtype=np.float64)
        if L < 1 or len(self.acts) != L or len(self.act_params) != L:
            raise ValueError("need L ≥ 1 layers with one activation each")
        if (self.sizes < 1).any() or (self.sizes > INT_MAX).any():
            raise ValueError(f"layer sizes must be in [1, {INT_MAX}]")
        if ((self.acts < 0) | (self.acts >= N_ACTIVATIONS)).any():
            raise ValueError("unknown activation code")

        def per(values, n, dtype, default=0):
            arr = np.full(n, default, dtype=dtype) if values is None else \
                np.ascontiguousarray(values, dtype=dtype)
            if arr.shape != (n,):
                raise ValueError(f"expected {n} per-layer values, got {arr.shape}")
            return arr

        self.w_trans = per(w_trans, L, np.intc)
        self.kinds = per(kinds, L, np.intc, DENSE)
        if ((self.kinds != DENSE) & (self.kinds != RBF)).any():
            raise ValueError("unknown layer kind code")
        if self.kinds[L - 1] == RBF:
            raise ValueError("the output layer must be Dense (an RBF layer "
                             "is a hidden layer)")
        if (self.w_trans.astype(bool) & (self.kinds == RBF)).any():
            raise ValueError("an RBF layer cannot be tied")
        if w_offsets is None:
            w_off, b_off, off = [], [], 0
            for l in range(L):
                w_off.append(off)
                off += int(self.sizes[l]) * int(self.sizes[l + 1])
                b_off.append(off)
                off += int(self.sizes[l + 1])
            w_offsets, b_offsets = w_off, b_off
        self.w_offsets = per(w_offsets, L, np.intp)
        self.b_offsets = per(b_offsets, L, np.intp)
        need = max(max(int(self.w_offsets[l]) + int(self.sizes[l]) * int(self.sizes[l + 1]),
                       int(self.b_offsets[l]) + int(self.sizes[l + 1]))
                   for l in range(L))
        self.n_params = need if n_params is None else int(n_params)
        if self.n_params < need or (self.w_offsets < 0).any() \
                or (self.b_offsets < 0).any():
            raise ValueError("parameter offsets fall outside params")
        self.dropout = per(dropout, L + 1, np.float64)
        self.noise = per(noise, L + 1, np.float64)
        if ((self.dropout < 0) | (self.dropout >= 1)).any() or (self.noise < 0).any():
            raise ValueError("dropout rates must lie in [0, 1), noise ≥ 0")
        if self.dropout[L] or self.noise[L]:
            raise ValueError("no dropout or noise on the output layer")
        self.penalty = per(penalty, L + 1, np.intc)
        self.penalty_weight = per(penalty_weight, L + 1, np.float64)
        self.penalty_target = per(penalty_target, L + 1, np.float64)
        if ((self.penalty < NO_PENALTY) | (self.penalty >= N_PENALTIES)).any():
            raise ValueError("unknown penalty code")
        if self.penalty[0] or self.penalty[L]:
            raise ValueError("activity penalties apply to hidden layers only")

        # Workspace offsets in elements per batch row.
        ws = np.full((4, L + 1), -1, dtype=np.intp)
        off = 0
        for l in range(L + 1):
            d = int(self.sizes[l])
            if l:
                ws[0, l], ws[1, l] = off, off + d
                off += 2 * d
            if l < L and (self.dropout[l] > 0 or self.noise[l] > 0):
                ws[2, l] = off
                off += d
            if l < L and self.dropout[l] > 0:
                ws[3, l] = off
                off += d
        max_width = int(self.sizes.max())
        self._ws = ws
        self.regions = self._make_regions(L)
        self._fill_net(L, off, max_width)

    def _make_regions(self, L):
        """The trainable regions of params, one row (offset, size, is_weight)
        each: W_ℓ (unless tied: it belongs to its owner) then b_ℓ, per layer.

        The optimiser update, the L2 penalty (on rows with is_weight = 1)
        and gradient norms all walk this one list.  An RBF layer's centres
        and log-widths are not weights (is_weight = 0): L2 would pull the
        centres towards the origin of the input space and the widths
        towards β = 1, neither of which makes the function smoother.
        """
        rows = []
        for l in range(L):
            if not self.w_trans[l]:
                rows.append((self.w_offsets[l],
                             self.sizes[l] * self.sizes[l + 1],
                             int(self.kinds[l] == DENSE)))
            rows.append((self.b_offsets[l], self.sizes[l + 1], 0))
        return np.ascontiguousarray(rows, dtype=np.intp).reshape(-1, 3)

    cdef _fill_net(self, Py_ssize_t L, Py_ssize_t off, Py_ssize_t max_width):
        """The kernels' view: one LayerDesc per layer, one PosDesc per
        activation, built once from the per-layer arrays."""
        cdef Py_ssize_t[::1] sz = self.sizes
        cdef Py_ssize_t[:, ::1] rg = self.regions
        cdef Py_ssize_t l
        PyMem_Free(self._layers)         # __init__ called again
        PyMem_Free(self._pos)
        self._layers = <LayerDesc*>PyMem_Malloc(L * sizeof(LayerDesc))
        self._pos = <PosDesc*>PyMem_Malloc((L + 1) * sizeof(PosDesc))
        if self._layers == NULL or self._pos == NULL:
            raise MemoryError()
        for l in range(L):
            self._layers[l].kind = self.kinds[l]
            self._layers[l].n_in = self.sizes[l]
            self._layers[l].n_out = self.sizes[l + 1]
            self._layers[l].w_off = self.w_offsets[l]
            self._layers[l].b_off = self.b_offsets[l]
            self._layers[l].w_trans = self.w_trans[l] != 0
            self._layers[l].act = self.acts[l]
            self._layers[l].act_param = self.act_params[l]
        for l in range(L + 1):
            self._pos[l].dropout = self.dropout[l]
            self._pos[l].noise = self.noise[l]
            self._pos[l].penalty = self.penalty[l]
            self._pos[l].penalty_weight = self.penalty_weight[l]
            self._pos[l].penalty_target = self.penalty_target[l]
            self._pos[l].ws_u = self._ws[0, l]
            self._pos[l].ws_z = self._ws[1, l]
            self._pos[l].ws_d = self._ws[2, l]
            self._pos[l].ws_m = self._ws[3, l]
        self.net.n_layers = L
        self.net.sizes = &sz[0]
        self.net.layer = self._layers
        self.net.pos = self._pos
        self.net.regions = &rg[0, 0]
        self.net.n_regions = rg.shape[0]
        self.net.ws_delta = off
        self.net.ws_row = off + 2 * max_width
        self.net.max_width = max_width
        self.net.has_tied = bool(np.any(self.w_trans))
        self.net.has_penalty = bool(np.any(self.penalty))

    def __dealloc__(self):
        PyMem_Free(self._layers)
        PyMem_Free(self._pos)

    @property
    def has_penalty(self):
        """Whether any hidden layer carries an activity penalty."""
        return bool(self.net.has_penalty)

    @property
    def stochastic(self):
        """Whether training applies dropout or noise anywhere."""
        return bool(np.any(self.dropout) or np.any(self.noise))

    def workspace_size(self, Py_ssize_t batch):
        return workspace_size(&self.net, batch)


def forward(Layout layout, const floating[::1] params,
            const floating[:, ::1] X, floating[::1] work, seed=None):
    """Run the forward pass; returns a view of Z_L inside ``work``.

    ``seed`` None is inference; an integer applies dropout/noise with masks
    drawn from it (training mode).
    """
    cdef Py_ssize_t B = X.shape[0]
    cdef rng_t state = 0
    cdef rng_t* rng = NULL
    _check(layout, params, X, work)
    if seed is not None:
        state = <rng_t>(int(seed) & 0xFFFFFFFFFFFFFFFF)
        rng = &state
    if B:
        # Inference runs in the caller's floating-point state (subnormals
        # exact, as NumPy and onnxruntime compute them); training entry
        # points flush them (_fpenv.pxd).
        with nogil:
            forward_pass(&layout.net, &params[0], &X[0, 0], B, &work[0], rng)
    L = layout.net.n_layers
    start = B * layout.net.pos[L].ws_z
    return np.asarray(work)[start:start + B * layout.net.sizes[L]].reshape(
        B, layout.net.sizes[L])


def backward(Layout layout, floating[::1] params, const floating[:, ::1] X,
             const floating[:, ::1] T, int loss, int mode, double lr,
             floating[::1] grads, floating[:, ::1] out, floating[::1] work,
             seed=None, const floating[::1] sample_weight=None):
    """Forward then backward on (X, T); returns Σ_i L_i + B·P.

    ``seed`` as for ``forward`` (the same seed gives the same masks).
    ``sample_weight`` (one w_i ≥ 0 per row, or None) weights the loss and
    the gradient: Σ_i w_i L_i is returned and the gradient (or step) is
    Σ_i w_i ∇L_i / Σ_i w_i.
    """
    cdef Py_ssize_t B = X.shape[0]
    cdef double total
    cdef rng_t state = 0
    cdef rng_t* rng = NULL
    _check(layout, params, X, work)
    if T.shape[0] != B or T.shape[1] != layout.net.sizes[layout.net.n_layers]:
        raise ValueError("T must have shape (batch, n_out)")
    if mode == GRADIENT and grads.shape[0] != params.shape[0]:
        raise ValueError("grads must have the size of params")
    if mode == INPUT_GRADIENT and (out.shape[0] != B or out.shape[1] != X.shape[1]):
        raise ValueError("out must have the shape of X")
    if not 0 <= mode < N_MODES:
        raise ValueError(f"unknown mode {mode}")
    if not 0 <= loss < N_LOSSES:
        raise ValueError(f"unknown loss code {loss}")
    if B == 0:
        raise ValueError("backward needs at least one sample")
    if sample_weight is not None and sample_weight.shape[0] != B:
        raise ValueError("sample_weight must have one entry per row of X")
    if sample_weight is not None and layout.net.has_penalty:
        raise ValueError("sample weights do not combine with activity penalties")
    cdef const floating* sw = NULL if sample_weight is None else &sample_weight[0]
    if seed is not None:
        state = <rng_t>(int(seed) & 0xFFFFFFFFFFFFFFFF)
        rng = &state
    if mode == SGD_UPDATE and layout.net.has_tied and (
            grads is None or grads.shape[0] != params.shape[0]):
        raise ValueError("SGD with tied weights needs a grads buffer")
    cdef floating* g = &grads[0] if (mode == GRADIENT or (
        mode == SGD_UPDATE and layout.net.has_tied)) else NULL
    cdef floating* o = &out[0, 0] if mode == INPUT_GRADIENT else NULL
    cdef fpenv_t fpe
    with nogil:
        fpe = fpenv_enter()
        forward_pass(&layout.net, &params[0], &X[0, 0], B, &work[0], rng)
        total = backward_pass(&layout.net, &params[0], &X[0, 0], &T[0, 0], B,
                              loss, mode, lr, g, o, &work[0], rng != NULL, sw)
        fpenv_exit(fpe)
    return total


cdef _check(Layout layout, const floating[::1] params, const floating[:, ::1] X,
            floating[::1] work):
    if X.shape[0] > INT_MAX:
        raise ValueError(f"a batch of {X.shape[0]} rows exceeds the BLAS "
                         f"limit {INT_MAX}; split it")
    if params.shape[0] != layout.n_params:
        raise ValueError(f"params has {params.shape[0]} elements, "
                         f"the layout needs {layout.n_params}")
    if X.shape[1] != layout.net.sizes[0]:
        raise ValueError(f"X has {X.shape[1]} features, expected "
                         f"{layout.net.sizes[0]}")
    if work.shape[0] < workspace_size(&layout.net, X.shape[0]):
        raise ValueError("work buffer too small")
