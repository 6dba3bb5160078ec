// Benchmark shard_read: feature shards of the W1 workload (input [24,32,32], target
// [40,16,16], float16, chunk 64) written to a temp dir, then (a) the reader's raw throughput
// (fp32 bytes delivered per second, shuffled) and (b) the W1 cell trained on its batches:
// the share of step time spent waiting for data. One "bench shard_read key=value ..." line.
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "backend/backend.h"
#include "core/ctx.h"
#include "core/timer.h"
#include "io/shard.h"
#include "nas/cell.h"
#include "train/cell_step.h"

enum { N = 4096, CHUNK = 64, BATCH = 64, CIN = 24, HIN = 32, COUT = 40, HOUT = 16 };

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

// Values ~ U(-2, 2) from a cheap LCG: filling 140M floats with rng_normal would dominate.
static void fill(float *x, size_t n, uint32_t seed) {
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) * 0x1p-22f - 2.0f;
    }
}

static double write_shards(const char *dir, int deflate) {
    ShardSpec spec = {.nblocks = 1, .fp16 = 1, .chunk = CHUNK, .deflate = deflate};
    int dims[2][3] = {{CIN, HIN, HIN}, {COUT, HOUT, HOUT}};
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 3; j++) spec.dims[k][j] = dims[k][j];
    size_t ein = (size_t)CIN * HIN * HIN, eout = (size_t)COUT * HOUT * HOUT;
    float *x = malloc(sizeof(float) * ein * 256), *y = malloc(sizeof(float) * eout * 256);
    int32_t lab[256];
    ShardRange rg[16];
    double t0 = timer_now();
    int nr = shard_plan(N, CHUNK, 1024, 0, 1, rg, 16);
    for (int i = 0; i < nr; i++) {
        char path[1024];
        shard_path(path, sizeof path, dir, 0, rg[i].file);
        ShardWriter *w = shard_writer_open(path, &spec, rg[i].first, rg[i].count, N, NULL);
        for (long r = 0; r < rg[i].count; r += 256) {
            int m = (int)(rg[i].count - r < 256 ? rg[i].count - r : 256);
            fill(x, ein * (size_t)m, (uint32_t)(rg[i].first + r));
            fill(y, eout * (size_t)m, (uint32_t)(rg[i].first + r) + 7);
            for (int j = 0; j < m; j++) lab[j] = (int32_t)((rg[i].first + r + j) % 10);
            shard_writer_put(w, 0, r, m, x);
            shard_writer_put(w, 1, r, m, y);
            shard_writer_put_meta(w, r, m, lab);
        }
        shard_writer_close(w);
    }
    free(x);
    free(y);
    return timer_now() - t0;
}

int main(int argc, char **argv) {
    // Usage: bench_shard_read [steps [deflate level]]
    int steps = argc > 1 ? atoi(argv[1]) : 30, deflate = argc > 2 ? atoi(argv[2]) : 0, warmup = 3;
    char dir[] = "/tmp/dna_bench_shard_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    double write_s = write_shards(dir, deflate);
    ShardReaderCfg cfg = {.block = 1,
                          .batch = BATCH,
                          .nparts = 1,
                          .shuffle = 1,
                          .window = 8,
                          .drop_last = 1,
                          .seed = 1};
    int ein[3] = {CIN, HIN, HIN}, eout[3] = {COUT, HOUT, HOUT};
    ShardReader *r = shard_reader_open(dir, &cfg, ein, eout);
    const float *x, *y;
    int n;
    // (a) Raw throughput: one shuffled epoch, the consumer doing nothing.
    double t0 = timer_now(), bytes = 0;
    shard_reader_start_epoch(r, 0, 0);
    while ((n = shard_reader_next(r, &x, &y, NULL, NULL)) > 0)
        bytes += (double)n * (CIN * HIN * HIN + COUT * HOUT * HOUT) * sizeof(float);
    double read_mbps = bytes / (timer_now() - t0) / 1e6;

    // (b) The W1 cell trained on the reader's batches.
    const Backend *be = backend_cpu();
    Rng root = rng_new(0), init = rng_split(&root, 1), paths = rng_split(&root, 3);
    Cell cell;
    cell_init(be, &cell, cell_cfg_default(CIN, COUT, 4, 2), &init);
    Tensor tx = tensor_new(be, BATCH, CIN, HIN, HIN), ty = tensor_new(be, BATCH, COUT, HOUT, HOUT);
    Tensor dy = tensor_new(be, BATCH, COUT, HOUT, HOUT);
    Optim opt = optim_adam(0.005f, 0.0f);
    double wait = 0, total = 0, loss = 0;
    shard_reader_start_epoch(r, 1, 0);
    for (int s = 0; s < warmup + steps; s++) {
        double t1 = timer_now();
        n = shard_reader_next(r, &x, &y, NULL, NULL);
        if (n == 0) {  // epoch end: the next one starts its prefetch now, which we wait for
            shard_reader_start_epoch(r, 2 + s, 0);
            n = shard_reader_next(r, &x, &y, NULL, NULL);
        }
        double t2 = timer_now();
        tensor_upload(be, &tx, x);
        tensor_upload(be, &ty, y);
        int path[4];
        for (int i = 0; i < 4; i++) path[i] = (int)rng_below(&paths, 6);
        loss = cell_train_step(be, &cell, path, &tx, &ty, &dy, &opt, NULL);
        if (s >= warmup) wait += t2 - t1, total += timer_now() - t1;
    }
    printf(
        "bench shard_read read_MBps=%.0f batch=%d wait_frac=%.3f steps=%d ms_per_step=%.1f "
        "samples=%d chunk=%d window=%d dtype=float16 deflate=%d write_s=%.2f peak_MB=%.1f "
        "last_loss=%.4f peak_rss_MB=%.0f\n",
        read_mbps, BATCH, wait / total, steps, 1e3 * total / steps, N, CHUNK, cfg.window, deflate,
        write_s, (double)shard_reader_peak_bytes(r) / 1e6, loss, bench_peak_rss_mb());
    shard_reader_free(r);
    tensor_free(be, &tx);
    tensor_free(be, &ty);
    tensor_free(be, &dy);
    cell_free(be, &cell);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}
