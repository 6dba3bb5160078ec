// The CUDA backend's table, its set-up (device, stream, cuDNN and cuBLAS handles), memory
// functions over the caching pool, and the per-op scratch. FP32 throughout: cuDNN and cuBLAS
// are kept off TF32 tensor cores so results match the CPU backend to float rounding.
#include "backend/cuda/cuda_backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef DNA_NCCL
#include <nccl.h>
#endif

#include "backend/cuda/cuda_internal.h"
#include "core/error.h"

// The one context of this process (see cuda_internal.h); device -1 until set up.
static CudaCtx ctx = {.device = -1};

CudaCtx *cuda_ctx(void) {
    return &ctx;
}

void *cuda_scratch(size_t bytes) {
    if (bytes > ctx.scratch_bytes) {
        size_t grow = ctx.scratch_bytes + ctx.scratch_bytes / 2;
        cuda_pool_free(ctx.scratch);  // stream order: earlier ops are done with it first
        ctx.scratch_bytes = bytes > grow ? bytes : grow;
        ctx.scratch = cuda_pool_alloc(ctx.scratch_bytes);
    }
    return ctx.scratch;
}

void *cuda_host_buf(size_t bytes) {
    if (bytes > ctx.host_bytes) {
        if (ctx.host) CUDA_CHECK(cudaFreeHost(ctx.host));
        ctx.host_bytes = bytes > 4096 ? bytes : 4096;
        CUDA_CHECK(cudaMallocHost(&ctx.host, ctx.host_bytes));
    }
    return ctx.host;
}

void *cuda_fetch(const void *dev, size_t bytes) {
    void *h = cuda_host_buf(bytes);
    CUDA_CHECK(cudaMemcpyAsync(h, dev, bytes, cudaMemcpyDeviceToHost, ctx.stream));
    cuda_stream_sync(ctx.stream);
    return h;
}

static void *cuda_alloc(size_t bytes) {
    void *p = cuda_pool_alloc(bytes);
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, ctx.stream));  // the interface promises zeroes
    CUDA_CHECK(cudaEventRecord(ctx.zeroed, ctx.stream));   // the next upload_async waits for it
    ctx.copy_unordered = 1;
    return p;
}

static void cuda_free(void *p) {
    cuda_pool_free(p);
}

// From pageable memory cudaMemcpyAsync returns once the source has been staged, so the
// caller may reuse it at once; from pinned memory the copy is truly asynchronous, so wait.
static void cuda_upload(void *dst, const void *host, size_t bytes) {
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, ctx.stream));
    struct cudaPointerAttributes a;
    CUDA_CHECK(cudaPointerGetAttributes(&a, host));
    if (a.type == cudaMemoryTypeHost) cuda_stream_sync(ctx.stream);
}

static void cuda_download(void *host, const void *src, size_t bytes) {
    if (!bytes) return;
    CUDA_CHECK(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, ctx.stream));
    cuda_stream_sync(ctx.stream);
}

static void *cuda_host_alloc(size_t bytes) {
    void *p = NULL;
    CUDA_CHECK(cudaMallocHost(&p, bytes ? bytes : 1));
    return p;
}

static void cuda_host_free(void *p) {
    if (p) CUDA_CHECK(cudaFreeHost(p));
}

// The copy stream runs beside the compute stream, so before copying into memory that
// cuda_alloc handed out since the copy stream last waited, it waits for the compute stream
// up to the latest alloc's memset: that orders the copy after the zeroing of a fresh block,
// and, for a recycled block, after the compute work that used it before it was freed (all
// of it queued before the alloc). Only allocations make the copy stream wait; a training
// loop allocates its two input buffers and its layers' tensors in its first steps and then
// nothing, so from then on the next batch's upload overlaps with the compute work queued
// before it (src/stages/distill.c run_epoch).
static void cuda_upload_async(void *dst, const void *host, size_t bytes) {
    if (!bytes) return;
    if (ctx.copy_unordered) {
        CUDA_CHECK(cudaStreamWaitEvent(ctx.copy, ctx.zeroed, 0));
        ctx.copy_unordered = 0;
    }
    CUDA_CHECK(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, ctx.copy));
    CUDA_CHECK(cudaEventRecord(ctx.copied, ctx.copy));
    CUDA_CHECK(cudaStreamWaitEvent(ctx.stream, ctx.copied, 0));
}

static void cuda_upload_wait(void) {
    cuda_stream_sync(ctx.copy);
}

static void cuda_copy(void *dst, const void *src, size_t bytes) {
    if (dst != src && bytes)
        CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx.stream));
}

static void cuda_fill(float *dst, float v, size_t n) {
    if (v == 0.0f && !signbit(v))
        CUDA_CHECK(cudaMemsetAsync(dst, 0, n * sizeof(float), ctx.stream));
    else
        CUDA_CHECK(dk_fill(dst, v, n, ctx.stream));
}

static const char *cuda_lib_version(void) {
    return ctx.version;
}

static void describe(void) {
    int rt = 0, drv = 0, cb = 0, nc = 0, major = 0, minor = 0;
    size_t dnn = cudnnGetVersion();
    struct cudaDeviceProp prop;
    CUDA_CHECK(cudaRuntimeGetVersion(&rt));
    CUDA_CHECK(cudaDriverGetVersion(&drv));
    CUBLAS_CHECK(cublasGetVersion(ctx.cublas, &cb));
#ifdef DNA_NCCL
    if (ncclGetVersion(&nc) != ncclSuccess) nc = 0;
#endif
    CUDA_CHECK(cudaGetDeviceProperties(&prop, ctx.device));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, ctx.device));
    CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, ctx.device));
    char nccl[32] = "no NCCL";
    if (nc) snprintf(nccl, sizeof nccl, "NCCL %d.%d.%d", nc / 10000, nc / 100 % 100, nc % 100);
    snprintf(ctx.version, sizeof ctx.version,
             "cuDNN %zu.%zu.%zu, cuBLAS %d.%d.%d, %s, CUDA runtime %d.%d, driver %d.%d, %.128s "
             "(sm_%d%d, %d SMs)",
             dnn / 10000, dnn / 100 % 100, dnn % 100, cb / 10000, cb / 100 % 100, cb % 100, nccl,
             rt / 1000, rt / 10 % 100, drv / 1000, drv / 10 % 100, prop.name, major, minor,
             ctx.sms);
}

static void cuda_device_uuid(unsigned char uuid[BACKEND_UUID_BYTES]) {
    struct cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, ctx.device));
    memcpy(uuid, p.uuid.bytes, BACKEND_UUID_BYTES);
}

static const Backend CUDA = {
    .name = "cuda",
    .lib_version = cuda_lib_version,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .copy = cuda_copy,
    .fill = cuda_fill,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .upload_async = cuda_upload_async,
    .upload_wait = cuda_upload_wait,
    .device_uuid = cuda_device_uuid,
#define OP(kind, ret, op, params) .op = cuda_##op,
#include "tensor/ops.def"
#undef OP
#ifdef DNA_NCCL
    .comm_id = cuda_comm_id,
    .comm_new = cuda_comm_new,
    .comm_sum = cuda_comm_sum,
    .comm_free = cuda_comm_free,
#endif
};

CudaDevices cuda_devices(void) {
    CudaDevices d = {0};
    cudaError_t e = cudaGetDeviceCount(&d.count);
    if (e == cudaSuccess && d.count > 0) return d;
    cudaGetLastError();  // clear it: the backend may not be used at all
    if (e == cudaSuccess) e = cudaErrorNoDevice;
    d.count = 0;
    d.failed = e != cudaErrorNoDevice;
    d.hint = cuda_hint(e);
    snprintf(d.why, sizeof d.why, "%s: %s", cudaGetErrorName(e), cudaGetErrorString(e));
    return d;
}

const Backend *backend_cuda(int device) {
    DNA_CHECK(device >= 0, "CUDA devices are numbered from 0", "CUDA device %d asked for", device);
    if (ctx.device == device) return &CUDA;
    DNA_CHECK(ctx.device < 0, "drive one GPU per process (one MPI rank per GPU)",
              "the CUDA backend already runs on device %d; asked for device %d", ctx.device,
              device);
    int n = 0;
    CUDA_CHECK(cudaGetDeviceCount(&n));
    DNA_CHECK(device >= 0 && device < n,
              "pick a device below the count nvidia-smi shows, or "
              "check CUDA_VISIBLE_DEVICES",
              "CUDA device %d asked for, %d visible", device, n);
    ctx.device = device;
    CUDA_CHECK(cudaSetDevice(device));
    CUDA_CHECK(cudaDeviceGetAttribute(&ctx.sms, cudaDevAttrMultiProcessorCount, device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking));
    CUDA_CHECK(cudaStreamCreateWithFlags(&ctx.copy, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&ctx.copied, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&ctx.zeroed, cudaEventDisableTiming));
    CUDNN_CHECK(cudnnCreate(&ctx.cudnn));
    CUDNN_CHECK(cudnnSetStream(ctx.cudnn, ctx.stream));
    CUBLAS_CHECK(cublasCreate(&ctx.cublas));
    CUBLAS_CHECK(cublasSetStream(ctx.cublas, ctx.stream));
    CUBLAS_CHECK(cublasSetMathMode(ctx.cublas, CUBLAS_DEFAULT_MATH));  // plain FP32, no TF32
    describe();
    return &CUDA;
}
