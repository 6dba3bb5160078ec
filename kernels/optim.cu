// Optimizer steps with PyTorch's update rules (SGD with momentum / Nesterov, Adam, AdamW,
// RMSprop), one thread per parameter; the same float arithmetic as
// src/backend/cpu/cpu_optim.c. Adam's bias corrections are scalars the host computes once.
#include "common.cuh"

__global__ void k_sgd(float *p, const float *g, float *mom, size_t n, float lr, float momentum,
                      float wd, int nesterov) {
    DK_FLAT_LOOP(i, n) {
        float d = g[i] + wd * p[i];
        if (momentum != 0.0f) {
            float m = momentum * mom[i] + d;
            mom[i] = m;
            d = nesterov ? d + momentum * m : m;
        }
        p[i] -= lr * d;
    }
}

__global__ void k_adam(float *p, const float *g, float *m, float *v, size_t n, float beta1,
                       float beta2, float eps, float l2, float shrink, float step_size,
                       float rbc2) {
    DK_FLAT_LOOP(i, n) {
        float d = g[i] + l2 * p[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * d;
        float vi = beta2 * v[i] + (1.0f - beta2) * d * d;
        m[i] = mi, v[i] = vi;
        p[i] = p[i] * shrink - step_size * mi / (sqrtf(vi) * rbc2 + eps);
    }
}

__global__ void k_rmsprop(float *p, const float *g, float *sq, float *buf, size_t n, float lr,
                          float alpha, float eps, float wd, float momentum) {
    DK_FLAT_LOOP(i, n) {
        float d = g[i] + wd * p[i];
        float s = alpha * sq[i] + (1.0f - alpha) * d * d;
        sq[i] = s;
        float u = d / (sqrtf(s) + eps);
        if (buf) u = buf[i] = momentum * buf[i] + u;
        p[i] -= lr * u;
    }
}

extern "C" {

cudaError_t dk_sgd(float *p, const float *g, float *mom, size_t n, float lr, float momentum,
                   float wd, int nesterov, cudaStream_t s) {
    if (n) k_sgd<<<dk_flat_blocks(n), DK_BLOCK, 0, s>>>(p, g, mom, n, lr, momentum, wd, nesterov);
    return cudaGetLastError();
}

cudaError_t dk_adam(float *p, const float *g, float *m, float *v, size_t n, float beta1,
                    float beta2, float eps, float l2, float shrink, float step_size, float rbc2,
                    cudaStream_t s) {
    if (n)
        k_adam<<<dk_flat_blocks(n), DK_BLOCK, 0, s>>>(p, g, m, v, n, beta1, beta2, eps, l2, shrink,
                                                      step_size, rbc2);
    return cudaGetLastError();
}

cudaError_t dk_rmsprop(float *p, const float *g, float *sq, float *buf, size_t n, float lr,
                       float alpha, float eps, float wd, float momentum, cudaStream_t s) {
    if (n)
        k_rmsprop<<<dk_flat_blocks(n), DK_BLOCK, 0, s>>>(p, g, sq, buf, n, lr, alpha, eps, wd,
                                                         momentum);
    return cudaGetLastError();
}

}  // extern "C"
