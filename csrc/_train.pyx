"""Training loops: many SGD steps in one nogil call, and the fused optimiser.

``run_batches`` visits the samples ``order[start:stop]`` (or start:stop in
storage order) in consecutive batches of ``batch_size`` (the last one may be
smaller and uses its own mean) and, for each batch,
    forward pass; Σ_i L_i and correct predictions counted before the step;
    plain SGD:  W ← W − (η/B) Σ_i δ_i z_iᵀ fused into the backward pass
                (GEMM β = 1, GER at B = 1: no gradient buffer), or
    otherwise:  g = mean gradient (GRADIENT mode), then ``apply_update``.
It stops before the update of a batch whose loss is not finite (status 1).

``apply_update`` is one pass over the flat buffers (DESIGN.md §2), per
element with g ← s·(∇ + λ w) (λ: L2 penalty on weights, not biases;
s = min(1, c/‖∇ + λw‖) when clipping the global norm at c):
    sgd        w ← w − η g
    momentum   v ← μ v + g;      w ← w − η v            (PyTorch's form)
    nesterov   v ← μ v + g;      w ← w − η (g + μ v)
    adam       m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
               w ← w − η (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)
State buffers s1 (v or m) and s2 (Adam's v) are laid out like params.

Layers: nogil kernels over raw pointers; ``def`` entry points for
pynn.trainer.
"""
from cython cimport floating
from libc.math cimport sqrt, sqrtf, pow, isfinite
from libc.string cimport memcpy
from libc.limits cimport INT_MAX

from pynn._network cimport (Net, forward_pass, backward_pass, output_of,
                            workspace_size, Layout, rng_t, GRADIENT,
                            SGD_UPDATE, LOSS_ONLY)

import numpy as np

cpdef enum Optimizer:
    SGD = 0
    MOMENTUM = 1
    NESTEROV = 2
    ADAM = 3

cpdef enum Accuracy:
    NO_ACCURACY = 0     # regression
    ARGMAX = 1          # one class per sample: argmax y == argmax t
    THRESHOLD = 2       # binary / multi-label: (y > ½) == (t > ½) for all outputs


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


cdef void _update_region(floating* w, const floating* grad, floating* s1,
                         floating* s2, Py_ssize_t n, int kind, double lr,
                         double mom, double b1, double b2, double eps,
                         double decay, double scale, double c1,
                         double c2) noexcept nogil:
    """The update of one contiguous region, one loop per optimiser.

    Each loop is branch-free and in the buffers' precision so that gcc
    vectorises it (sqrt too, with -fno-math-errno).  Adam folds its bias
    corrections into two constants: η (m/c₁) / (√(v/c₂) + ε)
    = (η √c₂ / c₁) · m / (√v + ε √c₂).
    """
    cdef Py_ssize_t i
    cdef floating g, v
    cdef floating s = <floating>scale, d = <floating>decay, r = <floating>lr
    cdef floating mu = <floating>mom, fb1 = <floating>b1, fb2 = <floating>b2
    cdef floating ob1 = <floating>(1 - b1), ob2 = <floating>(1 - b2)
    cdef floating step = <floating>(lr * sqrt(c2) / c1)
    cdef floating e = <floating>(eps * sqrt(c2))
    if kind == SGD:
        for i in range(n):
            w[i] = w[i] - r * (s * (grad[i] + d * w[i]))
    elif kind == MOMENTUM:
        for i in range(n):
            v = mu * s1[i] + s * (grad[i] + d * w[i])
            s1[i] = v
            w[i] = w[i] - r * v
    elif kind == NESTEROV:
        for i in range(n):
            g = s * (grad[i] + d * w[i])
            v = mu * s1[i] + g
            s1[i] = v
            w[i] = w[i] - r * (g + mu * v)
    elif floating is float:
        for i in range(n):
            g = s * (grad[i] + d * w[i])
            s1[i] = fb1 * s1[i] + ob1 * g
            s2[i] = fb2 * s2[i] + ob2 * g * g
            w[i] = w[i] - step * s1[i] / (sqrtf(s2[i]) + e)
    else:
        for i in range(n):
            g = s * (grad[i] + d * w[i])
            s1[i] = fb1 * s1[i] + ob1 * g
            s2[i] = fb2 * s2[i] + ob2 * g * g
            w[i] = w[i] - step * s1[i] / (sqrt(s2[i]) + e)


cdef void apply_update(const Net* net, floating* params, const floating* grads,
                       floating* s1, floating* s2, int kind, double lr,
                       double mom, double b1, double b2, double eps,
                       double l2, double clip, Py_ssize_t t) noexcept nogil:
    """One optimiser step over every layer's W (with L2) and b (without).

    A tied W belongs to its owner layer and is updated there, once.
    """
    cdef Py_ssize_t l, nw, nb, wo, bo
    cdef double scale = 1, norm2 = 0, c1 = 1, c2 = 1
    if clip > 0:
        for l in range(net.n_layers):
            wo, bo = net.w_offsets[l], net.b_offsets[l]
            nw, nb = net.sizes[l] * net.sizes[l + 1], net.sizes[l + 1]
            if net.w_trans[l]:
                nw = 0
            norm2 += _region_norm2(grads + wo, params + wo, nw, l2)
            norm2 += _region_norm2(grads + bo, params + bo, nb, 0)
        if sqrt(norm2) > clip:
            scale = clip / sqrt(norm2)
    if kind == ADAM:
        c1 = 1 - pow(b1, <double>t)
        c2 = 1 - pow(b2, <double>t)
    for l in range(net.n_layers):
        wo, bo = net.w_offsets[l], net.b_offsets[l]
        nw, nb = net.sizes[l] * net.sizes[l + 1], net.sizes[l + 1]
        if net.w_trans[l]:
            nw = 0
        _update_region(params + wo, grads + wo, s1 + wo, s2 + wo, nw, kind, lr,
                       mom, b1, b2, eps, l2, scale, c1, c2)
        _update_region(params + bo, grads + bo, s1 + bo, s2 + bo, nb, kind, lr,
                       mom, b1, b2, eps, 0, scale, c1, c2)


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


def run_batches(Layout layout, floating[::1] params, floating[::1] grads,
                const floating[:, ::1] X, const floating[:, ::1] T,
                const Py_ssize_t[::1] order, Py_ssize_t start, Py_ssize_t stop,
                Py_ssize_t batch_size, int loss, int accuracy, int optimizer,
                double lr, double momentum, double beta1, double beta2,
                double eps, double l2, double clip_norm,
                floating[::1] state1, floating[::1] state2, Py_ssize_t step,
                floating[::1] work, floating[:, ::1] x_buf,
                floating[:, ::1] t_buf, seed=None):
    """Train on samples start:stop (positions in ``order``, if given).

    ``seed`` (an integer) drives the dropout masks and noise of a
    stochastic layout (reseeded per batch from the seed and the batch's
    index in the epoch); None trains without them.

    Returns (Σ L_i, correct predictions, samples done, optimiser steps
    taken, status) where status 1 means a batch's loss was not finite and
    training stopped before that batch's update.
    """
    cdef const Net* net = &layout.net
    cdef Py_ssize_t n_in = net.sizes[0], n_out = net.sizes[net.n_layers]
    cdef Py_ssize_t pos = start, B, steps = 0, correct = 0
    cdef const Py_ssize_t* ord = NULL
    cdef double total = 0, batch_loss
    cdef int status = 0
    cdef bint fused = optimizer == SGD and l2 == 0 and clip_norm <= 0
    cdef const floating* xb
    cdef const floating* tb
    cdef floating* s1 = NULL
    cdef floating* s2 = NULL
    cdef rng_t state = 0
    cdef rng_t* rng = NULL
    cdef bint training

    # Checks that keep the nogil loop in bounds.
    if not (SGD <= optimizer <= ADAM and 0 <= loss <= 3
            and NO_ACCURACY <= accuracy <= THRESHOLD):
        raise ValueError("unknown optimizer, loss or accuracy code")
    if batch_size > INT_MAX:
        raise ValueError(f"batch_size exceeds the BLAS limit {INT_MAX}")
    if X.shape[1] != n_in or T.shape[1] != n_out or T.shape[0] != X.shape[0]:
        raise ValueError("X, T do not match the layout")
    if params.shape[0] != layout.n_params or grads.shape[0] != params.shape[0]:
        raise ValueError("params/grads do not match the layout")
    if not (0 <= start <= stop) or batch_size < 1:
        raise ValueError("bad batch range")
    if order is not None:
        if stop > order.shape[0]:
            raise ValueError("stop beyond order")
        if order.shape[0] and (np.min(order) < 0 or np.max(order) >= X.shape[0]):
            raise ValueError("order holds indices outside X")
        ord = &order[0] if order.shape[0] else NULL
        if x_buf.shape[0] < batch_size or x_buf.shape[1] != n_in \
                or t_buf.shape[0] < batch_size or t_buf.shape[1] != n_out:
            raise ValueError("x_buf/t_buf too small")
    elif stop > X.shape[0]:
        raise ValueError("stop beyond X")
    if work.shape[0] < workspace_size(net, batch_size):
        raise ValueError("work buffer too small")
    if optimizer != SGD and not fused:
        if state1.shape[0] != params.shape[0] or (
                optimizer == ADAM and state2.shape[0] != params.shape[0]):
            raise ValueError("optimiser state does not match params")
        s1 = &state1[0]
        s2 = &state2[0] if optimizer == ADAM else NULL
    if start == stop:
        return 0.0, 0, 0, 0, 0
    cdef rng_t base = 0
    if seed is not None:
        base = <rng_t>(int(seed) & 0xFFFFFFFFFFFFFFFF)
        rng = &state
    training = rng != NULL

    with nogil:
        while pos < stop:
            B = batch_size if stop - pos >= batch_size else stop - pos
            if training:
                # Masks depend on the seed and the batch's index alone, so
                # how the epoch is split into calls never changes them.
                state = base + <rng_t>(pos // batch_size) * 0xD1B54A32D192ED03ULL
            xb = _rows(&X[0, 0], n_in, ord, pos, B,
                       &x_buf[0, 0] if ord != NULL else NULL)
            tb = _rows(&T[0, 0], n_out, ord, pos, B,
                       &t_buf[0, 0] if ord != NULL else NULL)
            forward_pass(net, &params[0], xb, B, &work[0], rng)
            if fused:
                batch_loss = backward_pass(net, &params[0], xb, tb, B, loss,
                                           SGD_UPDATE, lr, &grads[0], NULL,
                                           &work[0], training)
            else:
                batch_loss = backward_pass(net, &params[0], xb, tb, B, loss,
                                           GRADIENT, 0.0, &grads[0], NULL,
                                           &work[0], training)
            if not isfinite(batch_loss):
                status = 1
                break
            correct += count_correct(accuracy, output_of(net, B, &work[0]),
                                     tb, B, n_out)
            if not fused:
                apply_update(net, &params[0], &grads[0], s1, s2, optimizer,
                             lr, momentum, beta1, beta2, eps, l2, clip_norm,
                             step + steps + 1)
            total += batch_loss
            steps += 1
            pos += B
    return total, correct, pos - start, steps, status


def evaluate(Layout layout, const floating[::1] params,
             const floating[:, ::1] X, const floating[:, ::1] T, int loss,
             int accuracy, Py_ssize_t chunk, floating[::1] work):
    """(Σ_i L_i, correct predictions) over X in chunks of ``chunk`` rows."""
    cdef const Net* net = &layout.net
    cdef Py_ssize_t n = X.shape[0], n_in = net.sizes[0]
    cdef Py_ssize_t n_out = net.sizes[net.n_layers], pos = 0, B, correct = 0
    cdef double total = 0
    if X.shape[1] != n_in or T.shape[1] != n_out or T.shape[0] != n:
        raise ValueError("X, T do not match the layout")
    if not (0 <= loss <= 3 and NO_ACCURACY <= accuracy <= THRESHOLD) \
            or chunk > INT_MAX:
        raise ValueError("unknown loss or accuracy code, or chunk too large")
    if params.shape[0] != layout.n_params or chunk < 1 \
            or work.shape[0] < workspace_size(net, chunk):
        raise ValueError("bad params, chunk or work buffer")
    with nogil:
        while pos < n:
            B = chunk if n - pos >= chunk else n - pos
            forward_pass(net, &params[0], &X[pos, 0], B, &work[0], NULL)
            total += backward_pass(net, <floating*>&params[0], &X[pos, 0],
                                   &T[pos, 0], B, loss, LOSS_ONLY, 0.0, NULL,
                                   NULL, &work[0], False)
            correct += count_correct(accuracy, output_of(net, B, &work[0]),
                                     &T[pos, 0], B, n_out)
            pos += B
    return total, correct
