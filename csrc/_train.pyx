"""Training loops: many SGD steps in one nogil call, and the fused optimiser.

``run_batches`` visits the samples ``order[start:stop]`` (or start:stop in
storage order) in consecutive batches of ``batch_size`` (the last one may be
smaller and uses its own mean) and, for each batch,
    forward pass; Σ_i L_i and correct predictions counted before the step;
    plain SGD:  W ← W − (η/B) Σ_i δ_i z_iᵀ fused into the backward pass
                (GEMM β = 1, GER at B = 1: no gradient buffer);
    online (B = 1) SGD with L2, momentum, Nesterov, Adam, no clipping:
                each layer's step applied inside the backward pass, a row
                of W at a time from δ_j z_{ℓ−1} (ONLINE_STEP of _network.pyx:
                W and its state walked once, no gradient buffer), or
    otherwise:  g = mean gradient (GRADIENT mode), then ``apply_update``.
All three give bit-identical results where more than one applies.
It stops before the update of a batch whose loss is not finite (status 1).

``apply_update`` is one pass over the flat parameter buffers, per
element with g ← s·(∇ + λ w) (λ: L2 penalty on weights, not biases;
s = min(1, c/‖∇ + λw‖) when clipping the global norm at c):
    sgd        w ← w − η g
    momentum   v ← μ v + g;      w ← w − η v            (PyTorch's form)
    nesterov   v ← μ v + g;      w ← w − η (g + μ v)
    adam       m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
               w ← w − η (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)
    rprop      (iRPROP−, full batch) per element, with p the previous g:
               Δ ← clamp(Δ·η⁺ if g·p > 0, Δ·η⁻ if g·p < 0, else Δ;
                         Δ_min, Δ_max);
               g ← 0 where g·p < 0;  w ← w − sign(g) Δ;  p ← g
With ``sklearn=True`` (scikit-learn's forms, operation for operation as
sklearn.neural_network._stochastic_optimizers, so float64 runs follow its
trajectory to rounding):
    sgd, momentum   v ← μ v − η g;   w ← w + v          (μ = 0 for sgd)
    nesterov        v ← μ v − η g;   w ← w + (μ v − η g)
    adam            m, v as above;  η_t = η √(1−β₂ᵗ)/(1−β₁ᵗ);
                    w ← w + (−η_t m) / (√v + ε)        (ε unscaled)
and with ``track_penalty`` each step first adds ½ Σ_W ‖W‖² (weights before
the step) to ``Update.penalty_sum`` (scikit-learn's loss reports the L2
term at every batch's starting weights).
The per-element loops, shared with the online pass, are ``update_span``
in _update.pxd.  State buffers s1 (v, m or Δ) and s2 (Adam's v, RPROP's
p) are laid out like params.  The seam beside the fused loop: ``gradient``
(one batch's weighted mean gradient, L2 included, into grads) then
``apply_update`` — what full-batch methods and data-parallel training (an
all-reduce of grads between the two) run.

Floating-point state: the training entry points (``run_batches``,
``gradient``, ``step``) run with subnormals flushed to zero (FTZ and DAZ
on x86-64, see _fpenv.pxd) and restore the caller's state on exit;
``evaluate`` is inference and computes in the caller's state, as
Model.forward does.

With sample weights w_i a batch's loss is Σ_i w_i L_i and its gradient
Σ_i w_i ∇L_i / Σ_i w_i.

Layers: nogil kernels over raw pointers; ``def`` entry points for
pynn.trainer and pynn.optimizers.
"""
from cython cimport floating
from libc.math cimport ceil, sqrt, isfinite
from libc.string cimport memcpy, memset
from libc.stdlib cimport malloc, free
from libc.limits cimport INT_MAX
cimport scipy.linalg.cython_blas as cblas

from pynn._network cimport (Net, forward_pass, backward_pass, output_of,
                            backward_deltas, forward_pass_split, Splitter,
                            block_fn, forward_blocks, input_blocks,
                            weight_block, split_inputs, seen_of, pre_of, RBF,
                            workspace_size, Layout, rng_t, GRADIENT,
                            SGD_UPDATE, LOSS_ONLY, online_step_pass,
                            online_step_supported, fused_sgd_describe,
                            pynn_fused_net)
from pynn._finite cimport all_finite
from pynn._fpenv cimport (fpenv_t, fpenv_enter, fpenv_exit, fpenv_save,
                          HAVE_MXCSR)
from pynn._update cimport (Rule, OnlineStep, update_span, step_constants,
                           KIND_SGD, KIND_MOMENTUM, KIND_NESTEROV, KIND_ADAM,
                           KIND_RPROP, N_KINDS)

import numpy as np

from pynn import _blas, _network

# The fused batch-1 SGD step (csrc/_fused.c, compiled into this module).
cdef extern from "_fused.h" nogil:
    int pynn_fused_have_variant(int variant)
    double pynn_fused_sgd_f(pynn_fused_net* net, float* params,
                            const float* x, const float* t, const float* w,
                            double lr, float* work)
    double pynn_fused_sgd_d(pynn_fused_net* net, double* params,
                            const double* x, const double* t, const double* w,
                            double lr, double* work)
    void pynn_fused_flush_f(pynn_fused_net* net, float* params)

cpdef enum Optimizer:
    SGD = KIND_SGD
    MOMENTUM = KIND_MOMENTUM
    NESTEROV = KIND_NESTEROV
    ADAM = KIND_ADAM
    RPROP = KIND_RPROP

N_OPTIMIZERS = N_KINDS    # kernel codes are 0 … N_OPTIMIZERS − 1

cpdef enum Accuracy:
    NO_ACCURACY = 0     # regression
    ARGMAX = 1          # one class per sample: argmax y == argmax t
    THRESHOLD = 2       # binary / multi-label: (y > ½) == (t > ½) for all outputs

N_ACCURACY = 3
# Whether the kernels run with subnormals flushed to zero (FTZ/DAZ, x86-64;
# see _fpenv.pxd): the caller's floating-point state is restored on exit.
FLUSHES_SUBNORMALS = bool(HAVE_MXCSR)
# Loss codes of pynn._losses that the loops accept: 0 … N_LOSSES − 1.
from pynn._losses import N_LOSSES


cdef class Update:
    """An optimiser as the kernels see it: its code, up to four
    hyper-parameters h0…h3, the L2 weight and clip norm, its state buffers
    (laid out like params) and the number of steps taken.  ``sklearn``
    selects scikit-learn's forms of sgd/momentum/nesterov/adam;
    ``track_penalty`` makes every step add ½ Σ_W ‖W‖² of the weights it
    starts from to ``penalty_sum`` (both in the module doc).

    Built by ``pynn.optimizers``; the meaning of h0…h3 per code is in
    ``Rule`` (_update.pxd).
    """
    cdef public int kind
    cdef public double h0, h1, h2, h3, l2, clip
    cdef public object state1, state2
    cdef public Py_ssize_t step
    cdef public bint sklearn, track_penalty, fuse_online
    cdef public double penalty_sum

    def __init__(self, int kind, hyper=(), double l2=0.0, clip=None,
                 state1=None, state2=None, Py_ssize_t step=0,
                 bint sklearn=False, bint track_penalty=False,
                 bint fuse_online=True):
        if not 0 <= kind < N_OPTIMIZERS:
            raise ValueError(f"unknown optimizer code {kind}")
        if sklearn and kind == RPROP:
            raise ValueError("rprop has no scikit-learn form")
        h = list(hyper) + [0.0] * (4 - len(hyper))
        if len(h) != 4:
            raise ValueError("at most four hyper-parameters")
        self.kind = kind
        self.h0, self.h1, self.h2, self.h3 = [float(v) for v in h]
        self.l2 = l2
        self.clip = 0.0 if clip is None else float(clip)
        self.state1, self.state2 = state1, state2
        self.step = step
        self.sklearn, self.track_penalty = sklearn, track_penalty
        self.penalty_sum = 0.0
        self.fuse_online = fuse_online

    @property
    def needs_gradient(self):
        """False when the step is the plain SGD update, which the backward
        pass fuses into W (no gradient buffer)."""
        return not (self.kind == SGD and self.l2 == 0 and self.clip <= 0
                    and not self.sklearn and not self.track_penalty)

    cdef bint steps_online(self, const Net* net, Py_ssize_t batch_size):
        """True when ``run_batches`` applies this step inside the backward
        pass of each sample (ONLINE_STEP): batch 1, a per-element rule (no
        global-norm clipping, not RPROP), a net ``online_step_supported``,
        and ``fuse_online`` (False forces the gradient-then-step path, for
        comparison; both give bit-identical parameters)."""
        return (self.fuse_online and batch_size == 1 and self.clip <= 0
                and self.kind != RPROP and self.needs_gradient
                and not self.sklearn and not self.track_penalty
                and online_step_supported(net))

    cdef Rule rule(self, double lr, Py_ssize_t t):
        cdef Rule r
        r.kind, r.lr, r.l2, r.clip, r.t = self.kind, lr, self.l2, self.clip, t
        r.h0, r.h1, r.h2, r.h3 = self.h0, self.h1, self.h2, self.h3
        r.sklearn = self.sklearn
        r.penalty = &self.penalty_sum if self.track_penalty else NULL
        return r

    def check(self, Py_ssize_t n_params, dtype):
        """ValueError unless the state buffers this code uses match params."""
        n_state = 0 if self.kind == SGD and not self.sklearn else (
            1 if self.kind in (SGD, MOMENTUM, NESTEROV) else 2)
        for i, s in enumerate((self.state1, self.state2)[:n_state]):
            if not isinstance(s, np.ndarray) or s.shape != (n_params,) \
                    or s.dtype != dtype or not s.flags.c_contiguous:
                raise ValueError(f"optimiser state {i} does not match params "
                                 f"({n_params} elements of {dtype})")


cdef Py_ssize_t count_correct(int kind, const floating* Y, const floating* T,
                              Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    cdef Py_ssize_t i, j, ay, at, correct = 0
    cdef bint ok
    if kind == ARGMAX:
        for i in range(rows):
            ay = at = 0
            for j in range(1, cols):
                if Y[i * cols + j] > Y[i * cols + ay]:
                    ay = j
                if T[i * cols + j] > T[i * cols + at]:
                    at = j
            correct += ay == at
    elif kind == THRESHOLD:
        for i in range(rows):
            ok = True
            for j in range(cols):
                if (Y[i * cols + j] > 0.5) != (T[i * cols + j] > 0.5):
                    ok = False
                    break
            correct += ok
    return correct


cdef double _region_norm2(const floating* g, const floating* w, Py_ssize_t n,
                          double decay) noexcept nogil:
    cdef double s = 0, v
    cdef Py_ssize_t i
    for i in range(n):
        v = g[i] + decay * w[i]
        s += v * v
    return s


cdef double _dot_self(const floating* w, Py_ssize_t n) noexcept nogil:
    """Σ w_i² by the BLAS (as NumPy's dot), in chunks of INT_MAX."""
    cdef double s = 0
    cdef int m, one = 1
    while n > 0:
        m = <int>(INT_MAX if n > INT_MAX else n)
        if floating is float:
            s += cblas.sdot(&m, <float*>w, &one, <float*>w, &one)
        else:
            s += cblas.ddot(&m, <double*>w, &one, <double*>w, &one)
        w += m
        n -= m
    return s


cdef void _step_setup(const Net* net, const floating* params,
                      const floating* grads, const Rule* r, double* scale,
                      double* c1, double* c2) noexcept nogil:
    """What a step needs before its per-element pass, in region order: the
    L2 penalty ½ Σ ‖W‖² added to r.penalty (when set), the clipping factor
    s = min(1, c/‖∇ + λw‖) and Adam's bias corrections c₁, c₂."""
    cdef Py_ssize_t k, off, size
    cdef double norm2 = 0, decay, wsq = 0
    scale[0] = 1
    if r.penalty != NULL:
        for k in range(net.n_regions):
            if net.regions[3 * k + 2]:
                wsq += _dot_self(params + net.regions[3 * k],
                                 net.regions[3 * k + 1])
        r.penalty[0] += 0.5 * wsq
    if r.clip > 0:
        for k in range(net.n_regions):
            off, size = net.regions[3 * k], net.regions[3 * k + 1]
            decay = r.l2 if net.regions[3 * k + 2] else 0
            norm2 += _region_norm2(grads + off, params + off, size, decay)
        if sqrt(norm2) > r.clip:
            scale[0] = r.clip / sqrt(norm2)
    step_constants(r, c1, c2)


cdef void _update_spans(const Net* net, floating* params,
                        const floating* grads, floating* s1, floating* s2,
                        const Rule* r, double scale, double c1, double c2,
                        Py_ssize_t c0, Py_ssize_t c_end) noexcept nogil:
    """``update_span`` on the pieces c0 ≤ c < c_end of the trainable regions:
    each region cut into pieces of UPDATE_SPAN elements, numbered in region
    order (the cut only groups elements: every element's update is its own,
    so it gives the same bits however the pieces are shared out)."""
    cdef Py_ssize_t k, off, size, n, c = 0, i0, i1
    cdef double decay
    for k in range(net.n_regions):
        off, size = net.regions[3 * k], net.regions[3 * k + 1]
        n = (size + UPDATE_SPAN - 1) // UPDATE_SPAN
        if c + n > c0 and c < c_end:
            i0 = max(c0 - c, 0) * UPDATE_SPAN
            i1 = min(min(c_end - c, n) * UPDATE_SPAN, size)
            decay = r.l2 if net.regions[3 * k + 2] else 0
            update_span(params + off + i0, grads + off + i0,
                        s1 + off + i0 if s1 != NULL else NULL,
                        s2 + off + i0 if s2 != NULL else NULL,
                        i1 - i0, r, decay, scale, c1, c2)
        c += n


cdef Py_ssize_t _n_pieces(const Net* net) noexcept nogil:
    """The number of pieces ``_update_spans`` cuts the regions into."""
    cdef Py_ssize_t k, n = 0
    for k in range(net.n_regions):
        n += (net.regions[3 * k + 1] + UPDATE_SPAN - 1) // UPDATE_SPAN
    return n


cdef void apply_update(const Net* net, floating* params, const floating* grads,
                       floating* s1, floating* s2, const Rule* r) noexcept nogil:
    """One optimiser step over the layout's trainable regions: each W (with
    L2) and b (without).  A tied W belongs to its owner's region, once."""
    cdef double scale, c1, c2
    _step_setup(net, params, grads, r, &scale, &c1, &c2)
    _update_spans(net, params, grads, s1, s2, r, scale, c1, c2, 0,
                  _n_pieces(net))


cdef void add_l2(const Net* net, const floating* params, floating* grads,
                 double l2) noexcept nogil:
    """grads ← grads + λ W on every weight region (the L2 penalty's gradient)."""
    cdef Py_ssize_t k, i, off
    cdef floating d = <floating>l2
    for k in range(net.n_regions):
        if net.regions[3 * k + 2]:
            off = net.regions[3 * k]
            for i in range(off, off + net.regions[3 * k + 1]):
                grads[i] = grads[i] + d * params[i]


cdef inline const floating* _rows(const floating* A, Py_ssize_t width,
                                  const Py_ssize_t* order, Py_ssize_t pos,
                                  Py_ssize_t n, floating* buf) noexcept nogil:
    """Rows order[pos:pos+n] of A as one contiguous block (copied if needed)."""
    cdef Py_ssize_t i
    if order == NULL:
        return A + pos * width
    for i in range(n):
        memcpy(buf + i * width, A + order[pos + i] * width,
               width * sizeof(floating))
    return buf


cdef int _state_of(Update update, floating[::1] params, floating** s1,
                   floating** s2) except -1:
    """Check ``update``'s state buffers against params and point s1, s2 at
    them (NULL where the optimiser has none).  The arrays stay alive in
    ``update`` for as long as the pointers are used."""
    cdef floating[::1] v
    update.check(params.shape[0], np.asarray(params).dtype)
    s1[0] = s2[0] = NULL
    if update.state1 is not None and params.shape[0]:
        v = update.state1
        s1[0] = &v[0]
    if update.state2 is not None and params.shape[0]:
        v = update.state2
        s2[0] = &v[0]
    return 0


cdef double _sum(const floating* a, Py_ssize_t n) noexcept nogil:
    cdef double s = 0
    cdef Py_ssize_t i
    for i in range(n):
        s += a[i]
    return s


cdef class Batches:
    """The training data of a fit, checked once: X (n × d_0), T (n × d_L),
    optional sample weights w (n,), and for shuffled epochs a visiting
    order with buffers that hold one gathered batch.

    ``set_order(order)`` installs an epoch's permutation (None: storage
    order).
    """
    cdef readonly object X, T, weights, order, x_buf, t_buf, w_buf
    cdef readonly Py_ssize_t capacity

    def __init__(self, X, T, weights=None, Py_ssize_t batch_size=1,
                 bint shuffled=False):
        X, T = np.asarray(X), np.asarray(T)
        if X.ndim != 2 or T.ndim != 2 or T.shape[0] != X.shape[0] \
                or T.dtype != X.dtype or not X.flags.c_contiguous \
                or not T.flags.c_contiguous:
            raise ValueError("X, T must be C-contiguous 2-D arrays of one "
                             "dtype with one row per sample")
        if weights is not None:
            weights = np.asarray(weights)
            if weights.shape != (X.shape[0],) or weights.dtype != X.dtype \
                    or not weights.flags.c_contiguous:
                raise ValueError("weights must have one entry per row of X")
        if batch_size < 1 or batch_size > INT_MAX:
            raise ValueError(f"batch_size must be in [1, {INT_MAX}]")
        self.X, self.T, self.weights = X, T, weights
        self.order = None
        self.capacity = batch_size
        self.x_buf = self.t_buf = self.w_buf = None
        if shuffled:
            self.x_buf = np.empty((batch_size, X.shape[1]), X.dtype)
            self.t_buf = np.empty((batch_size, T.shape[1]), X.dtype)
            if weights is not None:
                self.w_buf = np.empty((batch_size, 1), X.dtype)

    def set_order(self, order):
        if order is not None:
            if self.x_buf is None:
                raise ValueError("these Batches were made without shuffle "
                                 "buffers")
            order = np.ascontiguousarray(order, dtype=np.intp)
            if order.ndim != 1 or (order.size and (
                    order.min() < 0 or order.max() >= self.X.shape[0])):
                raise ValueError("order holds indices outside X")
        self.order = order


cdef void _gather(const floating* X, const floating* T, const floating* w,
                  Py_ssize_t n_in, Py_ssize_t n_out, const Py_ssize_t* order,
                  Py_ssize_t pos, Py_ssize_t B, floating* xb, floating* tb,
                  floating* wb, const floating** xo, const floating** to,
                  const floating** wo) noexcept nogil:
    """The batch's rows of X, T (and w) as contiguous blocks."""
    xo[0] = _rows(X, n_in, order, pos, B, xb)
    to[0] = _rows(T, n_out, order, pos, B, tb)
    wo[0] = NULL if w == NULL else _rows(w, 1, order, pos, B, wb)


# ------------------------------------------------------------ parallel chunks
# A batch of B rows is cut into chunks whose boundaries depend only on B and
# the layout (``_limits``, ``_chunk_len``), never on the number of threads.
# pynn's own pool (csrc/_pool.c) runs them on up to n_threads slots, each
# with single-threaded BLAS, claimed one at a time from an atomic counter
# (a slot on a busy core takes fewer).  Inference and evaluation need only
# that: each chunk's rows and loss sum, added in chunk order.
#
# A gradient takes two phases.  JOB_DELTAS: each chunk runs its forward
# pass in its slot's workspace and backpropagates the deltas Δ_ℓ of its
# rows into B × d_ℓ panels, copying the D_ℓ its rows saw beside them
# (every row-local product: U = D Wᵀ, G = Δ W, φ', dropout masks).
# JOB_WEIGHTS: the weight gradients Σ_i w_i ∇W_ℓ = Δ_ℓᵀ D_{ℓ−1} over the
# whole batch, one GEMM of inner dimension B per block of W_ℓ's columns
# (or rows); the blocks (``_plan_blocks``: a function of the layout) write
# disjoint entries of grads, or step W in place for plain SGD.  No
# per-chunk gradient buffers, no reduction pass; each entry is formed by
# one fixed GEMM call, so the result is bit-identical for any number of
# threads.  A batch of one chunk takes the single-call path, unless its
# weight product is large enough to share (``_blocks_alone``).

cdef extern from "_pool.h" nogil:
    ctypedef void (*pynn_job_fn)(void* ctx, int slot) noexcept nogil
    int pynn_pool_run(int n, pynn_job_fn fn, void* ctx)
    int pynn_pool_workers()
    long pynn_claim(long* counter)

# A chunk does at least CHUNK_FLOPS floating-point operations and has at
# least MIN_ROWS rows: each GEMM of a chunk packs the whole W_ℓ (OpenBLAS's
# copy routines), a cost per chunk about that of 10 rows' products
# (measured with perf, 784-256, one thread: packing 22 % of the time at 64
# rows), so 128 rows keep it near 8 %; a batch has at most MAX_CHUNKS.
cdef double _CHUNK_FLOPS = 4e6
cdef Py_ssize_t MIN_ROWS = 128
cdef Py_ssize_t MAX_CHUNKS = 16
# A weight block's GEMM does at least BLOCK_FLOPS operations (so it repays
# the call and the claim) and a layer has at most MAX_BLOCKS blocks, of a
# multiple of BLOCK_ALIGN columns (or rows): every block repacks the whole
# Δ_ℓ (B × d_ℓ), so fewer blocks pack less (784-256-256-10, best of 4,
# µs/sample at B = 256 on 1 / 2 threads: 2 blocks 18.5 / 11.3, 4 blocks
# 19.1 / 11.9, 8 blocks 20.3 / 12.2); 4 still feed 4 threads.  The blocks
# go to the layers by their share of the weight products' FLOPs (a layer
# of share s gets ⌈MAX_BLOCKS · s⌉): the net's blocks are then about
# MAX_BLOCKS pieces of ~1/MAX_BLOCKS of the work each, and a small layer
# repacks its Δ_ℓ once, not MAX_BLOCKS times (784-256-256-10: 3 + 1 + 1
# blocks, not 4 + 4 + 1; half of the Δ packing).
cdef double _BLOCK_FLOPS = 1e6
cdef Py_ssize_t MAX_BLOCKS = 4
cdef Py_ssize_t BLOCK_ALIGN = 16
# A batch of one chunk (a small batch on a big net: B = 32 on 784-256-256-10)
# still forms its weight gradient in blocks on the pool when that product
# does at least BLOCKS_ALONE_FLOPS: its forward and delta pass stay on one
# thread, the third of the work in Δᵀ D is shared.
cdef double _BLOCKS_ALONE_FLOPS = 8e6
# The optimiser step after a stored gradient (momentum, Nesterov, Adam,
# scikit-learn's forms) is cut into pieces of UPDATE_SPAN elements
# (``_update_spans``; 8192 doubles are 64 KB, one core's L1 of w, g and the
# state); a net of at least UPDATE_MIN_PIECES pieces shares them on the
# pool (scikit-learn's Adam on 784-256-10 in float64 takes 0.27 ms a step
# on one core, bound by the square-root and division unit: a third of the
# step's GEMM time at B = 32).
cdef Py_ssize_t UPDATE_SPAN = 8192
cdef Py_ssize_t UPDATE_MIN_PIECES = 4
cdef Py_ssize_t ALIGN = 64
CHUNK_FLOPS = _CHUNK_FLOPS


cdef enum JobKind:
    JOB_DELTAS = 0          # per chunk: Σ w L, correct, Δ_ℓ and D_ℓ rows
    JOB_LOSS = 1            # Σ L and correct per chunk (evaluation)
    JOB_FORWARD = 2         # the output rows of each chunk (inference)
    JOB_WEIGHTS = 3         # per block: α Δ_ℓᵀ D_{ℓ−1} into grads or W
    JOB_UPDATE = 4          # per piece: the optimiser's per-element step


cdef struct PoolSplit:
    # A Splitter (first, so a Splitter* is a PoolSplit*) that runs a layer's
    # blocks on up to ``slots`` of the pool's threads, claimed one at a time.
    Splitter base
    int slots
    block_fn fn
    void* ctx
    Py_ssize_t n
    long next


cdef struct Job:
    PoolSplit split             # a single chunk's layers in column blocks
    const Net* net
    int kind, loss, accuracy
    bint is_double, training, store
    bint balance                # chunk counts rounded to a power of two
    void* params
    void* grads                 # JOB_WEIGHTS with ``store``: the gradient
    const void* X
    const void* T
    const void* sw
    void* out                   # JOB_FORWARD: B × d_L
    Py_ssize_t B, rows, n_chunks
    Py_ssize_t base, limit      # the chunking rule (``_limits``)
    int slots                   # at most this many threads (JOB_WEIGHTS:
    int b_slots                 # at most b_slots)
    Py_ssize_t n_correct
    rng_t seed
    char* work                  # slot s's workspace at work + s·w_stride
    Py_ssize_t w_stride
    void** deltas               # Δ_ℓ panel (B × d_ℓ) at deltas[ℓ − 1]
    void** seen                 # D_ℓ panel at seen[ℓ], ℓ < L (D_0: X unless
                                # the input is corrupted in training)
    void** pre                  # U_ℓ panel at pre[ℓ − 1] for RBF layers
    Py_ssize_t* blocks          # n_blocks × (ℓ, k0, k1); ℓ = 0: all layers
    Py_ssize_t n_blocks
    double* losses              # per chunk
    Py_ssize_t* correct         # per chunk
    double norm, lr
    int u_slots                 # JOB_UPDATE: at most this many threads,
    void* s1                    # the optimiser state (laid out like params),
    void* s2
    const Rule* rule            # the step's rule and its constants
    double scale, c1, c2
    Py_ssize_t n_pieces         # pieces of ``_update_spans``
    long next                   # the next chunk (block, piece) to claim


cdef inline Py_ssize_t _up(Py_ssize_t n) noexcept nogil:
    """n rounded up to a multiple of ALIGN bytes."""
    return (n + ALIGN - 1) // ALIGN * ALIGN


cdef void _limits(const Net* net, int passes, bint training,
                  Py_ssize_t* base, Py_ssize_t* limit) noexcept nogil:
    """The chunking rule's two numbers: base = max(MIN_ROWS, ⌈CHUNK_FLOPS /
    flops per row⌉) rows (flops per row = 2·passes·Σ_ℓ d_{ℓ−1} d_ℓ) and the
    most chunks, MAX_CHUNKS (in training 1 for nets with activity
    penalties, whose deltas depend on statistics of the whole batch)."""
    cdef Py_ssize_t l
    cdef double flops = 0
    for l in range(1, net.n_layers + 1):
        flops += 2.0 * passes * net.sizes[l - 1] * net.sizes[l]
    base[0] = max(MIN_ROWS, <Py_ssize_t>(_CHUNK_FLOPS / flops) + 1)
    limit[0] = MAX_CHUNKS
    if training and net.has_penalty:
        limit[0] = 1


cdef inline Py_ssize_t _n_chunks(Py_ssize_t B, Py_ssize_t base,
                                 Py_ssize_t limit, bint balance) noexcept nogil:
    """Chunks for a batch of B: n = ⌈B / base⌉ (1 if B ≤ base), with
    ``balance`` rounded up to a power of two so that 2, 4, 8 … threads
    share them evenly, at most ``limit``.  A smaller batch has no more."""
    cdef Py_ssize_t n, p = 1
    if B <= base:
        return 1
    n = (B + base - 1) // base
    if balance:
        while p < n:
            p *= 2
        n = p
    return min(n, limit)


cdef inline Py_ssize_t _chunk_len(Py_ssize_t B, Py_ssize_t base,
                                  Py_ssize_t limit, bint balance) noexcept nogil:
    """Rows per chunk of a batch of B: ⌈B / n⌉ for n = ``_n_chunks`` (with
    ``balance``, B = 200 on 91-row chunks is 4 chunks of 50, not 91, 91,
    18), or without it ``base`` rows while that makes at most ``limit``."""
    cdef Py_ssize_t n
    if B <= base:
        return B
    n = _n_chunks(B, base, limit, balance)
    if not balance and n * base >= B:
        return base
    return (B + n - 1) // n


cdef Py_ssize_t _plan_blocks(const Net* net, Py_ssize_t B,
                             Py_ssize_t* blocks) noexcept nogil:
    """The weight blocks of JOB_WEIGHTS for a batch of B rows, as (ℓ, k0,
    k1) triples into ``blocks`` (room for L·MAX_BLOCKS); returns their
    number.  Layer ℓ's split dimension (``split_inputs``: d_{ℓ−1}, else
    d_ℓ) is cut into n_ℓ = min(MAX_BLOCKS, ⌈MAX_BLOCKS f_ℓ / Σ f⌉,
    2 B f_ℓ / BLOCK_FLOPS) blocks (at least one) of a multiple of
    BLOCK_ALIGN, where f_ℓ = d_{ℓ−1} d_ℓ sizes the layer's weight product
    (f_ℓ / Σ f is its share of the work); an RBF layer
    is one block.  Nets with tied weights, whose shared matrices take two
    layers' contributions in turn, are one block (ℓ = 0) for the whole
    pass."""
    cdef Py_ssize_t l, n, size, width, k0, count = 0
    cdef double f, total = 0
    if net.has_tied:
        blocks[0], blocks[1], blocks[2] = 0, 0, 0
        return 1
    for l in range(1, net.n_layers + 1):
        total += <double>net.sizes[l - 1] * net.sizes[l]
    for l in range(1, net.n_layers + 1):
        size = net.sizes[l - 1] if split_inputs(net, l) else net.sizes[l]
        f = <double>net.sizes[l - 1] * net.sizes[l]
        # ⌈MAX_BLOCKS f / total⌉, with 1e-9 of slack for a share that is a
        # whole number of blocks (f / total = 1/4 must not round to 2).
        n = min(<Py_ssize_t>ceil(MAX_BLOCKS * f / total - 1e-9),
                <Py_ssize_t>(2.0 * B * f / _BLOCK_FLOPS))
        n = min(MAX_BLOCKS, max(<Py_ssize_t>1, n))
        if net.layer[l - 1].kind == RBF:
            n = 1
        width = (size + n - 1) // n
        width = (width + BLOCK_ALIGN - 1) // BLOCK_ALIGN * BLOCK_ALIGN
        k0 = 0
        while k0 < size:
            blocks[3 * count] = l
            blocks[3 * count + 1] = k0
            blocks[3 * count + 2] = min(k0 + width, size)
            count += 1
            k0 += width
    return count


cdef inline bint _blocks_alone(const Net* net, Py_ssize_t B) noexcept nogil:
    """Whether a batch of B rows and one chunk still takes the two phases
    (``_BLOCKS_ALONE_FLOPS``): B ≥ 2, no tied weights (one block), and
    2 B Σ_ℓ d_{ℓ−1} d_ℓ at least that."""
    cdef Py_ssize_t l
    cdef double flops = 0
    if B < 2 or net.has_tied:
        return False
    for l in range(1, net.n_layers + 1):
        flops += 2.0 * B * net.sizes[l - 1] * net.sizes[l]
    return flops >= _BLOCKS_ALONE_FLOPS


cdef inline rng_t _chunk_seed(rng_t state, Py_ssize_t c) noexcept nogil:
    """Chunk c's mask stream: chunk 0 keeps the batch's state."""
    return state ^ (<rng_t>c * 0xBF58476D1CE4E5B9ULL)


cdef void _keep_rows(Job* job, Py_ssize_t r0, Py_ssize_t n,
                     floating* work, const floating* X) noexcept nogil:
    """Copy the D_ℓ (ℓ < L) and RBF U_ℓ that rows r0 … r0 + n − 1 left in
    a slot's workspace into the panels, for JOB_WEIGHTS."""
    cdef const Net* net = job.net
    cdef Py_ssize_t l, d
    for l in range(net.n_layers):
        d = net.sizes[l]
        if job.seen[l] != NULL and (l > 0 or job.training):
            memcpy(<floating*>job.seen[l] + r0 * d,
                   seen_of(net, n, work, X, l, job.training),
                   n * d * sizeof(floating))
        if job.pre[l] != NULL:
            d = net.sizes[l + 1]
            memcpy(<floating*>job.pre[l] + r0 * d, pre_of(net, n, work, l + 1),
                   n * d * sizeof(floating))


cdef void _split_main(void* ctx, int slot) noexcept nogil:
    """What every slot of a PoolSplit runs: claim blocks until none is left."""
    cdef PoolSplit* ps = <PoolSplit*>ctx
    cdef long k
    while True:
        k = pynn_claim(&ps.next)
        if k >= ps.n:
            return
        ps.fn(ps.ctx, k)


cdef void _split_run(Splitter* sp, Py_ssize_t n, block_fn fn,
                     void* ctx) noexcept nogil:
    """Splitter.run on the pool: blocks 0 … n − 1 on up to ps.slots slots."""
    cdef PoolSplit* ps = <PoolSplit*>sp
    ps.fn, ps.ctx, ps.n, ps.next = fn, ctx, n, 0
    pynn_pool_run(<int>min(<Py_ssize_t>ps.slots, n), _split_main, ps)


cdef void _run_chunk(Job* job, Py_ssize_t c, int slot,
                     floating* dummy) noexcept nogil:
    """One chunk of a JOB_DELTAS, JOB_LOSS or JOB_FORWARD job."""
    cdef const Net* net = job.net
    cdef Py_ssize_t r0 = c * job.rows, n = min(job.rows, job.B - c * job.rows)
    cdef Py_ssize_t n_in = net.sizes[0], n_out = net.sizes[net.n_layers]
    cdef floating* params = <floating*>job.params
    cdef const floating* X = <const floating*>job.X + r0 * n_in
    cdef const floating* T = NULL
    cdef const floating* sw = NULL
    cdef floating* work = <floating*>(job.work + slot * job.w_stride)
    cdef rng_t state = _chunk_seed(job.seed, c)
    if job.kind == JOB_FORWARD:
        forward_pass(net, <const floating*>params, X, n, work, NULL)
        memcpy(<floating*>job.out + r0 * n_out, output_of(net, n, work),
               n * n_out * sizeof(floating))
        return
    T = <const floating*>job.T + r0 * n_out
    if job.sw != NULL:
        sw = <const floating*>job.sw + r0
    # A batch of one chunk shares its wide layers' products out by columns
    # (the pool is free: one chunk runs on the caller alone).
    cdef Splitter* sp = &job.split.base if job.n_chunks == 1 else NULL
    forward_pass_split(net, <const floating*>params, X, n, work,
                       &state if job.training else NULL, sp)
    if job.kind == JOB_DELTAS:
        job.losses[c] = backward_deltas(net, params, X, T, n, job.loss, work,
                                        job.training, sw,
                                        <floating**>job.deltas, r0, sp)
        _keep_rows(job, r0, n, work, X)
    else:
        job.losses[c] = backward_pass(net, params, X, T, n, job.loss,
                                      LOSS_ONLY, 0.0, NULL, NULL, work, False,
                                      sw)
    job.correct[c] = count_correct(job.accuracy, output_of(net, n, work), T,
                                   n, n_out)


cdef void _run_block(Job* job, Py_ssize_t t, floating* dummy) noexcept nogil:
    """Block t of a JOB_WEIGHTS job: layer ℓ's columns (or rows) k0 … k1 − 1
    of α Δ_ℓᵀ D_{ℓ−1} with α = 1/norm into grads (``store``), or the SGD
    step W_ℓ ← W_ℓ − (η/norm) Δ_ℓᵀ D_{ℓ−1} in place; block ℓ = 0 (tied
    weights) runs every layer, L … 1, into grads (then steps, for SGD)."""
    cdef const Net* net = job.net
    cdef Py_ssize_t l = job.blocks[3 * t], k0 = job.blocks[3 * t + 1]
    cdef Py_ssize_t k1 = job.blocks[3 * t + 2], i, n
    cdef floating* params = <floating*>job.params
    cdef floating* grads = <floating*>job.grads
    cdef floating alpha = <floating>((1.0 if job.store else -job.lr) / job.norm)
    cdef floating beta = 0 if job.store else 1
    if l > 0:
        weight_block(net, l, params, grads, job.store, _seen_panel(job, l - 1,
                     dummy), <floating*>job.deltas[l - 1],
                     <floating*>job.pre[l - 1], job.B, alpha, beta, k0, k1)
        return
    n = net.layer[net.n_layers - 1].b_off + net.sizes[net.n_layers]
    memset(grads, 0, n * sizeof(floating))
    for l in range(net.n_layers, 0, -1):
        weight_block(net, l, params, grads, True, _seen_panel(job, l - 1, dummy),
                     <floating*>job.deltas[l - 1], <floating*>job.pre[l - 1],
                     job.B, <floating>(1.0 / job.norm), 1, 0,
                     net.sizes[l - 1] if split_inputs(net, l) else net.sizes[l])
    if not job.store:
        for i in range(n):
            params[i] -= <floating>(job.lr * grads[i])


cdef inline const floating* _seen_panel(Job* job, Py_ssize_t l,
                                        floating* dummy) noexcept nogil:
    """D_ℓ over the whole batch: its panel, or X for an uncorrupted input."""
    if l == 0 and (job.seen[0] == NULL or not job.training):
        return <const floating*>job.X
    return <const floating*>job.seen[l]


cdef void _job_main(void* ctx, int slot) noexcept nogil:
    """What every slot runs: claim chunks (or blocks) until none is left."""
    cdef Job* job = <Job*>ctx
    cdef long c
    cdef long n = (job.n_blocks if job.kind == JOB_WEIGHTS else
                   job.n_pieces if job.kind == JOB_UPDATE else job.n_chunks)
    while True:
        c = pynn_claim(&job.next)
        if c >= n:
            return
        if job.kind == JOB_UPDATE and job.is_double:
            _run_piece(job, c, <double*>NULL)
        elif job.kind == JOB_UPDATE:
            _run_piece(job, c, <float*>NULL)
        elif job.kind == JOB_WEIGHTS and job.is_double:
            _run_block(job, c, <double*>NULL)
        elif job.kind == JOB_WEIGHTS:
            _run_block(job, c, <float*>NULL)
        elif job.is_double:
            _run_chunk(job, c, slot, <double*>NULL)
        else:
            _run_chunk(job, c, slot, <float*>NULL)


cdef void _run_piece(Job* job, Py_ssize_t c, floating* kind) noexcept nogil:
    """JOB_UPDATE: the optimiser's step on piece c (``_update_spans``)."""
    _update_spans(job.net, <floating*>job.params, <const floating*>job.grads,
                  <floating*>job.s1, <floating*>job.s2, job.rule, job.scale,
                  job.c1, job.c2, c, c + 1)


cdef void _update_pool(Job* job, floating* params, floating* grads,
                       floating* s1, floating* s2,
                       Rule* r) noexcept nogil:
    """``apply_update``, its per-element pass shared out in pieces over up
    to job.u_slots of the pool's slots; the penalty and clipping sums stay
    on the caller, in region order, so the result is apply_update's."""
    cdef const Net* net = job.net
    cdef int kind = job.kind
    cdef double scale, c1, c2
    cdef Py_ssize_t n = _n_pieces(net)
    _step_setup(net, params, grads, r, &scale, &c1, &c2)
    if job.u_slots <= 1 or n < UPDATE_MIN_PIECES:
        _update_spans(net, params, grads, s1, s2, r, scale, c1, c2, 0, n)
        return
    job.kind, job.params, job.grads = JOB_UPDATE, params, grads
    job.s1, job.s2, job.rule = s1, s2, r
    job.scale, job.c1, job.c2, job.n_pieces = scale, c1, c2, n
    job.next = 0
    pynn_pool_run(<int>min(<Py_ssize_t>job.u_slots, n), _job_main, job)
    job.kind = kind


cdef void _weights(Job* job, void* grads, double norm, bint sgd_step,
                   double lr) noexcept nogil:
    """After a JOB_DELTAS run: grads ← Σ_i w_i ∇L_i / norm, or with
    ``sgd_step`` the step params ← params − η Σ_i w_i ∇L_i / norm, by
    blocks on the pool's slots."""
    job.kind, job.grads, job.norm = JOB_WEIGHTS, grads, norm
    job.store, job.lr = not sgd_step, lr
    job.next = 0
    pynn_pool_run(<int>min(<Py_ssize_t>job.b_slots, job.n_blocks),
                  _job_main, job)
    job.kind = JOB_DELTAS


cdef class Scratch:
    """Memory for chunked passes, kept between calls: one workspace per slot
    (aligned to 64 bytes, so a chunk sees the same alignment on whichever
    slot runs it), the panels of a gradient's deltas and activations over
    the whole batch, the weight blocks, and the chunks' loss and count
    cells.  Not to be shared by concurrent calls."""
    cdef char* raw
    cdef char* base
    cdef Py_ssize_t size

    def __dealloc__(self):
        free(self.raw)

    cdef char* reserve(self, Py_ssize_t n) except NULL:
        cdef char* p
        if n > self.size or self.raw == NULL:
            p = <char*>malloc(n + ALIGN)
            if p == NULL:
                raise MemoryError(f"cannot allocate {n} bytes for threads")
            free(self.raw)
            self.raw, self.size = p, n
            self.base = <char*>((<size_t>p + ALIGN - 1) // ALIGN * ALIGN)
        return self.base

    @property
    def nbytes(self):
        return self.size


cdef inline Scratch _own(Scratch scratch):
    """``scratch``, or a new one.  The caller must keep the result in a
    variable while the job runs: its buffers die with it."""
    return Scratch() if scratch is None else scratch


cdef Py_ssize_t _panel_bytes(const Net* net, Py_ssize_t B_max,
                             Py_ssize_t itemsize, char* p, Job* job) noexcept nogil:
    """Bytes of a gradient's panels and block table for batches of up to
    B_max rows; with p (room for them) also points the job's tables there."""
    cdef Py_ssize_t L = net.n_layers, l, off = 0
    cdef Py_ssize_t ptrs = _up(3 * L * sizeof(void*))
    cdef Py_ssize_t table = _up(3 * L * MAX_BLOCKS * sizeof(Py_ssize_t))
    if p != NULL:
        job.deltas = <void**>p
        job.seen, job.pre = job.deltas + L, job.deltas + 2 * L
        job.blocks = <Py_ssize_t*>(p + ptrs)
    off = ptrs + table
    for l in range(L):
        if p != NULL:
            job.deltas[l] = p + off
        off += _up(B_max * net.sizes[l + 1] * itemsize)
        if p != NULL:
            job.seen[l] = NULL
            job.pre[l] = NULL
        if l > 0 or net.pos[0].ws_d >= 0:
            if p != NULL:
                job.seen[l] = p + off
            off += _up(B_max * net.sizes[l] * itemsize)
        if net.layer[l].kind == RBF:
            if p != NULL:
                job.pre[l] = p + off
            off += _up(B_max * net.sizes[l + 1] * itemsize)
    return off


cdef int _setup_job(Job* job, Layout layout, Scratch scratch,
                    Py_ssize_t B_max, int passes, int n_threads,
                    Py_ssize_t itemsize, bint grads,
                    Py_ssize_t fixed_rows=0, char* room=NULL,
                    Py_ssize_t room_bytes=0) except -1:
    """Carve from ``scratch`` the buffers of chunked passes over batches of
    up to B_max rows on up to n_threads slots (chunks of ``fixed_rows``
    rows if > 0, else by the rule of ``_limits``), with a gradient's panels
    if ``grads`` — in ``room`` (the caller's whole-batch workspace, which
    chunked passes leave unused) when they fit there; ``_geometry`` then
    sets up each batch."""
    cdef const Net* net = &layout.net
    cdef Py_ssize_t base, limit
    _limits(net, passes, grads, &base, &limit)
    if fixed_rows > 0:
        base, limit = fixed_rows, B_max
    # The most chunks and rows any batch of up to B_max rows has (a smaller
    # batch may have longer chunks: 128 rows on 64-row chunks is 2 × 64,
    # 130 rows 4 × 33).
    cdef Py_ssize_t n_chunks = _n_chunks(B_max, base, limit, fixed_rows == 0)
    cdef Py_ssize_t rows = min(B_max, max(base, (B_max + limit - 1) // limit))
    cdef Py_ssize_t slots = min(<Py_ssize_t>max(n_threads, 1), n_chunks)
    cdef bint alone = grads and n_chunks <= 1 and _blocks_alone(net, B_max)
    job.net = net
    job.base, job.limit, job.slots = base, limit, <int>slots
    job.b_slots = <int>min(<Py_ssize_t>max(n_threads, 1),
                           net.n_layers * MAX_BLOCKS)
    job.u_slots = <int>max(n_threads, 1)
    job.split.base.run = _split_run
    job.split.slots = job.u_slots
    job.n_pieces = 0
    job.is_double = itemsize == 8
    job.sw = job.T = job.out = job.grads = NULL
    job.training = job.store = False
    job.seed = 0
    job.accuracy = NO_ACCURACY
    job.n_blocks = 0
    job.blocks = NULL
    job.balance = fixed_rows == 0
    if n_chunks <= 1:           # one chunk: no buffers, unless in blocks
        job.limit = 1
        if not alone:
            return 0
    cdef Py_ssize_t w_stride = _up(workspace_size(net, rows) * itemsize)
    cdef Py_ssize_t panels = _panel_bytes(net, B_max, itemsize, NULL, job) \
        if grads else 0
    cdef Py_ssize_t cells = _up(n_chunks * sizeof(double))
    cdef bint in_room = grads and room != NULL and room_bytes >= panels + ALIGN
    if in_room:
        panels = 0
    cdef char* p = scratch.reserve(slots * w_stride + panels + 2 * cells)
    job.work, job.w_stride = p, w_stride
    if in_room:
        _panel_bytes(net, B_max, itemsize,
                     <char*>((<size_t>room + ALIGN - 1) // ALIGN * ALIGN), job)
    elif grads:
        _panel_bytes(net, B_max, itemsize, p + slots * w_stride, job)
    job.losses = <double*>(p + slots * w_stride + panels)
    job.correct = <Py_ssize_t*>(p + slots * w_stride + panels + cells)
    return 0


cdef inline bint _geometry(Job* job, Py_ssize_t B) noexcept nogil:
    """Chunk a batch of B rows; False if it is one chunk whose weight
    gradient is not worth blocks (``_blocks_alone``): run it whole."""
    job.B = B
    job.rows = _chunk_len(B, job.base, job.limit, job.balance)
    job.n_chunks = (B + job.rows - 1) // job.rows
    job.next = 0
    if job.blocks == NULL:
        return job.n_chunks > 1
    job.n_blocks = _plan_blocks(job.net, B, job.blocks)
    return job.n_chunks > 1 or _blocks_alone(job.net, B)


cdef double _run_chunks(Job* job) noexcept nogil:
    """Run every chunk of the job on its slots; returns Σ_c losses[c] in
    chunk order (and leaves Σ_c correct[c] in job.n_correct)."""
    cdef Py_ssize_t c
    cdef double total = 0
    job.next = 0
    pynn_pool_run(<int>min(<Py_ssize_t>job.slots, job.n_chunks), _job_main,
                  job)
    job.n_correct = 0
    if job.kind != JOB_FORWARD:
        for c in range(job.n_chunks):
            total += job.losses[c]
            job.n_correct += job.correct[c]
    return total


def chunk_rows(Layout layout, Py_ssize_t batch, int passes=3):
    """Rows per chunk of a batch (``batch``: one chunk), as the kernels
    split it: a function of the layout and the batch size alone.
    ``passes`` 3 for training (a gradient), 1 for inference."""
    if batch < 1 or passes < 1:
        raise ValueError("batch and passes must be ≥ 1")
    cdef Py_ssize_t base, limit
    _limits(&layout.net, passes, passes == 3, &base, &limit)
    return _chunk_len(batch, base, limit, True)


def weight_blocks(Layout layout, Py_ssize_t batch):
    """The weight-gradient blocks of a training batch of ``batch`` rows, as
    the pool runs them (``_plan_blocks``): a list of (ℓ, k0, k1), layer ℓ's
    columns (inputs, ``split_inputs``) or rows k0 … k1 − 1; ℓ = 0 is the
    whole pass of a net with tied weights.  A function of the layout and
    the batch size alone."""
    if batch < 1:
        raise ValueError("batch must be ≥ 1")
    cdef const Net* net = &layout.net
    cdef Py_ssize_t* room = <Py_ssize_t*>malloc(
        3 * max(net.n_layers, 1) * MAX_BLOCKS * sizeof(Py_ssize_t))
    if room == NULL:
        raise MemoryError()
    try:
        count = _plan_blocks(net, batch, room)
        return [(room[3 * t], room[3 * t + 1], room[3 * t + 2])
                for t in range(count)]
    finally:
        free(room)


def split_columns(Layout layout, Py_ssize_t batch, bint backward=False):
    """Per layer ℓ, the columns per block of its forward product U_ℓ (with
    ``backward``: of G_{ℓ−1} = Δ_ℓ W_ℓ) when a training batch of ``batch``
    rows is one chunk (``chunk_rows``) that goes through the pool
    (``_blocks_alone``); the full width: not split.  A function of the
    layout and the batch size alone."""
    if batch < 1:
        raise ValueError("batch must be ≥ 1")
    cdef const Net* net = &layout.net
    cdef bint pooled = (chunk_rows(layout, batch) >= batch and
                        _blocks_alone(net, batch))
    if backward:
        return [input_blocks(net, l, batch) if pooled else net.sizes[l - 1]
                for l in range(1, net.n_layers + 1)]
    return [forward_blocks(net, l, batch) if pooled else net.sizes[l]
            for l in range(1, net.n_layers + 1)]


def pool_workers():
    """Worker threads pynn's pool has started (they persist, asleep)."""
    return pynn_pool_workers()


def _check_threads(n_threads):
    if not isinstance(n_threads, int) or n_threads < 1:
        raise ValueError(f"n_threads must be an integer ≥ 1, got {n_threads!r}")
    return min(n_threads, 256)


def run_batches(Layout layout, floating[::1] params, floating[::1] grads,
                Batches data, Py_ssize_t start, Py_ssize_t stop,
                Py_ssize_t batch_size, int loss, int accuracy, Update update,
                double lr, floating[::1] work, seed=None, n_threads=1,
                Scratch scratch=None, Py_ssize_t epochs=1,
                double[:, ::1] records=None, floating[::1] snapshot=None,
                double ceiling=float("inf")):
    """Train on samples start:stop (positions in ``data.order``, if set).

    Each batch: forward; loss and correct predictions counted before the
    step; then the plain SGD step fused into the backward pass when
    ``update`` allows it, else the gradient and ``update``'s step.  Plain
    SGD at batch 1 on a net that ``_network.fused_sgd_qualifies`` takes all
    of it in one call of csrc/_fused.c (same bits;
    ``_network.set_fused_sgd(False)`` turns that off).
    ``update.step`` counts the steps taken.  ``seed`` (an integer) drives
    the dropout masks and noise of a stochastic layout (reseeded per batch
    from the seed and the batch's index in the epoch); None trains without
    them.

    A batch of more than one chunk (see ``chunk_rows``) runs its chunks'
    forward and delta passes, then the blocks of its weight gradient (or
    SGD step) over the whole batch (so does a batch of one chunk whose
    weight product is large: B ≥ 2 and 2 B Σ d_{ℓ−1} d_ℓ ≥ 8 MFLOP), on up
    to ``n_threads`` of pynn's threads (memory from ``scratch``, kept between calls when given): the
    result does not depend on n_threads.

    Returns (Σ w_i L_i, Σ w_i, correct predictions, samples done, status)
    where status 1 means a batch's loss was not finite and training stopped
    before that batch's update (w_i = 1 without sample weights).

    ``epochs`` > 1 trains that many epochs over start:stop in this one call
    (the operations of one call per epoch, without the interpreter in
    between; ``seed`` must be None).  An order then holds one permutation
    per epoch, back to back.  Epoch e begins by copying params into
    ``snapshot``; once it has run to its end it writes (Σ w_i L_i, Σ w_i,
    correct) into ``records[e]`` and stops the call with status 2 if its
    mean loss (Σ w_i L_i / Σ w_i, 0 when Σ w_i = 0) is not finite or
    exceeds ``ceiling``, or a parameter is not finite.  The sums returned
    are then the last epoch's and "samples done" counts every epoch's.
    """
    cdef const Net* net = &layout.net
    cdef Py_ssize_t n_in = net.sizes[0], n_out = net.sizes[net.n_layers]
    cdef Py_ssize_t pos = start, B, correct = 0, t0 = update.step
    cdef const Py_ssize_t[::1] order_v
    cdef const Py_ssize_t* ord = NULL
    cdef const floating[:, ::1] X = data.X
    cdef const floating[:, ::1] T = data.T
    cdef const floating[::1] w_all
    cdef const floating* w = NULL
    cdef floating* xbuf = NULL
    cdef floating* tbuf = NULL
    cdef floating* wbuf = NULL
    cdef floating[:, ::1] xb_v, tb_v, wb_v
    cdef double total = 0, wsum = 0, batch_loss, bw
    cdef int status = 0, fvariant
    cdef bint fused = not update.needs_gradient
    cdef bint online = update.steps_online(net, batch_size)
    # Plain SGD one sample at a time on a small Dense net: forward, delta,
    # backward and step in one call of the fused kernel (same bits).
    cdef pynn_fused_net fnet
    cdef bint small = (fused and batch_size == 1 and
                       _network.fused_sgd_qualifies(layout, loss))
    cdef OnlineStep ost
    cdef const floating* xb
    cdef const floating* tb
    cdef const floating* wb
    cdef floating* s1 = NULL
    cdef floating* s2 = NULL
    cdef rng_t state = 0
    cdef rng_t* rng = NULL
    cdef Rule r
    # the caller's MXCSR, read before any setup arithmetic can set a flag
    cdef fpenv_t caller = fpenv_save()
    cdef Job job
    cdef int nt = _check_threads(n_threads)
    cdef Py_ssize_t e, span = 0, done = 0
    cdef double mean
    cdef floating* snap = NULL

    # Checks that keep the nogil loop in bounds.
    if not (0 <= loss < N_LOSSES and 0 <= accuracy < N_ACCURACY):
        raise ValueError("unknown loss or accuracy code")
    if batch_size > data.capacity or batch_size < 1:
        raise ValueError("batch_size exceeds the data's batch buffers")
    if X.shape[1] != n_in or T.shape[1] != n_out:
        raise ValueError("X, T do not match the layout")
    if params.shape[0] != layout.n_params or grads.shape[0] != params.shape[0]:
        raise ValueError("params/grads do not match the layout")
    if data.weights is not None and net.has_penalty:
        raise ValueError("sample weights do not combine with activity penalties")
    if not (0 <= start <= stop):
        raise ValueError("bad batch range")
    if epochs < 1:
        raise ValueError("epochs must be >= 1")
    if epochs > 1:
        if seed is not None:
            raise ValueError("epochs > 1 trains without dropout or noise")
        if records is None or records.shape[0] < epochs or records.shape[1] != 3:
            raise ValueError("records must have epochs rows of 3")
        if snapshot is None or snapshot.shape[0] != params.shape[0]:
            raise ValueError("snapshot must have one entry per parameter")
        snap = &snapshot[0]
    if data.order is not None:
        order_v = data.order
        span = order_v.shape[0] // epochs
        if span * epochs != order_v.shape[0]:
            raise ValueError("the order must hold one permutation per epoch")
        if stop > span:
            raise ValueError("stop beyond order")
        ord = &order_v[0] if order_v.shape[0] else NULL
        xb_v, tb_v = data.x_buf, data.t_buf
        xbuf, tbuf = &xb_v[0, 0], &tb_v[0, 0]
        if data.weights is not None:
            wb_v = data.w_buf
            wbuf = &wb_v[0, 0]
    elif stop > X.shape[0]:
        raise ValueError("stop beyond X")
    if data.weights is not None:
        w_all = data.weights
        w = &w_all[0] if w_all.shape[0] else NULL
    if work.shape[0] < workspace_size(net, batch_size):
        raise ValueError("work buffer too small")
    if not fused:
        _state_of(update, params, &s1, &s2)
    if start == stop:
        return 0.0, 0.0, 0, 0, 0
    cdef rng_t base = 0
    if seed is not None:
        base = <rng_t>(int(seed) & 0xFFFFFFFFFFFFFFFF)
        rng = &state
    cdef bint training = rng != NULL
    r = update.rule(lr, t0)
    ost.s1 = <void*>s1
    ost.s2 = <void*>s2
    scratch = _own(scratch)
    _setup_job(&job, layout, scratch,
               min(batch_size, stop - start), 3, nt, sizeof(floating), True,
               0, <char*>&work[0], work.shape[0] * sizeof(floating))
    job.kind, job.loss, job.accuracy = JOB_DELTAS, loss, accuracy
    job.params, job.training = &params[0], training
    if small:
        fvariant = _blas.kernel_variant_code()
        if not pynn_fused_have_variant(fvariant):
            fvariant = 0
        fused_sgd_describe(net, fvariant, &fnet)
        # room for a deferred update of W_1: z_0 and a δ_1 (csrc/_fused.h)
        fnet.pend = malloc((net.sizes[0] + net.sizes[1]) * sizeof(floating))
        if fnet.pend == NULL:
            raise MemoryError()

    cdef const Py_ssize_t* ord0 = ord
    with nogil:
        fpenv_enter()       # the exit restores ``caller``
        for e in range(epochs):
            if epochs > 1:
                memcpy(snap, &params[0], params.shape[0] * sizeof(floating))
                pos = start
                total = wsum = 0.0
                correct = 0
                if ord0 != NULL:
                    ord = ord0 + e * span
            while pos < stop:
                B = batch_size if stop - pos >= batch_size else stop - pos
                if training:
                    # Masks depend on the seed and the batch's index alone, so
                    # how the epoch is split into calls never changes them.
                    state = base + <rng_t>(pos // batch_size) * 0xD1B54A32D192ED03ULL
                _gather(&X[0, 0], &T[0, 0], w, n_in, n_out, ord, pos, B, xbuf,
                        tbuf, wbuf, &xb, &tb, &wb)
                if not small and _geometry(&job, B):
                    job.X, job.T, job.sw, job.seed = xb, tb, wb, state
                    batch_loss = _run_chunks(&job)
                    if not isfinite(batch_loss):
                        status = 1
                        break
                    correct += job.n_correct
                    bw = B if wb == NULL else _sum(wb, B)
                    if bw > 0:
                        r.t = r.t + 1
                        _weights(&job, &grads[0], bw, fused, lr)
                        if not fused:
                            _update_pool(&job, &params[0], &grads[0], s1, s2, &r)
                    total += batch_loss
                    wsum += bw
                    pos += B
                    continue
                if small:           # B = 1, plain SGD: one fused C call
                    if floating is float:
                        batch_loss = pynn_fused_sgd_f(&fnet, &params[0], xb, tb,
                                                      wb, lr, &work[0])
                    else:
                        batch_loss = pynn_fused_sgd_d(&fnet, &params[0], xb, tb,
                                                      wb, lr, &work[0])
                elif online:        # B = 1: the step fused into backprop
                    forward_pass(net, &params[0], xb, B, &work[0], rng)
                    ost.rule = r
                    ost.rule.t = r.t + 1
                    step_constants(&ost.rule, &ost.c1, &ost.c2)
                    batch_loss = online_step_pass(net, &params[0], xb, tb, loss,
                                                  &ost, &work[0], training, wb)
                else:
                    forward_pass(net, &params[0], xb, B, &work[0], rng)
                    batch_loss = backward_pass(net, &params[0], xb, tb, B, loss,
                                               SGD_UPDATE if fused else GRADIENT,
                                               lr, &grads[0], NULL, &work[0],
                                               training, wb)
                if not isfinite(batch_loss):
                    status = 1
                    break
                correct += count_correct(accuracy, output_of(net, B, &work[0]),
                                         tb, B, n_out)
                bw = B if wb == NULL else _sum(wb, B)
                if bw > 0:          # a batch of zero weights takes no step
                    r.t = r.t + 1
                    if not (fused or online):
                        _update_pool(&job, &params[0], &grads[0], s1, s2, &r)
                total += batch_loss
                wsum += bw
                pos += B
            if floating is float:
                if small:   # a deferred W_1 update (csrc/_fused.h)
                    pynn_fused_flush_f(&fnet, &params[0])
            done += pos - start
            if status or epochs == 1:
                break
            records[e, 0] = total
            records[e, 1] = wsum
            records[e, 2] = correct
            mean = total / wsum if wsum != 0 else 0.0
            if not (isfinite(mean) and mean <= ceiling
                    and all_finite(&params[0], params.shape[0])):
                status = 2
                break
        fpenv_exit(caller)
    if small:
        free(fnet.pend)
    update.step = r.t
    return total, wsum, correct, done, status


def gradient(Layout layout, floating[::1] params, floating[::1] grads,
             const floating[:, ::1] X, const floating[:, ::1] T, int loss,
             double l2, floating[::1] work, const floating[::1] weights=None,
             seed=None, n_threads=1, Scratch scratch=None):
    """The gradient-only pass over one batch: grads ← Σ_i w_i ∇L_i / Σ_i w_i
    + λ W (activity penalties included; λ on weights, not biases).

    Returns (Σ_i w_i L_i + B·P, Σ_i w_i); params are not changed.  ``seed``
    as in ``run_batches`` (None: no dropout or noise); ``n_threads`` and
    ``scratch`` too (the chunked passes of ``run_batches``).
    """
    cdef const Net* net = &layout.net
    cdef Py_ssize_t B = X.shape[0]
    cdef double total, wsum
    cdef rng_t state = 0
    cdef rng_t* rng = NULL
    cdef const floating* w = NULL
    # the caller's MXCSR, read before any setup arithmetic can set a flag
    cdef fpenv_t caller = fpenv_save()
    if B < 1 or B > INT_MAX:
        raise ValueError(f"the batch must have 1 … {INT_MAX} rows")
    if X.shape[1] != net.sizes[0] or T.shape[0] != B \
            or T.shape[1] != net.sizes[net.n_layers]:
        raise ValueError("X, T do not match the layout")
    if not 0 <= loss < N_LOSSES:
        raise ValueError("unknown loss code")
    if params.shape[0] != layout.n_params or grads.shape[0] != params.shape[0]:
        raise ValueError("params/grads do not match the layout")
    if work.shape[0] < workspace_size(net, B):
        raise ValueError("work buffer too small")
    if weights is not None:
        if weights.shape[0] != B:
            raise ValueError("weights must have one entry per row of X")
        if net.has_penalty:
            raise ValueError("sample weights do not combine with activity "
                             "penalties")
        w = &weights[0]
    if seed is not None:
        state = <rng_t>(int(seed) & 0xFFFFFFFFFFFFFFFF)
        rng = &state
    cdef Job job
    scratch = _own(scratch)
    _setup_job(&job, layout, scratch, B, 3,
               _check_threads(n_threads), sizeof(floating), True, 0,
               <char*>&work[0], work.shape[0] * sizeof(floating))
    job.kind, job.loss, job.params, job.training = JOB_DELTAS, loss, \
        &params[0], rng != NULL
    job.X, job.T, job.sw, job.seed = &X[0, 0], &T[0, 0], w, state
    with nogil:
        fpenv_enter()       # the exit restores ``caller``
        wsum = B if w == NULL else _sum(w, B)
        if _geometry(&job, B):
            total = _run_chunks(&job)
            if wsum != 0:
                _weights(&job, &grads[0], wsum, False, 0.0)
            else:
                memset(&grads[0], 0, grads.shape[0] * sizeof(floating))
        else:
            forward_pass(net, &params[0], &X[0, 0], B, &work[0], rng)
            total = backward_pass(net, &params[0], &X[0, 0], &T[0, 0], B,
                                  loss, GRADIENT, 0.0, &grads[0], NULL,
                                  &work[0], rng != NULL, w)
        if l2 != 0:
            add_l2(net, &params[0], &grads[0], l2)
        fpenv_exit(caller)
    return total, wsum


def step(Layout layout, floating[::1] params, const floating[::1] grads,
         Update update, double lr):
    """``apply_update`` as an entry point: one optimiser step from grads
    (which must already hold the gradient to follow, e.g. after
    ``gradient`` and an all-reduce).  Increments ``update.step``.

    The L2 weight and clipping of ``update`` apply here as in the fused
    loop (pass l2 = 0 to ``gradient`` then, or to ``update``, not both).
    """
    cdef floating* s1 = NULL
    cdef floating* s2 = NULL
    cdef Rule r
    cdef fpenv_t fpe
    if params.shape[0] != layout.n_params or grads.shape[0] != params.shape[0]:
        raise ValueError("params/grads do not match the layout")
    _state_of(update, params, &s1, &s2)
    r = update.rule(lr, update.step + 1)
    with nogil:
        fpe = fpenv_enter()
        apply_update(&layout.net, &params[0], &grads[0], s1, s2, &r)
        fpenv_exit(fpe)
    update.step = r.t


def l2_penalty(Layout layout, const floating[::1] params):
    """½ Σ_W ‖W‖² over the weight regions (biases excluded), in double."""
    cdef const Net* net = &layout.net
    cdef Py_ssize_t k, i, off
    cdef double s = 0
    if params.shape[0] != layout.n_params:
        raise ValueError("params do not match the layout")
    for k in range(net.n_regions):
        if net.regions[3 * k + 2]:
            off = net.regions[3 * k]
            for i in range(off, off + net.regions[3 * k + 1]):
                s += <double>params[i] * params[i]
    return 0.5 * s


def evaluate(Layout layout, const floating[::1] params,
             const floating[:, ::1] X, const floating[:, ::1] T, int loss,
             int accuracy, Py_ssize_t chunk, floating[::1] work,
             n_threads=1, Scratch scratch=None):
    """(Σ_i L_i, correct predictions) over X in chunks of ``chunk`` rows,
    the chunks' sums added in chunk order (on up to ``n_threads`` of pynn's
    threads, each chunk in a workspace from ``scratch``)."""
    cdef const Net* net = &layout.net
    cdef Py_ssize_t n = X.shape[0], n_in = net.sizes[0]
    cdef Py_ssize_t n_out = net.sizes[net.n_layers], pos = 0, B, correct = 0
    cdef double total = 0
    if X.shape[1] != n_in or T.shape[1] != n_out or T.shape[0] != n:
        raise ValueError("X, T do not match the layout")
    if not (0 <= loss < N_LOSSES and 0 <= accuracy < N_ACCURACY) \
            or chunk > INT_MAX:
        raise ValueError("unknown loss or accuracy code, or chunk too large")
    if params.shape[0] != layout.n_params or chunk < 1 \
            or work.shape[0] < workspace_size(net, chunk):
        raise ValueError("bad params, chunk or work buffer")
    # Inference: the caller's floating-point state, as Model.forward, so
    # that reported losses and accuracies agree with predictions.
    cdef int nt = _check_threads(n_threads)
    cdef Job job
    if nt > 1 and n > chunk:
        scratch = _own(scratch)
        _setup_job(&job, layout, scratch,
                   n, 1, nt, sizeof(floating), False, chunk)
        job.kind, job.loss, job.accuracy = JOB_LOSS, loss, accuracy
        job.params, job.X, job.T = <floating*>&params[0], &X[0, 0], &T[0, 0]
        with nogil:
            _geometry(&job, n)
            total = _run_chunks(&job)
        return total, job.n_correct
    with nogil:
        while pos < n:
            B = chunk if n - pos >= chunk else n - pos
            forward_pass(net, &params[0], &X[pos, 0], B, &work[0], NULL)
            total += backward_pass(net, <floating*>&params[0], &X[pos, 0],
                                   &T[pos, 0], B, loss, LOSS_ONLY, 0.0, NULL,
                                   NULL, &work[0], False, NULL)
            correct += count_correct(accuracy, output_of(net, B, &work[0]),
                                     &T[pos, 0], B, n_out)
            pos += B
    return total, correct


def predict(Layout layout, const floating[::1] params,
            const floating[:, ::1] X, floating[:, ::1] out, n_threads=1,
            Scratch scratch=None):
    """out ← Z_L for the rows of X (inference), in chunks of ``chunk_rows``
    rows (passes = 1) on up to ``n_threads`` of pynn's threads: each row's
    output is that of its chunk, whatever the number of threads."""
    cdef const Net* net = &layout.net
    cdef Py_ssize_t n = X.shape[0]
    cdef Job job
    if X.shape[1] != net.sizes[0] or out.shape[0] != n \
            or out.shape[1] != net.sizes[net.n_layers]:
        raise ValueError("X, out do not match the layout")
    if params.shape[0] != layout.n_params:
        raise ValueError("params do not match the layout")
    if n > INT_MAX:
        raise ValueError(f"at most {INT_MAX} rows")
    if n == 0:
        return out
    scratch = _own(scratch)
    _setup_job(&job, layout, scratch, n, 1,
               _check_threads(n_threads), sizeof(floating), False)
    cdef floating[::1] work
    if job.limit == 1 or n <= job.base:     # one chunk: no pool
        work = np.empty(workspace_size(net, n), np.asarray(params).dtype)
        with nogil:
            forward_pass(net, &params[0], &X[0, 0], n, &work[0], NULL)
            memcpy(&out[0, 0], output_of(net, n, &work[0]),
                   n * out.shape[1] * sizeof(floating))
        return out
    job.kind, job.params, job.X, job.out = JOB_FORWARD, \
        <floating*>&params[0], &X[0, 0], &out[0, 0]
    with nogil:
        _geometry(&job, n)
        _run_chunks(&job)
    return out

