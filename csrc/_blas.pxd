# Row-major matrix products for the kernels: one wrapper over
# scipy.linalg.cython_blas, plus hand-written loops for small products.
from cython cimport floating

cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k,
               floating alpha, const floating* A, int lda,
               const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil

cdef void gemv(bint trans_a, int m, int n, floating alpha,
               const floating* A, int lda, const floating* x, int incx,
               floating beta, floating* y, int incy) noexcept nogil

cdef void ger(int m, int n, floating alpha, const floating* x, int incx,
              const floating* y, int incy, floating* A, int lda) noexcept nogil

cdef void small_mm(bint trans_a, bint trans_b, int m, int n, int k,
                   floating alpha, const floating* A, int lda,
                   const floating* B, int ldb,
                   floating beta, floating* C, int ldc) noexcept nogil

cdef void mm(bint trans_a, bint trans_b, int m, int n, int k,
             floating alpha, const floating* A, int lda,
             const floating* B, int ldb,
             floating beta, floating* C, int ldc) noexcept nogil

cdef void logistic_f(Py_ssize_t n, const float* u, float* z) noexcept nogil
cdef void logistic_grad_f(Py_ssize_t n, const float* z, float* g) noexcept nogil
