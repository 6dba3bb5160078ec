// Host stand-in for the CUDA runtime's device queries (count, current device, attributes,
// properties with the device UUID, versions, error names) of the emulated device
// (tests/gpu/emu/run.sh). The environment stages what a real node would show:
//   EMU_GPUS=N              N visible devices (default 1)
//   EMU_NODEV=1             none: cudaGetDeviceCount fails with cudaErrorNoDevice
//   EMU_DEVICE_ERROR=NAME   cudaGetDeviceCount fails with that error (a driver too old,
//                           a mismatched kernel module, ...): cudaErrorInsufficientDriver
//   EMU_GPU_PER_RANK=1      every MPI rank has devices of its own (srun --gpus-per-task=1);
//                           by default the ranks of a host see the same ones (a 1-GPU node)
// A device's UUID is made from the host name, its index and (EMU_GPU_PER_RANK) the world
// rank, so the NCCL stand-in can refuse two ranks on one device as NCCL does.
#define _DEFAULT_SOURCE  // gethostname
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// name, string: those of the real runtime, for the errors the emulator can produce
#define EMU_ERRORS(X)                                                                              \
    X(cudaSuccess, "no error")                                                                     \
    X(cudaErrorInvalidValue, "invalid argument")                                                   \
    X(cudaErrorMemoryAllocation, "out of memory")                                                  \
    X(cudaErrorInitializationError, "initialization error")                                        \
    X(cudaErrorInvalidConfiguration, "invalid configuration argument")                             \
    X(cudaErrorInsufficientDriver, "CUDA driver version is insufficient for CUDA runtime version") \
    X(cudaErrorNoDevice, "no CUDA-capable device is detected")                                     \
    X(cudaErrorInvalidDevice, "invalid device ordinal")                                            \
    X(cudaErrorSystemDriverMismatch,                                                               \
      "system has unsupported display driver / cuda driver combination")                           \
    X(cudaErrorCompatNotSupportedOnDevice,                                                         \
      "forward compatibility was attempted on non supported HW")                                   \
    X(cudaErrorDevicesUnavailable, "CUDA-capable device(s) is/are busy or unavailable")            \
    X(cudaErrorNotReady, "device not ready")                                                       \
    X(cudaErrorLaunchOutOfResources, "too many resources requested for launch")                    \
    X(cudaErrorNoKernelImageForDevice, "no kernel image is available for execution on the device")

static int current;  // cudaSetDevice's

static int world_rank(void) {
    int up = 0, down = 0, r = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

cudaError_t cudaGetDeviceCount(int *n) {
    *n = 0;
    const char *e = getenv("EMU_DEVICE_ERROR");
    if (e && *e) {
#define NAMED(code, text) \
    if (!strcmp(e, #code)) return code;
        EMU_ERRORS(NAMED)
#undef NAMED
        return cudaErrorUnknown;
    }
    if (getenv("EMU_NODEV")) return cudaErrorNoDevice;
    const char *g = getenv("EMU_GPUS");
    *n = g ? atoi(g) : 1;
    return *n > 0 ? cudaSuccess : cudaErrorNoDevice;
}
cudaError_t cudaSetDevice(int d) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) return e;
    if (d < 0 || d >= n) return cudaErrorInvalidDevice;
    current = d;
    return cudaSuccess;
}
cudaError_t cudaGetDevice(int *d) {
    *d = current;
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
    memset(p, 0, sizeof *p);
    strcpy(p->name, "emulated GPU");
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    unsigned h = 2166136261u;  // FNV-1a of the host name
    for (const char *c = host; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
    int rank = getenv("EMU_GPU_PER_RANK") ? world_rank() : 0;
    unsigned char *u = (unsigned char *)p->uuid.bytes;
    memcpy(u, "emu:", 4);
    memcpy(u + 4, &h, 4);
    memcpy(u + 8, &d, 4);
    memcpy(u + 12, &rank, 4);
    return cudaSuccess;
}
const char *cudaGetErrorName(cudaError_t e) {
#define NAME(code, text) \
    if (e == code) return #code;
    EMU_ERRORS(NAME)
#undef NAME
    return "cudaErrorMock";
}
const char *cudaGetErrorString(cudaError_t e) {
#define TEXT(code, text) \
    if (e == code) return text;
    EMU_ERRORS(TEXT)
#undef TEXT
    return "mock error";
}
