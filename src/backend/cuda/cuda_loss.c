// CUDA losses and scores. Kernels leave per-block (or per-row) partial sums in double; they
// come to the host, which adds them in order: a loss is a synchronisation point by nature
// (the host reads it), and the order of the final sum does not depend on scheduling.
#include <float.h>
#include <math.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "core/error.h"

static double sum_doubles(const double *h, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += h[i];
    return s;
}

double cuda_mse(const Tensor *yhat, const Tensor *y, Tensor *dyhat) {
    DNA_CHECK(tensor_same_shape(yhat, y),
              "the student's output must match the teacher's feature map",
              "mse: shapes [%d,%d,%d,%d] and [%d,%d,%d,%d] differ", yhat->n, yhat->c, yhat->h,
              yhat->w, y->n, y->c, y->h, y->w);
    CudaCtx *g = cuda_ctx();
    size_t n = tensor_numel(yhat);
    int blocks = dk_loss_blocks(n, g->sms);
    double *part = cuda_scratch(sizeof(double) * (size_t)blocks);
    CUDA_CHECK(dk_mse(yhat->data, y->data, dyhat ? dyhat->data : NULL, 2.0f / (float)n, n, blocks,
                      part, g->stream));
    return sum_doubles(cuda_fetch(part, sizeof(double) * (size_t)blocks), blocks) / (double)n;
}

// mean|yhat - y| / std(y), std unbiased as torch.std; two passes over y (mean, then squares)
double cuda_rel_l1(const Tensor *yhat, const Tensor *y) {
    DNA_CHECK(tensor_same_shape(yhat, y),
              "the student's output must match the teacher's feature map", "rel_l1: shapes differ");
    CudaCtx *g = cuda_ctx();
    size_t n = tensor_numel(y);
    int blocks = dk_loss_blocks(n, g->sms);
    double *part = cuda_scratch(2 * sizeof(double) * (size_t)blocks);
    CUDA_CHECK(dk_rel_l1_sums(yhat->data, y->data, n, blocks, part, g->stream));
    const double *h = cuda_fetch(part, 2 * sizeof(double) * (size_t)blocks);
    double s = sum_doubles(h, blocks), l1 = sum_doubles(h + blocks, blocks);
    double mu = s / (double)n;
    CUDA_CHECK(dk_sq_dev(y->data, mu, n, blocks, part, g->stream));
    double q = sum_doubles(cuda_fetch(part, sizeof(double) * (size_t)blocks), blocks);
    double sd = n > 1 ? sqrt(q / (double)(n - 1)) : 0.0;
    return (l1 / (double)n) / (sd > 0 ? sd : DBL_MIN);
}

double cuda_softmax_ce(const Tensor *logits, const int32_t *labels, float smoothing,
                       Tensor *dlogits, int *correct) {
    CudaCtx *g = cuda_ctx();
    int N = logits->n, K = logits->c * logits->h * logits->w, hits = 0;
    size_t lb = sizeof(double) * (size_t)N, bytes = lb + sizeof(int32_t) * (size_t)N;
    char *scr = cuda_scratch(bytes);
    CUDA_CHECK(dk_softmax_ce(logits->data, labels, N, K, smoothing, dlogits ? dlogits->data : NULL,
                             (double *)scr, (int32_t *)(scr + lb), g->stream));
    const char *h = cuda_fetch(scr, bytes);
    double total = 0.0;
    for (int n = 0; n < N; n++) {
        double l;
        int32_t hit;
        memcpy(&l, h + sizeof(double) * (size_t)n, sizeof l);
        memcpy(&hit, h + lb + sizeof(int32_t) * (size_t)n, sizeof hit);
        if (hit == 2) {  // the kernel skipped the row: fetch the label for the message
            int32_t y = 0;
            CUDA_CHECK(cudaMemcpy(&y, labels + n, sizeof y, cudaMemcpyDeviceToHost));
            DNA_FAIL("labels must lie in [0, classes)", "label %d outside [0,%d)", y, K);
        }
        total += l, hits += hit;
    }
    if (correct) *correct = hits;
    return total / N;
}
