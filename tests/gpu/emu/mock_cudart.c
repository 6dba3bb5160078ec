// Host stand-in for the CUDA runtime's memory, streams and events (tests/gpu/emu/run.sh):
// device memory is host memory, filled with garbage on cudaMalloc; streams are synchronous.
// The device queries are in mock_device.c. Checks what it is given, not speed.
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *FAKE = "fake device";
size_t mock_mallocs, mock_live;

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned f) {
    (void)f;
    *s = (cudaStream_t)FAKE;
    return cudaSuccess;
}
// streams are synchronous, so events have nothing to order
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned f) {
    (void)f;
    *e = (cudaEvent_t)FAKE;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    (void)e, (void)s;
    return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned f) {
    (void)s, (void)e, (void)f;
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    (void)s;
    return cudaSuccess;
}
cudaError_t cudaMalloc(void **p, size_t b) {
    *p = malloc(b);
    memset(*p, 0xA5, b);  // garbage, as real device memory
    mock_mallocs++;
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFree(void *p) {
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMallocHost(void **p, size_t b) {
    *p = malloc(b);
    return cudaSuccess;
}
cudaError_t cudaFreeHost(void *p) {
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t b, cudaStream_t s) {
    (void)s;
    memset(p, v, b);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t b, enum cudaMemcpyKind k,
                            cudaStream_t st) {
    (void)k, (void)st;
    memmove(d, s, b);
    return cudaSuccess;
}
cudaError_t cudaMemcpy(void *d, const void *s, size_t b, enum cudaMemcpyKind k) {
    (void)k;
    memmove(d, s, b);
    return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *a, const void *p) {
    (void)p;
    memset(a, 0, sizeof *a);
    a->type = cudaMemoryTypeUnregistered;
    return cudaSuccess;
}
cudaError_t cudaGetLastError(void) {
    return cudaSuccess;
}

// (minimal until the deferred-stream emulator)
cudaError_t cudaStreamQuery(cudaStream_t s) {
    (void)s;
    return cudaSuccess;
}
