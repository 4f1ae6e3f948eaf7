# The floating-point environment of a training kernel: flush-to-zero and
# denormals-are-zero on entry, the caller's state restored on exit.
#
# Why: optimiser state that decays geometrically (momentum's v ← μv, Adam's
# m and v on inputs that are mostly 0) spends thousands of steps as
# subnormal numbers (|x| < 2⁻¹²⁶ ≈ 1.2e-38 in float32), and every
# arithmetic operation on a subnormal takes a microcode assist of ~100
# cycles on x86: online momentum on MNIST ran 4–39× slower than SGD for it.
# FTZ (MXCSR bit 15) writes 0 for a subnormal result, DAZ (bit 6) reads a
# subnormal operand as 0; both only change results that would be subnormal.
#
# Use, inside one ``with nogil:`` block (the state is per thread):
#     env = fpenv_enter()      # save the caller's MXCSR, set KERNEL_MXCSR
#     ... the kernel ...
#     fpenv_exit(env)          # the caller's MXCSR, exception flags included
# An entry point that computes in C before its kernel (a thread pool's
# setup, say) reads the caller's state first with ``fpenv_save()`` and
# exits with that, so its own arithmetic leaves no sticky flag behind.
# The kernels do not raise between the two calls (they are noexcept and
# report through status codes), so every path out passes fpenv_exit.
#
# On entry the whole SSE state is set, not just the two bits: rounding to
# nearest and every exception masked, whatever the caller chose (so a caller
# that changed the rounding mode or unmasked traps gets the same results
# and no SIGFPE), and the sticky exception flags start clear; the caller's
# own flags come back with its MXCSR on exit.  Threads a kernel starts
# (OpenBLAS workers, a thread pool) must enter the same state themselves.
#
# x86-64 (SSE2 is part of the architecture: MXCSR, FTZ and DAZ always exist)
# only; on other targets both calls compile to nothing and subnormals are
# computed exactly.  The x87 unit is not touched: the kernels do not use it.
cdef extern from *:
    """
    #if defined(__x86_64__) || defined(_M_X64)
    #include <xmmintrin.h>
    #define PYNN_HAVE_MXCSR 1
    /* round to nearest (bits 13-14 = 0), all six exceptions masked
       (bits 7-12), no flags (bits 0-5), FTZ (bit 15), DAZ (bit 6). */
    #define PYNN_KERNEL_MXCSR 0x9FC0u
    typedef unsigned int pynn_fpenv_t;
    static inline pynn_fpenv_t pynn_fpenv_enter(void) {
        pynn_fpenv_t saved = _mm_getcsr();
        _mm_setcsr(PYNN_KERNEL_MXCSR);
        return saved;
    }
    static inline void pynn_fpenv_exit(pynn_fpenv_t saved) {
        _mm_setcsr(saved);
    }
    static inline pynn_fpenv_t pynn_fpenv_save(void) { return _mm_getcsr(); }
    #else
    #define PYNN_HAVE_MXCSR 0
    #define PYNN_KERNEL_MXCSR 0u
    typedef unsigned int pynn_fpenv_t;
    static inline pynn_fpenv_t pynn_fpenv_enter(void) { return 0; }
    static inline void pynn_fpenv_exit(pynn_fpenv_t saved) { (void)saved; }
    static inline pynn_fpenv_t pynn_fpenv_save(void) { return 0; }
    #endif
    """
    ctypedef unsigned int fpenv_t "pynn_fpenv_t"
    bint HAVE_MXCSR "PYNN_HAVE_MXCSR"
    fpenv_t fpenv_enter "pynn_fpenv_enter"() noexcept nogil
    void fpenv_exit "pynn_fpenv_exit"(fpenv_t saved) noexcept nogil
    fpenv_t fpenv_save "pynn_fpenv_save"() noexcept nogil
