// The CUDA backend's two streams and what CUDA reports about memory and launches: an
// upload on the copy stream into memory just zeroed (or recycled) on the compute stream,
// events ordering the streams, pinned-memory attributes, and a launch configuration the
// device refuses surfacing as an error. On the emulator (tests/gpu/emu), whose streams run
// late and out of issue order unless events order them, a missing wait fails here.
#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "gpu_test.h"

static int same(const float *a, const float *b, size_t n) {
    return memcmp(a, b, sizeof(float) * n) == 0;
}

// A fresh block: cuda_alloc zeroes it on the compute stream, the upload lands on the copy
// stream, and the zeroes must not overwrite the upload.
TEST(gpu_stream_upload_async_into_fresh_alloc) {
    size_t n = 300000, bytes = sizeof(float) * n;
    Tensor h = h_rand(1, 1, 1, (int)n, 7100, -1, 1);
    float *pinned = gpu()->host_alloc(bytes), *back = malloc(bytes);
    memcpy(pinned, h.data, bytes);
    float *d = gpu()->alloc(bytes);
    gpu()->upload_async(d, pinned, bytes);
    gpu()->upload_wait();
    gpu()->download(back, d, bytes);
    T_CHECK(same(back, h.data, n),
            "alloc + upload_async + download: the upload was lost "
            "(first float %g, want %g)",
            back[0], h.data[0]);
    gpu()->free(d);
    gpu()->host_free(pinned);
    free(back);
    h_free(&h);
}

// A recycled block: compute work queued before the free still reads it, so the copy stream
// must not overwrite it before that work has run.
TEST(gpu_stream_upload_async_into_recycled_block) {
    size_t n = 200000, bytes = sizeof(float) * n;
    Tensor a = h_rand(1, 1, 1, (int)n, 7200, -1, 1), b = h_rand(1, 1, 1, (int)n, 7201, -1, 1);
    float *pinned = gpu()->host_alloc(bytes), *back = malloc(bytes);
    float *src = gpu()->alloc(bytes), *dst = gpu()->alloc(bytes);
    gpu()->upload(src, a.data, bytes);
    T_CHECK(cudaStreamSynchronize(cuda_ctx()->stream) == cudaSuccess, "src written");
    gpu()->copy(dst, src, bytes);  // queued on the compute stream, reads src
    gpu()->free(src);
    float *again = gpu()->alloc(bytes);
    T_CHECK(again == src, "the pool hands the freed block out again (the case tested here)");
    memcpy(pinned, b.data, bytes);
    gpu()->upload_async(again, pinned, bytes);
    gpu()->upload_wait();
    gpu()->download(back, dst, bytes);
    T_CHECK(same(back, a.data, n), "a copy queued before the free read the block's next upload");
    gpu()->download(back, again, bytes);
    T_CHECK(same(back, b.data, n), "upload_async into a recycled block was lost");
    gpu()->free(again);
    gpu()->free(dst);
    gpu()->host_free(pinned);
    free(back);
    h_free(&a);
    h_free(&b);
}

// Events across the backend's streams, both ways: the copy stream after a kernel on the
// compute stream, and the compute stream after a copy on the copy stream.
TEST(gpu_stream_events_order_streams) {
    CudaCtx *g = cuda_ctx();
    size_t n = 100000, bytes = sizeof(float) * n;
    float *a = gpu()->alloc(bytes), *b = gpu()->alloc(bytes), *back = malloc(bytes);
    float *want = malloc(bytes);
    cudaEvent_t e;
    T_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming) == cudaSuccess, "event");
    T_CHECK(cudaStreamSynchronize(g->stream) == cudaSuccess, "the zeroing done");
    T_CHECK(dk_fill(a, 2.5f, n, g->stream) == cudaSuccess, "fill on the compute stream");
    T_CHECK(cudaEventRecord(e, g->stream) == cudaSuccess, "record");
    T_CHECK(cudaStreamWaitEvent(g->copy, e, 0) == cudaSuccess, "copy stream waits");
    T_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, g->copy) == cudaSuccess,
            "copy on the copy stream");
    T_CHECK(cudaStreamSynchronize(g->copy) == cudaSuccess, "sync copy stream");
    gpu()->download(back, b, bytes);
    for (size_t i = 0; i < n; i++) want[i] = 2.5f;
    T_CHECK(same(back, want, n), "the copy stream ran before the fill it waited for (%g)", back[0]);
    // the other way round: a copy, then a kernel on the compute stream that reads it
    T_CHECK(dk_fill(b, -1.0f, n, g->copy) == cudaSuccess, "fill on the copy stream");
    T_CHECK(cudaEventRecord(e, g->copy) == cudaSuccess, "record");
    T_CHECK(cudaStreamWaitEvent(g->stream, e, 0) == cudaSuccess, "compute stream waits");
    T_CHECK(dk_axpy(2.0f, b, a, n, g->stream) == cudaSuccess, "a += 2 b");
    gpu()->download(back, a, bytes);
    for (size_t i = 0; i < n; i++) want[i] = 0.5f;
    T_CHECK(same(back, want, n), "the compute stream ran before the copy stream's fill (%g)",
            back[0]);
    T_CHECK(cudaEventDestroy(e) == cudaSuccess, "event destroyed");
    gpu()->free(a);
    gpu()->free(b);
    free(back);
    free(want);
}

TEST(gpu_stream_pinned_attributes) {
    size_t bytes = 1 << 16;
    char *pinned = gpu()->host_alloc(bytes), *dev = gpu()->alloc(bytes), *plain = malloc(bytes);
    struct cudaPointerAttributes a;
    T_CHECK(cudaPointerGetAttributes(&a, pinned) == cudaSuccess && a.type == cudaMemoryTypeHost,
            "host_alloc memory is pinned (type %d)", (int)a.type);
    T_CHECK(
        cudaPointerGetAttributes(&a, pinned + 1000) == cudaSuccess && a.type == cudaMemoryTypeHost,
        "inside a pinned block: pinned (type %d)", (int)a.type);
    T_CHECK(cudaPointerGetAttributes(&a, dev) == cudaSuccess && a.type == cudaMemoryTypeDevice,
            "alloc memory is device memory (type %d)", (int)a.type);
    T_CHECK(
        cudaPointerGetAttributes(&a, plain) == cudaSuccess && a.type == cudaMemoryTypeUnregistered,
        "malloc memory is unregistered (type %d)", (int)a.type);
    gpu()->host_free(pinned);
    gpu()->free(dev);
    free(plain);
}

// More channels than grid.y allows (65535): the launch is refused, the launcher returns the
// error and the next call sees a clean slate.
TEST(gpu_stream_bad_launch_is_an_error) {
    int c = 70000;
    DkBnPlan p = dk_bn_plan(1, c, 1, cuda_ctx()->sms);
    float *x = gpu()->alloc(sizeof(float) * (size_t)c);
    double *sum = gpu()->alloc(sizeof(double) * (size_t)c);
    void *scratch = gpu()->alloc(dk_bn_scratch_bytes(&p));
    cudaError_t e = dk_bn_sum(&p, x, sum, scratch, cuda_ctx()->stream);
    T_CHECK(e == cudaErrorInvalidConfiguration, "grid.y %d: %s, want invalid configuration", c,
            cudaGetErrorName(e));
    T_CHECK(cudaGetLastError() == cudaSuccess, "the launcher consumed the error");
    T_CHECK(dk_fill(x, 1.0f, (size_t)c, cuda_ctx()->stream) == cudaSuccess,
            "a good launch after it");
    T_CHECK(cudaStreamSynchronize(cuda_ctx()->stream) == cudaSuccess, "sync");
    gpu()->free(x);
    gpu()->free(sum);
    gpu()->free(scratch);
}
