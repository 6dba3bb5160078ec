// Gradient checks (grad_*) for every backend op with a backward and every layer, and
// hand-computed reference values (ref_*) for the forward ops.
//
// Method (gradcheck.h): L = sum_i r_i * out_i with fixed random r in [-1, 1), summed in
// double; the analytic gradient is the backward run with dy = r, the numeric one is the
// 4-point central difference at h = 2^-7 on 24 random coordinates per tensor (16 for
// MBConv, up to 64 for wide convs; all of them for smaller tensors). For the losses (mse,
// softmax_ce) L is the loss itself.
//
// Tolerance, per coordinate: |num - ana| <= 1e-3 + 1e-2 * |ana| (atol 1e-5 / 1e-4 for mse
// and softmax_ce, whose gradients are ~1/n). The numeric error (float rounding of the
// forward over h, which shrinks as h grows, plus O(h^4) truncation) is 1e-6..1e-4 for the
// ops and up to 8e-4 for MBConv, whose stacked train-mode BNs add the most rounding; the
// worst coordinate of all (GRADCHECK_ALL=1) uses 0.34 of the tolerance, the sampled ones
// at most 0.18 (GRADCHECK_VERBOSE=1 prints every check's worst error). Yet a gradient off
// by 10% fails on any coordinate with |ana| > 0.02: grad_checker_catches_wrong_gradients
// asserts that, and that a shifted gradient and a BN backward missing its variance term
// fail on most coordinates.
//
// Every backward is also held to the interface's conventions (ops.h): input gradients
// (dx, the gate's dg, dyhat, dlogits) are prefilled with garbage and must be overwritten;
// parameter gradients (dw, db, dgamma, dbeta) and gap_bwd's dx are prefilled with known
// values and must be accumulated into (the prefill is subtracted before the comparison).
//
// Kinks: relu is only evaluated on inputs with |x| >= 0.2 (act) or on BN outputs built so
// that |z| >= 0.19 (bn), both far beyond the 2h = 0.016 the stencil moves.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "gradcheck.h"
#include "harness.h"
#include "nn/mbconv.h"
#include "tensor/ops.h"

// ---------------------------------------------------------------- helpers
static Tensor rand_t(int n, int c, int h, int w, unsigned seed, float lo, float hi) {
    Tensor t = tensor_new(backend_cpu(), n, c, h, w);
    t_fill_uniform(t.data, tensor_numel(&t), seed, lo, hi);
    return t;
}

// magnitudes in [lo, hi) with random signs: away from relu's kink at 0
static Tensor rand_away0(int n, int c, int h, int w, unsigned seed, float lo, float hi) {
    Tensor t = rand_t(n, c, h, w, seed, lo, hi);
    Rng r = rng_new(seed ^ 0x5eedu);
    for (size_t i = 0; i < tensor_numel(&t); i++)
        if (rng_below(&r, 2)) t.data[i] = -t.data[i];
    return t;
}

static Tensor like(const Tensor *t, float v) {
    Tensor u = tensor_new(backend_cpu(), t->n, t->c, t->h, t->w);
    for (size_t i = 0; i < tensor_numel(&u); i++) u.data[i] = v;
    return u;
}

static void add_const(Tensor *t, float v) {
    for (size_t i = 0; i < tensor_numel(t); i++) t->data[i] += v;
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
#define ACC_W 0.5f    // prefill of accumulated gradients
#define ACC_B 0.25f

// ---------------------------------------------------------------- conv2d
typedef struct {
    Tensor x, w, y, r;
    ConvSpec s;
} ConvCtx;

static double conv_loss(void *p) {
    ConvCtx *c = p;
    backend_cpu()->conv2d_fwd(&c->x, &c->w, &c->y, c->s);
    return gc_dot(c->r.data, c->y.data, tensor_numel(&c->y));
}

// Sets up a conv case, runs its backward (dx prefilled with garbage, dw with ACC_W, which
// is then subtracted). Caller frees with conv_ctx_free.
static void conv_setup(ConvCtx *c, Tensor *dx, Tensor *dw, int N, int Ci, int H, int W, int Co,
                       int k, int stride, int pad, int groups, unsigned seed) {
    const Backend *be = backend_cpu();
    int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    *c = (ConvCtx){.s = {stride, pad, groups}};
    c->x = rand_t(N, Ci, H, W, seed, -1, 1);
    c->w = rand_t(Co, Ci / groups, k, k, seed + 1, -1, 1);
    c->y = tensor_new(be, N, Co, Ho, Wo);
    c->r = rand_t(N, Co, Ho, Wo, seed + 2, -1, 1);
    *dx = like(&c->x, GARBAGE);
    *dw = like(&c->w, ACC_W);
    conv_loss(c);
    be->conv2d_bwd(&c->x, &c->w, &c->r, dx, dw, c->s);
    add_const(dw, -ACC_W);
}

// pad -1: k/2, as the layers use
static void check_conv_p(int N, int Ci, int H, int W, int Co, int k, int stride, int pad,
                         int groups, int samples, unsigned seed) {
    const Backend *be = backend_cpu();
    ConvCtx c;
    Tensor dx, dw;
    if (pad < 0) pad = k / 2;
    conv_setup(&c, &dx, &dw, N, Ci, H, W, Co, k, stride, pad, groups, seed);
    char what[96];
    GcOpts o = gc_opts(seed + 3);
    o.samples = samples;
    snprintf(what, sizeof what, "conv k%d s%d p%d g%d %dx%d dx", k, stride, pad, groups, H, W);
    GC_CHECK(what, conv_loss, &c, c.x.data, tensor_numel(&c.x), dx.data, o);
    snprintf(what, sizeof what, "conv k%d s%d p%d g%d %dx%d dw", k, stride, pad, groups, H, W);
    o.seed = seed + 4;
    GC_CHECK(what, conv_loss, &c, c.w.data, tensor_numel(&c.w), dw.data, o);

    // a NULL gradient is skipped and leaves the other one as it was
    Tensor dx2 = like(&c.x, GARBAGE), dw2 = like(&c.w, 0.0f);
    be->conv2d_bwd(&c.x, &c.w, &c.r, &dx2, NULL, c.s);
    be->conv2d_bwd(&c.x, &c.w, &c.r, NULL, &dw2, c.s);
    T_NEAR_ARRAY(dx2.data, dx.data, tensor_numel(&dx), 1e-6, 1e-6, "conv dx with dw NULL");
    T_NEAR_ARRAY(dw2.data, dw.data, tensor_numel(&dw), 1e-5, 1e-5, "conv dw with dx NULL");
    free_all((Tensor *[]){&c.x, &c.w, &c.y, &c.r, &dx, &dw, &dx2, &dw2}, 8);
}

static void check_conv(int N, int Ci, int H, int W, int Co, int k, int stride, int groups,
                       unsigned seed) {
    check_conv_p(N, Ci, H, W, Co, k, stride, -1, groups, 24, seed);
}

// 1x1 stride 1: the GEMM path
TEST(grad_conv_pointwise) {
    check_conv(2, 5, 4, 3, 3, 1, 1, 1, 100);
}
// depthwise (groups == Ci == Co), padding k/2
TEST(grad_conv_depthwise_k3s1) {
    check_conv(2, 4, 6, 5, 4, 3, 1, 4, 110);
}
TEST(grad_conv_depthwise_k5s2) {
    check_conv(2, 3, 9, 8, 3, 5, 2, 3, 120);
}
TEST(grad_conv_depthwise_k7s1) {
    check_conv(2, 2, 8, 8, 2, 7, 1, 2, 130);
}
// wide rows: the depthwise kernels work on blocks of 8..32 outputs plus a scalar tail
// (Wo 37 = 32 + 5, 20 = 16 + 4, 18 = 16 + 2; at stride 1 dx is itself a correlation of
// width W), unpadded, and a stride other than 1 or 2 (column phases)
TEST(grad_conv_depthwise_wide_k3s1) {
    check_conv_p(1, 2, 4, 37, 2, 3, 1, -1, 2, 64, 132);
}
TEST(grad_conv_depthwise_wide_k5s2) {
    check_conv_p(1, 2, 5, 40, 2, 5, 2, -1, 2, 64, 134);
}
TEST(grad_conv_depthwise_wide_k7s2) {
    check_conv_p(1, 2, 7, 35, 2, 7, 2, -1, 2, 64, 136);
}
TEST(grad_conv_depthwise_pad0) {
    check_conv_p(2, 2, 6, 20, 2, 3, 1, 0, 2, 48, 138);
}
TEST(grad_conv_depthwise_k5s3) {
    check_conv_p(2, 2, 7, 26, 2, 5, 3, -1, 2, 48, 139);
}
// im2col path: dense 3x3 stride 2 (the stem), grouped 3x3, a strided 1x1 and a dense 3x3 s1
TEST(grad_conv_3x3s2) {
    check_conv(2, 3, 7, 6, 4, 3, 2, 1, 140);
}
TEST(grad_conv_3x3s2_groups2) {
    check_conv(2, 4, 6, 7, 6, 3, 2, 2, 150);
}
TEST(grad_conv_3x3s1_groups2) {
    check_conv(2, 4, 5, 5, 2, 3, 1, 2, 155);
}
TEST(grad_conv_1x1s2) {
    check_conv(2, 3, 5, 6, 4, 1, 2, 1, 160);
}
TEST(grad_conv_3x3s1) {
    check_conv(3, 2, 5, 4, 3, 3, 1, 1, 170);
}

// ---------------------------------------------------------------- linear
typedef struct {
    Tensor x, w, b, y, r;
} LinCtx;

static double lin_loss(void *p) {
    LinCtx *c = p;
    backend_cpu()->linear_fwd(&c->x, &c->w, c->b.data, &c->y);
    return gc_dot(c->r.data, c->y.data, tensor_numel(&c->y));
}

TEST(grad_linear) {
    const Backend *be = backend_cpu();
    LinCtx c;
    c.x = rand_t(3, 2, 3, 1, 200, -1, 1);  // [N=3, I=6]: inputs are flattened
    c.w = rand_t(4, 6, 1, 1, 201, -1, 1);
    c.b = rand_t(4, 1, 1, 1, 202, -1, 1);
    c.y = tensor_new(be, 3, 4, 1, 1);
    c.r = rand_t(3, 4, 1, 1, 203, -1, 1);
    Tensor dx = like(&c.x, GARBAGE), dw = like(&c.w, ACC_W), db = like(&c.b, ACC_B);
    lin_loss(&c);
    be->linear_bwd(&c.x, &c.w, &c.r, &dx, &dw, db.data);
    add_const(&dw, -ACC_W);
    add_const(&db, -ACC_B);
    GC_CHECK("linear dx", lin_loss, &c, c.x.data, tensor_numel(&c.x), dx.data, gc_opts(204));
    GC_CHECK("linear dw", lin_loss, &c, c.w.data, tensor_numel(&c.w), dw.data, gc_opts(205));
    GC_CHECK("linear db", lin_loss, &c, c.b.data, tensor_numel(&c.b), db.data, gc_opts(206));

    // no bias: y = x w^T exactly as with a zero bias
    Tensor y0 = tensor_new(be, 3, 4, 1, 1), zb = like(&c.b, 0.0f);
    be->linear_fwd(&c.x, &c.w, NULL, &y0);
    be->linear_fwd(&c.x, &c.w, zb.data, &c.y);
    T_NEAR_ARRAY(y0.data, c.y.data, tensor_numel(&y0), 0, 0, "linear without bias");
    // NULL gradients are skipped
    Tensor dx2 = like(&c.x, GARBAGE);
    be->linear_bwd(&c.x, &c.w, &c.r, &dx2, NULL, NULL);
    T_NEAR_ARRAY(dx2.data, dx.data, tensor_numel(&dx), 1e-6, 1e-6, "linear dx alone");
    free_all((Tensor *[]){&c.x, &c.w, &c.b, &c.y, &c.r, &dx, &dw, &db, &y0, &zb, &dx2}, 11);
}

// ---------------------------------------------------------------- batch norm (+ activation)
typedef struct {
    Tensor x, gamma, beta, y, r, mean, invstd, rm, rv;
    Act act;
} BnCtx;

static const float BN_EPS = 1e-5f;

static double bn_loss(void *p) {
    BnCtx *c = p;
    backend_cpu()->bn_fwd_train(&c->x, c->gamma.data, c->beta.data, &c->y, c->mean.data,
                                c->invstd.data, c->rm.data, c->rv.data, 0.1f, BN_EPS, c->act, NULL);
    return gc_dot(c->r.data, c->y.data, tensor_numel(&c->y));
}

// x = u + offset_c with |u| in [0.3, 1.2); for relu, beta_c = gamma_c mean(u) invstd_c, so
// the pre-activation is z = gamma_c invstd_c u: |z| >= 0.19, never near relu's kink.
static void bn_setup(BnCtx *c, Act act, int N, int C, int H, int W, unsigned seed) {
    const Backend *be = backend_cpu();
    *c = (BnCtx){.act = act};
    c->x = rand_away0(N, C, H, W, seed, 0.3f, 1.2f);
    c->gamma = rand_t(C, 1, 1, 1, seed + 1, 0.5f, 1.5f);
    c->beta = rand_t(C, 1, 1, 1, seed + 2, -0.5f, 0.5f);
    Tensor off = rand_t(C, 1, 1, 1, seed + 3, -2.0f, 2.0f);
    if (C > 1) c->gamma.data[1] = -c->gamma.data[1];  // a negative scale too
    size_t HW = (size_t)H * W, M = HW * N;
    for (int ch = 0; ch < C; ch++) {
        double s = 0, q = 0;
        for (int n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) s += c->x.data[((size_t)n * C + ch) * HW + i];
        double mu = s / M;
        for (int n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++) {
                double d = c->x.data[((size_t)n * C + ch) * HW + i] - mu;
                q += d * d;
            }
        if (act == ACT_RELU)
            c->beta.data[ch] = (float)(c->gamma.data[ch] * mu / sqrt(q / M + BN_EPS));
        for (int n = 0; n < N; n++)
            for (size_t i = 0; i < HW; i++)
                c->x.data[((size_t)n * C + ch) * HW + i] += off.data[ch];
    }
    tensor_free(be, &off);
    c->y = tensor_new(be, N, C, H, W);
    c->r = rand_t(N, C, H, W, seed + 4, -1, 1);
    c->mean = tensor_new(be, C, 1, 1, 1);
    c->invstd = tensor_new(be, C, 1, 1, 1);
    c->rm = tensor_new(be, C, 1, 1, 1);
    c->rv = like(&c->rm, 1.0f);
}

static void bn_ctx_free(BnCtx *c) {
    free_all((Tensor *[]){&c->x, &c->gamma, &c->beta, &c->y, &c->r, &c->mean, &c->invstd, &c->rm,
                          &c->rv},
             9);
}

// analytic gradients of bn_loss at the current point (conventions applied, see top)
static void bn_analytic(BnCtx *c, Tensor *dx, Tensor *dg, Tensor *db) {
    *dx = like(&c->x, GARBAGE);
    *dg = like(&c->gamma, ACC_W);
    *db = like(&c->beta, ACC_B);
    bn_loss(c);
    backend_cpu()->bn_bwd(&c->x, c->gamma.data, c->beta.data, c->mean.data, c->invstd.data, &c->r,
                          dx, dg->data, db->data, c->act, NULL);
    add_const(dg, -ACC_W);
    add_const(db, -ACC_B);
}

static void check_bn(Act act, const char *name, unsigned seed) {
    BnCtx c;
    bn_setup(&c, act, 2, 3, 3, 3, seed);
    Tensor dx, dg, db;
    bn_analytic(&c, &dx, &dg, &db);
    char what[64];
    snprintf(what, sizeof what, "bn+%s dx", name);
    GC_CHECK(what, bn_loss, &c, c.x.data, tensor_numel(&c.x), dx.data, gc_opts(seed + 5));
    snprintf(what, sizeof what, "bn+%s dgamma", name);
    GC_CHECK(what, bn_loss, &c, c.gamma.data, tensor_numel(&c.gamma), dg.data, gc_opts(seed + 6));
    snprintf(what, sizeof what, "bn+%s dbeta", name);
    GC_CHECK(what, bn_loss, &c, c.beta.data, tensor_numel(&c.beta), db.data, gc_opts(seed + 7));
    // NULL parameter gradients are skipped
    Tensor dx2 = like(&c.x, GARBAGE);
    bn_loss(&c);
    backend_cpu()->bn_bwd(&c.x, c.gamma.data, c.beta.data, c.mean.data, c.invstd.data, &c.r, &dx2,
                          NULL, NULL, act, NULL);
    T_NEAR_ARRAY(dx2.data, dx.data, tensor_numel(&dx), 1e-6, 1e-6, "bn dx alone");
    free_all((Tensor *[]){&dx, &dg, &db, &dx2}, 4);
    bn_ctx_free(&c);
}

TEST(grad_bn_none) {
    check_bn(ACT_NONE, "none", 300);
}
TEST(grad_bn_relu) {
    check_bn(ACT_RELU, "relu", 310);
}
TEST(grad_bn_swish) {
    check_bn(ACT_SWISH, "swish", 320);
}
TEST(grad_bn_sigmoid) {
    check_bn(ACT_SIGMOID, "sigmoid", 330);
}

// ---------------------------------------------------------------- activations
typedef struct {
    Tensor x, y, r;
    Act act;
} ActCtx;

static double act_loss(void *p) {
    ActCtx *c = p;
    backend_cpu()->act_fwd(c->act, &c->x, &c->y);
    return gc_dot(c->r.data, c->y.data, tensor_numel(&c->y));
}

static void check_act(Act act, const char *what, unsigned seed) {
    ActCtx c = {.act = act};
    c.x = act == ACT_RELU ? rand_away0(2, 3, 4, 5, seed, 0.2f, 2.0f)
                          : rand_t(2, 3, 4, 5, seed, -5.0f, 5.0f);
    c.y = like(&c.x, 0.0f);
    c.r = rand_t(2, 3, 4, 5, seed + 1, -1, 1);
    Tensor dx = like(&c.x, GARBAGE);
    backend_cpu()->act_bwd(act, &c.x, &c.r, &dx);
    GcOpts o = gc_opts(seed + 2);
    o.samples = 40;
    GC_CHECK(what, act_loss, &c, c.x.data, tensor_numel(&c.x), dx.data, o);
    free_all((Tensor *[]){&c.x, &c.y, &c.r, &dx}, 4);
}

TEST(grad_act_relu) {
    check_act(ACT_RELU, "relu dx", 400);
}
TEST(grad_act_sigmoid) {
    check_act(ACT_SIGMOID, "sigmoid dx", 410);
}
TEST(grad_act_swish) {
    check_act(ACT_SWISH, "swish dx", 420);
}
TEST(grad_act_none) {
    check_act(ACT_NONE, "identity dx", 430);
}

// the activations' values at a few points (sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4, ...)
TEST(ref_act_values) {
    const Backend *be = backend_cpu();
    float xv[6] = {0.0f, (float)log(3.0), (float)-log(3.0), 2.0f, -2.0f, 30.0f};
    Tensor x = tensor_new(be, 1, 6, 1, 1), y = tensor_new(be, 1, 6, 1, 1);
    memcpy(x.data, xv, sizeof xv);
    double s2 = 1.0 / (1.0 + exp(-2.0));  // 0.880797078
    float sig[6] = {0.5f, 0.75f, 0.25f, (float)s2, (float)(1 - s2), 1.0f};
    float swi[6] = {0.0f, 0.75f * xv[1], 0.25f * xv[2], (float)(2 * s2), (float)(-2 * (1 - s2)),
                    30.0f};
    float rel[6] = {0.0f, xv[1], 0.0f, 2.0f, 0.0f, 30.0f};
    be->act_fwd(ACT_SIGMOID, &x, &y);
    T_NEAR_ARRAY(y.data, sig, 6, 1e-7, 1e-6, "sigmoid");
    be->act_fwd(ACT_SWISH, &x, &y);
    T_NEAR_ARRAY(y.data, swi, 6, 1e-7, 1e-6, "swish");
    be->act_fwd(ACT_RELU, &x, &y);
    T_NEAR_ARRAY(y.data, rel, 6, 0, 0, "relu");
    tensor_free(be, &x);
    tensor_free(be, &y);
}

// ---------------------------------------------------------------- gap, scale_ch
typedef struct {
    Tensor x, g, y, r;
} PoolCtx;

static double gap_loss(void *p) {
    PoolCtx *c = p;
    backend_cpu()->gap_fwd(&c->x, &c->y);
    return gc_dot(c->r.data, c->y.data, tensor_numel(&c->y));
}

TEST(grad_gap) {
    const Backend *be = backend_cpu();
    PoolCtx c = {0};
    c.x = rand_t(2, 3, 4, 5, 500, -1, 1);
    c.y = tensor_new(be, 2, 3, 1, 1);
    c.r = rand_t(2, 3, 1, 1, 501, -1, 1);
    // gap_bwd accumulates: prefill dx with known values and subtract them afterwards
    Tensor d0 = rand_t(2, 3, 4, 5, 502, -1, 1), dx = like(&d0, 0.0f);
    memcpy(dx.data, d0.data, sizeof(float) * tensor_numel(&dx));
    be->gap_bwd(&c.r, &dx);
    for (size_t i = 0; i < tensor_numel(&dx); i++) dx.data[i] -= d0.data[i];
    GcOpts o = gc_opts(503);
    o.samples = 40;
    GC_CHECK("gap dx", gap_loss, &c, c.x.data, tensor_numel(&c.x), dx.data, o);
    // forward value: the plane mean
    gap_loss(&c);
    double s = 0;
    for (int i = 0; i < 20; i++) s += c.x.data[20 + i];  // plane (n 0, c 1)
    T_NEAR(c.y.data[1], s / 20, 1e-6, 1e-6, "gap mean");
    free_all((Tensor *[]){&c.x, &c.y, &c.r, &d0, &dx}, 5);
}

static double scale_loss(void *p) {
    PoolCtx *c = p;
    backend_cpu()->scale_ch_fwd(&c->x, &c->g, &c->y);
    return gc_dot(c->r.data, c->y.data, tensor_numel(&c->y));
}

TEST(grad_scale_ch) {
    const Backend *be = backend_cpu();
    PoolCtx c;
    c.x = rand_t(2, 3, 4, 4, 510, -1, 1);
    c.g = rand_t(2, 3, 1, 1, 511, -1, 1);
    c.y = like(&c.x, 0.0f);
    c.r = rand_t(2, 3, 4, 4, 512, -1, 1);
    Tensor dx = like(&c.x, GARBAGE), dg = like(&c.g, GARBAGE);  // both are input gradients
    be->scale_ch_bwd(&c.x, &c.g, &c.r, &dx, &dg);
    GcOpts o = gc_opts(513);
    o.samples = 40;
    GC_CHECK("scale_ch dx", scale_loss, &c, c.x.data, tensor_numel(&c.x), dx.data, o);
    GC_CHECK("scale_ch dg", scale_loss, &c, c.g.data, tensor_numel(&c.g), dg.data, o);
    Tensor dx2 = like(&c.x, GARBAGE), dg2 = like(&c.g, GARBAGE);
    be->scale_ch_bwd(&c.x, &c.g, &c.r, &dx2, NULL);
    be->scale_ch_bwd(&c.x, &c.g, &c.r, NULL, &dg2);
    T_NEAR_ARRAY(dx2.data, dx.data, tensor_numel(&dx), 0, 0, "scale_ch dx alone");
    T_NEAR_ARRAY(dg2.data, dg.data, tensor_numel(&dg), 0, 0, "scale_ch dg alone");
    free_all((Tensor *[]){&c.x, &c.g, &c.y, &c.r, &dx, &dg, &dx2, &dg2}, 8);
}

// ---------------------------------------------------------------- losses
typedef struct {
    Tensor a, b;
    const int32_t *labels;
    float smoothing;
} LossCtx;

static double mse_loss(void *p) {
    LossCtx *c = p;
    return backend_cpu()->mse(&c->a, &c->b, NULL);
}

TEST(grad_mse) {
    LossCtx c = {0};
    c.a = rand_t(2, 3, 2, 2, 600, -1, 1);
    c.b = rand_t(2, 3, 2, 2, 601, -1, 1);
    Tensor d = like(&c.a, GARBAGE);
    double l1 = backend_cpu()->mse(&c.a, &c.b, &d), l0 = mse_loss(&c);
    T_NEAR(l1, l0, 0, 0, "mse with and without the gradient");
    // gradients are ~1/n here: scale the tolerance with them
    GcOpts o = gc_opts(602);
    o.atol = 1e-5;
    GC_CHECK("mse dyhat", mse_loss, &c, c.a.data, tensor_numel(&c.a), d.data, o);
    free_all((Tensor *[]){&c.a, &c.b, &d}, 3);
}

static double ce_loss(void *p) {
    LossCtx *c = p;
    return backend_cpu()->softmax_ce(&c->a, c->labels, c->smoothing, NULL, NULL);
}

static void check_ce(float smoothing, const char *what, unsigned seed) {
    static const int32_t labels[4] = {3, 0, 6, 2};
    LossCtx c = {.labels = labels, .smoothing = smoothing};
    c.a = rand_t(4, 7, 1, 1, seed, -3, 3);
    Tensor d = like(&c.a, GARBAGE);
    int correct = -1;
    double l1 = backend_cpu()->softmax_ce(&c.a, labels, smoothing, &d, &correct), l0 = ce_loss(&c);
    T_NEAR(l1, l0, 0, 0, "softmax_ce with and without the gradient");
    T_CHECK(correct >= 0 && correct <= 4, "correct = %d", correct);
    GcOpts o = gc_opts(seed + 1);
    o.atol = 1e-4;  // gradients are <= 1/N = 0.25 here
    o.samples = 28;
    GC_CHECK(what, ce_loss, &c, c.a.data, tensor_numel(&c.a), d.data, o);
    free_all((Tensor *[]){&c.a, &d}, 2);
}

TEST(grad_softmax_ce) {
    check_ce(0.0f, "softmax_ce dlogits", 610);
}
TEST(grad_softmax_ce_smoothing) {
    check_ce(0.1f, "softmax_ce(ls 0.1) dlogits", 620);
}

// ---------------------------------------------------------------- add, axpy
TEST(grad_add_axpy) {
    const Backend *be = backend_cpu();
    Tensor a = rand_t(2, 3, 2, 2, 700, -1, 1), b = rand_t(2, 3, 2, 2, 701, -1, 1);
    Tensor y = like(&a, GARBAGE), want = like(&a, 0.0f);
    size_t n = tensor_numel(&a);
    for (size_t i = 0; i < n; i++) want.data[i] = a.data[i] + b.data[i];
    be->add(&a, &b, &y);
    T_NEAR_ARRAY(y.data, want.data, n, 0, 0, "add");
    be->add(&a, &b, &a);  // in place, as MBConv's residual
    T_NEAR_ARRAY(a.data, want.data, n, 0, 0, "add in place");
    // axpy: y += alpha x, so dL/dx = alpha dy and dL/dy_old = dy (trivially linear)
    for (size_t i = 0; i < n; i++) want.data[i] = y.data[i] - 0.5f * b.data[i];
    be->axpy(-0.5f, &b, &y);
    T_NEAR_ARRAY(y.data, want.data, n, 1e-7, 1e-7, "axpy");
    free_all((Tensor *[]){&a, &b, &y, &want}, 4);
}

// ---------------------------------------------------------------- checker self-test
// The tolerance must catch real bugs: a gradient off by 10% everywhere, a gradient read
// from the neighbouring coordinate, and a BN backward missing its mean(dz * xhat) term
// (i.e. treating the variance as a constant) must each fail on most checked coordinates.
TEST(grad_checker_catches_wrong_gradients) {
    ConvCtx c;
    Tensor dx, dw;
    conv_setup(&c, &dx, &dw, 2, 3, 7, 6, 4, 3, 2, 1, 1, 140);
    size_t nw = tensor_numel(&dw);
    GcOpts o = gc_opts(900);
    o.quiet = 1;
    int ok = GC_CHECK("conv dw", conv_loss, &c, c.w.data, nw, dw.data, o);
    T_CHECK(ok == 0, "the correct conv dw fails %d of %d coordinates", ok, o.samples);
    float *wrong = dup_floats(dw.data, nw);
    for (size_t i = 0; i < nw; i++) wrong[i] *= 1.1f;
    int bad = GC_CHECK("conv dw * 1.1", conv_loss, &c, c.w.data, nw, wrong, o);
    T_CHECK(bad >= o.samples * 3 / 4, "10%% error caught on only %d of %d coordinates", bad,
            o.samples);
    for (size_t i = 0; i < nw; i++) wrong[i] = dw.data[(i + 1) % nw];
    bad = GC_CHECK("conv dw shifted", conv_loss, &c, c.w.data, nw, wrong, o);
    T_CHECK(bad >= o.samples * 3 / 4, "shifted gradient caught on only %d of %d coordinates", bad,
            o.samples);
    free(wrong);
    size_t nx = tensor_numel(&dx);
    wrong = dup_floats(dx.data, nx);
    for (size_t i = 0; i < nx; i++) wrong[i] *= 1.1f;
    bad = GC_CHECK("conv dx * 1.1", conv_loss, &c, c.x.data, nx, wrong, o);
    T_CHECK(bad >= o.samples / 2, "10%% dx error caught on only %d of %d coordinates", bad,
            o.samples);
    free(wrong);
    free_all((Tensor *[]){&c.x, &c.w, &c.y, &c.r, &dx, &dw}, 6);

    // BN dx with the variance treated as constant: dx = gamma invstd (dz - mean(dz))
    BnCtx b;
    bn_setup(&b, ACT_SWISH, 2, 3, 3, 3, 320);
    Tensor bx, bg, bb;
    bn_analytic(&b, &bx, &bg, &bb);
    Tensor xs = like(&b.x, 0.0f);
    float *dz = malloc(sizeof(float) * tensor_numel(&b.x));
    {  // recompute dz = dy * act'(z) and build the wrong dx
        size_t HW = 9;
        for (int ch = 0; ch < 3; ch++) {
            double s = 0;
            for (int n = 0; n < 2; n++)
                for (size_t i = 0; i < HW; i++) {
                    size_t k = ((size_t)n * 3 + ch) * HW + i;
                    double z =
                        b.gamma.data[ch] * (b.x.data[k] - b.mean.data[ch]) * b.invstd.data[ch] +
                        b.beta.data[ch];
                    double sg = 1 / (1 + exp(-z));
                    dz[k] = (float)(b.r.data[k] * sg * (1 + z * (1 - sg)));
                    s += dz[k];
                }
            for (int n = 0; n < 2; n++)
                for (size_t i = 0; i < HW; i++) {
                    size_t k = ((size_t)n * 3 + ch) * HW + i;
                    xs.data[k] = (float)(b.gamma.data[ch] * b.invstd.data[ch] * (dz[k] - s / 18));
                }
        }
    }
    o.samples = 54;
    ok = GC_CHECK("bn dx", bn_loss, &b, b.x.data, tensor_numel(&b.x), bx.data, o);
    T_CHECK(ok == 0, "the correct bn dx fails %d coordinates", ok);
    bad = GC_CHECK("bn dx without the variance term", bn_loss, &b, b.x.data, tensor_numel(&b.x),
                   xs.data, o);
    T_CHECK(bad >= 27, "BN dx missing the variance term caught on only %d of 54 coordinates", bad);
    free(dz);
    free_all((Tensor *[]){&bx, &bg, &bb, &xs}, 4);
    bn_ctx_free(&b);
}

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

static void check_layer(const char *name, LayerCase *lc, unsigned seed, int samples) {
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
    GC_CHECK(what, layer_loss, lc, lc->x.data, tensor_numel(&lc->x), adx, o);
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
        for (int i = 0; i < N; i++) dropped += c.keep.data[i * cfg.cout] == 0.0f, kept += c.keep.data[i * cfg.cout] > 0.0f;
        T_CHECK(c.dropped && dropped > 0 && kept > 0, "drop-connect: %d dropped, %d kept", dropped, kept);
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
        T_CHECK(c.mask.data[i] == 0.0f || fabsf(c.mask.data[i] - 1.0f / 0.6f) < 1e-6f, "mask value");
    }
    T_CHECK(zeros > 0 && zeros < 24, "dropout dropped %d of 24", zeros);
    head_cache_free(be, &c);
    head_free(be, &l);
}

// ---------------------------------------------------------------- reference values
// x = [[1,2,3],[4,5,6],[7,8,9]], pad 1, cross-correlation (as PyTorch):
//  ones kernel -> sums of the 3x3 neighbourhoods:   [[12,21,16],[27,45,33],[24,39,28]]
//  K = [[1,2,0],[0,0,0],[0,0,0]] -> y[i][j] = x[i-1][j-1] + 2 x[i-1][j]:
//    row 0 reads the zero padding; (1,0) 0 + 2*1 = 2, (1,1) 1 + 2*2 = 5, (1,2) 2 + 2*3 = 8,
//    (2,0) 0 + 2*4 = 8, (2,1) 4 + 2*5 = 14, (2,2) 5 + 2*6 = 17  -> [[0,0,0],[2,5,8],[8,14,17]]
//  (a flipped kernel, i.e. true convolution, would give x[i+1][j+1] + 2 x[i+1][j] instead).
//  Stride 2 keeps outputs (0,0), (0,2), (2,0), (2,2).
static const float REF_X[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const float REF_K_ONES[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
static const float REF_K_ASYM[9] = {1, 2, 0, 0, 0, 0, 0, 0, 0};
static const float REF_Y_ONES[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
static const float REF_Y_ASYM[9] = {0, 0, 0, 2, 5, 8, 8, 14, 17};

TEST(ref_conv3x3_single_channel) {  // Ci = Co = groups = 1: the depthwise path
    const Backend *be = backend_cpu();
    Tensor x = tensor_new(be, 1, 1, 3, 3), w = tensor_new(be, 1, 1, 3, 3),
           y = tensor_new(be, 1, 1, 3, 3);
    memcpy(x.data, REF_X, sizeof REF_X);
    memcpy(w.data, REF_K_ONES, sizeof REF_K_ONES);
    be->conv2d_fwd(&x, &w, &y, (ConvSpec){1, 1, 1});
    T_NEAR_ARRAY(y.data, REF_Y_ONES, 9, 0, 0, "ones kernel");
    memcpy(w.data, REF_K_ASYM, sizeof REF_K_ASYM);
    be->conv2d_fwd(&x, &w, &y, (ConvSpec){1, 1, 1});
    T_NEAR_ARRAY(y.data, REF_Y_ASYM, 9, 0, 0, "asymmetric kernel");
    Tensor y2 = tensor_new(be, 1, 1, 2, 2);
    be->conv2d_fwd(&x, &w, &y2, (ConvSpec){2, 1, 1});
    T_NEAR_ARRAY(y2.data, ((float[]){0, 0, 8, 17}), 4, 0, 0, "asymmetric kernel, stride 2");
    free_all((Tensor *[]){&x, &w, &y, &y2}, 4);
}

TEST(ref_conv3x3_two_outputs) {  // Ci 1, Co 2, groups 1: the im2col path
    const Backend *be = backend_cpu();
    Tensor x = tensor_new(be, 1, 1, 3, 3), w = tensor_new(be, 2, 1, 3, 3);
    Tensor y = tensor_new(be, 1, 2, 3, 3), y2 = tensor_new(be, 1, 2, 2, 2);
    memcpy(x.data, REF_X, sizeof REF_X);
    memcpy(w.data, REF_K_ONES, sizeof REF_K_ONES);
    memcpy(w.data + 9, REF_K_ASYM, sizeof REF_K_ASYM);
    be->conv2d_fwd(&x, &w, &y, (ConvSpec){1, 1, 1});
    T_NEAR_ARRAY(y.data, REF_Y_ONES, 9, 0, 0, "channel 0 (ones)");
    T_NEAR_ARRAY(y.data + 9, REF_Y_ASYM, 9, 0, 0, "channel 1 (asymmetric)");
    be->conv2d_fwd(&x, &w, &y2, (ConvSpec){2, 1, 1});
    T_NEAR_ARRAY(y2.data, ((float[]){12, 16, 24, 28, 0, 0, 8, 17}), 8, 0, 0, "stride 2");
    free_all((Tensor *[]){&x, &w, &y, &y2}, 4);
}

TEST(ref_conv_depthwise_two_channels) {  // groups 2: each channel with its own kernel
    const Backend *be = backend_cpu();
    Tensor x = tensor_new(be, 1, 2, 3, 3), w = tensor_new(be, 2, 1, 3, 3),
           y = tensor_new(be, 1, 2, 3, 3);
    memcpy(x.data, REF_X, sizeof REF_X);
    for (int i = 0; i < 9; i++) x.data[9 + i] = 2 * REF_X[i];  // channel 1 = 2x: outputs double
    memcpy(w.data, REF_K_ASYM, sizeof REF_K_ASYM);
    memcpy(w.data + 9, REF_K_ONES, sizeof REF_K_ONES);
    be->conv2d_fwd(&x, &w, &y, (ConvSpec){1, 1, 2});
    float want[18];
    for (int i = 0; i < 9; i++) want[i] = REF_Y_ASYM[i], want[9 + i] = 2 * REF_Y_ONES[i];
    T_NEAR_ARRAY(y.data, want, 18, 0, 0, "depthwise");
    free_all((Tensor *[]){&x, &w, &y}, 3);
}

// Every conv path against a direct 7-loop correlation in double (test code, independent of
// the backend): pointwise, depthwise (narrow, wide rows with vector blocks and tails,
// strides 1..3, unpadded), grouped and dense im2col.
static void direct_conv(const Tensor *x, const Tensor *w, ConvSpec s, int Ho, int Wo, float *y) {
    int G = s.groups, Cg = x->c / G, Og = w->n / G, k = w->h;
    for (int n = 0; n < x->n; n++)
        for (int o = 0; o < w->n; o++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double a = 0;
                    int g = o / Og;
                    for (int c = 0; c < Cg; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * s.stride - s.pad + ky,
                                    ix = ox * s.stride - s.pad + kx;
                                if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w) continue;
                                a += (double)w->data[(((size_t)o * Cg + c) * k + ky) * k + kx] *
                                     x->data[(((size_t)n * x->c + g * Cg + c) * x->h + iy) * x->w +
                                             ix];
                            }
                    y[(((size_t)n * w->n + o) * Ho + oy) * Wo + ox] = (float)a;
                }
}

TEST(ref_conv_vs_direct_loops) {
    const Backend *be = backend_cpu();
    // N, Ci, H, W, Co, k, stride, pad, groups
    static const int cases[][9] = {
        {2, 5, 4, 3, 3, 1, 1, 0, 1},  {2, 4, 6, 5, 4, 3, 1, 1, 4},  {1, 2, 4, 37, 2, 3, 1, 1, 2},
        {1, 3, 9, 40, 3, 5, 2, 2, 3}, {1, 2, 7, 35, 2, 7, 2, 3, 2}, {2, 2, 6, 20, 2, 3, 1, 0, 2},
        {2, 2, 7, 26, 2, 5, 3, 2, 2}, {1, 2, 3, 70, 2, 7, 1, 3, 2}, {2, 3, 7, 6, 4, 3, 2, 1, 1},
        {2, 4, 6, 7, 6, 3, 2, 1, 2},  {2, 3, 5, 6, 4, 1, 2, 0, 1},  {1, 3, 9, 33, 8, 3, 1, 1, 1},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int *q = cases[i];
        ConvSpec s = {q[6], q[7], q[8]};
        int Ho = (q[2] + 2 * s.pad - q[5]) / s.stride + 1,
            Wo = (q[3] + 2 * s.pad - q[5]) / s.stride + 1;
        Tensor x = rand_t(q[0], q[1], q[2], q[3], 800 + i, -1, 1);
        Tensor w = rand_t(q[4], q[1] / q[8], q[5], q[5], 850 + i, -1, 1);
        Tensor y = tensor_new(be, q[0], q[4], Ho, Wo), want = like(&y, 0.0f);
        be->conv2d_fwd(&x, &w, &y, s);
        direct_conv(&x, &w, s, Ho, Wo, want.data);
        char what[64];
        snprintf(what, sizeof what, "conv case %u (k%d s%d p%d g%d %dx%d)", i, q[5], q[6], q[7],
                 q[8], q[2], q[3]);
        T_NEAR_ARRAY(y.data, want.data, tensor_numel(&y), 1e-5, 1e-5, what);
        free_all((Tensor *[]){&x, &w, &y, &want}, 4);
    }
}

TEST(ref_conv_pointwise) {  // 1x1: y0 = x0 + 2 x1, y1 = -x0 + 0.5 x1
    const Backend *be = backend_cpu();
    Tensor x = tensor_new(be, 1, 2, 1, 3), w = tensor_new(be, 2, 2, 1, 1),
           y = tensor_new(be, 1, 2, 1, 3);
    memcpy(x.data, ((float[]){1, 2, 3, 4, 6, 8}), 6 * sizeof(float));
    memcpy(w.data, ((float[]){1, 2, -1, 0.5f}), 4 * sizeof(float));
    be->conv2d_fwd(&x, &w, &y, (ConvSpec){1, 0, 1});
    // y0 = [1+8, 2+12, 3+16], y1 = [-1+2, -2+3, -3+4]
    T_NEAR_ARRAY(y.data, ((float[]){9, 14, 19, 1, 1, 1}), 6, 0, 0, "pointwise");
    free_all((Tensor *[]){&x, &w, &y}, 3);
}

// x [N 2, C 2, 1, 2] with eps 2.75 so that the square roots are exact:
//  channel 0 = {1, 2, 3, 4}: mean 2.5, biased var (2.25 + .25 + .25 + 2.25)/4 = 1.25,
//    invstd = 1/sqrt(1.25 + 2.75) = 0.5, xhat = {-.75, -.25, .25, .75};
//    gamma 2, beta 0.5 -> y = {-1, 0, 1, 2}; relu -> {0, 0, 1, 2}.
//  channel 1 = {8, 3, 3, 8}: mean 5.5, var 6.25, invstd = 1/sqrt(9) = 1/3,
//    xhat = {5/6, -5/6, -5/6, 5/6}; gamma -1, beta 1 -> y = {1/6, 11/6, 11/6, 1/6}.
//  running stats from (0, 1) with momentum 0.1: mean 0.1 * mu, var 0.9 + 0.1 * unbiased var
//    -> ch0: 0.25, 0.9 + 0.1 * 5/3 = 1.0666667; ch1: 0.55, 0.9 + 0.1 * 25/3 = 1.7333333.
TEST(ref_bn_train) {
    const Backend *be = backend_cpu();
    Tensor x = tensor_new(be, 2, 2, 1, 2), y = tensor_new(be, 2, 2, 1, 2);
    // layout [n][c][w]: n0 c0 {1,2}, n0 c1 {8,3}, n1 c0 {3,4}, n1 c1 {3,8}
    memcpy(x.data, ((float[]){1, 2, 8, 3, 3, 4, 3, 8}), 8 * sizeof(float));
    float gamma[2] = {2, -1}, beta[2] = {0.5f, 1}, mean[2], invstd[2], rm[2] = {0, 0},
          rv[2] = {1, 1};
    be->bn_fwd_train(&x, gamma, beta, &y, mean, invstd, rm, rv, 0.1f, 2.75f, ACT_NONE, NULL);
    const float a = 1.0f / 6, b = 11.0f / 6;
    T_NEAR_ARRAY(y.data, ((float[]){-1, 0, a, b, 1, 2, b, a}), 8, 1e-6, 1e-6, "bn y");
    T_NEAR_ARRAY(mean, ((float[]){2.5f, 5.5f}), 2, 1e-6, 1e-6, "bn mean");
    T_NEAR_ARRAY(invstd, ((float[]){0.5f, 1.0f / 3}), 2, 1e-7, 1e-6, "bn invstd");
    T_NEAR_ARRAY(rm, ((float[]){0.25f, 0.55f}), 2, 1e-7, 1e-6, "bn running mean");
    T_NEAR_ARRAY(rv, ((float[]){0.9f + 0.5f / 3, 0.9f + 2.5f / 3}), 2, 1e-7, 1e-6,
                 "bn running var");
    be->bn_fwd_train(&x, gamma, beta, &y, mean, invstd, NULL, NULL, 0.1f, 2.75f, ACT_RELU, NULL);
    T_NEAR_ARRAY(y.data, ((float[]){0, 0, a, b, 1, 2, b, a}), 8, 1e-6, 1e-6, "bn+relu y");
    // eval with the batch's own statistics as running stats reproduces training's output
    float bm[2] = {2.5f, 5.5f}, bv[2] = {1.25f, 6.25f};
    be->bn_fwd_eval(&x, gamma, beta, bm, bv, 2.75f, &y, ACT_NONE);
    T_NEAR_ARRAY(y.data, ((float[]){-1, 0, a, b, 1, 2, b, a}), 8, 1e-6, 1e-6, "bn eval y");
    free_all((Tensor *[]){&x, &y}, 2);
}

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

// yhat = {1, -1, 0.5, 3}, y = {0, 0, 0, 4}: e = {1, -1, 0.5, -1}
//  mse = (1 + 1 + 0.25 + 1)/4 = 0.8125, d mse/d yhat = 2e/4 = {0.5, -0.5, 0.25, -0.5}
//  rel_l1 = mean|e| / std(y) = (3.5/4) / sqrt((1+1+1+9)/3) = 0.875 / 2 = 0.4375
TEST(ref_mse_rel_l1) {
    const Backend *be = backend_cpu();
    Tensor a = tensor_new(be, 1, 4, 1, 1), b = tensor_new(be, 1, 4, 1, 1),
           d = tensor_new(be, 1, 4, 1, 1);
    memcpy(a.data, ((float[]){1, -1, 0.5f, 3}), 4 * sizeof(float));
    memcpy(b.data, ((float[]){0, 0, 0, 4}), 4 * sizeof(float));
    T_NEAR(be->mse(&a, &b, &d), 0.8125, 1e-12, 0, "mse");
    T_NEAR_ARRAY(d.data, ((float[]){0.5f, -0.5f, 0.25f, -0.5f}), 4, 0, 0, "mse gradient");
    T_NEAR(be->rel_l1(&a, &b), 0.4375, 1e-12, 0, "rel_l1");
    free_all((Tensor *[]){&a, &b, &d}, 3);
}

// logits {ln 1, ln 2, ln 5}: softmax p = {1/8, 2/8, 5/8}.
//  label 2, no smoothing: CE = -ln(5/8) = ln 1.6 = 0.470003629; dlogits = p - onehot =
//    {0.125, 0.25, -0.375}.
//  smoothing 0.1 (K 3): q = {1/30, 1/30, 0.9 + 1/30}; CE = -sum q ln p
//    = (ln 8 + ln 4)/30 + (28/30) ln 1.6 = ln2/6 + (14/15) ln 1.6 = 0.115524530 + 0.438670054
//    = 0.554194584; dlogits = p - q = {11/120, 26/120, -37/120}.
//  two rows, second with label 0 (no smoothing): CE2 = -ln(1/8) = 2.079441542, mean
//    1.274722585; the gradient is divided by N = 2: row 1 = {-0.875, 0.25, 0.625}/2;
//    top-1 hits: row 0 (argmax 2 = label), not row 1 -> 1.
TEST(ref_softmax_ce) {
    const Backend *be = backend_cpu();
    Tensor z = tensor_new(be, 1, 3, 1, 1), d = tensor_new(be, 1, 3, 1, 1);
    const float lz[3] = {0.0f, (float)log(2.0), (float)log(5.0)};
    memcpy(z.data, lz, sizeof lz);
    int32_t lab[2] = {2, 0};
    int correct = -1;
    T_NEAR(be->softmax_ce(&z, lab, 0.0f, &d, &correct), 0.470003629245736, 1e-7, 0, "ce");
    T_NEAR_ARRAY(d.data, ((float[]){0.125f, 0.25f, -0.375f}), 3, 1e-7, 0, "ce gradient");
    T_CHECK(correct == 1, "correct = %d, want 1", correct);
    T_NEAR(be->softmax_ce(&z, lab, 0.1f, &d, NULL), 0.554194584056011, 1e-7, 0, "ce smoothed");
    T_NEAR_ARRAY(d.data, ((float[]){11.0f / 120, 26.0f / 120, -37.0f / 120}), 3, 1e-7, 0,
                 "ce smoothed gradient");
    Tensor z2 = tensor_new(be, 2, 3, 1, 1), d2 = tensor_new(be, 2, 3, 1, 1);
    memcpy(z2.data, lz, sizeof lz);
    memcpy(z2.data + 3, lz, sizeof lz);
    T_NEAR(be->softmax_ce(&z2, lab, 0.0f, &d2, &correct), 1.274722585462786, 1e-7, 0, "ce mean");
    T_NEAR_ARRAY(d2.data, ((float[]){0.0625f, 0.125f, -0.1875f, -0.4375f, 0.125f, 0.3125f}), 6,
                 1e-7, 0, "ce mean gradient");
    T_CHECK(correct == 1, "correct = %d over two rows, want 1", correct);
    free_all((Tensor *[]){&z, &d, &z2, &d2}, 4);
}
