// CUDA optimizer steps: PyTorch's rules, as in src/backend/cpu/cpu_optim.c; Adam's bias
// corrections are computed here on the host exactly as the CPU backend computes them.
#include <math.h>

#include "backend/cuda/cuda_internal.h"

void cuda_sgd_step(float *p, const float *g, float *mom, size_t n, float lr, float momentum,
                   float wd, int nesterov) {
    CUDA_CHECK(dk_sgd(p, g, mom, n, lr, momentum, wd, nesterov, cuda_ctx()->stream));
}

void cuda_adam_step(float *p, const float *g, float *m, float *v, size_t n, AdamHyper h, int step) {
    float bc1 = 1.0f - powf(h.beta1, (float)step), bc2 = 1.0f - powf(h.beta2, (float)step);
    float step_size = h.lr / bc1, rbc2 = 1.0f / sqrtf(bc2);
    float l2 = h.decoupled ? 0.0f : h.weight_decay,
          shrink = h.decoupled ? 1.0f - h.lr * h.weight_decay : 1.0f;
    CUDA_CHECK(dk_adam(p, g, m, v, n, h.beta1, h.beta2, h.eps, l2, shrink, step_size, rbc2,
                       cuda_ctx()->stream));
}

void cuda_rmsprop_step(float *p, const float *g, float *sq, float *buf, size_t n, float lr,
                       float alpha, float eps, float wd, float momentum) {
    CUDA_CHECK(dk_rmsprop(p, g, sq, buf, n, lr, alpha, eps, wd, momentum, cuda_ctx()->stream));
}
