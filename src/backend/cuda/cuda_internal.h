// Shared internals of the CUDA backend: its one context (device, stream, library handles,
// scratch), the check macro of each library it calls, the caching memory pool and the op
// functions that the table in cuda_backend.c points at. Only src/backend/cuda/ includes
// this (and tests/gpu, to look at the pool).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels.h"  // kernels/, on the include path of CUDA builds
#include "tensor/ops.h"

_Static_assert((int)ACT_NONE == DK_ACT_NONE && (int)ACT_RELU == DK_ACT_RELU &&
                   (int)ACT_SWISH == DK_ACT_SWISH && (int)ACT_SIGMOID == DK_ACT_SIGMOID &&
                   (int)ACT_GELU == DK_ACT_GELU,
               "kernels/kernels.h's activation codes must be those of Act");

// The op table carries no context pointer, so the backend's state is one per process: a
// rank drives one GPU (doc/design.md §6). Every op runs on `stream`, in order, so device memory a
// later op reuses (pool blocks, scratch) is never still in use by an earlier one; upload_async's
// copies on `copy` wait for `zeroed` after an allocation (cuda_upload_async says why).
typedef struct CudaCtx {
    int device, sms;
    cudaStream_t stream;
    cudaStream_t copy;   // upload_async's, so input copies overlap with compute
    cudaEvent_t copied;  // the last upload_async, which `stream` waits for
    cudaEvent_t zeroed;  // recorded on `stream` after each cuda_alloc's memset
    int copy_unordered;  // cuda_alloc ran since `copy` last waited for `zeroed`
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *scratch;  // device scratch of the op running now (cuda_scratch)
    size_t scratch_bytes;
    void *host;  // pinned host buffer for results the host reads (cuda_host_buf)
    size_t host_bytes;
    char version[512];
} CudaCtx;

CudaCtx *cuda_ctx(void);
// Device scratch of at least `bytes`, valid until the next call; 256-byte aligned.
void *cuda_scratch(size_t bytes);
// Pinned host memory of at least `bytes`, valid until the next call.
void *cuda_host_buf(size_t bytes);
// Copies device -> pinned host buffer and waits: the synchronisation point of reductions.
void *cuda_fetch(const void *dev, size_t bytes);

// ---------------------------------------------------------------- errors (cuda_error.c)
_Noreturn void cuda_fail(const char *file, int line, const char *call, cudaError_t e);
const char *cuda_hint(cudaError_t e);  // the likely fix of an error
_Noreturn void cudnn_fail(const char *file, int line, const char *call, cudnnStatus_t s);
_Noreturn void cublas_fail(const char *file, int line, const char *call, cublasStatus_t s);

#define CUDA_CHECK(call)                                                 \
    do {                                                                 \
        cudaError_t e_ = (call);                                         \
        if (e_ != cudaSuccess) cuda_fail(__FILE__, __LINE__, #call, e_); \
    } while (0)
#define CUDNN_CHECK(call)                                                          \
    do {                                                                           \
        cudnnStatus_t s_ = (call);                                                 \
        if (s_ != CUDNN_STATUS_SUCCESS) cudnn_fail(__FILE__, __LINE__, #call, s_); \
    } while (0)
#define CUBLAS_CHECK(call)                                                           \
    do {                                                                             \
        cublasStatus_t s_ = (call);                                                  \
        if (s_ != CUBLAS_STATUS_SUCCESS) cublas_fail(__FILE__, __LINE__, #call, s_); \
    } while (0)

// ---------------------------------------------------------------- memory pool (cuda_pool.c)
// Blocks are rounded up to size classes (4 per power of two, at least 512 bytes); a freed
// block goes on its class's free list and is handed out again, so steady-state training
// calls cudaMalloc/cudaFree never. Not zeroed: cuda_alloc (cuda_backend.c) zeroes.
void *cuda_pool_alloc(size_t bytes);
void cuda_pool_free(void *p);
typedef struct CudaPoolStats {
    size_t mallocs;       // cudaMalloc calls so far
    size_t live, cached;  // bytes handed out, bytes on free lists
} CudaPoolStats;
CudaPoolStats cuda_pool_stats(void);
void cuda_pool_trim(void);  // returns the free lists to the driver (after a failed cudaMalloc)

// ---------------------------------------------------------------- ops
// cuda_<name> for every line of tensor/ops.def: the table in cuda_backend.c
#define OP(kind, ret, op, params) ret cuda_##op params;
#include "tensor/ops.def"
#undef OP
// NCCL and stream waits (cuda_comm.c)
void cuda_comm_id(unsigned char id[BACKEND_COMM_ID_BYTES]);
void *cuda_comm_new(const unsigned char id[BACKEND_COMM_ID_BYTES], int nranks, int rank);
void cuda_comm_sum(void *comm, float *buf, size_t n);
void cuda_comm_free(void *comm);
// Waits for the stream's work, as cudaStreamSynchronize, and fails (dna_fatal, after aborting
// the communicator) when an NCCL communicator of this process reports an error meanwhile:
// the backend's every wait goes through it, so a dead peer ends the job instead of hanging it.
void cuda_stream_sync(cudaStream_t s);
