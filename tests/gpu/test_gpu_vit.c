// ViT stages on both backends, built with the same seed (weights are drawn on the host and
// uploaded, so both start bit-identical): a sliced subnet's forward, backward and gradients,
// given back to the supernet, with DropPath (its mask is drawn on the host). This covers the
// transformer ops inside a whole layer: embedding conv, transpose, positional embedding,
// LayerNorm, QKV / projection / MLP linears, attention, GELU, the output linear.
// Tolerances as the cell tests' (test_gpu_cell.c): per tensor, relative L2 1e-5 on outputs,
// 1e-4 on gradients, with an rms floor of 1e-7 for values that are 0 in exact arithmetic.
#include <stdio.h>

#include "core/rng.h"
#include "gpu_test.h"
#include "nn/vitstage.h"

static void compare_grads(VitStage *g, VitStage *c, const char *tag) {
    ParamList pg = {0}, pc = {0};
    vitstage_params(g, &pg);
    vitstage_params(c, &pc);
    char what[160];
    for (int i = 0; i < pc.n; i++) {
        snprintf(what, sizeof what, "%s %s grad", tag, pc.p[i]->name);
        T_REL_L2(&pg.p[i]->g, &pc.p[i]->g, 1e-4, 1e-7, what);
    }
    params_free(&pg), params_free(&pc);
}

static void check_stage(VitStageCfg full, VitStageCfg sub_cfg, int N, unsigned seed) {
    Rng rc = rng_new(seed), rg = rng_new(seed);
    VitStage fc, fg, sc, sg;
    vitstage_init(cpu(), &fc, full, &rc);
    vitstage_init(gpu(), &fg, full, &rg);
    vitstage_init(cpu(), &sc, full, &rc);
    vitstage_init(gpu(), &sg, full, &rg);
    for (int i = 0; i < full.depth; i++) fc.blk[i].drop_path = fg.blk[i].drop_path = 0.25f;
    vitstage_slice(cpu(), &fc, &sc, sub_cfg);
    vitstage_slice(gpu(), &fg, &sg, sub_cfg);
    Tensor x = h_rand(N, full.cin, full.in_hw, full.in_hw, seed + 1, -1, 1);
    Tensor dy = h_rand(N, full.cout, full.out_hw, full.out_hw, seed + 2, -1, 1);
    Tensor gx = d_of(&x), gdy = d_of(&dy);
    VitStageCache cc = {0}, cg = {0};
    Rng dc = rng_new(seed + 3), dg = rng_new(seed + 3);
    const Tensor *yc = vitstage_forward(cpu(), &sc, &cc, &x, &dc);
    const Tensor *yg = vitstage_forward(gpu(), &sg, &cg, &gx, &dg);
    T_REL_L2(yg, yc, 1e-5, 1e-7, "stage output");
    ParamList pc = {0}, pg = {0};
    vitstage_params(&sc, &pc), vitstage_params(&sg, &pg);
    params_zero_grad(cpu(), &pc), params_zero_grad(gpu(), &pg);
    params_free(&pc), params_free(&pg);
    const Tensor *dxc = vitstage_backward(cpu(), &sc, &cc, &dy, 1);
    const Tensor *dxg = vitstage_backward(gpu(), &sg, &cg, &gdy, 1);
    T_REL_L2(dxg, dxc, 1e-4, 1e-7, "stage dx");
    compare_grads(&sg, &sc, "subnet");
    vitstage_params(&fc, &pc), vitstage_params(&fg, &pg);
    params_zero_grad(cpu(), &pc), params_zero_grad(gpu(), &pg);
    params_free(&pc), params_free(&pg);
    vitstage_unslice_grads(cpu(), &sc, &fc);
    vitstage_unslice_grads(gpu(), &sg, &fg);
    compare_grads(&fg, &fc, "supernet");
    vitstage_cache_free(cpu(), &cc), vitstage_cache_free(gpu(), &cg);
    vitstage_free(cpu(), &fc), vitstage_free(gpu(), &fg);
    vitstage_free(cpu(), &sc), vitstage_free(gpu(), &sg);
    h_free(&x), h_free(&dy), d_free(&gx), d_free(&gdy);
}

// block 1 of the default ViT space (patch 4 on 32x32, 64 tokens), a subnet of 2 of 3 blocks
TEST(gpu_vit_stage_patch) {
    check_stage((VitStageCfg){1, 32, 24, 8, .dim = 64, .hidden = 256, .depth = 3, .head_dim = 16},
                (VitStageCfg){1, 32, 24, 8, .dim = 48, .hidden = 144, .depth = 2, .head_dim = 16},
                6, 1800);
}
// where the teacher halves the resolution; the whole supernet as its own subnet
TEST(gpu_vit_stage_stride2_full) {
    check_stage((VitStageCfg){24, 8, 48, 4, .dim = 32, .hidden = 96, .depth = 2, .head_dim = 16},
                (VitStageCfg){24, 8, 48, 4, .dim = 32, .hidden = 96, .depth = 2, .head_dim = 16}, 5,
                1810);
}
