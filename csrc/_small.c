/* Small-product kernels of pynn._blas: a generic C variant and an AVX2
   variant chosen at run time.  See _small.h for the exact arithmetic both
   perform (they give bit-identical results); compile with
   -ffp-contract=off.  The AVX2 functions carry
   __attribute__((target("avx2"))) so the rest of the module stays baseline
   x86-64; they are only called after __builtin_cpu_supports("avx2"). */
#include <stdint.h>
#include <string.h>

#include "_small.h"
#include "_simd.h"

/* ------------------------------------------------------------ generic C */
#define OPA(i, p) (trans_a ? A[(long)(p) * lda + (i)] : A[(long)(i) * lda + (p)])

#define DEFINE_NN_GENERIC(NAME, T)                                           \
static void NAME(int m, int n, int k, int trans_a, T alpha, const T *A,      \
                 int lda, const T *B, int ldb, T *C, int ldc)                \
{                                                                            \
    for (int i = 0; i < m; i++) {                                            \
        T *c = C + (long)i * ldc;                                            \
        for (int p = 0; p < k; p++) {                                        \
            T a = alpha * OPA(i, p);                                         \
            const T *b = B + (long)p * ldb;                                  \
            for (int j = 0; j < n; j++)                                      \
                c[j] = c[j] + a * b[j];                                      \
        }                                                                    \
    }                                                                        \
}
DEFINE_NN_GENERIC(nn_f_generic, float)
DEFINE_NN_GENERIC(nn_d_generic, double)

/* The lane-wise dot product of _small.h: L lanes, the lanes past k add
   0 * 0 = +0 (as the masked vector loads do), then the fixed tree. */
static float dot_f_generic(int k, const float *a, const float *b)
{
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int p = 0;
    for (; p + 8 <= k; p += 8)
        for (int l = 0; l < 8; l++)
            s[l] = s[l] + a[p + l] * b[p + l];
    if (p < k)
        for (int l = 0; l < 8; l++) {
            float x = p + l < k ? a[p + l] : 0.0f;
            float y = p + l < k ? b[p + l] : 0.0f;
            s[l] = s[l] + x * y;
        }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static double dot_d_generic(int k, const double *a, const double *b)
{
    double s[4] = {0, 0, 0, 0};
    int p = 0;
    for (; p + 4 <= k; p += 4)
        for (int l = 0; l < 4; l++)
            s[l] = s[l] + a[p + l] * b[p + l];
    if (p < k)
        for (int l = 0; l < 4; l++) {
            double x = p + l < k ? a[p + l] : 0.0;
            double y = p + l < k ? b[p + l] : 0.0;
            s[l] = s[l] + x * y;
        }
    return (s[0] + s[1]) + (s[2] + s[3]);
}

#define DEFINE_NT_GENERIC(NAME, T, DOT)                                      \
static void NAME(int m, int n, int k, T alpha, const T *A, int lda,          \
                 const T *B, int ldb, T *C, int ldc)                         \
{                                                                            \
    for (int i = 0; i < m; i++)                                              \
        for (int j = 0; j < n; j++) {                                        \
            T *c = C + (long)i * ldc + j;                                    \
            *c = *c + alpha * DOT(k, A + (long)i * lda, B + (long)j * ldb);  \
        }                                                                    \
}
DEFINE_NT_GENERIC(nt_f_elements, float, dot_f_generic)
DEFINE_NT_GENERIC(nt_d_generic, double, dot_d_generic)

/* Four dot8s at once (rows a0, a1 of A x rows b0, b1 of B), each the lanes
   and tree of dot_f_generic: the same bits, but the lane loops are ones
   gcc vectorises with the baseline SSE2 (so the generic variant stays
   within a few times OpenBLAS for a mini-batch's D W^T). */
static void nt_f_tile22_generic(int k, float alpha, const float *a0,
                                const float *a1, const float *b0,
                                const float *b1, float *c0, float *c1)
{
    float s[4][8] = {{0}};
    const float *a[2] = {a0, a1}, *b[2] = {b0, b1};
    int p = 0;
    for (; p + 8 <= k; p += 8)
        for (int t = 0; t < 4; t++)
            for (int l = 0; l < 8; l++)
                s[t][l] = s[t][l] + a[t >> 1][p + l] * b[t & 1][p + l];
    if (p < k)
        for (int t = 0; t < 4; t++)
            for (int l = 0; l < 8; l++) {
                float x = p + l < k ? a[t >> 1][p + l] : 0.0f;
                float y = p + l < k ? b[t & 1][p + l] : 0.0f;
                s[t][l] = s[t][l] + x * y;
            }
    float d[4];
    for (int t = 0; t < 4; t++)
        d[t] = ((s[t][0] + s[t][1]) + (s[t][2] + s[t][3]))
             + ((s[t][4] + s[t][5]) + (s[t][6] + s[t][7]));
    c0[0] = c0[0] + alpha * d[0];
    c0[1] = c0[1] + alpha * d[1];
    c1[0] = c1[0] + alpha * d[2];
    c1[1] = c1[1] + alpha * d[3];
}

static void nt_f_generic(int m, int n, int k, float alpha, const float *A,
                         int lda, const float *B, int ldb, float *C, int ldc)
{
    const int m2 = m & ~1, n2 = n & ~1;
    for (int i = 0; i < m2; i += 2) {
        const float *a0 = A + (long)i * lda;
        float *c0 = C + (long)i * ldc;
        for (int j = 0; j < n2; j += 2)
            nt_f_tile22_generic(k, alpha, a0, a0 + lda, B + (long)j * ldb,
                                B + (long)(j + 1) * ldb, c0 + j, c0 + ldc + j);
        if (n2 < n)
            nt_f_elements(2, 1, k, alpha, a0, lda, B + (long)n2 * ldb, ldb,
                          c0 + n2, ldc);
    }
    if (m2 < m)
        nt_f_elements(1, n, k, alpha, A + (long)m2 * lda, lda, B, ldb,
                      C + (long)m2 * ldc, ldc);
}


/* ---- LOGISTIC (_small.h): the constants, shared by every variant. */
#define LG_LO     (-87.33654475f)   /* ln FLT_MIN: e^a is subnormal below */
#define LG_LOG2E  1.44269504088896341f
#define LG_SHIFT  12582912.0f       /* 1.5 * 2^23: y + SHIFT rounds y to an
                                       integer k, held in the low bits */
#define LG_C1     0.693359375f      /* ln 2 = C1 + C2, C1 in 9 bits: k C1 */
#define LG_C2     (-2.12194440e-4f) /* is exact for |k| <= 127 */
/* e^r ~ 1 + r + r^2 (P5 + r (P4 + r (P3 + r (P2 + r (P1 + r P0))))) on
   |r| <= ln2 / 2 (Cephes expf). */
#define LG_P0     1.9875691500e-4f
#define LG_P1     1.3981999507e-3f
#define LG_P2     8.3334519073e-3f
#define LG_P3     4.1665795894e-2f
#define LG_P4     1.6666665459e-1f
#define LG_P5     5.0000001201e-1f

static inline uint32_t bits_of(float x) { uint32_t b; memcpy(&b, &x, 4); return b; }
static inline float float_of(uint32_t b) { float x; memcpy(&x, &b, 4); return x; }

/* One sigma(x), operation for operation as the AVX2 lanes do it. */
static inline float logistic_one(float x)
{
    float a = float_of(bits_of(x) | 0x80000000u);       /* -|x| */
    float ac = a < LG_LO ? LG_LO : a;                   /* NaN stays */
    float s = ac * LG_LOG2E + LG_SHIFT;
    float kf = s - LG_SHIFT;
    float r = (ac - kf * LG_C1) - kf * LG_C2;
    float p = (((((LG_P0 * r + LG_P1) * r + LG_P2) * r + LG_P3) * r + LG_P4)
               * r + LG_P5) * (r * r) + r + 1.0f;
    uint32_t k = bits_of(s) - bits_of(LG_SHIFT);        /* -126 ... 0 */
    float t = p * float_of((k + 127u) << 23);           /* e^{-|x|} */
    t = a < LG_LO ? 0.0f : t;
    return (x >= 0.0f ? 1.0f : t) / (1.0f + t);
}

static void logistic_f_generic(long n, const float *u, float *z)
{
    for (long i = 0; i < n; i++)
        z[i] = logistic_one(u[i]);
}

/* g <- g z (1 - z) in double, rounded once to float (LOGISTIC_GRAD). */
static void logistic_grad_f_generic(long n, const float *z, float *g)
{
    for (long i = 0; i < n; i++) {
        double zi = z[i];
        g[i] = (float)((double)g[i] * (zi * (1.0 - zi)));
    }
}

/* ------------------------------------------------------------ AVX2 */
#if PYNN_HAVE_AVX2
#define AVX2 __attribute__((target("avx2")))

/* mask_f + 8 - r: r lanes on, the rest off (r = 0 … 8). */
static const int mask_f[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                               0, 0, 0, 0, 0, 0, 0, 0};
static const long long mask_d[8] = {-1, -1, -1, -1, 0, 0, 0, 0};

AVX2 static inline __m256i tail_f(int r)
{
    return _mm256_loadu_si256((const __m256i *)(mask_f + 8 - r));
}

AVX2 static inline __m256i tail_d(int r)
{
    return _mm256_loadu_si256((const __m256i *)(mask_d + 4 - r));
}

/* The first r lanes of v to q (r = 0 … 8 floats, 0 … 4 doubles) by plain
   stores: vmaskmovps/pd stores are microcoded on AMD's cores (a loop of
   them took about 6 ns a store on this Zen 3, against 2-3 ns for these),
   and a row's ragged end takes one per row per pass.  (Masked loads are
   cheap there and stay.) */
AVX2 static inline void store_tail_f(float *q, int r, __m256 v)
{
    __m128 h = _mm256_castps256_ps128(v);
    if (r == 8) {
        _mm256_storeu_ps(q, v);
        return;
    }
    if (r & 4) {
        _mm_storeu_ps(q, h);
        q += 4;
        h = _mm256_extractf128_ps(v, 1);
    }
    if (r & 2) {
        _mm_storel_pi((__m64 *)q, h);
        q += 2;
        h = _mm_movehl_ps(h, h);
    }
    if (r & 1)
        _mm_store_ss(q, h);
}

AVX2 static inline void store_tail_d(double *q, int r, __m256d v)
{
    __m128d h = _mm256_castpd256_pd128(v);
    if (r == 4) {
        _mm256_storeu_pd(q, v);
        return;
    }
    if (r & 2) {
        _mm_storeu_pd(q, h);
        q += 2;
        h = _mm256_extractf128_pd(v, 1);
    }
    if (r & 1)
        _mm_store_sd(q, h);
}

/* ---- NN: four rows of B at a time (p, p+1, p+2, p+3 added to each C
   element in that order, so the order is the generic one), 8 floats
   (4 doubles) of the C row per register; B is streamed row by row. */
#define DEFINE_NN_AVX2(NAME, T, V, W, LOAD, STORE, MLOAD, MSTORE, SET1, ADD,  \
                       MUL, TAIL)                                            \
AVX2 static void NAME(int m, int n, int k, int trans_a, T alpha, const T *A,  \
                      int lda, const T *B, int ldb, T *C, int ldc)            \
{                                                                            \
    const int nn = n - n % W;                                                \
    const __m256i mk = TAIL(n - nn);                                         \
    if (k == 1) {           /* rank-1 update: one pass per row, unrolled */  \
        const long n4 = n - n % (4 * W), inc = trans_a ? 1 : lda;            \
        for (int i = 0; i < m; i++) {                                        \
            T *c = C + (long)i * ldc;                                        \
            T *const c4 = c + n4, *const cn = c + nn;                        \
            const T *b = B;                                                  \
            V a0 = SET1(alpha * A[i * inc]);            /* OPA(i, 0) */      \
            for (; c < c4; c += 4 * W, b += 4 * W) {                         \
                V x0 = ADD(LOAD(c), MUL(a0, LOAD(b)));                       \
                V x1 = ADD(LOAD(c + W), MUL(a0, LOAD(b + W)));               \
                V x2 = ADD(LOAD(c + 2 * W), MUL(a0, LOAD(b + 2 * W)));       \
                V x3 = ADD(LOAD(c + 3 * W), MUL(a0, LOAD(b + 3 * W)));       \
                STORE(c, x0);                                                \
                STORE(c + W, x1);                                            \
                STORE(c + 2 * W, x2);                                        \
                STORE(c + 3 * W, x3);                                        \
            }                                                                \
            for (; c < cn; c += W, b += W)                                   \
                STORE(c, ADD(LOAD(c), MUL(a0, LOAD(b))));                    \
            if (nn < n)                                                      \
                MSTORE(c, n - nn, ADD(MLOAD(c, mk), MUL(a0, MLOAD(b, mk)))); \
        }                                                                    \
        return;                                                              \
    }                                                                        \
    for (int i = 0; i < m; i++) {                                            \
        T *c = C + (long)i * ldc;                                            \
        int p = 0;                                                           \
        for (; p + 4 <= k; p += 4) {                                         \
            V a0 = SET1(alpha * OPA(i, p)), a1 = SET1(alpha * OPA(i, p + 1)); \
            V a2 = SET1(alpha * OPA(i, p + 2)), a3 = SET1(alpha * OPA(i, p + 3)); \
            const T *b0 = B + (long)p * ldb, *b1 = b0 + ldb;                 \
            const T *b2 = b1 + ldb, *b3 = b2 + ldb;                          \
            int j = 0;                                                       \
            for (; j < nn; j += W) {                                         \
                V x = LOAD(c + j);                                           \
                x = ADD(x, MUL(a0, LOAD(b0 + j)));                           \
                x = ADD(x, MUL(a1, LOAD(b1 + j)));                           \
                x = ADD(x, MUL(a2, LOAD(b2 + j)));                           \
                x = ADD(x, MUL(a3, LOAD(b3 + j)));                           \
                STORE(c + j, x);                                             \
            }                                                                \
            if (j < n) {                                                     \
                V x = MLOAD(c + j, mk);                                      \
                x = ADD(x, MUL(a0, MLOAD(b0 + j, mk)));                      \
                x = ADD(x, MUL(a1, MLOAD(b1 + j, mk)));                      \
                x = ADD(x, MUL(a2, MLOAD(b2 + j, mk)));                      \
                x = ADD(x, MUL(a3, MLOAD(b3 + j, mk)));                      \
                MSTORE(c + j, n - nn, x);                                    \
            }                                                                \
        }                                                                    \
        for (; p < k; p++) {                                                 \
            V a0 = SET1(alpha * OPA(i, p));                                  \
            const T *b0 = B + (long)p * ldb;                                 \
            int j = 0;                                                       \
            for (; j < nn; j += W)                                           \
                STORE(c + j, ADD(LOAD(c + j), MUL(a0, LOAD(b0 + j))));       \
            if (j < n)                                                       \
                MSTORE(c + j, n - nn, ADD(MLOAD(c + j, mk),                  \
                                      MUL(a0, MLOAD(b0 + j, mk))));          \
        }                                                                    \
    }                                                                        \
}
DEFINE_NN_AVX2(nn_f_avx2, float, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps,
               _mm256_maskload_ps, store_tail_f, _mm256_set1_ps,
               _mm256_add_ps, _mm256_mul_ps, tail_f)
DEFINE_NN_AVX2(nn_d_avx2, double, __m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd,
               _mm256_maskload_pd, store_tail_d, _mm256_set1_pd,
               _mm256_add_pd, _mm256_mul_pd, tail_d)

/* ---- NT float: R rows of B at a time, one 8-lane accumulator each. */
#define DOT_STEP_F(R)                                                        \
    for (int r = 0; r < R; r++)                                              \
        s[r] = _mm256_add_ps(s[r], _mm256_mul_ps(                            \
            x, _mm256_loadu_ps(b[r] + p)));
#define DOT_TAIL_F(R)                                                        \
    for (int r = 0; r < R; r++)                                              \
        s[r] = _mm256_add_ps(s[r], _mm256_mul_ps(                            \
            x, _mm256_maskload_ps(b[r] + p, mk)));

/* [t(v0), t(v1), t(v2), t(v3) | u(v0), …, u(v3)] with t the tree over
   lanes 0-3 and u over lanes 4-7. */
AVX2 static inline __m256 half_trees_f(__m256 v0, __m256 v1, __m256 v2, __m256 v3)
{
    return _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
}

/* One row of A at a time, against 8, 4, then 1 rows of B. */
AVX2 static void nt_f_rows_avx2(int m, int n, int k, float alpha,
                                const float *A, int lda, const float *B,
                                int ldb, float *C, int ldc)
{
    const int kk = k & ~7;
    const __m256i mk = tail_f(k - kk);
    for (int i = 0; i < m; i++) {
        const float *a = A + (long)i * lda;
        float *c = C + (long)i * ldc;
        const float *bj = B;            /* row j of B */
        int j = 0;
        for (; j + 8 <= n; j += 8, bj += 8 * (long)ldb) {
            const float *b[8];
            __m256 s[8];
            b[0] = bj;
            for (int r = 1; r < 8; r++)
                b[r] = b[r - 1] + ldb;
            for (int r = 0; r < 8; r++)
                s[r] = _mm256_setzero_ps();
            int p = 0;
            for (; p < kk; p += 8) {
                __m256 x = _mm256_loadu_ps(a + p);
                DOT_STEP_F(8)
            }
            if (p < k) {
                __m256 x = _mm256_maskload_ps(a + p, mk);
                DOT_TAIL_F(8)
            }
            __m256 h0 = half_trees_f(s[0], s[1], s[2], s[3]);
            __m256 h1 = half_trees_f(s[4], s[5], s[6], s[7]);
            __m256 d = _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20),
                                     _mm256_permute2f128_ps(h0, h1, 0x31));
            _mm256_storeu_ps(c + j, _mm256_add_ps(
                _mm256_loadu_ps(c + j), _mm256_mul_ps(_mm256_set1_ps(alpha), d)));
        }
        for (; j + 4 <= n; j += 4, bj += 4 * (long)ldb) {
            const float *b[4];
            __m256 s[4];
            b[0] = bj;
            for (int r = 1; r < 4; r++)
                b[r] = b[r - 1] + ldb;
            for (int r = 0; r < 4; r++)
                s[r] = _mm256_setzero_ps();
            int p = 0;
            for (; p < kk; p += 8) {
                __m256 x = _mm256_loadu_ps(a + p);
                DOT_STEP_F(4)
            }
            if (p < k) {
                __m256 x = _mm256_maskload_ps(a + p, mk);
                DOT_TAIL_F(4)
            }
            __m256 h = half_trees_f(s[0], s[1], s[2], s[3]);
            __m128 d = _mm_add_ps(_mm256_castps256_ps128(h),
                                  _mm256_extractf128_ps(h, 1));
            _mm_storeu_ps(c + j, _mm_add_ps(
                _mm_loadu_ps(c + j), _mm_mul_ps(_mm_set1_ps(alpha), d)));
        }
        for (; j < n; j++, bj += ldb) {
            const float *b[1] = {bj};
            __m256 s[1] = {_mm256_setzero_ps()};
            int p = 0;
            for (; p < kk; p += 8) {
                __m256 x = _mm256_loadu_ps(a + p);
                DOT_STEP_F(1)
            }
            if (p < k) {
                __m256 x = _mm256_maskload_ps(a + p, mk);
                DOT_TAIL_F(1)
            }
            __m256 h = _mm256_hadd_ps(s[0], s[0]);
            h = _mm256_hadd_ps(h, h);
            float d = _mm256_cvtss_f32(h)
                + _mm_cvtss_f32(_mm256_extractf128_ps(h, 1));
            c[j] = c[j] + alpha * d;
        }
    }
}

/* ---- NT float for several rows of A (a mini-batch's D W^T).  Tiles of
   2 rows of A x 4 rows of B: the 8 dot8s of _small.h at once, 6 loads per
   8 columns of k for 8 multiply-adds (one row of A against 8 rows of B
   needs 9).  8 accumulators, 2 + 1 operands and the product's temporary
   fit in 16 registers (without FMA a 4 x 3 tile needs 17 and spills);
   4 rows of B per tile rather than 2 halves how often A is re-read from
   L2 (5-10 % faster at m = 32).

   Within a chunk of NT_MC rows of A x NT_NC rows of B, each tile adds
   its products to 8 lane accumulators; k is cut into blocks of NT_KB,
   between which the accumulators are stored in ``acc`` and reloaded
   (exact), so the buffer stays small and a block of A stays in cache
   while B's rows stream.  Each lane still receives its products in
   ascending p, the masked tail last, then the tree: the bits of
   nt_f_rows_avx2 and of the generic dot8.  Measured on 784-wide rows (one
   thread, AMD EPYC): 1.3x OpenBLAS's sgemm at m = 32, 1.8x at m = 16;
   k blocks shorter than 1024 were no faster there. */
#define NT_KB 1024          /* a multiple of 8 */
#define NT_MC 32            /* even */
#define NT_NC 32            /* a multiple of 4 */

/* The empty asm keeps each loaded vector in a register: gcc would
   otherwise fold the load into both multiplies that use it (10 loads per
   step instead of 6). */
static inline __attribute__((always_inline, target("avx2"))) __m256
nt_in_reg(__m256 v)
{
    __asm__("" : "+x"(v));
    return v;
}
#define NT_LOAD(q) nt_in_reg(_mm256_loadu_ps(q))
#define NT_MLOAD(q) nt_in_reg(_mm256_maskload_ps((q), mk))
#define NT_TILE_STEP(LOAD)                                                   \
    do {                                                                     \
        const __m256 y0 = LOAD(a0 + p), y1 = LOAD(a1 + p);                   \
        __m256 x = LOAD(b0 + p);                                             \
        s0 = _mm256_add_ps(s0, _mm256_mul_ps(y0, x));                        \
        s4 = _mm256_add_ps(s4, _mm256_mul_ps(y1, x));                        \
        x = LOAD(b1 + p);                                                    \
        s1 = _mm256_add_ps(s1, _mm256_mul_ps(y0, x));                        \
        s5 = _mm256_add_ps(s5, _mm256_mul_ps(y1, x));                        \
        x = LOAD(b2 + p);                                                    \
        s2 = _mm256_add_ps(s2, _mm256_mul_ps(y0, x));                        \
        s6 = _mm256_add_ps(s6, _mm256_mul_ps(y1, x));                        \
        x = LOAD(b3 + p);                                                    \
        s3 = _mm256_add_ps(s3, _mm256_mul_ps(y0, x));                        \
        s7 = _mm256_add_ps(s7, _mm256_mul_ps(y1, x));                        \
    } while (0)

/* One tile over p0 … p1-1 (p1 - p0 <= NT_KB; a part of 8 only at the end
   of k): acc[8 q ...] holds lane vector q = 4 r + c (row r of A, row c of
   B) of the tile. */
AVX2 static void nt_f_tile(int p0, int p1, const float *a0, int lda,
                           const float *b0, int ldb, float *acc)
{
    const float *a1 = a0 + lda;
    const float *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
    __m256 s0 = _mm256_loadu_ps(acc), s1 = _mm256_loadu_ps(acc + 8),
           s2 = _mm256_loadu_ps(acc + 16), s3 = _mm256_loadu_ps(acc + 24),
           s4 = _mm256_loadu_ps(acc + 32), s5 = _mm256_loadu_ps(acc + 40),
           s6 = _mm256_loadu_ps(acc + 48), s7 = _mm256_loadu_ps(acc + 56);
    int p = p0;
    for (; p + 8 <= p1; p += 8)
        NT_TILE_STEP(NT_LOAD);
    if (p < p1) {
        const __m256i mk = tail_f(p1 - p);
        NT_TILE_STEP(NT_MLOAD);
    }
    _mm256_storeu_ps(acc, s0);      _mm256_storeu_ps(acc + 8, s1);
    _mm256_storeu_ps(acc + 16, s2); _mm256_storeu_ps(acc + 24, s3);
    _mm256_storeu_ps(acc + 32, s4); _mm256_storeu_ps(acc + 40, s5);
    _mm256_storeu_ps(acc + 48, s6); _mm256_storeu_ps(acc + 56, s7);
}

/* C[r, c] += alpha * tree(acc lane vector 4 r + c), r < 2, c < 4. */
AVX2 static void nt_f_tile_out(const float *acc, float alpha, float *c,
                               int ldc)
{
    for (int r = 0; r < 2; r++) {
        const float *q = acc + 32 * r;
        const __m256 h = half_trees_f(_mm256_loadu_ps(q),
                                      _mm256_loadu_ps(q + 8),
                                      _mm256_loadu_ps(q + 16),
                                      _mm256_loadu_ps(q + 24));
        const __m128 t = _mm_add_ps(_mm256_castps256_ps128(h),
                                    _mm256_extractf128_ps(h, 1));
        float *cr = c + (long)r * ldc;
        _mm_storeu_ps(cr, _mm_add_ps(_mm_loadu_ps(cr),
                                     _mm_mul_ps(_mm_set1_ps(alpha), t)));
    }
}

/* Rows i0 … i0+mc-1 of A (mc even) x rows j0 … j0+nc-1 of B (nc a
   multiple of 4), mc <= NT_MC, nc <= NT_NC. */
AVX2 static void nt_f_chunk(int mc, int nc, int k, float alpha,
                            const float *A, int lda, const float *B, int ldb,
                            float *C, int ldc)
{
    float acc[NT_MC / 2 * NT_NC / 4 * 64];
    const int tiles_r = mc / 2, tiles_c = nc / 4;
    memset(acc, 0, sizeof(float) * 64 * (size_t)(tiles_r * tiles_c));
    for (int p0 = 0; p0 < k; p0 += NT_KB) {
        const int p1 = k - p0 < NT_KB ? k : p0 + NT_KB;
        for (int tc = 0; tc < tiles_c; tc++)
            for (int tr = 0; tr < tiles_r; tr++)
                nt_f_tile(p0, p1, A + (long)(2 * tr) * lda, lda,
                          B + (long)(4 * tc) * ldb, ldb,
                          acc + 64 * (tc * tiles_r + tr));
    }
    for (int tc = 0; tc < tiles_c; tc++)
        for (int tr = 0; tr < tiles_r; tr++)
            nt_f_tile_out(acc + 64 * (tc * tiles_r + tr), alpha,
                          C + (long)(2 * tr) * ldc + 4 * tc, ldc);
}

/* Chunks of tiles; the last row of A when m is odd and the rows of B past
   a multiple of 4 row by row. */
AVX2 static void nt_f_avx2(int m, int n, int k, float alpha, const float *A,
                           int lda, const float *B, int ldb, float *C, int ldc)
{
    const int m2 = m & ~1, n4 = n & ~3;
    for (int i = 0; i < m2; i += NT_MC)
        for (int j = 0; j < n4; j += NT_NC)
            nt_f_chunk(m2 - i < NT_MC ? m2 - i : NT_MC,
                       n4 - j < NT_NC ? n4 - j : NT_NC, k, alpha,
                       A + (long)i * lda, lda, B + (long)j * ldb, ldb,
                       C + (long)i * ldc + j, ldc);
    if (n4 < n && m2 > 0)
        nt_f_rows_avx2(m2, n - n4, k, alpha, A, lda, B + (long)n4 * ldb, ldb,
                       C + n4, ldc);
    if (m2 < m)
        nt_f_rows_avx2(m - m2, n, k, alpha, A + (long)m2 * lda, lda, B, ldb,
                       C + (long)m2 * ldc, ldc);
}

/* ---- NT double: 4 rows of B at a time, one 4-lane accumulator each. */
#define DOT_STEP_D(R)                                                        \
    for (int r = 0; r < R; r++)                                              \
        s[r] = _mm256_add_pd(s[r], _mm256_mul_pd(                            \
            x, _mm256_loadu_pd(b[r] + p)));
#define DOT_TAIL_D(R)                                                        \
    for (int r = 0; r < R; r++)                                              \
        s[r] = _mm256_add_pd(s[r], _mm256_mul_pd(                            \
            x, _mm256_maskload_pd(b[r] + p, mk)));

AVX2 static void nt_d_avx2(int m, int n, int k, double alpha, const double *A,
                           int lda, const double *B, int ldb, double *C, int ldc)
{
    const int kk = k & ~3;
    const __m256i mk = tail_d(k - kk);
    for (int i = 0; i < m; i++) {
        const double *a = A + (long)i * lda;
        double *c = C + (long)i * ldc;
        int j = 0;
        for (; j + 4 <= n; j += 4) {
            const double *b[4];
            __m256d s[4];
            for (int r = 0; r < 4; r++) {
                b[r] = B + (long)(j + r) * ldb;
                s[r] = _mm256_setzero_pd();
            }
            int p = 0;
            for (; p < kk; p += 4) {
                __m256d x = _mm256_loadu_pd(a + p);
                DOT_STEP_D(4)
            }
            if (p < k) {
                __m256d x = _mm256_maskload_pd(a + p, mk);
                DOT_TAIL_D(4)
            }
            /* hadd_pd(u, v) = [u0+u1, v0+v1, u2+u3, v2+v3] */
            __m256d h01 = _mm256_hadd_pd(s[0], s[1]);
            __m256d h23 = _mm256_hadd_pd(s[2], s[3]);
            __m256d d = _mm256_add_pd(_mm256_permute2f128_pd(h01, h23, 0x20),
                                      _mm256_permute2f128_pd(h01, h23, 0x31));
            _mm256_storeu_pd(c + j, _mm256_add_pd(
                _mm256_loadu_pd(c + j), _mm256_mul_pd(_mm256_set1_pd(alpha), d)));
        }
        for (; j < n; j++) {
            const double *b[1] = {B + (long)j * ldb};
            __m256d s[1] = {_mm256_setzero_pd()};
            int p = 0;
            for (; p < kk; p += 4) {
                __m256d x = _mm256_loadu_pd(a + p);
                DOT_STEP_D(1)
            }
            if (p < k) {
                __m256d x = _mm256_maskload_pd(a + p, mk);
                DOT_TAIL_D(1)
            }
            __m256d h = _mm256_hadd_pd(s[0], s[0]);
            double d = _mm256_cvtsd_f64(h)
                + _mm_cvtsd_f64(_mm256_extractf128_pd(h, 1));
            c[j] = c[j] + alpha * d;
        }
    }
}

/* ---- LOGISTIC: 8 lanes of logistic_one; the ragged end goes through a
   zero-padded block of 8. */
AVX2 static inline __m256 logistic8(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(LG_LO), shift = _mm256_set1_ps(LG_SHIFT);
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 a = _mm256_or_ps(x, _mm256_set1_ps(-0.0f));
    __m256 ac = _mm256_max_ps(lo, a);          /* a < lo ? lo : a; NaN: a */
    __m256 s = _mm256_add_ps(_mm256_mul_ps(ac, _mm256_set1_ps(LG_LOG2E)), shift);
    __m256 kf = _mm256_sub_ps(s, shift);
    __m256 r = _mm256_sub_ps(_mm256_sub_ps(ac, _mm256_mul_ps(kf, _mm256_set1_ps(LG_C1))),
                             _mm256_mul_ps(kf, _mm256_set1_ps(LG_C2)));
    __m256 p = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(LG_P0), r),
                             _mm256_set1_ps(LG_P1));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(LG_P2));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(LG_P3));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(LG_P4));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(LG_P5));
    p = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r), one);
    __m256i k = _mm256_sub_epi32(_mm256_castps_si256(s), _mm256_castps_si256(shift));
    __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
    __m256 t = _mm256_mul_ps(p, scale);
    t = _mm256_andnot_ps(_mm256_cmp_ps(a, lo, _CMP_LT_OQ), t);
    __m256 num = _mm256_blendv_ps(t, one, _mm256_cmp_ps(x, _mm256_setzero_ps(),
                                                        _CMP_GE_OQ));
    return _mm256_div_ps(num, _mm256_add_ps(one, t));
}

/* g <- g z (1 - z): 4 lanes of doubles, as the generic loop. */
AVX2 static void logistic_grad_f_avx2(long n, const float *z, float *g)
{
    const __m256d one = _mm256_set1_pd(1.0);
    long i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d zi = _mm256_cvtps_pd(_mm_loadu_ps(z + i));
        __m256d d = _mm256_mul_pd(zi, _mm256_sub_pd(one, zi));
        __m256d gi = _mm256_cvtps_pd(_mm_loadu_ps(g + i));
        _mm_storeu_ps(g + i, _mm256_cvtpd_ps(_mm256_mul_pd(gi, d)));
    }
    for (; i < n; i++) {
        double zi = z[i];
        g[i] = (float)((double)g[i] * (zi * (1.0 - zi)));
    }
}

AVX2 static void logistic_f_avx2(long n, const float *u, float *z)
{
    long i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(z + i, logistic8(_mm256_loadu_ps(u + i)));
    if (i < n) {        /* the lanes past n read as +0, then dropped */
        const int r = (int)(n - i);
        store_tail_f(z + i, r, logistic8(_mm256_maskload_ps(u + i, tail_f(r))));
    }
}
#endif  /* PYNN_HAVE_AVX2 */

/* ------------------------------------------------------------ dispatch */
/* csrc/_fused.c includes this file with PYNN_SMALL_KERNELS_ONLY defined to
   reuse the static kernels above (so the fused step runs the very same
   instructions); it then has no dispatch state and exports nothing. */
#ifndef PYNN_SMALL_KERNELS_ONLY
typedef void (*nn_f_t)(int, int, int, int, float, const float *, int,
                       const float *, int, float *, int);
typedef void (*nn_d_t)(int, int, int, int, double, const double *, int,
                       const double *, int, double *, int);
typedef void (*nt_f_t)(int, int, int, float, const float *, int,
                       const float *, int, float *, int);
typedef void (*nt_d_t)(int, int, int, double, const double *, int,
                       const double *, int, double *, int);
typedef void (*logistic_f_t)(long, const float *, float *);

static int variant = PYNN_SMALL_GENERIC;
static nn_f_t nn_f = nn_f_generic;
static nn_d_t nn_d = nn_d_generic;
static nt_f_t nt_f = nt_f_generic;
static nt_d_t nt_d = nt_d_generic;
static logistic_f_t logistic_f = logistic_f_generic;
static logistic_f_t logistic_grad_f = logistic_grad_f_generic;

int pynn_small_have_avx2(void)
{
    return pynn_cpu_has_avx2();
}

int pynn_small_have_avx512(void)
{
    return pynn_cpu_has_avx512();
}

int pynn_small_set_variant(int v)
{
    if (v == PYNN_SMALL_GENERIC) {
        nn_f = nn_f_generic; nn_d = nn_d_generic;
        nt_f = nt_f_generic; nt_d = nt_d_generic;
        logistic_f = logistic_f_generic;
        logistic_grad_f = logistic_grad_f_generic;
    }
#if PYNN_HAVE_AVX2
    else if ((v == PYNN_SMALL_AVX2 && pynn_small_have_avx2())
             || (v == PYNN_SMALL_AVX512 && pynn_small_have_avx512())) {
        nn_f = nn_f_avx2; nn_d = nn_d_avx2;
        nt_f = nt_f_avx2; nt_d = nt_d_avx2;
        logistic_f = logistic_f_avx2;
        logistic_grad_f = logistic_grad_f_avx2;
    }
#endif
    else
        return -1;
    variant = v;
    return 0;
}

int pynn_small_variant(void) { return variant; }

void pynn_small_nn_f(int m, int n, int k, int trans_a, float alpha,
                     const float *A, int lda, const float *B, int ldb,
                     float *C, int ldc)
{ nn_f(m, n, k, trans_a, alpha, A, lda, B, ldb, C, ldc); }

void pynn_small_nn_d(int m, int n, int k, int trans_a, double alpha,
                     const double *A, int lda, const double *B, int ldb,
                     double *C, int ldc)
{ nn_d(m, n, k, trans_a, alpha, A, lda, B, ldb, C, ldc); }

void pynn_small_nt_f(int m, int n, int k, float alpha, const float *A, int lda,
                     const float *B, int ldb, float *C, int ldc)
{ nt_f(m, n, k, alpha, A, lda, B, ldb, C, ldc); }

void pynn_small_nt_d(int m, int n, int k, double alpha, const double *A,
                     int lda, const double *B, int ldb, double *C, int ldc)
{ nt_d(m, n, k, alpha, A, lda, B, ldb, C, ldc); }

void pynn_small_logistic_f(long n, const float *u, float *z)
{ logistic_f(n, u, z); }

void pynn_small_logistic_grad_f(long n, const float *z, float *g)
{ logistic_grad_f(n, z, g); }
#endif  /* PYNN_SMALL_KERNELS_ONLY */
