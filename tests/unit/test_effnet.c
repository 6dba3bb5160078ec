// The EfficientNet teacher (src/nn/effnet.h) and its file (src/train/teacher.h): equivalence
// with torchvision on tests/ref/effnet_ref.h5 (tests/ref/make_effnet_ref.py, through
// tools/export_torchvision_efficientnet.py; tests run from the repository root), stage
// parsing, validation and JSON, counts and timm's state names, a whole-network gradient
// check, the blocks alone (DNA++'s self-supervised teacher: forward, backward with its
// gradient check, parameter and BN lists), and teacher.h5 save/load: the round trip and the
// errors a wrong file must give.
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/ctx.h"
#include "gradcheck.h"
#include "harness.h"
#include "io/h5.h"
#include "io/teacher.h"
#include "nn/effnet.h"
#include "train/ema.h"

static const char *const REF_PATH = "tests/ref/effnet_ref.h5";

// Tolerance against torchvision, per map: |ours - torch| <= REF_SCALE * max|torch| +
// REF_RTOL * |torch|. The reference is float64 on the same float32 weights and input, so all
// of the difference is ours: float32 rounding (~6e-8 relative per op) through stem, 6 MBConv
// layers and head, with sums in another order (im2col GEMMs of up to 150 terms, pooling over
// 256 pixels, the residual adds). That error scales with the map's magnitude, not with each
// element's (a small element is a difference of large terms), hence the absolute term in
// units of the map's largest value (maps reach ~40). Observed: at most 9e-7 of the scale
// (block 3: 3.0e-5 on values up to 34), i.e. ~1/10 of the tolerance. A wrong formula (the
// default BN eps instead of the file's, a missing SE bias, a padding offset, no residual)
// moves some map by >= 1e-2 of its scale, 1000x the tolerance.
#define REF_SCALE 1e-5
#define REF_RTOL 1e-4

static const Backend *be_cpu(void) {
    return backend_cpu();
}

// 2 stages: expansion 1 with residual, then a stride-2 layer and a residual one; SE, k3/k5.
static EffNetCfg tiny_cfg(void) {
    EffNetCfg c = {.cin = 3,
                   .stem = 4,
                   .stem_stride = 2,
                   .head = 8,
                   .classes = 3,
                   .dropout = 0.0f,
                   .bn_eps = 1e-3f,
                   .bn_momentum = 0.1f,
                   .nblocks = 2,
                   .block_end = {0, 1}};
    char err[256];
    if (effnet_parse_stages("ir_r1_k3_s1_e1_c4_se0.25 ir_r2_k5_s2_e3_c6_se0.25", &c, err,
                            sizeof err))
        t_fail(__FILE__, __LINE__, "tiny config: %s", err);
    return c;
}

static int stage_same(const StageCfg *a, const StageCfg *b) {
    return a->repeats == b->repeats && a->k == b->k && a->stride == b->stride &&
           a->expand == b->expand && a->cout == b->cout && a->se_ratio == b->se_ratio;
}

// Field by field (not memcmp: the unused stage slots and padding are not part of a config).
static int cfg_same(const EffNetCfg *a, const EffNetCfg *b) {
    int same = a->cin == b->cin && a->stem == b->stem && a->stem_stride == b->stem_stride &&
               a->nstages == b->nstages && a->head == b->head && a->classes == b->classes &&
               a->dropout == b->dropout && a->bn_eps == b->bn_eps &&
               a->bn_momentum == b->bn_momentum && a->nblocks == b->nblocks;
    for (int s = 0; same && s < a->nstages; s++) same = stage_same(&a->stage[s], &b->stage[s]);
    for (int k = 0; same && k < a->nblocks; k++) same = a->block_end[k] == b->block_end[k];
    return same;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int make_tmpdir(char dir[64]) {
    snprintf(dir, 64, "/tmp/dnafam_effnet_XXXXXX");
    if (mkdtemp(dir)) return 1;
    t_fail(__FILE__, __LINE__, "mkdtemp failed");
    return 0;
}

// ---------------------------------------------------------------- torchvision equivalence

// teacher_load ends the process on a missing tensor: report missing names as failures
// first, so that a naming mismatch fails this case instead of killing the whole run.
static int fixture_has_our_names(hid_t f) {
    char *arch = h5_read_attr_str(f, "arch", REF_PATH), err[256];
    EffNetCfg c;
    int rc = effnet_cfg_from_json(arch, &c, err, sizeof err);
    free(arch);
    T_CHECK(rc == 0, "%s: arch: %s", REF_PATH, err);
    if (rc) return 0;
    EffNet net;
    Rng rng = rng_new(0);
    effnet_init(be_cpu(), &net, &c, 32, &rng);
    int missing = 0;
    for (int i = 0; i < net.nstate; i++)
        if (!h5_has(f, net.state[i].name) && missing++ < 4)
            t_fail(__FILE__, __LINE__,
                   "%s has no tensor '%s' (our name; torchvision's export "
                   "follows timm's state_dict names)",
                   REF_PATH, net.state[i].name);
    effnet_free(be_cpu(), &net);
    return missing == 0;
}

static void compare_ref(hid_t f, const char *name, const Tensor *got, double *worst) {
    char path[64];
    snprintf(path, sizeof path, "ref/%s", name);
    size_t n = 0;
    long d[8] = {0};
    int nd = 0;
    float *want = h5_read_f32(f, REF_PATH, path, &n, &nd, d);
    int shape_ok = nd == 4 ? d[0] == got->n && d[1] == got->c && d[2] == got->h && d[3] == got->w
                           : nd == 2 && d[0] == got->n && d[1] == got->c && got->h == 1;
    T_CHECK(shape_ok, "%s: ours [%d,%d,%d,%d], torchvision's has %d dims [%ld,%ld,%ld,%ld]", path,
            got->n, got->c, got->h, got->w, nd, d[0], d[1], d[2], d[3]);
    if (shape_ok) {
        double scale = 0;
        for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
        double e = T_NEAR_ARRAY(got->data, want, n, REF_SCALE * scale, REF_RTOL, path);
        printf("     %-12s max |ours - torchvision| = %.3g = %.2g of max|torchvision| %.3g\n", path,
               e, e / scale, scale);
        if (e / scale > *worst) *worst = e / scale;
    }
    free(want);
}

TEST(effnet_torchvision_ref) {
    const Backend *be = be_cpu();
    hid_t f = h5_open_read(REF_PATH);
    if (!fixture_has_our_names(f)) {
        h5_close(f);
        return;
    }
    Teacher t;
    teacher_load(be, REF_PATH, &t);
    // what the exporter read from the modules (make_effnet_ref.py builds these)
    const EffNetCfg *c = &t.net.cfg;
    static const int k[4] = {3, 5, 3, 5}, s[4] = {1, 2, 2, 1}, e[4] = {1, 4, 3, 6},
                     r[4] = {1, 2, 2, 1}, co[4] = {8, 16, 24, 32};
    T_CHECK(c->cin == 3 && c->stem == 8 && c->stem_stride == 2 && c->head == 48 &&
                c->classes == 12 && c->nstages == 4,
            "arch: cin %d stem %d/%d head %d classes %d stages %d", c->cin, c->stem, c->stem_stride,
            c->head, c->classes, c->nstages);
    for (int i = 0; i < 4 && i < c->nstages; i++)
        T_CHECK(c->stage[i].k == k[i] && c->stage[i].stride == s[i] && c->stage[i].expand == e[i] &&
                    c->stage[i].repeats == r[i] && c->stage[i].cout == co[i] &&
                    c->stage[i].se_ratio == 0.25f,
                "stage %d: r%d k%d s%d e%d c%d se%g", i, c->stage[i].repeats, c->stage[i].k,
                c->stage[i].stride, c->stage[i].expand, c->stage[i].cout, c->stage[i].se_ratio);
    T_CHECK(c->bn_eps == 1e-3f && c->bn_momentum == 0.05f && c->dropout == 0.25f,
            "bn eps %g momentum %g dropout %g: not carried from the modules", c->bn_eps,
            c->bn_momentum, c->dropout);
    T_CHECK(c->nblocks == 3 && c->block_end[0] == 0 && c->block_end[1] == 2 && c->block_end[2] == 3,
            "block boundaries");
    T_CHECK(t.in_hw == 32 && t.mean[0] == 0.485 && t.std[2] == 0.225 && t.top1 == -1,
            "in_hw %d mean[0] %g std[2] %g top1 %g", t.in_hw, t.mean[0], t.std[2], t.top1);

    long d[8] = {0};
    size_t n;
    float *xh = h5_read_f32(f, REF_PATH, "ref/input", &n, NULL, d);
    Tensor x = tensor_new(be, (int)d[0], (int)d[1], (int)d[2], (int)d[3]);
    tensor_upload(be, &x, xh);
    free(xh);
    const Tensor *logits = effnet_forward(be, &t.net, &x, BN_EVAL, NULL);
    double worst = 0;
    for (int b = 0; b < c->nblocks; b++) {
        const Tensor *m = t.net.block_out[b];
        T_CHECK(m->c == t.net.block_c[b] && m->h == t.net.block_hw[b],
                "block %d: map [%d,%d,%d], init announced %d x %d^2", b + 1, m->c, m->h, m->w,
                t.net.block_c[b], t.net.block_hw[b]);
        char name[16];
        snprintf(name, sizeof name, "block%d", b + 1);
        compare_ref(f, name, m, &worst);
    }
    compare_ref(f, "logits", logits, &worst);
    // the reference must tell samples apart, or the logits comparison would prove little
    float *lr = h5_read_f32(f, REF_PATH, "ref/logits", &n, NULL, d);
    double spread = 0;
    for (long j = 0; j < d[1]; j++) spread = fmax(spread, fabs(lr[j] - lr[d[1] + j]));
    T_CHECK(spread > 0.1, "reference logits of the two samples differ by only %g", spread);
    free(lr);
    printf("     worst: %.2g of the map's scale (tolerance %g of it + %g relative)\n", worst,
           REF_SCALE, REF_RTOL);
    tensor_free(be, &x);
    teacher_free(be, &t);
    h5_close(f);
}

// ---------------------------------------------------------------- stages, validation, JSON

TEST(effnet_parse_stages_accepts) {
    EffNetCfg c = {0};
    char err[256] = "";
    int rc = effnet_parse_stages("ir_r2_k3_s2_e6_c24_se0.25, ir_k5_c40\tir_c16_e1_k7_s1_r3 ", &c,
                                 err, sizeof err);
    T_CHECK(rc == 0, "rejected: %s", err);
    T_CHECK(c.nstages == 3, "%d stages, want 3", c.nstages);
    const StageCfg want[3] = {{2, 3, 2, 6, 24, 0.25f},
                              {1, 5, 1, 1, 40, 0.0f},
                              {3, 7, 1, 1, 16, 0.0f}};  // defaults r1 s1 e1, no SE
    for (int s = 0; s < 3 && s < c.nstages; s++)
        T_CHECK(stage_same(&c.stage[s], &want[s]), "stage %d: r%d k%d s%d e%d c%d se%g", s,
                c.stage[s].repeats, c.stage[s].k, c.stage[s].stride, c.stage[s].expand,
                c.stage[s].cout, c.stage[s].se_ratio);
}

TEST(effnet_parse_stages_rejects) {
    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"dw_k3_c16", "only inverted-residual stages"},
        {"ir_r2_s2_e6_c24", "'ir_r2_s2_e6_c24' needs a kernel (k3) and a width"},
        {"ir_r2_k3_s2_e6", "needs a kernel (k3) and a width (c24)"},
        {"ir_k3_c24 ir_k3_c24_x5", "stage 'ir_k3_c24_x5': unknown field 'x5'"},
        {"ir_k3_c24_e6x", "field 'e6x' is not a number"},
        {"ir_k3_c24_se0.25x", "field 'se0.25x' is not a number"},
        // an empty value must not silently mean 0 (no SE)
        {"ir_k3_c24_se", "field 'se' is not a number"},
        {" , ", "no stages given"},
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EffNetCfg c = {0};
        char err[256] = "";
        int rc = effnet_parse_stages(bad[i].spec, &c, err, sizeof err);
        T_CHECK(rc != 0 && strstr(err, bad[i].msg), "'%s': rc %d, message '%s', want '%s'",
                bad[i].spec, rc, err, bad[i].msg);
    }
    char many[(EFFNET_MAX_STAGES + 1) * 12 + 1] = "";
    for (int i = 0; i <= EFFNET_MAX_STAGES; i++) strcat(many, "ir_k3_c8 ");
    EffNetCfg c = {0};
    char err[256] = "";
    char want[32];
    snprintf(want, sizeof want, "more than %d", EFFNET_MAX_STAGES);
    T_CHECK(effnet_parse_stages(many, &c, err, sizeof err) != 0 && strstr(err, want),
            "%d stages: '%s'", EFFNET_MAX_STAGES + 1, err);
}

TEST(effnet_cfg_validate_rejects) {
    const EffNetCfg base = tiny_cfg();
    char err[256] = "";
    T_CHECK(effnet_cfg_validate(&base, err, sizeof err) == 0, "tiny config rejected: %s", err);
    static const struct {
        int nblocks, end[9];
        const char *msg;
    } blocks[] = {
        {0, {0}, "give 1 to 8 block boundaries"},
        {9, {0, 1, 1, 1, 1, 1, 1, 1, 1}, "give 1 to 8 block boundaries"},
        {2, {1, 1}, "block 2 ends at stage 1"},  // not increasing
        {2, {1, 0}, "block 2 ends at stage 0"},
        {2, {0, 2}, "block 2 ends at stage 2"},  // past the last stage
        {2, {-1, 1}, "block 1 ends at stage -1"},
        {1, {0}, "the last block must end at the last stage (1)"},
    };
    for (unsigned i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        EffNetCfg c = base;
        c.nblocks = blocks[i].nblocks;
        for (int k = 0; k < c.nblocks && k < EFFNET_MAX_BLOCKS; k++)
            c.block_end[k] = blocks[i].end[k];
        err[0] = 0;
        T_CHECK(effnet_cfg_validate(&c, err, sizeof err) != 0 && strstr(err, blocks[i].msg),
                "block case %u: '%s', want '%s'", i, err, blocks[i].msg);
    }
    // NaN, widths, kernels and repeats beyond the limits (found by tests/fuzz/fuzz_teacher):
    // they overflowed the layer count, cast NaN to int or asked for terabytes
    enum { NCASE = 13 };
    EffNetCfg c[NCASE];
    for (int i = 0; i < NCASE; i++) c[i] = base;
    c[0].stage[1].k = 4, c[1].stage[1].stride = 3, c[2].stage[0].repeats = 0;
    c[3].classes = 1, c[4].dropout = 1.0f, c[5].bn_eps = 0.0f;
    c[6].dropout = NAN, c[7].stage[0].se_ratio = NAN, c[8].stage[1].cout = EFFNET_MAX_WIDTH + 1;
    c[9].stage[0].repeats = INT_MAX, c[10].stage[0].k = 33, c[11].head = 0;
    c[12].stage[0].cout = c[12].stage[1].cout = EFFNET_MAX_WIDTH, c[12].stage[1].expand = 8;
    const char *msg[NCASE] = {"stage 1: needs",
                              "stage 1: needs",
                              "stage 0: needs",
                              "classes in 2..",
                              "dropout",
                              "bn_eps",
                              "dropout",
                              "stage 0: needs",
                              "stage 1: needs",
                              "stage 0: needs",
                              "stage 0: needs",
                              "head widths",
                              "parameters, more than"};
    for (int i = 0; i < NCASE; i++) {
        err[0] = 0;
        T_CHECK(effnet_cfg_validate(&c[i], err, sizeof err) != 0 && strstr(err, msg[i]),
                "case %d: '%s', want '%s'", i, err, msg[i]);
    }
}

TEST(effnet_json_round_trip) {
    EffNetCfg a = {.cin = 1,
                   .stem = 24,
                   .stem_stride = 1,
                   .head = 200,
                   .classes = 47,
                   .dropout = 0.3f,
                   .bn_eps = 1e-3f,
                   .bn_momentum = 0.01f,
                   .nblocks = 2,
                   .block_end = {1, 2}};
    char err[256] = "";
    T_CHECK(effnet_parse_stages("ir_r1_k3_s1_e1_c16_se0.25 ir_r3_k5_s2_e6_c24_se0.3 "
                                "ir_r2_k7_s2_e4_c40_se0",
                                &a, err, sizeof err) == 0,
            "%s", err);
    char *json = effnet_cfg_to_json(&a);
    EffNetCfg b;
    int rc = effnet_cfg_from_json(json, &b, err, sizeof err);
    T_CHECK(rc == 0, "from_json: %s", err);
    T_CHECK(rc || cfg_same(&a, &b), "round trip changed the config:\n%s", json);
    T_CHECK(
        strstr(json, "\"kind\":\t\"efficientnet\"") || strstr(json, "\"kind\": \"efficientnet\""),
        "no kind in %s", json);
    free(json);

    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"{\"in_chans\": 3,", "not valid JSON"},
        {"{\"in_chans\": 3, \"stem\": 8}", "'stem_stride' missing"},
        {"{\"in_chans\":3,\"stem\":8,\"stem_stride\":2,\"head\":16,\"classes\":10,\"dropout\":0,"
         "\"bn_eps\":1e-5,\"bn_momentum\":0.1,\"stages\":\"ir_k3_c8\",\"block_end\":[0]}",
         "needs arrays 'stages' and 'block_end'"},
        {"{\"in_chans\":3,\"stem\":8,\"stem_stride\":2,\"head\":16,\"classes\":10,\"dropout\":0,"
         "\"bn_eps\":1e-5,\"bn_momentum\":0.1,\"stages\":[\"ir_k3_c8\"],\"block_end\":[1]}",
         "block 1 ends at stage 1"},
        {"{\"in_chans\":3,\"stem\":8,\"stem_stride\":2,\"head\":16,\"classes\":10,\"dropout\":0,"
         "\"bn_eps\":1e-5,\"bn_momentum\":0.1,\"stages\":[\"ir_c8\"],\"block_end\":[0]}",
         "needs a kernel"},
        // beyond int before the cast (tests/fuzz/corpus/teacher/regress-json-int-overflow)
        {"{\"in_chans\":3,\"stem\":9.3e18,\"stem_stride\":2,\"head\":16,\"classes\":10,"
         "\"dropout\":0,\"bn_eps\":1e-5,\"bn_momentum\":0.1,\"stages\":[\"ir_k3_c8\"],"
         "\"block_end\":[0]}",
         "'stem' = 9.3e+18 is out of range"},
        {"{\"in_chans\":3,\"stem\":8,\"stem_stride\":2,\"head\":16,\"classes\":10,\"dropout\":0,"
         "\"bn_eps\":1e-5,\"bn_momentum\":0.1,\"stages\":[\"ir_r99999999999_k3_c8\"],"
         "\"block_end\":[0]}",
         "field 'r99999999999' is out of range"},
    };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        T_CHECK(
            effnet_cfg_from_json(bad[i].json, &b, err, sizeof err) != 0 && strstr(err, bad[i].msg),
            "bad JSON %u: '%s', want '%s'", i, err, bad[i].msg);
    }
}

// ---------------------------------------------------------------- counts and names

static int bn_count(const EffNetCfg *c) {
    int n = 2;  // stem and head
    for (int s = 0; s < c->nstages; s++)
        n += c->stage[s].repeats * (c->stage[s].expand > 1 ? 3 : 2);
    return n;
}

static void check_counts(const EffNetCfg *c, int in_hw, const char *what) {
    const Backend *be = be_cpu();
    EffNet net;
    Rng rng = rng_new(3);
    effnet_init(be, &net, c, in_hw, &rng);
    long counted = effnet_param_count(c), built = (long)params_numel(&net.params);
    T_CHECK(counted == built, "%s: effnet_param_count %ld, the built net holds %ld", what, counted,
            built);
    T_CHECK(net.nstate == net.params.n + 2 * bn_count(c),
            "%s: %d state tensors, want %d params "
            "+ 2 x %d BNs",
            what, net.nstate, net.params.n, bn_count(c));
    // each running_mean/var pair follows its BN's bias, as in a state_dict
    for (int i = 0; i < net.nstate; i++) {
        const char *n = net.state[i].name, *dot = strrchr(n, '.');
        if (!dot || strcmp(dot, ".running_mean")) continue;
        size_t base = (size_t)(dot - n);
        int ok = i >= 1 && i + 1 < net.nstate;
        ok = ok && !strncmp(net.state[i - 1].name, n, base + 1) &&
             !strcmp(net.state[i - 1].name + base, ".bias");
        ok = ok && !strncmp(net.state[i + 1].name, n, base + 1) &&
             !strcmp(net.state[i + 1].name + base, ".running_var");
        T_CHECK(ok, "%s: '%s' is not between its BN's bias and running_var", what, n);
    }
    for (int i = 0; i < net.nstate; i++)
        for (int j = 0; j < i; j++)
            T_CHECK(strcmp(net.state[i].name, net.state[j].name), "%s: '%s' twice", what,
                    net.state[i].name);
    effnet_free(be, &net);
}

TEST(effnet_counts_and_state) {
    EffNetCfg tiny = tiny_cfg();
    check_counts(&tiny, 9, "tiny");
    // EfficientNet-B0 as the exporter writes it: torchvision counts 5288548 parameters and
    // its state_dict has 311 tensors besides num_batches_tracked
    EffNetCfg b0 = {.cin = 3,
                    .stem = 32,
                    .stem_stride = 2,
                    .head = 1280,
                    .classes = 1000,
                    .dropout = 0.2f,
                    .bn_eps = 1e-5f,
                    .bn_momentum = 0.1f,
                    .nblocks = 4,
                    .block_end = {1, 2, 4, 6}};
    char err[256];
    T_CHECK(effnet_parse_stages("ir_r1_k3_s1_e1_c16_se0.25 ir_r2_k3_s2_e6_c24_se0.25 "
                                "ir_r2_k5_s2_e6_c40_se0.25 ir_r3_k3_s2_e6_c80_se0.25 "
                                "ir_r3_k5_s1_e6_c112_se0.25 ir_r4_k5_s2_e6_c192_se0.25 "
                                "ir_r1_k3_s1_e6_c320_se0.25",
                                &b0, err, sizeof err) == 0,
            "%s", err);
    T_CHECK(effnet_param_count(&b0) == 5288548, "B0: %ld parameters, torchvision has 5288548",
            effnet_param_count(&b0));
    check_counts(&b0, 32, "B0");
    EffNet net;
    Rng rng = rng_new(4);
    effnet_init(be_cpu(), &net, &b0, 32, &rng);
    T_CHECK(net.nstate == 311, "B0: %d state tensors, torchvision's state_dict has 311",
            net.nstate);
    static const int c[4] = {24, 40, 112, 320}, hw[4] = {8, 4, 2, 1};  // at 32x32
    for (int b = 0; b < 4; b++)
        T_CHECK(net.block_c[b] == c[b] && net.block_hw[b] == hw[b], "B0 block %d: %d x %d^2", b,
                net.block_c[b], net.block_hw[b]);
    effnet_free(be_cpu(), &net);
}

// timm's state_dict names for the tiny config, written out independently of effnet.c
TEST(effnet_state_names_timm) {
    EffNetCfg c = tiny_cfg();
    EffNet net;
    Rng rng = rng_new(5);
    effnet_init(be_cpu(), &net, &c, 9, &rng);
    static const char *const BN[4] = {"weight", "bias", "running_mean", "running_var"};
    char want[128][64];
    int n = 0;
#define PUT(...) snprintf(want[n++], 64, __VA_ARGS__)
    PUT("conv_stem.weight");
    for (int j = 0; j < 4; j++) PUT("bn1.%s", BN[j]);
    for (int s = 0; s < c.nstages; s++)
        for (int i = 0; i < c.stage[s].repeats; i++) {
            if (c.stage[s].expand > 1) {
                PUT("blocks.%d.%d.conv_pw.weight", s, i);
                for (int j = 0; j < 4; j++) PUT("blocks.%d.%d.bn1.%s", s, i, BN[j]);
            }
            PUT("blocks.%d.%d.conv_dw.weight", s, i);
            for (int j = 0; j < 4; j++) PUT("blocks.%d.%d.bn2.%s", s, i, BN[j]);
            PUT("blocks.%d.%d.se.conv_reduce.weight", s, i);
            PUT("blocks.%d.%d.se.conv_reduce.bias", s, i);
            PUT("blocks.%d.%d.se.conv_expand.weight", s, i);
            PUT("blocks.%d.%d.se.conv_expand.bias", s, i);
            PUT("blocks.%d.%d.conv_pwl.weight", s, i);
            for (int j = 0; j < 4; j++) PUT("blocks.%d.%d.bn3.%s", s, i, BN[j]);
        }
    PUT("conv_head.weight");
    for (int j = 0; j < 4; j++) PUT("bn2.%s", BN[j]);
    PUT("classifier.weight");
    PUT("classifier.bias");
#undef PUT
    T_CHECK(net.nstate == n, "%d state tensors, timm has %d", net.nstate, n);
    int shown = 0;
    for (int i = 0; i < n && i < net.nstate; i++)
        if (strcmp(net.state[i].name, want[i]) && shown++ < 3)
            t_fail(__FILE__, __LINE__, "state %d is '%s', timm's is '%s'", i, net.state[i].name,
                   want[i]);
    effnet_free(be_cpu(), &net);
}

// ---------------------------------------------------------------- gradient check

typedef struct {
    EffNet net;
    Tensor x, r;
} NetCase;

static double net_loss(void *p) {
    NetCase *g = p;
    const Tensor *y = effnet_forward(be_cpu(), &g->net, &g->x, BN_TRAIN, NULL);
    return gc_dot(g->r.data, y->data, tensor_numel(y));
}

// BN scales/biases and the SE/classifier biases start at 1 or 0: make them generic.
static void generic_params(ParamList *pl, unsigned seed) {
    for (int i = 0; i < pl->n; i++) {
        Param *p = pl->p[i];
        if (p->decay) continue;
        const char *n = p->name;
        int gamma = strstr(n, "bn") && !strcmp(n + strlen(n) - 7, ".weight");
        t_fill_uniform(p->w.data, tensor_numel(&p->w), seed + (unsigned)i, gamma ? 0.5f : -0.5f,
                       gamma ? 1.5f : 0.5f);
    }
}

// Every parameter of the whole network (stem, both stages, head, classifier) in BN_TRAIN,
// dropout 0; L = sum r * logits. The input gradient is not formed by effnet_backward.
// gradcheck.h's tolerances with atol 1e-4 instead of 1e-3: the SE gradients here are only
// ~0.005..0.01, and the numeric error stays below 2e-5 (GRADCHECK_VERBOSE=1), so the tighter
// floor still leaves 5x headroom while a 10% error in an SE weight's gradient fails.
TEST(effnet_grad_whole_network) {
    const Backend *be = be_cpu();
    EffNetCfg c = tiny_cfg();
    NetCase g;
    Rng rng = rng_new(700);
    effnet_init(be, &g.net, &c, 9, &rng);
    ParamList *pl = &g.net.params;
    generic_params(pl, 710);
    g.x = tensor_new(be, 2, 3, 9, 9);
    t_fill_uniform(g.x.data, tensor_numel(&g.x), 701, -1.5f, 1.5f);
    const Tensor *y = effnet_forward(be, &g.net, &g.x, BN_TRAIN, NULL);
    T_CHECK(y->n == 2 && y->c == 3, "logits [%d,%d]", y->n, y->c);
    g.r = tensor_new(be, y->n, y->c, 1, 1);
    t_fill_uniform(g.r.data, tensor_numel(&g.r), 702, -1.0f, 1.0f);
    params_zero_grad(be, pl);
    effnet_backward(be, &g.net, &g.r);
    float **ana = malloc(sizeof(float *) * (size_t)pl->n);
    for (int i = 0; i < pl->n; i++) {
        size_t n = tensor_numel(&pl->p[i]->g);
        ana[i] = malloc(sizeof(float) * n);
        memcpy(ana[i], pl->p[i]->g.data, sizeof(float) * n);
    }
    for (int i = 0; i < pl->n; i++) {
        Param *p = pl->p[i];
        GcOpts o = gc_opts(720 + (unsigned)i);
        o.samples = 8;
        o.atol = 1e-4;
        GC_CHECK(p->name, net_loss, &g, p->w.data, tensor_numel(&p->w), ana[i], o);
        free(ana[i]);
    }
    free(ana);
    tensor_free(be, &g.x);
    tensor_free(be, &g.r);
    effnet_free(be, &g.net);
}

// ---------------------------------------------------------------- the blocks alone (DNA++)

// tiny_cfg's stages and a third of two residual layers without SE, one block each: with
// drop-connect 0.5 over 5 layers, layers 2, 3 and 4 draw (layer 0's rate is 0, layer 1 has
// no residual). The head's dropout draws too, in effnet_forward only.
static EffNetCfg blocks_cfg(void) {
    EffNetCfg c = tiny_cfg();
    c.dropout = 0.25f;
    c.nblocks = 3;
    c.block_end[0] = 0, c.block_end[1] = 1, c.block_end[2] = 2;
    char err[256];
    if (effnet_parse_stages("ir_r1_k3_s1_e1_c4_se0.25 ir_r2_k5_s2_e3_c6_se0.25 ir_r2_k3_s1_e2_c6",
                            &c, err, sizeof err))
        t_fail(__FILE__, __LINE__, "blocks config: %s", err);
    return c;
}

static float *host_copy(const Tensor *t) {
    float *h = malloc(sizeof(float) * tensor_numel(t));
    tensor_download(be_cpu(), t, h);
    return h;
}

// effnet_forward's block_out[], then effnet_forward_blocks' from the same seed of `drop`:
// equal bit for bit, and the blocks' forward takes `draws` uniforms from the stream (those of
// the layers it runs; none of the head's).
static void check_blocks_equal(EffNet *net, const Tensor *x, BNMode mode, int draws,
                               const char *what) {
    const Backend *be = be_cpu();
    int nb = net->cfg.nblocks;
    float *want[EFFNET_MAX_BLOCKS];
    int dims[EFFNET_MAX_BLOCKS][4];
    Rng drop = rng_new(31);
    effnet_forward(be, net, x, mode, &drop);
    for (int k = 0; k < nb; k++) {  // block_out[] are the layers' buffers: copy them out
        const Tensor *b = net->block_out[k];
        want[k] = host_copy(b);
        dims[k][0] = b->n, dims[k][1] = b->c, dims[k][2] = b->h, dims[k][3] = b->w;
    }
    drop = rng_new(31);
    const Tensor *last = effnet_forward_blocks(be, net, x, mode, &drop);
    T_CHECK(last == net->block_out[nb - 1], "%s: does not return the last block's map", what);
    for (int k = 0; k < nb; k++) {
        const Tensor *b = net->block_out[k];
        int same =
            b->n == dims[k][0] && b->c == dims[k][1] && b->h == dims[k][2] && b->w == dims[k][3];
        float *got = same ? host_copy(b) : NULL;
        T_CHECK(same && !memcmp(got, want[k], sizeof(float) * tensor_numel(b)),
                "%s: block %d differs from effnet_forward's", what, k);
        free(got);
        free(want[k]);
    }
    Rng ref = rng_new(31);
    for (int i = 0; i < draws; i++) rng_uniform(&ref);
    T_CHECK(rng_u32(&drop) == rng_u32(&ref), "%s: drop stream not left after %d draws", what,
            draws);
}

TEST(effnet_forward_blocks_matches_forward) {
    const Backend *be = be_cpu();
    EffNetCfg c = blocks_cfg();
    EffNet net;
    Rng rng = rng_new(800);
    effnet_init(be, &net, &c, 9, &rng);
    effnet_set_drop_connect(&net, 0.5f);
    Tensor x = tensor_new(be, 4, 3, 9, 9);
    t_fill_uniform(x.data, tensor_numel(&x), 801, -1.5f, 1.5f);
    check_blocks_equal(&net, &x, BN_TRAIN, 3 * 4, "train, drop-connect 0.5");
    float *dropped = host_copy(net.block_out[2]);
    effnet_forward_blocks(be, &net, &x, BN_TRAIN, NULL);
    T_CHECK(memcmp(dropped, net.block_out[2]->data, sizeof(float) * tensor_numel(net.block_out[2])),
            "drop-connect changed nothing: the case would test no draws");
    free(dropped);
    check_blocks_equal(&net, &x, BN_EVAL, 0, "eval");
    // effnet_cfg_validate lets no config end its blocks before the last stage; narrowing the
    // built network's config to two blocks makes effnet_forward_blocks skip stage 2's layers
    // (and their drop-connect draws), which effnet_forward still runs after block_out[1].
    net.cfg.nblocks = 2;
    check_blocks_equal(&net, &x, BN_TRAIN, 4, "cut after block 2, train");
    tensor_free(be, &x);
    effnet_free(be, &net);
}

typedef struct {
    EffNet net;
    Tensor x, r[EFFNET_MAX_BLOCKS];
    int use[EFFNET_MAX_BLOCKS];  // 0: dblock[k] = NULL, block k's map is not in L
} BlocksCase;

// L = sum over the used blocks k of sum r_k * block_out[k]
static double blocks_loss(void *p) {
    BlocksCase *g = p;
    effnet_forward_blocks(be_cpu(), &g->net, &g->x, BN_TRAIN, NULL);
    double l = 0;
    for (int k = 0; k < g->net.cfg.nblocks; k++)
        if (g->use[k]) l += gc_dot(g->r[k].data, g->net.block_out[k]->data, tensor_numel(&g->r[k]));
    return l;
}

// Analytic gradients from effnet_backward_blocks against finite differences of blocks_loss,
// for every parameter of effnet_block_params.
static void check_block_grads(BlocksCase *g, unsigned seed, const char *what) {
    const Backend *be = be_cpu();
    const Tensor *dblock[EFFNET_MAX_BLOCKS];
    for (int k = 0; k < g->net.cfg.nblocks; k++) dblock[k] = g->use[k] ? &g->r[k] : NULL;
    ParamList pl = {0};
    effnet_block_params(&g->net, &pl);
    effnet_forward_blocks(be, &g->net, &g->x, BN_TRAIN, NULL);
    params_zero_grad(be, &g->net.params);
    effnet_backward_blocks(be, &g->net, dblock);
    for (int i = 0; i < pl.n; i++) {
        Param *p = pl.p[i];
        size_t n = tensor_numel(&p->w);
        float *ana = host_copy(&p->g);
        char name[160];
        snprintf(name, sizeof name, "%s: %s", what, p->name);
        GcOpts o = gc_opts(seed + (unsigned)i);
        o.samples = 8;
        GC_CHECK(name, blocks_loss, g, p->w.data, n, ana, o);
        free(ana);
    }
    params_free(&pl);
}

// BN_TRAIN, no drop-connect: every block's map in L; then without block 0's (dblock[0] =
// NULL); then without the last block's (its layers get no gradient and are skipped).
// gradcheck.h's tolerances: L sums 416 map elements, so float rounding of the forward makes
// the numeric error ~1e-3 (it halves when h doubles: rounding, not truncation), at most 0.72
// of the tolerance over every coordinate (GRADCHECK_ALL=1). Dropping the dblock[k] of an
// inner boundary fails 8 of the sampled coordinates.
TEST(effnet_grad_blocks) {
    const Backend *be = be_cpu();
    EffNetCfg c = blocks_cfg();
    BlocksCase g = {.use = {1, 1, 1}};
    Rng rng = rng_new(900);
    effnet_init(be, &g.net, &c, 9, &rng);
    generic_params(&g.net.params, 910);
    g.x = tensor_new(be, 2, 3, 9, 9);
    t_fill_uniform(g.x.data, tensor_numel(&g.x), 901, -1.5f, 1.5f);
    effnet_forward_blocks(be, &g.net, &g.x, BN_TRAIN, NULL);
    for (int k = 0; k < c.nblocks; k++) {
        const Tensor *b = g.net.block_out[k];
        g.r[k] = tensor_new(be, b->n, b->c, b->h, b->w);
        t_fill_uniform(g.r[k].data, tensor_numel(&g.r[k]), 902 + (unsigned)k, -1.0f, 1.0f);
    }
    check_block_grads(&g, 920, "all blocks");
    g.use[0] = 0;
    check_block_grads(&g, 980, "dblock[0] NULL");
    g.use[0] = 1, g.use[2] = 0;
    check_block_grads(&g, 1040, "dblock[2] NULL");
    for (int k = 0; k < c.nblocks; k++) tensor_free(be, &g.r[k]);
    tensor_free(be, &g.x);
    effnet_free(be, &g.net);
}

static int has_param(const ParamList *l, const Param *p) {
    for (int i = 0; i < l->n; i++)
        if (l->p[i] == p) return 1;
    return 0;
}

// The blocks' parameters are net->params less the head's, in order; their batch norms and
// statistics are the stem's and the layers'; effnet_backward_blocks leaves the head alone.
static void check_block_lists(EffNet *net, int nparams, int nbns, const char *what) {
    ParamList bl = {0};
    effnet_block_params(net, &bl);
    T_CHECK(bl.n == nparams, "%s: %d block parameters, want %d", what, bl.n, nparams);
    for (int i = 0; i < bl.n && i < net->params.n; i++)
        T_CHECK(bl.p[i] == net->params.p[i], "%s: block parameter %d is %s, net->params has %s",
                what, i, bl.p[i]->name, net->params.p[i]->name);
    BatchNorm *bns[64];
    Tensor *stats[128];
    int nb = effnet_block_bns(net, bns, 64), ns = effnet_block_stats(net, stats, 128);
    T_CHECK(nb == nbns && ns == 2 * nbns, "%s: %d BNs and %d statistics, want %d and %d", what, nb,
            ns, nbns, 2 * nbns);
    for (int b = 0; b < nb && 2 * b + 1 < ns; b++) {
        T_CHECK(has_param(&bl, &bns[b]->gamma) && has_param(&bl, &bns[b]->beta),
                "%s: BN %d is not among the block parameters", what, b);
        T_CHECK(stats[2 * b] == &bns[b]->run_mean && stats[2 * b + 1] == &bns[b]->run_var,
                "%s: statistics %d are not BN %d's mean and var", what, 2 * b, b);
    }
    params_free(&bl);
}

TEST(effnet_block_params_exclude_the_head) {
    const Backend *be = be_cpu();
    EffNetCfg c = blocks_cfg();
    EffNet net;
    Rng rng = rng_new(1100);
    effnet_init(be, &net, &c, 9, &rng);
    // head: conv, BN weight and bias, classifier weight and bias
    T_CHECK(net.params.n == 57 + 5, "%d parameters, want 62", net.params.n);
    ParamList bl = {0};
    effnet_block_params(&net, &bl);
    long head = head_param_count(c.stage[2].cout, c.head, c.classes);
    T_CHECK((long)params_numel(&bl) + head == effnet_param_count(&c),
            "%zu block parameters + %ld of the head != %ld", params_numel(&bl), head,
            effnet_param_count(&c));
    params_free(&bl);
    // stem 3 tensors, layer 0 (no expand, SE) 10, layers 1-2 (SE) 13 each, 3-4 9 each;
    // BNs: stem 1, layer 0 two, the others three
    check_block_lists(&net, 57, 15, "3 blocks");
    Tensor x = tensor_new(be, 2, 3, 9, 9), r[3];
    const Tensor *dblock[3] = {&r[0], &r[1], &r[2]};
    t_fill_uniform(x.data, tensor_numel(&x), 1101, -1.0f, 1.0f);
    effnet_forward_blocks(be, &net, &x, BN_TRAIN, NULL);
    for (int k = 0; k < 3; k++) {
        const Tensor *b = net.block_out[k];
        r[k] = tensor_new(be, b->n, b->c, b->h, b->w);
        t_fill_uniform(r[k].data, tensor_numel(&r[k]), 1102 + (unsigned)k, -1.0f, 1.0f);
    }
    params_zero_grad(be, &net.params);
    effnet_backward_blocks(be, &net, dblock);
    for (int i = 57; i < net.params.n; i++) {
        const Tensor *gr = &net.params.p[i]->g;
        for (size_t j = 0; j < tensor_numel(gr); j++)
            if (gr->data[j] != 0.0f) {
                t_fail(__FILE__, __LINE__, "head parameter %s got a gradient",
                       net.params.p[i]->name);
                break;
            }
    }
    for (int k = 0; k < 3; k++) tensor_free(be, &r[k]);
    tensor_free(be, &x);
    net.cfg.nblocks = 2;  // cut after block 2 (see effnet_forward_blocks_matches_forward)
    check_block_lists(&net, 39, 9, "2 blocks");
    effnet_free(be, &net);
}

// ---------------------------------------------------------------- teacher.h5

// A teacher of `c` with every state tensor random (running variances positive).
static void random_teacher(const EffNetCfg *c, int in_hw, unsigned seed, Teacher *t) {
    Rng rng = rng_new(seed);
    *t = (Teacher){.in_hw = in_hw, .top1 = 0.625};
    effnet_init(be_cpu(), &t->net, c, in_hw, &rng);
    for (int i = 0; i < t->net.nstate; i++) {
        Tensor *x = t->net.state[i].t;
        int var = strstr(t->net.state[i].name, "running_var") != NULL;
        t_fill_uniform(x->data, tensor_numel(x), seed + 1 + (unsigned)i, var ? 0.2f : -1.0f,
                       var ? 2.0f : 1.0f);
    }
    for (int ch = 0; ch < c->cin; ch++) t->mean[ch] = 0.1 * (ch + 1), t->std[ch] = 0.3 + 0.01 * ch;
}

static void save(const Teacher *t, const char *path) {
    H5Prov prov = {.format = TEACHER_FORMAT, .backend = "cpu"};
    teacher_save(t, be_cpu(), &prov, path);
}

TEST(effnet_teacher_round_trip) {
    char dir[64], path[128];
    if (!make_tmpdir(dir)) return;
    snprintf(path, sizeof path, "%s/teacher.h5", dir);
    EffNetCfg c = tiny_cfg();
    c.dropout = 0.2f;
    Teacher a, b;
    random_teacher(&c, 11, 800, &a);
    save(&a, path);
    teacher_load(be_cpu(), path, &b);
    T_CHECK(cfg_same(&a.net.cfg, &b.net.cfg), "architecture changed");
    T_CHECK(b.in_hw == 11 && b.top1 == a.top1, "in_hw %d top1 %g", b.in_hw, b.top1);
    for (int ch = 0; ch < 3; ch++)
        T_CHECK(b.mean[ch] == a.mean[ch] && b.std[ch] == a.std[ch], "mean/std %d", ch);
    T_CHECK(a.net.nstate == b.net.nstate, "%d tensors, saved %d", b.net.nstate, a.net.nstate);
    for (int i = 0; i < a.net.nstate && i < b.net.nstate; i++) {
        const Tensor *x = a.net.state[i].t, *y = b.net.state[i].t;
        T_CHECK(!strcmp(a.net.state[i].name, b.net.state[i].name) && tensor_same_shape(x, y) &&
                    !memcmp(x->data, y->data, sizeof(float) * tensor_numel(x)),
                "'%s' not bitwise identical after save/load", a.net.state[i].name);
    }
    hid_t f = h5_open_read(path);
    T_CHECK(h5_read_attr_i64(f, "format_version", path) == TEACHER_FORMAT, "format_version");
    char *rev = h5_read_attr_str(f, "git_rev", path);
    T_CHECK(!strcmp(rev, "unknown"), "git_rev '%s', ctx_local's is 'unknown'", rev);
    free(rev);
    h5_close(f);
    // the temporary file was renamed, not left behind
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d));) entries += e->d_name[0] != '.';
    if (d) closedir(d);
    T_CHECK(entries == 1, "%d files in %s after one save", entries, dir);
    teacher_free(be_cpu(), &a);
    teacher_free(be_cpu(), &b);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void load_path(void *path) {
    Teacher t;
    teacher_load(be_cpu(), path, &t);
}

static hid_t open_rw(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    H5_CHECK(f, path);
    return f;
}

TEST(effnet_teacher_load_errors) {
    char dir[64], path[128], msg[512];
    if (!make_tmpdir(dir)) return;
    EffNetCfg a = tiny_cfg(), wide = a;
    wide.stage[0].cout = 6;  // first differing tensor: blocks.0.0.conv_pwl.weight
    Teacher t;

    // arch attribute of `a` over the weights of `wide`
    snprintf(path, sizeof path, "%s/swapped.h5", dir);
    random_teacher(&wide, 9, 810, &t);
    save(&t, path);
    teacher_free(be_cpu(), &t);
    hid_t f = open_rw(path);
    char *json = effnet_cfg_to_json(&a);
    h5_attr_str(f, "arch", json, path);
    free(json);
    H5Fclose(f);
    snprintf(msg, sizeof msg,
             "'%s': tensor 'blocks.0.0.conv_pwl.weight' has shape [6,4,1,1], expected [4,4,1,1]",
             path);
    T_EXPECT_DEATH(load_path, path, msg);

    // a transposed classifier, and a missing running variance
    snprintf(path, sizeof path, "%s/edited.h5", dir);
    random_teacher(&a, 9, 820, &t);
    save(&t, path);
    teacher_free(be_cpu(), &t);
    f = open_rw(path);
    H5_CHECK(H5Ldelete(f, "classifier.weight", H5P_DEFAULT), path);
    float w[8 * 3] = {0};
    h5_write(f, "classifier.weight", H5T_NATIVE_FLOAT, w, 2, (long[]){8, 3}, path);
    H5Fclose(f);
    snprintf(msg, sizeof msg, "'%s': tensor 'classifier.weight' has shape [8,3], expected [3,8]",
             path);
    T_EXPECT_DEATH(load_path, path, msg);
    f = open_rw(path);
    H5_CHECK(H5Ldelete(f, "bn2.running_var", H5P_DEFAULT), path);
    H5Fclose(f);
    snprintf(msg, sizeof msg, "'%s' has no tensor 'bn2.running_var'", path);
    T_EXPECT_DEATH(load_path, path, msg);

    // an arch attribute that is not JSON
    f = open_rw(path);
    h5_attr_str(f, "arch", "{\"stem\": 4", path);
    H5Fclose(f);
    snprintf(msg, sizeof msg, "'%s': architecture attribute is not valid JSON", path);
    T_EXPECT_DEATH(load_path, path, msg);

    // not HDF5 at all, and no file
    snprintf(path, sizeof path, "%s/text.h5", dir);
    FILE *fp = fopen(path, "w");
    if (fp) fputs("this is not an HDF5 file\n", fp), fclose(fp);
    snprintf(msg, sizeof msg, "'%s' is not a valid HDF5 file", path);
    T_EXPECT_DEATH(load_path, path, msg);
    snprintf(path, sizeof path, "%s/absent.h5", dir);
    snprintf(msg, sizeof msg, "cannot read '%s'", path);
    T_EXPECT_DEATH(load_path, path, msg);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

// EMA of the whole state: after three updates the shadow is the recursion computed here in
// double precision; a swap exchanges shadow and live state, a second one restores both.
TEST(ema_follows_the_recursion_and_swaps_back) {
    EffNetCfg c = tiny_cfg();
    EffNet net;
    Rng rng = rng_new(3);
    effnet_init(be_cpu(), &net, &c, 16, &rng);
    size_t total = 0;
    for (int i = 0; i < net.nstate; i++) total += tensor_numel(net.state[i].t);
    double *want = malloc(sizeof(double) * total);
    float *live = malloc(sizeof(float) * total);
    const float d = 0.9f;
    Ema e;
    ema_init(be_cpu(), &e, net.state, net.nstate, d);
    for (int i = 0, o = 0; i < net.nstate; o += (int)tensor_numel(net.state[i].t), i++)
        for (size_t j = 0; j < tensor_numel(net.state[i].t); j++)
            want[o + j] = net.state[i].t->data[j];
    for (int step = 1; step <= 3; step++) {
        for (int i = 0, o = 0; i < net.nstate; o += (int)tensor_numel(net.state[i].t), i++)
            for (size_t j = 0; j < tensor_numel(net.state[i].t); j++) {
                float v = (float)(0.01 * step * (double)((o + j) % 17) - 0.05);
                net.state[i].t->data[j] = v;
                want[o + j] = d * want[o + j] + (1.0 - d) * v;
            }
        ema_update(be_cpu(), &e);
    }
    for (int i = 0, o = 0; i < net.nstate; o += (int)tensor_numel(net.state[i].t), i++)
        memcpy(live + o, net.state[i].t->data, sizeof(float) * tensor_numel(net.state[i].t));
    double worst = 0;
    ema_swap(be_cpu(), &e);
    for (int i = 0, o = 0; i < net.nstate; o += (int)tensor_numel(net.state[i].t), i++)
        for (size_t j = 0; j < tensor_numel(net.state[i].t); j++) {
            // float32 against float64: abs 1e-6 + rel 1e-5 (initial weights reach ~1)
            double err =
                fabs(net.state[i].t->data[j] - want[o + j]) / (1e-6 + 1e-5 * fabs(want[o + j]));
            if (err > worst) worst = err;
        }
    T_CHECK(worst <= 1, "EMA differs from the recursion by %g of the tolerance", worst);
    ema_swap(be_cpu(), &e);
    int restored = 1;
    for (int i = 0, o = 0; i < net.nstate; o += (int)tensor_numel(net.state[i].t), i++)
        restored &=
            !memcmp(live + o, net.state[i].t->data, sizeof(float) * tensor_numel(net.state[i].t));
    T_CHECK(restored, "a second swap did not restore the live state");
    ema_free(be_cpu(), &e);
    effnet_free(be_cpu(), &net);
    free(want);
    free(live);
}
