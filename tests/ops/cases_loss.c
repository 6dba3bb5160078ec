// Op test cases (op_test.h) of the losses and scores: mse, rel_l1, softmax_ce. The loss is
// the finite differences' L itself; its gradients are ~1/n, hence their smaller atol.
#include <stdint.h>
#include <string.h>

#include "../unit/harness.h"
#include "core/rng.h"
#include "op_test.h"

static void same_shapes(const OpParams *p, Shape *s) {
    for (int i = 0; i < OP_SLOTS; i++) s[i] = p->in;
}

// ---------------------------------------------------------------- mse, rel_l1
enum { MA, MB, MD };  // mse; rel_l1 has the first two

static void mse_run(const Backend *be, OpArgs *a) {
    a->ret = be->mse(&a->t[MA], &a->t[MB], op_t(a, MD));
}
static double mse_loss(OpArgs *a) {
    return backend_cpu()->mse(&a->t[MA], &a->t[MB], NULL);
}
static Tol mse_tol(const OpParams *p, int slot) {
    (void)p;
    return slot < 0 ? (Tol){0, 1e-7} : (Tol){0, 1e-6};
}

// With and without dyhat the sum is vectorised differently: its double additions come in
// another order (1e-15 relative) on larger instances, which give that tolerance in p.tol.
static Tol mse_cpu_tol(const OpParams *p, int slot) {
    return slot < 0 ? (Tol){0, p->tol} : OP_EXACT;
}

static void rel_l1_run(const Backend *be, OpArgs *a) {
    a->ret = be->rel_l1(&a->t[MA], &a->t[MB]);
}
static Tol rel_l1_tol(const OpParams *p, int slot) {
    (void)p, (void)slot;
    return (Tol){0, 1e-7};
}

static const OpInst MSE_SHAPES[] = {
    {"2x3x2x2", {.in = {2, 3, 2, 2}}, 600, 24, NULL},
    {"4x16x9x9", {.in = {4, 16, 9, 9}, .tol = 1e-14}, 5400, 0, NULL},
    {"64x40x16x16", {.in = {64, 40, 16, 16}, .tol = 1e-14}, 5402, 0, NULL},
    {0},
};
static const OpInst MSE_ONE[] = {{"1x1x1x1", {.in = {1, 1, 1, 1}}, 5401, 0, NULL}, {0}};

// yhat = {1, -1, 0.5, 3}, y = {0, 0, 0, 4}: e = {1, -1, 0.5, -1}
//  mse = (1 + 1 + 0.25 + 1)/4 = 0.8125, d mse/d yhat = 2e/4 = {0.5, -0.5, 0.25, -0.5}
//  rel_l1 = mean|e| / std(y) = (3.5/4) / sqrt((1+1+1+9)/3) = 0.875 / 2 = 0.4375
#define MSE_IN GIVEN("yhat", 1, -1, 0.5f, 3), GIVEN("y", 0, 0, 0, 4)
static const OpInst MSE_REFS[] = {
    {"values 1x4",
     {.in = {1, 4, 1, 1}},
     0,
     0,
     OP_REFS(MSE_IN, WANT_RET(0.8125, 1e-12, 0), WANT("dyhat", 0, 0, 0.5f, -0.5f, 0.25f, -0.5f))},
    {0},
};
static const OpInst REL_L1_REFS[] = {
    {"values 1x4", {.in = {1, 4, 1, 1}}, 0, 0, OP_REFS(MSE_IN, WANT_RET(0.4375, 1e-12, 0))},
    {0},
};

const OpCase OPCASE_mse = {
    .op = "mse",
    .slot = {{"yhat", SLOT_IN, -1, 1},
             {"y", SLOT_IN, -2, 1},
             {"dyhat", SLOT_OUT, .nullable = 1, .grad_of = "yhat"}},
    .shapes = same_shapes,
    .run = mse_run,
    .loss = mse_loss,
    .gpu_tol = mse_tol,
    .cpu_tol = mse_cpu_tol,
    .fd_atol = 1e-5,
    .lists = {MSE_SHAPES, MSE_ONE, MSE_REFS},
};

// not on MSE_ONE: one value has std 0, no meaningful score
const OpCase OPCASE_rel_l1 = {
    .op = "rel_l1",
    .slot = {{"yhat", SLOT_IN, -1, 1}, {"y", SLOT_IN, -2, 1}},
    .shapes = same_shapes,
    .run = rel_l1_run,
    .gpu_tol = rel_l1_tol,
    .lists = {MSE_SHAPES, REL_L1_REFS},
};

// ---------------------------------------------------------------- softmax_ce
enum { ZL, ZLAB, ZD, ZHITS };

static void ce_shapes(const OpParams *p, Shape *s) {
    s[ZL] = s[ZD] = (Shape){p->in.n, p->in.c, 1, 1};
    s[ZLAB] = (Shape){p->in.n, 1, 1, 1};
    s[ZHITS] = (Shape){1, 1, 1, 1};
}

// labels uniform over the classes; style 1: row 0 all tied (the arg max is the first, 0) and
// labelled 0
static void ce_prepare(OpArgs *a) {
    int N = a->p->in.n, K = a->p->in.c;
    int32_t *lab = (int32_t *)a->t[ZLAB].data;
    Rng r = rng_new(a->seed + 100);
    for (int n = 0; n < N; n++) lab[n] = (int32_t)rng_below(&r, (uint32_t)K);
    if (a->p->style == 1) {
        for (int k = 0; k < K; k++) a->t[ZL].data[k] = 0.25f;
        lab[0] = 0;
    }
}

static void ce_run(const Backend *be, OpArgs *a) {
    int *hits = a->t[ZHITS].data ? (int *)a->t[ZHITS].data : NULL;
    a->ret = be->softmax_ce(&a->t[ZL], (const int32_t *)a->t[ZLAB].data, a->p->smoothing,
                            op_t(a, ZD), hits);
}
static double ce_loss(OpArgs *a) {
    return backend_cpu()->softmax_ce(&a->t[ZL], (const int32_t *)a->t[ZLAB].data, a->p->smoothing,
                                     NULL, NULL);
}
static Tol ce_tol(const OpParams *p, int slot) {
    (void)p;
    return slot < 0 ? (Tol){0, 1e-7} : (Tol){1e-8, 1e-6};
}
// top-1 hits: between 0 and N
static void ce_check(const OpInstance *I, const OpResult *r) {
    int hits;
    memcpy(&hits, r->v[ZHITS], sizeof hits);
    T_CHECK(hits >= 0 && hits <= I->in->p.in.n, "softmax_ce [%s]: %d hits of %d rows", I->in->name,
            hits, I->in->p.in.n);
}

#define CE(NAME, N, K, LS, STYLE, SEED, FD) \
    { NAME, {.in = {N, K, 1, 1}, .smoothing = LS, .style = STYLE}, SEED, FD, NULL }
static const OpInst CE_SHAPES[] = {
    CE("4x7", 4, 7, 0.0f, 0, 610, 28),
    CE("4x7 smoothing 0.1", 4, 7, 0.1f, 0, 620, 28),
    CE("37x10", 37, 10, 0.0f, 1, 5500, 0),
    CE("37x10 smoothing 0.1", 37, 10, 0.1f, 1, 5510, 0),
    CE("1x1000 smoothing 0.1", 1, 1000, 0.1f, 1, 5520, 0),
    CE("256x100 smoothing 0.1", 256, 100, 0.1f, 1, 5530, 0),
    {0},
};

// logits {ln 1, ln 2, ln 5}: softmax p = {1/8, 2/8, 5/8}.
//  label 2, no smoothing: CE = -ln(5/8) = ln 1.6 = 0.470003629; dlogits = p - onehot =
//    {0.125, 0.25, -0.375}.
//  smoothing 0.1 (K 3): q = {1/30, 1/30, 0.9 + 1/30}; CE = -sum q ln p
//    = (ln 8 + ln 4)/30 + (28/30) ln 1.6 = ln2/6 + (14/15) ln 1.6 = 0.115524530 + 0.438670054
//    = 0.554194584; dlogits = p - q = {11/120, 26/120, -37/120}.
//  two rows, second with label 0 (no smoothing): CE2 = -ln(1/8) = 2.079441542, mean
//    1.274722585; the gradient is divided by N = 2: row 1 = {-0.875, 0.25, 0.625}/2;
//    top-1 hits: row 0 (argmax 2 = label), not row 1 -> 1.
#define LZ 0.0f, 0.6931471805599453f, 1.6094379124341003f
#define CE_REF(NAME, N, LS, ...) \
    { NAME, {.in = {N, 3, 1, 1}, .smoothing = LS}, 0, 0, OP_REFS(__VA_ARGS__) }
static const OpInst CE_REFS[] = {
    CE_REF("values 1x3", 1, 0.0f, GIVEN("logits", LZ), GIVEN("labels", 2),
           WANT_RET(0.470003629245736, 1e-7, 0), WANT("dlogits", 1e-7, 0, 0.125f, 0.25f, -0.375f),
           WANT("correct", 0, 0, 1)),
    CE_REF("values 1x3 smoothing 0.1", 1, 0.1f, GIVEN("logits", LZ), GIVEN("labels", 2),
           WANT_RET(0.554194584056011, 1e-7, 0),
           WANT("dlogits", 1e-7, 0, 11.0f / 120, 26.0f / 120, -37.0f / 120),
           WANT("correct", 0, 0, 1)),
    CE_REF("values 2x3", 2, 0.0f, GIVEN("logits", LZ, LZ), GIVEN("labels", 2, 0),
           WANT_RET(1.274722585462786, 1e-7, 0),
           WANT("dlogits", 1e-7, 0, 0.0625f, 0.125f, -0.1875f, -0.4375f, 0.125f, 0.3125f),
           WANT("correct", 0, 0, 1)),
    {0},
};

const OpCase OPCASE_softmax_ce = {
    .op = "softmax_ce",
    .slot = {{"logits", SLOT_IN, -4, 4},
             {"labels", SLOT_IN, .i32 = 1},
             {"dlogits", SLOT_OUT, .nullable = 1, .grad_of = "logits"},
             {"correct", SLOT_OUT, .nullable = 1, .i32 = 1, .host = 1}},
    .shapes = ce_shapes,
    .run = ce_run,
    .prepare = ce_prepare,
    .loss = ce_loss,
    .gpu_tol = ce_tol,
    .fd_atol = 1e-4,
    .check = ce_check,
    .lists = {CE_SHAPES, CE_REFS},
};
