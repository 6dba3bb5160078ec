// Whole supernet cells on both backends, built with the same seed (cell_init draws weights
// on the host and uploads them, so both start bit-identical): distillation training steps
// (forward, MSE, backward, SGD) and rating scores (relative L1 after BN recalibration).
// Tolerances: losses and scores 1e-5 relative. Per tensor, as a relative L2 error plus a
// floor (rms) for values that are 0 in exact arithmetic, where both backends return rounding
// noise (~1e-9: the bias of a BN feeding another train-mode BN gets no gradient; a BN after
// a zero-mean input has running mean 0): weights 1e-5 (floor 1e-7), gradients 1e-4 (1e-7;
// real ones have rms >= 1e-4 here), BN running statistics 1e-4 (1e-6; real means >= 7e-4).
// Per-op rounding differences (see test_gpu.c) stack up through a dozen layers and
// train-mode BNs to ~1e-6 relative; a wrong op gives errors of order 1.
#include <stdio.h>
#include <stdlib.h>

#include "core/rng.h"
#include "gpu_test.h"
#include "nas/cell.h"
#include "nas/rate.h"
#include "train/cell_step.h"

// A small cell: 2 layers of the 6 default candidates, stride 2, width 12 -> 16 outputs;
// with stem, a 3x3 stride-2 stem (3 -> 8 channels) first.
static CellCfg small_cfg(int stem) {
    CellCfg c = cell_cfg_default(stem ? 3 : 8, 16, 2, 2);
    c.width = 12;
    if (stem) c.stem = 8, c.stem_stride = 2;
    return c;
}

static int cell_out_hw(const CellCfg *c, int hw) {
    if (c->stem > 0) hw = (hw - 1) / c->stem_stride + 1;  // 3x3, padding 1
    return (hw - 1) / c->stride + 1;                      // odd k, padding k/2
}

static void compare_params(const ParamList *g, const ParamList *c, int grads, const char *tag) {
    char what[128];
    for (int i = 0; i < c->n; i++) {
        snprintf(what, sizeof what, "%s p%d %s", tag, i, c->p[i]->name);
        T_REL_L2(&g->p[i]->w, &c->p[i]->w, 1e-5, 1e-7, what);
        if (!grads) continue;
        snprintf(what, sizeof what, "%s p%d %s grad", tag, i, c->p[i]->name);
        T_REL_L2(&g->p[i]->g, &c->p[i]->g, 1e-4, 1e-7, what);
    }
}

static void compare_bns(Cell *g, Cell *c, const char *tag) {
    BatchNorm *bg[128], *bc[128];
    int n = cell_bns(c, bc, 128);
    T_CHECK(cell_bns(g, bg, 128) == n, "%s: BN counts differ", tag);
    char what[128];
    for (int i = 0; i < n; i++) {
        snprintf(what, sizeof what, "%s bn%d running mean", tag, i);
        T_REL_L2(&bg[i]->run_mean, &bc[i]->run_mean, 1e-4, 1e-6, what);
        snprintf(what, sizeof what, "%s bn%d running var", tag, i);
        T_REL_L2(&bg[i]->run_var, &bc[i]->run_var, 1e-4, 1e-6, what);
    }
}

// `steps` distillation steps along paths[t]; losses after each, then every weight, the last
// path's gradients and every BN's running statistics.
static void check_train(CellCfg cfg, int N, int hw, const int paths[][CELL_MAX_LAYERS], int steps,
                        unsigned seed, const char *tag) {
    Rng rc = rng_new(seed), rg = rng_new(seed);
    Cell cc, cg;
    cell_init(cpu(), &cc, cfg, &rc);
    cell_init(gpu(), &cg, cfg, &rg);
    int ho = cell_out_hw(&cfg, hw);
    Tensor x = h_rand(N, cfg.cin, hw, hw, seed + 1, -1, 1);
    Tensor y = h_rand(N, cfg.cout, ho, ho, seed + 2, -1, 1), dy = h_const(N, cfg.cout, ho, ho, 0);
    Tensor gx = d_of(&x), gy = d_of(&y), gdy = d_zeros(N, cfg.cout, ho, ho);
    Optim o = optim_sgd(0.05f, 0.9f, 1e-4f, 0);
    char what[128];
    for (int t = 0; t < steps; t++) {
        double lc = cell_train_step(cpu(), &cc, paths[t], &x, &y, &dy, &o, NULL);
        double lg = cell_train_step(gpu(), &cg, paths[t], &gx, &gy, &gdy, &o, NULL);
        snprintf(what, sizeof what, "%s step %d loss", tag, t);
        T_SAME_SCALAR(lg, lc, 0, 1e-5, what);
    }
    ParamList pc = {0}, pg = {0};
    cell_path_params(&cc, paths[steps - 1], &pc);
    cell_path_params(&cg, paths[steps - 1], &pg);
    compare_params(&pg, &pc, 1, tag);
    params_free(&pc), params_free(&pg);
    cell_all_params(&cc, &pc);
    cell_all_params(&cg, &pg);
    compare_params(&pg, &pc, 0, tag);
    params_free(&pc), params_free(&pg);
    compare_bns(&cg, &cc, tag);
    cell_free(cpu(), &cc);
    cell_free(gpu(), &cg);
    h_free(&x), h_free(&y), h_free(&dy);
    d_free(&gx), d_free(&gy), d_free(&gdy);
}

TEST(gpu_cell_train_step) {
    const int paths[3][CELL_MAX_LAYERS] = {{2, 4}, {0, 5}, {2, 1}};
    check_train(small_cfg(0), 4, 17, paths, 3, 6000, "cell");
    check_train(small_cfg(1), 4, 17, paths, 3, 6100, "cell+stem");
}

// the anchor workload's cell (shared/anchors: 4 layers, 24 -> 40 channels, stride 2) at a
// quarter of its batch: the real channel counts and map sizes of a training step
TEST(gpu_cell_anchor_shape_step) {
    const int paths[1][CELL_MAX_LAYERS] = {{2, 5, 1, 3}};
    check_train(cell_cfg_default(24, 40, 4, 2), 16, 32, paths, 1, 6200, "anchor cell");
}

// Rating (rate.h): recalibrate every node's BNs on one batch, then score every path of the
// cell on another; scores and squared errors per path as on the CPU.
TEST(gpu_cell_rating) {
    CellCfg cfg = small_cfg(1);
    Rng rc = rng_new(6300), rg = rng_new(6300);
    Cell cc, cg;
    cell_init(cpu(), &cc, cfg, &rc);
    cell_init(gpu(), &cg, cfg, &rg);
    int ho = cell_out_hw(&cfg, 17);
    Tensor xr = h_rand(8, cfg.cin, 17, 17, 6301, -1, 1),
           xs = h_rand(6, cfg.cin, 17, 17, 6302, -1, 1);
    Tensor ys = h_rand(6, cfg.cout, ho, ho, 6303, -1, 1);
    Tensor gxr = d_of(&xr), gxs = d_of(&xs), gys = d_of(&ys);
    RateUnit u = {0, 0};
    long np = rate_unit_paths(&cfg, u);
    double *rel_c = calloc((size_t)np, sizeof(double)), *sq_c = calloc((size_t)np, sizeof(double));
    double *rel_g = calloc((size_t)np, sizeof(double)), *sq_g = calloc((size_t)np, sizeof(double));
    RateStats *sc = rate_recalibrate(cpu(), &cc, u, &xr);
    RateStats *sg = rate_recalibrate(gpu(), &cg, u, &gxr);
    long nc = rate_score_batch(cpu(), &cc, sc, &xs, &ys, rel_c, sq_c);
    long ng = rate_score_batch(gpu(), &cg, sg, &gxs, &gys, rel_g, sq_g);
    T_CHECK(nc == ng, "nodes computed: %ld on the GPU, %ld on the CPU", ng, nc);
    double worst = 0.0;
    for (long i = 0; i < np; i++) {
        double d = fabs(rel_g[i] - rel_c[i]) / (1e-5 * fabs(rel_c[i]));
        if (d > worst) worst = d;
        T_NEAR(rel_g[i], rel_c[i], 0, 1e-5, "relative L1 score of a path");
        T_NEAR(sq_g[i], sq_c[i], 0, 1e-5, "squared error of a path");
    }
    if (getenv("GPU_TEST_VERBOSE")) printf("      rating scores: worst %.3f of tolerance\n", worst);
    compare_bns(&cg, &cc, "rating");  // the last node's recalibrated statistics
    rate_stats_free(sc), rate_stats_free(sg);
    free(rel_c), free(sq_c), free(rel_g), free(sq_g);
    cell_free(cpu(), &cc);
    cell_free(gpu(), &cg);
    h_free(&xr), h_free(&xs), h_free(&ys);
    d_free(&gxr), d_free(&gxs), d_free(&gys);
}
