// Benchmark rate_shared: rating every path of one cell of the default space (block 2's
// 3x48 cell: input [N,24,8,8], target [N,48,4,4], 6 ops, 216 paths) on 1000 search images in
// batches of 250 after a 64-image recalibration, with feature sharing (Alg. 1) and from
// scratch (every path recalibrated and evaluated alone). Both give the same scores (a unit
// test); this prints their times and the ratio as one "bench rate_shared ..." line.
#include <stdio.h>
#include <stdlib.h>

#include "core/ctx.h"
#include "core/timer.h"
#include "nas/rate.h"

int main(void) {
    const Backend *be = backend_cpu();
    enum { BATCH = 250, NB = 4, RECAL = 64 };
    Rng root = rng_new(0), init = rng_split(&root, 1), data = rng_split(&root, 2);
    CellCfg cfg = cell_cfg_default(24, 48, 3, 2);
    cfg.width = 48, cfg.se_ratio = 0.25f;
    Cell cell;
    cell_init(be, &cell, cfg, &init);
    Tensor xr = tensor_new(be, RECAL, 24, 8, 8), x = tensor_new(be, BATCH, 24, 8, 8),
           y = tensor_new(be, BATCH, 48, 4, 4);
    Tensor *all[] = {&xr, &x, &y};
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < tensor_numel(all[t]); i++) all[t]->data[i] = rng_normal(&data);
    long P = cell_path_count(&cfg), nodes = 0;
    double *rel = calloc((size_t)P, sizeof(double)), *sq = calloc((size_t)P, sizeof(double));
    double t0 = timer_now();
    RateStats *s = rate_recalibrate(be, &cell, (RateUnit){0, 0}, &xr);
    for (int b = 0; b < NB; b++) nodes += rate_score_batch(be, &cell, s, &x, &y, rel, sq);
    rate_stats_free(s);
    double shared = timer_now() - t0;
    t0 = timer_now();
    int path[3];
    for (long code = 0; code < P; code++) {
        path[0] = (int)(code / 36), path[1] = (int)(code / 6 % 6), path[2] = (int)(code % 6);
        cell_forward(be, &cell, path, &xr, BN_RECALIBRATE);
        for (int b = 0; b < NB; b++) be->rel_l1(cell_forward(be, &cell, path, &x, BN_EVAL), &y);
    }
    double scratch = timer_now() - t0;
    printf("bench rate_shared paths=%ld images=%d shared_s=%.2f scratch_s=%.2f speedup=%.2f "
           "layer_evals_per_batch=%ld scratch_layer_evals=%ld\n",
           P, BATCH * NB, shared, scratch, scratch / shared, nodes / NB, P * 3);
    free(rel), free(sq);
    for (int t = 0; t < 3; t++) tensor_free(be, all[t]);
    cell_free(be, &cell);
    return 0;
}
