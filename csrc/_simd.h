/* Shared by pynn's C kernels with a generic and an AVX2 variant
   (_small.c, _update.c, _fused.c): whether AVX2 and AVX-512 code can be
   compiled here (PYNN_HAVE_AVX2, gcc-style compilers on x86-64, through
   __attribute__((target("avx2"))) or target("avx2,avx512f") so the rest
   stays baseline x86-64) and whether the CPU running it has AVX2
   (pynn_cpu_has_avx2) or AVX-512F (pynn_cpu_has_avx512: libgcc's check
   also asks the OS, through XGETBV, that it saves the zmm registers). */
#ifndef PYNN_SIMD_H
#define PYNN_SIMD_H

#if defined(__GNUC__) && defined(__x86_64__)
#define PYNN_HAVE_AVX2 1
#include <immintrin.h>
#else
#define PYNN_HAVE_AVX2 0
#endif

static inline int pynn_cpu_has_avx2(void)
{
#if PYNN_HAVE_AVX2
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}

static inline int pynn_cpu_has_avx512(void)
{
#if PYNN_HAVE_AVX2
    return pynn_cpu_has_avx2() && __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

#endif
