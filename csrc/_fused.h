/* The fused batch-1 SGD step of a Dense-only net (pynn._train).

   One call trains on one sample (x, t) with weight w (or none) and rate
   eta, for a net of L <= PYNN_FUSED_MAX_LAYERS Dense layers with
   elementwise activations phi_l and the squared error:

     forward   z_0 = x;  u_l = b_l + W_l z_{l-1},  z_l = phi_l(u_l)
     loss      v = z_L - t (in double),  loss = w * sum_k v_k^2 / 2
     output    delta_L = phi_L'(u_L) * (float) v, then * w
     backward  g_{l-1} = delta_l^T W_l  (W_l before its update),
               delta_{l-1} = phi_{l-1}'(u_{l-1}) * g_{l-1}
     update    a = (T)(-eta / w);  W_l += (a delta_l) z_{l-1}^T  (skipped
               when a == 0),  b_l += (T)(a * delta_l)  (a in double)

   for l = L, ..., 1, each layer's g_{l-1} formed before its update.  The
   products are the kernels of _small.c (_small.h states their order of
   operations: u_l by the NT lanes and tree with alpha = 1, g_{l-1} by NN
   into zeros in ascending p, the update by NN with k = 1), the float32
   sigmoid its LOGISTIC, so the step gives the bits of the unfused path
   (forward_pass then backward_pass(SGD_UPDATE) of _network.pyx, whose
   products pynn._blas.mm sends to the same kernels when the caller has
   checked they qualify), in every variant.  A non-finite loss or w == 0
   takes no step.  Returns the loss.

   u_l, z_l (l = 1 ... L) live at work + u_off[l], work + z_off[l] (the
   workspace layout of _network.pyx for a batch of one row), the two delta
   buffers at work + d_off and work + d_off + max_width. */
#ifndef PYNN_FUSED_H
#define PYNN_FUSED_H

#define PYNN_FUSED_MAX_LAYERS 8

/* The activations it runs: codes of pynn._activations' Activation enum.
     IDENTITY  z = u                       phi' = 1
     SIGMOID   z = 1 / (1 + e^{-u})        g * z (1 - z), in double
               (float32: _small.h's LOGISTIC and LOGISTIC_GRAD)
     TANH      z = (T) tanh((double) u)    g * (1 - (T)(z z)), in double
     RELU      z = u > 0 ? u : 0           z > 0 ? g : 0 */
#define PYNN_FUSED_IDENTITY 0
#define PYNN_FUSED_SIGMOID 3
#define PYNN_FUSED_TANH 4
#define PYNN_FUSED_RELU 5

typedef struct {
    int n_layers;                               /* L */
    int variant;                                /* PYNN_SMALL_GENERIC / _AVX2 */
    int sizes[PYNN_FUSED_MAX_LAYERS + 1];       /* d_0 ... d_L */
    int act[PYNN_FUSED_MAX_LAYERS];             /* phi_1 ... phi_L */
    long w_off[PYNN_FUSED_MAX_LAYERS];          /* W_l (d_l x d_{l-1}) */
    long b_off[PYNN_FUSED_MAX_LAYERS];          /* b_l */
    long u_off[PYNN_FUSED_MAX_LAYERS + 1];      /* [l]: u_l in work */
    long z_off[PYNN_FUSED_MAX_LAYERS + 1];      /* [l]: z_l in work */
    long d_off, max_width;
    /* The float32 AVX2 step defers W_1's update to the next call, whose
       forward product streams W_1 once: row by row it adds (a delta_1)
       z_0^T of the previous sample, stores the row and takes its dot with
       the new x (the same operations on the same values, in the order of
       _small.h).  ``pend`` (d_0 + d_1 floats, the caller's) holds the
       previous z_0 and a delta_1; ``pending`` says whether an update
       waits.  pynn_fused_flush_f applies it (call it before params are
       read by anything else); pending = 0 and pend = NULL to start.
       Only when d_0 d_1 >= defer_min (pynn._network's policy). */
    void *pend;
    int pending;
    long defer_min;
} pynn_fused_net;

/* 1 if the variant can run here (AVX2 compiled in and on this CPU). */
int pynn_fused_have_variant(int variant);

double pynn_fused_sgd_f(pynn_fused_net *net, float *params,
                        const float *x, const float *t, const float *w,
                        double lr, float *work);
double pynn_fused_sgd_d(pynn_fused_net *net, double *params,
                        const double *x, const double *t, const double *w,
                        double lr, double *work);

/* Apply a deferred update of W_1 (nothing when none waits). */
void pynn_fused_flush_f(pynn_fused_net *net, float *params);

#endif
