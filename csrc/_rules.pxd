# Classic single-layer learning rules: whole epochs in one nogil loop.
from cython cimport floating
from libc.stdint cimport uint64_t
from numpy.random cimport bitgen_t

cpdef enum Rule:
    PERCEPTRON_STEP = 0   # y = I{u > 0},         r = t − y
    PERCEPTRON_SIGN = 1   # y = sign(u),          r = t − y
    LMS = 2               # y = u,                r = d − u
    DELTA_SIGMOID = 3     # y = σ(u),             r = (d − y) y (1 − y)
    DELTA_TANH = 4        # y = tanh u,           r = (d − y) (1 − y²)
    HEBB = 5              # y = u,                r = y
    ANTI_HEBB = 6         # y = u,                r = −y
    OJA = 7               # y = u,                r = y, and w decays by η y²

cpdef enum Status:
    MAX_EPOCHS = 0        # ran every epoch asked for
    CONVERGED = 1         # perceptron: an epoch without update; else |ΔL| < tol
    DIVERGED = 2          # weights or loss became inf/NaN (last finite restored)

cdef int run_epochs(int rule, const floating* X, const floating* T,
                    const floating* SW, double sw_total,
                    floating* W, floating* b,
                    Py_ssize_t n, Py_ssize_t n_in, Py_ssize_t n_out,
                    double lr, Py_ssize_t first_epoch, Py_ssize_t n_epochs,
                    bint batch, bint fit_bias, Py_ssize_t* order,
                    bitgen_t* rng, double tol, double* prev_stat,
                    double* stat_out, double* wnorm_out,
                    floating* W_prev, floating* b_prev,
                    double* G, double* gb, double* D,
                    Py_ssize_t* n_epochs_out) noexcept nogil

cdef void linear_forward(const floating* X, const floating* W,
                         const floating* b, double* U,
                         Py_ssize_t n, Py_ssize_t n_in,
                         Py_ssize_t n_out) noexcept nogil
