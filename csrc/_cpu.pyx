"""What the CPU can run, for picking a build of a kernel module (pynn/_simd.py).

``has_avx2_fma()`` asks the CPU through the compiler's cpuid helper, which
also checks that the OS saves the AVX registers.  False off x86.
"""

cdef extern from *:
    """
    static int pynn_has_avx2_fma(void) {
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    #else
        return 0;
    #endif
    }
    """
    int pynn_has_avx2_fma() noexcept nogil


def has_avx2_fma():
    """True if this CPU (and OS) can run AVX2 and FMA instructions."""
    return bool(pynn_has_avx2_fma())
