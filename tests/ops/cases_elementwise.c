// Op test cases (op_test.h) of the elementwise ops, the global average pool and the SE
// channel gate: act_fwd/bwd, add, axpy, gap_fwd/bwd, scale_ch_fwd/bwd. Shapes: small ones
// for finite differences, planes spanning many blocks, 1x1 planes (SE of a pooled map),
// more planes than a grid dimension, SE of a cell layer.
#include <math.h>

#include "../unit/harness.h"
#include "core/rng.h"
#include "op_test.h"

static void same_shapes(const OpParams *p, Shape *s) {
    for (int i = 0; i < OP_SLOTS; i++) s[i] = p->in;
}

static Tol ew_tol(const OpParams *p, int slot) {
    (void)p, (void)slot;
    return OP_EW_TOL;
}

static Tol exact_tol(const OpParams *p, int slot) {
    (void)p, (void)slot;
    return OP_EXACT;
}

// ---------------------------------------------------------------- activations
enum { AX, AY };            // act_fwd
enum { GX, GDY, GDX, GY };  // act_bwd (y: for the loss)

// style 1: the exp's clamps and relu's kink (x = 90, -90, 0); style 2: |x| in [0.2, 2) with
// random signs, away from relu's kink by far more than finite differences move
static void act_prepare(OpArgs *a) {
    float *x = a->t[0].data;
    size_t n = tensor_numel(&a->t[0]);
    if (a->p->style == 1) x[0] = 90.0f, x[1] = -90.0f, x[2] = 0.0f;
    if (a->p->style == 2) {
        t_fill_uniform(x, n, a->seed + 100, 0.2f, 2.0f);
        Rng r = rng_new(a->seed + 101);
        for (size_t i = 0; i < n; i++)
            if (rng_below(&r, 2)) x[i] = -x[i];
    }
}

static void act_fwd_run(const Backend *be, OpArgs *a) {
    be->act_fwd(a->p->act, &a->t[AX], &a->t[AY]);
}
static void act_bwd_run(const Backend *be, OpArgs *a) {
    be->act_bwd(a->p->act, &a->t[GX], &a->t[GDY], &a->t[GDX]);
}
static double act_loss(OpArgs *a) {
    backend_cpu()->act_fwd(a->p->act, &a->t[GX], &a->t[GY]);
    return op_dot(&a->t[GDY], &a->t[GY]);
}

#define ACT(NAME, ACTV, STYLE, N, C, H, W, SEED, FD) \
    { NAME, {.in = {N, C, H, W}, .act = ACTV, .style = STYLE}, SEED, FD, NULL }
static const OpInst ACT_SHAPES[] = {
    ACT("none 2x3x37x41", ACT_NONE, 1, 2, 3, 37, 41, 5000, 0),
    ACT("relu 2x3x37x41", ACT_RELU, 1, 2, 3, 37, 41, 5001, 0),
    ACT("swish 2x3x37x41", ACT_SWISH, 1, 2, 3, 37, 41, 5002, 0),
    ACT("sigmoid 2x3x37x41", ACT_SIGMOID, 1, 2, 3, 37, 41, 5003, 0),
    ACT("gelu 2x3x37x41", ACT_GELU, 1, 2, 3, 37, 41, 5004, 0),
    ACT("none 2x3x4x5", ACT_NONE, 0, 2, 3, 4, 5, 430, 40),
    ACT("relu 2x3x4x5", ACT_RELU, 2, 2, 3, 4, 5, 400, 40),
    ACT("swish 2x3x4x5", ACT_SWISH, 0, 2, 3, 4, 5, 420, 40),
    ACT("sigmoid 2x3x4x5", ACT_SIGMOID, 0, 2, 3, 4, 5, 410, 40),
    ACT("gelu 2x3x4x5", ACT_GELU, 0, 2, 3, 4, 5, 440, 40),
    {0},
};

// the activations' values at a few points (sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4, ...;
// sigmoid(2) = 0.880797078)
#define ACT_X GIVEN("x", 0.0f, 1.0986122886681098f, -1.0986122886681098f, 2.0f, -2.0f, 30.0f)
#define ACT_REF(NAME, ACTV, ...) \
    { NAME, {.in = {1, 6, 1, 1}, .act = ACTV}, 0, 0, OP_REFS(__VA_ARGS__) }
static const OpInst ACT_REFS[] = {
    ACT_REF(
        "values sigmoid", ACT_SIGMOID, ACT_X,
        WANT("y", 1e-7, 1e-6, 0.5f, 0.75f, 0.25f, 0.8807970779778823f, 0.11920292202211769f, 1.0f)),
    ACT_REF("values swish", ACT_SWISH, ACT_X,
            WANT("y", 1e-7, 1e-6, 0.0f, 0.8239592165010823f, -0.27465307216702745f,
                 1.7615941559557646f, -0.23840584404423537f, 30.0f)),
    // PyTorch's GELU (erf form): x Phi(x), from math.erf in double
    ACT_REF("values gelu", ACT_GELU, ACT_X,
            WANT("y", 1e-7, 1e-6, 0.0f, 0.9492355054401483f, -0.14937678322796152f,
                 1.9544997361036416f, -0.04550026389635842f, 30.0f)),
    ACT_REF("values relu", ACT_RELU, ACT_X,
            WANT("y", 0, 0, 0.0f, 1.0986122886681098f, 0.0f, 2.0f, 0.0f, 30.0f)),
    {0},
};

const OpCase OPCASE_act_fwd = {
    .op = "act_fwd",
    .slot = {{"x", SLOT_IN, -6, 6}, {"y", SLOT_OUT}},
    .shapes = same_shapes,
    .run = act_fwd_run,
    .prepare = act_prepare,
    .gpu_tol = ew_tol,
    .alias = {{"x", {"y"}}},
    .lists = {ACT_SHAPES, ACT_REFS},
};

const OpCase OPCASE_act_bwd = {
    .op = "act_bwd",
    .slot = {{"x", SLOT_IN, -6, 6},
             {"dy", SLOT_IN, -1, 1},
             {"dx", SLOT_OUT, .grad_of = "x"},
             {"y", SLOT_AUX}},
    .shapes = same_shapes,
    .run = act_bwd_run,
    .prepare = act_prepare,
    .loss = act_loss,
    .gpu_tol = ew_tol,
    .alias = {{"dy", {"dx"}}},
    .lists = {ACT_SHAPES},
};

// ---------------------------------------------------------------- add, axpy
enum { PA, PB, PY };  // add
enum { YX, YY };      // axpy

static void add_run(const Backend *be, OpArgs *a) {
    be->add(&a->t[PA], &a->t[PB], &a->t[PY]);
}
static void add_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    for (size_t i = 0; i < tensor_numel(&a->t[PA]); i++)
        want[PY][i] = a->t[PA].data[i] + a->t[PB].data[i];
    *done = 1u << PY;
}

static void axpy_run(const Backend *be, OpArgs *a) {
    be->axpy(a->p->alpha, &a->t[YX], &a->t[YY]);
}
static void axpy_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    for (size_t i = 0; i < tensor_numel(&a->t[YX]); i++)
        want[YY][i] = (float)(a->t[YY].data[i] + (double)a->p->alpha * a->t[YX].data[i]);
    *done = 1u << YY;
}
static Tol axpy_tol(const OpParams *p, int slot) {
    (void)p, (void)slot;
    return (Tol){1e-7, 1e-6};
}

static const OpInst ADD_SHAPES[] = {
    {"2x3x2x2", {.in = {2, 3, 2, 2}}, 700, 0, NULL},
    {"3x5x17x19", {.in = {3, 5, 17, 19}}, 5100, 0, NULL},
    {0},
};

// alpha 0.3 - 1 with x = y: x *= 0.3, as the EMA and data-parallel steps do
static const OpInst AXPY_SHAPES[] = {
    {"2x3x2x2 alpha -0.5", {.in = {2, 3, 2, 2}, .alpha = -0.5f}, 702, 0, NULL},
    {"3x5x17x19 alpha -0.75", {.in = {3, 5, 17, 19}, .alpha = -0.75f}, 5102, 0, NULL},
    {"3x5x17x19 alpha 0.3-1", {.in = {3, 5, 17, 19}, .alpha = 0.3f - 1.0f}, 5104, 0, NULL},
    {0},
};

const OpCase OPCASE_add = {
    .op = "add",
    .slot = {{"a", SLOT_IN, -1, 1}, {"b", SLOT_IN, -1, 1}, {"y", SLOT_OUT}},
    .shapes = same_shapes,
    .run = add_run,
    .ref = add_ref,
    .gpu_tol = exact_tol,
    .alias = {{"a", {"y"}}, {"b", {"y"}}},  // in place, as MBConv's residual
    .lists = {ADD_SHAPES},
};

const OpCase OPCASE_axpy = {
    .op = "axpy",
    .slot = {{"x", SLOT_IN, -1, 1}, {"y", SLOT_STATE, -1, 1}},
    .shapes = same_shapes,
    .run = axpy_run,
    .ref = axpy_ref,
    .ref_tol = {1e-7, 1e-7},
    .gpu_tol = axpy_tol,
    .alias = {{"y", {"x"}}},
    .lists = {AXPY_SHAPES},
};

// ---------------------------------------------------------------- gap, scale_ch
enum { QX, QY };                     // gap_fwd
enum { RDY, RDX, RX, RY };           // gap_bwd (x, y: the forward's, for the loss)
enum { SX, SG, SY };                 // scale_ch_fwd
enum { TX, TG, TDY, TDX, TDG, TY };  // scale_ch_bwd (y: for the loss)

static void gap_fwd_shapes(const OpParams *p, Shape *s) {
    s[QX] = p->in, s[QY] = (Shape){p->in.n, p->in.c, 1, 1};
}
static void gap_bwd_shapes(const OpParams *p, Shape *s) {
    s[RDY] = s[RY] = (Shape){p->in.n, p->in.c, 1, 1};
    s[RDX] = s[RX] = p->in;
}
static void gate_shapes(const OpParams *p, Shape *s) {
    for (int i = 0; i < OP_SLOTS; i++) s[i] = p->in;
    s[SG] = s[TDG] = (Shape){p->in.n, p->in.c, 1, 1};  // SG = TG
}

static void gap_fwd_run(const Backend *be, OpArgs *a) {
    be->gap_fwd(&a->t[QX], &a->t[QY]);
}
static void gap_bwd_run(const Backend *be, OpArgs *a) {
    be->gap_bwd(&a->t[RDY], &a->t[RDX]);
}
static double gap_loss(OpArgs *a) {
    backend_cpu()->gap_fwd(&a->t[RX], &a->t[RY]);
    return op_dot(&a->t[RDY], &a->t[RY]);
}
// the plane means, in double
static void gap_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    const Tensor *x = &a->t[QX];
    size_t hw = (size_t)x->h * x->w;
    for (size_t pl = 0; pl < (size_t)x->n * x->c; pl++) {
        double s = 0;
        for (size_t i = 0; i < hw; i++) s += x->data[pl * hw + i];
        want[QY][pl] = (float)(s / (double)hw);
    }
    *done = 1u << QY;
}

static void gate_fwd_run(const Backend *be, OpArgs *a) {
    be->scale_ch_fwd(&a->t[SX], &a->t[SG], &a->t[SY]);
}
static void gate_bwd_run(const Backend *be, OpArgs *a) {
    be->scale_ch_bwd(&a->t[TX], &a->t[TG], &a->t[TDY], op_t(a, TDX), op_t(a, TDG));
}
static double gate_loss(OpArgs *a) {
    backend_cpu()->scale_ch_fwd(&a->t[TX], &a->t[TG], &a->t[TY]);
    return op_dot(&a->t[TDY], &a->t[TY]);
}
// y = x g (one float product: exact in double, then rounded)
static void gate_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    const Tensor *x = &a->t[SX];
    size_t hw = (size_t)x->h * x->w;
    for (size_t i = 0; i < tensor_numel(x); i++)
        want[SY][i] = (float)((double)x->data[i] * a->t[SG].data[i / hw]);
    *done = 1u << SY;
}
// dx and y exact (one product each), dg a sum over the plane
static Tol gate_bwd_tol(const OpParams *p, int slot) {
    return slot == TDG ? op_sum_tol((double)p->in.h * p->in.w) : OP_EXACT;
}

static const OpInst POOL_SHAPES[] = {
    {"2x3x4x5", {.in = {2, 3, 4, 5}}, 500, 40, NULL},
    {"3x5x7x9", {.in = {3, 5, 7, 9}}, 5300, 0, NULL},
    {"1x4x1x1 (1x1 planes)", {.in = {1, 4, 1, 1}}, 5310, 0, NULL},
    {"2x3x150x161 (planes spanning blocks)", {.in = {2, 3, 150, 161}}, 5320, 0, NULL},
    {"1x70000x1x2 (more planes than grid.y)", {.in = {1, 70000, 1, 2}}, 5330, 0, NULL},
    {"64x144x16x16 (SE of a cell layer)", {.in = {64, 144, 16, 16}}, 5340, 0, NULL},
    {0},
};

const OpCase OPCASE_gap_fwd = {
    .op = "gap_fwd",
    .slot = {{"x", SLOT_IN, -1, 1}, {"y", SLOT_OUT}},
    .shapes = gap_fwd_shapes,
    .run = gap_fwd_run,
    .ref = gap_ref,
    .ref_tol = {1e-6, 1e-6},
    .gpu_tol = ew_tol,
    .lists = {POOL_SHAPES},
};

const OpCase OPCASE_gap_bwd = {
    .op = "gap_bwd",
    .slot = {{"dy", SLOT_IN, -1, 1},
             {"dx", SLOT_ACC, .grad_of = "x"},
             {"x", SLOT_AUX, -1, 1},
             {"y", SLOT_AUX}},
    .shapes = gap_bwd_shapes,
    .run = gap_bwd_run,
    .loss = gap_loss,
    .gpu_tol = ew_tol,
    .lists = {POOL_SHAPES},
};

const OpCase OPCASE_scale_ch_fwd = {
    .op = "scale_ch_fwd",
    .slot = {{"x", SLOT_IN, -1, 1}, {"g", SLOT_IN, -1, 1}, {"y", SLOT_OUT}},
    .shapes = gate_shapes,
    .run = gate_fwd_run,
    .ref = gate_ref,
    .gpu_tol = exact_tol,
    .alias = {{"x", {"y"}}},  // drop-connect gates in place
    .lists = {POOL_SHAPES},
};

const OpCase OPCASE_scale_ch_bwd = {
    .op = "scale_ch_bwd",
    .slot = {{"x", SLOT_IN, -1, 1},
             {"g", SLOT_IN, -1, 1},
             {"dy", SLOT_IN, -1, 1},
             {"dx", SLOT_OUT, .nullable = 1, .grad_of = "x"},
             {"dg", SLOT_OUT, .nullable = 1, .grad_of = "g"},
             {"y", SLOT_AUX}},
    .shapes = gate_shapes,
    .run = gate_bwd_run,
    .loss = gate_loss,
    .gpu_tol = gate_bwd_tol,
    .alias = {{"dy", {"x", "dx"}, {"dg"}}},  // as MBConv's drop-connect calls it
    .lists = {POOL_SHAPES},
};
