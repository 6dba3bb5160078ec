// Device helpers shared by the kernel files: activations (the CPU backend's formulas, with
// CUDA's expf and erff), warp/block sums in a fixed order, and launch shapes for flat and
// per-plane loops. Only kernels/*.cu include this.
#pragma once
#include <cuda_runtime.h>
#include <stddef.h>

#include "kernels.h"

enum { DK_BLOCK = 256 };

__device__ __forceinline__ float dk_sigmoid(float x) {
    return 1.0f / (1.0f + expf(-x));
}

// activation and its derivative, both from the pre-activation z (cpu_act, cpu_act_grad)
__device__ __forceinline__ float dk_act(int a, float z) {
    switch (a) {
        case DK_ACT_RELU:
            return z > 0.0f ? z : 0.0f;
        case DK_ACT_SWISH:
            return z * dk_sigmoid(z);
        case DK_ACT_SIGMOID:
            return dk_sigmoid(z);
        case DK_ACT_GELU:  // the erf form, as cpu_act
            return 0.5f * z * (1.0f + erff(z * 0.70710678118654752f));
        default:
            return z;
    }
}
__device__ __forceinline__ float dk_act_grad(int a, float z) {
    switch (a) {
        case DK_ACT_RELU:
            return z > 0.0f ? 1.0f : 0.0f;
        case DK_ACT_SWISH: {
            float s = dk_sigmoid(z);
            return s * (1.0f + z * (1.0f - s));
        }
        case DK_ACT_SIGMOID: {
            float s = dk_sigmoid(z);
            return s * (1.0f - s);
        }
        case DK_ACT_GELU:  // Phi(z) + z phi(z)
            return 0.5f * (1.0f + erff(z * 0.70710678118654752f)) +
                   z * 0.39894228040143268f * expf(-0.5f * z * z);
        default:
            return 1.0f;
    }
}

template <typename T>
__device__ __forceinline__ T dk_warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;  // valid in lane 0
}

// Sum over a block of DK_BLOCK threads; the result is valid in thread 0. Every thread of the
// block must call it (it synchronises).
template <typename T>
__device__ __forceinline__ T dk_block_sum(T v) {
    __shared__ T warp[DK_BLOCK / 32];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    v = dk_warp_sum(v);
    __syncthreads();  // warp[] may still be read by a previous call
    if (lane == 0) warp[w] = v;
    __syncthreads();
    if (w == 0) {
        v = lane < DK_BLOCK / 32 ? warp[lane] : T(0);
        v = dk_warp_sum(v);
    }
    return v;
}

// Blocks for a grid-stride loop over n elements: enough to fill the GPU, no more.
static inline unsigned dk_flat_blocks(size_t n) {
    size_t b = (n + DK_BLOCK - 1) / DK_BLOCK;
    const size_t cap = 8192;  // ~8 waves of fully occupied SMs on an H200 (132 x 8 blocks)
    return (unsigned)(b < 1 ? 1 : b > cap ? cap : b);
}

#define DK_FLAT_LOOP(i, n)                                                  \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (size_t)gridDim.x * blockDim.x)

// Per-plane loops (a plane: the hw values of one (n, c)): grid.y walks planes, grid.x and
// the threads walk the plane, so the plane index is known without dividing per element.
typedef struct DkPlaneGrid {
    dim3 grid, block;
} DkPlaneGrid;

static inline DkPlaneGrid dk_plane_grid(size_t planes, int hw) {
    DkPlaneGrid g;
    int threads = hw >= DK_BLOCK ? DK_BLOCK : (hw + 31) / 32 * 32;
    int bx = (hw + threads - 1) / threads;
    if (bx > 64) bx = 64;
    size_t by = planes < 65535 ? planes : 65535;
    g.block = dim3((unsigned)threads);
    g.grid = dim3((unsigned)bx, (unsigned)(by ? by : 1));
    return g;
}

#define DK_PLANE_LOOP(plane, planes) \
    for (size_t plane = blockIdx.y; plane < (planes); plane += gridDim.y)
#define DK_IN_PLANE_LOOP(i, hw) \
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (hw); i += gridDim.x * blockDim.x)
