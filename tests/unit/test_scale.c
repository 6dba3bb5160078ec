// EfficientNet compound scaling (src/nas/scale.h) against torchvision: B0 scaled by each of
// torchvision's (width, depth) coefficients has exactly torchvision's parameter count for
// B1..B7 (tests/ref/effnet_scaling_ref.json and tests/ref/efficientnet_b0.arch.json, written
// by tests/ref/make_effnet_scaling_ref.py; the test binary runs from the repository root).
// Also the rounding rules by hand: widths (_make_divisible) and timm's depth distribution.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "io/arch.h"
#include "io/files.h"
#include "nas/scale.h"

static const char *const REF_PATH = "tests/ref/effnet_scaling_ref.json";
static const char *const B0_PATH = "tests/ref/efficientnet_b0.arch.json";

static double field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    T_CHECK(cJSON_IsNumber(v), "%s: no number '%s'", REF_PATH, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

TEST(scale_b0_gives_torchvision_b1_to_b7) {
    char *text = text_read(REF_PATH);
    T_CHECK(text, "cannot read %s (run from the repository root)", REF_PATH);
    if (!text) return;
    cJSON *ref = cJSON_Parse(text);
    free(text);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(ref, "models"), *m;
    T_CHECK(cJSON_GetArraySize(models) == 8, "%s: want B0..B7", REF_PATH);
    Arch b0, x;
    arch_load(B0_PATH, &b0);
    cJSON_ArrayForEach(m, models) {
        const char *name = cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring;
        ScaleCoef c = {field(m, "width"), field(m, "depth"), (int)field(m, "resolution")};
        long want = (long)field(m, "params");
        arch_scale(&b0, c, &x);
        printf("     %s: width %g depth %g at %d: %ld parameters (torchvision %ld), %ld MACs\n",
               name, c.width, c.depth, c.resolution, arch_params(&x), want, arch_macs(&x));
        T_CHECK(arch_params(&x) == want, "%s: %ld parameters, torchvision counts %ld", name,
                arch_params(&x), want);
        T_CHECK(x.in_hw == c.resolution, "%s: input %d, want %d", name, x.in_hw, c.resolution);
    }
    cJSON_Delete(ref);
}

// _make_divisible(channels x w, 8), worked by hand from the rule
TEST(scale_width_rounding) {
    static const struct {
        double ch, w;
        int want;
    } cases[] = {
        {32, 1.1, 32},      // 35.2 -> 32 (B2's stem stays 32)
        {40, 1.1, 48},      // 44, halfway between 40 and 48: up
        {112, 1.1, 120},    // 123.2 -> 120
        {192, 1.1, 208},    // 211.2 -> 208
        {1280, 1.1, 1408},  // 1408 exactly
        {32, 1.2, 40},      // 38.4 -> 40
        {320, 2.0, 640},    // B7's last block
        {20, 0.5, 16},      // 10 -> 8, below 90% of 10: + 8
        {4, 0.5, 8},        // 2 -> 0: at least 8
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        T_CHECK(scale_width(cases[i].ch, cases[i].w) == cases[i].want, "%g x %g: %d, want %d",
                cases[i].ch, cases[i].w, scale_width(cases[i].ch, cases[i].w), cases[i].want);
}

// timm's _scale_stage_depth, worked by hand: from the last run backwards, each run gets
// round(its share of what is left), Python's round (half to even)
TEST(scale_depth_runs_as_timm) {
    static const struct {
        int n, runs[3];
        double d;
        int want[3], sum;
    } cases[] = {
        {2, {1, 2}, 1.5, {2, 3}, 5},         // 4.5 -> 5; round(2/3 x 5) = 3, then 2
        {3, {2, 1, 1}, 1.2, {3, 1, 1}, 5},   // 4.8 -> 5; round(1.25), round(1.33), 3
        {2, {1, 1}, 2.5, {3, 2}, 5},         // round(2.5) = 2 (half to even), then 3
        {3, {1, 2, 1}, 3.1, {3, 7, 3}, 13},  // 12.4 -> 13
        {3, {1, 1, 1}, 0.5, {1, 1, 1}, 3},   // each run keeps at least 1
        {1, {4}, 3.1, {13}, 13},             // one run: ceil(4 x 3.1)
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int out[3];
        int sum = scale_depth_runs(cases[i].runs, cases[i].n, cases[i].d, out);
        T_CHECK(sum == cases[i].sum, "case %zu: %d layers, want %d", i, sum, cases[i].sum);
        for (int r = 0; r < cases[i].n; r++)
            T_CHECK(out[r] == cases[i].want[r], "case %zu run %d: %d, want %d", i, r, out[r],
                    cases[i].want[r]);
    }
}

// A searched-looking block of two runs (e3k3, then e6k5 x 2) x depth 1.5: [2, 3] layers, in
// order; the width, stem and head scaled, the stride and SE kept.
TEST(scale_multi_run_block) {
    Arch a = {.cin = 1,
              .in_hw = 32,
              .classes = 10,
              .stem = 16,
              .stem_stride = 2,
              .head = 128,
              .se_ratio = 0.25f,
              .nblocks = 1,
              .score = 1.5};
    a.block[0] = (ArchBlock){.cell = 2,
                             .code = 19,
                             .width = 24,
                             .depth = 3,
                             .stride = 2,
                             .op = {{3, 3}, {5, 6}, {5, 6}}};
    Arch x;
    arch_scale(&a, (ScaleCoef){1.4, 1.5, 48}, &x);
    static const CellOp want[5] = {{3, 3}, {3, 3}, {5, 6}, {5, 6}, {5, 6}};
    T_CHECK(x.block[0].depth == 5, "depth %d, want 5", x.block[0].depth);
    for (int l = 0; l < 5 && l < x.block[0].depth; l++)
        T_CHECK(x.block[0].op[l].k == want[l].k && x.block[0].op[l].expand == want[l].expand,
                "layer %d: e%dk%d", l, x.block[0].op[l].expand, x.block[0].op[l].k);
    T_CHECK(x.block[0].width == 32 && x.stem == 24 && x.head == 176 && x.in_hw == 48,
            "widths %d/%d/%d, input %d", x.block[0].width, x.stem, x.head, x.in_hw);
    T_CHECK(x.block[0].stride == 2 && x.block[0].cell == 2 && x.block[0].code == 19 &&
                x.se_ratio == 0.25f && isnan(x.score),
            "stride, provenance, SE and score");
}

// (1, 1) and no resolution: the same network
TEST(scale_identity) {
    Arch b0, x;
    arch_load(B0_PATH, &b0);
    arch_scale(&b0, (ScaleCoef){1, 1, 0}, &x);
    T_CHECK(arch_params(&x) == arch_params(&b0) && arch_macs(&x) == arch_macs(&b0),
            "%ld params, %ld MACs; B0 has %ld, %ld", arch_params(&x), arch_macs(&x),
            arch_params(&b0), arch_macs(&b0));
    T_CHECK(x.stem == b0.stem && x.head == b0.head && x.in_hw == b0.in_hw, "stem, head, input");
    for (int k = 0; k < b0.nblocks; k++)
        T_CHECK(
            x.block[k].width == b0.block[k].width && x.block[k].depth == b0.block[k].depth &&
                !memcmp(x.block[k].op, b0.block[k].op, sizeof(CellOp) * (size_t)b0.block[k].depth),
            "block %d differs", k + 1);
}

static void scale_b0(void *coef) {
    Arch b0, x;
    arch_load(B0_PATH, &b0);
    arch_scale(&b0, *(ScaleCoef *)coef, &x);
}

// B0's 4-layer block 6 x depth 5 = 20 layers, beyond CELL_MAX_LAYERS; width 8 x depth 4: over
// the parameter limit of effnet.h
TEST(scale_beyond_the_limits_is_refused) {
    ScaleCoef deep = {1, 5, 0}, big = {8, 4, 0};
    T_EXPECT_DEATH(scale_b0, &deep,
                   "scale: block 6 would have 20 layers (4 x depth 5), at most 16");
    T_EXPECT_DEATH(scale_b0, &big,
                   "scale: the scaled network is beyond what this program can build");
}
