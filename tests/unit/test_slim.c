// Slimmable transformer blocks (nn/tfblock.h) and ViT stages (nn/vitstage.h): a subnet sliced out
// of a supernet block equals, bitwise, a standalone block of the subnet's shape whose weights are
// copied here element by element from the supernet (forward, dx and every parameter gradient, with
// and without DropPath), and its gradients go back to the supernet's places, nowhere else.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "harness.h"
#include "nn/tfblock.h"
#include "nn/vitstage.h"

static void randomize(ParamList *pl, unsigned seed) {
    for (int i = 0; i < pl->n; i++)
        t_fill_uniform(pl->p[i]->w.data, tensor_numel(&pl->p[i]->w), seed + (unsigned)i, -0.4f,
                       0.6f);
}

// The standalone block's weights from the supernet's, written out index by index.
static void copy_slices(const TfBlock *F, TfBlock *S) {
    int D = F->cfg.dim, H = F->cfg.hidden, d = S->cfg.dim, h = S->cfg.hidden;
    for (int i = 0; i < d; i++) {
        S->norm1_w.w.data[i] = F->norm1_w.w.data[i], S->norm1_b.w.data[i] = F->norm1_b.w.data[i];
        S->norm2_w.w.data[i] = F->norm2_w.w.data[i], S->norm2_b.w.data[i] = F->norm2_b.w.data[i];
        S->proj_b.w.data[i] = F->proj_b.w.data[i], S->fc2_b.w.data[i] = F->fc2_b.w.data[i];
        for (int j = 0; j < 3; j++) {
            S->qkv_b.w.data[j * d + i] = F->qkv_b.w.data[j * D + i];
            for (int c = 0; c < d; c++)
                S->qkv_w.w.data[(j * d + i) * d + c] = F->qkv_w.w.data[(j * D + i) * D + c];
        }
        for (int c = 0; c < d; c++) S->proj_w.w.data[i * d + c] = F->proj_w.w.data[i * D + c];
        for (int c = 0; c < h; c++) S->fc2_w.w.data[i * h + c] = F->fc2_w.w.data[i * H + c];
    }
    for (int o = 0; o < h; o++) {
        S->fc1_b.w.data[o] = F->fc1_b.w.data[o];
        for (int c = 0; c < d; c++) S->fc1_w.w.data[o * d + c] = F->fc1_w.w.data[o * D + c];
    }
}

static int same(const Tensor *a, const Tensor *b) {
    return tensor_same_shape(a, b) && memcmp(a->data, b->data, tensor_numel(a) * 4) == 0;
}

static void check_slice(TfBlockCfg full_cfg, TfBlockCfg cfg, float drop_path, unsigned seed) {
    const Backend *be = backend_cpu();
    Rng rng = rng_new(seed);
    TfBlock F, sub, S;
    tfblock_init(be, &F, full_cfg, &rng);
    tfblock_init(be, &sub, full_cfg, &rng);
    tfblock_init(be, &S, cfg, &rng);
    F.drop_path = drop_path, S.drop_path = drop_path;
    ParamList fl = {0}, sl = {0}, Sl = {0};
    tfblock_params(&F, &fl);
    randomize(&fl, seed + 1);
    tfblock_slice(be, &F, &sub, cfg);
    tfblock_params(&sub, &sl);
    tfblock_params(&S, &Sl);
    copy_slices(&F, &S);
    for (int i = 0; i < Sl.n; i++)
        T_CHECK(same(&sl.p[i]->w, &Sl.p[i]->w), "sliced %s differs from the copied one",
                Sl.p[i]->name);

    Tensor x = tensor_new(be, 4, 6, 1, cfg.dim), dy = tensor_new(be, 4, 6, 1, cfg.dim);
    t_fill_uniform(x.data, tensor_numel(&x), seed + 2, -1.5f, 1.5f);
    t_fill_uniform(dy.data, tensor_numel(&dy), seed + 3, -1, 1);
    TfBlockCache cs = {0}, cS = {0};
    Rng d1 = rng_new(seed + 4), d2 = rng_new(seed + 4);
    T_CHECK(same(tfblock_forward(be, &sub, &cs, &x, &d1), tfblock_forward(be, &S, &cS, &x, &d2)),
            "forward of the sliced subnet differs");
    params_zero_grad(be, &sl);
    params_zero_grad(be, &Sl);
    T_CHECK(same(tfblock_backward(be, &sub, &cs, &dy), tfblock_backward(be, &S, &cS, &dy)),
            "dx of the sliced subnet differs");
    for (int i = 0; i < Sl.n; i++)
        T_CHECK(same(&sl.p[i]->g, &Sl.p[i]->g), "gradient of %s differs", Sl.p[i]->name);

    // back into the supernet: each gradient at its weight's place (zero elsewhere), and
    // a second unslice adds to it
    params_zero_grad(be, &fl);
    tfblock_unslice_grads(be, &sub, &F);
    tfblock_unslice_grads(be, &sub, &F);
    TfBlock G;  // G's weights := F's gradients, sliced like the weights were
    tfblock_init(be, &G, full_cfg, &rng);
    ParamList gl = {0};
    tfblock_params(&G, &gl);
    double nonzero = 0, outside = 0;
    for (int i = 0; i < fl.n; i++) {
        memcpy(gl.p[i]->w.data, fl.p[i]->g.data, tensor_numel(&fl.p[i]->g) * 4);
        for (size_t j = 0; j < tensor_numel(&fl.p[i]->g); j++) nonzero += fl.p[i]->g.data[j] != 0;
    }
    TfBlock Gs;
    tfblock_init(be, &Gs, cfg, &rng);
    copy_slices(&G, &Gs);
    ParamList gsl = {0};
    tfblock_params(&Gs, &gsl);
    for (int i = 0; i < gsl.n; i++) {
        Param *p = gsl.p[i];
        for (size_t j = 0; j < tensor_numel(&p->w); j++) {
            outside -= p->w.data[j] != 0;  // count the inside's nonzeros off the total
            T_CHECK(p->w.data[j] == 2 * Sl.p[i]->g.data[j], "%s gradient %zu: %g, want 2 x %g",
                    p->name, j, p->w.data[j], Sl.p[i]->g.data[j]);
        }
    }
    outside += nonzero;
    T_CHECK(outside == 0, "%.0f gradient entries outside the subnet's weights are nonzero",
            outside);
    T_CHECK(nonzero > 0, "no gradient reached the supernet");

    params_free(&gsl);
    params_free(&gl);
    tfblock_free(be, &Gs);
    tfblock_free(be, &G);
    tfblock_cache_free(be, &cs);
    tfblock_cache_free(be, &cS);
    tensor_free(be, &x);
    tensor_free(be, &dy);
    params_free(&fl);
    params_free(&sl);
    params_free(&Sl);
    tfblock_free(be, &F);
    tfblock_free(be, &sub);
    tfblock_free(be, &S);
}

// a subnet of the default space's shape: 48 of 64 channels (3 of 4 heads of 16), ratio 3 of 4
TEST(slim_tfblock_subnet) {
    check_slice((TfBlockCfg){64, 4, 256}, (TfBlockCfg){48, 3, 144}, 0.0f, 1600);
}
TEST(slim_tfblock_subnet_drop_path) {
    check_slice((TfBlockCfg){64, 4, 256}, (TfBlockCfg){32, 2, 64}, 0.5f, 1610);
}
// the whole supernet is its own subnet
TEST(slim_tfblock_full) {
    check_slice((TfBlockCfg){32, 2, 80}, (TfBlockCfg){32, 2, 80}, 0.0f, 1620);
}

static void slice_other_head_width(void *arg) {
    (void)arg;
    const Backend *be = backend_cpu();
    Rng rng = rng_new(1);
    TfBlock F, sub;
    tfblock_init(be, &F, (TfBlockCfg){64, 4, 128}, &rng);
    tfblock_init(be, &sub, (TfBlockCfg){64, 4, 128}, &rng);
    tfblock_slice(be, &F, &sub, (TfBlockCfg){48, 4, 96});  // heads of 12, not 16
}
TEST(slim_tfblock_refuses_another_head_width) {
    T_EXPECT_DEATH(slice_other_head_width, NULL, "same head width");
}

// ---------------------------------------------------------------- ViT stages
static void copy_stage_slices(const VitStage *F, VitStage *S) {
    int D = F->cfg.dim, d = S->cfg.dim, T = F->cfg.out_hw * F->cfg.out_hw, C = F->cfg.cout;
    size_t k = (size_t)F->cfg.cin * F->stride * F->stride;
    memcpy(S->embed_w.w.data, F->embed_w.w.data, sizeof(float) * k * d);  // the first d filters
    for (int t = 0; t < T; t++)
        for (int i = 0; i < d; i++) S->pos.w.data[t * d + i] = F->pos.w.data[t * D + i];
    for (int b = 0; b < S->cfg.depth; b++) copy_slices(&F->blk[b], &S->blk[b]);
    for (int i = 0; i < d; i++)
        S->norm_w.w.data[i] = F->norm_w.w.data[i], S->norm_b.w.data[i] = F->norm_b.w.data[i];
    for (int o = 0; o < C; o++) {
        S->out_b.w.data[o] = F->out_b.w.data[o];
        for (int i = 0; i < d; i++) S->out_w.w.data[o * d + i] = F->out_w.w.data[o * D + i];
    }
}

static void check_stage_slice(VitStageCfg full_cfg, VitStageCfg cfg, unsigned seed) {
    const Backend *be = backend_cpu();
    Rng rng = rng_new(seed);
    VitStage F, sub, S, G, Gs;
    vitstage_init(be, &F, full_cfg, &rng);
    vitstage_init(be, &sub, full_cfg, &rng);
    vitstage_init(be, &G, full_cfg, &rng);
    vitstage_init(be, &Gs, full_cfg, &rng);
    vitstage_init(be, &S, cfg, &rng);
    for (int b = 0; b < full_cfg.depth; b++) F.blk[b].drop_path = 0.3f;
    for (int b = 0; b < cfg.depth; b++) S.blk[b].drop_path = 0.3f;
    ParamList fl = {0}, Sl = {0}, sl = {0};
    vitstage_params(&F, &fl);
    randomize(&fl, seed + 1);
    vitstage_slice(be, &F, &sub, cfg);
    copy_stage_slices(&F, &S);
    vitstage_params(&sub, &sl);
    vitstage_params(&S, &Sl);
    T_CHECK(sl.n == Sl.n, "sliced stage has %d parameters, standalone %d", sl.n, Sl.n);
    for (int i = 0; i < Sl.n && i < sl.n; i++)
        T_CHECK(same(&sl.p[i]->w, &Sl.p[i]->w), "sliced %s differs from the copied one",
                Sl.p[i]->name);

    Tensor x = tensor_new(be, 3, cfg.cin, cfg.in_hw, cfg.in_hw);
    Tensor dy = tensor_new(be, 3, cfg.cout, cfg.out_hw, cfg.out_hw);
    t_fill_uniform(x.data, tensor_numel(&x), seed + 2, -1.5f, 1.5f);
    t_fill_uniform(dy.data, tensor_numel(&dy), seed + 3, -1, 1);
    VitStageCache cs = {0}, cS = {0};
    Rng d1 = rng_new(seed + 4), d2 = rng_new(seed + 4);
    T_CHECK(same(vitstage_forward(be, &sub, &cs, &x, &d1), vitstage_forward(be, &S, &cS, &x, &d2)),
            "forward of the sliced stage differs");
    params_zero_grad(be, &sl);
    params_zero_grad(be, &Sl);
    T_CHECK(same(vitstage_backward(be, &sub, &cs, &dy, 1), vitstage_backward(be, &S, &cS, &dy, 1)),
            "dx of the sliced stage differs");
    for (int i = 0; i < Sl.n && i < sl.n; i++)
        T_CHECK(same(&sl.p[i]->g, &Sl.p[i]->g), "gradient of %s differs", Sl.p[i]->name);

    // the gradients back in the supernet: sliced again they are the subnet's; every other
    // entry is zero
    params_zero_grad(be, &fl);
    vitstage_unslice_grads(be, &sub, &F);
    ParamList gl = {0}, gsl = {0};
    vitstage_params(&G, &gl);
    double nonzero = 0, inside = 0;
    for (int i = 0; i < fl.n; i++) {
        memcpy(gl.p[i]->w.data, fl.p[i]->g.data, tensor_numel(&fl.p[i]->g) * 4);
        for (size_t j = 0; j < tensor_numel(&fl.p[i]->g); j++) nonzero += fl.p[i]->g.data[j] != 0;
    }
    vitstage_slice(be, &G, &Gs, cfg);
    vitstage_params(&Gs, &gsl);
    for (int i = 0; i < gsl.n && i < Sl.n; i++) {
        T_CHECK(same(&gsl.p[i]->w, &Sl.p[i]->g), "%s: the supernet's gradient, sliced, differs",
                Sl.p[i]->name);
        for (size_t j = 0; j < tensor_numel(&gsl.p[i]->w); j++) inside += gsl.p[i]->w.data[j] != 0;
    }
    T_CHECK(nonzero == inside && nonzero > 0,
            "%.0f nonzero gradient entries in the supernet, %.0f of them the subnet's", nonzero,
            inside);

    ParamList *lists[] = {&fl, &Sl, &sl, &gl, &gsl};
    for (int i = 0; i < 5; i++) params_free(lists[i]);
    vitstage_cache_free(be, &cs);
    vitstage_cache_free(be, &cS);
    tensor_free(be, &x);
    tensor_free(be, &dy);
    VitStage *st[] = {&F, &sub, &S, &G, &Gs};
    for (int i = 0; i < 5; i++) vitstage_free(be, st[i]);
}

// block 1 of the default space: patch 4 on 16x16, 64 tokens of width 48 of 64 (heads of 16),
// MLP 96 of 256, 2 of 3 blocks
TEST(slim_vitstage_subnet) {
    check_stage_slice(
        (VitStageCfg){1, 16, 6, 4, .dim = 64, .hidden = 256, .depth = 3, .head_dim = 16},
        (VitStageCfg){1, 16, 6, 4, .dim = 48, .hidden = 96, .depth = 2, .head_dim = 16}, 1630);
}
// where the resolution halves, the narrowest subnet
TEST(slim_vitstage_narrowest) {
    check_stage_slice(
        (VitStageCfg){5, 8, 7, 4, .dim = 32, .hidden = 128, .depth = 2, .head_dim = 16},
        (VitStageCfg){5, 8, 7, 4, .dim = 16, .hidden = 32, .depth = 1, .head_dim = 16}, 1640);
}

// ---------------------------------------------------------------- ViT rating with sharing
#include "nas/vitcell.h"

// Shared rating (one pass per (width, ratio), the head after every depth) equals rating each
// subnet from scratch (sliced, full forward), bitwise, on every subnet of a small supernet.
TEST(slim_vit_rating_shared_equals_scratch) {
    const Backend *be = backend_cpu();
    VitCellCfg cfg = {.cin = 3,
                      .in_hw = 8,
                      .cout = 5,
                      .out_hw = 4,
                      .ch = {.ndims = 2,
                             .dims = {8, 16},
                             .nratios = 2,
                             .ratios = {2, 3},
                             .ndepths = 2,
                             .depths = {1, 3},
                             .head_dim = 4}};
    Rng rng = rng_new(1650);
    VitCell c;
    vitcell_init(be, &c, cfg, &rng);
    ParamList pl = {0};
    vitcell_params(&c, &pl);
    randomize(&pl, 1651);
    params_free(&pl);
    Tensor x = tensor_new(be, 5, 3, 8, 8), y = tensor_new(be, 5, 5, 4, 4);
    t_fill_uniform(x.data, tensor_numel(&x), 1652, -1.5f, 1.5f);
    t_fill_uniform(y.data, tensor_numel(&y), 1653, -1, 1);
    int64_t n = vitcell_path_count(&cfg), nd = cfg.ch.ndepths;
    T_CHECK(n == 8 && vitcell_units(&cfg) == 4, "%lld subnets, %lld units", (long long)n,
            (long long)vitcell_units(&cfg));
    double rel[8] = {0}, sq[8] = {0};
    for (int64_t u = 0; u < vitcell_units(&cfg); u++) {
        vitcell_rate_slice(be, &c, u);
        vitcell_rate_batch(be, &c, &x, &y, rel + u * nd, sq + u * nd);
    }
    for (int64_t code = 0; code < n; code++) {
        const Tensor *o = vitcell_forward(be, &c, code, &x, NULL);
        double r = be->rel_l1(o, &y), s = be->mse(o, &y, NULL) * x.n;
        VitStageCfg sc = vitcell_stage(&cfg, code);
        T_CHECK(r == rel[code] && s == sq[code],
                "subnet %lld (width %d, hidden %d, depth %d): shared %.17g / %.17g, alone "
                "%.17g / %.17g",
                (long long)code, sc.dim, sc.hidden, sc.depth, rel[code], sq[code], r, s);
        T_CHECK(code == 0 || rel[code] != rel[code - 1], "subnets %lld and %lld score the same",
                (long long)code - 1, (long long)code);
    }
    tensor_free(be, &x), tensor_free(be, &y);
    vitcell_free(be, &c);
}

// ---------------------------------------------------------------- DNA++: projected features
#include "nn/projector.h"

static VitCellCfg small_vit(void) {
    return (VitCellCfg){.cin = 3,
                        .in_hw = 8,
                        .cout = 5,
                        .out_hw = 4,
                        .ch = {.ndims = 2,
                               .dims = {8, 16},
                               .nratios = 2,
                               .ratios = {2, 3},
                               .ndepths = 2,
                               .depths = {1, 3},
                               .head_dim = 4}};
}

// BN's affine and running statistics drawn: stale statistics score otherwise.
static void vit_proj_init(const Backend *be, Projector *p, int cin, unsigned seed) {
    Rng r = rng_new(seed);
    projector_init(be, p, cin, 6, 4, &r);
    t_fill_uniform(p->bn.gamma.w.data, 6, seed + 1, 0.5f, 1.5f);
    t_fill_uniform(p->bn.beta.w.data, 6, seed + 2, -0.5f, 0.5f);
    t_fill_uniform(p->bn.run_mean.data, 6, seed + 3, -1, 1);
    t_fill_uniform(p->bn.run_var.data, 6, seed + 4, 0.2f, 2);
}

typedef struct VitData {
    Tensor xr, x[2], z[2];
} VitData;

static VitData vit_data(unsigned seed) {
    const Backend *be = backend_cpu();
    VitData d = {.xr = tensor_new(be, 6, 3, 8, 8),
                 .x = {tensor_new(be, 5, 3, 8, 8), tensor_new(be, 4, 3, 8, 8)},
                 .z = {tensor_new(be, 5, 4, 1, 1), tensor_new(be, 4, 4, 1, 1)}};
    Tensor *t[] = {&d.xr, &d.x[0], &d.x[1], &d.z[0], &d.z[1]};
    for (unsigned i = 0; i < 5; i++)
        t_fill_uniform(t[i]->data, tensor_numel(t[i]), seed + i, -1.5f, 1.5f);
    return d;
}

static void vit_data_free(VitData *d) {
    Tensor *t[] = {&d->xr, &d->x[0], &d->x[1], &d->z[0], &d->z[1]};
    for (int i = 0; i < 5; i++) tensor_free(backend_cpu(), t[i]);
}

// Shared projected rating of every unit: rel, sq [subnets].
static void vit_rate_proj(VitCell *c, Projector *p, const VitData *d, const Tensor *xr, double *rel,
                          double *sq) {
    const Backend *be = backend_cpu();
    int64_t nd = c->cfg.ch.ndepths;
    for (int64_t u = 0; u < vitcell_units(&c->cfg); u++) {
        VitRateStats *s = vitcell_rate_recalibrate_proj(be, c, u, xr, p);
        for (int b = 0; b < 2; b++)
            vitcell_rate_batch_proj(be, c, s, &d->x[b], &d->z[b], p, rel + u * nd, sq + u * nd);
        vitcell_rate_stats_free(s);
    }
}

// Subnet `code` alone: the projector recalibrated on its output for xr (unless `once`: then
// it keeps the statistics it has), then each batch projected in eval mode.
static void vit_scratch(VitCell *c, Projector *p, int64_t code, int once, const VitData *d,
                        double *r, double *q) {
    const Backend *be = backend_cpu();
    ProjectorCache pc = {0};
    if (!once)
        projector_forward(be, p, &pc, vitcell_forward(be, c, code, &d->xr, NULL), BN_RECALIBRATE);
    *r = *q = 0;
    for (int b = 0; b < 2; b++) {
        const Tensor *o = vitcell_forward(be, c, code, &d->x[b], NULL);
        o = projector_forward(be, p, &pc, o, BN_EVAL);
        *r += be->rel_l1(o, &d->z[b]);
        *q += be->mse(o, &d->z[b], NULL) * o->n;
    }
    projector_cache_free(be, &pc);
}

static void vit_setup(VitCell *c, unsigned seed) {
    const Backend *be = backend_cpu();
    Rng rng = rng_new(seed);
    vitcell_init(be, c, small_vit(), &rng);
    ParamList pl = {0};
    vitcell_params(c, &pl);
    randomize(&pl, seed + 1);
    params_free(&pl);
}

// Shared (one pass per unit; the projector recalibrated at every depth's output and its
// statistics reloaded there) equals each subnet alone with its own recalibrated projector,
// bitwise. Without a projector, the projected entry points are the plain ones, bitwise.
TEST(slim_vit_rating_projected_shared_equals_scratch) {
    const Backend *be = backend_cpu();
    VitCell c;
    vit_setup(&c, 1660);
    Projector p;
    vit_proj_init(be, &p, c.cfg.cout, 1662);
    VitData d = vit_data(1670);
    double rel[8] = {0}, sq[8] = {0};
    vit_rate_proj(&c, &p, &d, &d.xr, rel, sq);
    for (int64_t code = 0; code < 8; code++) {
        double r, q;
        vit_scratch(&c, &p, code, 0, &d, &r, &q);
        T_CHECK(r == rel[code] && q == sq[code],
                "subnet %lld: shared %.17g / %.17g, alone %.17g / %.17g", (long long)code,
                rel[code], sq[code], r, q);
        T_CHECK(isfinite(r) && r > 0, "subnet %lld: score %g", (long long)code, r);
    }
    // no projector: the maps themselves, as vitcell_rate_batch scores them
    Tensor y = tensor_new(be, 5, 5, 4, 4);
    t_fill_uniform(y.data, tensor_numel(&y), 1680, -1, 1);
    double r0[8] = {0}, q0[8] = {0}, r1[8] = {0}, q1[8] = {0};
    for (int64_t u = 0; u < 4; u++) {
        VitRateStats *s = vitcell_rate_recalibrate_proj(be, &c, u, &d.xr, NULL);
        T_CHECK(s == NULL, "no projector: no statistics");
        vitcell_rate_batch_proj(be, &c, s, &d.x[0], &y, NULL, r0 + 2 * u, q0 + 2 * u);
        vitcell_rate_slice(be, &c, u);
        vitcell_rate_batch(be, &c, &d.x[0], &y, r1 + 2 * u, q1 + 2 * u);
    }
    T_CHECK(memcmp(r0, r1, sizeof r0) == 0 && memcmp(q0, q1, sizeof q0) == 0,
            "without a projector the projected rating differs from the plain one");
    tensor_free(be, &y);
    vit_data_free(&d);
    projector_free(be, &p);
    vitcell_free(be, &c);
}

// The projector takes part (another one scores otherwise); its BN is recalibrated per depth
// (the deepest subnet's statistics used at every depth score the shallower one otherwise);
// and the statistics come from xr, which nothing else in a ViT reads (no BN).
TEST(slim_vit_rating_projector_statistics_matter) {
    const Backend *be = backend_cpu();
    VitCell c;
    vit_setup(&c, 1690);
    Projector p, p2;
    vit_proj_init(be, &p, c.cfg.cout, 1692);
    vit_proj_init(be, &p2, c.cfg.cout, 1693);
    VitData d = vit_data(1700);
    Tensor xr2 = tensor_new(be, 6, 3, 8, 8);
    t_fill_uniform(xr2.data, tensor_numel(&xr2), 1710, -1.5f, 1.5f);
    double rel[8] = {0}, sq[8] = {0}, rel2[8] = {0}, sq2[8] = {0}, relx[8] = {0}, sqx[8] = {0};
    vit_rate_proj(&c, &p, &d, &d.xr, rel, sq);
    vit_rate_proj(&c, &p2, &d, &d.xr, rel2, sq2);
    vit_rate_proj(&c, &p, &d, &xr2, relx, sqx);
    for (int64_t code = 0; code < 8; code++) {
        T_CHECK(rel2[code] != rel[code] && sq2[code] != sq[code],
                "subnet %lld: another projector, same score", (long long)code);
        T_CHECK(relx[code] != rel[code] && sqx[code] != sq[code],
                "subnet %lld: another recalibration batch, same score", (long long)code);
        if (code % 2) {   // the deepest of its unit: recalibrate, then its shallower neighbour
            double r, q;  // with these statistics
            vit_scratch(&c, &p, code, 0, &d, &r, &q);
            vit_scratch(&c, &p, code - 1, 1, &d, &r, &q);
            T_CHECK(r != rel[code - 1] && q != sq[code - 1],
                    "subnet %lld scores the same with its deeper neighbour's statistics",
                    (long long)code - 1);
        }
    }
    tensor_free(be, &xr2);
    vit_data_free(&d);
    projector_free(be, &p), projector_free(be, &p2);
    vitcell_free(be, &c);
}

// Scoring must follow a recalibration of the same unit and projector (checked before any
// compute: the forked child has no worker threads).
typedef struct VitMismatch {
    VitCell *c;
    VitRateStats *s;
    Projector *p;
    VitData *d;
} VitMismatch;

static void vit_score_mismatch(void *arg) {
    VitMismatch *m = arg;
    double rel[2] = {0}, sq[2] = {0};
    vitcell_rate_batch_proj(backend_cpu(), m->c, m->s, &m->d->x[0], &m->d->z[0], m->p, rel, sq);
}

TEST(slim_vit_rating_projected_refuses_a_mismatch) {
    const Backend *be = backend_cpu();
    VitCell c;
    vit_setup(&c, 1720);
    Projector p;
    vit_proj_init(be, &p, c.cfg.cout, 1722);
    VitData d = vit_data(1730);
    VitRateStats *s = vitcell_rate_recalibrate_proj(be, &c, 0, &d.xr, &p);
    VitMismatch m = {&c, NULL, &p, &d};
    T_EXPECT_DEATH(vit_score_mismatch, &m,
                   "ViT rating: projector statistics missing, projector given");
    m = (VitMismatch){&c, s, NULL, &d};
    T_EXPECT_DEATH(vit_score_mismatch, &m,
                   "ViT rating: projector statistics given, projector missing");
    vitcell_rate_slice(be, &c, 3);
    m = (VitMismatch){&c, s, &p, &d};
    T_EXPECT_DEATH(vit_score_mismatch, &m,
                   "statistics for width 8, MLP 16, depth 3, projector 6; "
                   "scoring width 16, MLP 48, depth 3, projector 6");
    vitcell_rate_stats_free(s);
    vit_data_free(&d);
    projector_free(be, &p);
    vitcell_free(be, &c);
}
