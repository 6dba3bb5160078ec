// CUDA batch norm + activation: sequences the kernels of kernels/bn.cu. Without a BnSync
// everything stays on the stream; with one, the per-channel moments come to the host, are
// summed over the rank group by sync->sum (doubles, as the CPU backend sends them) and go
// back, between the passes: the statistics are then the group's.
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "core/error.h"

typedef struct BnWork {
    DkBnPlan plan;
    void *part;            // partial sums (dk_bn_scratch_bytes)
    double *sums;          // [2C + 1]
    float *scale, *shift;  // [C]
} BnWork;

static size_t up256(size_t b) {
    return (b + 255) & ~(size_t)255;
}

// One scratch block carved into the op's buffers.
static BnWork bn_work(const Tensor *x) {
    CudaCtx *g = cuda_ctx();
    DNA_CHECK(x->c <= 65535, "use at most 65535 channels", "batch norm over %d channels", x->c);
    BnWork w = {.plan = dk_bn_plan(x->n, x->c, x->h * x->w, g->sms)};
    size_t C = (size_t)x->c, a = up256(dk_bn_scratch_bytes(&w.plan)),
           b = up256(sizeof(double) * (2 * C + 1)), c = up256(sizeof(float) * C);
    char *p = cuda_scratch(a + b + 2 * c);
    w.part = p, w.sums = (double *)(p + a), w.scale = (float *)(p + a + b),
    w.shift = (float *)(p + a + b + c);
    return w;
}

// Adds n doubles of dev over the group in place, through the host. With m, the local count
// travels as one more value and comes back as the group's (the CPU backend's layout).
static void group_sum(const BnSync *sync, double *dev, size_t n, double *m) {
    CudaCtx *g = cuda_ctx();
    size_t k = n + (m != NULL);
    double *h = dna_malloc(sizeof(double) * k);
    memcpy(h, cuda_fetch(dev, sizeof(double) * n), sizeof(double) * n);
    if (m) h[n] = *m;
    sync->sum(sync->ctx, h, k);
    CUDA_CHECK(cudaMemcpyAsync(dev, h, sizeof(double) * n, cudaMemcpyHostToDevice, g->stream));
    cuda_stream_sync(g->stream);  // h is freed next
    if (m) *m = h[n];
    free(h);
}

void cuda_bn_fwd_train(const Tensor *x, const float *gamma, const float *beta, Tensor *y,
                       float *mean, float *invstd, float *run_mean, float *run_var, float momentum,
                       float eps, Act act, const BnSync *sync) {
    CudaCtx *g = cuda_ctx();
    BnWork w = bn_work(x);
    int C = x->c;
    double M = (double)x->n * x->h * x->w;
    double *sum = w.sums, *sq = w.sums + C;
    CUDA_CHECK(dk_bn_sum(&w.plan, x->data, sum, w.part, g->stream));
    if (sync) group_sum(sync, sum, (size_t)C, &M);
    CUDA_CHECK(dk_bn_sq(&w.plan, x->data, sum, M, sq, w.part, g->stream));
    if (sync) group_sum(sync, sq, (size_t)C, NULL);
    CUDA_CHECK(dk_bn_finish(C, sum, sq, M, gamma, beta, mean, invstd, run_mean, run_var, momentum,
                            eps, w.scale, w.shift, g->stream));
    CUDA_CHECK(dk_bn_apply(&w.plan, x->data, w.scale, w.shift, y->data, (int)act, g->stream));
}

void cuda_bn_fwd_eval(const Tensor *x, const float *gamma, const float *beta, const float *run_mean,
                      const float *run_var, float eps, Tensor *y, Act act) {
    CudaCtx *g = cuda_ctx();
    BnWork w = bn_work(x);
    CUDA_CHECK(
        dk_bn_eval_coef(x->c, gamma, beta, run_mean, run_var, eps, w.scale, w.shift, g->stream));
    CUDA_CHECK(dk_bn_apply(&w.plan, x->data, w.scale, w.shift, y->data, (int)act, g->stream));
}

// dgamma/dbeta take this rank's sums (accumulated before the group sum), dx the group's.
void cuda_bn_bwd(const Tensor *x, const float *gamma, const float *beta, const float *mean,
                 const float *invstd, const Tensor *dy, Tensor *dx, float *dgamma, float *dbeta,
                 Act act, const BnSync *sync) {
    CudaCtx *g = cuda_ctx();
    BnWork w = bn_work(x);
    double M = (double)x->n * x->h * x->w;
    CUDA_CHECK(dk_bn_bwd_sums(&w.plan, x->data, dy->data, gamma, beta, mean, invstd, (int)act,
                              w.sums, dgamma, dbeta, w.part, g->stream));
    if (sync) group_sum(sync, w.sums, 2 * (size_t)x->c, &M);
    CUDA_CHECK(dk_bn_bwd_apply(&w.plan, x->data, dy->data, gamma, beta, mean, invstd, (int)act,
                               w.sums, M, dx->data, g->stream));
}
