// Rating with feature sharing must give exactly the scores of rating every path from
// scratch (recalibrate the path's BNs on the fixed batch, then score each batch in eval
// mode): the same operations on the same inputs, so bitwise, for the whole cell and for the
// subtrees (units) ranks split it into. The same with DNA++'s projector on every path's
// output, its BN recalibrated per path too.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "harness.h"
#include "nas/rate.h"
#include "nn/projector.h"

static Tensor randn(const Backend *be, int n, int c, int h, int w, Rng *r) {
    Tensor t = tensor_new(be, n, c, h, w);
    for (size_t i = 0; i < tensor_numel(&t); i++) t.data[i] = rng_normal(r);
    return t;
}

// DNA++'s projector on the cell's output: BN's affine and running statistics drawn, so that
// eval mode with stale statistics differs from eval mode with recalibrated ones.
static void proj_init(const Backend *be, Projector *p, int cin, unsigned seed) {
    Rng r = rng_new(seed);
    projector_init(be, p, cin, 6, 4, &r);
    for (int i = 0; i < p->hidden; i++) {
        p->bn.gamma.w.data[i] = 0.5f + rng_uniform(&r);
        p->bn.beta.w.data[i] = rng_uniform(&r) - 0.5f;
        p->bn.run_mean.data[i] = rng_normal(&r);
        p->bn.run_var.data[i] = 0.2f + 2 * rng_uniform(&r);
    }
}

// Path `code`'s scores from scratch: the path's BNs (and the projector's, when p) recalibrated
// on xr, then each batch in eval mode. once: the projector is not recalibrated here (it keeps
// whatever statistics it has), a reference that rating must NOT equal.
static void scratch(const Backend *be, Cell *c, long code, Projector *p, int once, const Tensor *xr,
                    const Tensor *x, const Tensor *y, int nb, double *r, double *q) {
    int path[CELL_MAX_LAYERS];
    long k = code;
    for (int l = c->cfg.layers - 1; l >= 0; l--) path[l] = (int)(k % c->cfg.nops), k /= c->cfg.nops;
    ProjectorCache pc = {0};
    const Tensor *o = cell_forward(be, c, path, xr, BN_RECALIBRATE);
    if (p && !once) projector_forward(be, p, &pc, o, BN_RECALIBRATE);
    *r = *q = 0;
    for (int b = 0; b < nb; b++) {
        o = cell_forward(be, c, path, &x[b], BN_EVAL);
        if (p) o = projector_forward(be, p, &pc, o, BN_EVAL);
        *r += be->rel_l1(o, &y[b]);
        *q += be->mse(o, &y[b], NULL) * o->n;
    }
    projector_cache_free(be, &pc);
}

// proj: score on projected features (DNA++), against z [n, 4, 1, 1] instead of the maps.
static void check_cell(CellCfg cfg, int proj, const char *what) {
    const Backend *be = backend_cpu();
    Rng init = rng_new(3), data = rng_new(4);
    Cell c;
    cell_init(be, &c, cfg, &init);
    Projector pj, *p = NULL;
    if (proj) proj_init(be, p = &pj, cfg.cout, 5);
    int in_c = cfg.cin, hw = 8, out_hw = (hw + cfg.stride - 1) / cfg.stride;
    if (cfg.stem) out_hw = (out_hw + cfg.stem_stride - 1) / cfg.stem_stride;
    int yc = proj ? 4 : cfg.cout, yhw = proj ? 1 : out_hw;
    Tensor xr = randn(be, 8, in_c, hw, hw, &data);
    Tensor x[2] = {randn(be, 6, in_c, hw, hw, &data), randn(be, 5, in_c, hw, hw, &data)};
    Tensor y[2] = {randn(be, 6, yc, yhw, yhw, &data), randn(be, 5, yc, yhw, yhw, &data)};
    long P = cell_path_count(&cfg);
    double *rel = calloc((size_t)P, sizeof(double)), *sq = calloc((size_t)P, sizeof(double));
    double *rel_u = calloc((size_t)P, sizeof(double)), *sq_u = calloc((size_t)P, sizeof(double));
    // whole cell in one walk
    RateStats *s = rate_recalibrate_proj(be, &c, (RateUnit){0, 0}, &xr, p);
    for (int b = 0; b < 2; b++) rate_score_batch_proj(be, &c, s, &x[b], &y[b], p, rel, sq);
    rate_stats_free(s);
    // the same cell split into units of depth 2 (what many ranks would do)
    RateUnit u = {2, 0};
    for (u.prefix = 0; u.prefix < cfg.nops * cfg.nops; u.prefix++) {
        long first = rate_unit_first(&cfg, u);
        s = rate_recalibrate_proj(be, &c, u, &xr, p);
        for (int b = 0; b < 2; b++)
            rate_score_batch_proj(be, &c, s, &x[b], &y[b], p, rel_u + first, sq_u + first);
        rate_stats_free(s);
    }
    // every path from scratch
    int bad = 0, bad_u = 0;
    for (long code = 0; code < P; code++) {
        double r, q;
        scratch(be, &c, code, p, 0, &xr, x, y, 2, &r, &q);
        bad += r != rel[code] || q != sq[code];
        bad_u += r != rel_u[code] || q != sq_u[code];
        T_CHECK(isfinite(r) && r > 0, "%s: path %ld score %g", what, code, r);
    }
    T_CHECK(bad == 0, "%s: %d of %ld paths differ from scratch (shared walk)", what, bad, P);
    T_CHECK(bad_u == 0, "%s: %d of %ld paths differ from scratch (units)", what, bad_u, P);
    free(rel), free(sq), free(rel_u), free(sq_u);
    Tensor *all[] = {&xr, &x[0], &x[1], &y[0], &y[1]};
    for (int i = 0; i < 5; i++) tensor_free(be, all[i]);
    if (p) projector_free(be, p);
    cell_free(be, &c);
}

TEST(rate_shared_equals_scratch_3_layers_stem) {
    CellCfg cfg = cell_cfg_default(2, 6, 3, 2);
    cfg.width = 5, cfg.stem = 4, cfg.stem_stride = 1, cfg.se_ratio = 0.25f;
    check_cell(cfg, 0, "3 layers + stem");
}

TEST(rate_shared_equals_scratch_4_layers) {
    CellCfg cfg = cell_cfg_default(3, 4, 4, 1);  // stride 1, in != out: residuals from layer 1
    cfg.width = 4, cfg.se_ratio = 0.25f;
    cfg.nops = 4;  // 256 paths
    check_cell(cfg, 0, "4 layers");
}

// ---------------------------------------------------------------- DNA++: projected features
// Each path's output goes through the projector, whose BN is recalibrated per path as the
// cell's are: shared rating equals that from scratch, bitwise.
TEST(rate_proj_shared_equals_scratch_3_layers_stem) {
    CellCfg cfg = cell_cfg_default(2, 6, 3, 2);
    cfg.width = 5, cfg.stem = 4, cfg.stem_stride = 1, cfg.se_ratio = 0.25f;
    check_cell(cfg, 1, "projected, 3 layers + stem");
}

TEST(rate_proj_shared_equals_scratch_4_layers) {
    CellCfg cfg = cell_cfg_default(3, 4, 4, 1);
    cfg.width = 4, cfg.se_ratio = 0.25f;
    cfg.nops = 3;  // 81 paths
    check_cell(cfg, 1, "projected, 4 layers");
}

static void rate_all(const Backend *be, Cell *c, Projector *p, const Tensor *xr, const Tensor *x,
                     const Tensor *z, int nb, double *rel, double *sq, int scramble) {
    RateStats *s = rate_recalibrate_proj(be, c, (RateUnit){0, 0}, xr, p);
    if (scramble)  // pass 2 loads each path's statistics: what pass 1 left must not matter
        for (int i = 0; i < p->hidden; i++)
            p->bn.run_mean.data[i] = 7.0f, p->bn.run_var.data[i] = 0.01f;
    for (int b = 0; b < nb; b++) rate_score_batch_proj(be, c, s, &x[b], &z[b], p, rel, sq);
    rate_stats_free(s);
}

// The projector takes part (another projector scores otherwise), its BN is recalibrated per
// path (recalibrating it once, on path 0, gives other scores for the other paths), pass 2
// reads the saved statistics (not the projector's current ones), and they come from xr.
TEST(rate_proj_projector_and_its_statistics_matter) {
    const Backend *be = backend_cpu();
    CellCfg cfg = cell_cfg_default(3, 5, 2, 2);
    cfg.width = 4, cfg.se_ratio = 0.25f, cfg.nops = 3;  // 9 paths
    Rng init = rng_new(30), data = rng_new(31);
    Cell c;
    cell_init(be, &c, cfg, &init);
    Projector p, p2;
    proj_init(be, &p, cfg.cout, 32);
    proj_init(be, &p2, cfg.cout, 33);
    Tensor xr = randn(be, 8, 3, 8, 8, &data), xr2 = randn(be, 8, 3, 8, 8, &data);
    Tensor x[2] = {randn(be, 6, 3, 8, 8, &data), randn(be, 5, 3, 8, 8, &data)};
    Tensor z[2] = {randn(be, 6, 4, 1, 1, &data), randn(be, 5, 4, 1, 1, &data)};
    enum { P = 9 };
    double rel[P] = {0}, sq[P] = {0}, rel_s[P] = {0}, sq_s[P] = {0};
    double rel_2[P] = {0}, sq_2[P] = {0}, rel_x[P] = {0}, sq_x[P] = {0};
    rate_all(be, &c, &p, &xr, x, z, 2, rel, sq, 0);
    rate_all(be, &c, &p, &xr, x, z, 2, rel_s, sq_s, 1);
    rate_all(be, &c, &p2, &xr, x, z, 2, rel_2, sq_2, 0);
    rate_all(be, &c, &p, &xr2, x, z, 2, rel_x, sq_x, 0);
    // the projector's statistics recalibrated on path 0 only, then kept for every path
    double r, q;
    scratch(be, &c, 0, &p, 0, &xr, x, z, 2, &r, &q);
    T_CHECK(r == rel[0] && q == sq[0], "path 0: %.17g vs %.17g", r, rel[0]);
    for (int i = 0; i < P; i++) {
        T_CHECK(rel_s[i] == rel[i] && sq_s[i] == sq[i],
                "path %d: pass 2 read the projector's current statistics", i);
        T_CHECK(rel_2[i] != rel[i] && sq_2[i] != sq[i], "path %d: another projector, same score",
                i);
        T_CHECK(rel_x[i] != rel[i] && sq_x[i] != sq[i],
                "path %d: another recalibration batch, same score", i);
        if (i == 0) continue;
        scratch(be, &c, i, &p, 1, &xr, x, z, 2, &r, &q);
        T_CHECK(r != rel[i] && q != sq[i],
                "path %d: the projector's BN recalibrated once scores as per path (%.17g)", i, r);
    }
    Tensor *all[] = {&xr, &xr2, &x[0], &x[1], &z[0], &z[1]};
    for (int i = 0; i < 6; i++) tensor_free(be, all[i]);
    projector_free(be, &p), projector_free(be, &p2);
    cell_free(be, &c);
}

// Statistics recalibrated without a projector cannot score with one (and vice versa): the
// walks would read nodes out of step. The check comes before any compute, so the forked child
// needs no worker threads (a fork keeps only the calling thread).
typedef struct Mismatch {
    Cell *c;
    RateStats *s;
    Projector *p;
    Tensor *x, *z;
} Mismatch;

static void score_mismatch(void *arg) {
    Mismatch *m = arg;
    double rel[4] = {0}, sq[4] = {0};
    rate_score_batch_proj(backend_cpu(), m->c, m->s, m->x, m->z, m->p, rel, sq);
}

TEST(rate_proj_refuses_another_projector) {
    const Backend *be = backend_cpu();
    CellCfg cfg = cell_cfg_default(2, 3, 2, 1);
    cfg.nops = 2;
    Rng init = rng_new(40);
    Cell c;
    cell_init(be, &c, cfg, &init);
    Projector p;
    proj_init(be, &p, cfg.cout, 41);
    Tensor xr = randn(be, 4, 2, 4, 4, &init), z = randn(be, 4, 4, 1, 1, &init);
    RateStats *plain = rate_recalibrate_proj(be, &c, (RateUnit){0, 0}, &xr, NULL);
    RateStats *proj = rate_recalibrate_proj(be, &c, (RateUnit){0, 0}, &xr, &p);
    Mismatch m = {&c, plain, &p, &xr, &z};
    T_EXPECT_DEATH(score_mismatch, &m,
                   "rating: statistics for a projector of hidden width 0, scoring with 6");
    m = (Mismatch){&c, proj, NULL, &xr, &z};
    T_EXPECT_DEATH(score_mismatch, &m,
                   "rating: statistics for a projector of hidden width 6, scoring with 0");
    rate_stats_free(plain), rate_stats_free(proj);
    tensor_free(be, &xr), tensor_free(be, &z);
    projector_free(be, &p);
    cell_free(be, &c);
}
