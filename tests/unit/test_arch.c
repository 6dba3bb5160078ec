// Architectures: the cost model against torchvision's EfficientNet-B0, the per-block cost
// decomposition the search adds up, JSON round trip and the timm export.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/checked.h"
#include "core/config.h"
#include "harness.h"
#include "nas/arch.h"
#include "nas/bench.h"
#include "nas/rate.h"

// EfficientNet-B0 written as an architecture: one block per stage.
static Arch b0(void) {
    static const int r[7] = {1, 2, 2, 3, 3, 4, 1}, k[7] = {3, 3, 5, 3, 5, 5, 3},
                     s[7] = {1, 2, 2, 2, 1, 2, 1}, e[7] = {1, 6, 6, 6, 6, 6, 6},
                     c[7] = {16, 24, 40, 80, 112, 192, 320};
    Arch a = {.cin = 3,
              .in_hw = 224,
              .classes = 1000,
              .stem = 32,
              .stem_stride = 2,
              .head = 1280,
              .se_ratio = 0.25f,
              .nblocks = 7,
              .score = NAN};
    for (int i = 0; i < 7; i++) {
        a.block[i] = (ArchBlock){.width = c[i], .depth = r[i], .stride = s[i]};
        for (int l = 0; l < r[i]; l++) a.block[i].op[l] = (CellOp){k[i], e[i]};
    }
    return a;
}

// Convention: multiply-adds of every convolution (SE's two 1x1 convolutions included) and
// of the classifier; BN, activations, pooling and the SE gate are not counted.
TEST(arch_cost_efficientnet_b0) {
    Arch a = b0();
    T_CHECK(arch_params(&a) == 5288548, "B0: %ld parameters, torchvision counts 5288548",
            arch_params(&a));
    long m = arch_macs(&a);
    printf("     EfficientNet-B0 at 224x224: %ld parameters, %ld multiply-adds\n", arch_params(&a),
           m);
    T_CHECK(llround(m / 1e6) == 386, "B0: %.1fM multiply-adds, the paper says 0.39B", m / 1e6);
}

TEST(arch_timm_export_b0) {
    Arch a = b0();
    char *buf = arch_to_timm(&a);
    static const char *want[] = {"['ds_r1_k3_s1_e1_c16_se0.25']",  "['ir_r2_k3_s2_e6_c24_se0.25']",
                                 "['ir_r2_k5_s2_e6_c40_se0.25']",  "['ir_r3_k3_s2_e6_c80_se0.25']",
                                 "['ir_r3_k5_s1_e6_c112_se0.25']", "['ir_r4_k5_s2_e6_c192_se0.25']",
                                 "['ir_r1_k3_s1_e6_c320_se0.25']"};
    for (int i = 0; i < 7; i++) T_CHECK(strstr(buf, want[i]), "missing %s in\n%s", want[i], buf);
    free(buf);
}

// The default space: random choices; the stem + per-block costs (each read from the previous
// block's chosen width) + head must equal the whole network's count, and JSON must round-trip.
// The default config's teacher and search space.
static void default_space(EffNetCfg *t, int *in_hw, Space *sp) {
    Config cfg;
    config_load(&cfg, NULL, NULL, 0);
    effnet_cfg_from_config(&cfg, 1, t);
    *in_hw = (int)(cfg.data.image_size + 2 * cfg.data.pad);
    space_from_config(&cfg, t, *in_hw, sp);
}

TEST(arch_block_costs_add_up) {
    EffNetCfg t;
    int in_hw;
    Space sp;
    default_space(&t, &in_hw, &sp);
    unsigned long long x = 12345;
    for (int trial = 0; trial < 200; trial++) {
        int cell[SPACE_MAX_BLOCKS];
        long code[SPACE_MAX_BLOCKS];
        for (int k = 0; k < sp.nblocks; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            cell[k] = (int)((x >> 33) % (unsigned)sp.block[k].ncells);
            const CellCfg *c = &sp.block[k].cell[cell[k]];
            code[k] = (long)((x >> 13) % (unsigned long long)cell_path_count(c));
        }
        Arch a;
        arch_from_choice(&sp, &t, in_hw, cell, code, &a);
        long p, m, P, M;
        int hw = effnet_stem_hw(&t, in_hw);
        arch_base_cost(a.cin, a.stem, hw, &P, &M);
        int w = a.stem;
        for (int k = 0; k < sp.nblocks; k++) {
            arch_block_cost(&sp.block[k].cell[cell[k]], code[k], w, sp.block[k].cell_hw, &p, &m);
            P += p, M += m, w = a.block[k].width;
        }
        arch_tail_cost(w, a.head, a.classes, sp.block[sp.nblocks - 1].out_hw, &p, &m);
        P += p, M += m;
        T_CHECK(P == arch_params(&a) && M == arch_macs(&a), "trial %d: %ld/%ld vs %ld/%ld", trial,
                P, M, arch_params(&a), arch_macs(&a));
        a.score = 0.25 * trial;
        char *js = arch_to_json(&a, "{\"seed\": 1}");
        Arch b;
        arch_from_json(js, "test", &b);
        free(js);
        T_CHECK(arch_params(&b) == P && arch_macs(&b) == M && b.score == a.score &&
                    b.block[0].cell == a.block[0].cell && b.block[2].code == a.block[2].code,
                "trial %d: JSON round trip", trial);
    }
}

static void load_json(void *json) {
    Arch a;
    arch_from_json(json, "big.json", &a);
}

// Every field within its range, the network beyond the limits: its multiply-adds overflowed
// a long (found by tests/fuzz/fuzz_arch; tests/fuzz/corpus/arch/regress-macs-overflow.json).
TEST(arch_json_beyond_the_limits_is_refused) {
    T_EXPECT_DEATH(load_json,
                   "{\"format\":\"dnafam-arch\",\"in_channels\":64,\"image_size\":4096,"
                   "\"classes\":1000000,\"stem\":4096,\"stem_stride\":1,\"head\":100000,"
                   "\"se_ratio\":1,\"blocks\":[{\"cell\":1,\"path\":0,\"width\":100000,"
                   "\"stride\":1,\"layers\":[{\"kernel\":15,\"expansion\":16},"
                   "{\"kernel\":13,\"expansion\":16}]}]}",
                   "'big.json' describes a network this program cannot build");
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

// `dna bench`'s draw on the default space: deterministic, distinct, costs as the cost model
// counts them, and stratified: its cheapest and dearest picks lie beyond the 2nd and 98th
// percentiles of 2000 uniform draws, which 30 uniform draws would rarely reach.
TEST(bench_sample_spans_the_cost_range) {
    EffNetCfg t;
    int in_hw;
    Space sp;
    default_space(&t, &in_hw, &sp);
    Bench a, b;
    bench_sample(&sp, &t, in_hw, 30, 5, &a);
    bench_sample(&sp, &t, in_hw, 30, 5, &b);
    int B = sp.nblocks;
    T_CHECK(!memcmp(a.cell, b.cell, sizeof(int) * 30 * B) &&
                !memcmp(a.code, b.code, sizeof(long) * 30 * B),
            "same seed, same architectures");
    for (int i = 0; i < 30; i++) {
        Arch x;
        arch_from_choice(&sp, &t, in_hw, a.cell + i * B, a.code + i * B, &x);
        T_CHECK(a.params[i] == (double)arch_params(&x) && a.macs[i] == (double)arch_macs(&x),
                "arch %d: cost as counted", i);
        for (int j = 0; j < i; j++)
            T_CHECK(memcmp(a.cell + i * B, a.cell + j * B, sizeof(int) * B) ||
                        memcmp(a.code + i * B, a.code + j * B, sizeof(long) * B),
                    "archs %d and %d are the same", j, i);
    }
    long u[2000];
    unsigned long long s = 99;
    for (int i = 0; i < 2000; i++) {
        int cell[SPACE_MAX_BLOCKS];
        long code[SPACE_MAX_BLOCKS];
        for (int k = 0; k < B; k++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            cell[k] = (int)((s >> 33) % (unsigned)sp.block[k].ncells);
            code[k] =
                (long)((s >> 13) % (unsigned long long)cell_path_count(&sp.block[k].cell[cell[k]]));
        }
        Arch x;
        arch_from_choice(&sp, &t, in_hw, cell, code, &x);
        u[i] = arch_params(&x);
    }
    qsort(u, 2000, sizeof(long), cmp_long);
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < 30; i++) lo = fmin(lo, a.params[i]), hi = fmax(hi, a.params[i]);
    T_CHECK(lo <= (double)u[40] && hi >= (double)u[1960],
            "picks span %.0f..%.0f; uniform 2%%..98%%: %ld..%ld", lo, hi, u[40], u[1960]);
    bench_free(&a), bench_free(&b);
}

// ---- sizes (issue 17): 64-bit path counts and codes, checked products, the space's limit ---

TEST(sizes_checked_products) {
    T_CHECK(checked_mul_i64(6, 362797056, "x") == 2176782336LL, "6^12 computed wrong");
    T_CHECK(checked_pow_capped(6, 11, SPACE_MAX_PATHS) == 362797056, "6^11 under the cap");
    T_CHECK(checked_pow_capped(6, 12, SPACE_MAX_PATHS) == -1, "6^12 over the cap");
    T_CHECK(checked_pow_capped(16, 16, INT64_MAX) == -1, "16^16 overflows 64 bits");
    T_CHECK(checked_pow_capped(2, 29, SPACE_MAX_PATHS) == SPACE_MAX_PATHS, "the cap itself");
    CellCfg c = cell_cfg_default(8, 16, 16, 1);  // 6 ops x 16 layers: 2.8e12 paths
    T_CHECK(cell_path_count(&c) == 2821109907456LL, "6^16: %lld", (long long)cell_path_count(&c));
}

static void overflowing_count(void *arg) {
    (void)arg;
    CellCfg c = cell_cfg_default(8, 16, 16, 1);
    c.nops = 16;  // 16^16 = 2^64
    cell_path_count(&c);
}

TEST(sizes_path_count_overflow_is_fatal) {
    T_EXPECT_DEATH(overflowing_count, NULL,
                   "a cell's path count: 1152921504606846976 x 16 does "
                   "not fit in 64 bits");
}

// Codes past 2^31 decode, cost and survive arch.json (they used to be cut to int).
TEST(sizes_path_codes_are_64_bit) {
    int ops[CELL_MAX_LAYERS];
    arch_decode_path(2821109907455LL, 16, 6, ops);  // the last path of a 6^16 cell
    for (int l = 0; l < 16; l++) T_CHECK(ops[l] == 5, "layer %d: op %d, want 5", l, ops[l]);
    int64_t code = 3 * 470184984576LL + 7;  // 3 x 6^15 + 7: layer 0 op 3, ..., 1, 1 at the end
    arch_decode_path(code, 16, 6, ops);
    T_CHECK(ops[0] == 3 && ops[14] == 1 && ops[15] == 1 && ops[1] == 0, "digits of %lld",
            (long long)code);
    EffNetCfg t;
    int in_hw;
    Space sp;
    default_space(&t, &in_hw, &sp);
    for (int k = 0; k < sp.nblocks; k++) sp.block[k].cell[0].layers = 16;  // 6^16 paths each
    int cell[SPACE_MAX_BLOCKS] = {0};
    int64_t codes[SPACE_MAX_BLOCKS] = {code, 2821109907455LL, 5};
    Arch a;
    arch_from_choice(&sp, &t, in_hw, cell, codes, &a);
    T_CHECK(a.block[0].code == code && a.block[1].code == 2821109907455LL, "codes cut: %lld %lld",
            (long long)a.block[0].code, (long long)a.block[1].code);
    T_CHECK(a.block[0].op[0].k == sp.block[0].cell[0].ops[3].k &&
                a.block[0].op[0].expand == sp.block[0].cell[0].ops[3].expand,
            "layer 0 of block 1 is not op 3");
    char *json = arch_to_json(&a, NULL);
    Arch b;
    arch_from_json(json, "mem.json", &b);
    T_CHECK(b.block[0].code == code, "arch.json: path %lld came back as %lld", (long long)code,
            (long long)b.block[0].code);
    free(json);
    RateUnit u = {.depth = 1, .prefix = 5};
    T_CHECK(rate_unit_paths(&sp.block[0].cell[0], u) == 470184984576LL &&
                rate_unit_first(&sp.block[0].cell[0], u) == 5 * 470184984576LL,
            "a rating unit of a 6^16 cell");
}

static Config cfg_with(const char *block3, const char *block2) {
    Config cfg;
    char b3[128], b2[128];
    snprintf(b3, sizeof b3, "space.block3=%s", block3);
    snprintf(b2, sizeof b2, "space.block2=%s", block2);
    char *ov[2] = {b3, b2};
    config_load(&cfg, NULL, ov, 2);
    return cfg;
}

static void parse_space(void *arg) {
    Config *cfg = arg;
    EffNetCfg t;
    effnet_cfg_from_config(cfg, 1, &t);
    Space sp;
    space_from_config(cfg, &t, (int)(cfg->data.image_size + 2 * cfg->data.pad), &sp);
}

// The parser refuses a cell past SPACE_MAX_PATHS (naming it, its count and the limit), and a
// space whose cells add up past it; the largest accepted cell parses and counts exactly.
TEST(sizes_space_limit) {
    Config big = cfg_with("3x32 12x32", "3x32");
    T_EXPECT_DEATH(parse_space, &big,
                   "[space] block3 cell 2 (12x32, 6 ops) has 2176782336 paths (6^12), more than "
                   "the 536870912 that rating and search can hold");
    Config sum = cfg_with("11x32", "11x32");
    T_EXPECT_DEATH(parse_space, &sum,
                   "paths over all its cells, more than the 536870912 that "
                   "rating can gather");
    Config ok = cfg_with("11x32", "3x32");
    EffNetCfg t;
    effnet_cfg_from_config(&ok, 1, &t);
    Space sp;
    space_from_config(&ok, &t, (int)(ok.data.image_size + 2 * ok.data.pad), &sp);
    T_CHECK(space_block_paths(&sp, 2) == 362797056, "block 3: %lld paths",
            (long long)space_block_paths(&sp, 2));
}

// ---------------------------------------------------------------- ViT architectures
// Every architecture of inputs/fashion_mnist_vit.cfg's space: what the search adds up (the
// potentials' per-block stage costs, the head) is arch_params/arch_macs, is what the
// standalone network allocates, and survives arch.json.
TEST(arch_vit_costs_network_and_json) {
    Config cfg;
    config_load(&cfg, "inputs/fashion_mnist_vit.cfg", NULL, 0);
    EffNetCfg t;
    effnet_cfg_from_config(&cfg, 1, &t);
    int in_hw = (int)(cfg.data.image_size + 2 * cfg.data.pad);
    Space sp;
    space_from_config(&cfg, &t, in_hw, &sp);
    T_CHECK(sp.vit && sp.nblocks == 3 && space_total(&sp) == 5832, "the default ViT space");
    const Backend *be = backend_cpu();
    int built = 0;
    for (long n = 0; n < 5832; n += 97) {
        int cell[SPACE_MAX_BLOCKS] = {0};
        int64_t code[SPACE_MAX_BLOCKS] = {n % 18, n / 18 % 18, n / 324};
        Arch a;
        arch_from_choice(&sp, &t, in_hw, cell, code, &a);
        long P = 0, M = 0, p, m;
        for (int k = 0; k < 3; k++) {
            VitStageCfg v = vitcell_stage(&sp.block[k].vit, code[k]);
            P += vitstage_param_count(v), M += vitstage_macs(v);
        }
        arch_tail_cost(sp.block[2].out_c, t.head, t.classes, sp.block[2].out_hw, &p, &m);
        P += p, M += m;
        T_CHECK(a.vit && P == arch_params(&a) && M == arch_macs(&a), "arch %ld: %ld/%ld vs %ld/%ld",
                n, P, M, arch_params(&a), arch_macs(&a));
        VitNetCfg vc;
        arch_to_vitnet(&a, &vc);
        T_CHECK(vitnet_param_count(&vc) == P, "arch %ld: vitnet_param_count %ld, want %ld", n,
                vitnet_param_count(&vc), P);
        if (built++ < 3) {  // what the network allocates
            Rng rng = rng_new(1);
            VitNet net;
            vitnet_init(be, &net, &vc, &rng);
            T_CHECK((long)params_numel(&net.params) == P, "arch %ld: the network holds %zu", n,
                    params_numel(&net.params));
            vitnet_free(be, &net);
        }
        a.score = 0.5 * (double)n;
        char *js = arch_to_json(&a, NULL);
        Arch b;
        arch_from_json(js, "test", &b);
        free(js);
        char da[256], db[256];
        arch_describe(&a, da, sizeof da);
        arch_describe(&b, db, sizeof db);
        T_CHECK(b.vit && !strcmp(da, db) && arch_params(&b) == P && arch_macs(&b) == M &&
                    b.score == a.score && b.block[2].code == a.block[2].code,
                "arch %ld: JSON round trip: %s vs %s", n, da, db);
    }
}

static void broken_vit_json(void *arg) {
    (void)arg;
    Arch a;
    arch_from_json(
        "{\"format\": \"dnafam-arch\", \"kind\": \"vit\", \"in_channels\": 1, \"image_size\": 32, "
        "\"classes\": 10, \"head\": 32, \"blocks\": [{\"cell\": 1, \"path\": 0, \"width\": 32, "
        "\"depth\": 1, \"mlp_hidden\": 64, \"head_dim\": 16, \"in_channels\": 1, \"in_size\": 32, "
        "\"out_channels\": 24, \"out_size\": 8}, {\"cell\": 1, \"path\": 0, \"width\": 32, "
        "\"depth\": 1, \"mlp_hidden\": 64, \"head_dim\": 16, \"in_channels\": 20, \"in_size\": 8, "
        "\"out_channels\": 48, \"out_size\": 4}]}",
        "broken.json", &a);
}
TEST(arch_vit_json_blocks_must_chain) {
    T_EXPECT_DEATH(broken_vit_json, NULL, "ViT block 2 does not chain");
}
