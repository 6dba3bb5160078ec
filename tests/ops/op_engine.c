// The op test's engine (op_test.h): the table of cases generated from ops.def, an
// instance's host inputs, the configurations it runs under, one run on a backend with its
// results brought to the host, and the comparison of two runs. Shared by test_unit (CPU)
// and test_gpu (CUDA against CPU); it decides nothing about tolerances itself.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/harness.h"
#include "backend/backend.h"
#include "op_test.h"

// A case missing from tests/ops leaves its weak reference NULL: the op's test then fails
// (tests/unit/test_ops.c), naming the case to write. (The cases are linked as objects: a
// weak reference would not pull them out of an archive.)
#define OP(kind, ret, op, params) extern const OpCase OPCASE_##op __attribute__((weak));
#include "tensor/ops.def"
#undef OP

const OpCase *const OP_CASES[OP_COUNT] = {
#define OP(kind, ret, op, params) [OPI_##op] = &OPCASE_##op,
#include "tensor/ops.def"
#undef OP
};
const char *const OP_NAMES[OP_COUNT] = {
#define OP(kind, ret, op, params) [OPI_##op] = #op,
#include "tensor/ops.def"
#undef OP
};
const OpKind OP_KINDS[OP_COUNT] = {
#define OP(kind, ret, op, params) [OPI_##op] = OPK_##kind,
#include "tensor/ops.def"
#undef OP
};
static const char *const OP_RETS[OP_COUNT] = {
#define OP(kind, ret, op, params) [OPI_##op] = #ret,
#include "tensor/ops.def"
#undef OP
};

size_t op_numel(Shape s) {
    return (size_t)s.n * s.c * s.h * s.w;
}

int op_slot(const OpCase *c, const char *name) {
    for (int i = 0; i < OP_SLOTS && c->slot[i].name; i++)
        if (!strcmp(c->slot[i].name, name)) return i;
    t_fail(__FILE__, __LINE__, "%s: no slot named '%s'", c->op, name);
    return -1;
}

static int op_returns_double(const OpCase *c) {
    for (int i = 0; i < OP_COUNT; i++)
        if (!strcmp(OP_NAMES[i], c->op)) return !strcmp(OP_RETS[i], "double");
    return 0;
}

const OpInst **op_instances(const OpCase *c, int *n) {
    int k = 0;
    for (int l = 0; l < 4 && c->lists[l]; l++)
        for (const OpInst *in = c->lists[l]; in->name; in++) k++;
    const OpInst **all = malloc(sizeof(*all) * (size_t)(k ? k : 1));
    k = 0;
    for (int l = 0; l < 4 && c->lists[l]; l++)
        for (const OpInst *in = c->lists[l]; in->name; in++) all[k++] = in;
    *n = k;
    return all;
}

static void set_values(Tensor *t, const SlotSpec *s, const float *v) {
    size_t n = tensor_numel(t);
    for (size_t j = 0; j < n; j++) {
        if (s->i32) {
            int32_t q = (int32_t)v[j];
            memcpy(&t->data[j], &q, sizeof q);
        } else {
            t->data[j] = v[j];
        }
    }
}

void op_instance_init(OpInstance *I, const OpCase *c, const OpInst *in) {
    const Backend *cpu = backend_cpu();
    *I = (OpInstance){.c = c, .in = in, .host = {.p = &in->p, .seed = in->seed}};
    while (I->nslots < OP_SLOTS && c->slot[I->nslots].name) I->nslots++;
    c->shapes(&in->p, I->shape);
    for (int i = 0; i < I->nslots; i++) {
        const SlotSpec *s = &c->slot[i];
        Shape sh = I->shape[i];
        Tensor *t = &I->host.t[i];
        *t = tensor_new(cpu, sh.n, sh.c, sh.h, sh.w);
        if (s->role == SLOT_OUT || s->role == SLOT_ACC || s->i32) continue;
        if (s->lo != s->hi)
            t_fill_uniform(t->data, tensor_numel(t), in->seed + (unsigned)i, s->lo, s->hi);
        else
            for (size_t j = 0; j < tensor_numel(t); j++) t->data[j] = s->lo;
    }
    int given = 0;
    for (const RefVals *r = in->ref; r && r->slot; r++) {
        if (r->want) continue;
        int i = op_slot(c, r->slot);
        if (i < 0) continue;
        set_values(&I->host.t[i], &c->slot[i], r->v);
        given = 1;
    }
    if (!given && c->prepare) c->prepare(&I->host);
}

void op_instance_free(OpInstance *I) {
    for (int i = 0; i < I->nslots; i++) tensor_free(backend_cpu(), &I->host.t[i]);
}

static unsigned bit(int i) {
    return 1u << i;
}

static OpRunCfg *add_cfg(OpRunCfg *cfg, int *n, const char *what) {
    OpRunCfg *c = &cfg[(*n)++];
    *c = (OpRunCfg){.base = 0};  // most configurations must give the main run's results
    snprintf(c->what, sizeof c->what, "%.63s", what);
    return c;
}

int op_configs(const OpInstance *I, OpRunCfg *cfg) {
    const OpCase *c = I->c;
    int n = 0, nout = 0;
    unsigned outs = 0;
    char what[64];
    add_cfg(cfg, &n, "main")->base = -1;
    add_cfg(cfg, &n, "refill")->refill = 1;
    for (int i = 0; i < I->nslots; i++)
        if (c->slot[i].nullable && c->slot[i].role != SLOT_IN && c->slot[i].role != SLOT_AUX)
            outs |= bit(i), nout++;
    for (int i = 0; nout >= 2 && i < I->nslots; i++)
        if (outs & bit(i)) {
            snprintf(what, sizeof what, "%s alone", c->slot[i].name);
            add_cfg(cfg, &n, what)->null = outs & ~bit(i);
        }
    int kept = op_returns_double(c);  // results left to compare with every output NULL
    for (int i = 0; i < I->nslots; i++)
        kept += c->slot[i].role != SLOT_IN && c->slot[i].role != SLOT_AUX && !(outs & bit(i));
    if (nout && kept) add_cfg(cfg, &n, "nullable outputs NULL")->null = outs;
    for (int i = 0; i < I->nslots; i++)
        if (c->slot[i].nullable && c->slot[i].role == SLOT_IN) {
            snprintf(what, sizeof what, "%s zeros", c->slot[i].name);
            OpRunCfg *z = add_cfg(cfg, &n, what);
            z->zero = bit(i), z->base = -1;
            snprintf(what, sizeof what, "%s NULL", c->slot[i].name);
            OpRunCfg *u = add_cfg(cfg, &n, what);
            u->null = bit(i), u->base = n - 2;
        }
    for (int k = 0; k < 3 && c->alias[k].to; k++) {
        const OpAlias *a = &c->alias[k];
        int len = snprintf(what, sizeof what, "%s", a->to);
        for (int j = 0; j < 3 && a->as[j]; j++)
            len += snprintf(what + len, sizeof what - (size_t)len, " = %s", a->as[j]);
        for (int j = 0; j < 2 && a->null[j]; j++)
            len += snprintf(what + len, sizeof what - (size_t)len, ", %s NULL", a->null[j]);
        OpRunCfg *s = add_cfg(cfg, &n, what);
        s->alias = a, s->separate = 1, s->base = -1;
        char al[72];
        snprintf(al, sizeof al, "aliased %s", what);
        OpRunCfg *l = add_cfg(cfg, &n, al);
        l->alias = a, l->base = n - 2;
    }
    return n;
}

// Uploaded from the host rather than filled by the backend: the test relies on nothing but
// upload (and the emulated GPU runs fill kernels slowly).
static void prefill(const Backend *be, Tensor *t, const SlotSpec *s, float v) {
    size_t n = tensor_numel(t);
    float *h = s->host ? t->data : malloc(sizeof(float) * (n ? n : 1));
    int32_t q = isnan(v) ? INT32_MIN : (int32_t)v;
    for (size_t j = 0; j < n; j++) {
        if (s->i32)  // an int (softmax_ce's hits)
            memcpy(&h[j], &q, sizeof q);
        else
            h[j] = v;
    }
    if (s->host) return;
    be->upload(t->data, h, n * sizeof(float));
    free(h);
}

OpResult op_run(const OpInstance *I, const Backend *be, const OpRunCfg *cfg) {
    const OpCase *c = I->c;
    OpArgs a = {.p = &I->in->p, .seed = I->in->seed};
    OpResult r = {.acc_prefill = cfg->refill ? 0.0f : OP_ACC};
    unsigned null = cfg->null, shared = 0, owned = 0;
    int to = -1;
    if (cfg->alias) {
        to = op_slot(c, cfg->alias->to);
        for (int j = 0; j < 3 && cfg->alias->as[j]; j++)
            shared |= bit(op_slot(c, cfg->alias->as[j]));
        for (int j = 0; j < 2 && cfg->alias->null[j]; j++)
            null |= bit(op_slot(c, cfg->alias->null[j]));
    }
    for (int i = 0; i < I->nslots; i++) {
        const SlotSpec *s = &c->slot[i];
        Shape sh = I->shape[i];
        a.t[i] = tensor_view(NULL, sh.n, sh.c, sh.h, sh.w);
        if (s->role == SLOT_AUX || (null & bit(i)) || ((shared & bit(i)) && !cfg->separate))
            continue;
        if (s->host) {
            a.t[i].data = calloc(op_numel(sh) ? op_numel(sh) : 1, sizeof(float));
        } else {
            a.t[i] = tensor_new(be, sh.n, sh.c, sh.h, sh.w);
        }
        owned |= bit(i);
        const float *src = (shared & bit(i)) ? I->host.t[to].data : I->host.t[i].data;
        if (s->role == SLOT_OUT && !(shared & bit(i)))
            prefill(be, &a.t[i], s, cfg->refill ? NAN : OP_GARBAGE);
        else if (s->role == SLOT_ACC && !(shared & bit(i)))
            prefill(be, &a.t[i], s, r.acc_prefill);
        else if (!(cfg->zero & bit(i)) && s->host)
            memcpy(a.t[i].data, src, op_numel(sh) * sizeof(float));
        else if (!(cfg->zero & bit(i)))
            be->upload(a.t[i].data, src, op_numel(sh) * sizeof(float));
    }
    for (int i = 0; i < I->nslots; i++)
        if ((shared & bit(i)) && !cfg->separate) a.t[i].data = a.t[to].data;
    c->run(be, &a);
    for (int i = 0; i < I->nslots; i++) {
        SlotRole role = c->slot[i].role;
        if (role == SLOT_IN || role == SLOT_AUX || !a.t[i].data) continue;
        size_t bytes = op_numel(I->shape[i]) * sizeof(float);
        r.v[i] = malloc(bytes ? bytes : 1);
        if (c->slot[i].host)
            memcpy(r.v[i], a.t[i].data, bytes);
        else
            be->download(r.v[i], a.t[i].data, bytes);
    }
    r.ret = a.ret;
    r.calls = a.calls;
    for (int i = 0; i < I->nslots; i++) {
        if (!(owned & bit(i))) continue;
        if (c->slot[i].host)
            free(a.t[i].data);
        else
            tensor_free(be, &a.t[i]);
    }
    return r;
}

void op_result_free(OpResult *r) {
    for (int i = 0; i < OP_SLOTS; i++) free(r->v[i]);
    *r = (OpResult){0};
}

static int verbose(void) {
    const char *v = getenv("OP_TEST_VERBOSE"), *g = getenv("GPU_TEST_VERBOSE");
    return (v && v[0] == '1') || (g && g[0] == '1');
}

// worst |got - want| / (atol + rtol |want|) over n values (inf for NaN; exact: 0 or inf)
static double worst_ratio(const float *got, float gb, const float *want, float wb, size_t n, Tol t,
                          size_t *at) {
    double worst = 0.0;
    *at = 0;
    for (size_t j = 0; j < n; j++) {
        double g = (double)got[j] - gb, w = (double)want[j] - wb, d = fabs(g - w);
        double lim = t.atol + t.rtol * fabs(w);
        double r = isnan(d) ? INFINITY : d == 0.0 ? 0.0 : lim > 0 ? d / lim : INFINITY;
        if (r > worst) worst = r, *at = j;
    }
    return worst;
}

int op_compare(const OpInstance *I, const char *tag, const OpResult *got, const OpResult *want,
               Tol (*tol)(const OpParams *p, int slot), const Tol *acc_tol) {
    const OpCase *c = I->c;
    const OpParams *p = &I->in->p;
    int fails = 0;
    for (int i = 0; i < I->nslots; i++) {
        if (!got->v[i] || !want->v[i]) continue;
        const SlotSpec *s = &c->slot[i];
        size_t n = op_numel(I->shape[i]), at = 0;
        if (s->i32) {
            if (memcmp(got->v[i], want->v[i], n * sizeof(float))) {
                while (at < n && !memcmp(&got->v[i][at], &want->v[i][at], sizeof(float))) at++;
                int32_t g, w;
                memcpy(&g, &got->v[i][at], sizeof g);
                memcpy(&w, &want->v[i][at], sizeof w);
                t_fail(__FILE__, __LINE__, "%s: %s element %zu of %zu: %d, want %d", tag, s->name,
                       at, n, (int)g, (int)w);
                fails++;
            }
            continue;
        }
        int inc = acc_tol && s->role == SLOT_ACC;
        Tol t = inc ? *acc_tol : tol ? tol(p, i) : OP_EXACT;
        float gb = inc ? got->acc_prefill : 0.0f, wb = inc ? want->acc_prefill : 0.0f;
        double w = worst_ratio(got->v[i], gb, want->v[i], wb, n, t, &at);
        if (verbose()) printf("      %-56s %-8s worst %.3f of tolerance\n", tag, s->name, w);
        if (w > 1.0) {
            t_fail(__FILE__, __LINE__,
                   "%s: %s%s element %zu of %zu: %.9g, want %.9g (atol %g rtol %g)", tag, s->name,
                   inc ? " (increment)" : "", at, n, got->v[i][at] - gb, want->v[i][at] - wb,
                   t.atol, t.rtol);
            fails++;
        }
    }
    if (op_returns_double(c)) {
        Tol t = tol ? tol(p, -1) : OP_EXACT;
        double d = fabs(got->ret - want->ret), lim = t.atol + t.rtol * fabs(want->ret);
        if (verbose())
            printf("      %-56s %-8s worst %.3f of tolerance\n", tag, "return",
                   d == 0 ? 0 : d / lim);
        if (!(d <= lim)) {
            t_fail(__FILE__, __LINE__, "%s: returns %.17g, want %.17g (atol %g rtol %g)", tag,
                   got->ret, want->ret, t.atol, t.rtol);
            fails++;
        }
    }
    if (got->calls != want->calls) {
        t_fail(__FILE__, __LINE__, "%s: %d BnSync sums, want %d", tag, got->calls, want->calls);
        fails++;
    }
    return fails;
}

static void twin_sum(void *ctx, double *buf, size_t n) {
    ((OpArgs *)ctx)->calls++;
    for (size_t i = 0; i < n; i++) buf[i] *= 2.0;
}

BnSync op_sync(OpArgs *a) {
    return (BnSync){twin_sum, a};
}

double op_dot(const Tensor *r, const Tensor *y) {
    double s = 0.0;
    for (size_t i = 0; i < tensor_numel(y); i++) s += (double)r->data[i] * (double)y->data[i];
    return s;
}
