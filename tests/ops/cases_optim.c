// Op test cases (op_test.h) of the optimizer steps: sgd_step, adam_step, rmsprop_step, each
// run for `steps` steps (one row of g each) from random parameters and zero state, against
// PyTorch's update rules evaluated in double. (tests/unit/test_bn_optim.c checks values
// computed by hand through train/optim.c.)
#include <math.h>

#include "op_test.h"

enum { OPT_N = 100003, OPT_STEPS = 3 };
enum { OP_P, OP_G, OP_M, OP_V };  // parameters, gradients [steps rows], first and second state

static void opt_shapes(const OpParams *p, Shape *s) {
    int n = p->in.w;
    s[OP_P] = s[OP_M] = s[OP_V] = (Shape){1, 1, 1, n};
    s[OP_G] = (Shape){p->steps, 1, 1, n};
}

static Tol opt_tol(const OpParams *p, int slot) {
    (void)p, (void)slot;
    return (Tol){2e-6, 1e-6};
}

// ---------------------------------------------------------------- sgd
static void sgd_run(const Backend *be, OpArgs *a) {
    const OpParams *p = a->p;
    size_t n = (size_t)p->in.w;
    for (int t = 0; t < p->steps; t++)
        be->sgd_step(a->t[OP_P].data, a->t[OP_G].data + t * n,
                     p->momentum != 0.0f ? a->t[OP_M].data : NULL, n, p->lr, p->momentum, p->wd,
                     p->nesterov);
}

// torch.optim.SGD: d = g + wd p; with momentum m = momentum m + d, d = nesterov ? d +
// momentum m : m; p -= lr d
static void sgd_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    const OpParams *p = a->p;
    size_t n = (size_t)p->in.w;
    for (size_t i = 0; i < n; i++) {
        double w = a->t[OP_P].data[i], m = a->t[OP_M].data[i];
        for (int t = 0; t < p->steps; t++) {
            double d = a->t[OP_G].data[t * n + i] + (double)p->wd * w;
            if (p->momentum != 0.0f) {
                m = p->momentum * m + d;
                d = p->nesterov ? d + p->momentum * m : m;
            }
            w -= p->lr * d;
        }
        want[OP_P][i] = (float)w, want[OP_M][i] = (float)m;
    }
    *done = 1u << OP_P | 1u << OP_M;
}

#define SGD(NAME, MOM, WD, NEST, SEED) \
    {                                  \
        NAME,                          \
            {.in = {1, 1, 1, OPT_N},   \
             .steps = OPT_STEPS,       \
             .lr = 0.1f,               \
             .momentum = MOM,          \
             .wd = WD,                 \
             .nesterov = NEST},        \
            SEED, 0, NULL              \
    }
static const OpInst SGD_SHAPES[] = {
    SGD("momentum 0 wd 0.01", 0.0f, 0.01f, 0, 5600),
    SGD("momentum 0.9 wd 1e-4", 0.9f, 1e-4f, 0, 5601),
    SGD("nesterov momentum 0.9", 0.9f, 0.0f, 1, 5602),
    {0},
};

const OpCase OPCASE_sgd_step = {
    .op = "sgd_step",
    .slot = {{"p", SLOT_STATE, -1, 1}, {"g", SLOT_IN, -1, 1}, {"mom", SLOT_STATE}},
    .shapes = opt_shapes,
    .run = sgd_run,
    .ref = sgd_ref,
    .ref_tol = {1e-6, 1e-6},
    .gpu_tol = opt_tol,
    .lists = {SGD_SHAPES},
};

// ---------------------------------------------------------------- adam
static AdamHyper adam_hyper(const OpParams *p) {
    return (AdamHyper){p->lr, 0.9f, 0.999f, 1e-8f, p->wd, p->decoupled};
}

static void adam_run(const Backend *be, OpArgs *a) {
    const OpParams *p = a->p;
    size_t n = (size_t)p->in.w;
    for (int t = 0; t < p->steps; t++)
        be->adam_step(a->t[OP_P].data, a->t[OP_G].data + t * n, a->t[OP_M].data, a->t[OP_V].data, n,
                      adam_hyper(p), t + 1);
}

// torch.optim.Adam (L2: d = g + wd p) and AdamW (p *= 1 - lr wd first): m, v moving
// averages of d and d^2; p -= lr / (1 - beta1^t) m / (sqrt(v / (1 - beta2^t)) + eps)
static void adam_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    const OpParams *p = a->p;
    AdamHyper h = adam_hyper(p);
    size_t n = (size_t)p->in.w;
    for (size_t i = 0; i < n; i++) {
        double w = a->t[OP_P].data[i], m = a->t[OP_M].data[i], v = a->t[OP_V].data[i];
        for (int t = 1; t <= p->steps; t++) {
            double d = a->t[OP_G].data[(t - 1) * n + i] + (h.decoupled ? 0.0 : h.weight_decay * w);
            if (h.decoupled) w *= 1.0 - (double)h.lr * h.weight_decay;
            m = h.beta1 * m + (1.0 - h.beta1) * d;
            v = h.beta2 * v + (1.0 - h.beta2) * d * d;
            double bc1 = 1.0 - pow(h.beta1, t), bc2 = 1.0 - pow(h.beta2, t);
            w -= h.lr / bc1 * m / (sqrt(v / bc2) + h.eps);
        }
        want[OP_P][i] = (float)w, want[OP_M][i] = (float)m, want[OP_V][i] = (float)v;
    }
    *done = 1u << OP_P | 1u << OP_M | 1u << OP_V;
}

static const OpInst ADAM_SHAPES[] = {
    {"adam wd 0.1",
     {.in = {1, 1, 1, OPT_N}, .steps = OPT_STEPS, .lr = 0.01f, .wd = 0.1f},
     5700,
     0,
     NULL},
    {"adamw wd 0.1",
     {.in = {1, 1, 1, OPT_N}, .steps = OPT_STEPS, .lr = 0.01f, .wd = 0.1f, .decoupled = 1},
     5701,
     0,
     NULL},
    {0},
};

const OpCase OPCASE_adam_step = {
    .op = "adam_step",
    .slot = {{"p", SLOT_STATE, -1, 1}, {"g", SLOT_IN, -1, 1}, {"m", SLOT_STATE}, {"v", SLOT_STATE}},
    .shapes = opt_shapes,
    .run = adam_run,
    .ref = adam_ref,
    .ref_tol = {1e-6, 1e-6},
    .gpu_tol = opt_tol,
    .lists = {ADAM_SHAPES},
};

// ---------------------------------------------------------------- rmsprop
static void rmsprop_run(const Backend *be, OpArgs *a) {
    const OpParams *p = a->p;
    size_t n = (size_t)p->in.w;
    for (int t = 0; t < p->steps; t++)
        be->rmsprop_step(a->t[OP_P].data, a->t[OP_G].data + t * n, a->t[OP_V].data,
                         p->momentum != 0.0f ? a->t[OP_M].data : NULL, n, p->lr, p->alpha, p->eps,
                         p->wd, p->momentum);
}

// torch.optim.RMSprop: d = g + wd p; sq = alpha sq + (1 - alpha) d^2; u = d / (sqrt(sq) +
// eps); with momentum buf = momentum buf + u, u = buf; p -= lr u
static void rmsprop_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    const OpParams *p = a->p;
    size_t n = (size_t)p->in.w;
    for (size_t i = 0; i < n; i++) {
        double w = a->t[OP_P].data[i], b = a->t[OP_M].data[i], sq = a->t[OP_V].data[i];
        for (int t = 0; t < p->steps; t++) {
            double d = a->t[OP_G].data[t * n + i] + (double)p->wd * w;
            sq = p->alpha * sq + (1.0 - p->alpha) * d * d;
            double u = d / (sqrt(sq) + p->eps);
            if (p->momentum != 0.0f) u = b = p->momentum * b + u;
            w -= p->lr * u;
        }
        want[OP_P][i] = (float)w, want[OP_M][i] = (float)b, want[OP_V][i] = (float)sq;
    }
    *done = 1u << OP_P | 1u << OP_M | 1u << OP_V;
}

#define RMS(NAME, MOM, SEED)         \
    {                                \
        NAME,                        \
            {.in = {1, 1, 1, OPT_N}, \
             .steps = OPT_STEPS,     \
             .lr = 0.01f,            \
             .alpha = 0.9f,          \
             .eps = 1e-3f,           \
             .wd = 0.1f,             \
             .momentum = MOM},       \
            SEED, 0, NULL            \
    }
static const OpInst RMSPROP_SHAPES[] = {
    RMS("momentum 0", 0.0f, 5800),
    RMS("momentum 0.5", 0.5f, 5801),
    {0},
};

const OpCase OPCASE_rmsprop_step = {
    .op = "rmsprop_step",
    .slot = {{"p", SLOT_STATE, -1, 1},
             {"g", SLOT_IN, -1, 1},
             {"buf", SLOT_STATE},
             {"sq", SLOT_STATE}},
    .shapes = opt_shapes,
    .run = rmsprop_run,
    .ref = rmsprop_ref,
    .ref_tol = {1e-6, 1e-6},
    .gpu_tol = opt_tol,
    .lists = {RMSPROP_SHAPES},
};
