// Losses and scores: MSE (+ gradient), the sums behind rating's relative L1 (Eqn 7), and
// label-smoothed softmax cross-entropy (+ gradient, top-1 hits). Reductions stop at one
// double per block (or per row); the host adds those in a fixed order, so a loss does not
// depend on scheduling. Formulas follow src/backend/cpu/cpu_loss.c.
#include "common.cuh"

__global__ void k_mse(const float *a, const float *b, float *d, float k, size_t n, double *part) {
    double s = 0.0;
    DK_FLAT_LOOP(i, n) {
        float e = a[i] - b[i];
        s += (double)(e * e);
        if (d) d[i] = k * e;
    }
    s = dk_block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void k_rel_l1_sums(const float *a, const float *b, size_t n, double *part) {
    double s = 0.0, l1 = 0.0;
    DK_FLAT_LOOP(i, n) {
        s += (double)b[i];
        l1 += fabs((double)a[i] - (double)b[i]);
    }
    s = dk_block_sum(s);
    l1 = dk_block_sum(l1);
    if (threadIdx.x == 0) part[blockIdx.x] = s, part[gridDim.x + blockIdx.x] = l1;
}

__global__ void k_sq_dev(const float *b, double mu, size_t n, double *part) {
    double q = 0.0;
    DK_FLAT_LOOP(i, n) {
        double d = (double)b[i] - mu;
        q += d * d;
    }
    q = dk_block_sum(q);
    if (threadIdx.x == 0) part[blockIdx.x] = q;
}

// One warp per row. The arg max is the first index of the maximum, as the CPU loop finds it.
__global__ void k_softmax_ce(const float *logits, const int32_t *labels, int rows, int K,
                             float smoothing, float *dlogits, double *loss, int32_t *hit) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= rows) return;  // whole warps leave together
    const float *z = logits + (size_t)row * K;
    int y = labels[row];
    if (y < 0 || y >= K) {
        if (lane == 0) hit[row] = 2, loss[row] = 0.0;
        return;
    }
    float mx = -INFINITY;
    int arg = K;
    for (int k = lane; k < K; k += 32)
        if (z[k] > mx || arg == K) mx = z[k], arg = k;
    for (int o = 16; o > 0; o >>= 1) {
        float om = __shfl_xor_sync(0xffffffffu, mx, o);
        int oa = __shfl_xor_sync(0xffffffffu, arg, o);
        if (om > mx || (om == mx && oa < arg)) mx = om, arg = oa;
    }
    double se = 0.0, sz = 0.0;
    for (int k = lane; k < K; k += 32) se += exp((double)z[k] - mx), sz += z[k];
    for (int o = 16; o > 0; o >>= 1) {
        se += __shfl_xor_sync(0xffffffffu, se, o);
        sz += __shfl_xor_sync(0xffffffffu, sz, o);
    }
    double lse = mx + log(se);
    if (lane == 0) {
        loss[row] = lse - (1.0 - smoothing) * z[y] - smoothing * sz / K;
        hit[row] = arg == y;
    }
    if (dlogits) {
        float *d = dlogits + (size_t)row * K;
        for (int k = lane; k < K; k += 32) {
            double q = smoothing / K + (k == y ? 1.0 - smoothing : 0.0);
            d[k] = (float)((exp((double)z[k] - lse) - q) / rows);
        }
    }
}

extern "C" {

int dk_loss_blocks(size_t n, int sms) {
    size_t b = (n + DK_BLOCK - 1) / DK_BLOCK, cap = 2 * (size_t)(sms > 0 ? sms : 1);
    return (int)(b < 1 ? 1 : b > cap ? cap : b);
}

cudaError_t dk_mse(const float *a, const float *b, float *d, float k, size_t n, int blocks,
                   double *part, cudaStream_t s) {
    k_mse<<<blocks, DK_BLOCK, 0, s>>>(a, b, d, k, n, part);
    return cudaGetLastError();
}

cudaError_t dk_rel_l1_sums(const float *a, const float *b, size_t n, int blocks, double *part,
                           cudaStream_t s) {
    k_rel_l1_sums<<<blocks, DK_BLOCK, 0, s>>>(a, b, n, part);
    return cudaGetLastError();
}

cudaError_t dk_sq_dev(const float *b, double mu, size_t n, int blocks, double *part,
                      cudaStream_t s) {
    k_sq_dev<<<blocks, DK_BLOCK, 0, s>>>(b, mu, n, part);
    return cudaGetLastError();
}

cudaError_t dk_softmax_ce(const float *logits, const int32_t *labels, int rows, int k,
                          float smoothing, float *dlogits, double *loss, int32_t *hit,
                          cudaStream_t s) {
    if (rows > 0) {
        unsigned blocks = (unsigned)((rows + DK_BLOCK / 32 - 1) / (DK_BLOCK / 32));
        k_softmax_ce<<<blocks, DK_BLOCK, 0, s>>>(logits, labels, rows, k, smoothing, dlogits, loss,
                                                 hit);
    }
    return cudaGetLastError();
}

}  // extern "C"
