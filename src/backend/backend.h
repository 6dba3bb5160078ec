// Which backend a run uses, and which device: `[run] backend` (or --backend) is cpu, cuda or
// auto. Auto takes CUDA when this binary was built with it (make CUDA=1) and a device is
// visible, else the CPU, and says which and why. A rank drives the device local_rank mod the
// visible count (doc/design.md §6), so a node running as many ranks as it has GPUs gives
// each rank its own.
#pragma once
#include "core/ctx.h"
#include "tensor/ops.h"

// The CPU backend's op table (src/backend/cpu): always built, the reference for the others.
const Backend *backend_cpu(void);

// Sets ctx->be and ctx->device (-1 on the CPU). Fatal, naming the fix, for an unknown name or
// for "cuda" in a binary without CUDA, on a node without a visible device, or when the CUDA
// runtime fails (the driver's error and string); "auto" then warns and takes the CPU.
// Calling it again with the same answer is a no-op. On several ranks it is collective
// (ctx->allgather): rank 0 warns once when ranks share a device or differ in backend.
void backend_use(RunCtx *ctx, const char *name);

// Where a rank runs, as the decisions that involve several ranks need it (backend_use's
// warning, par_sum's choice of NCCL). Plain bytes, so it travels in an allgather.
typedef struct BackendPlace {
    char host[64];
    unsigned char uuid[BACKEND_UUID_BYTES];  // the device's; all zero without one (the CPU)
    char backend[16];                        // its name
    int rank;                                // world rank
    int comm;                                // the backend has device collectives (NCCL)
} BackendPlace;
BackendPlace backend_place(const Backend *be, int rank);
// 1 when the two places are one device: same host, same UUID (and a device at all).
int backend_same_device(const BackendPlace *a, const BackendPlace *b);
// "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as nvidia-smi -L and CUDA_VISIBLE_DEVICES name it.
void backend_uuid_text(const unsigned char uuid[BACKEND_UUID_BYTES], char out[48]);
