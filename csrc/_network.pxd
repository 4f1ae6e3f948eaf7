# Forward and backward passes of a whole MLP over one flat parameter buffer.
from cython cimport floating

cdef struct Net:
    Py_ssize_t n_layers          # L
    const Py_ssize_t* sizes      # d_0 … d_L
    const int* acts              # φ_1 … φ_L (Activation codes)
    const double* act_params     # their parameters
    const Py_ssize_t* w_offsets  # W_ℓ starts at params[w_offsets[ℓ−1]]
    const Py_ssize_t* b_offsets  # b_ℓ starts at params[b_offsets[ℓ−1]]
    Py_ssize_t max_width         # max_ℓ d_ℓ, including d_0

cpdef enum BackwardMode:
    GRADIENT = 0        # grads ← mean over the batch of δ zᵀ (and δ)
    SGD_UPDATE = 1      # params ← params − η · that mean, fused, no grads
    INPUT_GRADIENT = 2  # out ← per-sample ∂L_i/∂x_i = δ_1 W_1
    LOSS_ONLY = 3       # just Σ_i L_i

cdef Py_ssize_t workspace_size(const Net* net, Py_ssize_t batch) noexcept nogil

cdef void forward_pass(const Net* net, const floating* params,
                       const floating* X, Py_ssize_t batch,
                       floating* work) noexcept nogil

cdef const floating* output_of(const Net* net, Py_ssize_t batch,
                               floating* work) noexcept nogil

cdef double backward_pass(const Net* net, floating* params, const floating* X,
                          const floating* T, Py_ssize_t batch, int loss,
                          int mode, double lr, floating* grads,
                          floating* out, floating* work) noexcept nogil

cdef class Layout:
    cdef readonly object sizes, acts, act_params, w_offsets, b_offsets
    cdef Net net
