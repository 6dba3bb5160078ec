// Search space: [space] parsed and checked against the teacher; path and cost counts.
#include "nas/space.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "nas/arch.h"

static const char *cfg_file(const Config *cfg) {
    return cfg->path[0] ? cfg->path : "the config";
}

// "e6k3 e3k5 ..." -> ops
static int parse_ops(const Config *cfg, CellOp *ops) {
    char buf[CFG_STR], *save = NULL;
    snprintf(buf, sizeof buf, "%s", cfg->space.ops);
    int n = 0;
    for (char *t = strtok_r(buf, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
        int e, k, used = 0;
        DNA_CHECK(n < CELL_MAX_OPS && sscanf(t, "e%dk%d%n", &e, &k, &used) == 2 &&
                      used == (int)strlen(t) && e >= 1 && k >= 1 && k % 2 == 1,
                  "write ops as eEkK (expansion, odd kernel), e.g. ops = e6k3 e3k5, at most 16",
                  "%s: [space] ops: bad op '%s'", cfg_file(cfg), t);
        ops[n++] = (CellOp){.k = k, .expand = e};
    }
    DNA_CHECK(n > 0, "list at least one op", "%s: [space] ops is empty", cfg_file(cfg));
    return n;
}

static void parse_cells(const Config *cfg, int k, SpaceBlock *b, const CellCfg *proto) {
    char buf[CFG_STR], *save = NULL;
    snprintf(buf, sizeof buf, "%s", cfg->space.block[k]);
    for (char *t = strtok_r(buf, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
        int layers, width, used = 0;
        DNA_CHECK(b->ncells < SPACE_MAX_CELLS &&
                      sscanf(t, "%dx%d%n", &layers, &width, &used) == 2 && used == (int)strlen(t) &&
                      layers >= 1 && layers <= CELL_MAX_LAYERS && width >= 1,
                  "write cells as LAYERSxWIDTH, e.g. block1 = 2x24 3x24 (1..16 layers, at most 8 "
                  "cells)",
                  "%s: [space] block%d: bad cell '%s'", cfg_file(cfg), k + 1, t);
        CellCfg c = *proto;
        c.layers = layers;
        c.width = width;
        b->cell[b->ncells++] = c;
    }
}

// Refuses what rating and search cannot hold (SPACE_MAX_PATHS), before anything runs: the
// cell that is too large, its path count and the limit.
static void check_paths(const Config *cfg, const Space *sp) {
    int64_t total = 0;
    for (int k = 0; k < sp->nblocks; k++)
        for (int c = 0; c < sp->block[k].ncells; c++) {
            const CellCfg *cc = &sp->block[k].cell[c];
            int64_t n = checked_pow_capped(cc->nops, cc->layers, SPACE_MAX_PATHS);
            DNA_CHECK(n >= 0,
                      "use fewer layers or ops in that cell (its paths are ops^layers), or split "
                      "its layers over two blocks",
                      "%s: [space] block%d cell %d (%dx%d, %d ops) has %.0f paths (%d^%d), more "
                      "than the %lld that rating and search can hold",
                      cfg_file(cfg), k + 1, c + 1, cc->layers, cc->width, cc->nops,
                      pow(cc->nops, cc->layers), cc->nops, cc->layers, (long long)SPACE_MAX_PATHS);
            total += n;  // <= 8 x 8 x 2^29: no overflow
        }
    DNA_CHECK(total <= SPACE_MAX_PATHS, "use fewer or smaller cells",
              "%s: [space] has %lld paths over all its cells, more than the %lld that rating "
              "can gather",
              cfg_file(cfg), (long long)total, (long long)SPACE_MAX_PATHS);
}

// "a b c" -> ascending positive numbers; fatal naming the key
static int parse_list(const Config *cfg, const char *key, const char *text, double *v) {
    char buf[CFG_STR], *save = NULL;
    snprintf(buf, sizeof buf, "%s", text);
    int n = 0;
    for (char *t = strtok_r(buf, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
        char *end;
        double x = strtod(t, &end);
        DNA_CHECK(n < VIT_MAX_CHOICES && !*end && x > 0 && (n == 0 || x > v[n - 1]),
                  "list at most 16 positive candidates in ascending order",
                  "%s: [space] %s: bad candidate '%s'", cfg_file(cfg), key, t);
        v[n++] = x;
    }
    DNA_CHECK(n > 0, "list at least one candidate", "%s: [space] %s is empty", cfg_file(cfg), key);
    return n;
}

static void parse_vit(const Config *cfg, VitChoices *ch) {
    double v[VIT_MAX_CHOICES];
    ch->head_dim = (int)cfg->space.head_dim;
    DNA_CHECK(ch->head_dim > 0, "give a positive head width", "%s: [space] head_dim = %ld",
              cfg_file(cfg), cfg->space.head_dim);
    ch->ndims = parse_list(cfg, "dims", cfg->space.dims, v);
    for (int i = 0; i < ch->ndims; i++) {
        ch->dims[i] = (int)v[i];
        DNA_CHECK(v[i] == ch->dims[i] && ch->dims[i] % ch->head_dim == 0,
                  "give widths that are multiples of head_dim (heads = width / head_dim)",
                  "%s: [space] dims: %g is not a multiple of head_dim = %d", cfg_file(cfg), v[i],
                  ch->head_dim);
    }
    ch->nratios = parse_list(cfg, "mlp_ratios", cfg->space.mlp_ratios, ch->ratios);
    for (int i = 0; i < ch->nratios; i++)
        for (int j = 0; j < ch->ndims; j++) {
            double h = ch->ratios[i] * ch->dims[j];
            DNA_CHECK(h == floor(h), "choose ratios that give whole MLP widths for every width",
                      "%s: [space] mlp_ratios: %g x width %d = %g hidden units", cfg_file(cfg),
                      ch->ratios[i], ch->dims[j], h);
        }
    ch->ndepths = parse_list(cfg, "depths", cfg->space.depths, v);
    for (int i = 0; i < ch->ndepths; i++) {
        ch->depths[i] = (int)v[i];
        DNA_CHECK(v[i] == ch->depths[i] && ch->depths[i] <= VIT_MAX_DEPTH,
                  "give whole depths of at most 16 transformer blocks",
                  "%s: [space] depths: bad depth %g", cfg_file(cfg), v[i]);
    }
}

// One slimmable supernet per teacher block; block 1 reads the image through its patch
// embedding, the others the teacher's previous map.
static void vit_from_config(const Config *cfg, const EffNetCfg *t, int in_hw, Space *sp) {
    VitChoices ch;
    parse_vit(cfg, &ch);
    int tc[EFFNET_MAX_BLOCKS], thw[EFFNET_MAX_BLOCKS];
    effnet_block_shapes(t, in_hw, tc, thw);
    sp->nblocks = t->nblocks;
    for (int k = 0; k < sp->nblocks; k++) {
        SpaceBlock *b = &sp->block[k];
        b->in_c = k ? tc[k - 1] : t->cin;
        b->in_hw = b->cell_hw = k ? thw[k - 1] : in_hw;
        b->out_c = tc[k];
        b->out_hw = thw[k];
        DNA_CHECK(b->in_hw % b->out_hw == 0,
                  k ? "place teacher.blocks where the resolution divides the previous block's"
                    : "choose teacher.blocks (or data.image_size and pad) so that block 1's "
                      "resolution divides the image's: the patch must tile it",
                  "%s: ViT block %d reads %dx%d and must give the teacher's %dx%d: the "
                  "embedding's stride would be %g",
                  cfg_file(cfg), k + 1, b->in_hw, b->in_hw, b->out_hw, b->out_hw,
                  (double)b->in_hw / b->out_hw);
        b->ncells = 1;
        b->vit = (VitCellCfg){
            .cin = b->in_c, .in_hw = b->in_hw, .cout = b->out_c, .out_hw = b->out_hw, .ch = ch};
    }
}

void space_require_mbconv(const Space *sp, const char *what) {
    DNA_CHECK(!sp->vit,
              "on a ViT space the pipeline (dna run: data .. report) and the ranking tools run; "
              "DNA+ takes [space] kind = mbconv for now",
              "%s does not support [space] kind = vit yet", what);
}

void space_from_config(const Config *cfg, const EffNetCfg *t, int in_hw, Space *sp) {
    *sp = (Space){.stem = (int)cfg->space.stem, .stem_stride = t->stem_stride};
    if (!strcmp(cfg->space.kind, "vit")) {
        sp->vit = 1;
        vit_from_config(cfg, t, in_hw, sp);
        return;
    }
    DNA_CHECK(sp->stem > 0 && cfg->space.se >= 0 && cfg->space.se <= 1,
              "give a positive stem width and an SE ratio in [0, 1]", "%s: bad [space] stem/se",
              cfg_file(cfg));
    CellCfg proto = {.se_ratio = (float)cfg->space.se};
    proto.nops = parse_ops(cfg, proto.ops);
    int tc[EFFNET_MAX_BLOCKS], thw[EFFNET_MAX_BLOCKS];
    effnet_block_shapes(t, in_hw, tc, thw);
    for (int k = 0; k < SPACE_MAX_BLOCKS; k++)
        if (cfg->space.block[k][0]) sp->nblocks = k + 1;
    DNA_CHECK(sp->nblocks == t->nblocks,
              "give one [space] blockK line per teacher block (teacher.blocks), no gaps",
              "%s: [space] describes %d blocks, the teacher has %d", cfg_file(cfg), sp->nblocks,
              t->nblocks);
    for (int k = 0; k < sp->nblocks; k++) {
        SpaceBlock *b = &sp->block[k];
        b->in_c = k ? tc[k - 1] : t->cin;
        b->in_hw = k ? thw[k - 1] : in_hw;
        b->out_c = tc[k];
        b->out_hw = thw[k];
        // Block 1's cells start with a stem at the teacher's stem stride; the cell's stride
        // covers the rest of the block's resolution step.
        int cell_in_hw = b->cell_hw = k ? b->in_hw : effnet_stem_hw(t, in_hw);
        int stride = cell_in_hw / b->out_hw;
        DNA_CHECK(cfg->space.block[k][0], "list the cells of every block",
                  "%s: [space] block%d is empty but block%d is not", cfg_file(cfg), k + 1,
                  sp->nblocks);
        DNA_CHECK((stride == 1 || stride == 2) && (cell_in_hw + stride - 1) / stride == b->out_hw,
                  "place teacher.blocks so that each block halves the resolution at most once",
                  "%s: block %d goes from %dx%d to %dx%d: a cell can only carry stride 1 or 2",
                  cfg_file(cfg), k + 1, cell_in_hw, cell_in_hw, b->out_hw, b->out_hw);
        proto.cin = b->in_c;
        proto.stem = k ? 0 : sp->stem;
        proto.stem_stride = sp->stem_stride;
        proto.cout = b->out_c;
        proto.stride = stride;
        parse_cells(cfg, k, b, &proto);
    }
    check_paths(cfg, sp);
}

int64_t space_block_paths(const Space *sp, int k) {
    if (sp->vit) return vitcell_path_count(&sp->block[k].vit);
    int64_t n = 0;
    for (int c = 0; c < sp->block[k].ncells; c++)
        n = checked_add_i64(n, cell_path_count(&sp->block[k].cell[c]), "a block's paths");
    return n;
}

int64_t space_cell_paths(const Space *sp, int k, int c) {
    return sp->vit ? vitcell_path_count(&sp->block[k].vit) : cell_path_count(&sp->block[k].cell[c]);
}

void space_path_describe(const Space *sp, int k, int c, int64_t code, int *layers, int *width,
                         char *ops, size_t n) {
    if (sp->vit) {
        const VitCellCfg *v = &sp->block[k].vit;
        VitStageCfg s = vitcell_stage(v, code);
        *layers = s.depth, *width = s.dim;
        snprintf(ops, n, "d%d-r%g-n%d", s.dim, (double)s.hidden / s.dim, s.depth);
        return;
    }
    const CellCfg *cc = &sp->block[k].cell[c];
    *layers = cc->layers, *width = cc->width;
    int digit[CELL_MAX_LAYERS];
    arch_decode_path(code, cc->layers, cc->nops, digit);
    size_t used = 0;
    ops[0] = 0;
    for (int l = 0; l < cc->layers && used < n; l++)
        used += (size_t)snprintf(ops + used, n - used, "%se%dk%d", l ? "-" : "",
                                 cc->ops[digit[l]].expand, cc->ops[digit[l]].k);
}

double space_total(const Space *sp) {
    double n = 1;
    for (int k = 0; k < sp->nblocks; k++) n *= (double)space_block_paths(sp, k);
    return n;
}

int64_t space_total_paths(const Space *sp) {
    int64_t n = 0;
    for (int k = 0; k < sp->nblocks; k++)
        n = checked_add_i64(n, space_block_paths(sp, k), "the space's paths");
    return n;
}

double space_cell_macs(const Space *sp, int k, int c) {
    if (sp->vit) return vitcell_mean_macs(&sp->block[k].vit);
    const SpaceBlock *b = &sp->block[k];
    const CellCfg *cc = &b->cell[c];
    int hw = b->cell_hw;
    double m = k ? 0 : (double)convbn_macs(b->in_c, sp->stem, 3, 1, hw, hw);
    for (int l = 0; l < cc->layers; l++) {
        double sum = 0;
        for (int o = 0; o < cc->nops; o++)
            sum += (double)mbconv_macs(cell_layer_cfg(cc, l, o), hw, hw);
        m += sum / cc->nops;
        if (l == 0) hw = (hw + cc->stride - 1) / cc->stride;
    }
    return m;
}

long space_cell_params(const Space *sp, int k, int c) {
    if (sp->vit) return vitcell_max_params(&sp->block[k].vit);
    const SpaceBlock *b = &sp->block[k];
    const CellCfg *cc = &b->cell[c];
    long n = k ? 0 : convbn_param_count(b->in_c, sp->stem, 3, 1);
    for (int l = 0; l < cc->layers; l++)
        for (int o = 0; o < cc->nops; o++) n += mbconv_param_count(cell_layer_cfg(cc, l, o));
    return n;
}

// Largest activation (floats per sample) among an MBConv cell's layers: the memory driver.
static long cell_act(const Space *sp, int k, int c) {
    const SpaceBlock *b = &sp->block[k];
    const CellCfg *cc = &b->cell[c];
    int hw = b->cell_hw;
    long best = k ? 0 : (long)sp->stem * hw * hw;
    for (int l = 0; l < cc->layers; l++)
        for (int o = 0; o < cc->nops; o++) {
            MBConvCfg m = cell_layer_cfg(cc, l, o);
            long a = (long)m.cin * m.expand * hw * hw;  // the expanded map at the input size
            if (a > best) best = a;
        }
    return best;
}

double space_cell_train_floats(const Space *sp, int k, int c) {
    // MBConv: about 8 buffers of the largest activation per layer (forward caches, backward)
    if (!sp->vit) return 8.0 * sp->block[k].cell[c].layers * (double)cell_act(sp, k, c);
    // ViT, twice what the forward caches (the backward's buffers): per transformer block 8
    // token tensors of the width (LN, q|k|v, attention, projection, the residual, LN, the
    // output), 2 of the MLP width and the softmax; plus the embedding and the output adapter
    VitStageCfg m = vitcell_max(&sp->block[k].vit);
    double T = (double)m.out_hw * m.out_hw, D = m.dim, H = m.hidden;
    double blk = T * (8 * D + 2 * H) + (D / m.head_dim) * T * T;
    return 2 * (m.depth * blk + 2 * T * D + T * (2 * D + 2 * m.cout));
}
