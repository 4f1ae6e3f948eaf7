# Forward and backward passes of a whole MLP over one flat parameter buffer.
from cython cimport floating

cdef struct Net:
    Py_ssize_t n_layers          # L
    const Py_ssize_t* sizes      # d_0 … d_L
    const int* acts              # φ_1 … φ_L (Activation codes), index ℓ−1
    const double* act_params     # their parameters, index ℓ−1
    const Py_ssize_t* w_offsets  # W_ℓ starts at params[w_offsets[ℓ−1]]
    const Py_ssize_t* b_offsets  # b_ℓ starts at params[b_offsets[ℓ−1]]
    const int* w_trans           # 1: W_ℓ is tied, stored as (d_{ℓ−1} × d_ℓ) = W_ℓᵀ
    const double* dropout        # index ℓ = 0 … L−1: inverted-dropout rate on Z_ℓ
    const double* noise          # index ℓ = 0 … L−1: Gaussian noise σ on Z_ℓ
    const int* penalty           # index ℓ: activity penalty kind on Z_ℓ (hidden)
    const double* penalty_weight
    const double* penalty_target
    # Workspace, in elements per batch row: U_ℓ, Z_ℓ, D_ℓ (Z_ℓ as the next
    # layer sees it, after dropout/noise; −1: none) and masks M_ℓ (−1: none).
    const Py_ssize_t* ws_u
    const Py_ssize_t* ws_z
    const Py_ssize_t* ws_d
    const Py_ssize_t* ws_m
    Py_ssize_t ws_delta          # two max_width buffers for Δ / G
    Py_ssize_t ws_row            # total per row
    Py_ssize_t max_width         # max_ℓ d_ℓ, including d_0
    bint has_tied
    bint has_penalty
    # Trainable regions (offset, size, is_weight) × n_regions, row-major:
    # what the optimiser, L2 and gradient norms walk (see Layout.regions).
    const Py_ssize_t* regions
    Py_ssize_t n_regions

cpdef enum BackwardMode:
    GRADIENT = 0        # grads ← mean over the batch of δ zᵀ (and δ)
    SGD_UPDATE = 1      # params ← params − η · that mean, fused, no grads
    INPUT_GRADIENT = 2  # out ← per-sample ∂L_i/∂x_i = δ_1 W_1
    LOSS_ONLY = 3       # just Σ_i L_i

cpdef enum Penalty:
    NO_PENALTY = 0
    KL_SPARSITY = 1     # β Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j = mean over the batch of z_j
    L1_ACTIVITY = 2     # λ · mean over the batch of Σ_j |z_j|

ctypedef unsigned long long rng_t

cdef Py_ssize_t workspace_size(const Net* net, Py_ssize_t batch) noexcept nogil

cdef void forward_pass(const Net* net, const floating* params,
                       const floating* X, Py_ssize_t batch,
                       floating* work, rng_t* rng) noexcept nogil

cdef const floating* output_of(const Net* net, Py_ssize_t batch,
                               floating* work) noexcept nogil

cdef double backward_pass(const Net* net, floating* params, const floating* X,
                          const floating* T, Py_ssize_t batch, int loss,
                          int mode, double lr, floating* grads,
                          floating* out, floating* work,
                          bint training, const floating* sw) noexcept nogil

cdef class Layout:
    cdef readonly object sizes, acts, act_params, w_offsets, b_offsets
    cdef readonly object w_trans, dropout, noise, penalty, penalty_weight
    cdef readonly object penalty_target, _ws, regions
    cdef readonly Py_ssize_t n_params
    cdef Net net
    cdef _fill_net(self, Py_ssize_t L, Py_ssize_t off, Py_ssize_t max_width)
