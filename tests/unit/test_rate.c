// Rating with feature sharing must give exactly the scores of rating every path from
// scratch (recalibrate the path's BNs on the fixed batch, then score each batch in eval
// mode): the same operations on the same inputs, so bitwise, for the whole cell and for the
// subtrees (units) ranks split it into.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "harness.h"
#include "nas/rate.h"

static Tensor randn(const Backend *be, int n, int c, int h, int w, Rng *r) {
    Tensor t = tensor_new(be, n, c, h, w);
    for (size_t i = 0; i < tensor_numel(&t); i++) t.data[i] = rng_normal(r);
    return t;
}

static void check_cell(CellCfg cfg, const char *what) {
    const Backend *be = backend_cpu();
    Rng init = rng_new(3), data = rng_new(4);
    Cell c;
    cell_init(be, &c, cfg, &init);
    int in_c = cfg.cin, hw = 8, out_hw = (hw + cfg.stride - 1) / cfg.stride;
    if (cfg.stem) out_hw = (out_hw + cfg.stem_stride - 1) / cfg.stem_stride;
    Tensor xr = randn(be, 8, in_c, hw, hw, &data);
    Tensor x[2] = {randn(be, 6, in_c, hw, hw, &data), randn(be, 5, in_c, hw, hw, &data)};
    Tensor y[2] = {randn(be, 6, cfg.cout, out_hw, out_hw, &data),
                   randn(be, 5, cfg.cout, out_hw, out_hw, &data)};
    long P = cell_path_count(&cfg);
    double *rel = calloc((size_t)P, sizeof(double)), *sq = calloc((size_t)P, sizeof(double));
    double *rel_u = calloc((size_t)P, sizeof(double)), *sq_u = calloc((size_t)P, sizeof(double));
    // whole cell in one walk
    RateStats *s = rate_recalibrate(be, &c, (RateUnit){0, 0}, &xr);
    for (int b = 0; b < 2; b++) rate_score_batch(be, &c, s, &x[b], &y[b], rel, sq);
    rate_stats_free(s);
    // the same cell split into units of depth 2 (what many ranks would do)
    RateUnit u = {2, 0};
    for (u.prefix = 0; u.prefix < cfg.nops * cfg.nops; u.prefix++) {
        long first = rate_unit_first(&cfg, u);
        s = rate_recalibrate(be, &c, u, &xr);
        for (int b = 0; b < 2; b++) rate_score_batch(be, &c, s, &x[b], &y[b], rel_u + first, sq_u + first);
        rate_stats_free(s);
    }
    // every path from scratch
    int path[CELL_MAX_LAYERS], bad = 0, bad_u = 0;
    for (long code = 0; code < P; code++) {
        long k = code;
        for (int l = cfg.layers - 1; l >= 0; l--) path[l] = (int)(k % cfg.nops), k /= cfg.nops;
        cell_forward(be, &c, path, &xr, BN_RECALIBRATE);
        double r = 0, q = 0;
        for (int b = 0; b < 2; b++) {
            const Tensor *o = cell_forward(be, &c, path, &x[b], BN_EVAL);
            r += be->rel_l1(o, &y[b]);
            q += be->mse(o, &y[b], NULL) * o->n;
        }
        bad += r != rel[code] || q != sq[code];
        bad_u += r != rel_u[code] || q != sq_u[code];
        T_CHECK(isfinite(r) && r > 0, "%s: path %ld score %g", what, code, r);
    }
    T_CHECK(bad == 0, "%s: %d of %ld paths differ from scratch (shared walk)", what, bad, P);
    T_CHECK(bad_u == 0, "%s: %d of %ld paths differ from scratch (units)", what, bad_u, P);
    free(rel), free(sq), free(rel_u), free(sq_u);
    Tensor *all[] = {&xr, &x[0], &x[1], &y[0], &y[1]};
    for (int i = 0; i < 5; i++) tensor_free(be, all[i]);
    cell_free(be, &c);
}

TEST(rate_shared_equals_scratch_3_layers_stem) {
    CellCfg cfg = cell_cfg_default(2, 6, 3, 2);
    cfg.width = 5, cfg.stem = 4, cfg.stem_stride = 1, cfg.se_ratio = 0.25f;
    check_cell(cfg, "3 layers + stem");
}

TEST(rate_shared_equals_scratch_4_layers) {
    CellCfg cfg = cell_cfg_default(3, 4, 4, 1);  // stride 1, in != out: residuals from layer 1
    cfg.width = 4, cfg.se_ratio = 0.25f;
    cfg.nops = 4;  // 256 paths
    check_cell(cfg, "4 layers");
}
