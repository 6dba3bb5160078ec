// NASWOT (src/nas/naswot.h) and the activation capture it reads (effnet_each_activation):
// the kernel and its log-determinant on a case worked by hand and against numpy
// (tests/ref/naswot_ref.json, tests/ref/make_naswot_ref.py; tests run from the repository
// root), singular kernels, the captured layers being the swish outputs whose signs are the
// pre-activations' on a tiny network (and, on a tiny ViT, every transformer block's GELU
// output and the head's swish), and the same score from the same seed.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "harness.h"
#include "io/files.h"
#include "nas/naswot.h"
#include "nn/effnet.h"
#include "nn/vitnet.h"

static const char *const REF_PATH = "tests/ref/naswot_ref.json";

// 3 images, 4 units in two layers of 2. Codes 1100, 1010, 0001: Hamming 2 (1-2), 3 (1-3),
// 3 (2-3), so K = [[4,2,1],[2,4,1],[1,1,4]] and det K = 4*15 - 2*7 + 1*(2-4) = 44.
TEST(naswot_hand_case) {
    const float l1[] = {0.5f, 2.0f, 1.0f, 0.0f, -1.0f, -0.25f};  // 0 is not active
    const float l2[] = {-3.0f, -0.1f, 0.7f, -2.0f, 0.0f, 9.0f};
    NaswotKernel k;
    naswot_init(&k, 3);
    naswot_add(&k, l1, 2);
    naswot_add(&k, l2, 2);
    double K[9], want[9] = {4, 2, 1, 2, 4, 1, 1, 1, 4};
    naswot_matrix(&k, K);
    T_CHECK(k.units == 4, "units %ld, want 4", k.units);
    for (int i = 0; i < 9; i++) T_CHECK(K[i] == want[i], "K[%d] = %g, want %g", i, K[i], want[i]);
    T_NEAR(naswot_score(&k), log(44.0), 1e-14, 1e-14, "log det K");
    naswot_free(&k);
}

// Two images with the same code give two equal rows: the determinant is exactly 0.
TEST(naswot_singular) {
    const float a[] = {1, -1, 1, 0.5f, 0.5f, -2, 1, -1, 3};  // images 1 and 3 share a code
    NaswotKernel k;
    naswot_init(&k, 3);
    T_CHECK(naswot_score(&k) == -INFINITY, "no units: want -inf");
    naswot_add(&k, a, 3);
    T_CHECK(naswot_score(&k) == -INFINITY, "duplicate codes: got %g, want -inf", naswot_score(&k));
    naswot_free(&k);
    double z[4] = {1, 2, 2, 4};  // rank 1
    T_CHECK(naswot_logdet(z, 2) == -INFINITY, "rank-1 2x2: want -inf");
}

static double *json_matrix(const cJSON *rows, int n) {
    double *m = calloc((size_t)n * n, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            m[i * n + j] = cJSON_GetArrayItem(cJSON_GetArrayItem(rows, i), j)->valuedouble;
    return m;
}

// numpy's kernel (x x^T + (1-x)(1-x)^T per layer) and slogdet on random activations.
TEST(naswot_numpy_reference) {
    char *text = text_read(REF_PATH);
    T_CHECK(text, "cannot read %s (run from the repository root)", REF_PATH);
    if (!text) return;
    cJSON *ref = cJSON_Parse(text);
    free(text);
    int b = cJSON_GetObjectItem(ref, "b")->valueint;
    NaswotKernel k;
    naswot_init(&k, b);
    const cJSON *layer;
    cJSON_ArrayForEach(layer, cJSON_GetObjectItem(ref, "layers")) {
        int n = cJSON_GetArraySize(cJSON_GetArrayItem(layer, 0));
        float *a = malloc(sizeof(float) * (size_t)b * n);
        for (int i = 0; i < b; i++)
            for (int u = 0; u < n; u++)
                a[i * n + u] =
                    (float)cJSON_GetArrayItem(cJSON_GetArrayItem(layer, i), u)->valuedouble;
        naswot_add(&k, a, n);
        free(a);
    }
    double *want = json_matrix(cJSON_GetObjectItem(ref, "K"), b);
    double *K = malloc(sizeof(double) * (size_t)b * b);
    naswot_matrix(&k, K);
    int bad = 0;
    for (int i = 0; i < b * b; i++) bad += K[i] != want[i];
    T_CHECK(bad == 0, "%d of %d kernel entries differ from numpy's", bad, b * b);
    T_NEAR(naswot_score(&k), cJSON_GetObjectItem(ref, "logdet")->valuedouble, 0, 1e-12,
           "log det K against numpy's slogdet");
    const cJSON *g = cJSON_GetObjectItem(ref, "general");
    int n = cJSON_GetObjectItem(g, "n")->valueint;
    double *A = json_matrix(cJSON_GetObjectItem(g, "A"), n);
    T_CHECK(cJSON_GetObjectItem(g, "sign")->valuedouble < 0, "the fixture's general case");
    T_NEAR(naswot_logdet(A, n), cJSON_GetObjectItem(g, "logabsdet")->valuedouble, 0, 1e-12,
           "log|det A| of a matrix with negative determinant");
    free(A), free(K), free(want);
    naswot_free(&k);
    cJSON_Delete(ref);
}

// A tiny network: expansion 1 (no expand conv) then expansion 3, SE in both.
static EffNetCfg tiny_cfg(void) {
    EffNetCfg c = {.cin = 3,
                   .stem = 4,
                   .stem_stride = 2,
                   .head = 8,
                   .classes = 3,
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

typedef struct Seen {
    const Tensor *t[64];
    int n;
    NaswotKernel *k;
} Seen;

static void seen_add(const Tensor *act, void *user) {
    Seen *s = user;
    if (s->n < 64) s->t[s->n] = act;
    s->n++;
    if (s->k) naswot_add(s->k, act->data, (long)(tensor_numel(act) / (size_t)act->n));
}

// Units of a ConvBN whose sign differs from its recomputed pre-activation
// z = gamma (a - mean) invstd + beta, and the active units counted from z; units with |z| below
// 1e-4 are left out (float rounding could flip them), *skipped counts them.
static long convbn_mismatch(const ConvBN *l, const ConvBNCache *c, long *active, long *skipped) {
    const Tensor *a = &c->a, *o = &c->out;
    size_t hw = (size_t)a->h * a->w;
    long bad = 0;
    for (int n = 0; n < a->n; n++)
        for (int ch = 0; ch < a->c; ch++)
            for (size_t i = 0; i < hw; i++) {
                size_t at = ((size_t)n * a->c + ch) * hw + i;
                double z = (double)l->bn.gamma.w.data[ch] * (a->data[at] - c->mean.data[ch]) *
                               c->invstd.data[ch] +
                           l->bn.beta.w.data[ch];
                if (fabs(z) < 1e-4) {
                    ++*skipped;
                    continue;
                }
                *active += z > 0;
                bad += (z > 0) != (o->data[at] > 0.0f);
            }
    return bad;
}

static void random_bn(const Backend *be, BatchNorm *bn, Rng *r) {
    (void)be;  // CPU: host memory
    for (int i = 0; i < bn->gamma.w.n; i++) {
        bn->gamma.w.data[i] = 0.5f + rng_uniform(r);
        bn->beta.w.data[i] = rng_uniform(r) - 0.5f;  // not all units half active
    }
}

TEST(naswot_capture_is_every_swish) {
    const Backend *be = backend_cpu();
    EffNetCfg cfg = tiny_cfg();
    EffNet net;
    Rng r = rng_new(5);
    effnet_init(be, &net, &cfg, 16, &r);
    random_bn(be, &net.stem.bn, &r);
    for (int l = 0; l < net.nlayers; l++) {
        MBConv *m = &net.layers[l];
        if (m->has_expand) random_bn(be, &m->expand.bn, &r);
        random_bn(be, &m->dw.bn, &r);
    }
    random_bn(be, &net.head.conv.bn, &r);
    Tensor x = tensor_new(be, 6, 3, 16, 16);
    t_fill_uniform(x.data, tensor_numel(&x), 3, -1.0f, 1.0f);
    effnet_forward(be, &net, &x, BN_TRAIN, NULL);
    NaswotKernel k;
    naswot_init(&k, 6);
    Seen s = {.k = &k};
    effnet_each_activation(&net, seen_add, &s);
    // the expected layers, in network order
    const Tensor *want[64];
    const ConvBN *conv[64];
    const ConvBNCache *cache[64];
    int n = 0;
    conv[n] = &net.stem, cache[n] = &net.stem_c, want[n++] = &net.stem_c.out;
    for (int l = 0; l < net.nlayers; l++) {
        MBConv *m = &net.layers[l];
        MBConvCache *c = &net.layer_c[l];
        if (m->has_expand) conv[n] = &m->expand, cache[n] = &c->ex, want[n++] = &c->ex.out;
        conv[n] = &m->dw, cache[n] = &c->dw, want[n++] = &c->dw.out;
        conv[n] = NULL, cache[n] = NULL, want[n++] = &c->se.rs;
    }
    conv[n] = &net.head.conv, cache[n] = &net.head_c.conv, want[n++] = &net.head_c.conv.out;
    T_CHECK(s.n == n, "%d activation layers visited, want %d (stem, expand, dw, SE, head)", s.n, n);
    long units = 0, active = 0, skipped = 0, bad = 0, counted = 0;
    for (int i = 0; i < n && i < s.n; i++) {
        T_CHECK(s.t[i] == want[i], "layer %d is not the expected activation", i);
        units += (long)(tensor_numel(want[i]) / 6);
        if (conv[i]) {
            T_CHECK(conv[i]->act == ACT_SWISH, "layer %d is not a swish", i);
            bad += convbn_mismatch(conv[i], cache[i], &active, &skipped);
        } else {  // SE: r is the pre-activation of rs = swish(r)
            const Tensor *pre = &net.layer_c[0].se.r;
            for (int l = 0; l < net.nlayers; l++)
                if (&net.layer_c[l].se.rs == want[i]) pre = &net.layer_c[l].se.r;
            for (size_t u = 0; u < tensor_numel(pre); u++) {
                if (fabsf(pre->data[u]) < 1e-4f) {
                    skipped++;
                    continue;
                }
                active += pre->data[u] > 0.0f;
                bad += (pre->data[u] > 0.0f) != (want[i]->data[u] > 0.0f);
            }
        }
        for (size_t u = 0; u < tensor_numel(s.t[i]); u++) counted += s.t[i]->data[u] > 0.0f;
    }
    T_CHECK(k.units == units, "N_A %ld, want %ld", k.units, units);
    T_CHECK(bad == 0, "%ld units whose captured sign is not their pre-activation's", bad);
    T_CHECK(skipped < units * 6 / 100, "%ld of %ld units too close to 0 to judge", skipped,
            units * 6);
    T_CHECK(labs(counted - active) <= skipped, "%ld active units captured, %ld recomputed", counted,
            active);
    T_CHECK(active > units * 6 / 10 && active < units * 6 * 9 / 10,
            "%ld of %ld units active: the case should be mixed", active, units * 6);
    // the kernel's diagonal is N_A, and K is symmetric with entries in [0, N_A]
    double *K = malloc(sizeof(double) * 36);
    naswot_matrix(&k, K);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            T_CHECK(K[i * 6 + j] == K[j * 6 + i] && K[i * 6 + j] >= 0 && K[i * 6 + j] <= units,
                    "K[%d][%d] = %g", i, j, K[i * 6 + j]);
            if (i == j) T_CHECK(K[i * 6 + i] == units, "K[%d][%d] = %g", i, i, K[i * 6 + i]);
        }
    T_CHECK(isfinite(naswot_score(&k)), "score %g", naswot_score(&k));
    free(K);
    naswot_free(&k);
    tensor_free(be, &x);
    effnet_free(be, &net);
}

static double score_at(uint64_t seed, const Tensor *x) {
    const Backend *be = backend_cpu();
    EffNetCfg cfg = tiny_cfg();
    EffNet net;
    Rng r = rng_new(seed);
    effnet_init(be, &net, &cfg, 16, &r);
    effnet_forward(be, &net, x, BN_TRAIN, NULL);
    NaswotKernel k;
    naswot_init(&k, x->n);
    Seen s = {.k = &k};
    effnet_each_activation(&net, seen_add, &s);
    double v = naswot_score(&k);
    naswot_free(&k);
    effnet_free(be, &net);
    return v;
}

TEST(naswot_same_seed_same_score) {
    const Backend *be = backend_cpu();
    Tensor x = tensor_new(be, 8, 3, 16, 16);
    t_fill_uniform(x.data, tensor_numel(&x), 9, -1.0f, 1.0f);
    double a = score_at(7, &x), b = score_at(7, &x), c = score_at(8, &x);
    T_CHECK(isfinite(a) && a == b, "seed 7 twice: %.17g and %.17g", a, b);
    T_CHECK(c != a, "seeds 7 and 8 give the same score %.17g", a);
    tensor_free(be, &x);
}

// A ViT (two stages of depths 2 and 1, then the head): the capture is every transformer
// block's GELU output in order, then the head's swish, and each GELU unit's sign is its
// input's (fc1's output), which is what makes it a NASWOT unit.
TEST(naswot_capture_vit) {
    const Backend *be = backend_cpu();
    VitNetCfg cfg = {.nblocks = 2, .head = 6, .classes = 4};
    cfg.stage[0] = (VitStageCfg){3, 8, 5, 4, .dim = 8, .hidden = 16, .depth = 2, .head_dim = 4};
    cfg.stage[1] = (VitStageCfg){5, 4, 6, 2, .dim = 4, .hidden = 8, .depth = 1, .head_dim = 2};
    Rng r = rng_new(6);
    VitNet net;
    vitnet_init(be, &net, &cfg, &r);
    Tensor x = tensor_new(be, 5, 3, 8, 8);
    t_fill_uniform(x.data, tensor_numel(&x), 4, -1.0f, 1.0f);
    vitnet_forward(be, &net, &x, BN_TRAIN, NULL);
    NaswotKernel k;
    naswot_init(&k, 5);
    Seen s = {.k = &k};
    vitnet_each_activation(&net, seen_add, &s);
    const Tensor *want[8], *pre[8];
    int n = 0;
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < cfg.stage[b].depth; i++)
            pre[n] = &net.sc[b].blk[i].f1, want[n++] = &net.sc[b].blk[i].g;
    want[n++] = &net.hc.conv.out;
    T_CHECK(s.n == n, "%d activation layers visited, want %d (3 GELUs, the head)", s.n, n);
    long units = 0, bad = 0, active = 0, judged = 0;
    for (int i = 0; i < n && i < s.n; i++) {
        T_CHECK(s.t[i] == want[i], "layer %d is not the expected activation", i);
        units += (long)(tensor_numel(want[i]) / 5);
        if (i == n - 1) break;  // the head's swish: naswot_capture_is_every_swish covers it
        for (size_t u = 0; u < tensor_numel(pre[i]); u++) {
            if (fabsf(pre[i]->data[u]) < 1e-4f) continue;
            judged++, active += pre[i]->data[u] > 0.0f;
            bad += (pre[i]->data[u] > 0.0f) != (want[i]->data[u] > 0.0f);
        }
    }
    T_CHECK(units == 16 * 16 * 2 + 4 * 8 + 6 * 2 * 2, "units %ld",
            units);  // T x hidden x depth, head
    T_CHECK(k.units == units, "N_A %ld, want %ld", k.units, units);
    T_CHECK(bad == 0, "%ld GELU units whose sign is not their input's", bad);
    T_CHECK(active > judged / 5 && active < judged * 4 / 5, "%ld of %ld active: want a mix", active,
            judged);
    T_CHECK(isfinite(naswot_score(&k)), "score %g", naswot_score(&k));
    naswot_free(&k);
    tensor_free(be, &x);
    vitnet_free(be, &net);
}
