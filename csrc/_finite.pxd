# A check the training loops of the classic rules share: whether a
# parameter buffer is still finite after a step (inline: every module that
# cimports this gets its own copy).
from cython cimport floating
from libc.math cimport isfinite


cdef inline bint all_finite(const floating* a, Py_ssize_t n) noexcept nogil:
    """True if every a[j], 0 ≤ j < n, is finite (neither ±inf nor NaN)."""
    cdef Py_ssize_t j
    for j in range(n):
        if not isfinite(a[j]):
            return False
    return True
