# Activation functions φ and their backward pass g ← J_φ(u)ᵀ g.
from cython cimport floating

cpdef enum Activation:
    IDENTITY = 0
    STEP = 1
    SIGN = 2
    SIGMOID = 3
    TANH = 4
    RELU = 5
    LEAKY_RELU = 6
    SOFTPLUS = 7
    SWISH = 8
    GAUSSIAN = 9
    SOFTMAX = 10

cdef double sigmoid(double x) noexcept nogil
cdef double softplus(double x) noexcept nogil

cdef void act_forward(int act, double param, const floating* u, floating* z,
                      Py_ssize_t rows, Py_ssize_t cols) noexcept nogil

cdef void act_backward(int act, double param, const floating* u,
                       const floating* z, floating* g,
                       Py_ssize_t rows, Py_ssize_t cols) noexcept nogil
