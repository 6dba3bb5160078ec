// The CUDA backend's caching allocator: size classes with free lists, and a hash table from
// each live block to its class (device memory has no room for a header the host could
// read). Blocks are reused in stream order: every op runs on the backend's compute stream, so
// a block freed by the host is only handed out to work queued after its last use; the copy
// stream of upload_async waits for the compute stream after each allocation (cuda_backend.c).
#include <stdint.h>
#include <stdlib.h>

#include "backend/cuda/cuda_internal.h"
#include "core/error.h"

enum { MIN_LOG2 = 9, STEPS = 4, CLASSES = STEPS * (48 - MIN_LOG2) };

typedef struct {
    void **p;
    int n, cap;
} FreeList;

// Pool state: one per process like the backend's context (cuda_internal.h).
static struct {
    FreeList free[CLASSES];
    void **key;  // live blocks: open addressing, linear probing; NULL = empty
    int *cls;
    size_t cap, used;
    CudaPoolStats st;
} pool;

// Class c holds blocks of 2^e (1 + s/4) bytes, e = 9 + c/4, s = c%4: at most 25% waste.
static int class_of(size_t bytes) {
    if (bytes <= (size_t)1 << MIN_LOG2) return 0;
    int e = 63 - __builtin_clzll((unsigned long long)(bytes - 1));  // 2^e < bytes <= 2^(e+1)
    size_t q = (size_t)1 << (e - 2), s = (bytes - ((size_t)1 << e) + q - 1) / q;  // 1..4
    int c = (e - MIN_LOG2) * STEPS + (int)s;
    DNA_CHECK(c < CLASSES, "allocate less than 256 TiB", "CUDA pool: %zu bytes", bytes);
    return c;
}

static size_t class_bytes(int c) {
    int e = MIN_LOG2 + c / STEPS, s = c % STEPS;
    return ((size_t)1 << e) + (size_t)s * ((size_t)1 << (e - 2));
}

static size_t home(const void *p) {
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 29)) & (pool.cap - 1);
}

static void map_put(void *p, int c);

static void map_grow(void) {
    void **key = pool.key;
    int *cls = pool.cls;
    size_t cap = pool.cap;
    pool.cap = cap ? 2 * cap : 1024;
    pool.key = dna_calloc(pool.cap, sizeof *pool.key);
    pool.cls = dna_calloc(pool.cap, sizeof *pool.cls);
    pool.used = 0;
    for (size_t i = 0; i < cap; i++)
        if (key[i]) map_put(key[i], cls[i]);
    free(key);
    free(cls);
}

static void map_put(void *p, int c) {
    if (2 * (pool.used + 1) > pool.cap) map_grow();
    size_t i = home(p);
    while (pool.key[i]) i = (i + 1) & (pool.cap - 1);
    pool.key[i] = p, pool.cls[i] = c;
    pool.used++;
}

// Removes p and returns its class; backward-shift deletion keeps every probe chain whole.
static int map_take(void *p) {
    size_t mask = pool.cap - 1, i = pool.cap ? home(p) : 0;
    while (pool.cap && pool.key[i] && pool.key[i] != p) i = (i + 1) & mask;
    DNA_CHECK(pool.cap && pool.key[i] == p, "free only what the CUDA backend allocated, once",
              "CUDA pool: free of unknown pointer %p", p);
    int c = pool.cls[i];
    for (size_t j = (i + 1) & mask; pool.key[j]; j = (j + 1) & mask) {
        size_t h = home(pool.key[j]);
        // the entry at j may move to the hole at i unless its home lies in (i, j]
        int stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (!stays) pool.key[i] = pool.key[j], pool.cls[i] = pool.cls[j], i = j;
    }
    pool.key[i] = NULL;
    pool.used--;
    return c;
}

static void *device_malloc(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {  // give the cached blocks back and try once more
        (void)cudaGetLastError();
        cuda_pool_trim();
        e = cudaMalloc(&p, bytes);
    }
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        DNA_FAIL(
            "reduce the batch size or the model, or free the GPU of other processes "
            "(nvidia-smi)",
            "out of GPU memory allocating %zu bytes (%zu bytes in use by dna)", bytes,
            pool.st.live);
    }
    CUDA_CHECK(e);
    pool.st.mallocs++;
    return p;
}

void *cuda_pool_alloc(size_t bytes) {
    int c = class_of(bytes);
    size_t sz = class_bytes(c);
    FreeList *f = &pool.free[c];
    void *p;
    if (f->n) {
        p = f->p[--f->n];
        pool.st.cached -= sz;
    } else {
        p = device_malloc(sz);
    }
    map_put(p, c);
    pool.st.live += sz;
    return p;
}

void cuda_pool_free(void *p) {
    if (!p) return;
    int c = map_take(p);
    FreeList *f = &pool.free[c];
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 16;
        void **q = realloc(f->p, sizeof *q * (size_t)f->cap);
        DNA_CHECK(q, "", "out of host memory growing the CUDA pool's free list");
        f->p = q;
    }
    f->p[f->n++] = p;
    size_t sz = class_bytes(c);
    pool.st.live -= sz;
    pool.st.cached += sz;
}

CudaPoolStats cuda_pool_stats(void) {
    return pool.st;
}

void cuda_pool_trim(void) {
    for (int c = 0; c < CLASSES; c++) {
        FreeList *f = &pool.free[c];
        for (int i = 0; i < f->n; i++) CUDA_CHECK(cudaFree(f->p[i]));  // waits for the device
        pool.st.cached -= (size_t)f->n * class_bytes(c);
        f->n = 0;
    }
}
