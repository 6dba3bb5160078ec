// CPU losses and scores. Sums are accumulated in double: losses are compared across runs
// and rank counts, so they should not depend on float rounding of long sums more than needed.
#include <float.h>

#include "backend/cpu/cpu.h"
#include "core/error.h"

double cpu_mse(const Tensor *yhat, const Tensor *y, Tensor *dyhat) {
    size_t n = tensor_numel(yhat);
    DNA_CHECK(tensor_same_shape(yhat, y),
              "the student's output must match the teacher's feature map",
              "mse: shapes [%d,%d,%d,%d] and [%d,%d,%d,%d] differ", yhat->n, yhat->c, yhat->h,
              yhat->w, y->n, y->c, y->h, y->w);
    const float *a = yhat->data, *b = y->data;
    float *d = dyhat ? dyhat->data : NULL, k = 2.0f / (float)n;
    double s = 0.0;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float e = a[i] - b[i];
        s += (double)(e * e);
        if (d) d[i] = k * e;
    }
    return s / (double)n;
}

double cpu_rel_l1(const Tensor *yhat, const Tensor *y) {
    size_t n = tensor_numel(y);
    DNA_CHECK(tensor_same_shape(yhat, y),
              "the student's output must match the teacher's feature map", "rel_l1: shapes differ");
    const float *a = yhat->data, *b = y->data;
    double s = 0.0, l1 = 0.0;
#pragma omp parallel for reduction(+ : s, l1) schedule(static)
    for (size_t i = 0; i < n; i++) s += b[i], l1 += fabs((double)a[i] - b[i]);
    double mu = s / (double)n, q = 0.0;
#pragma omp parallel for reduction(+ : q) schedule(static)
    for (size_t i = 0; i < n; i++) q += (b[i] - mu) * (b[i] - mu);
    double sd = n > 1 ? sqrt(q / (double)(n - 1)) : 0.0;  // unbiased, as torch.std
    return (l1 / (double)n) / (sd > 0 ? sd : DBL_MIN);
}

double cpu_softmax_ce(const Tensor *logits, const int32_t *labels, float smoothing, Tensor *dlogits,
                      int *correct) {
    int N = logits->n, K = logits->c * logits->h * logits->w, hits = 0;
    double total = 0.0;
#pragma omp parallel for reduction(+ : total, hits) schedule(static)
    for (int n = 0; n < N; n++) {
        const float *z = logits->data + (size_t)n * K;
        int y = labels[n];
        DNA_CHECK(y >= 0 && y < K, "labels must lie in [0, classes)", "label %d outside [0,%d)", y,
                  K);
        float mx = z[0];
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > mx) mx = z[k], arg = k;
        double se = 0.0, sz = 0.0;
        for (int k = 0; k < K; k++) se += exp((double)z[k] - mx), sz += z[k];
        double lse = mx + log(se);
        total += lse - (1.0 - smoothing) * z[y] - smoothing * sz / K;
        hits += arg == y;
        if (dlogits) {
            float *d = dlogits->data + (size_t)n * K;
            for (int k = 0; k < K; k++) {
                double q = smoothing / K + (k == y ? 1.0 - smoothing : 0.0);
                d[k] = (float)((exp((double)z[k] - lse) - q) / N);
            }
        }
    }
    if (correct) *correct = hits;
    return total / N;
}
