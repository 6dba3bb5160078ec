// The CUDA device side that kernels/*.cu use, emulated on the CPU (tests/gpu/emu/run.sh):
// qualifiers become plain C++, the built-in indices are globals the scheduler sets, and
// barriers and shuffles hand control to the scheduler (emu_sched.cpp). Test-only.
#pragma once
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <functional>

#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __shared__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

void emu_launch(dim3 grid, dim3 block, std::function<void()> body);
void emu_syncthreads();
void emu_syncwarp();
uint64_t emu_shfl(uint64_t bits, int off, int is_xor);

inline void __syncthreads() {
    emu_syncthreads();
}
inline void __syncwarp(unsigned = 0xffffffffu) {
    emu_syncwarp();
}
template <class T>
inline T emu_shfl_t(T v, int off, int x) {
    uint64_t b = 0;
    memcpy(&b, &v, sizeof v);
    b = emu_shfl(b, off, x);
    T r;
    memcpy(&r, &b, sizeof r);
    return r;
}
template <class T>
inline T __shfl_down_sync(unsigned, T v, unsigned o) {
    return emu_shfl_t(v, (int)o, 0);
}
template <class T>
inline T __shfl_xor_sync(unsigned, T v, int o) {
    return emu_shfl_t(v, o, 1);
}
