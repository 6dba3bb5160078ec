// The op interface: one table of functions per backend (CPU now, CUDA later), all taking
// tensors whose data lives on that backend. Layers call only these, so a backend can keep
// every byte on its device. Conventions:
//  - forward ops overwrite their output; backward ops overwrite input gradients (dx) and
//    ACCUMULATE parameter gradients (dw, db, dgamma, dbeta), so the caller zeroes those;
//  - a NULL output gradient means "not needed" and is skipped;
//  - scalar results (losses) come back to the host as double.
#pragma once
#include <stdint.h>

#include "tensor/tensor.h"

typedef enum { ACT_NONE = 0, ACT_RELU, ACT_SWISH, ACT_SIGMOID } Act;

typedef struct ConvSpec {
    int stride, pad, groups;
} ConvSpec;

static inline int conv_out_size(int in, int k, int stride, int pad) {
    return (in + 2 * pad - k) / stride + 1;
}
// Fatal, with every shape, unless y = conv(x, w) under s chains (every backend checks this).
void conv_check_shapes(const Tensor *x, const Tensor *w, const Tensor *y, ConvSpec s);

// Synchronised batch norm (a data-parallel rank group training one job): `sum` adds n
// doubles in place over the group. Ops given NULL keep their statistics local.
typedef struct BnSync {
    void (*sum)(void *ctx, double *buf, size_t n);
    void *ctx;
} BnSync;

// Bytes of the id that names a device communicator (NCCL's unique id).
enum { BACKEND_COMM_ID_BYTES = 128 };

typedef struct AdamHyper {
    float lr, beta1, beta2, eps, weight_decay;
    int decoupled;  // 1: AdamW (decay applied to the weights), 0: Adam (L2 added to the grad)
} AdamHyper;

struct Backend {
    const char *name;
    const char *(*lib_version)(void);  // the numerical library underneath, for run records
    // memory: byte sizes; alloc returns zeroed memory
    void *(*alloc)(size_t bytes);
    void (*free)(void *p);
    void (*upload)(void *dst, const void *host, size_t bytes);
    void (*download)(void *host, const void *src, size_t bytes);
    void (*copy)(void *dst, const void *src, size_t bytes);
    void (*fill)(float *dst, float v, size_t n);
    // Input pipelines: host_alloc gives host memory the device copies from without staging
    // (pinned on CUDA); upload_async copies from it on a second stream, overlapping the ops
    // already queued (the last step's backward), and the ops queued after it wait for it.
    // dst must not be in use by queued ops (double-buffer it); the host buffer must stay as
    // it is until upload_wait returns.
    void *(*host_alloc)(size_t bytes);
    void (*host_free)(void *p);
    void (*upload_async)(void *dst, const void *host, size_t bytes);
    void (*upload_wait)(void);

    // convolution, no bias. x [N,Ci,H,W], w [Co,Ci/groups,k,k], y [N,Co,Ho,Wo].
    // groups == Ci == Co is depthwise. 1x1 stride-1 convolutions go straight to GEMM.
    void (*conv2d_fwd)(const Tensor *x, const Tensor *w, Tensor *y, ConvSpec s);
    void (*conv2d_bwd)(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                       ConvSpec s);
    // linear: x [N,I], w [O,I], b [O] or NULL, y [N,O]
    void (*linear_fwd)(const Tensor *x, const Tensor *w, const float *b, Tensor *y);
    void (*linear_bwd)(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                       float *db);

    // batch norm over (N,H,W) per channel, followed by an activation (ACT_NONE for plain BN).
    // Training: batch statistics, saves mean/invstd [C], updates running stats with
    // momentum (running_var gets the unbiased variance, as PyTorch). momentum 1 makes the
    // running stats exactly this batch's: that is rating's recalibration. With `sync`, the
    // statistics are those of the group's whole batch (the ranks' x stacked).
    void (*bn_fwd_train)(const Tensor *x, const float *gamma, const float *beta, Tensor *y,
                         float *mean, float *invstd, float *run_mean, float *run_var,
                         float momentum, float eps, Act act, const BnSync *sync);
    void (*bn_fwd_eval)(const Tensor *x, const float *gamma, const float *beta,
                        const float *run_mean, const float *run_var, float eps, Tensor *y, Act act);
    // Backward of bn_fwd_train from its input x and saved mean/invstd (the pre-activation is
    // recomputed, so it need not be stored). With `sync`, dx is the gradient through the
    // group's statistics; dgamma/dbeta stay this rank's share (the caller sums gradients).
    void (*bn_bwd)(const Tensor *x, const float *gamma, const float *beta, const float *mean,
                   const float *invstd, const Tensor *dy, Tensor *dx, float *dgamma, float *dbeta,
                   Act act, const BnSync *sync);

    // elementwise
    void (*act_fwd)(Act act, const Tensor *x, Tensor *y);
    void (*act_bwd)(Act act, const Tensor *x, const Tensor *dy, Tensor *dx);  // from the input x
    void (*add)(const Tensor *a, const Tensor *b, Tensor *y);                 // y may alias a or b
    void (*axpy)(float alpha, const Tensor *x, Tensor *y);                    // y += alpha x
    // global average pool: x [N,C,H,W] -> y [N,C,1,1]
    void (*gap_fwd)(const Tensor *x, Tensor *y);
    // ACCUMULATES dx += dy / (H W): the pooled branch always joins another (SE's gate)
    void (*gap_bwd)(const Tensor *dy, Tensor *dx);
    // channel gate (the "excite" of SE): y = x * g[n,c]; g [N,C,1,1]
    void (*scale_ch_fwd)(const Tensor *x, const Tensor *g, Tensor *y);
    void (*scale_ch_bwd)(const Tensor *x, const Tensor *g, const Tensor *dy, Tensor *dx,
                         Tensor *dg);

    // losses and scores
    double (*mse)(const Tensor *yhat, const Tensor *y, Tensor *dyhat);  // mean (yhat-y)^2
    double (*rel_l1)(const Tensor *yhat, const Tensor *y);  // mean|yhat-y| / std(y), Eqn 7
    // softmax cross-entropy with label smoothing eps: target (1-eps) one-hot + eps/K.
    // logits [N,K]; labels on the device; mean over N; *correct counts top-1 hits.
    double (*softmax_ce)(const Tensor *logits, const int32_t *labels, float smoothing,
                         Tensor *dlogits, int *correct);

    // optimizers over n parameters; wd is 0 for parameters that are not weights
    void (*sgd_step)(float *p, const float *g, float *mom, size_t n, float lr, float momentum,
                     float wd, int nesterov);
    void (*adam_step)(float *p, const float *g, float *m, float *v, size_t n, AdamHyper h,
                      int step);
    // PyTorch's RMSprop: sq = alpha sq + (1-alpha) d^2, d = g + wd p; buf = momentum buf +
    // d / (sqrt(sq) + eps); p -= lr buf (buf may be NULL when momentum is 0)
    void (*rmsprop_step)(float *p, const float *g, float *sq, float *buf, size_t n, float lr,
                         float alpha, float eps, float wd, float momentum);

    // Device collectives among ranks (NCCL on CUDA): NULL where there are none, and par_sum
    // goes through host memory and MPI. One member makes the id, every member passes the
    // same id to comm_new (collective over the members); comm_sum adds in place, ordered
    // with the other ops like any op.
    void (*comm_id)(unsigned char id[BACKEND_COMM_ID_BYTES]);
    void *(*comm_new)(const unsigned char id[BACKEND_COMM_ID_BYTES], int nranks, int rank);
    void (*comm_sum)(void *comm, float *buf, size_t n);
    void (*comm_free)(void *comm);
};

