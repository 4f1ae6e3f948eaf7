/* The per-element optimiser updates of pynn (csrc/_update.pxd's
   ``update_span`` and the fused online step), in C: a generic variant and
   an AVX2 variant chosen at run time, bit-identical to each other.

   Per element i of a span, in the span's precision T (float or double),
   with the gradient element g_i either read from ``grad`` (span) or formed
   as 0 + a z_i (row: one row of a rank-1 gradient a z^T, rounded as a GER
   into a zeroed buffer rounds it), s the clipping scale, d the L2 weight:

     sgd        w <- w - lr (s (g + d w))
     momentum   v <- h0 v + s (g + d w);   w <- w - lr v
     nesterov   x <- s (g + d w);  v <- h0 v + x;  w <- w - lr (x + h0 v)
     adam       x <- s (g + d w);  m <- h0 m + oh0 x;
                v <- h1 v + (oh1 x) x;  w <- w - (step m) / (sqrt(v) + eps)

   and scikit-learn's forms (sklearn.neural_network._stochastic_optimizers,
   operation for operation; h0 = mu, 0 for its plain sgd):

     sk momentum  t <- lr (s (g + d w));  v <- h0 v - t;  w <- w + v
     sk nesterov  t <- lr (s (g + d w));  v <- h0 v - t;  w <- w + (h0 v - t)
     sk adam      x <- s (g + d w);  m <- h0 m + oh0 x;
                  v <- h1 v + (x x) oh1;  w <- w + (m (-step)) / (sqrt(v) + eps)

   (sk adam: step = lr sqrt(c2) / c1 and eps unscaled)

   each operation rounded once, in this order (v, m: the state s1, Adam's
   v: the state s2).  The constants are given in double and rounded to T
   once per call.  Both variants perform exactly these operations (sqrt and
   division are correctly rounded in IEEE arithmetic, vector or scalar), so
   they give bit-identical results; the file must be compiled without
   contraction of a*b + c into an FMA (-ffp-contract=off; the AVX2 code
   targets "avx2" only, which has no FMA).  Nothing is checked here: n >= 0
   and the buffers do not overlap. */
#ifndef PYNN_UPDATE_H
#define PYNN_UPDATE_H

#include <stddef.h>

#define PYNN_UPDATE_GENERIC 0
#define PYNN_UPDATE_AVX2 1

/* Rule codes: the same numbers as KIND_* in _update.pxd. */
#define PYNN_UPD_SGD 0
#define PYNN_UPD_MOMENTUM 1
#define PYNN_UPD_NESTEROV 2
#define PYNN_UPD_ADAM 3
#define PYNN_UPD_SK_MOMENTUM 8
#define PYNN_UPD_SK_NESTEROV 9
#define PYNN_UPD_SK_ADAM 10

typedef struct {
    int kind;            /* PYNN_UPD_* */
    double lr;           /* lr */
    double h0, h1;       /* momentum/nesterov h0 = mu; adam h0 = b1, h1 = b2 */
    double oh0, oh1;     /* adam 1 - b1, 1 - b2 */
    double step, eps;    /* adam: lr sqrt(c2) / c1 and eps sqrt(c2) */
    double decay, scale; /* d and s */
} pynn_update_t;

void pynn_update_span_f(const pynn_update_t *u, ptrdiff_t n, float *w,
                        const float *grad, float *s1, float *s2);
void pynn_update_span_d(const pynn_update_t *u, ptrdiff_t n, double *w,
                        const double *grad, double *s1, double *s2);
void pynn_update_row_f(const pynn_update_t *u, ptrdiff_t n, float *w,
                       float a, const float *z, float *s1, float *s2);
void pynn_update_row_d(const pynn_update_t *u, ptrdiff_t n, double *w,
                       double a, const double *z, double *s1, double *s2);

/* The variant in use: AVX2 when this CPU runs it, unless the environment
   variable PYNN_SIMD is 0/off/false/no when the module is loaded. */
int pynn_update_variant(void);
/* Select a variant; returns 0, or -1 (nothing changed) if unavailable. */
int pynn_update_set_variant(int variant);

#endif
