// For --asan runs: the pool as plain cudaMalloc/cudaFree of exact sizes, so that a kernel
// writing past a tensor's end is caught (the real pool rounds sizes up to a class).
#include <stdlib.h>

#include "backend/cuda/cuda_internal.h"
static CudaPoolStats st;
void *cuda_pool_alloc(size_t b) {
    st.mallocs++;
    void *p = NULL;
    CUDA_CHECK(cudaMalloc(&p, b ? b : 1));
    return p;
}
void cuda_pool_free(void *p) {
    CUDA_CHECK(cudaFree(p));
}
CudaPoolStats cuda_pool_stats(void) {
    return st;
}
void cuda_pool_trim(void) {}
