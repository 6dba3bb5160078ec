// Op test cases (op_test.h) of batch norm + activation: bn_fwd_train, bn_fwd_eval, bn_bwd.
// Inputs: x = u * scale_c + offset_c, channels with their own mean and spread; for relu |u|
// in [0.3, 1.2) with random signs and beta_c = gamma_c invstd_c (mean_c - offset_c), so the
// pre-activation is z = gamma_c invstd_c scale_c u: |z| >= 0.19, far from relu's kink both
// for finite differences (steps move z by < 0.07) and for the two backends' rounding.
#include <stdlib.h>

#include "../unit/harness.h"
#include "core/rng.h"
#include "op_test.h"

enum { NX, NG, NB, NY, NMEAN, NIS, NRM, NRV };              // bn_fwd_train
enum { EX, EG, EB, ERM, ERV, EY };                          // bn_fwd_eval
enum { DX_, DG, DB, DMEAN, DIS, DDY, DDX, DDG, DDB, DY_ };  // bn_bwd (y: for the loss)

static void bn_shapes(const OpParams *p, Shape *s) {
    Shape c = {p->in.c, 1, 1, 1};
    for (int i = 0; i < OP_SLOTS; i++) s[i] = c;
    s[NX] = s[NY] = p->in;  // bn_fwd_train
}
static void eval_shapes(const OpParams *p, Shape *s) {
    bn_shapes(p, s);
    s[NY] = (Shape){p->in.c, 1, 1, 1};
    s[EX] = s[EY] = p->in;
}
static void bwd_shapes(const OpParams *p, Shape *s) {
    bn_shapes(p, s);
    s[NY] = (Shape){p->in.c, 1, 1, 1};
    s[DX_] = s[DDY] = s[DDX] = s[DY_] = p->in;
}

// x, gamma, beta as described at the top (x's slot holds uniform [-1, 1) values to reshape)
static void bn_inputs(OpArgs *a, int X, int G, int B) {
    const OpParams *p = a->p;
    int n = p->in.n, c = p->in.c, away0 = p->act == ACT_RELU;
    size_t hw = (size_t)p->in.h * p->in.w;
    float *x = a->t[X].data, *g = a->t[G].data, *b = a->t[B].data;
    float *sc = malloc(sizeof(float) * (size_t)c), *off = malloc(sizeof(float) * (size_t)c);
    t_fill_uniform(sc, (size_t)c, a->seed + 101, 0.5f, 2.0f);
    t_fill_uniform(off, (size_t)c, a->seed + 102, -2.0f, 2.0f);
    if (away0) t_fill_uniform(x, tensor_numel(&a->t[X]), a->seed + 103, 0.3f, 1.2f);
    Rng r = rng_new(a->seed + 104);
    for (size_t i = 0; i < tensor_numel(&a->t[X]); i++) {
        int ch = (int)(i / hw % (size_t)c);
        float u = away0 && rng_below(&r, 2) ? -x[i] : x[i];
        x[i] = u * sc[ch] + off[ch];
    }
    if (c > 1) g[1] = -g[1];  // a negative scale too
    for (int ch = 0; away0 && ch < c; ch++) {
        double s = 0, q = 0, m = (double)n * hw;
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++) s += x[((size_t)i * c + ch) * hw + j];
        for (int i = 0; i < n; i++)
            for (size_t j = 0; j < hw; j++) {
                double d = x[((size_t)i * c + ch) * hw + j] - s / m;
                q += d * d;
            }
        b[ch] = (float)(g[ch] * (s / m - off[ch]) / sqrt(q / m + p->eps));
    }
    free(sc);
    free(off);
}

static void train_prepare(OpArgs *a) {
    bn_inputs(a, NX, NG, NB);
}
static void eval_prepare(OpArgs *a) {
    bn_inputs(a, EX, EG, EB);
}
// bn_bwd's saved statistics: those of bn_fwd_train on the same x
static void bwd_prepare(OpArgs *a) {
    bn_inputs(a, DX_, DG, DB);
    backend_cpu()->bn_fwd_train(&a->t[DX_], a->t[DG].data, a->t[DB].data, &a->t[DY_],
                                a->t[DMEAN].data, a->t[DIS].data, NULL, NULL, a->p->momentum,
                                a->p->eps, a->p->act, NULL);
}

static void train_run(const Backend *be, OpArgs *a) {
    const OpParams *p = a->p;
    BnSync s = op_sync(a);
    be->bn_fwd_train(&a->t[NX], a->t[NG].data, a->t[NB].data, &a->t[NY], op_f(a, NMEAN),
                     op_f(a, NIS), op_f(a, NRM), op_f(a, NRV), p->momentum, p->eps, p->act,
                     p->sync ? &s : NULL);
}

static void eval_run(const Backend *be, OpArgs *a) {
    be->bn_fwd_eval(&a->t[EX], a->t[EG].data, a->t[EB].data, a->t[ERM].data, a->t[ERV].data,
                    a->p->eps, &a->t[EY], a->p->act);
}

static void bwd_run(const Backend *be, OpArgs *a) {
    const OpParams *p = a->p;
    BnSync s = op_sync(a);
    be->bn_bwd(&a->t[DX_], a->t[DG].data, a->t[DB].data, a->t[DMEAN].data, a->t[DIS].data,
               &a->t[DDY], &a->t[DDX], op_f(a, DDG), op_f(a, DDB), p->act, p->sync ? &s : NULL);
}

static double bwd_loss(OpArgs *a) {
    backend_cpu()->bn_fwd_train(&a->t[DX_], a->t[DG].data, a->t[DB].data, &a->t[DY_], NULL, NULL,
                                NULL, NULL, a->p->momentum, a->p->eps, a->p->act, NULL);
    return op_dot(&a->t[DDY], &a->t[DY_]);
}

// outputs and dx: the instance's tolerance (BN_TOL but where invstd is huge); statistics
// BN_TOL; dgamma/dbeta sums over M values
static double out_tol(const OpParams *p) {
    return p->tol > 0 ? p->tol : OP_BN_TOL;
}
static Tol train_tol(const OpParams *p, int slot) {
    double t = slot == NY ? out_tol(p) : OP_BN_TOL;
    return (Tol){t, t};
}
static Tol eval_tol(const OpParams *p, int slot) {
    (void)slot;
    return (Tol){out_tol(p), out_tol(p)};
}
static Tol bwd_tol(const OpParams *p, int slot) {
    double M = (double)p->in.n * p->in.h * p->in.w;
    if (slot == DDX) return (Tol){out_tol(p), out_tol(p)};
    return (Tol){2e-5 + 1e-8 * M, 2e-5};
}

#define BN(NAME, N, C, H, W, ACT, MOM, SYNC, TOL, SEED, FD) \
    {                                                       \
        NAME,                                               \
            {.in = {N, C, H, W},                            \
             .act = ACT,                                    \
             .momentum = MOM,                               \
             .eps = 1e-5f,                                  \
             .sync = SYNC,                                  \
             .tol = TOL},                                   \
            SEED, FD, NULL                                  \
    }
// per activation: planes split over blocks (57x57), several planes per block (5x5), and a
// small one for finite differences
#define BN_ACTS(ACT, A, S, FD_SEED)                                   \
    BN("8x40x16x16 " A, 8, 40, 16, 16, ACT, 0.1f, 0, 0, S, 0),        \
        BN("2x7x57x57 " A, 2, 7, 57, 57, ACT, 0.1f, 0, 0, S + 10, 0), \
        BN("64x3x5x5 " A, 64, 3, 5, 5, ACT, 0.1f, 0, 0, S + 20, 0),   \
        BN("3x130x7x7 " A, 3, 130, 7, 7, ACT, 0.1f, 0, 0, S + 30, 0), \
        BN("2x3x3x3 " A " fd", 2, 3, 3, 3, ACT, 0.1f, 0, 0, FD_SEED, 24)

static const OpInst BN_SHAPES[] = {
    BN_ACTS(ACT_NONE, "none", 4000, 300),
    BN_ACTS(ACT_RELU, "relu", 4100, 310),
    BN_ACTS(ACT_SWISH, "swish", 4200, 320),
    BN_ACTS(ACT_SIGMOID, "sigmoid", 4300, 330),
    BN_ACTS(ACT_GELU, "gelu", 4400, 340),
    // one value per channel: var 0, invstd = 1/sqrt(eps) = 316 scales the last bit of
    // x * scale (|x| ~ 2: 6e-5) into y; the two backends round it differently (FMA)
    BN("1x5x1x1 swish (var 0)", 1, 5, 1, 1, ACT_SWISH, 0.1f, 0, 1e-3, 4500, 0),
    BN("600x120x1x1 relu (planes > grid.y)", 600, 120, 1, 1, ACT_RELU, 0.1f, 0, 0, 4510, 0),
    // rating's recalibration: momentum 1 makes the running stats this batch's
    BN("4x24x9x9 swish momentum 1", 4, 24, 9, 9, ACT_SWISH, 1.0f, 0, 0, 4600, 0),
    BN("2x7x57x57 momentum 1", 2, 7, 57, 57, ACT_NONE, 1.0f, 0, 0, 4610, 0),
    // synchronised BN: the moments go through BnSync.sum (same calls, same sums on both)
    BN("4x24x9x9 swish sync", 4, 24, 9, 9, ACT_SWISH, 0.1f, 1, 0, 4700, 0),
    BN("2x7x57x57 relu sync", 2, 7, 57, 57, ACT_RELU, 0.1f, 1, 0, 4710, 0),
    {0},
};

// x [N 2, C 2, 1, 2] with eps 2.75 so that the square roots are exact:
//  channel 0 = {1, 2, 3, 4}: mean 2.5, biased var (2.25 + .25 + .25 + 2.25)/4 = 1.25,
//    invstd = 1/sqrt(1.25 + 2.75) = 0.5, xhat = {-.75, -.25, .25, .75};
//    gamma 2, beta 0.5 -> y = {-1, 0, 1, 2}; relu -> {0, 0, 1, 2}.
//  channel 1 = {8, 3, 3, 8}: mean 5.5, var 6.25, invstd = 1/sqrt(9) = 1/3,
//    xhat = {5/6, -5/6, -5/6, 5/6}; gamma -1, beta 1 -> y = {1/6, 11/6, 11/6, 1/6}.
//  running stats from (0, 1) with momentum 0.1: mean 0.1 * mu, var 0.9 + 0.1 * unbiased var
//    -> ch0: 0.25, 0.9 + 0.1 * 5/3 = 1.0666667; ch1: 0.55, 0.9 + 0.1 * 25/3 = 1.7333333.
//  Eval with the batch's own statistics as running stats reproduces training's output.
// Layout [n][c][w]: n0 c0 {1,2}, n0 c1 {8,3}, n1 c0 {3,4}, n1 c1 {3,8}.
#define REF_IN GIVEN("x", 1, 2, 8, 3, 3, 4, 3, 8), GIVEN("gamma", 2, -1), GIVEN("beta", 0.5f, 1)
#define A6 (1.0f / 6)
#define B6 (11.0f / 6)
#define BN_REF(NAME, ACT, ...)                                                        \
    {                                                                                 \
        NAME, {.in = {2, 2, 1, 2}, .act = ACT, .momentum = 0.1f, .eps = 2.75f}, 0, 0, \
            OP_REFS(__VA_ARGS__)                                                      \
    }

static const OpInst TRAIN_REFS[] = {
    BN_REF("values 2x2x1x2", ACT_NONE, REF_IN, GIVEN("run_mean", 0, 0), GIVEN("run_var", 1, 1),
           WANT("y", 1e-6, 1e-6, -1, 0, A6, B6, 1, 2, B6, A6), WANT("mean", 1e-6, 1e-6, 2.5f, 5.5f),
           WANT("invstd", 1e-7, 1e-6, 0.5f, 1.0f / 3), WANT("run_mean", 1e-7, 1e-6, 0.25f, 0.55f),
           WANT("run_var", 1e-7, 1e-6, 0.9f + 0.5f / 3, 0.9f + 2.5f / 3)),
    BN_REF("values 2x2x1x2 relu", ACT_RELU, REF_IN, GIVEN("run_mean", 0, 0), GIVEN("run_var", 1, 1),
           WANT("y", 1e-6, 1e-6, 0, 0, A6, B6, 1, 2, B6, A6)),
    {0},
};

static const OpInst EVAL_REFS[] = {
    BN_REF("values 2x2x1x2", ACT_NONE, REF_IN, GIVEN("run_mean", 2.5f, 5.5f),
           GIVEN("run_var", 1.25f, 6.25f), WANT("y", 1e-6, 1e-6, -1, 0, A6, B6, 1, 2, B6, A6)),
    {0},
};

const OpCase OPCASE_bn_fwd_train = {
    .op = "bn_fwd_train",
    .slot = {{"x", SLOT_IN, -1, 1},
             {"gamma", SLOT_IN, 0.5f, 1.5f},
             {"beta", SLOT_IN, -0.5f, 0.5f},
             {"y", SLOT_OUT},
             {"mean", SLOT_OUT, .nullable = 1},
             {"invstd", SLOT_OUT, .nullable = 1},
             {"run_mean", SLOT_STATE, -1, 1, .nullable = 1},
             {"run_var", SLOT_STATE, 0.5f, 2, .nullable = 1}},
    .shapes = bn_shapes,
    .run = train_run,
    .prepare = train_prepare,
    .gpu_tol = train_tol,
    .sync_calls = 2,
    .lists = {BN_SHAPES, TRAIN_REFS},
};

const OpCase OPCASE_bn_fwd_eval = {
    .op = "bn_fwd_eval",
    .slot = {{"x", SLOT_IN, -1, 1},
             {"gamma", SLOT_IN, 0.5f, 1.5f},
             {"beta", SLOT_IN, -0.5f, 0.5f},
             {"run_mean", SLOT_IN, -1, 1},
             {"run_var", SLOT_IN, 0.5f, 2},
             {"y", SLOT_OUT}},
    .shapes = eval_shapes,
    .run = eval_run,
    .prepare = eval_prepare,
    .gpu_tol = eval_tol,
    .lists = {BN_SHAPES, EVAL_REFS},
};

const OpCase OPCASE_bn_bwd = {
    .op = "bn_bwd",
    .slot = {{"x", SLOT_IN, -1, 1},
             {"gamma", SLOT_IN, 0.5f, 1.5f},
             {"beta", SLOT_IN, -0.5f, 0.5f},
             {"mean", SLOT_IN},
             {"invstd", SLOT_IN},
             {"dy", SLOT_IN, -1, 1},
             {"dx", SLOT_OUT, .grad_of = "x"},
             {"dgamma", SLOT_ACC, .nullable = 1, .grad_of = "gamma"},
             {"dbeta", SLOT_ACC, .nullable = 1, .grad_of = "beta"},
             {"y", SLOT_AUX}},
    .shapes = bwd_shapes,
    .run = bwd_run,
    .prepare = bwd_prepare,
    .loss = bwd_loss,
    .gpu_tol = bwd_tol,
    .sync_calls = 1,
    .lists = {BN_SHAPES},
};
