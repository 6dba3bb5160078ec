// CPU optimizer steps, with PyTorch's update rules (torch.optim.SGD / Adam / AdamW / RMSprop),
// so a recipe carries over. Weight decay is passed per parameter: 0 for BN and biases.
#include "backend/cpu/cpu.h"

void cpu_sgd_step(float *p, const float *g, float *mom, size_t n, float lr, float momentum,
                  float wd, int nesterov) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        if (momentum != 0.0f) {
            mom[i] = momentum * mom[i] + d;
            d = nesterov ? d + momentum * mom[i] : mom[i];
        }
        p[i] -= lr * d;
    }
}

void cpu_adam_step(float *p, const float *g, float *m, float *v, size_t n, AdamHyper h, int step) {
    float bc1 = 1.0f - powf(h.beta1, (float)step), bc2 = 1.0f - powf(h.beta2, (float)step);
    float step_size = h.lr / bc1, rbc2 = 1.0f / sqrtf(bc2);
    float l2 = h.decoupled ? 0.0f : h.weight_decay,
          shrink = h.decoupled ? 1.0f - h.lr * h.weight_decay : 1.0f;
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + l2 * p[i];
        m[i] = h.beta1 * m[i] + (1.0f - h.beta1) * d;
        v[i] = h.beta2 * v[i] + (1.0f - h.beta2) * d * d;
        p[i] = p[i] * shrink - step_size * m[i] / (sqrtf(v[i]) * rbc2 + h.eps);
    }
}

void cpu_rmsprop_step(float *p, const float *g, float *sq, float *buf, size_t n, float lr,
                      float alpha, float eps, float wd, float momentum) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        sq[i] = alpha * sq[i] + (1.0f - alpha) * d * d;
        float u = d / (sqrtf(sq[i]) + eps);
        if (buf) u = buf[i] = momentum * buf[i] + u;
        p[i] -= lr * u;
    }
}
