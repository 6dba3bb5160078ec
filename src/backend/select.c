// Backend choice and device placement (backend.h). The only file outside src/backend/cuda
// that knows whether this binary has CUDA.
#include "backend/backend.h"

#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "tensor/ops.h"
#ifdef DNA_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

// Devices this process sees (0 in a CPU-only build or without a driver).
static int cuda_devices(void) {
#ifdef DNA_CUDA
    return cuda_device_count();
#else
    return 0;
#endif
}

void backend_use(RunCtx *ctx, const char *name) {
    DNA_CHECK(!strcmp(name, "cpu") || !strcmp(name, "cuda") || !strcmp(name, "auto"),
              "set run.backend (or --backend) to cpu, cuda or auto", "unknown backend '%s'", name);
    int ndev = cuda_devices();
    int cuda = !strcmp(name, "cuda") || (!strcmp(name, "auto") && ndev > 0);
    if (!cuda) {
        ctx->be = backend_cpu();
        ctx->device = -1;
        return;
    }
#ifdef DNA_CUDA
    DNA_CHECK(ndev > 0,
              "run on a GPU node (check nvidia-smi and CUDA_VISIBLE_DEVICES, or sbatch "
              "--gpus-per-node), or set run.backend=cpu",
              "backend cuda: no CUDA device is visible to rank %d", ctx->rank);
    int device = ctx->local_rank % ndev;
    int first = ctx->device != device || !ctx->be || strcmp(ctx->be->name, "cuda");
    ctx->be = backend_cuda(device);
    ctx->device = device;
    cuda_conv_ctx(ctx);
    if (!first) return;
    log_info(ctx, "backend cuda: %d rank(s) on rank 0's node, %d visible device(s); %s",
             ctx->local_size, ndev, ctx->be->lib_version());
    if (ctx->local_size > ndev)
        log_warn(ctx, "backend cuda: %d ranks share %d device(s) on rank 0's node; start one rank "
                 "per GPU for full speed", ctx->local_size, ndev);
#else
    DNA_FAIL("rebuild with `make CUDA=1` (binary build/cuda/bin/dna) or set run.backend=cpu",
             "backend cuda: this dna was built without CUDA");
#endif
}
