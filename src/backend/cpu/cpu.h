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
        case ACT_GELU:
            return 0.5f * z * (1.0f + erff(z * 0.70710678118654752f));
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
        case ACT_GELU:  // Phi(z) + z phi(z)
            return 0.5f * (1.0f + erff(z * 0.70710678118654752f)) +
                   z * 0.39894228040143268f * expf(-0.5f * z * z);
        default:
            return 1.0f;
    }
}

// per-thread scratch: grows, never shrinks; freed at exit by the backend
float *cpu_scratch(int slot, size_t floats);
// The most threads the backend's per-thread state (scratch, weight-gradient partials) serves.
enum { CPU_MAX_THREADS = 256 };
// Threads for a parallel region with per-thread state: OpenMP's count, at most CPU_MAX_THREADS
// (a region started with num_threads(cpu_nthreads()) never has a thread id past the limit).
int cpu_nthreads(void);

// the ops of the table in cpu_backend.c: cpu_<name> for every line of tensor/ops.def
#define OP(kind, ret, op, params) ret cpu_##op params;
#include "tensor/ops.def"
#undef OP
