// MBConv forward and backward against PyTorch (tests/ref/make_mbconv_ref.py writes the
// fixture tests/ref/mbconv_ref.h5; the test binary runs from the repository root). For each
// case: load the weights into our layer, training-mode forward (batch statistics) -> y,
// backward of a given dy -> dx and every parameter gradient, the BN running stats after
// that forward, then an eval-mode forward with given running stats.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "harness.h"
#include "io/h5.h"
#include "nn/mbconv.h"

static const char *const REF_PATH = "tests/ref/mbconv_ref.h5";

// Tolerance |ours - torch| <= ATOL + RTOL |torch|. The reference is float64 from the same
// float32-exact inputs; ours is float32 throughout, so the floor is float32 rounding
// (~6e-8 relative) grown by the depth of the graph: three batch norms whose backward
// subtracts means of O(1) terms (cancellation loses a few bits), channel sums of up to
// N*H*W = 300 terms in the weight gradients, and gradients of magnitude up to ~60. 1e-3
// relative is ~10^4 float32 ulps: loose enough for summation order, tight enough that a
// wrong formula (biased vs unbiased variance, a missing SE term, a padding or stride
// offset) fails by orders of magnitude. 1e-4 absolute covers elements whose true value is
// near zero after such cancellation.
#define ATOL 1e-4
#define RTOL 1e-3

static double worst_err;  // max |ours - torch| over all comparisons, reported per case

static int read_int_attr(hid_t g, const char *name) {
    int v = 0;
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    H5_CHECK(a, REF_PATH);
    H5_CHECK(H5Aread(a, H5T_NATIVE_INT, &v), REF_PATH);
    H5Aclose(a);
    return v;
}

static float read_float_attr(hid_t g, const char *name) {
    float v = 0;
    hid_t a = H5Aopen(g, name, H5P_DEFAULT);
    H5_CHECK(a, REF_PATH);
    H5_CHECK(H5Aread(a, H5T_NATIVE_FLOAT, &v), REF_PATH);
    H5Aclose(a);
    return v;
}

// Reads <group>/<name>; checks its element count when want_n > 0.
static float *ref_read(hid_t f, const char *group, const char *name, size_t want_n, long dims[8]) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", group, name);
    size_t n = 0;
    float *buf = h5_read_f32(f, REF_PATH, path, &n, NULL, dims);
    T_CHECK(want_n == 0 || n == want_n, "%s: fixture has %zu values, ours %zu", path, n, want_n);
    return buf;
}

// Compares a backend tensor (CPU: host memory) with <group>/<name>.
static void compare(const Backend *be, hid_t f, const char *group, const char *name,
                    const Tensor *t) {
    size_t n = tensor_numel(t);
    float *want = ref_read(f, group, name, n, NULL);
    float *got = dna_malloc(n * sizeof(float));
    tensor_download(be, t, got);
    char what[256];
    snprintf(what, sizeof what, "%s/%s", group, name);
    double e = T_NEAR_ARRAY(got, want, n, ATOL, RTOL, what);
    if (e > worst_err) worst_err = e;
    if (getenv("TORCH_REF_VERBOSE")) printf("     %-40s max abs err %.3g\n", what, e);
    free(got);
    free(want);
}

static void load(const Backend *be, hid_t f, const char *group, const char *name, Tensor *t) {
    float *v = ref_read(f, group, name, tensor_numel(t), NULL);
    tensor_upload(be, t, v);
    free(v);
}

// Our SE parameters are named without the "se." prefix the fixture (PyTorch) uses.
static void file_name(MBConv *l, Param *p, char *out, size_t cap) {
    int in_se = l->has_se && (p == &l->se.rw || p == &l->se.rb || p == &l->se.ew || p == &l->se.eb);
    snprintf(out, cap, "%s%s", in_se ? "se." : "", p->name);
}

static BatchNorm *bn_of(MBConv *l, int i) {
    return i == 0 ? &l->expand.bn : i == 1 ? &l->dw.bn : &l->proj.bn;
}

static void load_running(const Backend *be, MBConv *l, hid_t f, const char *group,
                         const char *which) {
    char name[128];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s/bn%d.running_mean", which, i + 1);
        load(be, f, group, name, &bn_of(l, i)->run_mean);
        snprintf(name, sizeof name, "%s/bn%d.running_var", which, i + 1);
        load(be, f, group, name, &bn_of(l, i)->run_var);
    }
}

static hsize_t group_size(hid_t f, const char *path) {
    H5G_info_t info = {0};
    hid_t g = H5Gopen2(f, path, H5P_DEFAULT);
    H5_CHECK(g, REF_PATH);
    H5_CHECK(H5Gget_info(g, &info), REF_PATH);
    H5Gclose(g);
    return info.nlinks;
}

// the three BNs' running mean/var against "<prefix>/bn<i>.running_{mean,var}"
static void compare_running(const Backend *be, hid_t f, const char *group, MBConv *l,
                            const char *prefix) {
    char name[128];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s/bn%d.running_mean", prefix, i + 1);
        compare(be, f, group, name, &bn_of(l, i)->run_mean);
        snprintf(name, sizeof name, "%s/bn%d.running_var", prefix, i + 1);
        compare(be, f, group, name, &bn_of(l, i)->run_var);
    }
}

static void run_case(const char *group) {
    const Backend *be = backend_cpu();
    hid_t f = h5_open_read(REF_PATH);
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    H5_CHECK(g, REF_PATH);
    MBConvCfg cfg = {.cin = read_int_attr(g, "cin"),
                     .cout = read_int_attr(g, "cout"),
                     .k = read_int_attr(g, "k"),
                     .expand = read_int_attr(g, "expand"),
                     .stride = read_int_attr(g, "stride"),
                     .se_ratio = read_float_attr(g, "se_ratio")};
    H5Gclose(g);
    worst_err = 0;

    Rng rng = rng_new(7);
    MBConv l;
    mbconv_init(be, &l, cfg, &rng);
    T_CHECK(l.has_expand && l.has_se, "%s: the fixture cases have an expand conv and SE", group);
    ParamList ps = {0};
    mbconv_params(&l, &ps);
    char pgroup[64];
    snprintf(pgroup, sizeof pgroup, "%s/param", group);
    T_CHECK(group_size(f, pgroup) == (hsize_t)ps.n, "%s: fixture has %d parameters, ours %d", group,
            (int)group_size(f, pgroup), ps.n);
    char name[128], fname[96];
    for (int i = 0; i < ps.n; i++) {
        file_name(&l, ps.p[i], fname, sizeof fname);
        snprintf(name, sizeof name, "param/%s", fname);
        load(be, f, group, name, &ps.p[i]->w);
    }
    // initial running stats: ours must start where PyTorch's do (0 / 1)
    compare_running(be, f, group, &l, "init");

    // training-mode forward
    long xd[8] = {0}, dyd[8] = {0};
    float *xh = ref_read(f, group, "x", 0, xd);
    Tensor x = tensor_new(be, (int)xd[0], (int)xd[1], (int)xd[2], (int)xd[3]);
    tensor_upload(be, &x, xh);
    free(xh);
    MBConvCache c = {0};
    const Tensor *y = mbconv_forward(be, &l, &c, &x, BN_TRAIN, NULL);
    float *dyh = ref_read(f, group, "dy", 0, dyd);
    T_CHECK(y->n == dyd[0] && y->c == dyd[1] && y->h == dyd[2] && y->w == dyd[3],
            "%s: output [%d,%d,%d,%d], fixture [%ld,%ld,%ld,%ld]", group, y->n, y->c, y->h, y->w,
            dyd[0], dyd[1], dyd[2], dyd[3]);
    compare(be, f, group, "y_train", y);

    // backward
    Tensor dy = tensor_new(be, (int)dyd[0], (int)dyd[1], (int)dyd[2], (int)dyd[3]);
    tensor_upload(be, &dy, dyh);
    free(dyh);
    params_zero_grad(be, &ps);
    const Tensor *dx = mbconv_backward(be, &l, &c, &dy, 1);
    compare(be, f, group, "dx", dx);
    for (int i = 0; i < ps.n; i++) {
        file_name(&l, ps.p[i], fname, sizeof fname);
        snprintf(name, sizeof name, "grad/%s", fname);
        compare(be, f, group, name, &ps.p[i]->g);
    }
    compare_running(be, f, group, &l, "running_after");

    // eval-mode forward with the fixture's running stats
    load_running(be, &l, f, group, "running_eval");
    y = mbconv_forward(be, &l, &c, &x, BN_EVAL, NULL);
    compare(be, f, group, "y_eval", y);
    printf("     %s: max |ours - torch| = %.3g\n", group, worst_err);

    mbconv_cache_free(be, &c);
    tensor_free(be, &x);
    tensor_free(be, &dy);
    params_free(&ps);
    mbconv_free(be, &l);
    h5_close(f);
}

TEST(torch_ref_mbconv_s2_se) {
    run_case("s2");
}
TEST(torch_ref_mbconv_residual) {
    run_case("res");
}
