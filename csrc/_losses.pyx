"""Losses (per-sample divergences L_i) and the output delta ∂L_i/∂u_i.

For a batch of ``rows`` samples with outputs y = φ(u) (``cols`` each) and
targets t, ``loss_and_delta`` returns Σ_i L_i (summed in double; callers
divide by the batch size for the mean) and, when ``delta`` is not NULL,
writes δ_i = ∂L_i/∂u_i (one row per sample, not divided by the batch size).

  squared_error             L = ½ Σ_j (y_j − t_j)²
  binary_cross_entropy      L = −(1/C) Σ_j [t_j log y_j + (1−t_j) log(1−y_j)]
                            (mean over the C outputs, as Keras; for one
                            output the usual binary cross-entropy)
  multilabel_cross_entropy  L = −Σ_j [t_j log y_j + (1−t_j) log(1−y_j)]
  cross_entropy             L = −Σ_j t_j log y_j

Canonical pairs — identity+squared error, sigmoid+(multilabel) binary
cross-entropy, softmax+cross-entropy — are computed from the logits u:
the delta is exactly y − t (divided by C for the mean BCE; y·Σt − t for
cross-entropy, which is y − t for one-hot or probability rows), and the loss
uses log σ(u) = −softplus(−u) and log-sum-exp with the row maximum subtracted,
so nothing overflows or takes log(0) for |u| up to 1e4 and beyond.  Any other
pair goes through ∂L/∂y (with y clipped to [ε, 1−ε] inside the logs) and the
activation's backward pass.
"""
from cython cimport floating
from libc.math cimport exp, log, fabs
from libc.float cimport FLT_EPSILON, DBL_EPSILON

from pynn._activations cimport (Activation, IDENTITY, SIGMOID, SOFTMAX,
                                 softplus, act_backward)

import numpy as np

N_LOSSES = 4    # loss codes are 0 … N_LOSSES − 1


cdef inline bint is_canonical(int loss, int out_act) noexcept nogil:
    return ((loss == SQUARED_ERROR and out_act == IDENTITY)
            or ((loss == BINARY_CROSS_ENTROPY or loss == MULTILABEL_CROSS_ENTROPY)
                and out_act == SIGMOID)
            or (loss == CROSS_ENTROPY and out_act == SOFTMAX))


cdef inline double _clip(double y, double eps) noexcept nogil:
    if y < eps:
        return eps
    if y > 1 - eps:
        return 1 - eps
    return y


cdef double loss_and_delta(int loss, int out_act, double param,
                           const floating* u, const floating* y,
                           const floating* t, floating* delta,
                           Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    cdef Py_ssize_t i, j, k
    cdef double total = 0, v, ti, m, lse, tsum, tu, yc
    cdef double eps = FLT_EPSILON if floating is float else DBL_EPSILON
    cdef double scale = 1.0 / cols if loss == BINARY_CROSS_ENTROPY else 1.0
    cdef bint canonical = is_canonical(loss, out_act)

    if loss == SQUARED_ERROR:
        for k in range(rows * cols):
            v = <double>y[k] - t[k]
            total += 0.5 * v * v
            if delta != NULL:
                delta[k] = <floating>v
    elif canonical and loss != CROSS_ENTROPY:
        # −[t log σ(u) + (1−t) log(1−σ(u))] = softplus(u) − t·u
        for k in range(rows * cols):
            total += softplus(u[k]) - <double>t[k] * u[k]
            if delta != NULL:
                delta[k] = <floating>(scale * (<double>y[k] - t[k]))
        total *= scale
    elif canonical:
        # −Σ t_j log softmax(u)_j = (Σ_j t_j)·lse(u) − Σ_j t_j u_j
        for i in range(rows):
            m = u[i * cols]
            for j in range(1, cols):
                if u[i * cols + j] > m:
                    m = u[i * cols + j]
            lse = 0
            tsum = 0
            tu = 0
            for j in range(cols):
                k = i * cols + j
                lse += exp(u[k] - m)
                tsum += t[k]
                tu += <double>t[k] * u[k]
            total += tsum * (m + log(lse)) - tu
            if delta != NULL:
                for j in range(cols):
                    k = i * cols + j
                    delta[k] = <floating>(<double>y[k] * tsum - t[k])
    elif loss == CROSS_ENTROPY:
        for k in range(rows * cols):
            yc = _clip(y[k], eps)
            total -= <double>t[k] * log(yc)
            if delta != NULL:
                delta[k] = <floating>(-t[k] / yc)
    else:
        # BCE through ∂L/∂y = (y − t) / (y (1 − y)), y clipped
        for k in range(rows * cols):
            yc = _clip(y[k], eps)
            ti = t[k]
            total -= scale * (ti * log(yc) + (1 - ti) * log(1 - yc))
            if delta != NULL:
                delta[k] = <floating>(scale * (yc - ti) / (yc * (1 - yc)))

    if delta != NULL and not canonical and out_act != IDENTITY:
        act_backward(out_act, param, u, y, delta, rows, cols)
    return total


def loss_delta(int loss, int out_act, double param, const floating[:, ::1] u,
               const floating[:, ::1] y, const floating[:, ::1] t,
               floating[:, ::1] delta_out=None):
    """Return Σ_i L_i and, if given, fill delta_out with ∂L_i/∂u_i."""
    cdef Py_ssize_t rows = u.shape[0], cols = u.shape[1]
    if not (y.shape[0] == t.shape[0] == rows and y.shape[1] == t.shape[1] == cols):
        raise ValueError("u, y and t must have the same shape")
    if delta_out is not None and (delta_out.shape[0] != rows
                                  or delta_out.shape[1] != cols):
        raise ValueError("delta_out must have the shape of u")
    if rows * cols == 0:
        return 0.0
    cdef floating* d = NULL if delta_out is None else &delta_out[0, 0]
    cdef double total
    with nogil:
        total = loss_and_delta(loss, out_act, param, &u[0, 0], &y[0, 0],
                               &t[0, 0], d, rows, cols)
    return total
