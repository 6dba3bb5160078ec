// `dna shards`: reads every split's shards back in global sample order and prints, per
// dataset, the sample count and an FNV-1a digest of the fp32 values: equal digests mean
// equal content however the shards were partitioned (a check after copying them elsewhere,
// and the 1-rank vs 2-rank test).
#include <stdio.h>

#include "core/hash.h"
#include "io/shard.h"
#include "io/teacher.h"
#include "stages/stages.h"

static void digest(const RunCtx *ctx, const Config *cfg) {
    char path[1100];
    config_run_path(cfg, "teacher.h5", path, sizeof path);
    Teacher t;
    teacher_load(ctx->be, path, &t);
    for (int s = 0; s < SHARD_NSPLITS; s++) {
        char sub[64];
        snprintf(sub, sizeof sub, "features/%s", SHARD_SPLITS[s]);
        config_run_path(cfg, sub, path, sizeof path);
        for (int k = 1; k <= t.net.cfg.nblocks; k++) {
            ShardReaderCfg rc = {.block = k, .batch = 256, .nparts = 1};
            ShardReader *r = shard_reader_open(path, &rc, NULL, NULL);
            shard_reader_start_epoch(r, 0, 0);
            const EffNet *e = &t.net;
            size_t in = k == 1
                            ? (size_t)e->cfg.cin * t.in_hw * t.in_hw
                            : (size_t)e->block_c[k - 2] * e->block_hw[k - 2] * e->block_hw[k - 2];
            size_t out = (size_t)e->block_c[k - 1] * e->block_hw[k - 1] * e->block_hw[k - 1];
            uint64_t hx = FNV1A_INIT, hy = hx, hl = hx;
            long n = 0;
            const float *x, *y;
            const int32_t *lab;
            const int64_t *ids;
            for (int b; (b = shard_reader_next(r, &x, &y, &lab, &ids)) > 0; n += b) {
                if (k == 1) hx = fnv1a(hx, x, sizeof(float) * in * b);
                hy = fnv1a(hy, y, sizeof(float) * out * b);
                hl = fnv1a(fnv1a(hl, lab, sizeof(int32_t) * b), ids, sizeof(int64_t) * b);
            }
            if (k == 1)
                printf("shards %s /x n=%ld digest=%016llx labels+ids=%016llx\n", SHARD_SPLITS[s], n,
                       (unsigned long long)hx, (unsigned long long)hl);
            printf("shards %s /block%d n=%ld digest=%016llx\n", SHARD_SPLITS[s], k, n,
                   (unsigned long long)hy);
            shard_reader_free(r);
        }
    }
    teacher_free(ctx->be, &t);
}

static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    (void)all;
    Config cfg;
    runner_args(ctx, NULL, argc, argv, &cfg);
    if (ctx->rank == 0) digest(ctx, &cfg);
    return 0;
}

const Stage STAGE_SHARDS = {
    .name = "shards",
    .help = "read the feature shards back and print a content digest per dataset",
    .command = command,
};
