// The pre-norm transformer block and the ViT stage against PyTorch (tests/ref/make_vit_ref.py
// writes the fixture tests/ref/vit_ref.h5; the test binary runs from the repository root).
// Per case: load the weights into ours, forward -> y, backward of a given dy -> dx and every
// parameter gradient, compared with PyTorch's float64 results; and our parameter and
// multiply-add counts against PyTorch's parameters and its hook-counted MACs, for those
// cases and for stages of DeiT-Tiny's and DeiT-Small's shapes.
#include <stdio.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "harness.h"
#include "io/h5.h"
#include "io/weights.h"
#include "nas/arch.h"
#include "nn/tfblock.h"
#include "nn/vitstage.h"

static const char *const REF_PATH = "tests/ref/vit_ref.h5";

// |ours - torch| <= ATOL + RTOL |torch|, as for MBConv (test_torch_ref.c): float32 rounding
// grown by two LayerNorm backwards (means of O(1) terms cancel), softmax and sums over up to
// 34 rows and 80 hidden units; a wrong formula (scale by dh instead of sqrt(dh), the tanh
// GELU, a biased/unbiased mix-up, a head split along the wrong axis) fails by far more.
#define ATOL 1e-4
#define RTOL 1e-3

static long read_attr(hid_t f, const char *group, const char *name) {
    long v = 0;
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    H5_CHECK(g, REF_PATH);
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    H5_CHECK(a, REF_PATH);
    H5_CHECK(H5Aread(a, H5T_NATIVE_LONG, &v), REF_PATH);
    H5Aclose(a);
    H5Gclose(g);
    return v;
}

static float *ref_read(hid_t f, const char *group, const char *name, size_t want_n, long dims[8]) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", group, name);
    size_t n = 0;
    float *buf = h5_read_f32(f, REF_PATH, path, &n, NULL, dims);
    T_CHECK(want_n == 0 || n == want_n, "%s: fixture has %zu values, ours %zu", path, n, want_n);
    return buf;
}

static double compare(const Backend *be, hid_t f, const char *group, const char *name,
                      const Tensor *t) {
    size_t n = tensor_numel(t);
    float *want = ref_read(f, group, name, n, NULL), *got = dna_malloc(n * sizeof(float));
    tensor_download(be, t, got);
    char what[256];
    snprintf(what, sizeof what, "%s/%s", group, name);
    double e = T_NEAR_ARRAY(got, want, n, ATOL, RTOL, what);
    free(got);
    free(want);
    return e;
}

static Tensor load(const Backend *be, hid_t f, const char *group, const char *name) {
    long d[8] = {0};
    float *h = ref_read(f, group, name, 0, d);
    Tensor t = d[3] ? tensor_new(be, (int)d[0], (int)d[1], (int)d[2], (int)d[3])
                    : tensor_new(be, (int)d[0], (int)d[1], 1, (int)d[2]);  // tokens [N, T, D]
    tensor_upload(be, &t, h);
    free(h);
    return t;
}

// The layer's weights from <group>/param, then forward, backward and every gradient against
// the fixture; returns the worst |ours - torch|.
typedef struct RefLayer {
    const Tensor *(*fwd)(void *layer, void *cache, const Tensor *x);
    const Tensor *(*bwd)(void *layer, void *cache, const Tensor *dy);
    void *layer, *cache;
    ParamList ps;
} RefLayer;

static void run_layer(hid_t f, const char *group, RefLayer *rl) {
    const Backend *be = backend_cpu();
    char name[128];
    for (int i = 0; i < rl->ps.n; i++) {
        snprintf(name, sizeof name, "param/%s", rl->ps.p[i]->name);
        float *v = ref_read(f, group, name, tensor_numel(&rl->ps.p[i]->w), NULL);
        tensor_upload(be, &rl->ps.p[i]->w, v);
        free(v);
    }
    Tensor x = load(be, f, group, "x"), dy = load(be, f, group, "dy");
    double worst = compare(be, f, group, "y", rl->fwd(rl->layer, rl->cache, &x));
    params_zero_grad(be, &rl->ps);
    double e = compare(be, f, group, "dx", rl->bwd(rl->layer, rl->cache, &dy));
    worst = e > worst ? e : worst;
    for (int i = 0; i < rl->ps.n; i++) {
        snprintf(name, sizeof name, "grad/%s", rl->ps.p[i]->name);
        e = compare(be, f, group, name, &rl->ps.p[i]->g);
        worst = e > worst ? e : worst;
    }
    printf("     %s: max |ours - torch| = %.3g over y, dx and %d gradients\n", group, worst,
           rl->ps.n);
    T_CHECK((long)params_numel(&rl->ps) == read_attr(f, group, "params"),
            "%s: we build %zu parameters, PyTorch %ld", group, params_numel(&rl->ps),
            read_attr(f, group, "params"));
    tensor_free(be, &x);
    tensor_free(be, &dy);
}

static const Tensor *block_f(void *l, void *c, const Tensor *x) {
    return tfblock_forward(backend_cpu(), l, c, x, NULL);
}
static const Tensor *block_b(void *l, void *c, const Tensor *dy) {
    return tfblock_backward(backend_cpu(), l, c, dy);
}

static void block_case(const char *group) {
    const Backend *be = backend_cpu();
    hid_t f = h5_open_read(REF_PATH);
    TfBlockCfg cfg = {.dim = (int)read_attr(f, group, "dim"),
                      .heads = (int)read_attr(f, group, "heads"),
                      .hidden = (int)read_attr(f, group, "hidden")};
    Rng rng = rng_new(7);
    TfBlock l;
    TfBlockCache c = {0};
    tfblock_init(be, &l, cfg, &rng);
    RefLayer rl = {.fwd = block_f, .bwd = block_b, .layer = &l, .cache = &c};
    tfblock_params(&l, &rl.ps);
    run_layer(f, group, &rl);
    T_CHECK(tfblock_param_count(cfg) == read_attr(f, group, "params"),
            "%s: tfblock_param_count %ld, PyTorch %ld", group, tfblock_param_count(cfg),
            read_attr(f, group, "params"));
    long xd[8] = {0};
    free(ref_read(f, group, "x", 0, xd));  // [N, T, dim]
    long macs = tfblock_macs(cfg, (int)xd[1]);
    T_CHECK(macs == read_attr(f, group, "macs"), "%s: tfblock_macs %ld, PyTorch's hooks %ld", group,
            macs, read_attr(f, group, "macs"));
    params_free(&rl.ps);
    tfblock_cache_free(be, &c);
    tfblock_free(be, &l);
    h5_close(f);
}

static VitStageCfg stage_cfg(hid_t f, const char *group) {
    return (VitStageCfg){.cin = (int)read_attr(f, group, "cin"),
                         .in_hw = (int)read_attr(f, group, "in_hw"),
                         .cout = (int)read_attr(f, group, "cout"),
                         .out_hw = (int)read_attr(f, group, "out_hw"),
                         .dim = (int)read_attr(f, group, "dim"),
                         .hidden = (int)read_attr(f, group, "hidden"),
                         .depth = (int)read_attr(f, group, "depth"),
                         .head_dim = (int)read_attr(f, group, "head_dim")};
}

static void check_counts(hid_t f, const char *group, VitStageCfg cfg) {
    long p = read_attr(f, group, "params"), m = read_attr(f, group, "macs");
    T_CHECK(vitstage_param_count(cfg) == p, "%s: vitstage_param_count %ld, PyTorch %ld", group,
            vitstage_param_count(cfg), p);
    T_CHECK(vitstage_macs(cfg) == m, "%s: vitstage_macs %ld, PyTorch's hooks %ld", group,
            vitstage_macs(cfg), m);
    printf("     %s: %ld parameters, %ld MACs per image (ours and PyTorch's)\n", group, p, m);
}

static const Tensor *stage_f(void *l, void *c, const Tensor *x) {
    return vitstage_forward(backend_cpu(), l, c, x, NULL);
}
static const Tensor *stage_b(void *l, void *c, const Tensor *dy) {
    return vitstage_backward(backend_cpu(), l, c, dy, 1);
}

static void stage_case(const char *group) {
    const Backend *be = backend_cpu();
    hid_t f = h5_open_read(REF_PATH);
    VitStageCfg cfg = stage_cfg(f, group);
    Rng rng = rng_new(7);
    VitStage l;
    VitStageCache c = {0};
    vitstage_init(be, &l, cfg, &rng);
    RefLayer rl = {.fwd = stage_f, .bwd = stage_b, .layer = &l, .cache = &c};
    vitstage_params(&l, &rl.ps);
    run_layer(f, group, &rl);
    check_counts(f, group, cfg);
    params_free(&rl.ps);
    vitstage_cache_free(be, &c);
    vitstage_free(be, &l);
    h5_close(f);
}

// the counts of a stage too large for stored tensors, and the parameters we build for it
static void count_case(const char *group) {
    const Backend *be = backend_cpu();
    hid_t f = h5_open_read(REF_PATH);
    VitStageCfg cfg = stage_cfg(f, group);
    check_counts(f, group, cfg);
    Rng rng = rng_new(7);
    VitStage l;
    vitstage_init(be, &l, cfg, &rng);
    ParamList ps = {0};
    vitstage_params(&l, &ps);
    T_CHECK((long)params_numel(&ps) == read_attr(f, group, "params"),
            "%s: we build %zu parameters, PyTorch %ld", group, params_numel(&ps),
            read_attr(f, group, "params"));
    params_free(&ps);
    vitstage_free(be, &l);
    h5_close(f);
}

TEST(torch_ref_tfblock_small) {
    block_case("block_small");
}
TEST(torch_ref_tfblock_head32) {
    block_case("block_head32");
}
TEST(torch_ref_tfblock_one_token) {
    block_case("block_one_token");
}
TEST(torch_ref_vitstage_patch) {
    stage_case("stage_patch");
}
TEST(torch_ref_vitstage_stride2) {
    stage_case("stage_stride2");
}
TEST(torch_ref_vit_counts_deit_tiny) {
    count_case("count_deit_tiny");
}
TEST(torch_ref_vit_counts_deit_small) {
    count_case("count_deit_small");
}

// ---------------------------------------------------------------- the PyTorch export
// tools/vit_torch.py builds a searched ViT as a PyTorch module and loads dna's weights by
// name; tests/ref/vit_export_ref.h5 is such a module's weights (in retrain.h5's layout), its
// arch.json and its eval-mode logits. Ours, built from the same arch.json with those weights,
// must give the same logits.
TEST(torch_ref_vit_export_logits) {
    const char *path = "tests/ref/vit_export_ref.h5";
    const Backend *be = backend_cpu();
    hid_t f = h5_open_read(path);
    char *json = h5_read_attr_str(f, "arch", path);
    Arch a;
    arch_from_json(json, path, &a);
    free(json);
    VitNetCfg cfg;
    arch_to_vitnet(&a, &cfg);
    Rng rng = rng_new(1);
    VitNet net;
    vitnet_init(be, &net, &cfg, &rng);
    weights_read(f, path, be, net.state, net.nstate);
    long d[8] = {0};
    float *xh = h5_read_f32(f, path, "ref/input", NULL, NULL, d);
    Tensor x = tensor_new(be, (int)d[0], (int)d[1], (int)d[2], (int)d[3]);
    tensor_upload(be, &x, xh);
    free(xh);
    size_t n = 0;
    float *want = h5_read_f32(f, path, "ref/logits", &n, NULL, NULL);
    const Tensor *lg = vitnet_forward(be, &net, &x, BN_EVAL, NULL);
    T_CHECK(tensor_numel(lg) == n, "%zu logits, the fixture has %zu", tensor_numel(lg), n);
    double e = T_NEAR_ARRAY(lg->data, want, n, 1e-4, 1e-4, "logits of the exported ViT");
    printf("     export: max |ours - torch| = %.3g over %zu logits\n", e, n);
    free(want);
    tensor_free(be, &x);
    vitnet_free(be, &net);
    h5_close(f);
}
