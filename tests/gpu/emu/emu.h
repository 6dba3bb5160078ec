// The emulated device (tests/gpu/emu/run.sh). For C and C++: the stream queue that every
// stream-ordered stand-in (mock_cudart.c's copies and memsets, kernel launches, the cuDNN,
// cuBLAS and NCCL stand-ins) goes through, so that work runs late and out of issue order as
// far as streams and events allow (mock_cudart.c says how). For the kernels (C++ only): the
// CUDA device side that kernels/*.cu use: qualifiers become plain C++, the built-in indices
// are globals the scheduler sets, and barriers and shuffles hand control to the scheduler
// (emu_sched.cpp). Test-only.
#pragma once
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif
// Queues run(arg) on stream s (0: the legacy default stream); it runs at a later
// synchronisation point, and must free what arg owns.
void emu_enqueue(cudaStream_t s, void (*run)(void *arg), void *arg);
// Runs everything queued on s so far (and what it waits for): for stand-ins that do their
// work at once, like the NCCL one, after the work queued before them.
void emu_stream_flush(cudaStream_t s);
// The error cudaGetLastError / cudaPeekAtLastError report next (a failed launch).
void emu_set_error(cudaError_t e);
#ifdef __cplusplus
}

#include <math.h>

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

// k<<<grid, block, smem, stream>>>(args) (transform.py): checks the configuration as the
// driver does (a bad one sets the last error and launches nothing), else queues body, which
// holds the arguments by value, on the stream.
void emu_launch(dim3 grid, dim3 block, size_t smem, cudaStream_t s, std::function<void()> body);
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
#endif
