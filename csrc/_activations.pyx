"""Activation functions φ and their derivatives.

Layers of this file:
  1. scalar ``cdef inline`` functions (numerically stable forms);
  2. ``act_forward``: z = φ(u) over a contiguous (rows × cols) block, row by
     row (softmax needs whole rows); z may alias u (in place);
  3. ``act_backward``: g ← J_φ(u)ᵀ g in place — for elementwise φ this is
     g ← φ′(u) ⊙ g, computed from the stored output z where the formula allows
     (σ′ = z(1−z), tanh′ = 1−z², relu′ = I{z>0}, softplus′ = 1−e^{−z}) and
     from u otherwise (leaky relu, swish, gaussian); for softmax it is
     g ← z ⊙ (g − Σ_j z_j g_j);
  4. ``def`` entry points on NumPy arrays, for the Python layer and tests.

Conventions: step(u) = I{u > 0} and sign(u) = +1 if u > 0 else −1 (so that
sign = 2·step − 1, as the perceptron needs); their derivative is taken as 0.
relu′(0) = 0 (the value at the kink is I{u > 0}).  ``param`` is the
leaky-relu slope α (u < 0 ↦ αu) or the gaussian width β (e^{−βu²}); others
ignore it.

The float32 sigmoid is pynn._blas.logistic_f (csrc/_small.c: branch free,
8 lanes, within 2.5 ulp of the exact σ(u) = 1/(1 + e^{−u}), 0 for
u < ln FLT_MIN); the float64 one is ``sigmoid`` below (libm's exp).
"""
from cython cimport floating
from libc.math cimport exp, expm1, log1p, tanh, fabs
from pynn._blas cimport logistic_f, logistic_grad_f

import numpy as np

N_ACTIVATIONS = 11    # activation codes are 0 … N_ACTIVATIONS − 1


# ---------------------------------------------------------------- layer 1
cdef inline double sigmoid(double x) noexcept nogil:
    """σ(x) = 1/(1+e^{−x}); two branches so exp never overflows."""
    cdef double e
    if x >= 0:
        return 1.0 / (1.0 + exp(-x))
    e = exp(x)
    return e / (1.0 + e)


cdef inline double softplus(double x) noexcept nogil:
    """log(1+e^x) = max(x,0) + log1p(e^{−|x|}): exact for any finite x."""
    return (x if x > 0 else 0.0) + log1p(exp(-fabs(x)))


# ---------------------------------------------------------------- layer 2
cdef void act_forward(int act, double param, const floating* u, floating* z,
                      Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """z = φ(u) for a row-major (rows × cols) block; z may equal u."""
    cdef Py_ssize_t i, j, n = rows * cols
    cdef double v, m, s
    if act == IDENTITY:
        if z != u:
            for i in range(n):
                z[i] = u[i]
    elif act == STEP:
        for i in range(n):
            z[i] = 1 if u[i] > 0 else 0
    elif act == SIGN:
        for i in range(n):
            z[i] = 1 if u[i] > 0 else -1
    elif act == SIGMOID:
        if floating is float:       # branch free, 8 lanes: within 2.5 ulp
            logistic_f(n, u, z)
        else:
            for i in range(n):
                z[i] = sigmoid(u[i])
    elif act == TANH:
        for i in range(n):
            z[i] = <floating>tanh(u[i])
    elif act == RELU:
        for i in range(n):
            z[i] = u[i] if u[i] > 0 else 0
    elif act == LEAKY_RELU:
        for i in range(n):
            z[i] = u[i] if u[i] > 0 else <floating>(param * u[i])
    elif act == SOFTPLUS:
        for i in range(n):
            z[i] = <floating>softplus(u[i])
    elif act == SWISH:
        for i in range(n):
            v = u[i]
            z[i] = <floating>(v * sigmoid(v))
    elif act == GAUSSIAN:
        for i in range(n):
            v = u[i]
            z[i] = <floating>exp(-param * v * v)
    elif act == SOFTMAX:
        # Subtract the row maximum so exp never overflows; sum in double.
        for i in range(rows):
            m = u[i * cols]
            for j in range(1, cols):
                if u[i * cols + j] > m:
                    m = u[i * cols + j]
            s = 0
            for j in range(cols):
                v = exp(u[i * cols + j] - m)
                z[i * cols + j] = <floating>v
                s += v
            s = 1.0 / s
            for j in range(cols):
                z[i * cols + j] = <floating>(z[i * cols + j] * s)


# ---------------------------------------------------------------- layer 3
cdef void act_backward(int act, double param, const floating* u,
                       const floating* z, floating* g,
                       Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """g ← J_φ(u)ᵀ g in place (g = ∂L/∂z on entry, ∂L/∂u on exit)."""
    cdef Py_ssize_t i, j, n = rows * cols
    cdef double s, v
    if act == IDENTITY:
        return
    elif act == STEP or act == SIGN:
        for i in range(n):
            g[i] = 0
    elif act == SIGMOID:
        if floating is float:       # the same double products, 4 lanes
            logistic_grad_f(n, z, g)
        else:
            for i in range(n):
                g[i] *= z[i] * (1 - z[i])
    elif act == TANH:
        for i in range(n):
            g[i] *= 1 - z[i] * z[i]
    elif act == RELU:
        # Select, not branch: random signs would mispredict half the time,
        # and a store on every element lets the compiler vectorise.
        for i in range(n):
            g[i] = g[i] if z[i] > 0 else 0
    elif act == LEAKY_RELU:
        for i in range(n):
            g[i] = g[i] if u[i] > 0 else g[i] * <floating>param
    elif act == SOFTPLUS:
        # softplus′(u) = σ(u) = 1 − e^{−z}
        for i in range(n):
            g[i] *= <floating>(-expm1(-z[i]))
    elif act == SWISH:
        # swish′(u) = σ(u) + u σ(u)(1 − σ(u)) = σ(u) + z (1 − σ(u))
        for i in range(n):
            s = sigmoid(u[i])
            g[i] *= <floating>(s + z[i] * (1 - s))
    elif act == GAUSSIAN:
        for i in range(n):
            g[i] *= <floating>(-2 * param * u[i] * z[i])
    elif act == SOFTMAX:
        for i in range(rows):
            s = 0
            for j in range(cols):
                s += z[i * cols + j] * g[i * cols + j]
            for j in range(cols):
                g[i * cols + j] = <floating>(z[i * cols + j] * (g[i * cols + j] - s))


# ---------------------------------------------------------------- layer 4
def forward(int act, double param, const floating[:, ::1] u,
            floating[:, ::1] z_out):
    """z_out = φ(u) (``act`` is an ``Activation`` code); z_out may be u."""
    if u.shape[0] != z_out.shape[0] or u.shape[1] != z_out.shape[1]:
        raise ValueError("u and z_out must have the same shape")
    if u.shape[0] * u.shape[1]:
        with nogil:
            act_forward(act, param, &u[0, 0], &z_out[0, 0], u.shape[0], u.shape[1])
    return np.asarray(z_out)


def backward(int act, double param, const floating[:, ::1] u,
             const floating[:, ::1] z, floating[:, ::1] g_inout):
    """g_inout ← J_φ(u)ᵀ g_inout, with z = φ(u) the stored output."""
    if not (u.shape[0] == z.shape[0] == g_inout.shape[0]
            and u.shape[1] == z.shape[1] == g_inout.shape[1]):
        raise ValueError("u, z and g_inout must have the same shape")
    if u.shape[0] * u.shape[1]:
        with nogil:
            act_backward(act, param, &u[0, 0], &z[0, 0], &g_inout[0, 0],
                         u.shape[0], u.shape[1])
    return np.asarray(g_inout)
