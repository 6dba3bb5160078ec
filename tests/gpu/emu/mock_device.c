// Host stand-in for the CUDA runtime's device queries (count, attributes, properties,
// versions, error names) of the emulated device (tests/gpu/emu/run.sh).
#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>

cudaError_t cudaGetDeviceCount(int *n) {
    *n = getenv("EMU_NODEV") ? 0 : 1;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) {
    (void)d;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *v, enum cudaDeviceAttr a, int d) {
    (void)d;
    *v = a == cudaDevAttrMultiProcessorCount ? 16 : a == cudaDevAttrComputeCapabilityMajor ? 9 : 0;
    return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int *v) {
    *v = 13000;
    return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int *v) {
    *v = 13000;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int d) {
    (void)d;
    memset(p, 0, sizeof *p);
    strcpy(p->name, "emulated GPU");
    return cudaSuccess;
}
const char *cudaGetErrorName(cudaError_t e) {
    (void)e;
    return "cudaErrorMock";
}
const char *cudaGetErrorString(cudaError_t e) {
    (void)e;
    return "mock error";
}
