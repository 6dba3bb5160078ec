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
                   (int)ACT_SWISH == DK_ACT_SWISH && (int)ACT_SIGMOID == DK_ACT_SIGMOID,
               "kernels/kernels.h's activation codes must be those of Act");

// The op table carries no context pointer, so the backend's state is one per process: a
// rank drives one GPU (DESIGN §6). Every op runs on `stream`, in order, so device memory a
// later op reuses (pool blocks, scratch) is never still in use by an earlier one.
typedef struct CudaCtx {
    int device, sms;
    cudaStream_t stream;
    cudaStream_t copy;    // upload_async's, so input copies overlap with compute
    cudaEvent_t copied;   // the last upload_async, which `stream` waits for
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
void cuda_conv2d_fwd(const Tensor *x, const Tensor *w, Tensor *y, ConvSpec s);
void cuda_conv2d_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                     ConvSpec s);
void cuda_linear_fwd(const Tensor *x, const Tensor *w, const float *b, Tensor *y);
void cuda_linear_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                     float *db);
void cuda_bn_fwd_train(const Tensor *x, const float *gamma, const float *beta, Tensor *y,
                       float *mean, float *invstd, float *run_mean, float *run_var, float momentum,
                       float eps, Act act, const BnSync *sync);
void cuda_bn_fwd_eval(const Tensor *x, const float *gamma, const float *beta, const float *run_mean,
                      const float *run_var, float eps, Tensor *y, Act act);
void cuda_bn_bwd(const Tensor *x, const float *gamma, const float *beta, const float *mean,
                 const float *invstd, const Tensor *dy, Tensor *dx, float *dgamma, float *dbeta,
                 Act act, const BnSync *sync);
void cuda_act_fwd(Act act, const Tensor *x, Tensor *y);
void cuda_act_bwd(Act act, const Tensor *x, const Tensor *dy, Tensor *dx);
void cuda_add(const Tensor *a, const Tensor *b, Tensor *y);
void cuda_axpy(float alpha, const Tensor *x, Tensor *y);
void cuda_gap_fwd(const Tensor *x, Tensor *y);
void cuda_gap_bwd(const Tensor *dy, Tensor *dx);
void cuda_scale_ch_fwd(const Tensor *x, const Tensor *g, Tensor *y);
void cuda_scale_ch_bwd(const Tensor *x, const Tensor *g, const Tensor *dy, Tensor *dx, Tensor *dg);
double cuda_mse(const Tensor *yhat, const Tensor *y, Tensor *dyhat);
double cuda_rel_l1(const Tensor *yhat, const Tensor *y);
double cuda_softmax_ce(const Tensor *logits, const int32_t *labels, float smoothing,
                       Tensor *dlogits, int *correct);
void cuda_sgd_step(float *p, const float *g, float *mom, size_t n, float lr, float momentum,
                   float wd, int nesterov);
void cuda_adam_step(float *p, const float *g, float *m, float *v, size_t n, AdamHyper h, int step);
void cuda_rmsprop_step(float *p, const float *g, float *sq, float *buf, size_t n, float lr,
                       float alpha, float eps, float wd, float momentum);
// NCCL (cuda_comm.c)
void cuda_comm_id(unsigned char id[BACKEND_COMM_ID_BYTES]);
void *cuda_comm_new(const unsigned char id[BACKEND_COMM_ID_BYTES], int nranks, int rank);
void cuda_comm_sum(void *comm, float *buf, size_t n);
void cuda_comm_free(void *comm);
