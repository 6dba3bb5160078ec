// Searched architectures (see arch.h).
#include "nas/arch.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void arch_decode_path(int64_t code, int layers, int nops, int *ops) {
    for (int l = layers - 1; l >= 0; l--) ops[l] = (int)(code % nops), code /= nops;
}

static void vit_from_choice(const Space *sp, const int64_t *code, Arch *a) {
    a->vit = 1, a->stem = a->stem_stride = 0;
    for (int k = 0; k < sp->nblocks; k++) {
        const SpaceBlock *sb = &sp->block[k];
        VitStageCfg v = vitcell_stage(&sb->vit, code[k]);
        a->block[k] = (ArchBlock){.code = code[k],
                                  .width = v.dim,
                                  .depth = v.depth,
                                  .stride = v.in_hw / v.out_hw,
                                  .vs = v};
    }
}

void arch_from_choice(const Space *sp, const EffNetCfg *t, int in_hw, const int *cell,
                      const int64_t *code, Arch *a) {
    *a = (Arch){.cin = t->cin,
                .in_hw = in_hw,
                .classes = t->classes,
                .stem = sp->stem,
                .stem_stride = sp->stem_stride,
                .head = t->head,
                .nblocks = sp->nblocks,
                .score = NAN};
    if (sp->vit) {
        vit_from_choice(sp, code, a);
        return;
    }
    for (int k = 0; k < sp->nblocks; k++) {
        const CellCfg *c = &sp->block[k].cell[cell[k]];
        ArchBlock *b = &a->block[k];
        *b = (ArchBlock){.cell = cell[k],
                         .code = code[k],
                         .width = c->width,
                         .depth = c->layers,
                         .stride = c->stride};
        int ops[CELL_MAX_LAYERS];
        arch_decode_path(code[k], c->layers, c->nops, ops);
        for (int l = 0; l < c->layers; l++) b->op[l] = c->ops[ops[l]];
        a->se_ratio = c->se_ratio;
    }
}

void arch_to_effnet(const Arch *a, EffNetCfg *cfg) {
    DNA_CHECK(!a->vit, "pass an MBConv architecture (a ViT arch.json has \"kind\": \"vit\")",
              "a ViT architecture is not an EfficientNet: this command takes MBConv ones");
    *cfg = (EffNetCfg){.cin = a->cin,
                       .stem = a->stem,
                       .stem_stride = a->stem_stride,
                       .head = a->head,
                       .classes = a->classes,
                       .dropout = 0.2f,
                       .bn_eps = 1e-5f,
                       .bn_momentum = 0.1f,
                       .nblocks = a->nblocks};
    for (int k = 0; k < a->nblocks; k++) {
        const ArchBlock *b = &a->block[k];
        for (int l = 0; l < b->depth; l++) {
            StageCfg *s = cfg->nstages ? &cfg->stage[cfg->nstages - 1] : NULL;
            if (l > 0 && s->k == b->op[l].k && s->expand == b->op[l].expand) {
                s->repeats++;
                continue;
            }
            DNA_CHECK(cfg->nstages < EFFNET_MAX_STAGES, "search a space with fewer layers",
                      "the architecture needs more than %d stages", EFFNET_MAX_STAGES);
            cfg->stage[cfg->nstages++] = (StageCfg){.repeats = 1,
                                                    .k = b->op[l].k,
                                                    .stride = l ? 1 : b->stride,
                                                    .expand = b->op[l].expand,
                                                    .cout = b->width,
                                                    .se_ratio = a->se_ratio};
        }
        cfg->block_end[k] = cfg->nstages - 1;
    }
}

void arch_to_vitnet(const Arch *a, VitNetCfg *cfg) {
    DNA_CHECK(a->vit, "pass a ViT architecture", "an MBConv architecture is not a ViT");
    *cfg = (VitNetCfg){.nblocks = a->nblocks, .head = a->head, .classes = a->classes};
    for (int k = 0; k < a->nblocks; k++) cfg->stage[k] = a->block[k].vs;
}

// A ViT architecture's blocks and head (nn/vitstage.h, arch_tail_cost).
static void vit_cost(const Arch *a, long *params, long *macs) {
    *params = *macs = 0;
    for (int k = 0; k < a->nblocks; k++)
        *params += vitstage_param_count(a->block[k].vs), *macs += vitstage_macs(a->block[k].vs);
    const VitStageCfg *last = &a->block[a->nblocks - 1].vs;
    long pa, ma;
    arch_tail_cost(last->cout, a->head, a->classes, last->out_hw, &pa, &ma);
    *params += pa, *macs += ma;
}

long arch_params(const Arch *a) {
    if (a->vit) {
        long p, m;
        vit_cost(a, &p, &m);
        return p;
    }
    EffNetCfg c;
    arch_to_effnet(a, &c);
    return effnet_param_count(&c);
}

long arch_macs(const Arch *a) {
    if (a->vit) {
        long p, m;
        vit_cost(a, &p, &m);
        return m;
    }
    EffNetCfg c;
    arch_to_effnet(a, &c);
    return effnet_macs(&c, a->in_hw);
}

void arch_block_cost(const CellCfg *cell, int64_t code, int cin, int hw, long *params, long *macs) {
    int ops[CELL_MAX_LAYERS];
    arch_decode_path(code, cell->layers, cell->nops, ops);
    *params = *macs = 0;
    for (int l = 0; l < cell->layers; l++) {
        MBConvCfg m = {.cin = l ? cell->width : cin,
                       .cout = cell->width,
                       .k = cell->ops[ops[l]].k,
                       .expand = cell->ops[ops[l]].expand,
                       .stride = l ? 1 : cell->stride,
                       .se_ratio = cell->se_ratio};
        *params += mbconv_param_count(m);
        *macs += mbconv_macs(m, hw, hw);
        if (l == 0) hw = (hw + m.stride - 1) / m.stride;
    }
}

void arch_base_cost(int cin, int stem, int stem_hw, long *params, long *macs) {
    *params = convbn_param_count(cin, stem, 3, 1);
    *macs = convbn_macs(cin, stem, 3, 1, stem_hw, stem_hw);
}

void arch_tail_cost(int last, int head, int classes, int hw, long *params, long *macs) {
    *params = head_param_count(last, head, classes);
    *macs = head_macs(last, head, classes, hw, hw);
}

// ---------------------------------------------------------------- JSON

char *arch_to_json(const Arch *a, const char *extra_json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "dnafam-arch");
    cJSON_AddNumberToObject(o, "version", 1);
    if (a->vit) cJSON_AddStringToObject(o, "kind", "vit");
    cJSON_AddNumberToObject(o, "in_channels", a->cin);
    cJSON_AddNumberToObject(o, "image_size", a->in_hw);
    cJSON_AddNumberToObject(o, "classes", a->classes);
    cJSON_AddNumberToObject(o, "stem", a->stem);
    cJSON_AddNumberToObject(o, "stem_stride", a->stem_stride);
    cJSON_AddNumberToObject(o, "head", a->head);
    cJSON_AddNumberToObject(o, "se_ratio", a->se_ratio);
    cJSON *bl = cJSON_AddArrayToObject(o, "blocks");
    for (int k = 0; k < a->nblocks; k++) {
        const ArchBlock *b = &a->block[k];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "cell", b->cell + 1);
        cJSON_AddNumberToObject(j, "path", b->code);
        cJSON_AddNumberToObject(j, "width", b->width);
        cJSON_AddNumberToObject(j, "depth", b->depth);
        cJSON_AddNumberToObject(j, "stride", b->stride);
        if (a->vit) {  // the stage (nn/vitstage.h), from the teacher's maps at its ends
            const VitStageCfg *v = &b->vs;
            cJSON_AddNumberToObject(j, "mlp_hidden", v->hidden);
            cJSON_AddNumberToObject(j, "head_dim", v->head_dim);
            cJSON_AddNumberToObject(j, "in_channels", v->cin);
            cJSON_AddNumberToObject(j, "in_size", v->in_hw);
            cJSON_AddNumberToObject(j, "out_channels", v->cout);
            cJSON_AddNumberToObject(j, "out_size", v->out_hw);
            cJSON_AddItemToArray(bl, j);
            continue;
        }
        cJSON *ls = cJSON_AddArrayToObject(j, "layers");
        for (int l = 0; l < b->depth; l++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "kernel", b->op[l].k);
            cJSON_AddNumberToObject(x, "expansion", b->op[l].expand);
            cJSON_AddItemToArray(ls, x);
        }
        cJSON_AddItemToArray(bl, j);
    }
    cJSON *tot = cJSON_AddObjectToObject(o, "totals");
    cJSON_AddNumberToObject(tot, "params", (double)arch_params(a));
    cJSON_AddNumberToObject(tot, "macs", (double)arch_macs(a));
    if (isfinite(a->score))
        cJSON_AddNumberToObject(tot, "score", a->score);
    else
        cJSON_AddNullToObject(tot, "score");
    if (extra_json) {
        cJSON *e = cJSON_Parse(extra_json);
        DNA_CHECK(e, "internal: pass valid JSON", "bad provenance JSON");
        cJSON_AddItemToObject(o, "provenance", e);
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

static int num(const cJSON *o, const char *key, const char *path, double lo, double hi) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    DNA_CHECK(
        cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi,
        "write the architecture as doc/formats.md describes (or regenerate it with dna search)",
        "'%s': '%s' is missing or outside [%g, %g]", path, key, lo, hi);
    return (int)v->valuedouble;
}

// A path code: an integer in [0, 2^53) (exact in JSON's doubles); the cell's own bound is
// checked where the space is known.
static int64_t path_code(const cJSON *o, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "path");
    DNA_CHECK(
        cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 0x1p53 &&
            v->valuedouble == floor(v->valuedouble),
        "write the architecture as doc/formats.md describes (or regenerate it with dna search)",
        "'%s': 'path' is missing or not an integer in [0, 2^53)", path);
    return (int64_t)v->valuedouble;
}

// kind "vit": image, head and classes as for MBConv, and each block's stage.
static void vit_from_json(const cJSON *o, const char *path, Arch *a) {
    *a = (Arch){.vit = 1,
                .cin = num(o, "in_channels", path, 1, 64),
                .in_hw = num(o, "image_size", path, 1, 4096),
                .classes = num(o, "classes", path, 1, 1e6),
                .head = num(o, "head", path, 1, 1e5),
                .score = NAN};
    const cJSON *bl = cJSON_GetObjectItemCaseSensitive(o, "blocks"), *b;
    DNA_CHECK(cJSON_IsArray(bl) && cJSON_GetArraySize(bl) >= 1 &&
                  cJSON_GetArraySize(bl) <= SPACE_MAX_BLOCKS,
              "list 1..8 blocks", "'%s': bad 'blocks'", path);
    cJSON_ArrayForEach(b, bl) {
        ArchBlock *x = &a->block[a->nblocks++];
        VitStageCfg v = {.cin = num(b, "in_channels", path, 1, 1e5),
                         .in_hw = num(b, "in_size", path, 1, 4096),
                         .cout = num(b, "out_channels", path, 1, 1e5),
                         .out_hw = num(b, "out_size", path, 1, 4096),
                         .dim = num(b, "width", path, 1, 1e5),
                         .hidden = num(b, "mlp_hidden", path, 1, 1e6),
                         .depth = num(b, "depth", path, 1, VIT_MAX_DEPTH),
                         .head_dim = num(b, "head_dim", path, 1, 1e5)};
        DNA_CHECK(v.in_hw % v.out_hw == 0 && v.dim % v.head_dim == 0 &&
                      (a->nblocks > 1 ? v.cin == a->block[a->nblocks - 2].vs.cout &&
                                            v.in_hw == a->block[a->nblocks - 2].vs.out_hw
                                      : v.cin == a->cin && v.in_hw == a->in_hw),
                  "write the architecture as doc/formats.md describes (or regenerate it with dna "
                  "search)",
                  "'%s': ViT block %d does not chain: %dx%d (%d channels) -> %dx%d (%d), width "
                  "%d, heads of %d",
                  path, a->nblocks, v.in_hw, v.in_hw, v.cin, v.out_hw, v.out_hw, v.cout, v.dim,
                  v.head_dim);
        *x = (ArchBlock){.cell = num(b, "cell", path, 1, SPACE_MAX_CELLS) - 1,
                         .code = path_code(b, path),
                         .width = v.dim,
                         .depth = v.depth,
                         .stride = v.in_hw / v.out_hw,
                         .vs = v};
    }
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(o, "totals");
    const cJSON *sc = tot ? cJSON_GetObjectItemCaseSensitive(tot, "score") : NULL;
    if (cJSON_IsNumber(sc)) a->score = sc->valuedouble;
}

void arch_from_json(const char *json, const char *path, Arch *a) {
    cJSON *o = cJSON_Parse(json);
    DNA_CHECK(o, "check the file (it is not valid JSON)", "'%s' is not valid JSON", path);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    DNA_CHECK(cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "dnafam-arch"),
              "pass an arch.json written by dna search", "'%s' is not a dnafam architecture", path);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    DNA_CHECK(!kind || (cJSON_IsString(kind) && !strcmp(kind->valuestring, "vit")),
              "write kind \"vit\" for a ViT architecture, or leave it out (MBConv)",
              "'%s': unknown architecture kind", path);
    if (kind) {
        vit_from_json(o, path, a);
        cJSON_Delete(o);
        return;
    }
    *a = (Arch){.cin = num(o, "in_channels", path, 1, 64),
                .in_hw = num(o, "image_size", path, 1, 4096),
                .classes = num(o, "classes", path, 1, 1e6),
                .stem = num(o, "stem", path, 1, 4096),
                .stem_stride = num(o, "stem_stride", path, 1, 2),
                .head = num(o, "head", path, 1, 1e5),
                .score = NAN};
    const cJSON *se = cJSON_GetObjectItemCaseSensitive(o, "se_ratio");
    DNA_CHECK(cJSON_IsNumber(se) && se->valuedouble >= 0 && se->valuedouble <= 1,
              "give se_ratio in [0, 1]", "'%s': bad se_ratio", path);
    a->se_ratio = (float)se->valuedouble;
    const cJSON *bl = cJSON_GetObjectItemCaseSensitive(o, "blocks");
    DNA_CHECK(cJSON_IsArray(bl) && cJSON_GetArraySize(bl) >= 1 &&
                  cJSON_GetArraySize(bl) <= SPACE_MAX_BLOCKS,
              "list 1..8 blocks", "'%s': bad 'blocks'", path);
    const cJSON *b;
    cJSON_ArrayForEach(b, bl) {
        ArchBlock *x = &a->block[a->nblocks++];
        *x = (ArchBlock){.cell = num(b, "cell", path, 1, SPACE_MAX_CELLS) - 1,
                         .code = path_code(b, path),
                         .width = num(b, "width", path, 1, 1e5),
                         .stride = num(b, "stride", path, 1, 2)};
        const cJSON *ls = cJSON_GetObjectItemCaseSensitive(b, "layers"), *l;
        DNA_CHECK(cJSON_IsArray(ls) && cJSON_GetArraySize(ls) >= 1 &&
                      cJSON_GetArraySize(ls) <= CELL_MAX_LAYERS,
                  "give each block 1..16 layers", "'%s': block %d: bad 'layers'", path, a->nblocks);
        cJSON_ArrayForEach(l, ls) {
            int k = num(l, "kernel", path, 1, 15), e = num(l, "expansion", path, 1, 16);
            DNA_CHECK(k % 2 == 1, "use odd kernels", "'%s': block %d: kernel %d", path, a->nblocks,
                      k);
            x->op[x->depth++] = (CellOp){k, e};
        }
    }
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(o, "totals");
    const cJSON *sc = tot ? cJSON_GetObjectItemCaseSensitive(tot, "score") : NULL;
    if (cJSON_IsNumber(sc)) a->score = sc->valuedouble;
    cJSON_Delete(o);
    // The network it describes within the limits of effnet.h: each field in range can still
    // add up to more parameters than fit in memory, or multiply-adds beyond a long.
    EffNetCfg c;
    char err[256];
    arch_to_effnet(a, &c);
    DNA_CHECK(
        effnet_cfg_validate(&c, err, sizeof err) == 0,
        "write the architecture as doc/formats.md describes (or regenerate it with dna search)",
        "'%s' describes a network this program cannot build: %s", path, err);
}

char *arch_to_timm(const Arch *a) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    DNA_CHECK(f, "", "out of memory");
    EffNetCfg c;
    arch_to_effnet(a, &c);
    fprintf(
        f,
        "# timm: EfficientNet(decode_arch_def(arch_def), stem_size=%d, num_features=%d,\n"
        "#        in_chans=%d, num_classes=%d)  -- %ld parameters, %ld multiply-adds at %dx%d\n",
        a->stem, a->head, a->cin, a->classes, arch_params(a), arch_macs(a), a->in_hw, a->in_hw);
    if (a->stem_stride != 2)
        fprintf(f, "# the stem has stride %d here; timm's has 2: set conv_stem.stride\n",
                a->stem_stride);
    fprintf(f, "arch_def = [\n");
    int s = 0;
    for (int k = 0; k < c.nblocks; k++) {
        fprintf(f, "    [");
        for (int first = 1; s <= c.block_end[k]; s++, first = 0) {
            const StageCfg *g = &c.stage[s];
            char se[16] = "";
            if (g->se_ratio > 0) snprintf(se, sizeof se, "_se%g", g->se_ratio);
            fprintf(f, "%s'%s_r%d_k%d_s%d_e%d_c%d%s'", first ? "" : ", ",
                    g->expand == 1 ? "ds" : "ir", g->repeats, g->k, g->stride, g->expand, g->cout,
                    se);
        }
        fprintf(f, "],  # block %d: cell %d, path %lld\n", k + 1, a->block[k].cell + 1,
                (long long)a->block[k].code);
    }
    fprintf(f, "]\n");
    fclose(f);
    return text;
}

void arch_describe(const Arch *a, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    if (a->vit) {  // "d48-r3-n2 | ...": width, MLP ratio, depth per block
        for (int k = 0; k < a->nblocks && used < n; k++) {
            const VitStageCfg *v = &a->block[k].vs;
            used += (size_t)snprintf(buf + used, n - used, "%sd%d-r%g-n%d", k ? " | " : "", v->dim,
                                     (double)v->hidden / v->dim, v->depth);
        }
        return;
    }
    for (int k = 0; k < a->nblocks && used < n; k++) {
        used +=
            (size_t)snprintf(buf + used, n - used, "%sc%d:", k ? " | " : "", a->block[k].cell + 1);
        for (int l = 0; l < a->block[k].depth && used < n; l++)
            used += (size_t)snprintf(buf + used, n - used, "%se%dk%d", l ? "-" : "",
                                     a->block[k].op[l].expand, a->block[k].op[l].k);
    }
}
