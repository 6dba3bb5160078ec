// Benchmark rate_shared: rating every path of one cell with feature sharing (Alg. 1) and
// from scratch (every path recalibrated and evaluated alone). Both give the same scores (a
// unit test); this prints their times and the ratio as one "bench rate_shared ..." line.
//  default: block 2's 3x48 cell of the default space (input [N,24,8,8], target [N,48,4,4],
//    6 ops, 216 paths) on 1000 search images in batches of 250 after a 64-image
//    recalibration;
//  --w3: the anchors' W3 workload (../shared/anchors/README.md): the W1 cell (4 layers,
//    1296 paths), one batch [64,24,32,32], paths/s; every path's BN statistics are
//    recalibrated on a 64-image batch first (the anchor evaluates with fixed statistics),
//    and the from-scratch run is left out (minutes).
// Usage: bench_rate_shared [--w3] [--backend cpu|cuda|auto]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "backend/backend.h"
#include "core/ctx.h"
#include "core/timer.h"
#include "nas/rate.h"

int main(int argc, char **argv) {
    RunCtx ctx = ctx_local(backend_cpu(), 0);
    const char *want = "cpu";
    int w3 = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc)
            want = argv[++i];
        else if (!strcmp(argv[i], "--w3"))
            w3 = 1;
        else
            return fprintf(stderr, "usage: bench_rate_shared [--w3] [--backend B]\n"), 2;
    }
    backend_use(&ctx, want);
    const Backend *be = ctx.be;
    int batch = w3 ? 64 : 250, nb = w3 ? 1 : 4, recal = 64, layers = w3 ? 4 : 3;
    int cout = w3 ? 40 : 48, hw = w3 ? 32 : 8;
    Rng root = rng_new(0), init = rng_split(&root, 1), data = rng_split(&root, 2);
    CellCfg cfg = cell_cfg_default(24, cout, layers, 2);
    if (!w3) cfg.width = 48, cfg.se_ratio = 0.25f;
    Cell cell;
    cell_init(be, &cell, cfg, &init);
    Tensor xr = tensor_new(be, recal, 24, hw, hw), x = tensor_new(be, batch, 24, hw, hw),
           y = tensor_new(be, batch, cout, hw / 2, hw / 2);
    Tensor *all[] = {&xr, &x, &y};
    for (int t = 0; t < 3; t++) {
        float *h = malloc(sizeof(float) * tensor_numel(all[t]));
        for (size_t i = 0; i < tensor_numel(all[t]); i++) h[i] = rng_normal(&data);
        tensor_upload(be, all[t], h);
        free(h);
    }
    long P = cell_path_count(&cfg), nodes = 0;
    double *rel = calloc((size_t)P, sizeof(double)), *sq = calloc((size_t)P, sizeof(double));
    double t0 = timer_now();
    RateStats *s = rate_recalibrate(be, &cell, (RateUnit){0, 0}, &xr);
    for (int b = 0; b < nb; b++) nodes += rate_score_batch(be, &cell, s, &x, &y, rel, sq);
    rate_stats_free(s);
    double shared = timer_now() - t0, scratch = 0;
    if (!w3) {
        t0 = timer_now();
        int path[3];
        for (long code = 0; code < P; code++) {
            path[0] = (int)(code / 36), path[1] = (int)(code / 6 % 6), path[2] = (int)(code % 6);
            cell_forward(be, &cell, path, &xr, BN_RECALIBRATE);
            for (int b = 0; b < nb; b++)
                be->rel_l1(cell_forward(be, &cell, path, &x, BN_EVAL), &y);
        }
        scratch = timer_now() - t0;
    }
    printf("bench rate_shared%s backend=%s paths=%ld images=%d shared_s=%.2f paths_per_s=%.1f",
           w3 ? "_w3" : "", be->name, P, batch * nb, shared, P / shared);
    if (!w3)
        printf(" scratch_s=%.2f speedup=%.2f", scratch, scratch / shared);
    printf(" layer_evals_per_batch=%ld peak_rss_MB=%.0f\n", nodes / nb, bench_peak_rss_mb());
    free(rel), free(sq);
    for (int t = 0; t < 3; t++) tensor_free(be, all[t]);
    cell_free(be, &cell);
    return 0;
}
