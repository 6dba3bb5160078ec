// Every op of the CUDA backend against the CPU backend (the reference), forward and
// backward, on random inputs and shapes chosen to reach each code path: stride 2, groups =
// channels (depthwise), kernels 3/5/7, odd sizes, N = 1, planes larger than a thread block,
// more planes than a grid dimension. Also the interface's conventions (ops.h): overwritten
// outputs are prefilled with garbage, accumulated gradients with known values; NULL outputs
// are skipped; allowed aliasing is exercised.
//
// Tolerances, |gpu - cpu| <= atol + rtol |cpu| per element:
//  - sums of K products of values in [-1, 1) (conv, linear, their gradients): atol 1e-5 +
//    2e-7 K, rtol 1e-5. The two backends add in different orders (cuDNN/cuBLAS vs OpenBLAS
//    and own loops); float rounding of such sums is ~ u sqrt(K) |sum| (u = 6e-8) with |sum| ~
//    sqrt(K)/3, i.e. ~ 2e-8 K, so the bound leaves a margin of about 10. TF32 tensor cores
//    (10-bit mantissa, error ~ 5e-4 per product) would exceed it by 10-30x: the test also
//    guards against them being switched on by accident.
//  - batch norm: 5e-5 abs and rel on outputs and dx; the moments are double sums on both
//    sides, but the CPU sums each plane (up to 3249 values here) in float first (relative
//    error up to ~1e-5), and invstd amplifies it; dgamma/dbeta are sums over M values:
//    atol 2e-5 + 1e-8 M, rtol 2e-5.
//  - elementwise ops and activations: 1e-6 abs, 1e-5 rel (CUDA's expf vs the CPU backend's
//    polynomial exp, a few ulp; fused multiply-adds on the GPU, none on the CPU).
//  - losses: 1e-7 relative (double sums in another order); softmax gradients 1e-8 abs.
//  - optimizers: 2e-6 abs, 1e-6 rel after three steps: the same float formulas, but fused
//    multiply-adds round differently, by up to an ulp of the largest term (momentum and
//    RMSprop buffers sum terms up to ~3 that largely cancel: ulp 2.4e-7).
// GPU_TEST_VERBOSE=1 prints how much of its tolerance each comparison uses.
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_internal.h"  // pool statistics
#include "core/rng.h"
#include "gpu_test.h"

#define GARBAGE 7.0f  // prefill of overwritten outputs
#define ACC 0.5f      // prefill of accumulated gradients

static double sum_atol(double k) {
    return 1e-5 + 2e-7 * k;
}
static const double SUM_RTOL = 1e-5;
static const double EW_ATOL = 1e-6, EW_RTOL = 1e-5;
static const double BN_TOL = 5e-5;
static const double OPT_ATOL = 2e-6;

static Tensor h_like(const Tensor *t, float v) {
    return h_const(t->n, t->c, t->h, t->w, v);
}
static Tensor d_like(const Tensor *t, float v) {
    Tensor h = h_like(t, v), d = d_of(&h);
    h_free(&h);
    return d;
}

static void free_h(Tensor **t, int n) {
    for (int i = 0; i < n; i++) h_free(t[i]);
}
static void free_d(Tensor **t, int n) {
    for (int i = 0; i < n; i++) d_free(t[i]);
}

// ---------------------------------------------------------------- conv2d
typedef struct {
    const char *name;
    int n, ci, h, w, co, k, stride, pad, groups;
} ConvCase;

static void check_conv(ConvCase c, unsigned seed) {
    int ho = (c.h + 2 * c.pad - c.k) / c.stride + 1, wo = (c.w + 2 * c.pad - c.k) / c.stride + 1;
    ConvSpec s = {c.stride, c.pad, c.groups};
    Tensor x = h_rand(c.n, c.ci, c.h, c.w, seed, -1, 1);
    Tensor w = h_rand(c.co, c.ci / c.groups, c.k, c.k, seed + 1, -1, 1);
    Tensor dy = h_rand(c.n, c.co, ho, wo, seed + 2, -1, 1);
    Tensor y = h_like(&dy, 0.0f), dx = h_like(&x, GARBAGE), dw = h_like(&w, ACC);
    cpu()->conv2d_fwd(&x, &w, &y, s);
    cpu()->conv2d_bwd(&x, &w, &dy, &dx, &dw, s);

    Tensor gx = d_of(&x), gw = d_of(&w), gdy = d_of(&dy), gy = d_like(&dy, GARBAGE);
    Tensor gdx = d_like(&x, GARBAGE), gdw = d_like(&w, ACC);
    gpu()->conv2d_fwd(&gx, &gw, &gy, s);
    gpu()->conv2d_bwd(&gx, &gw, &gdy, &gdx, &gdw, s);
    double kf = (double)(c.ci / c.groups) * c.k * c.k, kx = (double)(c.co / c.groups) * c.k * c.k,
           kw = (double)c.n * ho * wo;
    char what[96];
    snprintf(what, sizeof what, "conv %s y", c.name);
    T_SAME(&gy, &y, sum_atol(kf), SUM_RTOL, what);
    snprintf(what, sizeof what, "conv %s dx", c.name);
    T_SAME(&gdx, &dx, sum_atol(kx), SUM_RTOL, what);
    snprintf(what, sizeof what, "conv %s dw (accumulated)", c.name);
    T_SAME(&gdw, &dw, sum_atol(kw), SUM_RTOL, what);

    // a NULL gradient is skipped and the other one is the same
    Tensor gdx2 = d_like(&x, GARBAGE), gdw2 = d_like(&w, ACC);
    gpu()->conv2d_bwd(&gx, &gw, &gdy, &gdx2, NULL, s);
    gpu()->conv2d_bwd(&gx, &gw, &gdy, NULL, &gdw2, s);
    snprintf(what, sizeof what, "conv %s dx, dw NULL", c.name);
    T_SAME(&gdx2, &dx, sum_atol(kx), SUM_RTOL, what);
    snprintf(what, sizeof what, "conv %s dw, dx NULL", c.name);
    T_SAME(&gdw2, &dw, sum_atol(kw), SUM_RTOL, what);
    free_h((Tensor *[]){&x, &w, &dy, &y, &dx, &dw}, 6);
    free_d((Tensor *[]){&gx, &gw, &gdy, &gy, &gdx, &gdw, &gdx2, &gdw2}, 8);
}

static const ConvCase CONV_CASES[] = {
    {"pointwise 24->144", 4, 24, 16, 16, 144, 1, 1, 0, 1},
    {"pointwise 144->40", 2, 144, 16, 16, 40, 1, 1, 0, 1},
    {"depthwise k3s1 15x13", 3, 48, 15, 13, 48, 3, 1, 1, 48},
    {"depthwise k5s2 17x17", 2, 32, 17, 17, 32, 5, 2, 2, 32},
    {"depthwise k7s1 9x11 N1", 1, 16, 9, 11, 16, 7, 1, 3, 16},
    {"depthwise k7s2 32x32", 2, 24, 32, 32, 24, 7, 2, 3, 24},
    {"depthwise k3 pad0 6x20", 2, 8, 6, 20, 8, 3, 1, 0, 8},
    {"depthwise k5s3 7x26", 2, 4, 7, 26, 4, 5, 3, 2, 4},
    {"dense 3x3s2 stem 33x31", 2, 3, 33, 31, 16, 3, 2, 1, 1},
    {"dense 3x3s1", 3, 2, 5, 4, 3, 3, 1, 1, 1},
    {"grouped 3x3s2 g2", 2, 4, 6, 7, 6, 3, 2, 1, 2},
    {"pointwise s2", 2, 3, 5, 6, 4, 1, 2, 0, 1},
    {"1x1x1", 1, 1, 1, 1, 1, 1, 1, 0, 1},
};

TEST(gpu_conv2d) {
    int n = (int)(sizeof CONV_CASES / sizeof CONV_CASES[0]);
    for (int i = 0; i < n; i++) check_conv(CONV_CASES[i], 1000u + 10u * (unsigned)i);
}

// the same shape twice: the cached plan (descriptors, algorithms) gives the same result
TEST(gpu_conv2d_plan_cache) {
    check_conv(CONV_CASES[3], 2000);
    check_conv(CONV_CASES[3], 2010);
}

// ---------------------------------------------------------------- linear
static void check_linear(int N, int c, int h, int w, int O, unsigned seed) {
    int I = c * h * w;
    Tensor x = h_rand(N, c, h, w, seed, -1, 1), W = h_rand(O, I, 1, 1, seed + 1, -1, 1);
    Tensor b = h_rand(O, 1, 1, 1, seed + 2, -1, 1), dy = h_rand(N, O, 1, 1, seed + 3, -1, 1);
    Tensor y = h_like(&dy, 0), y0 = h_like(&dy, 0), dx = h_like(&x, GARBAGE), dW = h_like(&W, ACC),
           db = h_like(&b, ACC);
    cpu()->linear_fwd(&x, &W, b.data, &y);
    cpu()->linear_fwd(&x, &W, NULL, &y0);
    cpu()->linear_bwd(&x, &W, &dy, &dx, &dW, db.data);

    Tensor gx = d_of(&x), gW = d_of(&W), gb = d_of(&b), gdy = d_of(&dy);
    Tensor gy = d_like(&dy, GARBAGE), gy0 = d_like(&dy, GARBAGE), gdx = d_like(&x, GARBAGE),
           gdW = d_like(&W, ACC), gdb = d_like(&b, ACC);
    gpu()->linear_fwd(&gx, &gW, gb.data, &gy);
    gpu()->linear_fwd(&gx, &gW, NULL, &gy0);
    gpu()->linear_bwd(&gx, &gW, &gdy, &gdx, &gdW, gdb.data);
    char what[96];
    snprintf(what, sizeof what, "linear %dx%d->%d y", N, I, O);
    T_SAME(&gy, &y, sum_atol(I), SUM_RTOL, what);
    snprintf(what, sizeof what, "linear %dx%d->%d y, no bias", N, I, O);
    T_SAME(&gy0, &y0, sum_atol(I), SUM_RTOL, what);
    snprintf(what, sizeof what, "linear %dx%d->%d dx", N, I, O);
    T_SAME(&gdx, &dx, sum_atol(O), SUM_RTOL, what);
    snprintf(what, sizeof what, "linear %dx%d->%d dw (accumulated)", N, I, O);
    T_SAME(&gdW, &dW, sum_atol(N), SUM_RTOL, what);
    snprintf(what, sizeof what, "linear %dx%d->%d db (accumulated)", N, I, O);
    T_SAME(&gdb, &db, sum_atol(N), SUM_RTOL, what);

    Tensor gdx2 = d_like(&x, GARBAGE), gdW2 = d_like(&W, ACC);
    gpu()->linear_bwd(&gx, &gW, &gdy, &gdx2, NULL, NULL);
    gpu()->linear_bwd(&gx, &gW, &gdy, NULL, &gdW2, NULL);
    snprintf(what, sizeof what, "linear %dx%d->%d dx alone", N, I, O);
    T_SAME(&gdx2, &dx, sum_atol(O), SUM_RTOL, what);
    snprintf(what, sizeof what, "linear %dx%d->%d dw alone", N, I, O);
    T_SAME(&gdW2, &dW, sum_atol(N), SUM_RTOL, what);
    free_h((Tensor *[]){&x, &W, &b, &dy, &y, &y0, &dx, &dW, &db}, 9);
    free_d((Tensor *[]){&gx, &gW, &gb, &gdy, &gy, &gy0, &gdx, &gdW, &gdb, &gdx2, &gdW2}, 11);
}

TEST(gpu_linear) {
    check_linear(7, 37, 1, 1, 19, 3000);
    check_linear(1, 2, 3, 1, 4, 3010);  // inputs [N, C, H, W] are flattened
    check_linear(64, 144, 1, 1, 36, 3020);
    check_linear(3, 1, 1, 1, 1, 3030);
}

// ---------------------------------------------------------------- batch norm
typedef struct {
    Tensor x, gamma, beta, rm, rv;
} BnIn;

// x = u * scale_c + offset_c: channels with their own mean and spread. away0: |u| in
// [0.3, 1.2) with random signs and beta_c = gamma_c invstd_c (mean_c - offset_c), so that the
// pre-activation is z = gamma_c invstd_c scale_c u, far from relu's kink: rounding
// differences between the backends must not flip relu'(z) (as in tests/unit/test_grad.c).
static BnIn bn_inputs(int n, int c, int h, int w, int away0, unsigned seed) {
    BnIn b;
    b.x = away0 ? h_rand(n, c, h, w, seed, 0.3f, 1.2f) : h_rand(n, c, h, w, seed, -1, 1);
    Tensor sc = h_rand(c, 1, 1, 1, seed + 1, 0.5f, 2.0f), off = h_rand(c, 1, 1, 1, seed + 2, -2, 2);
    Rng r = rng_new(seed + 7);
    size_t hw = (size_t)h * w;
    for (size_t i = 0; i < tensor_numel(&b.x); i++) {
        int ch = (int)(i / hw % (size_t)c);
        float u = away0 && rng_below(&r, 2) ? -b.x.data[i] : b.x.data[i];
        b.x.data[i] = u * sc.data[ch] + off.data[ch];
    }
    b.gamma = h_rand(c, 1, 1, 1, seed + 3, 0.5f, 1.5f);
    if (c > 1) b.gamma.data[1] = -b.gamma.data[1];
    b.beta = h_rand(c, 1, 1, 1, seed + 4, -0.5f, 0.5f);
    for (int ch = 0; away0 && ch < c; ch++) {
        double s = 0, q = 0, m = (double)n * hw;
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++) s += b.x.data[((size_t)i * c + ch) * hw + j];
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++) {
                double d = b.x.data[((size_t)i * c + ch) * hw + j] - s / m;
                q += d * d;
            }
        b.beta.data[ch] = (float)(b.gamma.data[ch] * (s / m - off.data[ch]) / sqrt(q / m + 1e-5));
    }
    b.rm = h_rand(c, 1, 1, 1, seed + 5, -1, 1);
    b.rv = h_rand(c, 1, 1, 1, seed + 6, 0.5f, 2.0f);
    h_free(&sc), h_free(&off);
    return b;
}

// Pretends to be a group of two ranks holding identical batches: the group's sums are twice
// this rank's, so group statistics equal the local ones (exactly: scaling by 2 is exact).
typedef struct {
    int calls;
} Twin;
static void twin_sum(void *ctx, double *buf, size_t n) {
    ((Twin *)ctx)->calls++;
    for (size_t i = 0; i < n; i++) buf[i] *= 2.0;
}

// tol: abs and rel tolerance of outputs and dx (BN_TOL but where invstd is huge)
static void check_bn_tol(int n, int c, int h, int w, Act act, float momentum, int synced,
                         double tol, unsigned seed) {
    BnIn in = bn_inputs(n, c, h, w, act == ACT_RELU, seed);
    double M = (double)n * h * w;
    const float eps = 1e-5f;
    Twin tc = {0}, tg = {0};
    BnSync sc = {twin_sum, &tc}, sg = {twin_sum, &tg};
    Tensor y = h_like(&in.x, 0), mean = h_like(&in.gamma, 0), is = h_like(&in.gamma, 0);
    Tensor rm = h_copy(&in.rm), rv = h_copy(&in.rv), ye = h_like(&in.x, 0);
    Tensor dy = h_rand(n, c, h, w, seed + 9, -1, 1), dx = h_like(&in.x, GARBAGE),
           dg = h_like(&in.gamma, ACC), db = h_like(&in.gamma, ACC);
    cpu()->bn_fwd_train(&in.x, in.gamma.data, in.beta.data, &y, mean.data, is.data, rm.data,
                        rv.data, momentum, eps, act, synced ? &sc : NULL);
    cpu()->bn_fwd_eval(&in.x, in.gamma.data, in.beta.data, rm.data, rv.data, eps, &ye, act);
    cpu()->bn_bwd(&in.x, in.gamma.data, in.beta.data, mean.data, is.data, &dy, &dx, dg.data,
                  db.data, act, synced ? &sc : NULL);

    Tensor gx = d_of(&in.x), gg = d_of(&in.gamma), gb = d_of(&in.beta), grm = d_of(&in.rm),
           grv = d_of(&in.rv);
    Tensor gy = d_like(&y, GARBAGE), gmean = d_like(&mean, GARBAGE), gis = d_like(&is, GARBAGE),
           gye = d_like(&y, GARBAGE), gdy = d_of(&dy), gdx = d_like(&dx, GARBAGE),
           gdg = d_like(&dg, ACC), gdb = d_like(&db, ACC);
    gpu()->bn_fwd_train(&gx, gg.data, gb.data, &gy, gmean.data, gis.data, grm.data, grv.data,
                        momentum, eps, act, synced ? &sg : NULL);
    gpu()->bn_fwd_eval(&gx, gg.data, gb.data, grm.data, grv.data, eps, &gye, act);
    gpu()->bn_bwd(&gx, gg.data, gb.data, gmean.data, gis.data, &gdy, &gdx, gdg.data, gdb.data, act,
                  synced ? &sg : NULL);
    char what[128], tag[64];
    snprintf(tag, sizeof tag, "bn %dx%dx%dx%d act%d m%.1f%s", n, c, h, w, (int)act, momentum,
             synced ? " sync" : "");
#define BN_SAME(g, ref, atol, rtol, name)            \
    snprintf(what, sizeof what, "%s %s", tag, name); \
    T_SAME(g, ref, atol, rtol, what)
    BN_SAME(&gy, &y, tol, tol, "y");
    BN_SAME(&gmean, &mean, BN_TOL, BN_TOL, "mean");
    BN_SAME(&gis, &is, BN_TOL, BN_TOL, "invstd");
    BN_SAME(&grm, &rm, BN_TOL, BN_TOL, "running mean");
    BN_SAME(&grv, &rv, BN_TOL, BN_TOL, "running var");
    BN_SAME(&gye, &ye, tol, tol, "eval y");
    BN_SAME(&gdx, &dx, tol, tol, "dx");
    BN_SAME(&gdg, &dg, 2e-5 + 1e-8 * M, 2e-5, "dgamma (accumulated)");
    BN_SAME(&gdb, &db, 2e-5 + 1e-8 * M, 2e-5, "dbeta (accumulated)");
    if (synced)
        T_CHECK(tg.calls == tc.calls && tg.calls == 3,
                "%s: %d group sums on the GPU, %d on the CPU", tag, tg.calls, tc.calls);

    // NULL outputs: statistics not saved, parameter gradients not wanted
    Tensor gy2 = d_like(&y, GARBAGE), gdx2 = d_like(&dx, GARBAGE);
    gpu()->bn_fwd_train(&gx, gg.data, gb.data, &gy2, NULL, NULL, NULL, NULL, momentum, eps, act,
                        NULL);
    gpu()->bn_bwd(&gx, gg.data, gb.data, gmean.data, gis.data, &gdy, &gdx2, NULL, NULL, act, NULL);
    BN_SAME(&gy2, &y, tol, tol, "y, no statistics kept");
    BN_SAME(&gdx2, &dx, tol, tol, "dx, no dgamma/dbeta");
#undef BN_SAME
    free_h((Tensor *[]){&in.x, &in.gamma, &in.beta, &in.rm, &in.rv, &y, &mean, &is, &rm, &rv, &ye,
                        &dy, &dx, &dg, &db},
           15);
    free_d((Tensor *[]){&gx, &gg, &gb, &grm, &grv, &gy, &gmean, &gis, &gye, &gdy, &gdx, &gdg, &gdb,
                        &gy2, &gdx2},
           15);
}

static void check_bn(int n, int c, int h, int w, Act act, float momentum, int synced,
                     unsigned seed) {
    check_bn_tol(n, c, h, w, act, momentum, synced, BN_TOL, seed);
}

TEST(gpu_bn) {
    const Act acts[4] = {ACT_NONE, ACT_RELU, ACT_SWISH, ACT_SIGMOID};
    for (int a = 0; a < 4; a++) {
        unsigned s = 4000u + 100u * (unsigned)a;
        check_bn(8, 40, 16, 16, acts[a], 0.1f, 0, s);
        check_bn(2, 7, 57, 57, acts[a], 0.1f, 0, s + 10);  // planes split over blocks
        check_bn(64, 3, 5, 5, acts[a], 0.1f, 0, s + 20);   // several planes per block
        check_bn(3, 130, 7, 7, acts[a], 0.1f, 0, s + 30);
    }
    // one value per channel: var 0, invstd = 1/sqrt(eps) = 316 scales the last bit of
    // x * scale (|x| ~ 2: 6e-5) into y; the two backends round it differently (FMA)
    check_bn_tol(1, 5, 1, 1, ACT_SWISH, 0.1f, 0, 1e-3, 4500);
    check_bn(600, 120, 1, 1, ACT_RELU, 0.1f, 0, 4510);  // more planes than grid.y
}

// rating's recalibration: momentum 1 makes the running stats this batch's
TEST(gpu_bn_recalibrate) {
    check_bn(4, 24, 9, 9, ACT_SWISH, 1.0f, 0, 4600);
    check_bn(2, 7, 57, 57, ACT_NONE, 1.0f, 0, 4610);
}

// synchronised BN: the moments go through BnSync.sum as on the CPU (same calls, same sums)
TEST(gpu_bn_sync) {
    check_bn(4, 24, 9, 9, ACT_SWISH, 0.1f, 1, 4700);
    check_bn(2, 7, 57, 57, ACT_RELU, 0.1f, 1, 4710);
}

// ---------------------------------------------------------------- activations, add, axpy
TEST(gpu_activations) {
    const Act acts[4] = {ACT_NONE, ACT_RELU, ACT_SWISH, ACT_SIGMOID};
    for (int a = 0; a < 4; a++) {
        Tensor x = h_rand(2, 3, 37, 41, 5000u + (unsigned)a, -6, 6);
        x.data[0] = 90.0f, x.data[1] = -90.0f, x.data[2] = 0.0f;  // the exp's clamps, relu's kink
        Tensor dy = h_rand(2, 3, 37, 41, 5010u + (unsigned)a, -1, 1);
        Tensor y = h_like(&x, 0), dx = h_like(&x, 0);
        cpu()->act_fwd(acts[a], &x, &y);
        cpu()->act_bwd(acts[a], &x, &dy, &dx);
        Tensor gx = d_of(&x), gdy = d_of(&dy), gy = d_like(&x, GARBAGE), gdx = d_like(&x, GARBAGE);
        gpu()->act_fwd(acts[a], &gx, &gy);
        gpu()->act_bwd(acts[a], &gx, &gdy, &gdx);
        char what[64];
        snprintf(what, sizeof what, "act%d y", a);
        T_SAME(&gy, &y, EW_ATOL, EW_RTOL, what);
        snprintf(what, sizeof what, "act%d dx", a);
        T_SAME(&gdx, &dx, EW_ATOL, EW_RTOL, what);
        // in place: y = act(y), dy = dy act'(x)
        Tensor gx2 = d_of(&x), gdy2 = d_of(&dy);
        gpu()->act_fwd(acts[a], &gx2, &gx2);
        gpu()->act_bwd(acts[a], &gx, &gdy2, &gdy2);
        snprintf(what, sizeof what, "act%d y in place", a);
        T_SAME(&gx2, &y, EW_ATOL, EW_RTOL, what);
        snprintf(what, sizeof what, "act%d dx in place", a);
        T_SAME(&gdy2, &dx, EW_ATOL, EW_RTOL, what);
        free_h((Tensor *[]){&x, &dy, &y, &dx}, 4);
        free_d((Tensor *[]){&gx, &gdy, &gy, &gdx, &gx2, &gdy2}, 6);
    }
}

TEST(gpu_add_axpy) {
    Tensor a = h_rand(3, 5, 17, 19, 5100, -1, 1), b = h_rand(3, 5, 17, 19, 5101, -1, 1);
    Tensor s = h_like(&a, 0), ax = h_copy(&b), self = h_copy(&a);
    cpu()->add(&a, &b, &s);
    cpu()->axpy(-0.75f, &a, &ax);
    cpu()->axpy(0.3f - 1.0f, &self, &self);  // x *= 0.3, as the EMA and data-parallel steps do
    Tensor ga = d_of(&a), gb = d_of(&b), gs = d_like(&a, GARBAGE), gax = d_of(&b), gself = d_of(&a);
    gpu()->add(&ga, &gb, &gs);
    gpu()->axpy(-0.75f, &ga, &gax);
    gpu()->axpy(0.3f - 1.0f, &gself, &gself);
    T_SAME(&gs, &s, 0, 0, "add");
    T_SAME(&gax, &ax, 1e-7, 1e-6, "axpy");
    T_SAME(&gself, &self, 1e-7, 1e-6, "axpy, x = y");
    gpu()->add(&ga, &gb, &ga);  // y aliasing a
    T_SAME(&ga, &s, 0, 0, "add in place");
    free_h((Tensor *[]){&a, &b, &s, &ax, &self}, 5);
    free_d((Tensor *[]){&ga, &gb, &gs, &gax, &gself}, 5);
}

// ---------------------------------------------------------------- memory
TEST(gpu_memory_fill_copy) {
    Tensor h = h_rand(1, 1, 1, 100003, 5200, -1, 1), ones = h_like(&h, 1.5f), z = h_like(&h, 0);
    Tensor g = d_of(&h), c = d_like(&h, GARBAGE);
    T_SAME(&g, &h, 0, 0, "upload/download");
    gpu()->copy(c.data, g.data, sizeof(float) * tensor_numel(&h));
    T_SAME(&c, &h, 0, 0, "copy");
    gpu()->copy(c.data, c.data, sizeof(float) * tensor_numel(&h));  // same pointer: no-op
    T_SAME(&c, &h, 0, 0, "copy onto itself");
    gpu()->fill(c.data, 1.5f, tensor_numel(&h));
    T_SAME(&c, &ones, 0, 0, "fill 1.5");
    gpu()->fill(c.data, 0.0f, tensor_numel(&h));
    T_SAME(&c, &z, 0, 0, "fill 0");
    // from pinned memory the copy is asynchronous: upload must be done with the source on return
    float *pinned = NULL;
    size_t n = tensor_numel(&h);
    T_CHECK(cudaMallocHost((void **)&pinned, sizeof(float) * n) == cudaSuccess, "cudaMallocHost");
    if (pinned) {
        memcpy(pinned, h.data, sizeof(float) * n);
        gpu()->upload(c.data, pinned, sizeof(float) * n);
        memset(pinned, 0xff, sizeof(float) * n);  // NaNs, if the copy were still reading
        T_SAME(&c, &h, 0, 0, "upload from pinned memory");
        cudaFreeHost(pinned);
    }
    free_h((Tensor *[]){&h, &ones, &z}, 3);
    free_d((Tensor *[]){&g, &c}, 2);
}

// The input pipeline's path: pinned memory from host_alloc, upload_async on the copy stream,
// then ops on the compute stream that must wait for it (a large copy followed at once by a
// small op reading it), upload_wait before the host buffer is reused, two buffers in turn.
TEST(gpu_upload_async) {
    Tensor h = h_rand(1, 1, 1, 1 << 22, 5300, -1, 1), twice = h_copy(&h);
    cpu()->axpy(1.0f, &h, &twice);
    size_t n = tensor_numel(&h), bytes = sizeof(float) * n;
    float *pinned = gpu()->host_alloc(bytes);
    Tensor d[2] = {d_zeros(1, 1, 1, (int)n), d_zeros(1, 1, 1, (int)n)};
    for (int step = 0; step < 4; step++) {
        Tensor *t = &d[step & 1];
        memcpy(pinned, h.data, bytes);
        gpu()->upload_async(t->data, pinned, bytes);
        gpu()->axpy(1.0f, t, t);  // queued on the compute stream: must see the whole copy
        gpu()->upload_wait();
        memset(pinned, 0xff, bytes);  // NaNs, had the copy not finished
        T_SAME(t, &twice, 0, 0, "upload_async then an op");
    }
    gpu()->host_free(pinned);
    free_h((Tensor *[]){&h, &twice}, 2);
    free_d((Tensor *[]){&d[0], &d[1]}, 2);
}

TEST(gpu_pool_reuses_blocks_and_zeroes) {
    const size_t sizes[] = {1, 4, 513, 4096, 1000000, 3u << 20};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    void *p[NS];
    for (int i = 0; i < NS; i++) {
        p[i] = gpu()->alloc(sizes[i]);
        gpu()->fill(p[i], 7.0f, sizes[i] / sizeof(float));
    }
    for (int i = 0; i < NS; i++) gpu()->free(p[i]);
    CudaPoolStats before = cuda_pool_stats();
    for (int i = 0; i < NS; i++) p[i] = gpu()->alloc(sizes[i]);
    CudaPoolStats after = cuda_pool_stats();
    T_CHECK(after.mallocs == before.mallocs,
            "the pool called cudaMalloc %zu times for sizes it had",
            after.mallocs - before.mallocs);
    for (int i = 0; i < NS; i++) {
        size_t nf = sizes[i] / sizeof(float);
        float *h = d_read(p[i], nf);
        size_t bad = 0;
        for (size_t j = 0; j < nf; j++) bad += h[j] != 0.0f;
        T_CHECK(bad == 0, "alloc(%zu) after reuse: %zu nonzero floats", sizes[i], bad);
        free(h);
        gpu()->free(p[i]);
    }
}

TEST(gpu_backend_once_per_process) {
    const char *dev = getenv("DNA_TEST_DEVICE");
    T_CHECK(backend_cuda(dev ? atoi(dev) : 0) == gpu(), "backend_cuda twice: the same table");
    T_CHECK(strstr(gpu()->lib_version(), "cuDNN") != NULL, "lib_version names cuDNN: %s",
            gpu()->lib_version());
}

// ---------------------------------------------------------------- pooling and the SE gate
static void check_pool_gate(int n, int c, int h, int w, unsigned seed) {
    Tensor x = h_rand(n, c, h, w, seed, -1, 1), gate = h_rand(n, c, 1, 1, seed + 1, 0, 1);
    Tensor dy = h_rand(n, c, h, w, seed + 2, -1, 1), dp = h_rand(n, c, 1, 1, seed + 3, -1, 1);
    Tensor pooled = h_like(&gate, 0), dxp = h_rand(n, c, h, w, seed + 4, -1, 1),
           dxp0 = h_copy(&dxp);
    Tensor y = h_like(&x, 0), dx = h_like(&x, GARBAGE), dg = h_like(&gate, GARBAGE);
    cpu()->gap_fwd(&x, &pooled);
    cpu()->gap_bwd(&dp, &dxp);
    cpu()->scale_ch_fwd(&x, &gate, &y);
    cpu()->scale_ch_bwd(&x, &gate, &dy, &dx, &dg);
    Tensor gx = d_of(&x), ggate = d_of(&gate), gdy = d_of(&dy), gdp = d_of(&dp);
    Tensor gpooled = d_like(&gate, GARBAGE), gdxp = d_of(&dxp0), gy = d_like(&x, GARBAGE),
           gdx = d_like(&x, GARBAGE), gdg = d_like(&gate, GARBAGE);
    gpu()->gap_fwd(&gx, &gpooled);
    gpu()->gap_bwd(&gdp, &gdxp);
    gpu()->scale_ch_fwd(&gx, &ggate, &gy);
    gpu()->scale_ch_bwd(&gx, &ggate, &gdy, &gdx, &gdg);
    char what[96];
    double hw = (double)h * w;
#define PG_SAME(g, ref, atol, rtol, name)                            \
    snprintf(what, sizeof what, "%dx%dx%dx%d %s", n, c, h, w, name); \
    T_SAME(g, ref, atol, rtol, what)
    PG_SAME(&gpooled, &pooled, EW_ATOL, EW_RTOL, "gap");
    PG_SAME(&gdxp, &dxp, EW_ATOL, EW_RTOL, "gap dx (accumulated)");
    PG_SAME(&gy, &y, 0, 0, "scale_ch y");
    PG_SAME(&gdx, &dx, 0, 0, "scale_ch dx");
    PG_SAME(&gdg, &dg, sum_atol(hw), SUM_RTOL, "scale_ch dgate");
    // in place forward (drop-connect), dx = dy, dg not wanted (as MBConv calls it)
    Tensor gx2 = d_of(&x), gdy2 = d_of(&dy), gdg2 = d_like(&gate, GARBAGE);
    gpu()->scale_ch_fwd(&gx2, &ggate, &gx2);
    PG_SAME(&gx2, &y, 0, 0, "scale_ch y in place");
    gpu()->scale_ch_bwd(&gdy2, &ggate, &gdy2, &gdy2, NULL);
    Tensor dyg = h_like(&dy, 0);
    cpu()->scale_ch_fwd(&dy, &gate, &dyg);
    PG_SAME(&gdy2, &dyg, 0, 0, "scale_ch dx in place, dg NULL");
    gpu()->scale_ch_bwd(&gx, &ggate, &gdy, NULL, &gdg2);
    PG_SAME(&gdg2, &dg, sum_atol(hw), SUM_RTOL, "scale_ch dgate, dx NULL");
#undef PG_SAME
    free_h((Tensor *[]){&x, &gate, &dy, &dp, &pooled, &dxp, &dxp0, &y, &dx, &dg, &dyg}, 11);
    free_d(
        (Tensor *[]){&gx, &ggate, &gdy, &gdp, &gpooled, &gdxp, &gy, &gdx, &gdg, &gx2, &gdy2, &gdg2},
        12);
}

TEST(gpu_pool_and_gate) {
    check_pool_gate(3, 5, 7, 9, 5300);
    check_pool_gate(1, 4, 1, 1, 5310);       // 1x1 planes (SE of a pooled map)
    check_pool_gate(2, 3, 150, 161, 5320);   // planes spanning many blocks
    check_pool_gate(1, 70000, 1, 2, 5330);   // more planes than grid.y
    check_pool_gate(64, 144, 16, 16, 5340);  // SE of a cell layer
}

// ---------------------------------------------------------------- losses
TEST(gpu_mse_rel_l1) {
    const int shapes[3][4] = {{4, 16, 9, 9}, {1, 1, 1, 1}, {64, 40, 16, 16}};
    for (int i = 0; i < 3; i++) {
        const int *s = shapes[i];
        Tensor a = h_rand(s[0], s[1], s[2], s[3], 5400u + (unsigned)i, -1, 1);
        Tensor b = h_rand(s[0], s[1], s[2], s[3], 5410u + (unsigned)i, -2, 1);
        Tensor d = h_like(&a, 0), ga = d_of(&a), gb = d_of(&b), gd = d_like(&a, GARBAGE);
        double l = cpu()->mse(&a, &b, &d), gl = gpu()->mse(&ga, &gb, &gd);
        char what[64];
        snprintf(what, sizeof what, "mse %dx%dx%dx%d", s[0], s[1], s[2], s[3]);
        T_SAME_SCALAR(gl, l, 0, 1e-7, what);
        T_SAME(&gd, &d, 0, 1e-6, "mse gradient");
        T_SAME_SCALAR(gpu()->mse(&ga, &gb, NULL), l, 0, 1e-7, "mse without gradient");
        if (tensor_numel(&a) > 1) {
            snprintf(what, sizeof what, "rel_l1 %dx%dx%dx%d", s[0], s[1], s[2], s[3]);
            T_SAME_SCALAR(gpu()->rel_l1(&ga, &gb), cpu()->rel_l1(&a, &b), 0, 1e-7, what);
        }
        free_h((Tensor *[]){&a, &b, &d}, 3);
        free_d((Tensor *[]){&ga, &gb, &gd}, 3);
    }
}

static void check_softmax(int N, int K, float smoothing, unsigned seed) {
    Tensor z = h_rand(N, K, 1, 1, seed, -4, 4), d = h_like(&z, 0);
    for (int k = 0; k < K; k++) z.data[k] = 0.25f;  // row 0: all tied, the arg max is 0
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)N);
    Rng r = rng_new(seed + 1);
    for (int n = 0; n < N; n++) lab[n] = (int32_t)rng_below(&r, (uint32_t)K);
    lab[0] = 0;
    int hits = -1, ghits = -1;
    double l = cpu()->softmax_ce(&z, lab, smoothing, &d, &hits);
    Tensor gz = d_of(&z), gd = d_like(&z, GARBAGE);
    int32_t *glab = gpu()->alloc(sizeof(int32_t) * (size_t)N);
    gpu()->upload(glab, lab, sizeof(int32_t) * (size_t)N);
    double gl = gpu()->softmax_ce(&gz, glab, smoothing, &gd, &ghits);
    char what[96];
    snprintf(what, sizeof what, "softmax_ce N%d K%d smoothing %.2f", N, K, smoothing);
    T_SAME_SCALAR(gl, l, 0, 1e-7, what);
    T_SAME(&gd, &d, 1e-8, 1e-6, "softmax_ce gradient");
    T_CHECK(ghits == hits, "%s: %d hits on the GPU, %d on the CPU", what, ghits, hits);
    T_SAME_SCALAR(gpu()->softmax_ce(&gz, glab, smoothing, NULL, NULL), l, 0, 1e-7,
                  "softmax_ce without gradient and hits");
    gpu()->free(glab);
    free(lab);
    free_h((Tensor *[]){&z, &d}, 2);
    free_d((Tensor *[]){&gz, &gd}, 2);
}

TEST(gpu_softmax_ce) {
    check_softmax(37, 10, 0.0f, 5500);
    check_softmax(37, 10, 0.1f, 5510);
    check_softmax(1, 1000, 0.1f, 5520);
    check_softmax(256, 100, 0.1f, 5530);
}

// ---------------------------------------------------------------- optimizers
enum { OPT_N = 100003, OPT_STEPS = 3 };

typedef struct {
    Tensor p, m, v;     // host
    Tensor gp, gm, gv;  // device
} OptState;

static OptState opt_state(unsigned seed) {
    OptState s;
    s.p = h_rand(1, 1, 1, OPT_N, seed, -1, 1);
    s.m = h_const(1, 1, 1, OPT_N, 0), s.v = h_const(1, 1, 1, OPT_N, 0);
    s.gp = d_of(&s.p), s.gm = d_of(&s.m), s.gv = d_of(&s.v);
    return s;
}

static void opt_free(OptState *s) {
    free_h((Tensor *[]){&s->p, &s->m, &s->v}, 3);
    free_d((Tensor *[]){&s->gp, &s->gm, &s->gv}, 3);
}

static void opt_compare(OptState *s, const char *name, int m, int v) {
    char what[96];
    snprintf(what, sizeof what, "%s parameters", name);
    T_SAME(&s->gp, &s->p, OPT_ATOL, 1e-6, what);
    if (m) {
        snprintf(what, sizeof what, "%s first state", name);
        T_SAME(&s->gm, &s->m, OPT_ATOL, 1e-6, what);
    }
    if (v) {
        snprintf(what, sizeof what, "%s second state", name);
        T_SAME(&s->gv, &s->v, OPT_ATOL, 1e-6, what);
    }
}

TEST(gpu_sgd) {
    const float mom[3] = {0.0f, 0.9f, 0.9f}, wd[3] = {0.01f, 1e-4f, 0.0f};
    const int nest[3] = {0, 0, 1};
    for (int c = 0; c < 3; c++) {
        OptState s = opt_state(5600u + (unsigned)c);
        for (int t = 0; t < OPT_STEPS; t++) {
            Tensor g = h_rand(1, 1, 1, OPT_N, 5610u + 10u * (unsigned)c + (unsigned)t, -1, 1);
            Tensor gg = d_of(&g);
            float *hm = mom[c] != 0.0f ? s.m.data : NULL, *dm = mom[c] != 0.0f ? s.gm.data : NULL;
            cpu()->sgd_step(s.p.data, g.data, hm, OPT_N, 0.1f, mom[c], wd[c], nest[c]);
            gpu()->sgd_step(s.gp.data, gg.data, dm, OPT_N, 0.1f, mom[c], wd[c], nest[c]);
            h_free(&g), d_free(&gg);
        }
        char name[64];
        snprintf(name, sizeof name, "sgd momentum %.1f nesterov %d", mom[c], nest[c]);
        opt_compare(&s, name, mom[c] != 0.0f, 0);
        opt_free(&s);
    }
}

TEST(gpu_adam) {
    for (int dec = 0; dec < 2; dec++) {
        OptState s = opt_state(5700u + (unsigned)dec);
        AdamHyper h = {0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, dec};
        for (int t = 0; t < OPT_STEPS; t++) {
            Tensor g = h_rand(1, 1, 1, OPT_N, 5710u + 10u * (unsigned)dec + (unsigned)t, -1, 1);
            Tensor gg = d_of(&g);
            cpu()->adam_step(s.p.data, g.data, s.m.data, s.v.data, OPT_N, h, t + 1);
            gpu()->adam_step(s.gp.data, gg.data, s.gm.data, s.gv.data, OPT_N, h, t + 1);
            h_free(&g), d_free(&gg);
        }
        opt_compare(&s, dec ? "adamw" : "adam", 1, 1);
        opt_free(&s);
    }
}

TEST(gpu_rmsprop) {
    const float mom[2] = {0.0f, 0.5f};
    for (int c = 0; c < 2; c++) {
        OptState s = opt_state(5800u + (unsigned)c);
        for (int t = 0; t < OPT_STEPS; t++) {
            Tensor g = h_rand(1, 1, 1, OPT_N, 5810u + 10u * (unsigned)c + (unsigned)t, -1, 1);
            Tensor gg = d_of(&g);
            float *hb = mom[c] != 0.0f ? s.m.data : NULL, *db = mom[c] != 0.0f ? s.gm.data : NULL;
            cpu()->rmsprop_step(s.p.data, g.data, s.v.data, hb, OPT_N, 0.01f, 0.9f, 1e-3f, 0.1f,
                                mom[c]);
            gpu()->rmsprop_step(s.gp.data, gg.data, s.gv.data, db, OPT_N, 0.01f, 0.9f, 1e-3f, 0.1f,
                                mom[c]);
            h_free(&g), d_free(&gg);
        }
        opt_compare(&s, mom[c] != 0.0f ? "rmsprop momentum 0.5" : "rmsprop", mom[c] != 0.0f, 1);
        opt_free(&s);
    }
}
