// The CUDA backend (built with `make CUDA=1`): every op of src/tensor/ops.h on the memory of
// one GPU, with cuDNN convolutions, cuBLAS GEMMs and the kernels of kernels/. Tensors it
// allocates live on the device; move data with tensor_upload / tensor_download.
#pragma once
#include "core/ctx.h"
#include "tensor/ops.h"

// The backend on CUDA device `device` (an index among the visible ones), set up on first
// use. One device per process: asking for another one later is a fatal error. Ops run on
// one stream in call order and return before the GPU finishes, except those whose result
// the host reads (download, the losses): those wait for it.
const Backend *backend_cuda(int device);
// The run context the convolutions follow ([run] strict_determinism) and warn through (rank
// prefix, the stage's log) when cuDNN has no deterministic algorithm for a shape. It must
// outlive the backend's use: backend_use passes the process's own. NULL (the default): not
// strict, warnings to stderr.
void cuda_conv_ctx(const RunCtx *ctx);
// What the CUDA runtime says about this process's devices. Only cudaErrorNoDevice means
// "none"; any other error (no or too old a driver, a kernel module that does not match its
// library, a failed initialisation) is a failure, reported with the runtime's words.
typedef struct CudaDevices {
    int count;         // devices visible; 0 on an error
    int failed;        // 1: an error other than cudaErrorNoDevice
    char why[256];     // with count 0: the error's name and string
    const char *hint;  // with failed: the likely fix
} CudaDevices;
CudaDevices cuda_devices(void);
