// Parameter and multiply-add counts of the layers: consistent with the parameters a built
// layer really holds, and equal to published EfficientNet-B0 figures (torchvision's
// per-block parameter counts) and to hand-computed MACs.
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "gradcheck.h"
#include "harness.h"
#include "nas/cell.h"

static long built_params(MBConvCfg cfg) {
    const Backend *be = backend_cpu();
    Rng r = rng_new(0);
    MBConv m;
    mbconv_init(be, &m, cfg, &r);
    ParamList l = {0};
    mbconv_params(&m, &l);
    long n = (long)params_numel(&l);
    params_free(&l);
    mbconv_free(be, &m);
    return n;
}

TEST(counts_match_built_layers) {
    MBConvCfg cfgs[] = {{24, 40, 5, 6, 2, 0.25f},
                        {40, 40, 7, 3, 1, 0.25f},
                        {32, 16, 3, 1, 1, 0.25f},
                        {16, 24, 3, 6, 2, 0.0f},
                        {7, 9, 3, 4, 1, 0.1f}};
    for (int i = 0; i < 5; i++)
        T_CHECK(mbconv_param_count(cfgs[i]) == built_params(cfgs[i]),
                "cfg %d: counted %ld, built %ld", i, mbconv_param_count(cfgs[i]),
                built_params(cfgs[i]));
    const Backend *be = backend_cpu();
    Rng r = rng_new(0);
    Head h;
    head_init(be, &h, 40, 128, 10, &r);
    ParamList l = {0};
    head_params(&h, &l);
    T_CHECK(head_param_count(40, 128, 10) == (long)params_numel(&l), "head count");
    params_free(&l);
    head_free(be, &h);
}

TEST(counts_efficientnet_b0_blocks) {
    // torchvision efficientnet_b0: stem (features.0) 928 parameters; features.1.0
    // (MB1 k3, 32->16, SE 8) 1,448; features.2.0 (MB6 k3 s2, 16->24, SE 4) 6,004; head conv
    // 320->1280 + BN 412,160 and classifier 1,281,000 (= head 1,693,160).
    T_CHECK(convbn_param_count(3, 32, 3, 1) == 928, "stem");
    T_CHECK(mbconv_param_count((MBConvCfg){32, 16, 3, 1, 1, 0.25f}) == 1448, "MB1 block");
    T_CHECK(mbconv_param_count((MBConvCfg){16, 24, 3, 6, 2, 0.25f}) == 6004, "MB6 block");
    T_CHECK(head_param_count(320, 1280, 1000) == 412160 + 1281000, "head");
    // MACs of features.2.0 at 112x112 input: expand 112*112*16*96 = 19,267,584; depthwise
    // 56*56*96*9 = 2,709,504; SE 2*96*4 = 768; project 56*56*96*24 = 7,225,344.
    T_CHECK(mbconv_macs((MBConvCfg){16, 24, 3, 6, 2, 0.25f}, 112, 112) == 29203200L, "MB6 MACs %ld",
            mbconv_macs((MBConvCfg){16, 24, 3, 6, 2, 0.25f}, 112, 112));
    // head at 7x7: 49*320*1280 + 1280*1000
    T_CHECK(head_macs(320, 1280, 1000, 7, 7) == 49L * 320 * 1280 + 1280L * 1000, "head MACs");
}

TEST(counts_cell_paths) {
    CellCfg c = cell_cfg_default(24, 40, 4, 2);
    T_CHECK(cell_path_count(&c) == 1296, "6^4 paths");
}

// A cell narrower than the teacher: cin -> width ... width -> cout (doc/design.md §4, Table 1).
TEST(cell_inner_width) {
    const Backend *be = backend_cpu();
    CellCfg cfg = cell_cfg_default(8, 16, 3, 2);
    cfg.width = 12;
    MBConvCfg l0 = cell_layer_cfg(&cfg, 0, 4), l1 = cell_layer_cfg(&cfg, 1, 0),
              l2 = cell_layer_cfg(&cfg, 2, 5);
    T_CHECK(l0.cin == 8 && l0.cout == 12 && l0.stride == 2 && l0.k == 5 && l0.expand == 3,
            "layer 0: 8 -> 12, stride 2, e3k5");
    T_CHECK(l1.cin == 12 && l1.cout == 12 && l1.stride == 1, "layer 1: 12 -> 12");
    T_CHECK(l2.cin == 12 && l2.cout == 16 && l2.k == 7, "layer 2: 12 -> 16");
    Rng r = rng_new(5);
    Cell c;
    cell_init(be, &c, cfg, &r);
    Tensor x = tensor_new(be, 2, 8, 8, 8);
    int path[3] = {4, 0, 5};
    const Tensor *y = cell_forward(be, &c, path, &x, BN_TRAIN);
    T_CHECK(y->n == 2 && y->c == 16 && y->h == 4 && y->w == 4, "output [2,16,4,4], got [%d,%d,%d,%d]",
            y->n, y->c, y->h, y->w);
    ParamList pl = {0};
    cell_path_params(&c, path, &pl);
    long want = mbconv_param_count(l0) + mbconv_param_count(l1) + mbconv_param_count(l2);
    T_CHECK((long)params_numel(&pl) == want, "path parameters %zu, want %ld", params_numel(&pl),
            want);
    params_free(&pl);
    tensor_free(be, &x);
    cell_free(be, &c);
    CellCfg same = cell_cfg_default(8, 16, 2, 1);  // width 0: every layer as wide as cout
    T_CHECK(cell_layer_cfg(&same, 0, 0).cout == 16 && cell_layer_cfg(&same, 1, 0).cin == 16,
            "width 0 means cout");
}

// A block-1 cell with a stem: forward shape, and the stem's and path's gradients against
// finite differences (the stem needs layer 0's input gradient, which stem-less cells skip).
typedef struct StemCase {
    Cell *c;
    const int *path;
    Tensor *x;
    const float *r;
} StemCase;

static double stem_loss(void *arg) {
    StemCase *s = arg;
    const Tensor *y = cell_forward(backend_cpu(), s->c, s->path, s->x, BN_TRAIN);
    return gc_dot(s->r, y->data, tensor_numel(y));
}

TEST(cell_stem_gradients) {
    const Backend *be = backend_cpu();
    CellCfg cfg = cell_cfg_default(1, 6, 2, 2);
    cfg.width = 4, cfg.stem = 3, cfg.stem_stride = 2;
    Rng rng = rng_new(77);
    Cell c;
    cell_init(be, &c, cfg, &rng);
    int path[2] = {3, 1};
    Tensor x = tensor_new(be, 2, 1, 8, 8);
    t_fill_uniform(x.data, tensor_numel(&x), 78, -1, 1);
    const Tensor *y = cell_forward(be, &c, path, &x, BN_TRAIN);
    T_CHECK(y->c == 6 && y->h == 2 && y->w == 2, "8x8 -> stem s2 -> 4x4 -> cell s2 -> 2x2");
    float *r = malloc(sizeof(float) * tensor_numel(y));
    t_fill_uniform(r, tensor_numel(y), 79, -1, 1);
    Tensor dy = tensor_new(be, y->n, y->c, y->h, y->w);
    memcpy(dy.data, r, sizeof(float) * tensor_numel(y));
    ParamList pl = {0};
    cell_path_params(&c, path, &pl);
    T_CHECK(pl.p[0] == &c.stem.w, "the stem's parameters lead the path's list");
    params_zero_grad(be, &pl);
    // need_dx: a one-shot supernet chains cells, so dL/dx (through the stem) is checked too
    const Tensor *dx = cell_backward(be, &c, path, &dy, 1);
    StemCase sc = {&c, path, &x, r};
    T_CHECK(dx && dx->c == 1 && dx->h == 8, "need_dx returns the input's gradient");
    float *dxa = malloc(sizeof(float) * tensor_numel(&x));
    memcpy(dxa, dx->data, sizeof(float) * tensor_numel(&x));
    GC_CHECK("cell dx (stem)", stem_loss, &sc, x.data, tensor_numel(&x), dxa, gc_opts(99));
    free(dxa);
    for (int i = 0; i < pl.n; i++) {
        Param *p = pl.p[i];
        float *ana = malloc(sizeof(float) * tensor_numel(&p->g));
        memcpy(ana, p->g.data, sizeof(float) * tensor_numel(&p->g));
        GC_CHECK(p->name, stem_loss, &sc, p->w.data, tensor_numel(&p->w), ana, gc_opts(80 + i));
        free(ana);
    }
    params_free(&pl);
    free(r);
    tensor_free(be, &x), tensor_free(be, &dy);
    cell_free(be, &c);
}

// A cell without a stem: dL/dx comes out of layer 0's MBConv; need_dx 0 returns NULL.
TEST(cell_input_gradient) {
    const Backend *be = backend_cpu();
    CellCfg cfg = cell_cfg_default(3, 6, 2, 2);
    cfg.width = 4;
    Rng rng = rng_new(91);
    Cell c;
    cell_init(be, &c, cfg, &rng);
    int path[2] = {5, 0};
    Tensor x = tensor_new(be, 2, 3, 6, 6);
    t_fill_uniform(x.data, tensor_numel(&x), 92, -1, 1);
    const Tensor *y = cell_forward(be, &c, path, &x, BN_TRAIN);
    float *r = malloc(sizeof(float) * tensor_numel(y));
    t_fill_uniform(r, tensor_numel(y), 93, -1, 1);
    Tensor dy = tensor_new(be, y->n, y->c, y->h, y->w);
    memcpy(dy.data, r, sizeof(float) * tensor_numel(y));
    T_CHECK(cell_backward(be, &c, path, &dy, 0) == NULL, "need_dx 0 returns no dx");
    const Tensor *dx = cell_backward(be, &c, path, &dy, 1);
    float *dxa = malloc(sizeof(float) * tensor_numel(&x));
    memcpy(dxa, dx->data, sizeof(float) * tensor_numel(&x));
    StemCase sc = {&c, path, &x, r};
    GC_CHECK("cell dx", stem_loss, &sc, x.data, tensor_numel(&x), dxa, gc_opts(94));
    free(dxa), free(r);
    tensor_free(be, &x), tensor_free(be, &dy);
    cell_free(be, &c);
}
