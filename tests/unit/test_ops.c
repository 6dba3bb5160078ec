// The op test on the CPU backend (tests/ops/op_test.h): one test per line of ops.def,
// op_<name>, runs every instance of the op's case under every configuration and checks
//  - each configuration against its base (op_configs): results independent of the prefills
//    (outputs bitwise, accumulated gradients as increments within ACC_INC), the same outputs
//    with other outputs NULL, NULL inputs acting as zeros, aliasing as separate buffers
//    (all exact);
//  - hand-computed values (WANT) and the case's reference function;
//  - for GRAD ops, every gradient against finite differences (instances with fd > 0);
//  - BnSync sums per call (sync instances) and the case's own invariants;
// and fails when the case is missing or lacks what its kind in ops.def demands (FWD, STEP:
// reference values or a function; GRAD: a loss, gradient slots and finite differences).
//
// Finite differences (gradcheck.h): L = sum_i r_i * out_i with the op's dy as r (summed in
// double, so the analytic gradient is the backward with dy = r); for the losses (mse,
// softmax_ce) L is the loss itself. The numeric gradient is the 4-point central difference
// at h = 2^-7 on `fd` random coordinates per tensor (all of them for smaller tensors).
// Tolerance, per coordinate: |num - ana| <= 1e-3 + 1e-2 * |ana| (atol 1e-5 / 1e-4 for mse
// and softmax_ce, whose gradients are ~1/n). The numeric error (float rounding of the
// forward over h, which shrinks as h grows, plus O(h^4) truncation) is 1e-6..1e-4 for the
// ops; GRADCHECK_VERBOSE=1 prints every check's worst error as a fraction of the tolerance
// (GRADCHECK_ALL=1: every coordinate). Yet a gradient off by 10% fails on any coordinate with
// |ana| > 0.02: grad_checker_catches_wrong_gradients asserts that, and that a shifted
// gradient and a BN backward missing its variance term fail on most coordinates. Kinks: relu
// is only evaluated on inputs with |x| >= 0.2 (act) or on BN outputs built so that |z| >=
// 0.19 (bn), far beyond what the stencil moves.
// OP_TEST_VERBOSE=1 prints each comparison's worst error as a fraction of its tolerance.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/op_test.h"
#include "backend/backend.h"
#include "gradcheck.h"
#include "harness.h"

// An accumulated gradient over prefill 0.5 vs over 0: one rounding of 0.5 + g (or a few, for
// sums added part by part): a few ulp of max(0.5, |g|)
static const Tol ACC_INC = {2.4e-7, 2.4e-7};

typedef struct {
    const OpCase *c;
    OpArgs *a;
} LossCtx;

static double loss_of(void *p) {
    LossCtx *l = p;
    return l->c->loss(l->a);
}

static void check_values(const OpInstance *I, const OpResult *r) {
    const OpCase *c = I->c;
    for (const RefVals *v = I->in->ref; v && v->slot; v++) {
        if (!v->want) continue;
        if (!strcmp(v->slot, "ret")) {
            if (!(fabs(r->ret - v->ret) <= v->atol + v->rtol * fabs(v->ret)))
                t_fail(__FILE__, __LINE__, "%s [%s]: returns %.12g, want %.12g", c->op, I->in->name,
                       r->ret, v->ret);
            continue;
        }
        int i = op_slot(c, v->slot);
        if (i < 0 || !r->v[i]) continue;
        size_t n = op_numel(I->shape[i]);
        for (size_t j = 0; j < n; j++) {
            double got = r->v[i][j], want = v->v[j];
            if (c->slot[i].i32) {
                int32_t q;
                memcpy(&q, &r->v[i][j], sizeof q);
                got = q;
            }
            if (!(fabs(got - want) <= v->atol + v->rtol * fabs(want))) {
                t_fail(__FILE__, __LINE__, "%s [%s]: %s element %zu of %zu: %.9g, want %.9g", c->op,
                       I->in->name, v->slot, j, n, got, want);
                break;
            }
        }
    }
}

static void check_ref_function(OpInstance *I, const OpResult *r) {
    const OpCase *c = I->c;
    float *want[OP_SLOTS] = {0};
    double ret = 0;
    unsigned done = 0;
    for (int i = 0; i < I->nslots; i++) want[i] = calloc(op_numel(I->shape[i]) + 1, sizeof(float));
    c->ref(&I->host, want, &ret, &done);
    Tol t = c->ref_tol;
    for (int i = 0; i < I->nslots; i++) {
        if (!(done & (1u << i)) || !r->v[i]) continue;
        size_t n = op_numel(I->shape[i]), at = 0;
        double worst = 0;
        for (size_t j = 0; j < n; j++) {
            double d = fabs((double)r->v[i][j] - want[i][j]),
                   lim = t.atol + t.rtol * fabs(want[i][j]);
            double q = isnan(d) ? INFINITY : d == 0 ? 0 : lim > 0 ? d / lim : INFINITY;
            if (q > worst) worst = q, at = j;
        }
        if (worst > 1.0)
            t_fail(__FILE__, __LINE__,
                   "%s [%s]: %s element %zu of %zu: %.9g, reference %.9g (atol %g rtol %g)", c->op,
                   I->in->name, c->slot[i].name, at, n, r->v[i][at], want[i][at], t.atol, t.rtol);
    }
    if ((done & (1u << OP_SLOTS)) && !(fabs(r->ret - ret) <= t.atol + t.rtol * fabs(ret)))
        t_fail(__FILE__, __LINE__, "%s [%s]: returns %.12g, reference %.12g", c->op, I->in->name,
               r->ret, ret);
    for (int i = 0; i < I->nslots; i++) free(want[i]);
}

static void check_gradients(OpInstance *I, const OpResult *r) {
    const OpCase *c = I->c;
    for (int g = 0; g < I->nslots; g++) {
        if (!c->slot[g].grad_of) continue;
        int x = op_slot(c, c->slot[g].grad_of);
        if (x < 0 || !r->v[g]) continue;
        size_t n = op_numel(I->shape[g]);
        float *ana = malloc(sizeof(float) * (n ? n : 1));
        float base = c->slot[g].role == SLOT_ACC ? r->acc_prefill : 0.0f;
        for (size_t j = 0; j < n; j++) ana[j] = r->v[g][j] - base;
        GcOpts o = gc_opts(I->in->seed + 50 + (unsigned)g);
        o.samples = I->in->fd;
        if (c->fd_atol > 0) o.atol = c->fd_atol;
        char what[160];
        snprintf(what, sizeof what, "%s [%s] %s", c->op, I->in->name, c->slot[g].name);
        LossCtx l = {c, &I->host};
        gc_check_at(__FILE__, __LINE__, what, loss_of, &l, I->host.t[x].data, op_numel(I->shape[x]),
                    ana, o);
        free(ana);
    }
}

static void check_instance(const OpCase *c, const OpInst *in) {
    OpInstance I;
    op_instance_init(&I, c, in);
    OpRunCfg cfg[OP_CONFIGS];
    OpResult r[OP_CONFIGS];
    int n = op_configs(&I, cfg);
    for (int k = 0; k < n; k++) r[k] = op_run(&I, backend_cpu(), &cfg[k]);
    for (int k = 0; k < n; k++) {
        int b = cfg[k].base;
        if (b < 0) continue;
        char tag[200];
        snprintf(tag, sizeof tag, "%s [%s] %.64s vs %.64s", c->op, in->name, cfg[k].what,
                 cfg[b].what);
        op_compare(&I, tag, &r[k], &r[b], c->cpu_tol,
                   cfg[k].refill != cfg[b].refill ? &ACC_INC : NULL);
    }
    if (in->p.sync)
        T_CHECK(r[0].calls == c->sync_calls, "%s [%s]: %d BnSync sums, want %d", c->op, in->name,
                r[0].calls, c->sync_calls);
    check_values(&I, &r[0]);
    if (c->ref) check_ref_function(&I, &r[0]);
    if (c->check) c->check(&I, &r[0]);
    if (in->fd > 0) check_gradients(&I, &r[0]);
    for (int k = 0; k < n; k++) op_result_free(&r[k]);
    op_instance_free(&I);
}

// What the op's kind (ops.def) demands of its case; 0 when the case cannot run at all.
static int case_complete(int op) {
    const OpCase *c = OP_CASES[op];
    const char *name = OP_NAMES[op];
    if (!c) {
        t_fail(__FILE__, __LINE__,
               "op %s (src/tensor/ops.def) has no test case: define const OpCase OPCASE_%s in "
               "tests/ops/cases_*.c (doc/engine.md, \"How to add an op\")",
               name, name);
        return 0;
    }
    if (!c->op || strcmp(c->op, name) || !c->shapes || !c->run) {
        t_fail(__FILE__, __LINE__, "OPCASE_%s: .op must be \"%s\", .shapes and .run set", name,
               name);
        return 0;
    }
    int n, fd = 0, values = 0, grads = 0;
    const OpInst **all = op_instances(c, &n);
    for (int i = 0; i < n; i++) {
        fd += all[i]->fd > 0;
        for (const RefVals *v = all[i]->ref; v && v->slot; v++) values += v->want;
    }
    free(all);
    for (int i = 0; i < OP_SLOTS && c->slot[i].name; i++) grads += c->slot[i].grad_of != NULL;
    T_CHECK(n > 0, "OPCASE_%s has no instances", name);
    if (OP_KINDS[op] == OPK_GRAD)
        T_CHECK(c->loss && grads && fd,
                "%s computes gradients (GRAD in ops.def): its case needs "
                "a loss, grad_of slots and an instance with fd > 0",
                name);
    else
        T_CHECK(c->ref || values,
                "%s (%s in ops.def): its case needs WANT values or a reference "
                "function",
                name, OP_KINDS[op] == OPK_FWD ? "FWD" : "STEP");
    return 1;
}

static void check_op(int op) {
    if (!case_complete(op)) return;
    int n;
    const OpInst **all = op_instances(OP_CASES[op], &n);
    for (int i = 0; i < n; i++) check_instance(OP_CASES[op], all[i]);
    free(all);
}

// one test per op, from the list itself
#define OP(kind, ret, op, params) \
    TEST(op_##op) {               \
        check_op(OPI_##op);       \
    }
#include "tensor/ops.def"
#undef OP

// ---------------------------------------------------------------- checker self-test
static const OpInst *instance_named(const OpCase *c, const char *name) {
    int n;
    const OpInst **all = op_instances(c, &n), *in = NULL;
    for (int i = 0; i < n && !in; i++)
        if (!strcmp(all[i]->name, name)) in = all[i];
    free(all);
    T_CHECK(in, "%s has no instance '%s'", c->op, name);
    return in;
}

static float *dup_floats(const float *p, size_t n) {
    float *q = malloc(sizeof(float) * (n ? n : 1));
    memcpy(q, p, sizeof(float) * n);
    return q;
}

// The tolerance must catch real bugs: a gradient off by 10% everywhere, a gradient read
// from the neighbouring coordinate, and a BN backward missing its mean(dz * xhat) term
// (i.e. treating the variance as a constant) must each fail on most checked coordinates.
TEST(grad_checker_catches_wrong_gradients) {
    const OpCase *c = OP_CASES[OPI_conv2d_bwd];
    const OpInst *in = instance_named(c, "dense 3x3s2 7x6");
    if (!c || !in) return;
    OpInstance I;
    op_instance_init(&I, c, in);
    OpRunCfg main_cfg = {.what = "main", .base = -1};
    OpResult r = op_run(&I, backend_cpu(), &main_cfg);
    int X = op_slot(c, "x"), W = op_slot(c, "w"), DX = op_slot(c, "dx"), DW = op_slot(c, "dw");
    size_t nw = op_numel(I.shape[W]), nx = op_numel(I.shape[X]);
    float *dw = dup_floats(r.v[DW], nw), *wrong = malloc(sizeof(float) * nw);
    for (size_t i = 0; i < nw; i++) dw[i] -= r.acc_prefill;
    LossCtx l = {c, &I.host};
    GcOpts o = gc_opts(900);
    o.quiet = 1;
    int ok = GC_CHECK("conv dw", loss_of, &l, I.host.t[W].data, nw, dw, o);
    T_CHECK(ok == 0, "the correct conv dw fails %d of %d coordinates", ok, o.samples);
    for (size_t i = 0; i < nw; i++) wrong[i] = dw[i] * 1.1f;
    int bad = GC_CHECK("conv dw * 1.1", loss_of, &l, I.host.t[W].data, nw, wrong, o);
    T_CHECK(bad >= o.samples * 3 / 4, "10%% error caught on only %d of %d coordinates", bad,
            o.samples);
    for (size_t i = 0; i < nw; i++) wrong[i] = dw[(i + 1) % nw];
    bad = GC_CHECK("conv dw shifted", loss_of, &l, I.host.t[W].data, nw, wrong, o);
    T_CHECK(bad >= o.samples * 3 / 4, "shifted gradient caught on only %d of %d coordinates", bad,
            o.samples);
    free(wrong);
    wrong = dup_floats(r.v[DX], nx);
    for (size_t i = 0; i < nx; i++) wrong[i] *= 1.1f;
    bad = GC_CHECK("conv dx * 1.1", loss_of, &l, I.host.t[X].data, nx, wrong, o);
    T_CHECK(bad >= o.samples / 2, "10%% dx error caught on only %d of %d coordinates", bad,
            o.samples);
    free(wrong);
    free(dw);
    op_result_free(&r);
    op_instance_free(&I);

    // BN dx with the variance treated as constant: dx = gamma invstd (dz - mean(dz))
    c = OP_CASES[OPI_bn_bwd];
    in = instance_named(c, "2x3x3x3 swish fd");
    if (!c || !in) return;
    op_instance_init(&I, c, in);
    r = op_run(&I, backend_cpu(), &main_cfg);
    X = op_slot(c, "x"), DX = op_slot(c, "dx");
    const float *x = I.host.t[X].data, *g = I.host.t[op_slot(c, "gamma")].data,
                *b = I.host.t[op_slot(c, "beta")].data, *mu = I.host.t[op_slot(c, "mean")].data,
                *is = I.host.t[op_slot(c, "invstd")].data, *dy = I.host.t[op_slot(c, "dy")].data;
    Shape s = I.shape[X];
    size_t HW = (size_t)s.h * s.w, M = HW * s.n;
    nx = op_numel(s);
    float *dz = malloc(sizeof(float) * nx);
    wrong = malloc(sizeof(float) * nx);
    for (int ch = 0; ch < s.c; ch++) {  // dz = dy * swish'(z), then the wrong dx
        double sum = 0;
        for (int n = 0; n < s.n; n++)
            for (size_t i = 0; i < HW; i++) {
                size_t k = ((size_t)n * s.c + ch) * HW + i;
                double z = g[ch] * (x[k] - mu[ch]) * is[ch] + b[ch], sg = 1 / (1 + exp(-z));
                dz[k] = (float)(dy[k] * sg * (1 + z * (1 - sg)));
                sum += dz[k];
            }
        for (int n = 0; n < s.n; n++)
            for (size_t i = 0; i < HW; i++) {
                size_t k = ((size_t)n * s.c + ch) * HW + i;
                wrong[k] = (float)(g[ch] * is[ch] * (dz[k] - sum / (double)M));
            }
    }
    l = (LossCtx){c, &I.host};
    o.samples = (int)nx;
    ok = GC_CHECK("bn dx", loss_of, &l, I.host.t[X].data, nx, r.v[DX], o);
    T_CHECK(ok == 0, "the correct bn dx fails %d coordinates", ok);
    bad = GC_CHECK("bn dx without the variance term", loss_of, &l, I.host.t[X].data, nx, wrong, o);
    T_CHECK(bad >= (int)nx / 2,
            "BN dx missing the variance term caught on only %d of %zu "
            "coordinates",
            bad, nx);
    free(dz);
    free(wrong);
    op_result_free(&r);
    op_instance_free(&I);
}
