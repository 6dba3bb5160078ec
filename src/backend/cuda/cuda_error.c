// The fatal paths behind CUDA_CHECK, CUDNN_CHECK and CUBLAS_CHECK: the failing call, the
// library's own words, and a fix chosen from the kind of error; then dna_fatal ends the job.
#include <stdio.h>

#include "backend/cuda/cuda_internal.h"
#include "core/error.h"

const char *cuda_hint(cudaError_t e) {
    switch (e) {
        case cudaErrorMemoryAllocation:
            return "reduce the batch size or the model, or free the GPU of other processes "
                   "(nvidia-smi)";
        case cudaErrorNoDevice:
        case cudaErrorInvalidDevice:
            return "check that a GPU is visible (nvidia-smi, CUDA_VISIBLE_DEVICES, sbatch "
                   "--gpus-per-node or --gpus-per-task)";
        case cudaErrorInsufficientDriver:
            return "this node has no NVIDIA driver, or one older than the CUDA runtime dna was "
                   "built with: nvidia-smi shows the driver's CUDA version; load a matching "
                   "CUDA module, update the driver, or run on a GPU node";
        case cudaErrorSystemDriverMismatch:
            return "the NVIDIA kernel module and its user-space library differ in version (a "
                   "driver update without a reboot): nvidia-smi says the same; reboot the node "
                   "or ask its administrators";
        case cudaErrorCompatNotSupportedOnDevice:
            return "a CUDA forward-compatibility library (cuda-compat) is on LD_LIBRARY_PATH "
                   "for a GPU that does not support it: remove it from the path";
        case cudaErrorInitializationError:
        case cudaErrorDevicesUnavailable:
            return "the GPU could not be set up or is taken: check nvidia-smi (another "
                   "process in exclusive-process mode, a GPU in an error state)";
        case cudaErrorNoKernelImageForDevice:
        case cudaErrorUnsupportedPtxVersion:
        case cudaErrorInvalidKernelImage:
            return "rebuild for this GPU: make CUDA=1 CUDA_GENCODE='-gencode "
                   "arch=compute_XY,code=sm_XY' (XY from nvidia-smi --query-gpu=compute_cap)";
        default:
            return "errors of kernels surface at the next call: rerun with "
                   "CUDA_LAUNCH_BLOCKING=1 to find the failing one (compute-sanitizer for "
                   "memory errors)";
    }
}

void cuda_fail(const char *file, int line, const char *call, cudaError_t e) {
    dna_fatal(file, line, cuda_hint(e), "CUDA: %s failed: %s (%s)", call, cudaGetErrorName(e),
              cudaGetErrorString(e));
}

static const char *cudnn_hint(cudnnStatus_t s) {
    // cuDNN 9 is a core library that loads sub-libraries (engines, ops) at run time: these
    // fail when two cuDNN installs are visible (a pip wheel's and the toolkit's, say) and
    // the core of one meets the sub-libraries of the other, or when a sub-library is missing
#define ONE_CUDNN                                                                            \
    "keep one cuDNN install visible: LD_LIBRARY_PATH (and the rpath dna was linked with) "   \
    "must lead to the libcudnn*.so.9 files of one install, complete (every libcudnn_*.so.9 " \
    "of it); `ldd` of the dna binary and CUDNN_LOGLEVEL_DBG=2 "                              \
    "CUDNN_LOGDEST_DBG=stderr show which were loaded"
    switch (s) {
        case CUDNN_STATUS_NOT_INITIALIZED:  // also when it cannot set up CUDA
            return "check that CUDA works (nvidia-smi, dna version --backend cuda); "
                   "then " ONE_CUDNN;
        case CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH:
        case CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH:
        case CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED:
        case CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE:
            return ONE_CUDNN;
        default:
            break;
    }
#undef ONE_CUDNN
    switch ((int)s / 1000) {
        case 2:
            return "a tensor or convolution descriptor is invalid for this shape: check the "
                   "layer's shapes (CUDNN_LOGLEVEL_DBG=2 CUDNN_LOGDEST_DBG=stderr shows why)";
        case 3:
            return "cuDNN does not support this case on this GPU/driver: check that cuDNN, the "
                   "CUDA runtime and the driver match (dna version prints them)";
        case 4:
            return "cuDNN could not allocate or compile: reduce the batch size, and check free "
                   "GPU memory (nvidia-smi)";
        default:
            return "rerun with CUDA_LAUNCH_BLOCKING=1 and CUDNN_LOGLEVEL_DBG=2 "
                   "CUDNN_LOGDEST_DBG=stderr to see cuDNN's reason";
    }
}

void cudnn_fail(const char *file, int line, const char *call, cudnnStatus_t s) {
    char why[512] = "";
    cudnnGetLastErrorString(why, sizeof why);
    dna_fatal(file, line, cudnn_hint(s), "cuDNN: %s failed: %s%s%s", call, cudnnGetErrorString(s),
              why[0] ? ": " : "", why);
}

void cublas_fail(const char *file, int line, const char *call, cublasStatus_t s) {
    const char *hint = s == CUBLAS_STATUS_ALLOC_FAILED
                           ? "reduce the batch size or the model, or free the GPU of other "
                             "processes (nvidia-smi)"
                           : "rerun with CUDA_LAUNCH_BLOCKING=1 to find the failing call; "
                             "CUBLAS_LOGINFO_DBG=1 CUBLAS_LOGDEST_DBG=stderr logs cuBLAS's calls";
    dna_fatal(file, line, hint, "cuBLAS: %s failed: %s (%s)", call, cublasGetStatusName(s),
              cublasGetStatusString(s));
}
