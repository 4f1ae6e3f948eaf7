/* The fused batch-1 SGD step (see _fused.h for the equations): a generic C
   variant and an AVX2 variant, chosen per call by net->variant.  Both are
   one template over the kernels of _small.c, included here without its
   dispatch (PYNN_SMALL_KERNELS_ONLY): the step runs the very instructions
   the unfused path reaches through pynn._blas.mm, with no per-layer
   dispatch, product-path choice or workspace bookkeeping in between.
   Compile with -ffp-contract=off (as _small.c). */
#define PYNN_SMALL_KERNELS_ONLY
#include "_small.c"
#include "_fused.h"

#include <math.h>

/* float64 sigma, as pynn._activations' ``sigmoid``: two branches so exp
   never overflows. */
static inline double sigmoid_d(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static void logistic_d(long n, const double *u, double *z)
{
    for (long i = 0; i < n; i++)
        z[i] = sigmoid_d(u[i]);
}

/* g <- g z (1 - z) (pynn._activations' float64 backward pass). */
static void logistic_grad_d(long n, const double *z, double *g)
{
    for (long i = 0; i < n; i++)
        g[i] = g[i] * (z[i] * (1.0 - z[i]));
}

int pynn_fused_have_variant(int v)
{
    if (v == PYNN_SMALL_GENERIC)
        return 1;
    if (v == PYNN_SMALL_AVX512)
        return pynn_cpu_has_avx512();
    return v == PYNN_SMALL_AVX2 && pynn_cpu_has_avx2();
}

/* z = phi(u) and g <- phi'(u) g from the output z, operation for operation
   as pynn._activations' act_forward / act_backward (the sigmoid through
   LOGISTIC / LOGISTIC_GRAD of the variant). */
#define DEFINE_ACT(FWD, BWD, ATTR, T, LOGISTIC, LOGISTIC_GRAD)                \
ATTR static inline void FWD(int act, int n, const T *u, T *z)                 \
{                                                                            \
    if (act == PYNN_FUSED_SIGMOID)                                           \
        LOGISTIC(n, u, z);                                                   \
    else if (act == PYNN_FUSED_TANH)                                         \
        for (int i = 0; i < n; i++)                                          \
            z[i] = (T)tanh(u[i]);                                            \
    else if (act == PYNN_FUSED_RELU)                                         \
        for (int i = 0; i < n; i++)                                          \
            z[i] = u[i] > 0.0 ? u[i] : 0;                                    \
    else if (z != u)                                                         \
        for (int i = 0; i < n; i++)                                          \
            z[i] = u[i];                                                     \
}                                                                            \
ATTR static inline void BWD(int act, int n, const T *z, T *g)                 \
{                                                                            \
    if (act == PYNN_FUSED_SIGMOID)                                           \
        LOGISTIC_GRAD(n, z, g);                                              \
    else if (act == PYNN_FUSED_TANH)                                         \
        for (int i = 0; i < n; i++)                                          \
            g[i] = (T)(g[i] * (1.0 - (T)(z[i] * z[i])));                     \
    else if (act == PYNN_FUSED_RELU)                                         \
        for (int i = 0; i < n; i++)                                          \
            g[i] = z[i] > 0.0 ? g[i] : 0;                                    \
}

/* The step of _fused.h over the variant's kernels NN, NT and activations. */
#define DEFINE_STEP(NAME, ATTR, T, NN, NT, FWD, BWD, DEFER, FWD_UPD, BACK)    \
ATTR static double NAME(pynn_fused_net *net, T *params, const T *x,           \
                        const T *t, const T *w, double lr, T *work)           \
{                                                                            \
    const int L = net->n_layers;                                             \
    const T *z = x;                                                          \
    for (int l = 1; l <= L; l++) {          /* u_l = b_l + W_l z_{l-1} */    \
        const int n_in = net->sizes[l - 1], n_out = net->sizes[l];           \
        T *U = work + net->u_off[l], *Z = work + net->z_off[l];              \
        if (DEFER && l == 1 && net->pending) {  /* W_1's update, then u_1 */ \
            const T *zp = (const T *)net->pend;                              \
            FWD_UPD(n_out, n_in, zp + n_in, zp, x, params + net->w_off[0],   \
                    params + net->b_off[0], U);                              \
            net->pending = 0;                                                \
        } else {                                                             \
            memcpy(U, params + net->b_off[l - 1], sizeof(T) * (size_t)n_out);\
            NT(1, n_out, n_in, (T)1, z, n_in, params + net->w_off[l - 1],    \
               n_in, U, n_out);                                              \
        }                                                                    \
        FWD(net->act[l - 1], n_out, U, Z);                                   \
        z = Z;                                                               \
    }                                                                        \
    const int d = net->sizes[L];                                             \
    T *delta = work + net->d_off, *g = delta + net->max_width, *swap;        \
    double total = 0, norm = 1;                                              \
    for (int k = 0; k < d; k++) {           /* squared error */              \
        double v = (double)z[k] - t[k];                                      \
        total = total + (0.5 * v) * v;                                       \
        delta[k] = (T)v;                                                     \
    }                                                                        \
    BWD(net->act[L - 1], d, z, delta);                                       \
    if (w != NULL) {                        /* a weighted sample */          \
        total = 0.0 + w[0] * total;                                          \
        norm = 0.0 + w[0];                                                   \
        for (int k = 0; k < d; k++)                                          \
            delta[k] = delta[k] * w[0];                                      \
    }                                                                        \
    if (!isfinite(total) || norm == 0)                                       \
        return total;                                                        \
    const T alpha = (T)(-lr / norm);                                         \
    const double a = alpha;                                                  \
    for (int l = L; l >= 1; l--) {                                           \
        const int n_in = net->sizes[l - 1], n_out = net->sizes[l];           \
        T *W = params + net->w_off[l - 1], *b = params + net->b_off[l - 1];  \
        const T *zp = l > 1 ? work + net->z_off[l - 1] : x;                  \
        if (l > 1 && alpha != 0) {  /* g = delta_l^T W_l (old W), W += */\
            BACK(n_out, n_in, delta, alpha, zp, W, g);  /* (alpha d) z^T */  \
        } else if (l > 1) {                 /* g = delta_l^T W_l */          \
            memset(g, 0, sizeof(T) * (size_t)n_in);                          \
            NN(1, n_in, n_out, 0, (T)1, delta, n_out, W, n_in, g, n_in);     \
        } else if (alpha != 0 && DEFER                                       \
                && (long)n_in * n_out >= net->defer_min) {  /* next call */  \
            T *px = (T *)net->pend, *ad = px + n_in;                         \
            memcpy(px, x, sizeof(T) * (size_t)n_in);                         \
            for (int j = 0; j < n_out; j++)                                  \
                ad[j] = alpha * delta[j];                                    \
            net->pending = 1;                                                \
        } else if (alpha != 0)              /* W += (alpha delta) z^T */     \
            NN(n_out, n_in, 1, 1, alpha, delta, n_out, zp, n_in, W, n_in);   \
        for (int j = 0; j < n_out; j++)                                      \
            b[j] = b[j] + (T)(a * (0.0 + (double)delta[j]));                 \
        if (l > 1) {                                                         \
            BWD(net->act[l - 2], n_in, zp, g);                               \
            swap = delta; delta = g; g = swap;                               \
        }                                                                    \
    }                                                                        \
    return total;                                                            \
}

#if PYNN_HAVE_AVX2
/* Rows w0 ... w3 (rows j ... j+3 of W, FOUR_ROWS_AT_J) of the passes
   below from column p on: 8 columns a step, then the masked tail, then
   u_j ... u_j+3 = b + the lanes' trees.  Uses x, zp, k, kk, mk, keep, the
   rows' a0 ... a3 and sums s0 ... s3, and xv, zv, v. */
#define ROW_STEP(LOAD, STORE, MASK, wr, ar, sr)                               \
        v = _mm256_add_ps(LOAD(wr + p), _mm256_mul_ps(ar, zv));               \
        STORE(wr + p, v);                                                     \
        sr = _mm256_add_ps(sr, _mm256_mul_ps(xv, MASK(v)));
#define LOADU(q) _mm256_loadu_ps(q)
#define STOREU(q, v) _mm256_storeu_ps(q, v)
#define LOADM(q) _mm256_maskload_ps(q, mk)
#define STOREM(q, v) store_tail_f(q, k - kk, v)
#define ALL(v) (v)
#define KEEP(v) _mm256_and_ps(v, keep)
#define FOUR_ROWS_AT_J                                                        \
        float *const w0 = W + (long)j * k, *const w1 = w0 + k;                \
        float *const w2 = w1 + k, *const w3 = w2 + k;
#define FOUR_ROWS_FROM_P                                                      \
        for (; p < kk; p += 8) {                                              \
            xv = _mm256_loadu_ps(x + p);                                      \
            zv = _mm256_loadu_ps(zp + p);                                     \
            ROW_STEP(LOADU, STOREU, ALL, w0, a0, s0)                          \
            ROW_STEP(LOADU, STOREU, ALL, w1, a1, s1)                          \
            ROW_STEP(LOADU, STOREU, ALL, w2, a2, s2)                          \
            ROW_STEP(LOADU, STOREU, ALL, w3, a3, s3)                          \
        }                                                                     \
        if (p < k) {    /* lanes past k: x = 0 times the row masked to +0 */  \
            xv = _mm256_maskload_ps(x + p, mk);                               \
            zv = _mm256_maskload_ps(zp + p, mk);                              \
            ROW_STEP(LOADM, STOREM, KEEP, w0, a0, s0)                         \
            ROW_STEP(LOADM, STOREM, KEEP, w1, a1, s1)                         \
            ROW_STEP(LOADM, STOREM, KEEP, w2, a2, s2)                         \
            ROW_STEP(LOADM, STOREM, KEEP, w3, a3, s3)                         \
        }                                                                     \
        __m256 h = half_trees_f(s0, s1, s2, s3);                              \
        __m128 d = _mm_add_ps(_mm256_castps256_ps128(h),                      \
                              _mm256_extractf128_ps(h, 1));                   \
        _mm_storeu_ps(U + j, _mm_add_ps(_mm_loadu_ps(b + j),                  \
                                        _mm_mul_ps(_mm_set1_ps(1.0f), d)));

/* u_j = b_j + dot8(x, w_j) for the rows w_j = W[j, :] (m x k) after
   w_j <- w_j + ad_j zp (W's deferred rank-1 update; ad_j = a delta_j
   already rounded), each row read and stored once: the update as NN's
   k = 1 pass, the dot as NT's lanes and tree (4 rows at a time, then one;
   the lanes past k add x * 0 = +0, the updated row masked to +0 there).
   U = b + 1 * d as NT with alpha = 1 into U = b. */
AVX2 static void fwd_update_f_avx2(int m, int k, const float *ad,
                                   const float *zp, const float *x, float *W,
                                   const float *b, float *U)
{
    const int kk = k & ~7;
    const __m256i mk = tail_f(k - kk);
    const __m256 keep = _mm256_castsi256_ps(mk);
    int j = 0;
    for (; j + 4 <= m; j += 4) {
        FOUR_ROWS_AT_J
        const __m256 a0 = _mm256_set1_ps(ad[j]), a1 = _mm256_set1_ps(ad[j + 1]);
        const __m256 a2 = _mm256_set1_ps(ad[j + 2]), a3 = _mm256_set1_ps(ad[j + 3]);
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        __m256 xv, zv, v;
        int p = 0;
        FOUR_ROWS_FROM_P
    }
    for (; j < m; j++) {
        float *w0 = W + (long)j * k;
        __m256 a0 = _mm256_set1_ps(ad[j]), s0 = _mm256_setzero_ps();
        int p = 0;
        for (; p < kk; p += 8) {
            __m256 v = _mm256_add_ps(_mm256_loadu_ps(w0 + p), _mm256_mul_ps(
                a0, _mm256_loadu_ps(zp + p)));
            _mm256_storeu_ps(w0 + p, v);
            s0 = _mm256_add_ps(s0, _mm256_mul_ps(_mm256_loadu_ps(x + p), v));
        }
        if (p < k) {
            __m256 v = _mm256_add_ps(_mm256_maskload_ps(w0 + p, mk),
                                     _mm256_mul_ps(a0, _mm256_maskload_ps(zp + p, mk)));
            store_tail_f(w0 + p, k - kk, v);
            s0 = _mm256_add_ps(s0, _mm256_mul_ps(_mm256_maskload_ps(x + p, mk),
                                                 _mm256_and_ps(v, keep)));
        }
        __m256 h = _mm256_hadd_ps(s0, s0);
        h = _mm256_hadd_ps(h, h);
        float d = _mm256_cvtss_f32(h) + _mm_cvtss_f32(_mm256_extractf128_ps(h, 1));
        U[j] = b[j] + 1.0f * d;
    }
}

/* The same pass 16 lanes at a time (AVX-512F): each 16-column step updates
   and stores the rows as two 8-column steps would, and adds the products'
   low 8 lanes, then their high 8, to the 8-lane sums, which is the order
   of the AVX2 pass above (sum += x[p..p+7] v[p..p+7], then p + 8); a last
   8-column step and the masked tail are that pass's own.  So the bits are
   fwd_update_f_avx2's (tests/test_fused_small.py compares the variants).
   Measured on 2-core Zen 4, W_1 in L1: 784 x 128 8.3-8.9 -> 7.1-7.5 µs,
   64 x 32 179-181 -> 169-174 ns a call. */
#define AVX512 __attribute__((target("avx2,avx512f")))
#define LO16(v) _mm512_castps512_ps256(v)
#define HI16(v) _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))
AVX512 static void fwd_update_f_avx512(int m, int k, const float *ad,
                                       const float *zp, const float *x,
                                       float *W, const float *b, float *U)
{
    const int k16 = k & ~15, kk = k & ~7;
    const __m256i mk = tail_f(k - kk);
    const __m256 keep = _mm256_castsi256_ps(mk);
    int j = 0;
    for (; j + 4 <= m; j += 4) {
        FOUR_ROWS_AT_J
        const __m512 A0 = _mm512_set1_ps(ad[j]), A1 = _mm512_set1_ps(ad[j + 1]);
        const __m512 A2 = _mm512_set1_ps(ad[j + 2]), A3 = _mm512_set1_ps(ad[j + 3]);
        const __m256 a0 = LO16(A0), a1 = LO16(A1), a2 = LO16(A2), a3 = LO16(A3);
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        __m256 xv, zv, v;
        __m512 X, Z, V, P;
        int p = 0;
#define ROW_STEP16(wr, Ar, sr)                                                \
        V = _mm512_add_ps(_mm512_loadu_ps(wr + p), _mm512_mul_ps(Ar, Z));     \
        _mm512_storeu_ps(wr + p, V);                                          \
        P = _mm512_mul_ps(X, V);                                              \
        sr = _mm256_add_ps(_mm256_add_ps(sr, LO16(P)), HI16(P));
        for (; p < k16; p += 16) {
            X = _mm512_loadu_ps(x + p);
            Z = _mm512_loadu_ps(zp + p);
            ROW_STEP16(w0, A0, s0)
            ROW_STEP16(w1, A1, s1)
            ROW_STEP16(w2, A2, s2)
            ROW_STEP16(w3, A3, s3)
        }
        FOUR_ROWS_FROM_P        /* at most one 8-column step, the tail */
    }
    if (j < m)              /* the last m mod 4 rows: the AVX2 pass's loop */
        fwd_update_f_avx2(m - j, k, ad + j, zp, x, W + (long)j * k, b + j,
                          U + j);
}
#endif

/* g = delta^T W, then W <- W + (alpha delta) z^T, for an m x n W (the two
   NN calls of the step: g by NN's k = m pass into zeros, the update by its
   k = 1 pass), as two products, for the variants without a fused pass. */
#define DEFINE_BACK(NAME, ATTR, T, NN)                                       \
ATTR static inline void NAME(int m, int n, const T *delta, T alpha,          \
                             const T *zp, T *W, T *g)                        \
{                                                                            \
    memset(g, 0, sizeof(T) * (size_t)n);                                     \
    NN(1, n, m, 0, (T)1, delta, m, W, n, g, n);                              \
    NN(m, n, 1, 1, alpha, delta, m, zp, n, W, n);                            \
}
DEFINE_BACK(back_f_generic, , float, nn_f_generic)
DEFINE_BACK(back_d_generic, , double, nn_d_generic)

#if PYNN_HAVE_AVX2
DEFINE_BACK(back_d_avx2, AVX2, double, nn_d_avx2)

/* The same in one pass over W (float32): columns in blocks of up to 32,
   g's block in registers; for each row p in ascending order
   g += (1 delta_p) w_p with the row as read, then the row stored as
   w_p + (alpha delta_p) z.  Each g element is 0 + delta_0 w_0 + ... in
   ascending p and each w element gets the one update, the operations of
   the two NN passes (1 * delta_p = delta_p exactly; the lanes past n are
   masked off), so the bits are theirs. */
AVX2 static void back_f_avx2(int m, int n, const float *delta, float alpha,
                             const float *zp, float *W, float *g)
{
    int j0 = 0;
    for (; j0 + 32 <= n; j0 += 32) {        /* whole blocks: plain accesses */
        __m256 z[4], acc[4];
        for (int v = 0; v < 4; v++) {
            z[v] = _mm256_loadu_ps(zp + j0 + 8 * v);
            acc[v] = _mm256_setzero_ps();
        }
        for (int p = 0; p < m; p++) {
            float *row = W + (long)p * n + j0;
            const __m256 d = _mm256_set1_ps(1.0f * delta[p]);
            const __m256 a = _mm256_set1_ps(alpha * delta[p]);
            for (int v = 0; v < 4; v++) {
                const __m256 x = _mm256_loadu_ps(row + 8 * v);
                acc[v] = _mm256_add_ps(acc[v], _mm256_mul_ps(d, x));
                _mm256_storeu_ps(row + 8 * v,
                                 _mm256_add_ps(x, _mm256_mul_ps(a, z[v])));
            }
        }
        for (int v = 0; v < 4; v++)
            _mm256_storeu_ps(g + j0 + 8 * v, acc[v]);
    }
    for (; j0 < n; j0 += 8) {               /* then 8 columns, the last masked */
        const int r = n - j0 < 8 ? n - j0 : 8;
        const __m256i mk = tail_f(r);
        const __m256 z = _mm256_maskload_ps(zp + j0, mk);
        __m256 acc = _mm256_setzero_ps();
        for (int p = 0; p < m; p++) {
            float *row = W + (long)p * n + j0;
            const __m256 x = _mm256_maskload_ps(row, mk);
            acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(1.0f * delta[p]), x));
            const __m256 y = _mm256_add_ps(x, _mm256_mul_ps(
                _mm256_set1_ps(alpha * delta[p]), z));
            store_tail_f(row, r, y);
        }
        store_tail_f(g + j0, r, acc);
    }
}
#endif

#define NO_FWD_UPD(m, k, ad, zp, x, W, b, U) ((void)(zp))
#define NOATTR
DEFINE_ACT(act_f_generic, act_grad_f_generic, NOATTR, float,
           logistic_f_generic, logistic_grad_f_generic)
DEFINE_ACT(act_d_generic, act_grad_d_generic, NOATTR, double,
           logistic_d, logistic_grad_d)
DEFINE_STEP(step_f_generic, NOATTR, float, nn_f_generic, nt_f_generic,
            act_f_generic, act_grad_f_generic, 0, NO_FWD_UPD,
            back_f_generic)
DEFINE_STEP(step_d_generic, NOATTR, double, nn_d_generic, nt_d_generic,
            act_d_generic, act_grad_d_generic, 0, NO_FWD_UPD,
            back_d_generic)

#if PYNN_HAVE_AVX2
DEFINE_ACT(act_f_avx2, act_grad_f_avx2, AVX2, float,
           logistic_f_avx2, logistic_grad_f_avx2)
DEFINE_ACT(act_d_avx2, act_grad_d_avx2, AVX2, double,
           logistic_d, logistic_grad_d)
DEFINE_STEP(step_f_avx2, AVX2, float, nn_f_avx2, nt_f_avx2,
            act_f_avx2, act_grad_f_avx2, 1, fwd_update_f_avx2,
            back_f_avx2)
DEFINE_STEP(step_d_avx2, AVX2, double, nn_d_avx2, nt_d_avx2,
            act_d_avx2, act_grad_d_avx2, 0, NO_FWD_UPD,
            back_d_avx2)
DEFINE_STEP(step_f_avx512, AVX512, float, nn_f_avx2, nt_f_avx2,
            act_f_avx2, act_grad_f_avx2, 1, fwd_update_f_avx512,
            back_f_avx2)
#endif

void pynn_fused_flush_f(pynn_fused_net *net, float *params)
{
#if PYNN_HAVE_AVX2
    if (net->pending) {         /* W_1 += 1 * (a delta_1) z_0^T (NN, k = 1) */
        const int n_in = net->sizes[0], n_out = net->sizes[1];
        const float *zp = (const float *)net->pend;
        nn_f_avx2(n_out, n_in, 1, 1, 1.0f, zp + n_in, n_out, zp, n_in,
                  params + net->w_off[0], n_in);
    }
#endif
    net->pending = 0;
}

double pynn_fused_sgd_f(pynn_fused_net *net, float *params,
                        const float *x, const float *t, const float *w,
                        double lr, float *work)
{
#if PYNN_HAVE_AVX2
    if (net->variant == PYNN_SMALL_AVX2)
        return step_f_avx2(net, params, x, t, w, lr, work);
    if (net->variant == PYNN_SMALL_AVX512)
        return step_f_avx512(net, params, x, t, w, lr, work);
#endif
    return step_f_generic(net, params, x, t, w, lr, work);
}

double pynn_fused_sgd_d(pynn_fused_net *net, double *params,
                        const double *x, const double *t, const double *w,
                        double lr, double *work)
{
#if PYNN_HAVE_AVX2
    if (net->variant == PYNN_SMALL_AVX2 || net->variant == PYNN_SMALL_AVX512)
        return step_d_avx2(net, params, x, t, w, lr, work);
#endif
    return step_d_generic(net, params, x, t, w, lr, work);
}
