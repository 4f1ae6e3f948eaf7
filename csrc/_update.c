/* Optimiser span updates (see _update.h for the arithmetic): a generic C
   variant and an AVX2 variant chosen when the module is loaded.  Compile
   with -ffp-contract=off.  The AVX2 functions carry
   __attribute__((target("avx2"))) (no "fma": no contraction is possible)
   so the rest of the module stays baseline x86-64; they are only selected
   after __builtin_cpu_supports("avx2"). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "_update.h"
#include "_simd.h"

/* The constants of one call rounded to the span's precision (as
   update_span's <floating> casts round them). */
#define DEFINE_CONSTS(K, T)                                                  \
typedef struct { T lr, h0, h1, oh0, oh1, step, eps, d, s; } K;               \
static inline K K##_of(const pynn_update_t *u)                               \
{                                                                            \
    K k = {(T)u->lr, (T)u->h0, (T)u->h1, (T)u->oh0, (T)u->oh1, (T)u->step,   \
           (T)u->eps, (T)u->decay, (T)u->scale};                             \
    return k;                                                                \
}
DEFINE_CONSTS(consts_f, float)
DEFINE_CONSTS(consts_d, double)

/* Gradient element i: read from the span, or 0 + a z_i for a row. */
#define G_SPAN(i) (grad[i])
#define G_ROW_F(i) (0.0f + a * z[i])
#define G_ROW_D(i) (0.0 + a * z[i])

/* ------------------------------------------------------------ generic C */
/* Elements i0 … i1-1, one loop per rule, in the order of _update.h. */
#define SCALAR_LOOPS(T, SQRT, G, i0, i1)                                     \
    switch (u->kind) {                                                       \
    case PYNN_UPD_SGD:                                                       \
        for (ptrdiff_t i = (i0); i < (i1); i++)                              \
            w[i] = w[i] - k.lr * (k.s * (G(i) + k.d * w[i]));                \
        break;                                                               \
    case PYNN_UPD_MOMENTUM:                                                  \
        for (ptrdiff_t i = (i0); i < (i1); i++) {                            \
            T v = k.h0 * s1[i] + k.s * (G(i) + k.d * w[i]);                  \
            s1[i] = v;                                                       \
            w[i] = w[i] - k.lr * v;                                          \
        }                                                                    \
        break;                                                               \
    case PYNN_UPD_NESTEROV:                                                  \
        for (ptrdiff_t i = (i0); i < (i1); i++) {                            \
            T x = k.s * (G(i) + k.d * w[i]);                                 \
            T v = k.h0 * s1[i] + x;                                          \
            s1[i] = v;                                                       \
            w[i] = w[i] - k.lr * (x + k.h0 * v);                             \
        }                                                                    \
        break;                                                               \
    case PYNN_UPD_ADAM:                                                      \
        for (ptrdiff_t i = (i0); i < (i1); i++) {                            \
            T x = k.s * (G(i) + k.d * w[i]);                                 \
            T m = k.h0 * s1[i] + k.oh0 * x;                                  \
            T v = k.h1 * s2[i] + (k.oh1 * x) * x;                            \
            s1[i] = m;                                                       \
            s2[i] = v;                                                       \
            w[i] = w[i] - (k.step * m) / (SQRT(v) + k.eps);                  \
        }                                                                    \
        break;                                                               \
    case PYNN_UPD_SK_MOMENTUM:                                               \
        for (ptrdiff_t i = (i0); i < (i1); i++) {                            \
            T v = k.h0 * s1[i] - k.lr * (k.s * (G(i) + k.d * w[i]));         \
            s1[i] = v;                                                       \
            w[i] = w[i] + v;                                                 \
        }                                                                    \
        break;                                                               \
    case PYNN_UPD_SK_NESTEROV:                                               \
        for (ptrdiff_t i = (i0); i < (i1); i++) {                            \
            T t = k.lr * (k.s * (G(i) + k.d * w[i]));                        \
            T v = k.h0 * s1[i] - t;                                          \
            s1[i] = v;                                                       \
            w[i] = w[i] + (k.h0 * v - t);                                    \
        }                                                                    \
        break;                                                               \
    case PYNN_UPD_SK_ADAM:                                                   \
        for (ptrdiff_t i = (i0); i < (i1); i++) {                            \
            T x = k.s * (G(i) + k.d * w[i]);                                 \
            T m = k.h0 * s1[i] + k.oh0 * x;                                  \
            T v = k.h1 * s2[i] + (x * x) * k.oh1;                            \
            s1[i] = m;                                                       \
            s2[i] = v;                                                       \
            w[i] = w[i] + (m * -k.step) / (SQRT(v) + k.eps);                 \
        }                                                                    \
        break;                                                               \
    }

static void span_f_generic(const pynn_update_t *u, ptrdiff_t n, float *w,
                           const float *grad, float *s1, float *s2)
{
    const consts_f k = consts_f_of(u);
    SCALAR_LOOPS(float, sqrtf, G_SPAN, 0, n)
}

static void span_d_generic(const pynn_update_t *u, ptrdiff_t n, double *w,
                           const double *grad, double *s1, double *s2)
{
    const consts_d k = consts_d_of(u);
    SCALAR_LOOPS(double, sqrt, G_SPAN, 0, n)
}

static void row_f_generic(const pynn_update_t *u, ptrdiff_t n, float *w,
                          float a, const float *z, float *s1, float *s2)
{
    const consts_f k = consts_f_of(u);
    SCALAR_LOOPS(float, sqrtf, G_ROW_F, 0, n)
}

static void row_d_generic(const pynn_update_t *u, ptrdiff_t n, double *w,
                          double a, const double *z, double *s1, double *s2)
{
    const consts_d k = consts_d_of(u);
    SCALAR_LOOPS(double, sqrt, G_ROW_D, 0, n)
}

/* ------------------------------------------------------------ AVX2 */
#if PYNN_HAVE_AVX2
#define AVX2 __attribute__((target("avx2")))

/* Elements i0 … i1-1 (a multiple of L of them), L lanes at a time, the
   same operations as SCALAR_LOOPS. */
#define VECTOR_LOOPS(V, L, LD, ST, SET1, ADD, SUB, MUL, DIV, SQRT, GV,       \
                     i0, i1)                                                 \
    const V lr = SET1(k.lr), h0 = SET1(k.h0), h1 = SET1(k.h1);               \
    const V oh0 = SET1(k.oh0), oh1 = SET1(k.oh1), step = SET1(k.step);       \
    const V eps = SET1(k.eps), d = SET1(k.d), s = SET1(k.s);                 \
    const V nstep = SET1(-k.step);                                           \
    switch (u->kind) {                                                       \
    case PYNN_UPD_SGD:                                                       \
        for (ptrdiff_t i = (i0); i < (i1); i += (L)) {                       \
            V wi = LD(w + i);                                                \
            ST(w + i, SUB(wi, MUL(lr, MUL(s, ADD(GV(i), MUL(d, wi))))));     \
        }                                                                    \
        break;                                                               \
    case PYNN_UPD_MOMENTUM:                                                  \
        for (ptrdiff_t i = (i0); i < (i1); i += (L)) {                       \
            V wi = LD(w + i);                                                \
            V v = ADD(MUL(h0, LD(s1 + i)), MUL(s, ADD(GV(i), MUL(d, wi))));  \
            ST(s1 + i, v);                                                   \
            ST(w + i, SUB(wi, MUL(lr, v)));                                  \
        }                                                                    \
        break;                                                               \
    case PYNN_UPD_NESTEROV:                                                  \
        for (ptrdiff_t i = (i0); i < (i1); i += (L)) {                       \
            V wi = LD(w + i);                                                \
            V x = MUL(s, ADD(GV(i), MUL(d, wi)));                            \
            V v = ADD(MUL(h0, LD(s1 + i)), x);                               \
            ST(s1 + i, v);                                                   \
            ST(w + i, SUB(wi, MUL(lr, ADD(x, MUL(h0, v)))));                 \
        }                                                                    \
        break;                                                               \
    case PYNN_UPD_ADAM:                                                      \
        for (ptrdiff_t i = (i0); i < (i1); i += (L)) {                       \
            V wi = LD(w + i);                                                \
            V x = MUL(s, ADD(GV(i), MUL(d, wi)));                            \
            V m = ADD(MUL(h0, LD(s1 + i)), MUL(oh0, x));                     \
            V v = ADD(MUL(h1, LD(s2 + i)), MUL(MUL(oh1, x), x));             \
            ST(s1 + i, m);                                                   \
            ST(s2 + i, v);                                                   \
            ST(w + i, SUB(wi, DIV(MUL(step, m), ADD(SQRT(v), eps))));        \
        }                                                                    \
        break;                                                               \
    case PYNN_UPD_SK_MOMENTUM:                                               \
        for (ptrdiff_t i = (i0); i < (i1); i += (L)) {                       \
            V wi = LD(w + i);                                                \
            V v = SUB(MUL(h0, LD(s1 + i)),                                   \
                      MUL(lr, MUL(s, ADD(GV(i), MUL(d, wi)))));              \
            ST(s1 + i, v);                                                   \
            ST(w + i, ADD(wi, v));                                           \
        }                                                                    \
        break;                                                               \
    case PYNN_UPD_SK_NESTEROV:                                               \
        for (ptrdiff_t i = (i0); i < (i1); i += (L)) {                       \
            V wi = LD(w + i);                                                \
            V t = MUL(lr, MUL(s, ADD(GV(i), MUL(d, wi))));                   \
            V v = SUB(MUL(h0, LD(s1 + i)), t);                               \
            ST(s1 + i, v);                                                   \
            ST(w + i, ADD(wi, SUB(MUL(h0, v), t)));                          \
        }                                                                    \
        break;                                                               \
    case PYNN_UPD_SK_ADAM:                                                   \
        for (ptrdiff_t i = (i0); i < (i1); i += (L)) {                       \
            V wi = LD(w + i);                                                \
            V x = MUL(s, ADD(GV(i), MUL(d, wi)));                            \
            V m = ADD(MUL(h0, LD(s1 + i)), MUL(oh0, x));                     \
            V v = ADD(MUL(h1, LD(s2 + i)), MUL(MUL(x, x), oh1));             \
            ST(s1 + i, m);                                                   \
            ST(s2 + i, v);                                                   \
            ST(w + i, ADD(wi, DIV(MUL(m, nstep), ADD(SQRT(v), eps))));       \
        }                                                                    \
        break;                                                               \
    }

#define VECTOR_LOOPS_F(GV, i0, i1)                                           \
    VECTOR_LOOPS(__m256, 8, _mm256_loadu_ps, _mm256_storeu_ps,               \
                 _mm256_set1_ps, _mm256_add_ps, _mm256_sub_ps, _mm256_mul_ps, \
                 _mm256_div_ps, _mm256_sqrt_ps, GV, i0, i1)
#define VECTOR_LOOPS_D(GV, i0, i1)                                           \
    VECTOR_LOOPS(__m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd,              \
                 _mm256_set1_pd, _mm256_add_pd, _mm256_sub_pd, _mm256_mul_pd, \
                 _mm256_div_pd, _mm256_sqrt_pd, GV, i0, i1)

/* The elements are independent, so the span is split freely: a scalar head
   up to the first 32-byte boundary of the state s1 (s2 is allocated alike;
   two or three of the streams then need no cache-line-split accesses), or
   of w for SGD, whole vectors, a scalar tail. */
#define SPLIT(T, L)                                                          \
    const size_t at = s1 != NULL ? (size_t)s1 : (size_t)w;                   \
    ptrdiff_t head = (ptrdiff_t)(((32 - (at & 31)) & 31) / sizeof(T));      \
    if (head > n)                                                            \
        head = n;                                                            \
    const ptrdiff_t nv = head + (n - head) / (L) * (L);
#define GV_SPAN_F(i) _mm256_loadu_ps(grad + (i))
#define GV_SPAN_D(i) _mm256_loadu_pd(grad + (i))
#define GV_ROW_F(i)                                                          \
    _mm256_add_ps(zero, _mm256_mul_ps(av, _mm256_loadu_ps(z + (i))))
#define GV_ROW_D(i)                                                          \
    _mm256_add_pd(zero, _mm256_mul_pd(av, _mm256_loadu_pd(z + (i))))

AVX2 static void span_f_avx2(const pynn_update_t *u, ptrdiff_t n, float *w,
                             const float *grad, float *s1, float *s2)
{
    const consts_f k = consts_f_of(u);
    SPLIT(float, 8)
    SCALAR_LOOPS(float, sqrtf, G_SPAN, 0, head)
    VECTOR_LOOPS_F(GV_SPAN_F, head, nv)
    SCALAR_LOOPS(float, sqrtf, G_SPAN, nv, n)
}

AVX2 static void span_d_avx2(const pynn_update_t *u, ptrdiff_t n, double *w,
                             const double *grad, double *s1, double *s2)
{
    const consts_d k = consts_d_of(u);
    SPLIT(double, 4)
    SCALAR_LOOPS(double, sqrt, G_SPAN, 0, head)
    VECTOR_LOOPS_D(GV_SPAN_D, head, nv)
    SCALAR_LOOPS(double, sqrt, G_SPAN, nv, n)
}

AVX2 static void row_f_avx2(const pynn_update_t *u, ptrdiff_t n, float *w,
                            float a, const float *z, float *s1, float *s2)
{
    const consts_f k = consts_f_of(u);
    const __m256 zero = _mm256_setzero_ps(), av = _mm256_set1_ps(a);
    SPLIT(float, 8)
    SCALAR_LOOPS(float, sqrtf, G_ROW_F, 0, head)
    VECTOR_LOOPS_F(GV_ROW_F, head, nv)
    SCALAR_LOOPS(float, sqrtf, G_ROW_F, nv, n)
}

AVX2 static void row_d_avx2(const pynn_update_t *u, ptrdiff_t n, double *w,
                            double a, const double *z, double *s1, double *s2)
{
    const consts_d k = consts_d_of(u);
    const __m256d zero = _mm256_setzero_pd(), av = _mm256_set1_pd(a);
    SPLIT(double, 4)
    SCALAR_LOOPS(double, sqrt, G_ROW_D, 0, head)
    VECTOR_LOOPS_D(GV_ROW_D, head, nv)
    SCALAR_LOOPS(double, sqrt, G_ROW_D, nv, n)
}
#endif  /* PYNN_HAVE_AVX2 */

/* ------------------------------------------------------------ dispatch */
typedef void (*span_f_t)(const pynn_update_t *, ptrdiff_t, float *,
                         const float *, float *, float *);
typedef void (*span_d_t)(const pynn_update_t *, ptrdiff_t, double *,
                         const double *, double *, double *);
typedef void (*row_f_t)(const pynn_update_t *, ptrdiff_t, float *, float,
                        const float *, float *, float *);
typedef void (*row_d_t)(const pynn_update_t *, ptrdiff_t, double *, double,
                        const double *, double *, double *);

static int variant = PYNN_UPDATE_GENERIC;
static span_f_t span_f = span_f_generic;
static span_d_t span_d = span_d_generic;
static row_f_t row_f = row_f_generic;
static row_d_t row_d = row_d_generic;


int pynn_update_set_variant(int v)
{
    if (v == PYNN_UPDATE_GENERIC) {
        span_f = span_f_generic; span_d = span_d_generic;
        row_f = row_f_generic; row_d = row_d_generic;
    }
#if PYNN_HAVE_AVX2
    else if (v == PYNN_UPDATE_AVX2 && pynn_cpu_has_avx2()) {
        span_f = span_f_avx2; span_d = span_d_avx2;
        row_f = row_f_avx2; row_d = row_d_avx2;
    }
#endif
    else
        return -1;
    variant = v;
    return 0;
}

int pynn_update_variant(void) { return variant; }

#if PYNN_HAVE_AVX2
/* PYNN_SIMD, stripped and in any case, one of 0/off/false/no (as
   pynn/_simd.py reads it). */
static int simd_off(const char *e)
{
    static const char *const off[] = {"0", "off", "false", "no"};
    char buf[8];
    size_t n = 0;
    if (e == NULL)
        return 0;
    while (isspace((unsigned char)*e))
        e++;
    n = strlen(e);
    while (n > 0 && isspace((unsigned char)e[n - 1]))
        n--;
    if (n >= sizeof buf)
        return 0;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)e[i]);
    buf[n] = '\0';
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
        if (strcmp(buf, off[i]) == 0)
            return 1;
    return 0;
}

/* Chosen once, when the module is loaded. */
__attribute__((constructor)) static void choose_variant(void)
{
    if (!simd_off(getenv("PYNN_SIMD")))
        pynn_update_set_variant(PYNN_UPDATE_AVX2);
}
#endif

void pynn_update_span_f(const pynn_update_t *u, ptrdiff_t n, float *w,
                        const float *grad, float *s1, float *s2)
{ span_f(u, n, w, grad, s1, s2); }

void pynn_update_span_d(const pynn_update_t *u, ptrdiff_t n, double *w,
                        const double *grad, double *s1, double *s2)
{ span_d(u, n, w, grad, s1, s2); }

void pynn_update_row_f(const pynn_update_t *u, ptrdiff_t n, float *w,
                       float a, const float *z, float *s1, float *s2)
{ row_f(u, n, w, a, z, s1, s2); }

void pynn_update_row_d(const pynn_update_t *u, ptrdiff_t n, double *w,
                       double a, const double *z, double *s1, double *s2)
{ row_d(u, n, w, a, z, s1, s2); }
