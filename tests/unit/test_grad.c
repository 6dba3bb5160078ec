// Gradient checks of the layers (convbn, SE, MBConv, the head) against finite differences,
// their conventions (gradients accumulate over backwards, a second backward overwrites dx),
// and synchronised batch norm against a stacked batch. The ops themselves (every op of
// src/tensor/ops.def, forward and backward) are tested by tests/unit/test_ops.c from the
// op table of tests/ops.
//
// Method (gradcheck.h, test_ops.c): L = sum_i r_i * out_i with fixed random r in [-1, 1)
// (softmax_ce(out) for the head), summed in double; the analytic gradient is the layer's
// backward with dy = r; the numeric one is the 4-point central difference at h = 2^-7 on 24
// random coordinates per tensor (16 for MBConv; all of them for smaller tensors), within
// |num - ana| <= 1e-3 + 1e-2 * |ana|. The numeric error is up to 9e-4 for MBConv, whose
// stacked train-mode BNs add the most rounding (with drop-connect the sampled coordinates
// use up to 0.47 of the tolerance; GRADCHECK_VERBOSE=1 prints every check's worst error).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "gradcheck.h"
#include "harness.h"
#include "nas/oneshot.h"
#include "nn/mbconv.h"
#include "nn/tfblock.h"
#include "nn/vitnet.h"
#include "nn/vitstage.h"
#include "tensor/ops.h"

// ---------------------------------------------------------------- helpers
static Tensor rand_t(int n, int c, int h, int w, unsigned seed, float lo, float hi) {
    Tensor t = tensor_new(backend_cpu(), n, c, h, w);
    t_fill_uniform(t.data, tensor_numel(&t), seed, lo, hi);
    return t;
}

static Tensor like(const Tensor *t, float v) {
    Tensor u = tensor_new(backend_cpu(), t->n, t->c, t->h, t->w);
    for (size_t i = 0; i < tensor_numel(&u); i++) u.data[i] = v;
    return u;
}

static float *dup_floats(const float *p, size_t n) {
    float *q = malloc(sizeof(float) * (n ? n : 1));
    memcpy(q, p, sizeof(float) * n);
    return q;
}

static void free_all(Tensor **t, int n) {
    for (int i = 0; i < n; i++) tensor_free(backend_cpu(), t[i]);
}

#define GARBAGE 7.0f  // prefill of overwritten gradients

// ---------------------------------------------------------------- layers
// A layer under test: forward returns the output (BN_TRAIN), backward dL/dx. With labels
// the loss is softmax_ce(out, labels, 0.1) (the head), otherwise sum r * out.
typedef struct {
    const Tensor *(*fwd)(void *layer, void *cache, const Tensor *x);
    const Tensor *(*bwd)(void *layer, void *cache, const Tensor *dy);
    void *layer, *cache;
    Tensor x, r;
    const int32_t *labels;
    ParamList pl;
} LayerCase;

static double layer_loss(void *p) {
    LayerCase *lc = p;
    const Tensor *y = lc->fwd(lc->layer, lc->cache, &lc->x);
    if (lc->labels) return backend_cpu()->softmax_ce(y, lc->labels, 0.1f, NULL, NULL);
    return gc_dot(lc->r.data, y->data, tensor_numel(y));
}

static int ends_with(const char *s, const char *t) {
    size_t a = strlen(s), b = strlen(t);
    return a >= b && strcmp(s + a - b, t) == 0;
}

// BN scales and biases start at 1 and 0: randomise them so that no gradient is trivially
// symmetric. Conv and linear weights keep their initialisation.
static void randomize_nondecay(ParamList *pl, unsigned seed) {
    for (int i = 0; i < pl->n; i++) {
        Param *p = pl->p[i];
        if (p->decay) continue;
        int scale = ends_with(p->name, "weight");  // BN gamma ("weight", "bn1.weight")
        t_fill_uniform(p->w.data, tensor_numel(&p->w), seed + (unsigned)i, scale ? 0.5f : -0.5f,
                       scale ? 1.5f : 0.5f);
    }
}

static void check_layer_at(const char *name, LayerCase *lc, unsigned seed, int samples,
                           int check_dx);
static void check_layer(const char *name, LayerCase *lc, unsigned seed, int samples) {
    check_layer_at(name, lc, seed, samples, 1);
}
// For a network whose input is data (no dx): every parameter's gradient only.
static void check_layer_params_only(const char *name, LayerCase *lc, unsigned seed, int samples) {
    check_layer_at(name, lc, seed, samples, 0);
}

static void check_layer_at(const char *name, LayerCase *lc, unsigned seed, int samples,
                           int check_dx) {
    const Backend *be = backend_cpu();
    randomize_nondecay(&lc->pl, seed);
    const Tensor *y = lc->fwd(lc->layer, lc->cache, &lc->x);
    Tensor dlogits = {0};
    const Tensor *dy;
    if (lc->labels) {
        dlogits = like(y, GARBAGE);
        be->softmax_ce(y, lc->labels, 0.1f, &dlogits, NULL);
        dy = &dlogits;
    } else {
        lc->r = rand_t(y->n, y->c, y->h, y->w, seed + 1000, -1, 1);
        dy = &lc->r;
    }
    params_zero_grad(be, &lc->pl);
    const Tensor *dx = lc->bwd(lc->layer, lc->cache, dy);
    T_CHECK(dx && tensor_same_shape(dx, &lc->x), "%s: dx missing or misshapen", name);
    if (!dx) return;
    float *adx = dup_floats(dx->data, tensor_numel(dx));
    float **ag = malloc(sizeof(float *) * (size_t)lc->pl.n);
    for (int i = 0; i < lc->pl.n; i++)
        ag[i] = dup_floats(lc->pl.p[i]->g.data, tensor_numel(&lc->pl.p[i]->g));
    // a second forward + backward gives the same gradients: no stale buffer is accumulated
    // into (dx and the layer's internal gradients are overwritten, parameters were zeroed)
    lc->fwd(lc->layer, lc->cache, &lc->x);
    params_zero_grad(be, &lc->pl);
    dx = lc->bwd(lc->layer, lc->cache, dy);
    T_NEAR_ARRAY(dx->data, adx, tensor_numel(dx), 1e-7, 1e-6, "dx of a second backward");
    for (int i = 0; i < lc->pl.n; i++)
        T_NEAR_ARRAY(lc->pl.p[i]->g.data, ag[i], tensor_numel(&lc->pl.p[i]->g), 1e-7, 1e-6,
                     lc->pl.p[i]->name);
    char what[128];
    GcOpts o = gc_opts(seed + 2000);
    o.samples = samples;
    snprintf(what, sizeof what, "%s dx", name);
    if (check_dx) GC_CHECK(what, layer_loss, lc, lc->x.data, tensor_numel(&lc->x), adx, o);
    for (int i = 0; i < lc->pl.n; i++) {
        Param *p = lc->pl.p[i];
        snprintf(what, sizeof what, "%s p%d %s", name, i, p->name);
        o.seed = seed + 2001 + (unsigned)i;
        GC_CHECK(what, layer_loss, lc, p->w.data, tensor_numel(&p->w), ag[i], o);
        free(ag[i]);
    }
    free(ag);
    free(adx);
    tensor_free(be, &dlogits);
    tensor_free(be, &lc->r);
    params_free(&lc->pl);
    tensor_free(be, &lc->x);
}

static const Tensor *cb_f(void *l, void *c, const Tensor *x) {
    return convbn_forward(backend_cpu(), l, c, x, BN_TRAIN);
}
static const Tensor *cb_b(void *l, void *c, const Tensor *dy) {
    return convbn_backward(backend_cpu(), l, c, dy, 1);
}

static void check_convbn(int cin, int cout, int k, int stride, int groups, Act act, int N, int H,
                         int W, unsigned seed) {
    const Backend *be = backend_cpu();
    Rng rng = rng_new(seed);
    ConvBN l;
    ConvBNCache c = {0};
    convbn_init(be, &l, cin, cout, k, stride, groups, act, &rng);
    LayerCase lc = {.fwd = cb_f, .bwd = cb_b, .layer = &l, .cache = &c};
    lc.x = rand_t(N, cin, H, W, seed + 1, -1, 1);
    convbn_params(&l, &lc.pl);
    char name[64];
    snprintf(name, sizeof name, "convbn %d>%d k%d s%d g%d", cin, cout, k, stride, groups);
    check_layer(name, &lc, seed, 24);
    convbn_cache_free(be, &c);
    convbn_free(be, &l);
}

TEST(grad_convbn_stem) {
    check_convbn(3, 4, 3, 2, 1, ACT_SWISH, 2, 7, 7, 1100);
}
TEST(grad_convbn_pointwise) {
    check_convbn(4, 6, 1, 1, 1, ACT_NONE, 2, 4, 5, 1110);
}
TEST(grad_convbn_depthwise) {
    check_convbn(5, 5, 5, 2, 5, ACT_SWISH, 2, 7, 6, 1120);
}
TEST(grad_convbn_grouped) {
    check_convbn(4, 6, 3, 1, 2, ACT_SIGMOID, 2, 5, 5, 1130);
}

// Parameter gradients accumulate over backwards, dx is overwritten, need_dx 0 returns NULL.
TEST(grad_convbn_accumulates) {
    const Backend *be = backend_cpu();
    Rng rng = rng_new(1140);
    ConvBN l;
    ConvBNCache c = {0};
    convbn_init(be, &l, 3, 4, 3, 1, 1, ACT_SWISH, &rng);
    ParamList pl = {0};
    convbn_params(&l, &pl);
    randomize_nondecay(&pl, 1141);
    Tensor x = rand_t(2, 3, 5, 5, 1142, -1, 1);
    const Tensor *y = convbn_forward(be, &l, &c, &x, BN_TRAIN);
    Tensor r = rand_t(y->n, y->c, y->h, y->w, 1143, -1, 1);
    params_zero_grad(be, &pl);
    const Tensor *dx = convbn_backward(be, &l, &c, &r, 1);
    float *dx1 = dup_floats(dx->data, tensor_numel(dx));
    float *g1[3];
    for (int i = 0; i < 3; i++) g1[i] = dup_floats(pl.p[i]->g.data, tensor_numel(&pl.p[i]->g));
    dx = convbn_backward(be, &l, &c, &r, 1);
    T_NEAR_ARRAY(dx->data, dx1, tensor_numel(dx), 1e-7, 1e-6, "convbn dx on a second backward");
    T_CHECK(convbn_backward(be, &l, &c, &r, 0) == NULL, "need_dx 0 returns a dx");
    for (int i = 0; i < 3; i++) {
        size_t n = tensor_numel(&pl.p[i]->g);
        for (size_t j = 0; j < n; j++) g1[i][j] *= 3.0f;
        T_NEAR_ARRAY(pl.p[i]->g.data, g1[i], n, 1e-6, 1e-5, "convbn grads after 3 backwards");
        free(g1[i]);
    }
    free(dx1);
    params_free(&pl);
    free_all((Tensor *[]){&x, &r}, 2);
    convbn_cache_free(be, &c);
    convbn_free(be, &l);
}

static const Tensor *se_f(void *l, void *c, const Tensor *x) {
    return se_forward(backend_cpu(), l, c, x);
}
static const Tensor *se_b(void *l, void *c, const Tensor *dy) {
    return se_backward(backend_cpu(), l, c, dy);
}

TEST(grad_se) {
    const Backend *be = backend_cpu();
    Rng rng = rng_new(1200);
    SE l;
    SECache c = {0};
    se_init(be, &l, 8, 2, &rng);
    LayerCase lc = {.fwd = se_f, .bwd = se_b, .layer = &l, .cache = &c};
    lc.x = rand_t(2, 8, 3, 3, 1201, -2, 2);
    se_params(&l, &lc.pl);
    check_layer("se 8>2", &lc, 1202, 24);
    se_cache_free(be, &c);
    se_free(be, &l);
}

static const Tensor *mb_f(void *l, void *c, const Tensor *x) {
    Rng drop = rng_new(77);  // the same drop-connect draw at every evaluation
    return mbconv_forward(backend_cpu(), l, c, x, BN_TRAIN, &drop);
}
static const Tensor *mb_b(void *l, void *c, const Tensor *dy) {
    return mbconv_backward(backend_cpu(), l, c, dy, 1);
}

static void check_mbconv(MBConvCfg cfg, int N, int H, int W, unsigned seed, float drop_connect) {
    const Backend *be = backend_cpu();
    Rng rng = rng_new(seed);
    MBConv l;
    MBConvCache c = {0};
    mbconv_init(be, &l, cfg, &rng);
    l.drop_connect = drop_connect;
    LayerCase lc = {.fwd = mb_f, .bwd = mb_b, .layer = &l, .cache = &c};
    lc.x = rand_t(N, cfg.cin, H, W, seed + 1, -1.5f, 1.5f);
    mbconv_params(&l, &lc.pl);
    char name[64];
    snprintf(name, sizeof name, "mbconv %d>%d k%d e%d s%d", cfg.cin, cfg.cout, cfg.k, cfg.expand,
             cfg.stride);
    check_layer(name, &lc, seed, 16);
    if (drop_connect > 0) {  // the draw must have both dropped and kept a sample
        int dropped = 0, kept = 0;
        for (int i = 0; i < N; i++)
            dropped += c.keep.data[i * cfg.cout] == 0.0f, kept += c.keep.data[i * cfg.cout] > 0.0f;
        T_CHECK(c.dropped && dropped > 0 && kept > 0, "drop-connect: %d dropped, %d kept", dropped,
                kept);
    }
    mbconv_cache_free(be, &c);
    mbconv_free(be, &l);
}

TEST(grad_mbconv_stride2) {
    check_mbconv(
        (MBConvCfg){.cin = 4, .cout = 6, .k = 3, .expand = 3, .stride = 2, .se_ratio = 0.25f}, 2, 6,
        6, 1300, 0.0f);
}
TEST(grad_mbconv_residual) {
    check_mbconv(
        (MBConvCfg){.cin = 6, .cout = 6, .k = 5, .expand = 6, .stride = 1, .se_ratio = 0.25f}, 2, 5,
        5, 1310, 0.0f);
}
// drop-connect on the residual branch: with a fixed draw the layer is differentiable
TEST(grad_mbconv_drop_connect) {
    check_mbconv(
        (MBConvCfg){.cin = 6, .cout = 6, .k = 3, .expand = 3, .stride = 1, .se_ratio = 0.25f}, 6, 4,
        4, 1315, 0.5f);
}
// expansion 1 (no expand conv), no SE, residual
TEST(grad_mbconv_mb1) {
    check_mbconv(
        (MBConvCfg){.cin = 4, .cout = 4, .k = 3, .expand = 1, .stride = 1, .se_ratio = 0.0f}, 2, 5,
        5, 1320, 0.0f);
}

static const Tensor *head_f(void *l, void *c, const Tensor *x) {
    return head_forward(backend_cpu(), l, c, x, BN_TRAIN, NULL);
}
static const Tensor *head_b(void *l, void *c, const Tensor *dy) {
    return head_backward(backend_cpu(), l, c, dy);
}

TEST(grad_head) {
    const Backend *be = backend_cpu();
    static const int32_t labels[3] = {4, 0, 2};
    Rng rng = rng_new(1400);
    Head l;
    HeadCache c = {0};
    head_init(be, &l, 6, 8, 5, &rng);
    LayerCase lc = {.fwd = head_f, .bwd = head_b, .layer = &l, .cache = &c, .labels = labels};
    lc.x = rand_t(3, 6, 3, 3, 1401, -1, 1);
    head_params(&l, &lc.pl);
    check_layer("head 6>8>5", &lc, 1402, 24);
    head_cache_free(be, &c);
    head_free(be, &l);
}

// Dropout: every forward re-seeds the mask's generator, so finite differences see one mask.
static const Tensor *head_drop_f(void *l, void *c, const Tensor *x) {
    Rng drop = rng_new(1450);
    return head_forward(backend_cpu(), l, c, x, BN_TRAIN, &drop);
}

TEST(grad_head_dropout) {
    const Backend *be = backend_cpu();
    static const int32_t labels[3] = {1, 3, 2};
    Rng rng = rng_new(1440);
    Head l;
    HeadCache c = {0};
    head_init(be, &l, 6, 8, 5, &rng);
    l.dropout = 0.4f;
    LayerCase lc = {.fwd = head_drop_f, .bwd = head_b, .layer = &l, .cache = &c, .labels = labels};
    lc.x = rand_t(3, 6, 3, 3, 1441, -1, 1);
    head_params(&l, &lc.pl);
    check_layer("head dropout", &lc, 1442, 24);
    // some features dropped, the rest scaled by 1/(1-p)
    int zeros = 0;
    for (int i = 0; i < 3 * 8; i++) {
        zeros += c.mask.data[i] == 0.0f;
        T_CHECK(c.mask.data[i] == 0.0f || fabsf(c.mask.data[i] - 1.0f / 0.6f) < 1e-6f,
                "mask value");
    }
    T_CHECK(zeros > 0 && zeros < 24, "dropout dropped %d of 24", zeros);
    head_cache_free(be, &c);
    head_free(be, &l);
}

// ---------------------------------------------------------------- synchronised batch norm
// Synchronised BN in one process: a "group" of two ranks holding the same batch (the sync
// doubles every sum) must give what local BN gives on that batch stacked twice.
static void sum_twice(void *ctx, double *buf, size_t n) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) buf[i] *= 2;
}

TEST(bn_sync_equals_stacked_batch) {
    const Backend *be = backend_cpu();
    const BnSync twice = {sum_twice, NULL};
    Tensor x = rand_t(3, 4, 5, 5, 71, -2, 3), dy = rand_t(3, 4, 5, 5, 72, -1, 1);
    Tensor x2 = tensor_new(be, 6, 4, 5, 5), dy2 = tensor_new(be, 6, 4, 5, 5);
    size_t n = tensor_numel(&x);
    for (int h = 0; h < 2; h++) {
        memcpy(x2.data + h * n, x.data, n * sizeof(float));
        memcpy(dy2.data + h * n, dy.data, n * sizeof(float));
    }
    Tensor y = like(&x, 0), dx = like(&x, 0), y2 = like(&x2, 0), dx2 = like(&x2, 0);
    float g[4] = {1.5f, -0.5f, 1, 2}, b[4] = {0.1f, 0, -1, 0.5f}, m[4], is[4], m2[4], is2[4];
    float rm[4] = {0}, rv[4] = {1, 1, 1, 1}, rm2[4] = {0}, rv2[4] = {1, 1, 1, 1};
    float dg[4] = {0}, db[4] = {0}, dg2[4] = {0}, db2[4] = {0};
    be->bn_fwd_train(&x, g, b, &y, m, is, rm, rv, 0.1f, 1e-5f, ACT_SWISH, &twice);
    be->bn_fwd_train(&x2, g, b, &y2, m2, is2, rm2, rv2, 0.1f, 1e-5f, ACT_SWISH, NULL);
    T_NEAR_ARRAY(y.data, y2.data, n, 1e-6, 1e-5, "sync bn y");
    T_NEAR_ARRAY(m, m2, 4, 1e-6, 1e-5, "sync bn mean");
    T_NEAR_ARRAY(is, is2, 4, 1e-6, 1e-5, "sync bn invstd");
    T_NEAR_ARRAY(rv, rv2, 4, 1e-6, 1e-5, "sync bn running var (unbiased over the group)");
    be->bn_bwd(&x, g, b, m, is, &dy, &dx, dg, db, ACT_SWISH, &twice);
    be->bn_bwd(&x2, g, b, m2, is2, &dy2, &dx2, dg2, db2, ACT_SWISH, NULL);
    T_NEAR_ARRAY(dx.data, dx2.data, n, 1e-6, 1e-5, "sync bn dx");
    for (int c = 0; c < 4; c++) dg[c] *= 2, db[c] *= 2;  // each rank keeps its own share
    T_NEAR_ARRAY(dg, dg2, 4, 1e-5, 1e-5, "sync bn dgamma");
    T_NEAR_ARRAY(db, db2, 4, 1e-5, 1e-5, "sync bn dbeta");
    free_all((Tensor *[]){&x, &dy, &x2, &dy2, &y, &dx, &y2, &dx2}, 8);
}

// ---------------------------------------------------------------- transformer block
static const Tensor *tf_f(void *l, void *c, const Tensor *x) {
    Rng drop = rng_new(78);  // the same DropPath draw at every evaluation
    return tfblock_forward(backend_cpu(), l, c, x, &drop);
}
static const Tensor *tf_b(void *l, void *c, const Tensor *dy) {
    return tfblock_backward(backend_cpu(), l, c, dy);
}

// Weights of 0.5 / sqrt(fan-in) instead of the init's 0.02, so attention is far from
// uniform and every term of the backward carries weight.
static void check_tfblock(TfBlockCfg cfg, int N, int T, unsigned seed, float drop_path) {
    const Backend *be = backend_cpu();
    Rng rng = rng_new(seed);
    TfBlock l;
    TfBlockCache c = {0};
    tfblock_init(be, &l, cfg, &rng);
    l.drop_path = drop_path;
    LayerCase lc = {.fwd = tf_f, .bwd = tf_b, .layer = &l, .cache = &c};
    lc.x = rand_t(N, T, 1, cfg.dim, seed + 1, -1.5f, 1.5f);
    tfblock_params(&l, &lc.pl);
    for (int i = 0; i < lc.pl.n; i++) {
        Param *p = lc.pl.p[i];
        float a = 0.5f / sqrtf((float)p->w.c);
        if (p->decay) t_fill_uniform(p->w.data, tensor_numel(&p->w), seed + 10 + i, -a, a);
    }
    char name[64];
    snprintf(name, sizeof name, "tfblock d%d h%d mlp%d drop %.1f", cfg.dim, cfg.heads, cfg.hidden,
             drop_path);
    check_layer(name, &lc, seed, 16);
    if (drop_path > 0) {  // the draw must have both dropped and kept a branch
        int dropped = 0, kept = 0;
        for (int i = 0; i < 2 * N; i++)
            dropped += c.keep.data[i] == 0.0f, kept += c.keep.data[i] > 0.0f;
        T_CHECK(c.dropped && dropped > 0 && kept > 0, "DropPath: %d dropped, %d kept", dropped,
                kept);
    }
    tfblock_cache_free(be, &c);
    tfblock_free(be, &l);
}

TEST(grad_tfblock) {
    check_tfblock((TfBlockCfg){.dim = 8, .heads = 2, .hidden = 12}, 3, 5, 1500, 0.0f);
}
TEST(grad_tfblock_one_head) {
    check_tfblock((TfBlockCfg){.dim = 6, .heads = 1, .hidden = 4}, 2, 4, 1510, 0.0f);
}
TEST(grad_tfblock_drop_path) {
    check_tfblock((TfBlockCfg){.dim = 8, .heads = 2, .hidden = 16}, 6, 3, 1520, 0.5f);
}

// ---------------------------------------------------------------- ViT stage
static const Tensor *vs_f(void *l, void *c, const Tensor *x) {
    Rng drop = rng_new(79);
    return vitstage_forward(backend_cpu(), l, c, x, &drop);
}
static const Tensor *vs_b(void *l, void *c, const Tensor *dy) {
    return vitstage_backward(backend_cpu(), l, c, dy, 1);
}

static void check_vitstage(VitStageCfg cfg, unsigned seed, float drop_path) {
    const Backend *be = backend_cpu();
    Rng rng = rng_new(seed);
    VitStage l;
    VitStageCache c = {0};
    vitstage_init(be, &l, cfg, &rng);
    for (int i = 0; i < cfg.depth; i++) l.blk[i].drop_path = drop_path;
    LayerCase lc = {.fwd = vs_f, .bwd = vs_b, .layer = &l, .cache = &c};
    lc.x = rand_t(2, cfg.cin, cfg.in_hw, cfg.in_hw, seed + 1, -1.5f, 1.5f);
    vitstage_params(&l, &lc.pl);
    for (int i = 0; i < lc.pl.n; i++) {  // weights of 0.5 / sqrt(fan-in), as check_tfblock
        Param *p = lc.pl.p[i];
        float a = 0.5f / sqrtf((float)p->w.c * p->w.h * p->w.w);
        if (p->decay) t_fill_uniform(p->w.data, tensor_numel(&p->w), seed + 10 + i, -a, a);
    }
    char name[96];
    snprintf(name, sizeof name, "vitstage %dx%d>%dx%d d%d h%d x%d", cfg.cin, cfg.in_hw, cfg.cout,
             cfg.out_hw, cfg.dim, cfg.hidden, cfg.depth);
    check_layer(name, &lc, seed, 12);
    vitstage_cache_free(be, &c);
    vitstage_free(be, &l);
}

// patch embedding 4x4 on an 8x8 map (block 1), two transformer blocks of two heads
TEST(grad_vitstage_patch) {
    check_vitstage((VitStageCfg){.cin = 2,
                                 .in_hw = 8,
                                 .cout = 5,
                                 .out_hw = 2,
                                 .dim = 8,
                                 .hidden = 16,
                                 .depth = 2,
                                 .head_dim = 4},
                   1700, 0.0f);
}
// where the teacher halves the resolution (stride 2), with DropPath
TEST(grad_vitstage_stride2_drop_path) {
    check_vitstage((VitStageCfg){.cin = 3,
                                 .in_hw = 6,
                                 .cout = 4,
                                 .out_hw = 3,
                                 .dim = 6,
                                 .hidden = 12,
                                 .depth = 1,
                                 .head_dim = 3},
                   1710, 0.5f);
}
// same resolution (1x1 embedding)
TEST(grad_vitstage_stride1) {
    check_vitstage((VitStageCfg){.cin = 4,
                                 .in_hw = 3,
                                 .cout = 4,
                                 .out_hw = 3,
                                 .dim = 4,
                                 .hidden = 8,
                                 .depth = 2,
                                 .head_dim = 2},
                   1720, 0.0f);
}

// ---------------------------------------------------------------- standalone ViT network
static const Tensor *vn_f(void *l, void *c, const Tensor *x) {
    (void)c;
    Rng drop = rng_new(80);  // the same DropPath and dropout draws at every evaluation
    return vitnet_forward(backend_cpu(), l, x, BN_TRAIN, &drop);
}
static const Tensor *vn_b(void *l, void *c, const Tensor *dy) {
    (void)c;
    VitNet *n = l;
    vitnet_backward(backend_cpu(), n, dy);
    return &n->sc[0].dx;  // block 1 computes no dx: its input is the image
}

// Two chained stages (patch 2, then a stride-2 merge) and the head, DropPath and dropout
// on, cross-entropy on labels: every parameter's gradient. (dx of the image is not
// computed; check_layer's dx check is on the zero tensor it is given instead.)
TEST(grad_vitnet) {
    const Backend *be = backend_cpu();
    VitNetCfg cfg = {.nblocks = 2, .head = 6, .classes = 4, .dropout = 0.3f, .drop_path = 0.3f};
    cfg.stage[0] = (VitStageCfg){2, 8, 3, 4, .dim = 8, .hidden = 16, .depth = 2, .head_dim = 4};
    cfg.stage[1] = (VitStageCfg){3, 4, 5, 2, .dim = 4, .hidden = 8, .depth = 1, .head_dim = 2};
    Rng rng = rng_new(1900);
    VitNet net;
    vitnet_init(be, &net, &cfg, &rng);
    static const int32_t labels[3] = {1, 3, 0};
    LayerCase lc = {.fwd = vn_f, .bwd = vn_b, .layer = &net, .labels = labels};
    lc.x = rand_t(3, 2, 8, 8, 1901, -1.5f, 1.5f);
    for (int i = 0; i < net.params.n; i++) {
        Param *p = net.params.p[i];
        params_push(&lc.pl, p);
        float a = 0.5f / sqrtf((float)p->w.c * p->w.h * p->w.w);
        if (p->decay) t_fill_uniform(p->w.data, tensor_numel(&p->w), 1910 + i, -a, a);
    }
    tensor_ensure(be, &net.sc[0].dx, 3, 2, 8, 8);  // stands in for dx (zero, as the image's)
    check_layer_params_only("vitnet", &lc, 1902, 8);
    vitnet_free(be, &net);
}

// ---------------------------------------------------------------- one-shot ViT supernet
static const Tensor *os_f(void *l, void *c, const Tensor *x) {
    (void)c;
    Rng drop = rng_new(81);
    return oneshot_forward(backend_cpu(), l, x, BN_TRAIN, &drop);
}
static const Tensor *os_b(void *l, void *c, const Tensor *dy) {
    (void)c;
    OneShot *s = l;
    oneshot_backward(backend_cpu(), s, dy);
    return &s->vit[0].cache.dx;  // block 1 computes no dx: its input is the image
}

// `dna spos` on a ViT space: two slimmable blocks chained (a narrow, deep subnet, then a
// wide, shallow one, each a strict slice of its supernet) and the head, on labels. The
// gradient of every supernet weight: the path's slices, through block 2's dx into block 1,
// and exactly zero outside them.
TEST(grad_oneshot_vit) {
    const Backend *be = backend_cpu();
    VitChoices ch = {.ndims = 2,
                     .dims = {4, 8},
                     .nratios = 2,
                     .ratios = {1, 2},
                     .ndepths = 2,
                     .depths = {1, 2},
                     .head_dim = 4};
    Space sp = {.vit = 1, .nblocks = 2};
    sp.block[0] = (SpaceBlock){.ncells = 1, .in_c = 2, .in_hw = 8, .out_c = 3, .out_hw = 4};
    sp.block[1] = (SpaceBlock){.ncells = 1, .in_c = 3, .in_hw = 4, .out_c = 5, .out_hw = 2};
    for (int k = 0; k < 2; k++) {
        SpaceBlock *b = &sp.block[k];
        b->vit = (VitCellCfg){b->in_c, b->in_hw, b->out_c, b->out_hw, ch};
    }
    EffNetCfg t = {.head = 6, .classes = 4};
    Rng rng = rng_new(1950);
    OneShot s;
    oneshot_init(be, &s, &sp, &t, 0.3f, &rng);
    const int cell[2] = {0, 0};
    const int64_t code[2] = {(0 * 2 + 1) * 2 + 1, (1 * 2 + 0) * 2 + 0};  // d4-r2-n2, d8-r1-n1
    oneshot_set(&s, cell, code);
    static const int32_t labels[3] = {2, 0, 3};
    LayerCase lc = {.fwd = os_f, .bwd = os_b, .layer = &s, .labels = labels};
    lc.x = rand_t(3, 2, 8, 8, 1951, -1.5f, 1.5f);
    oneshot_path_params(&s, &lc.pl);
    T_CHECK(lc.pl.n > 0, "the ViT path's parameters are the whole supernet's");
    for (int i = 0; i < lc.pl.n; i++) {
        Param *p = lc.pl.p[i];
        float a = 0.5f / sqrtf((float)p->w.c * p->w.h * p->w.w);
        if (p->decay) t_fill_uniform(p->w.data, tensor_numel(&p->w), 1960 + i, -a, a);
    }
    tensor_ensure(be, &s.vit[0].cache.dx, 3, 2, 8, 8);  // stands in for dx (zero)
    // off the path, exactly zero: block 2's second transformer block, block 1's embedding
    // rows of channels 4..7
    params_zero_grad(be, &lc.pl);
    Tensor dl = rand_t(3, 4, 1, 1, 1953, -1, 1);
    oneshot_forward(be, &s, &lc.x, BN_TRAIN, NULL);
    oneshot_backward(be, &s, &dl);
    ParamList off = {0};
    tfblock_params(&s.vit[1].full.blk[1], &off);
    double sum = 0;
    for (int i = 0; i < off.n; i++)
        for (size_t j = 0; j < tensor_numel(&off.p[i]->g); j++) sum += fabs(off.p[i]->g.data[j]);
    const Tensor *eg = &s.vit[0].full.embed_w.g;
    size_t row = tensor_numel(eg) / 8;
    for (size_t j = 4 * row; j < 8 * row; j++) sum += fabs(eg->data[j]);
    T_CHECK(sum == 0, "off-path gradients sum to %g, not 0", sum);
    params_free(&off);
    tensor_free(be, &dl);
    check_layer_params_only("oneshot_vit", &lc, 1952, 8);
    oneshot_free(be, &s);
}
