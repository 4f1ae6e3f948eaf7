# Per-sample losses and the output delta δ_L = ∂L_i/∂u_L.
from cython cimport floating

cpdef enum Loss:
    SQUARED_ERROR = 0
    BINARY_CROSS_ENTROPY = 1
    CROSS_ENTROPY = 2
    MULTILABEL_CROSS_ENTROPY = 3

cdef bint is_canonical(int loss, int out_act) noexcept nogil

cdef double loss_and_delta(int loss, int out_act, double param,
                           const floating* u, const floating* y,
                           const floating* t, floating* delta,
                           Py_ssize_t rows, Py_ssize_t cols) noexcept nogil
