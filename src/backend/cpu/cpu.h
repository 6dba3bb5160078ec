// Shared internals of the CPU backend: the op functions the table in cpu_backend.c points
// at, and small inline math (a vectorisable exp) used by several files.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor/ops.h"

// exp for activations: Cody-Waite range reduction and Cephes' degree-6 polynomial, written
// so GCC vectorises loops over it (libm's expf does not vectorise without -ffast-math).
// Relative error < 2e-7 on [-87, 88]; NaN stays NaN.
static inline float cpu_exp(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    // round to nearest by the 1.5*2^23 trick: floorf would be a libm call (not vectorised
    // under -ftrapping-math)
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t e = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &e, sizeof scale);
    return p * scale;
}
static inline float cpu_sigmoid(float x) {
    return 1.0f / (1.0f + cpu_exp(-x));
}

// activation and its derivative, both from the pre-activation z
static inline float cpu_act(Act a, float z) {
    switch (a) {
        case ACT_RELU:
            return z > 0.0f ? z : 0.0f;
        case ACT_SWISH:
            return z * cpu_sigmoid(z);
        case ACT_SIGMOID:
            return cpu_sigmoid(z);
        default:
            return z;
    }
}
static inline float cpu_act_grad(Act a, float z) {
    switch (a) {
        case ACT_RELU:
            return z > 0.0f ? 1.0f : 0.0f;
        case ACT_SWISH: {
            float s = cpu_sigmoid(z);
            return s * (1.0f + z * (1.0f - s));
        }
        case ACT_SIGMOID: {
            float s = cpu_sigmoid(z);
            return s * (1.0f - s);
        }
        default:
            return 1.0f;
    }
}

// per-thread scratch: grows, never shrinks; freed at exit by the backend
float *cpu_scratch(int slot, size_t floats);
int cpu_nthreads(void);

void cpu_conv2d_fwd(const Tensor *x, const Tensor *w, Tensor *y, ConvSpec s);
void cpu_conv2d_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                    ConvSpec s);
void cpu_linear_fwd(const Tensor *x, const Tensor *w, const float *b, Tensor *y);
void cpu_linear_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                    float *db);
void cpu_bn_fwd_train(const Tensor *x, const float *gamma, const float *beta, Tensor *y,
                      float *mean, float *invstd, float *run_mean, float *run_var, float momentum,
                      float eps, Act act, const BnSync *sync);
void cpu_bn_fwd_eval(const Tensor *x, const float *gamma, const float *beta, const float *run_mean,
                     const float *run_var, float eps, Tensor *y, Act act);
void cpu_bn_bwd(const Tensor *x, const float *gamma, const float *beta, const float *mean,
                const float *invstd, const Tensor *dy, Tensor *dx, float *dgamma, float *dbeta,
                Act act, const BnSync *sync);
void cpu_act_fwd(Act act, const Tensor *x, Tensor *y);
void cpu_act_bwd(Act act, const Tensor *x, const Tensor *dy, Tensor *dx);
void cpu_add(const Tensor *a, const Tensor *b, Tensor *y);
void cpu_axpy(float alpha, const Tensor *x, Tensor *y);
void cpu_gap_fwd(const Tensor *x, Tensor *y);
void cpu_gap_bwd(const Tensor *dy, Tensor *dx);
void cpu_scale_ch_fwd(const Tensor *x, const Tensor *g, Tensor *y);
void cpu_scale_ch_bwd(const Tensor *x, const Tensor *g, const Tensor *dy, Tensor *dx, Tensor *dg);
double cpu_mse(const Tensor *yhat, const Tensor *y, Tensor *dyhat);
double cpu_rel_l1(const Tensor *yhat, const Tensor *y);
double cpu_softmax_ce(const Tensor *logits, const int32_t *labels, float smoothing, Tensor *dlogits,
                      int *correct);
void cpu_sgd_step(float *p, const float *g, float *mom, size_t n, float lr, float momentum,
                  float wd, int nesterov);
void cpu_adam_step(float *p, const float *g, float *m, float *v, size_t n, AdamHyper h, int step);
void cpu_rmsprop_step(float *p, const float *g, float *sq, float *buf, size_t n, float lr,
                      float alpha, float eps, float wd, float momentum);
