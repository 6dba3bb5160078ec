// The CUDA backend's memory functions, input pipeline and caching pool, and the table
// itself, against the CPU backend where there is one. The ops are tested by
// tests/gpu/test_gpu_ops.c from the op table (tests/ops), whole cells by test_gpu_cell.c.
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_internal.h"  // pool statistics
#include "gpu_test.h"

#define GARBAGE 7.0f  // prefill of overwritten outputs

static Tensor h_like(const Tensor *t, float v) {
    return h_const(t->n, t->c, t->h, t->w, v);
}
static Tensor d_like(const Tensor *t, float v) {
    Tensor h = h_like(t, v), d = d_of(&h);
    h_free(&h);
    return d;
}

static void free_h(Tensor **t, int n) {
    for (int i = 0; i < n; i++) h_free(t[i]);
}
static void free_d(Tensor **t, int n) {
    for (int i = 0; i < n; i++) d_free(t[i]);
}

// ---------------------------------------------------------------- memory
TEST(gpu_memory_fill_copy) {
    Tensor h = h_rand(1, 1, 1, 100003, 5200, -1, 1), ones = h_like(&h, 1.5f), z = h_like(&h, 0);
    Tensor g = d_of(&h), c = d_like(&h, GARBAGE);
    T_SAME(&g, &h, 0, 0, "upload/download");
    gpu()->copy(c.data, g.data, sizeof(float) * tensor_numel(&h));
    T_SAME(&c, &h, 0, 0, "copy");
    gpu()->copy(c.data, c.data, sizeof(float) * tensor_numel(&h));  // same pointer: no-op
    T_SAME(&c, &h, 0, 0, "copy onto itself");
    gpu()->fill(c.data, 1.5f, tensor_numel(&h));
    T_SAME(&c, &ones, 0, 0, "fill 1.5");
    gpu()->fill(c.data, 0.0f, tensor_numel(&h));
    T_SAME(&c, &z, 0, 0, "fill 0");
    // from pinned memory the copy is asynchronous: upload must be done with the source on return
    float *pinned = NULL;
    size_t n = tensor_numel(&h);
    T_CHECK(cudaMallocHost((void **)&pinned, sizeof(float) * n) == cudaSuccess, "cudaMallocHost");
    if (pinned) {
        memcpy(pinned, h.data, sizeof(float) * n);
        gpu()->upload(c.data, pinned, sizeof(float) * n);
        memset(pinned, 0xff, sizeof(float) * n);  // NaNs, if the copy were still reading
        T_SAME(&c, &h, 0, 0, "upload from pinned memory");
        cudaFreeHost(pinned);
    }
    free_h((Tensor *[]){&h, &ones, &z}, 3);
    free_d((Tensor *[]){&g, &c}, 2);
}

// The input pipeline's path: pinned memory from host_alloc, upload_async on the copy stream,
// then ops on the compute stream that must wait for it (a large copy followed at once by a
// small op reading it), upload_wait before the host buffer is reused, two buffers in turn.
TEST(gpu_upload_async) {
    Tensor h = h_rand(1, 1, 1, 1 << 22, 5300, -1, 1), twice = h_copy(&h);
    cpu()->axpy(1.0f, &h, &twice);
    size_t n = tensor_numel(&h), bytes = sizeof(float) * n;
    float *pinned = gpu()->host_alloc(bytes);
    Tensor d[2] = {d_zeros(1, 1, 1, (int)n), d_zeros(1, 1, 1, (int)n)};
    for (int step = 0; step < 4; step++) {
        Tensor *t = &d[step & 1];
        memcpy(pinned, h.data, bytes);
        gpu()->upload_async(t->data, pinned, bytes);
        gpu()->axpy(1.0f, t, t);  // queued on the compute stream: must see the whole copy
        gpu()->upload_wait();
        memset(pinned, 0xff, bytes);  // NaNs, had the copy not finished
        T_SAME(t, &twice, 0, 0, "upload_async then an op");
    }
    gpu()->host_free(pinned);
    free_h((Tensor *[]){&h, &twice}, 2);
    free_d((Tensor *[]){&d[0], &d[1]}, 2);
}

TEST(gpu_pool_reuses_blocks_and_zeroes) {
    const size_t sizes[] = {1, 4, 513, 4096, 1000000, 3u << 20};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    void *p[NS];
    for (int i = 0; i < NS; i++) {
        p[i] = gpu()->alloc(sizes[i]);
        gpu()->fill(p[i], 7.0f, sizes[i] / sizeof(float));
    }
    for (int i = 0; i < NS; i++) gpu()->free(p[i]);
    CudaPoolStats before = cuda_pool_stats();
    for (int i = 0; i < NS; i++) p[i] = gpu()->alloc(sizes[i]);
    CudaPoolStats after = cuda_pool_stats();
    T_CHECK(after.mallocs == before.mallocs,
            "the pool called cudaMalloc %zu times for sizes it had",
            after.mallocs - before.mallocs);
    for (int i = 0; i < NS; i++) {
        size_t nf = sizes[i] / sizeof(float);
        float *h = d_read(p[i], nf);
        size_t bad = 0;
        for (size_t j = 0; j < nf; j++) bad += h[j] != 0.0f;
        T_CHECK(bad == 0, "alloc(%zu) after reuse: %zu nonzero floats", sizes[i], bad);
        free(h);
        gpu()->free(p[i]);
    }
}

TEST(gpu_backend_once_per_process) {
    const char *dev = getenv("DNA_TEST_DEVICE");
    T_CHECK(backend_cuda(dev ? atoi(dev) : 0) == gpu(), "backend_cuda twice: the same table");
    T_CHECK(strstr(gpu()->lib_version(), "cuDNN") != NULL, "lib_version names cuDNN: %s",
            gpu()->lib_version());
}
