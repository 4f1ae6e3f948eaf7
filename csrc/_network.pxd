# Forward and backward passes of a whole MLP over one flat parameter buffer.
from cython cimport floating
from pynn._update cimport OnlineStep

cpdef enum LayerKind:
    DENSE = 0           # U = D Wᵀ + 1 bᵀ, Z = φ(U)
    RBF = 1             # U_ij = ‖d_i − c_j‖², Z_ij = exp(−β_j U_ij), β_j = e^{s_j}:
                        # centres C (d_ℓ × d_{ℓ−1}) at w_off, s = log β at b_off

cdef struct LayerDesc:
    # Layer ℓ = 1 … L (stored at index ℓ − 1): one branch per pass on kind.
    int kind                     # LayerKind
    Py_ssize_t n_in, n_out       # d_{ℓ−1}, d_ℓ
    Py_ssize_t w_off, b_off      # W_ℓ and b_ℓ start at params[w_off], params[b_off]
    bint w_trans                 # W_ℓ is tied, stored as (d_{ℓ−1} × d_ℓ) = W_ℓᵀ
    int act                      # φ_ℓ (Activation code)
    double act_param             # its parameter (leaky-relu α, gaussian β)

cdef struct PosDesc:
    # Activations Z_ℓ, ℓ = 0 … L (Z_0 = X): what acts on them in training,
    # and where they live in the workspace (elements per batch row; −1: none).
    double dropout               # inverted-dropout rate on Z_ℓ (ℓ < L)
    double noise                 # Gaussian noise σ on Z_ℓ (ℓ < L)
    int penalty                  # activity penalty kind on Z_ℓ (hidden ℓ)
    double penalty_weight
    double penalty_target
    Py_ssize_t ws_u, ws_z        # U_ℓ, Z_ℓ
    Py_ssize_t ws_d              # D_ℓ: Z_ℓ as the next layer sees it
    Py_ssize_t ws_m              # M_ℓ: the dropout mask

cdef struct Net:
    Py_ssize_t n_layers          # L
    const Py_ssize_t* sizes      # d_0 … d_L
    const LayerDesc* layer       # L entries
    const PosDesc* pos           # L + 1 entries
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
    ONLINE_STEP = 4     # params ← one optimiser step from this sample's
                        # gradient, fused (``online_step_pass``)
    DELTAS = 5          # Δ_ℓ of a chunk of rows into panels, no step
                        # (``backward_deltas``, then ``weight_block``)

cpdef enum Penalty:
    NO_PENALTY = 0
    KL_SPARSITY = 1     # β Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j = mean over the batch of z_j
    L1_ACTIVITY = 2     # λ · mean over the batch of Σ_j |z_j|

ctypedef unsigned long long rng_t

cdef Py_ssize_t workspace_size(const Net* net, Py_ssize_t batch) noexcept nogil

cdef void forward_pass(const Net* net, const floating* params,
                       const floating* X, Py_ssize_t batch,
                       floating* work, rng_t* rng) noexcept nogil

# How a pass shares one layer's column blocks among threads (pynn._train's
# pool): run(sp, n, fn, ctx) calls fn(ctx, k) for k = 0 … n − 1, on any
# threads in any order, and returns once every call has returned.  The
# blocks are a function of the layout and the batch size alone
# (``forward_blocks``), so the result never depends on the threads.
ctypedef void (*block_fn)(void* ctx, Py_ssize_t k) noexcept nogil

cdef struct Splitter:
    void (*run)(Splitter* sp, Py_ssize_t n, block_fn fn, void* ctx) noexcept nogil

cdef Py_ssize_t forward_blocks(const Net* net, Py_ssize_t l,
                               Py_ssize_t batch) noexcept nogil
cdef Py_ssize_t input_blocks(const Net* net, Py_ssize_t l,
                             Py_ssize_t batch) noexcept nogil

cdef void forward_pass_split(const Net* net, const floating* params,
                             const floating* X, Py_ssize_t batch,
                             floating* work, rng_t* rng,
                             Splitter* sp) noexcept nogil

cdef const floating* output_of(const Net* net, Py_ssize_t batch,
                               floating* work) noexcept nogil

cdef double backward_pass(const Net* net, floating* params, const floating* X,
                          const floating* T, Py_ssize_t batch, int loss,
                          int mode, double lr, floating* grads,
                          floating* out, floating* work,
                          bint training, const floating* sw) noexcept nogil

cdef bint online_step_supported(const Net* net) noexcept nogil

# The fused batch-1 SGD step of a Dense-only net (csrc/_fused.h; the C code
# is compiled into pynn._train, which calls it).
cdef extern from "_fused.h" nogil:
    enum: PYNN_FUSED_MAX_LAYERS
    ctypedef struct pynn_fused_net:
        int n_layers
        int variant
        int sizes[PYNN_FUSED_MAX_LAYERS + 1]
        int act[PYNN_FUSED_MAX_LAYERS]
        long w_off[PYNN_FUSED_MAX_LAYERS]
        long b_off[PYNN_FUSED_MAX_LAYERS]
        long u_off[PYNN_FUSED_MAX_LAYERS + 1]
        long z_off[PYNN_FUSED_MAX_LAYERS + 1]
        long d_off, max_width
        void* pend
        int pending
        long defer_min

cdef void fused_sgd_describe(const Net* net, int variant,
                             pynn_fused_net* out) noexcept nogil

cdef double online_step_pass(const Net* net, floating* params,
                             const floating* X, const floating* T, int loss,
                             const OnlineStep* step, floating* work,
                             bint training, const floating* sw) noexcept nogil

cdef double backward_deltas(const Net* net, const floating* params,
                            const floating* X, const floating* T,
                            Py_ssize_t n, int loss, floating* work,
                            bint training, const floating* sw,
                            floating** deltas, Py_ssize_t r0,
                            Splitter* sp) noexcept nogil

cdef bint split_inputs(const Net* net, Py_ssize_t l) noexcept nogil

cdef void weight_block(const Net* net, Py_ssize_t l, floating* params,
                       floating* grads, bint store, const floating* z_prev,
                       const floating* delta, const floating* U,
                       Py_ssize_t batch, floating alpha, floating beta,
                       Py_ssize_t k0, Py_ssize_t k1) noexcept nogil

cdef const floating* seen_of(const Net* net, Py_ssize_t batch,
                             floating* work, const floating* X,
                             Py_ssize_t l, bint training) noexcept nogil

cdef const floating* pre_of(const Net* net, Py_ssize_t batch, floating* work,
                            Py_ssize_t l) noexcept nogil

cdef class Layout:
    cdef readonly object sizes, acts, act_params, w_offsets, b_offsets
    cdef readonly object w_trans, dropout, noise, penalty, penalty_weight
    cdef readonly object penalty_target, _ws, regions, kinds
    cdef LayerDesc* _layers
    cdef PosDesc* _pos
    cdef readonly Py_ssize_t n_params
    cdef Net net
    cdef _fill_net(self, Py_ssize_t L, Py_ssize_t off, Py_ssize_t max_width)
