// Parameter and multiply-add counts of the layers: consistent with the parameters a built
// layer really holds, and equal to published EfficientNet-B0 figures (torchvision's
// per-block parameter counts) and to hand-computed MACs.
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
