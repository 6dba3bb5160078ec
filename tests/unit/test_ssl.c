// DNA++'s building blocks (issue 20): the SSL loss of src/nas/ssl_loss.h on a case worked by
// hand, against PyTorch (tests/ref/ssl_ref.json, tests/ref/make_ssl_ref.py; tests run from
// the repository root) and against finite differences, and its bad input; the projector
// (src/nn/projector.h) against a host reference and finite differences, alone and followed
// by the SSL loss; LARS (src/train/optim.h) against steps computed by hand.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "gradcheck.h"
#include "harness.h"
#include "io/files.h"
#include "nas/ssl_loss.h"
#include "nn/projector.h"
#include "train/optim.h"

static const char *const REF_PATH = "tests/ref/ssl_ref.json";

// ---------------------------------------------------------------- the loss
// M = 2, C = 2, every λ 1, K 1, ε 0.25 (so that Var + ε are squares).
//   Z = [[1, 0], [3, 2]]: X = [[-1, -1], [1, 1]], Cov = [[2, 2], [2, 2]], std 1.5 and 1.5
//   Ẑ = [[0, 1], [0, 1]]: X = 0, Cov = 0, std 0.5 and 0.5
//   distance: ‖(1, -1)‖² + ‖(3, 1)‖² = 12, / (K M) = 6
//   covariance: (2² + 2²) / (K C) = 4
//   hinge, γ = 1: Z's 0 + 0; Ẑ's 0.5 + 0.5 -> var_both 1: 1 / (C K) = 0.5, var_both 0: 0
//   hinge, γ = 2: Z's 0.5 + 0.5; Ẑ's 1.5 + 1.5 -> var_both 1: 4 / 2 = 2, var_both 0: 0.5
// Gradients: distance 2/(K M) (Z − Ẑ) = [[1, -1], [3, 1]] (minus that for Ẑ); covariance
// 1/(K C) · 4/(M−1) X offdiag(Cov) = 2 X [[0, 2], [2, 0]] = [[-4, -4], [4, 4]] for Z, 0 for Ẑ;
// hinge −1/(C K) X / ((M−1) std) = −X/3 = [[1/3, 1/3], [-1/3, -1/3]] for Z when γ = 2, 0 for
// Ẑ (X = 0).
TEST(ssl_hand_case) {
    const float z[] = {1, 0, 3, 2}, zh[] = {0, 1, 0, 1};
    SslCfg cfg = {.lambda1 = 1, .lambda2 = 1, .lambda3 = 1, .gamma = 1, .eps = 0.25, .K = 1};
    for (int gamma = 1; gamma <= 2; gamma++)
        for (int both = 0; both <= 1; both++) {
            cfg.gamma = gamma, cfg.var_both = both;
            float dz[4], dzh[4];
            SslLoss l = ssl_loss(&cfg, z, zh, 2, 2, dz, dzh);
            double var = gamma == 1 ? (both ? 0.5 : 0.0) : (both ? 2.0 : 0.5), h = gamma - 1;
            T_CHECK(l.dist == 6 && l.cov == 4 && l.var == var && l.total == 10 + var,
                    "gamma %d var_both %d: terms %g %g %g total %g, want 6 4 %g %g", gamma, both,
                    l.dist, l.cov, l.var, l.total, var, 10 + var);
            T_CHECK(l.std_z == 1.5 && l.std_zh == 0.5, "std %g %g, want 1.5 0.5", l.std_z,
                    l.std_zh);
            const double wz[] = {-3 + h / 3, -5 + h / 3, 7 - h / 3, 5 - h / 3};
            const double wzh[] = {-1, 1, -3, -1};
            for (int i = 0; i < 4; i++) {
                T_NEAR(dz[i], wz[i], 1e-6, 0, "dL/dZ by hand");
                T_NEAR(dzh[i], wzh[i], 1e-6, 0, "dL/dZhat by hand");
            }
        }
}

TEST(ssl_defaults_are_vicreg) {
    SslCfg d = SSL_CFG_DEFAULT;
    T_CHECK(d.lambda1 == 25 && d.lambda2 == 1 && d.lambda3 == 25 && d.gamma == 1 && d.eps == 1e-4 &&
                d.var_both == 1 && d.K == 1,
            "SSL_CFG_DEFAULT: %g %g %g %g %g %d %d", d.lambda1, d.lambda2, d.lambda3, d.gamma,
            d.eps, d.var_both, d.K);
    ssl_cfg_check(&d);
}

typedef struct RefCase {
    char name[64];
    int m, c;
    SslCfg cfg;
    float *z, *zh;
    double *dz, *dzh;
    double dist, cov, var, total, std_z, std_zh;
} RefCase;

static double num(const cJSON *o, const char *k) {
    return cJSON_GetObjectItem(o, k)->valuedouble;
}

static void *json_array(const cJSON *a, int n, int as_float) {
    void *p = malloc((as_float ? sizeof(float) : sizeof(double)) * (size_t)n);
    for (int i = 0; i < n; i++) {
        double v = cJSON_GetArrayItem(a, i)->valuedouble;
        if (as_float)
            ((float *)p)[i] = (float)v;
        else
            ((double *)p)[i] = v;
    }
    return p;
}

// The fixture's cases (*n of them; NULL, with a failure, when the file is missing).
static RefCase *load_ref(int *n) {
    char *text = text_read(REF_PATH);
    T_CHECK(text, "cannot read %s (run from the repository root)", REF_PATH);
    *n = 0;
    if (!text) return NULL;
    cJSON *ref = cJSON_Parse(text);
    free(text);
    const cJSON *cases = cJSON_GetObjectItem(ref, "cases"), *o;
    RefCase *rc = calloc((size_t)cJSON_GetArraySize(cases), sizeof(RefCase));
    cJSON_ArrayForEach(o, cases) {
        RefCase *r = &rc[(*n)++];
        snprintf(r->name, sizeof r->name, "%s", cJSON_GetObjectItem(o, "name")->valuestring);
        r->m = cJSON_GetObjectItem(o, "m")->valueint, r->c = cJSON_GetObjectItem(o, "c")->valueint;
        const cJSON *k = cJSON_GetObjectItem(o, "cfg");
        r->cfg = (SslCfg){num(k, "lambda1"),
                          num(k, "lambda2"),
                          num(k, "lambda3"),
                          num(k, "gamma"),
                          num(k, "eps"),
                          cJSON_GetObjectItem(k, "var_both")->valueint,
                          cJSON_GetObjectItem(k, "K")->valueint};
        int mc = r->m * r->c;
        r->z = json_array(cJSON_GetObjectItem(o, "z"), mc, 1);
        r->zh = json_array(cJSON_GetObjectItem(o, "zh"), mc, 1);
        r->dz = json_array(cJSON_GetObjectItem(o, "dz"), mc, 0);
        r->dzh = json_array(cJSON_GetObjectItem(o, "dzh"), mc, 0);
        r->dist = num(o, "dist"), r->cov = num(o, "cov"), r->var = num(o, "var");
        r->total = num(o, "total"), r->std_z = num(o, "std_z"), r->std_zh = num(o, "std_zh");
    }
    cJSON_Delete(ref);
    return rc;
}

static void free_ref(RefCase *rc, int n) {
    for (int i = 0; i < n; i++) free(rc[i].z), free(rc[i].zh), free(rc[i].dz), free(rc[i].dzh);
    free(rc);
}

// Worst |got − want| / (1e-300 + |want|) over n values (relative; 0 for equal zeros).
static double worst_rel(const float *got, const double *want, int n, double *worst_abs) {
    double w = 0.0;
    for (int i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (e > *worst_abs) *worst_abs = e;
        if (e > 0.0 && e / fabs(want[i]) > w) w = e / fabs(want[i]);
    }
    return w;
}

// The terms in double from the same float inputs: to 1e-12 relative. The gradients are
// returned as floats: to float rounding, 2^-24 relative, plus 1e-12 for a value torch's
// order of summation leaves as a tiny nonzero.
TEST(ssl_torch_reference) {
    int n;
    RefCase *rc = load_ref(&n);
    T_CHECK(n >= 5, "%d cases in %s", n, REF_PATH);
    double worst_v = 0.0, worst_g = 0.0, worst_ga = 0.0;
    int hinge_z_only = 0, hinge_zh_only = 0;
    for (int i = 0; i < n; i++) {
        RefCase *r = &rc[i];
        int mc = r->m * r->c;
        float *dz = malloc(sizeof(float) * (size_t)mc), *dzh = malloc(sizeof(float) * (size_t)mc);
        SslLoss l = ssl_loss(&r->cfg, r->z, r->zh, r->m, r->c, dz, dzh);
        const double got[] = {l.dist, l.cov, l.var, l.total, l.std_z, l.std_zh};
        const double want[] = {r->dist, r->cov, r->var, r->total, r->std_z, r->std_zh};
        const char *what[] = {"dist", "cov", "var", "total", "std_z", "std_zh"};
        for (int t = 0; t < 6; t++) {
            char w[96];
            snprintf(w, sizeof w, "%s: %s", r->name, what[t]);
            T_NEAR(got[t], want[t], 1e-12, 1e-12, w);
            double e = fabs(got[t] - want[t]) / (fabs(want[t]) + 1e-300);
            if (e > worst_v) worst_v = e;
        }
        double ga = 0.0, g1 = worst_rel(dz, r->dz, mc, &ga), g2 = worst_rel(dzh, r->dzh, mc, &ga);
        for (int j = 0; j < mc; j++) {
            T_CHECK(fabs(dz[j] - r->dz[j]) <= 1e-12 + 6e-8 * fabs(r->dz[j]),
                    "%s: dZ[%d] = %.9g, torch %.9g", r->name, j, dz[j], r->dz[j]);
            T_CHECK(fabs(dzh[j] - r->dzh[j]) <= 1e-12 + 6e-8 * fabs(r->dzh[j]),
                    "%s: dZhat[%d] = %.9g, torch %.9g", r->name, j, dzh[j], r->dzh[j]);
        }
        worst_g = fmax(worst_g, fmax(g1, g2)), worst_ga = fmax(worst_ga, ga);
        // the fixture covers what it claims: a hinge on one side only, var_both 0 and 1
        hinge_z_only += !strcmp(r->name, "collapsed_z") && l.var > 0;
        hinge_zh_only += !strcmp(r->name, "collapsed_zhat_printed") && l.var == 0;
        free(dz), free(dzh);
    }
    T_CHECK(hinge_z_only == 1 && hinge_zh_only == 1, "the collapsed cases' hinges");
    if (getenv("GRADCHECK_VERBOSE"))
        fprintf(stderr,
                "    ssl vs torch: %d cases, worst relative error of the terms %.2e, of the "
                "gradients %.2e (absolute %.2e)\n",
                n, worst_v, worst_g, worst_ga);
    free_ref(rc, n);
}

typedef struct LossCtx {
    const SslCfg *cfg;
    const float *z, *zh;
    int m, c;
} LossCtx;

static double loss_at(void *p) {
    LossCtx *x = p;
    return ssl_loss(x->cfg, x->z, x->zh, x->m, x->c, NULL, NULL).total;
}

// The loss is computed in double from the floats, so the differences are limited by the
// stencil alone: 1e-6 + 1e-5 relative, on every coordinate. The fixture's cases with a
// collapsed channel are included: its hinge is flat in every coordinate (±h leaves the same
// variance), and the analytic gradient there is 0.
TEST(ssl_finite_differences) {
    int n;
    RefCase *rc = load_ref(&n);
    for (int i = 0; i < n; i++) {
        RefCase *r = &rc[i];
        int mc = r->m * r->c;
        float *dz = malloc(sizeof(float) * (size_t)mc), *dzh = malloc(sizeof(float) * (size_t)mc);
        ssl_loss(&r->cfg, r->z, r->zh, r->m, r->c, dz, dzh);
        LossCtx ctx = {&r->cfg, r->z, r->zh, r->m, r->c};
        GcOpts o = gc_opts(3000 + (unsigned)i);
        o.atol = 1e-6, o.rtol = 1e-5, o.samples = mc;
        char what[96];
        snprintf(what, sizeof what, "%s dZ", r->name);
        GC_CHECK(what, loss_at, &ctx, r->z, (size_t)mc, dz, o);
        snprintf(what, sizeof what, "%s dZhat", r->name);
        GC_CHECK(what, loss_at, &ctx, r->zh, (size_t)mc, dzh, o);
        free(dz), free(dzh);
    }
    free_ref(rc, n);
}

// A NULL gradient is not computed and changes nothing else.
TEST(ssl_null_gradients) {
    float z[12], zh[12], a[12], b[12], c[12];
    t_fill_uniform(z, 12, 41, -1, 1);
    t_fill_uniform(zh, 12, 42, -1, 1);
    SslCfg cfg = SSL_CFG_DEFAULT;
    SslLoss l1 = ssl_loss(&cfg, z, zh, 4, 3, a, b), l2 = ssl_loss(&cfg, z, zh, 4, 3, NULL, c);
    SslLoss l3 = ssl_loss(&cfg, z, zh, 4, 3, NULL, NULL);
    T_CHECK(l1.total == l2.total && l1.total == l3.total && l1.std_zh == l3.std_zh,
            "the loss depends on which gradients are asked for");
    T_CHECK(!memcmp(b, c, sizeof b), "dZhat depends on whether dZ is asked for");
    ssl_loss(&cfg, z, zh, 4, 3, c, NULL);
    T_CHECK(!memcmp(a, c, sizeof a), "dZ depends on whether dZhat is asked for");
}

typedef struct BadCase {
    SslCfg cfg;
    int m, c;
    int poison;  // 1: a NaN in Z, 2: an infinity in Zhat
} BadCase;

static void run_bad(void *p) {
    BadCase *b = p;
    float z[12] = {0}, zh[12] = {0};
    if (b->poison == 1) z[5] = NAN;
    if (b->poison == 2) zh[7] = -INFINITY;
    ssl_loss(&b->cfg, z, zh, b->m, b->c, NULL, NULL);
}

TEST(ssl_bad_input) {
    SslCfg d = SSL_CFG_DEFAULT;
    BadCase b = {d, 1, 3, 0};
    T_EXPECT_DEATH(run_bad, &b, "ssl loss: batch of 1");
    b = (BadCase){d, 4, 0, 0};
    T_EXPECT_DEATH(run_bad, &b, "ssl loss: 0 channels");
    b = (BadCase){d, 4, 3, 1};
    T_EXPECT_DEATH(run_bad, &b, "ssl loss: Z[5] = nan is not finite");
    b = (BadCase){d, 4, 3, 2};
    T_EXPECT_DEATH(run_bad, &b, "ssl loss: Zhat[7] = -inf is not finite");
    b = (BadCase){d, 4, 3, 0};
    b.cfg.eps = 0;
    T_EXPECT_DEATH(run_bad, &b, "ssl loss: eps = 0");
    b.cfg = d, b.cfg.lambda2 = -1;
    T_EXPECT_DEATH(run_bad, &b, "ssl loss: lambda2 = -1");
    b.cfg = d, b.cfg.gamma = NAN;
    T_EXPECT_DEATH(run_bad, &b, "ssl loss: gamma = nan");
    b.cfg = d, b.cfg.K = 0;
    T_EXPECT_DEATH(run_bad, &b, "ssl loss: K = 0");
    b.cfg = d, b.cfg.var_both = 2;
    T_EXPECT_DEATH(run_bad, &b, "ssl loss: var_both = 2");
}

// ---------------------------------------------------------------- the projector
static Tensor rand_t(int n, int c, int h, int w, unsigned seed, float lo, float hi) {
    Tensor t = tensor_new(backend_cpu(), n, c, h, w);
    t_fill_uniform(t.data, tensor_numel(&t), seed, lo, hi);
    return t;
}

static float *dup_floats(const float *p, size_t n) {
    float *q = malloc(sizeof(float) * (n ? n : 1));
    memcpy(q, p, sizeof(float) * n);
    return q;
}

// BN's gamma and beta start at 1 and 0, the biases are drawn: randomise BN's so that no
// gradient is trivially symmetric (as test_grad.c does).
static void randomize_bn(Projector *p, unsigned seed) {
    t_fill_uniform(p->bn.gamma.w.data, (size_t)p->hidden, seed, 0.5f, 1.5f);
    t_fill_uniform(p->bn.beta.w.data, (size_t)p->hidden, seed + 1, -0.5f, 0.5f);
}

// The smallest |pre-activation| of the ReLU (BN's output) in the last training forward. A
// finite difference that carries one across the kink is wrong by the kink's jump; the tests
// take steps of 2^-9 and check that every coordinate passes with GRADCHECK_ALL=1, and this
// guard fails first if a change of seeds brings a unit closer to its kink.
static double relu_margin(const Projector *p, const ProjectorCache *c) {
    double m = INFINITY;
    for (int i = 0; i < c->h.n; i++)
        for (int o = 0; o < p->hidden; o++) {
            double z = p->bn.gamma.w.data[o] * (c->h.data[i * p->hidden + o] - c->mean.data[o]) *
                           c->invstd.data[o] +
                       p->bn.beta.w.data[o];
            m = fmin(m, fabs(z));
        }
    return m;
}

// The LayerCase of test_grad.c for the projector: L = sum r * out, BN_TRAIN.
typedef struct {
    Projector *l;
    ProjectorCache *c;
    Tensor x, r;
    ParamList pl;
} LayerCase;

static double layer_loss(void *p) {
    LayerCase *lc = p;
    const Tensor *y = projector_forward(backend_cpu(), lc->l, lc->c, &lc->x, BN_TRAIN);
    return gc_dot(lc->r.data, y->data, tensor_numel(y));
}

TEST(projector_finite_differences) {
    const Backend *be = backend_cpu();
    Rng rng = rng_new(1500);
    Projector l;
    ProjectorCache c = {0};
    projector_init(be, &l, 5, 7, 6, &rng);
    randomize_bn(&l, 1501);
    LayerCase lc = {.l = &l, .c = &c, .x = rand_t(4, 5, 3, 3, 1502, -1, 1)};
    projector_params(&l, &lc.pl);
    T_CHECK(lc.pl.n == 6 && (long)params_numel(&lc.pl) == projector_param_count(5, 7, 6),
            "%d parameters of %zu values", lc.pl.n, params_numel(&lc.pl));
    const Tensor *y = projector_forward(be, &l, &c, &lc.x, BN_TRAIN);
    T_CHECK(y->n == 4 && y->c == 6 && y->h == 1 && y->w == 1, "output [%d,%d,%d,%d]", y->n, y->c,
            y->h, y->w);
    lc.r = rand_t(4, 6, 1, 1, 1503, -1, 1);
    params_zero_grad(be, &lc.pl);
    const Tensor *dx = projector_backward(be, &l, &c, &lc.r, 1);
    T_CHECK(dx && tensor_same_shape(dx, &lc.x), "dx missing or misshapen");
    float *adx = dup_floats(dx->data, tensor_numel(dx));
    float *ag[6];
    for (int i = 0; i < 6; i++)
        ag[i] = dup_floats(lc.pl.p[i]->g.data, tensor_numel(&lc.pl.p[i]->g));
    // a second forward + backward gives the same gradients (dx overwritten, params zeroed),
    // and parameter gradients accumulate: a third backward without zeroing doubles them
    projector_forward(be, &l, &c, &lc.x, BN_TRAIN);
    params_zero_grad(be, &lc.pl);
    dx = projector_backward(be, &l, &c, &lc.r, 1);
    T_NEAR_ARRAY(dx->data, adx, tensor_numel(dx), 1e-7, 1e-6, "dx of a second backward");
    T_CHECK(projector_backward(be, &l, &c, &lc.r, 0) == NULL, "need_dx 0 returns NULL");
    for (int i = 0; i < 6; i++) {
        Param *p = lc.pl.p[i];
        float *twice = dup_floats(ag[i], tensor_numel(&p->g));
        for (size_t j = 0; j < tensor_numel(&p->g); j++) twice[j] *= 2.0f;
        T_NEAR_ARRAY(p->g.data, twice, tensor_numel(&p->g), 1e-6, 1e-6, p->name);
        free(twice);
    }
    // h = 2^-9, as below (projector_ssl_finite_differences): a step in an fc1 weight moves a
    // row of BN's outputs, and larger steps cross a ReLU's kink
    T_CHECK(relu_margin(&l, &c) > 0.02, "ReLU margin %g", relu_margin(&l, &c));
    GcOpts o = gc_opts(1504);
    o.h = 1.0 / 512;
    GC_CHECK("projector dx", layer_loss, &lc, lc.x.data, tensor_numel(&lc.x), adx, o);
    for (int i = 0; i < 6; i++) {
        Param *p = lc.pl.p[i];
        char what[96];
        snprintf(what, sizeof what, "projector %s", p->name);
        o.seed = 1505 + (unsigned)i;
        GC_CHECK(what, layer_loss, &lc, p->w.data, tensor_numel(&p->w), ag[i], o);
        free(ag[i]);
    }
    free(adx);
    params_free(&lc.pl);
    tensor_free(be, &lc.x), tensor_free(be, &lc.r);
    projector_cache_free(be, &c);
    projector_free(be, &l);
}

// The forward in double on the host: pool, fc1, BN (batch statistics or running ones), ReLU,
// fc2; out [n, cout]. Also the batch mean and unbiased variance of fc1's output [hidden].
static void host_projector(const Projector *p, const Tensor *x, int train, double *out,
                           double *bmean, double *bvar) {
    int n = x->n, hw = x->h * x->w, ci = p->cin, hd = p->hidden, co = p->cout;
    double *h = calloc((size_t)n * hd, sizeof(double)), *a = calloc((size_t)n * hd, sizeof *a);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < hd; o++) {
            double s = p->fc1_b.w.data[o];
            for (int k = 0; k < ci; k++) {
                double pool = 0.0;
                for (int q = 0; q < hw; q++) pool += x->data[((size_t)i * ci + k) * hw + q];
                s += (double)p->fc1_w.w.data[o * ci + k] * pool / hw;
            }
            h[i * hd + o] = s;
        }
    for (int o = 0; o < hd; o++) {
        double m = 0.0, v = 0.0;
        for (int i = 0; i < n; i++) m += h[i * hd + o] / n;
        for (int i = 0; i < n; i++) v += (h[i * hd + o] - m) * (h[i * hd + o] - m);
        bmean[o] = m, bvar[o] = v / (n - 1);
        double mu = train ? m : p->bn.run_mean.data[o];
        double var = train ? v / n : p->bn.run_var.data[o];
        for (int i = 0; i < n; i++) {
            double y = p->bn.gamma.w.data[o] * (h[i * hd + o] - mu) / sqrt(var + p->bn.eps) +
                       p->bn.beta.w.data[o];
            a[i * hd + o] = y > 0 ? y : 0;
        }
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < co; k++) {
            double s = p->fc2_b.w.data[k];
            for (int o = 0; o < hd; o++) s += (double)p->fc2_w.w.data[k * hd + o] * a[i * hd + o];
            out[i * co + k] = s;
        }
    free(h), free(a);
}

static double worst_diff(const Tensor *y, const double *want) {
    double w = 0.0;
    for (size_t i = 0; i < tensor_numel(y); i++) w = fmax(w, fabs(y->data[i] - want[i]));
    return w;
}

// Training mode: batch statistics, and the running ones move by momentum 0.1 toward the
// batch mean and unbiased variance (BatchNorm1d's); eval mode: the running statistics.
// Some ReLU units are off in both (BN's beta drawn around 0).
TEST(projector_forward_matches_host_reference) {
    const Backend *be = backend_cpu();
    Rng rng = rng_new(1600);
    Projector l;
    ProjectorCache c = {0};
    projector_init(be, &l, 6, 8, 5, &rng);
    randomize_bn(&l, 1601);
    Tensor x = rand_t(5, 6, 4, 3, 1602, -2, 2);
    double want[25], bm[8], bv[8];
    host_projector(&l, &x, 1, want, bm, bv);
    const Tensor *y = projector_forward(be, &l, &c, &x, BN_TRAIN);
    T_CHECK(worst_diff(y, want) < 1e-5, "train forward: worst |diff| %g", worst_diff(y, want));
    int off = 0;
    for (int i = 0; i < 5 * 8; i++) off += c.a.data[i] == 0.0f;
    T_CHECK(off > 0 && off < 40, "%d of 40 ReLU units off: want a mix", off);
    for (int o = 0; o < 8; o++) {
        T_NEAR(l.bn.run_mean.data[o], 0.1 * bm[o], 1e-6, 1e-5, "running mean after one step");
        T_NEAR(l.bn.run_var.data[o], 0.9 + 0.1 * bv[o], 1e-6, 1e-5, "running var after one step");
    }
    t_fill_uniform(l.bn.run_mean.data, 8, 1603, -0.5f, 0.5f);
    t_fill_uniform(l.bn.run_var.data, 8, 1604, 0.2f, 2.0f);
    host_projector(&l, &x, 0, want, bm, bv);
    y = projector_forward(be, &l, &c, &x, BN_EVAL);
    T_CHECK(worst_diff(y, want) < 1e-5, "eval forward: worst |diff| %g", worst_diff(y, want));
    tensor_free(be, &x);
    projector_cache_free(be, &c);
    projector_free(be, &l);
}

// Recalibration (rating, nas/rate.h): the output of a training-mode forward, bitwise, and the
// running statistics := this batch's mean and unbiased variance, whatever they were.
TEST(projector_recalibrate_sets_running_statistics) {
    const Backend *be = backend_cpu();
    Rng rng = rng_new(1610);
    Projector l;
    ProjectorCache c = {0};
    projector_init(be, &l, 6, 8, 5, &rng);
    randomize_bn(&l, 1611);
    Tensor x = rand_t(5, 6, 4, 3, 1612, -2, 2);
    double want[25], bm[8], bv[8];
    host_projector(&l, &x, 1, want, bm, bv);
    float train[25];
    memcpy(train, projector_forward(be, &l, &c, &x, BN_TRAIN)->data, sizeof train);
    t_fill_uniform(l.bn.run_mean.data, 8, 1613, -5, 5);
    t_fill_uniform(l.bn.run_var.data, 8, 1614, 3, 9);
    const Tensor *y = projector_forward(be, &l, &c, &x, BN_RECALIBRATE);
    T_CHECK(memcmp(y->data, train, sizeof train) == 0, "recalibration's output is not training's");
    for (int o = 0; o < 8; o++) {
        T_NEAR(l.bn.run_mean.data[o], bm[o], 1e-6, 1e-5, "running mean := the batch's");
        T_NEAR(l.bn.run_var.data[o], bv[o], 1e-6, 1e-5, "running var := the batch's (unbiased)");
    }
    host_projector(&l, &x, 0, want, bm, bv);  // eval with the recalibrated statistics
    y = projector_forward(be, &l, &c, &x, BN_EVAL);
    T_CHECK(worst_diff(y, want) < 1e-5, "eval after recalibration: worst |diff| %g",
            worst_diff(y, want));
    tensor_free(be, &x);
    projector_cache_free(be, &c);
    projector_free(be, &l);
}

static void project_one_image(void *arg) {
    (void)arg;
    const Backend *be = backend_cpu();
    Rng rng = rng_new(1);
    Projector l;
    ProjectorCache c = {0};
    projector_init(be, &l, 3, 4, 2, &rng);
    Tensor x = tensor_new(be, 1, 3, 2, 2);
    projector_forward(be, &l, &c, &x, BN_TRAIN);
}

static void project_wrong_width(void *arg) {
    (void)arg;
    const Backend *be = backend_cpu();
    Rng rng = rng_new(1);
    Projector l;
    ProjectorCache c = {0};
    projector_init(be, &l, 3, 4, 2, &rng);
    Tensor x = tensor_new(be, 4, 5, 2, 2);
    projector_forward(be, &l, &c, &x, BN_EVAL);
}

TEST(projector_bad_input) {
    T_EXPECT_DEATH(project_one_image, NULL, "projector: training-mode batch norm over 1 image");
    T_EXPECT_DEATH(project_wrong_width, NULL, "projector expects 3 input channels, got 5");
}

// The teacher's and a student's projector followed by the SSL loss: Z = P(xa), Ẑ = Q(xb),
// L = ssl_loss(Z, Ẑ).total; every parameter of both and both inputs against finite differences
// through the two projectors and the loss.
typedef struct Pair {
    Projector *p, *q;
    ProjectorCache *pc, *qc;
    Tensor *xa, *xb;
    const SslCfg *cfg;
} Pair;

static double pair_loss(void *arg) {
    Pair *s = arg;
    const Backend *be = backend_cpu();
    const Tensor *z = projector_forward(be, s->p, s->pc, s->xa, BN_TRAIN);
    const Tensor *zh = projector_forward(be, s->q, s->qc, s->xb, BN_TRAIN);
    return ssl_loss(s->cfg, z->data, zh->data, z->n, z->c, NULL, NULL).total;
}

// Per-channel std of z [m, c] (unbiased), to place the hinges away from their kinks.
static void channel_std(const float *z, int m, int c, double eps, double *sd) {
    for (int k = 0; k < c; k++) {
        double mu = 0.0, v = 0.0;
        for (int j = 0; j < m; j++) mu += z[j * c + k] / (double)m;
        for (int j = 0; j < m; j++) v += (z[j * c + k] - mu) * (z[j * c + k] - mu);
        sd[k] = sqrt(v / (m - 1) + eps);
    }
}

TEST(projector_ssl_finite_differences) {
    const Backend *be = backend_cpu();
    enum { N = 6, CIN = 5, HID = 8, COUT = 4 };
    Rng rng = rng_new(1700);
    Projector p, q;
    ProjectorCache pc = {0}, qc = {0};
    projector_init(be, &p, CIN, HID, COUT, &rng);
    projector_init(be, &q, CIN, HID, COUT, &rng);
    randomize_bn(&p, 1701), randomize_bn(&q, 1702);
    Tensor xa = rand_t(N, CIN, 3, 3, 1703, -1, 1), xb = rand_t(N, CIN, 3, 3, 1704, -1, 1);
    // weights of the size of the defaults' terms at this width; γ between the channels' stds
    SslCfg cfg = {.lambda1 = 2,
                  .lambda2 = 1,
                  .lambda3 = 2,
                  .gamma = 0.35,
                  .eps = 1e-4,
                  .var_both = 1,
                  .K = 2};
    Pair s = {&p, &q, &pc, &qc, &xa, &xb, &cfg};
    const Tensor *z = projector_forward(be, &p, &pc, &xa, BN_TRAIN);
    const Tensor *zh = projector_forward(be, &q, &qc, &xb, BN_TRAIN);
    Tensor dz = tensor_new(be, N, COUT, 1, 1), dzh = tensor_new(be, N, COUT, 1, 1);
    SslLoss l = ssl_loss(&cfg, z->data, zh->data, N, COUT, dz.data, dzh.data);
    double sd[2][COUT];
    channel_std(z->data, N, COUT, cfg.eps, sd[0]);
    channel_std(zh->data, N, COUT, cfg.eps, sd[1]);
    int on = 0, near = 0;
    for (int k = 0; k < 2 * COUT; k++) {
        double d = cfg.gamma - sd[k / COUT][k % COUT];
        on += d > 0, near += fabs(d) < 0.02;
    }
    T_CHECK(on > 0 && on < 2 * COUT && near == 0 && l.var > 0 && l.cov > 0,
            "%d of %d hinges on, %d near their kink: want a mix, none near", on, 2 * COUT, near);
    ParamList pl = {0};
    projector_params(&p, &pl);
    projector_params(&q, &pl);
    params_zero_grad(be, &pl);
    float *adxa = dup_floats(projector_backward(be, &p, &pc, &dz, 1)->data, tensor_numel(&xa));
    float *adxb = dup_floats(projector_backward(be, &q, &qc, &dzh, 1)->data, tensor_numel(&xb));
    // h = 2^-9: a step in an fc1 weight moves a whole row of BN's normalised outputs, and at
    // 2^-7 and 2^-8 one of them crosses its ReLU's kink (margin 0.068), the difference then
    // 1.4% off; at 2^-9 the worst error is 0.04 of the tolerance.
    T_CHECK(relu_margin(&p, &pc) > 0.05 && relu_margin(&q, &qc) > 0.05, "ReLU margins %g %g",
            relu_margin(&p, &pc), relu_margin(&q, &qc));
    GcOpts o = gc_opts(1710);
    o.h = 1.0 / 512;
    GC_CHECK("projector+ssl dxa", pair_loss, &s, xa.data, tensor_numel(&xa), adxa, o);
    o.seed++;
    GC_CHECK("projector+ssl dxb", pair_loss, &s, xb.data, tensor_numel(&xb), adxb, o);
    for (int i = 0; i < pl.n; i++) {
        Param *w = pl.p[i];
        float *ag = dup_floats(w->g.data, tensor_numel(&w->g));
        char what[96];
        snprintf(what, sizeof what, "projector+ssl %s %s", i < 6 ? "teacher" : "student", w->name);
        o.seed = 1720 + (unsigned)i;
        GC_CHECK(what, pair_loss, &s, w->w.data, tensor_numel(&w->w), ag, o);
        free(ag);
    }
    free(adxa), free(adxb);
    params_free(&pl);
    Tensor *t[] = {&xa, &xb, &dz, &dzh};
    for (int i = 0; i < 4; i++) tensor_free(be, t[i]);
    projector_cache_free(be, &pc), projector_cache_free(be, &qc);
    projector_free(be, &p), projector_free(be, &q);
}

// ---------------------------------------------------------------- LARS
static Param make_param(const Backend *be, const char *name, int n, const float *w, const float *g,
                        int decay) {
    Param p;
    param_init(be, &p, name, n, 1, 1, 1, decay);
    memcpy(p.w.data, w, sizeof(float) * (size_t)n), memcpy(p.g.data, g, sizeof(float) * (size_t)n);
    return p;
}

// lr 0.1, weight decay 0.1, momentum 0.9, eta 0.001; the same gradient at both steps.
// Weight w = (3, 4), g = (0.9, -0.4): d = g + 0.1 w = (1.2, 0), ‖w‖ = 5, ‖d‖ = 1.2,
//   q = 0.001 * 5 / 1.2 = 1/240; m = q d = (0.005, 0); w = (3 - 0.0005, 4) = (2.9995, 4).
//   Step 2: d = (0.9 + 0.29995, -0.4 + 0.4) = (1.19995, 0), q = 0.001 ‖w‖ / 1.19995,
//   m = 0.9 (0.005, 0) + q d = (0.0045 + 0.001 ‖w‖, 0), ‖w‖ = sqrt(2.9995² + 16).
//   (The 2017 paper's ‖g‖ + wd ‖w‖ = 0.98489 + 0.5 would give q = 0.003368 instead.)
// Bias b = (1, -2), g = (0.5, 0.25): plain momentum SGD, m = g then 1.9 g.
// A zero weight z = (0, 0), g = (1, 2): q = 1 (‖w‖ = 0), m = g; then d = g + 0.1 w.
TEST(lars_one_and_two_steps_by_hand) {
    const double ULP4 = 4.8e-7;  // a float's spacing at 4: the values are floats
    const Backend *be = backend_cpu();
    Param w = make_param(be, "w", 2, (float[]){3, 4}, (float[]){0.9f, -0.4f}, 1);
    Param b = make_param(be, "b", 2, (float[]){1, -2}, (float[]){0.5f, 0.25f}, 0);
    Param z = make_param(be, "z", 2, (float[]){0, 0}, (float[]){1, 2}, 1);
    ParamList l = {0};
    params_push(&l, &w), params_push(&l, &b), params_push(&l, &z);
    Optim o = optim_lars(0.1f, 0.1f, 0.9f, 0.001f);
    T_CHECK(o.kind == OPTIM_LARS && o.momentum == 0.9f && o.eta == 0.001f, "optim_lars fields");
    optim_step(be, &o, &l);
    T_NEAR(w.m.data[0], 0.005, 1e-9, 1e-6, "lars step 1: momentum of a weight");
    T_NEAR(w.w.data[0], 2.9995, ULP4, 0, "lars step 1: w[0]");
    T_NEAR(w.w.data[1], 4.0, ULP4, 0, "lars step 1: w[1] (d[1] = 0)");
    T_NEAR(b.w.data[0], 0.95, ULP4, 0, "lars step 1: bias, no adaptation or decay");
    T_NEAR(b.w.data[1], -2.025, ULP4, 0, "lars step 1: bias");
    T_NEAR(z.w.data[0], -0.1, ULP4, 0, "lars step 1: zero weight, q = 1");
    T_NEAR(z.w.data[1], -0.2, ULP4, 0, "lars step 1: zero weight, q = 1");
    optim_step(be, &o, &l);
    double norm = sqrt(2.9995 * 2.9995 + 16.0), m = 0.0045 + 0.001 * norm;
    T_NEAR(w.m.data[0], m, 1e-9, 1e-6, "lars step 2: momentum of a weight");
    T_NEAR(w.w.data[0], 2.9995 - 0.1 * m, ULP4, 0, "lars step 2: w[0]");
    T_NEAR(w.w.data[1], 4.0, ULP4, 0, "lars step 2: w[1]");
    T_NEAR(b.w.data[0], 0.95 - 0.1 * 1.9 * 0.5, ULP4, 0, "lars step 2: bias");
    T_NEAR(b.w.data[1], -2.025 - 0.1 * 1.9 * 0.25, ULP4, 0, "lars step 2: bias");
    // z = (-0.1, -0.2): d = (1 - 0.01, 2 - 0.02) = 0.99 g, ‖d‖ = 0.99 sqrt 5, ‖z‖ = 0.1 sqrt 5,
    // q = 0.001 * 0.1 / 0.99; m = 0.9 g + q d = (0.9 + 0.0001) g
    T_NEAR(z.w.data[0], -0.1 - 0.1 * 0.9001, ULP4, 0, "lars step 2: formerly zero weight");
    T_NEAR(z.w.data[1], -0.2 - 0.1 * 0.9001 * 2, ULP4, 0, "lars step 2: formerly zero weight");
    T_CHECK(!w.v.data && w.step == 2, "LARS keeps one state tensor and counts steps");
    params_free(&l);
    param_free(be, &w), param_free(be, &b), param_free(be, &z);
}
