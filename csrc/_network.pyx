"""The MLP in matrix form (DESIGN.md §1), over one contiguous parameter buffer.

For a batch X (B × d_0, one sample per row) the forward pass computes, for
ℓ = 1 … L,
    U_ℓ = Z_{ℓ−1} W_ℓᵀ + 1 b_ℓᵀ        (Z_0 = X; W_ℓ is d_ℓ × d_{ℓ−1})
    Z_ℓ = φ_ℓ(U_ℓ)
as one GEMM with β = 1 into U_ℓ pre-filled with the bias rows.  The backward
pass computes, per sample (rows of Δ),
    Δ_L = ∂L/∂U_L                              (_losses.loss_and_delta)
    G_{ℓ−1} = Δ_ℓ W_ℓ,  Δ_{ℓ−1} = J_φ(U_{ℓ−1})ᵀ G_{ℓ−1}   (_activations)
    ∇W_ℓ = (1/B) Δ_ℓᵀ Z_{ℓ−1},  ∇b_ℓ = (1/B) Σ_rows Δ_ℓ
and, depending on ``mode``: stores the gradients (GRADIENT), applies the
plain SGD step W_ℓ ← W_ℓ − (η/B) Δ_ℓᵀ Z_{ℓ−1} as a GEMM with β = 1 straight
into W_ℓ (GER for one sample; SGD_UPDATE, no gradient buffer), or returns
the per-sample input gradient G_0 = Δ_1 W_1 (INPUT_GRADIENT).  G_{ℓ−1} is
always computed before W_ℓ is updated, so the step uses the old weights.

Workspace layout (``workspace_size`` elements): U_1, Z_1, …, U_L, Z_L
(B × d_ℓ each), then two B × max_width buffers for Δ/G, used in turn.

Layers: nogil kernels taking a ``Net`` (layout) and raw pointers; ``def``
entry points ``forward``/``backward`` on NumPy arrays for pynn.model.
"""
from cython cimport floating
from libc.string cimport memcpy
from libc.math cimport isfinite

from pynn._blas cimport mm
from pynn._activations cimport act_forward, act_backward
from pynn._losses cimport loss_and_delta

import numpy as np


cdef Py_ssize_t workspace_size(const Net* net, Py_ssize_t batch) noexcept nogil:
    cdef Py_ssize_t l, total = 2 * net.max_width
    for l in range(1, net.n_layers + 1):
        total += 2 * net.sizes[l]
    return total * batch


cdef inline floating* _u(const Net* net, Py_ssize_t batch, floating* work,
                         Py_ssize_t layer) noexcept nogil:
    """U_layer (B × d_layer) inside the workspace; Z_layer follows it."""
    cdef Py_ssize_t l, off = 0
    for l in range(1, layer):
        off += 2 * net.sizes[l]
    return work + off * batch


cdef inline floating* _z(const Net* net, Py_ssize_t batch, floating* work,
                         Py_ssize_t layer) noexcept nogil:
    return _u(net, batch, work, layer) + batch * net.sizes[layer]


cdef const floating* output_of(const Net* net, Py_ssize_t batch,
                               floating* work) noexcept nogil:
    return _z(net, batch, work, net.n_layers)


cdef void forward_pass(const Net* net, const floating* params,
                       const floating* X, Py_ssize_t batch,
                       floating* work) noexcept nogil:
    """Fill U_ℓ, Z_ℓ for ℓ = 1 … L from X (B × d_0)."""
    cdef Py_ssize_t l, i, n_in, n_out
    cdef const floating* z_prev = X
    cdef const floating* W
    cdef const floating* b
    cdef floating* U
    cdef floating* Z
    for l in range(1, net.n_layers + 1):
        n_in = net.sizes[l - 1]
        n_out = net.sizes[l]
        W = params + net.w_offsets[l - 1]
        b = params + net.b_offsets[l - 1]
        U = _u(net, batch, work, l)
        Z = U + batch * n_out
        for i in range(batch):
            memcpy(U + i * n_out, b, n_out * sizeof(floating))
        # U ← Z_{ℓ−1} Wᵀ + U
        mm(False, True, <int>batch, <int>n_out, <int>n_in, <floating>1.0,
           z_prev, <int>n_in, W, <int>n_in, <floating>1.0, U, <int>n_out)
        act_forward(net.acts[l - 1], net.act_params[l - 1], U, Z, batch, n_out)
        z_prev = Z


cdef double backward_pass(const Net* net, floating* params, const floating* X,
                          const floating* T, Py_ssize_t batch, int loss,
                          int mode, double lr, floating* grads,
                          floating* out, floating* work) noexcept nogil:
    """Backpropagate after ``forward_pass`` on the same X and work.

    Returns Σ_i L_i.  In SGD_UPDATE mode a non-finite loss leaves params
    untouched (the caller reports it).  ``grads`` is used in GRADIENT mode, ``out``
    (B × d_0) in INPUT_GRADIENT mode; ``lr`` in SGD_UPDATE mode.
    """
    cdef Py_ssize_t L = net.n_layers, l, i, j, n_in, n_out
    cdef Py_ssize_t buf = batch * net.max_width
    cdef floating* delta = work + workspace_size(net, batch) - 2 * buf
    cdef floating* g_prev = delta + buf
    cdef floating* swap
    cdef floating* U
    cdef floating* W
    cdef floating* b
    cdef floating* dst
    cdef const floating* z_prev
    cdef floating alpha
    cdef double total, s

    U = _u(net, batch, work, L)
    total = loss_and_delta(loss, net.acts[L - 1], net.act_params[L - 1], U,
                           U + batch * net.sizes[L], T,
                           NULL if mode == LOSS_ONLY else delta, batch,
                           net.sizes[L])
    if mode == LOSS_ONLY:
        return total
    if mode == SGD_UPDATE and not isfinite(total):
        return total        # never step on a non-finite loss: keep W as is
    if mode == SGD_UPDATE:
        alpha = <floating>(-lr / batch)
    else:
        alpha = <floating>(1.0 / batch)

    for l in range(L, 0, -1):
        n_in = net.sizes[l - 1]
        n_out = net.sizes[l]
        W = params + net.w_offsets[l - 1]
        b = params + net.b_offsets[l - 1]
        z_prev = X if l == 1 else _z(net, batch, work, l - 1)

        # G_{ℓ−1} = Δ_ℓ W_ℓ with the weights before any update.
        if l > 1 or mode == INPUT_GRADIENT:
            dst = out if l == 1 else g_prev
            mm(False, False, <int>batch, <int>n_in, <int>n_out, <floating>1.0,
               delta, <int>n_out, W, <int>n_in, <floating>0.0, dst, <int>n_in)

        if mode == GRADIENT or mode == SGD_UPDATE:
            if mode == GRADIENT:
                W = grads + net.w_offsets[l - 1]
                b = grads + net.b_offsets[l - 1]
            # W ← β W + α Δᵀ Z_{ℓ−1}: β = 0 stores ∇W, β = 1 is the SGD step.
            mm(True, False, <int>n_out, <int>n_in, <int>batch, alpha,
               delta, <int>n_out, z_prev, <int>n_in,
               <floating>(0.0 if mode == GRADIENT else 1.0), W, <int>n_in)
            for j in range(n_out):
                s = 0
                for i in range(batch):
                    s += delta[i * n_out + j]
                if mode == GRADIENT:
                    b[j] = <floating>(alpha * s)
                else:
                    b[j] += <floating>(alpha * s)

        if l > 1:
            U = _u(net, batch, work, l - 1)
            act_backward(net.acts[l - 2], net.act_params[l - 2], U,
                         U + batch * n_in, g_prev, batch, n_in)
            swap = delta
            delta = g_prev
            g_prev = swap
    return total


# ------------------------------------------------------------ entry points
cdef class Layout:
    """The architecture as C arrays: sizes, activations, parameter offsets."""

    def __init__(self, sizes, acts, act_params):
        cdef Py_ssize_t[::1] sz, wo, bo
        cdef int[::1] ac
        cdef double[::1] ap
        self.sizes = np.ascontiguousarray(sizes, dtype=np.intp)
        self.acts = np.ascontiguousarray(acts, dtype=np.intc)
        self.act_params = np.ascontiguousarray(act_params, dtype=np.float64)
        L = len(self.sizes) - 1
        if L < 1 or len(self.acts) != L or len(self.act_params) != L:
            raise ValueError("need L ≥ 1 layers with one activation each")
        if (self.sizes < 1).any():
            raise ValueError("layer sizes must be ≥ 1")
        w_off, b_off, off = [], [], 0
        for l in range(L):
            w_off.append(off)
            off += int(self.sizes[l]) * int(self.sizes[l + 1])
            b_off.append(off)
            off += int(self.sizes[l + 1])
        self.w_offsets = np.asarray(w_off, dtype=np.intp)
        self.b_offsets = np.asarray(b_off, dtype=np.intp)
        sz, ac, ap = self.sizes, self.acts, self.act_params
        wo, bo = self.w_offsets, self.b_offsets
        self.net.n_layers = L
        self.net.sizes = &sz[0]
        self.net.acts = &ac[0]
        self.net.act_params = &ap[0]
        self.net.w_offsets = &wo[0]
        self.net.b_offsets = &bo[0]
        self.net.max_width = int(self.sizes.max())

    @property
    def n_params(self):
        return int(self.b_offsets[-1] + self.sizes[-1])

    def workspace_size(self, Py_ssize_t batch):
        return workspace_size(&self.net, batch)


def forward(Layout layout, const floating[::1] params,
            const floating[:, ::1] X, floating[::1] work):
    """Run the forward pass; returns a view of Z_L inside ``work``."""
    cdef Py_ssize_t B = X.shape[0]
    _check(layout, params, X, work)
    if B:
        with nogil:
            forward_pass(&layout.net, &params[0], &X[0, 0], B, &work[0])
    L = layout.net.n_layers
    start = workspace_size(&layout.net, B) - 2 * B * layout.net.max_width \
        - B * layout.net.sizes[L]
    return np.asarray(work)[start:start + B * layout.net.sizes[L]].reshape(
        B, layout.net.sizes[L])


def backward(Layout layout, floating[::1] params, const floating[:, ::1] X,
             const floating[:, ::1] T, int loss, int mode, double lr,
             floating[::1] grads, floating[:, ::1] out, floating[::1] work):
    """Forward then backward on (X, T); returns Σ_i L_i (see backward_pass)."""
    cdef Py_ssize_t B = X.shape[0]
    cdef double total
    _check(layout, params, X, work)
    if T.shape[0] != B or T.shape[1] != layout.net.sizes[layout.net.n_layers]:
        raise ValueError("T must have shape (batch, n_out)")
    if mode == GRADIENT and grads.shape[0] != params.shape[0]:
        raise ValueError("grads must have the size of params")
    if mode == INPUT_GRADIENT and (out.shape[0] != B or out.shape[1] != X.shape[1]):
        raise ValueError("out must have the shape of X")
    if B == 0:
        raise ValueError("backward needs at least one sample")
    cdef floating* g = &grads[0] if mode == GRADIENT else NULL
    cdef floating* o = &out[0, 0] if mode == INPUT_GRADIENT else NULL
    with nogil:
        forward_pass(&layout.net, &params[0], &X[0, 0], B, &work[0])
        total = backward_pass(&layout.net, &params[0], &X[0, 0], &T[0, 0], B,
                              loss, mode, lr, g, o, &work[0])
    return total


cdef _check(Layout layout, const floating[::1] params, const floating[:, ::1] X,
            floating[::1] work):
    if params.shape[0] != layout.n_params:
        raise ValueError(f"params has {params.shape[0]} elements, "
                         f"the layout needs {layout.n_params}")
    if X.shape[1] != layout.net.sizes[0]:
        raise ValueError(f"X has {X.shape[1]} features, expected "
                         f"{layout.net.sizes[0]}")
    if work.shape[0] < workspace_size(&layout.net, X.shape[0]):
        raise ValueError("work buffer too small")
