/* Register-blocked kernels for small row-major products (pynn._blas).

   Two product shapes cover every batch-1 step of a dense net:

   NN   C[i, :] += sum_p (alpha * opA[i, p]) * B[p, :]     p = 0, 1, ..., k-1
        (opA[i, p] = A[i*lda + p], or A[p*lda + i] when trans_a): row vector
        times matrix (k > 1, m = 1: g = d^T W) and the rank-1 update
        (k = 1: W += alpha d z^T); each C element accumulates in ascending p,
        one rounding per multiply and per add.
   NT   C[i, j] += alpha * dot8(A[i, :], B[j, :])
        (matrix times vector: u = W z); dot8 sums in L lanes, lane l holding
        the products of p = l, l + L, l + 2L, ... in ascending order (the
        lanes past the end of a row add +0), then adds the lanes in a fixed
        tree: ((s0+s1)+(s2+s3)) + ((s4+s5)+(s6+s7)) for float (L = 8) and
        (s0+s1)+(s2+s3) for double (L = 4).

   Every variant (generic C, AVX2) performs exactly these operations in
   this order, so the variants give bit-identical results: the AVX2 code
   only does L lanes (or 8 output columns) per instruction.  The file must
   be compiled with -ffp-contract=off (no a*b+c fused into one rounding).
   Dimensions are >= 0; nothing is checked here.

   LOGISTIC  z[i] = sigma(u[i]) = 1 / (1 + e^{-u[i]}) in float32, branch
        free: t = e^{-|u|} by Cody-Waite reduction (k = round(-|u| log2 e),
        r = (-|u| - k c1) - k c2, c1 + c2 = ln 2) and a degree-6 polynomial
        for e^r, scaled by 2^k through the exponent bits; then
        sigma = 1 / (1 + t) for u >= 0 and t / (1 + t) for u < 0.  Only
        IEEE +, -, *, / and selects, so every variant rounds alike.  Within
        2.5 ulp of the exact value (2.40 ulp at most over every float32,
        checked exhaustively; tests/test_small_logistic.py checks it
        against float64 math); results below FLT_MIN are within FLT_MIN
        of exact, and 0 for u < ln FLT_MIN = -87.34 (as under flush-to-
        zero); sigma(+-inf) = 1, 0 and NaN stays NaN.  z
        may alias u. */
#ifndef PYNN_SMALL_H
#define PYNN_SMALL_H

#define PYNN_SMALL_GENERIC 0
#define PYNN_SMALL_AVX2 1
/* The AVX2 kernels everywhere, but for the float32 fused online step
   (_fused.c), whose W_1 pass then runs 16 lanes a time with the 8-lane
   sums of the AVX2 code: the same bits. */
#define PYNN_SMALL_AVX512 2

/* Select the variant; returns 0, or -1 (nothing changed) when this CPU or
   build cannot run it. */
int pynn_small_set_variant(int variant);
/* The variant in use (PYNN_SMALL_GENERIC until set). */
int pynn_small_variant(void);
/* 1 if the AVX2 variant was compiled in and this CPU runs it. */
int pynn_small_have_avx2(void);
/* 1 if it was compiled in and this CPU runs AVX-512F (and AVX2). */
int pynn_small_have_avx512(void);

void pynn_small_nn_f(int m, int n, int k, int trans_a, float alpha,
                     const float *A, int lda, const float *B, int ldb,
                     float *C, int ldc);
void pynn_small_nn_d(int m, int n, int k, int trans_a, double alpha,
                     const double *A, int lda, const double *B, int ldb,
                     double *C, int ldc);
void pynn_small_nt_f(int m, int n, int k, float alpha,
                     const float *A, int lda, const float *B, int ldb,
                     float *C, int ldc);
void pynn_small_nt_d(int m, int n, int k, double alpha,
                     const double *A, int lda, const double *B, int ldb,
                     double *C, int ldc);

void pynn_small_logistic_f(long n, const float *u, float *z);
/* LOGISTIC_GRAD  g[i] <- (float)((double)g[i] * (z[i] (1 - z[i]))), the
   sigmoid's backward pass from its output z, products in double. */
void pynn_small_logistic_grad_f(long n, const float *z, float *g);

#endif
