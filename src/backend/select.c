// Backend choice and device placement (backend.h). The only file outside src/backend/cuda
// that knows whether this binary has CUDA.
#include "backend/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#ifdef DNA_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

BackendPlace backend_place(const Backend *be, int rank) {
    BackendPlace p;
    memset(&p, 0, sizeof p);  // the padding too: the bytes travel and are compared
    gethostname(p.host, sizeof p.host - 1);
    snprintf(p.backend, sizeof p.backend, "%s", be->name);
    p.rank = rank;
    p.comm = be->comm_new != NULL;
    if (be->device_uuid) be->device_uuid(p.uuid);
    return p;
}

int backend_same_device(const BackendPlace *a, const BackendPlace *b) {
    static const unsigned char none[BACKEND_UUID_BYTES];
    return memcmp(a->uuid, none, sizeof none) && !memcmp(a->uuid, b->uuid, sizeof none) &&
           !strcmp(a->host, b->host);
}

void backend_uuid_text(const unsigned char u[BACKEND_UUID_BYTES], char out[48]) {
    snprintf(out, 48, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}

// Rank 0's warnings about every rank's place (all[n]): ranks that share a device, on any
// host (one pair named per host), and ranks on another backend than rank 0's.
static void warn_places(const RunCtx *ctx, const BackendPlace *all, int n) {
    char list[700] = "";
    size_t len = 0;
    int hosts = 0;
    char *named = dna_calloc((size_t)n, 1);  // on a host already counted
    for (int i = 0; i < n; i++) {
        int j = i + 1;
        while (!named[i] && j < n && !backend_same_device(&all[i], &all[j])) j++;
        if (named[i] || j == n) continue;
        for (int k = i; k < n; k++) named[k] |= !strcmp(all[k].host, all[i].host);
        if (hosts++ < 3) {
            char uuid[48];
            backend_uuid_text(all[i].uuid, uuid);
            len += (size_t)snprintf(list + len, sizeof list - len,
                                    "%sranks %d and %d on %s of host %s", hosts > 1 ? "; " : "",
                                    all[i].rank, all[j].rank, uuid, all[i].host);
        }
    }
    free(named);
    if (hosts)
        log_warn(ctx,
                 "backend %s: ranks share a GPU on %d host(s): %s%s; start one rank per GPU "
                 "(srun --gpus-per-task=1, or as many ranks per node as GPUs) for full speed, "
                 "and for NCCL, which refuses two ranks on one GPU (rank groups then sum "
                 "through the host)",
                 all[0].backend, hosts, list, hosts > 3 ? "; ..." : "");
    int other = -1, count = 0;
    for (int r = 0; r < n; r++)
        if (strcmp(all[r].backend, all[0].backend)) count++, other = other < 0 ? r : other;
    if (count)
        log_warn(ctx,
                 "ranks differ in backend: %d rank(s) run on another one than rank 0's %s, "
                 "rank %d on %s (host %s): check the visible GPUs of every node, or set "
                 "--backend cpu or cuda; rank groups mixing them sum through the host",
                 count, all[0].backend, all[other].rank, all[other].backend, all[other].host);
}

void backend_use(RunCtx *ctx, const char *name) {
    DNA_CHECK(!strcmp(name, "cpu") || !strcmp(name, "cuda") || !strcmp(name, "auto"),
              "set run.backend (or --backend) to cpu, cuda or auto", "unknown backend '%s'", name);
    // what rank 0 last said it chose: the same answer again says nothing
    static struct {
        const Backend *be;
        int device;
    } told = {NULL, -2};
    int automatic = !strcmp(name, "auto");
    char why[300] = "";
    ctx->be = backend_cpu();
    ctx->device = -1;
#ifdef DNA_CUDA
    if (strcmp(name, "cpu")) {
        CudaDevices d = cuda_devices();
        DNA_CHECK(automatic || !d.failed, d.hint,
                  "backend cuda: the CUDA runtime failed on rank %d: %s", ctx->rank, d.why);
        DNA_CHECK(automatic || d.count > 0,
                  "run on a GPU node (check nvidia-smi and CUDA_VISIBLE_DEVICES, or sbatch "
                  "--gpus-per-node), or set run.backend=cpu",
                  "backend cuda: no CUDA device is visible to rank %d (%s)", ctx->rank, d.why);
        if (d.failed && ctx->local_rank == 0)
            log_warn(ctx,
                     "backend auto: the CUDA runtime failed (%s), so this run takes the CPU; "
                     "fix: %s",
                     d.why, d.hint);
        if (d.count > 0) {
            ctx->device = ctx->local_rank % d.count;
            ctx->be = backend_cuda(ctx->device);
            cuda_conv_ctx(ctx);
            snprintf(why, sizeof why, "%d device(s) visible", d.count);
        } else {
            snprintf(why, sizeof why, "%s: %s", d.failed ? "CUDA failed" : "no CUDA device", d.why);
        }
    }
#else
    DNA_CHECK(strcmp(name, "cuda"),
              "rebuild with `make CUDA=1` (binary build/cuda/bin/dna) or set run.backend=cpu",
              "backend cuda: this dna was built without CUDA");
    snprintf(why, sizeof why, "this dna was built without CUDA");
#endif
    int first = told.be != ctx->be || told.device != ctx->device;
    told.be = ctx->be, told.device = ctx->device;
    if (first && automatic) log_info(ctx, "backend auto: %s (%s)", ctx->be->name, why);
    if (first && ctx->device >= 0)
        log_info(ctx, "backend cuda: device %d on rank 0, %d rank(s) on its node; %s", ctx->device,
                 ctx->local_size, ctx->be->lib_version());
    if (ctx->nranks < 2 || !ctx->allgather) return;
    // collective on every call (whether a rank has something new to say is its own)
    BackendPlace me = backend_place(ctx->be, ctx->rank);
    BackendPlace *all = dna_malloc(sizeof *all * (size_t)ctx->nranks);
    ctx->allgather(&me, all, sizeof me);
    if (first && ctx->rank == 0) warn_places(ctx, all, ctx->nranks);
    free(all);
}
