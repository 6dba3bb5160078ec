// Supernet cell: construction, path forward/backward, path parameters.
#include "nas/cell.h"

#include <stdlib.h>

#include "core/checked.h"
#include "core/error.h"

CellCfg cell_cfg_default(int cin, int cout, int layers, int stride) {
    CellCfg c = {
        .cin = cin, .cout = cout, .layers = layers, .stride = stride, .nops = 6, .se_ratio = 0.25f};
    static const CellOp ops[6] = {{3, 6}, {5, 6}, {7, 6}, {3, 3}, {5, 3}, {7, 3}};
    for (int i = 0; i < 6; i++) c.ops[i] = ops[i];
    return c;
}

MBConvCfg cell_layer_cfg(const CellCfg *cfg, int layer, int op) {
    int w = cfg->width > 0 ? cfg->width : cfg->cout;
    return (MBConvCfg){.cin = layer ? w : cfg->stem > 0 ? cfg->stem : cfg->cin,
                       .cout = layer == cfg->layers - 1 ? cfg->cout : w,
                       .k = cfg->ops[op].k,
                       .expand = cfg->ops[op].expand,
                       .stride = layer ? 1 : cfg->stride,
                       .se_ratio = cfg->se_ratio};
}

void cell_init(const Backend *be, Cell *c, CellCfg cfg, Rng *rng) {
    DNA_CHECK(cfg.layers >= 1 && cfg.layers <= CELL_MAX_LAYERS && cfg.nops >= 1 &&
                  cfg.nops <= CELL_MAX_OPS,
              "a cell has 1..16 layers and 1..16 candidate ops", "bad cell: %d layers, %d ops",
              cfg.layers, cfg.nops);
    *c = (Cell){.cfg = cfg};
    if (cfg.stem > 0) {
        Rng r = rng_split(rng, (uint64_t)CELL_MAX_LAYERS * CELL_MAX_OPS);
        stem_init(be, &c->stem, cfg.cin, cfg.stem, cfg.stem_stride, &r);
    }
    c->ops = dna_calloc((size_t)cfg.layers * cfg.nops, sizeof(MBConv));
    c->cache = dna_calloc((size_t)cfg.layers, sizeof(MBConvCache));
    for (int i = 0; i < cfg.layers; i++)
        for (int j = 0; j < cfg.nops; j++) {
            MBConvCfg m = cell_layer_cfg(&cfg, i, j);
            Rng r = rng_split(rng, (uint64_t)i * CELL_MAX_OPS + j);  // independent of build order
            mbconv_init(be, cell_op(c, i, j), m, &r);
        }
}

void cell_free(const Backend *be, Cell *c) {
    if (c->cfg.stem > 0) {
        convbn_free(be, &c->stem);
        convbn_cache_free(be, &c->stem_c);
    }
    for (int i = 0; i < c->cfg.layers * c->cfg.nops; i++) mbconv_free(be, &c->ops[i]);
    for (int i = 0; i < c->cfg.layers; i++) mbconv_cache_free(be, &c->cache[i]);
    free(c->ops);
    free(c->cache);
}

MBConv *cell_op(Cell *c, int layer, int op) {
    return &c->ops[layer * c->cfg.nops + op];
}

const Tensor *cell_forward(const Backend *be, Cell *c, const int *path, const Tensor *x,
                           BNMode mode) {
    if (c->cfg.stem > 0) x = convbn_forward(be, &c->stem, &c->stem_c, x, mode);
    for (int i = 0; i < c->cfg.layers; i++)
        x = mbconv_forward(be, cell_op(c, i, path[i]), &c->cache[i], x, mode, NULL);
    return x;
}

const Tensor *cell_backward(const Backend *be, Cell *c, const int *path, const Tensor *dy,
                           int need_dx) {
    int stem = c->cfg.stem > 0;
    for (int i = c->cfg.layers - 1; i >= 0; i--)
        dy = mbconv_backward(be, cell_op(c, i, path[i]), &c->cache[i], dy, i > 0 || stem || need_dx);
    if (stem) dy = convbn_backward(be, &c->stem, &c->stem_c, dy, need_dx);
    return need_dx ? dy : NULL;
}

void cell_path_params(Cell *c, const int *path, ParamList *l) {
    if (c->cfg.stem > 0) convbn_params(&c->stem, l);
    for (int i = 0; i < c->cfg.layers; i++) mbconv_params(cell_op(c, i, path[i]), l);
}

int64_t cell_path_count(const CellCfg *cfg) {
    int64_t n = 1;
    for (int i = 0; i < cfg->layers; i++) n = checked_mul_i64(n, cfg->nops, "a cell's path count");
    return n;
}

void cell_all_params(Cell *c, ParamList *l) {
    if (c->cfg.stem > 0) convbn_params(&c->stem, l);
    for (int i = 0; i < c->cfg.layers * c->cfg.nops; i++) mbconv_params(&c->ops[i], l);
}

int cell_bns(Cell *c, BatchNorm **bns, int max) {
    int n = 0;
#define PUSH(bn) (n < max ? (void)(bns[n++] = (bn)) : DNA_FAIL("", "cell_bns: more than %d", max))
    if (c->cfg.stem > 0) PUSH(&c->stem.bn);
    for (int i = 0; i < c->cfg.layers * c->cfg.nops; i++) {
        MBConv *m = &c->ops[i];
        if (m->has_expand) PUSH(&m->expand.bn);
        PUSH(&m->dw.bn);
        PUSH(&m->proj.bn);
    }
#undef PUSH
    return n;
}

int cell_stats(Cell *c, Tensor **stats, int max) {
    BatchNorm *bns[CELL_MAX_BNS];
    int nbn = cell_bns(c, bns, CELL_MAX_BNS), n = 0;
    DNA_CHECK(2 * nbn <= max, "", "cell_stats: %d statistics, room for %d", 2 * nbn, max);
    for (int i = 0; i < nbn; i++) stats[n++] = &bns[i]->run_mean, stats[n++] = &bns[i]->run_var;
    return n;
}
