# The optimiser update of one contiguous span of parameters, in one place
# for the two passes that apply it: ``apply_update`` in _train.pyx (over a
# stored gradient) and the fused online step in _network.pyx (over one
# gradient row at a time, computed from δ_j z_{ℓ−1} while the backward pass
# walks the layers, so the gradient never goes to memory).  Both call
# ``update_span`` on the same values, so they give bit-identical results.
#
# Per element, with g ← s·(∇ + λ w) (λ: L2 weight on W, 0 on biases; s the
# global-norm clipping factor, 1 without clipping):
#     sgd        w ← w − η g
#     momentum   v ← μ v + g;      w ← w − η v            (PyTorch's form)
#     nesterov   v ← μ v + g;      w ← w − η (g + μ v)
#     adam       m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
#                w ← w − η (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)
#     rprop      (iRPROP−, full batch; see _rprop_span)
# and with Rule.sklearn scikit-learn's forms (_update.h, ``sklearn_constants``).
# State s1 (v, m or Δ) and s2 (Adam's v, RPROP's p) are laid out like params.
#
# Layer: inline functions over raw pointers (every module that cimports
# this gets its own copy, inlined) and the C loops of _update.c (generic and
# AVX2, chosen at load; PYNN_SIMD=0 forces the generic ones), which every
# such module links.
from cython cimport floating
from libc.math cimport sqrt, sqrtf, pow

cdef extern from "_update.h" nogil:
    # The vectorised loops of SGD, momentum, Nesterov and Adam (_update.c,
    # compiled into every module that cimports this header).
    enum:
        PYNN_UPD_SGD, PYNN_UPD_MOMENTUM, PYNN_UPD_NESTEROV, PYNN_UPD_ADAM
        PYNN_UPD_SK_MOMENTUM, PYNN_UPD_SK_NESTEROV, PYNN_UPD_SK_ADAM
    ctypedef struct pynn_update_t:
        int kind
        double lr, h0, h1, oh0, oh1, step, eps, decay, scale
    void pynn_update_span_f(const pynn_update_t* u, Py_ssize_t n, float* w,
                            const float* grad, float* s1, float* s2)
    void pynn_update_span_d(const pynn_update_t* u, Py_ssize_t n, double* w,
                            const double* grad, double* s1, double* s2)
    void pynn_update_row_f(const pynn_update_t* u, Py_ssize_t n, float* w,
                           float a, const float* z, float* s1, float* s2)
    void pynn_update_row_d(const pynn_update_t* u, Py_ssize_t n, double* w,
                           double a, const double* z, double* s1,
                           double* s2)


# Optimiser codes (pynn._train.Optimizer exports them to Python); the first
# four are _update.h's.
cdef enum:
    KIND_SGD = PYNN_UPD_SGD
    KIND_MOMENTUM = PYNN_UPD_MOMENTUM
    KIND_NESTEROV = PYNN_UPD_NESTEROV
    KIND_ADAM = PYNN_UPD_ADAM
    KIND_RPROP = 4
    N_KINDS = 5


cdef struct Rule:
    # One optimiser step's constants.  Hyper-parameters h0…h3: momentum and
    # nesterov h0 = μ; adam h0 = β₁, h1 = β₂, h2 = ε; rprop h0 = η⁻,
    # h1 = η⁺, h2 = Δ_min, h3 = Δ_max.
    int kind
    double lr, h0, h1, h2, h3, l2, clip
    Py_ssize_t t            # the step's number, 1-based
    bint sklearn            # scikit-learn's update forms (_update.h)
    double* penalty         # NULL, or where to add ½ Σ ‖W‖² before a step


cdef struct OnlineStep:
    # What the fused online pass (_network.pyx, ONLINE_STEP) needs to apply
    # one step while it backpropagates: the rule (``t`` = this step's
    # number), its bias corrections (``step_constants``) and the state
    # buffers, laid out like params (float* or double* like params; NULL
    # where the optimiser keeps none).
    Rule rule
    double c1, c2
    void* s1
    void* s2


cdef inline void step_constants(const Rule* r, double* c1,
                                double* c2) noexcept nogil:
    """Adam's bias corrections c₁ = 1 − β₁ᵗ, c₂ = 1 − β₂ᵗ (1 for others)."""
    c1[0] = c2[0] = 1
    if r.kind == KIND_ADAM:
        c1[0] = 1 - pow(r.h0, <double>r.t)
        c2[0] = 1 - pow(r.h1, <double>r.t)


cdef inline void _rprop_span(floating* w, const floating* grad, floating* step,
                             floating* prev, Py_ssize_t n, const Rule* r,
                             floating d, floating s) noexcept nogil:
    """iRPROP− on one span, in the buffers' precision, operation for
    operation as torch.optim.Rprop, with p the previous g:
        Δ ← clamp(Δ·η⁺ if g·p > 0, Δ·η⁻ if g·p < 0, else Δ; Δ_min, Δ_max);
        g ← 0 where g·p < 0;  w ← w − sign(g) Δ;  p ← g."""
    cdef Py_ssize_t i
    cdef floating g, p, f, st
    cdef floating em = <floating>r.h0, ep = <floating>r.h1
    cdef floating lo = <floating>r.h2, hi = <floating>r.h3
    for i in range(n):
        g = s * (grad[i] + d * w[i])
        p = g * prev[i]
        f = ep if p > 0 else (em if p < 0 else 1)
        st = step[i] * f
        st = lo if st < lo else (hi if st > hi else st)
        step[i] = st
        if p < 0:
            g = 0
        if g > 0:
            w[i] = w[i] - st
        elif g < 0:
            w[i] = w[i] + st
        prev[i] = g


cdef inline void sklearn_constants(const Rule* r, double decay, double scale,
                                   double c1, double c2,
                                   pynn_update_t* u) noexcept nogil:
    """The constants of ``pynn_update_*`` for scikit-learn's forms (module
    doc; _update.h's "sk" rules): sgd is its momentum form with μ = 0;
    Adam's η_t = η √c₂ / c₁ and an unscaled ε."""
    if r.kind == KIND_NESTEROV:
        u.kind = PYNN_UPD_SK_NESTEROV
    elif r.kind == KIND_ADAM:
        u.kind = PYNN_UPD_SK_ADAM
    else:
        u.kind = PYNN_UPD_SK_MOMENTUM
    u.lr, u.h0, u.h1 = r.lr, 0 if r.kind == KIND_SGD else r.h0, r.h1
    u.oh0, u.oh1 = 1 - r.h0, 1 - r.h1
    u.step = r.lr * sqrt(c2) / c1
    u.eps = r.h2
    u.decay, u.scale = decay, scale


cdef inline void span_constants(const Rule* r, double decay, double scale,
                                double c1, double c2,
                                pynn_update_t* u) noexcept nogil:
    """The constants of ``pynn_update_*`` (_update.h) for one step of rule
    ``r`` on a span with L2 weight ``decay`` (0 for biases) and clipping
    scale ``scale``.  Adam folds its bias corrections c₁, c₂ into two:
    η (m/c₁) / (√(v/c₂) + ε) = (η √c₂ / c₁) · m / (√v + ε √c₂)."""
    u.kind = r.kind
    u.lr, u.h0, u.h1 = r.lr, r.h0, r.h1
    u.oh0, u.oh1 = 1 - r.h0, 1 - r.h1
    u.step = r.lr * sqrt(c2) / c1
    u.eps = r.h2 * sqrt(c2)
    u.decay, u.scale = decay, scale


cdef inline void update_span(floating* w, const floating* grad, floating* s1,
                             floating* s2, Py_ssize_t n, const Rule* r,
                             double decay, double scale, double c1,
                             double c2) noexcept nogil:
    """The update of one contiguous span (see the top of this file);
    ``decay`` is λ (0 for biases), ``scale`` is s.  SGD, momentum, Nesterov
    and Adam, in pynn's forms or scikit-learn's, run in _update.c
    (vectorised; the same bits as its scalar loops), RPROP here."""
    cdef pynn_update_t u
    if r.kind == KIND_RPROP:
        _rprop_span(w, grad, s1, s2, n, r, <floating>decay, <floating>scale)
        return
    if r.sklearn:
        sklearn_constants(r, decay, scale, c1, c2, &u)
    else:
        span_constants(r, decay, scale, c1, c2, &u)
    if floating is float:
        pynn_update_span_f(&u, n, w, grad, s1, s2)
    else:
        pynn_update_span_d(&u, n, w, grad, s1, s2)


cdef inline void update_row(const pynn_update_t* u, Py_ssize_t n, floating* w,
                            floating a, const floating* z, floating* s1,
                            floating* s2) noexcept nogil:
    """``update_span`` with the constants ``u`` of ``span_constants`` and the
    gradient elements g_k = 0 + a z_k formed on the fly (one row of the
    rank-1 gradient a z^T, rounded as GER into zeroed memory rounds it), for
    SGD, momentum, Nesterov and Adam only (not RPROP or scikit-learn's
    forms)."""
    if floating is float:
        pynn_update_row_f(u, n, w, a, z, s1, s2)
    else:
        pynn_update_row_d(u, n, w, a, z, s1, s2)
