// EffNet: config parsing (timm arch_def strings, JSON), construction with timm's names,
// forward/backward over stem, MBConv stages and head (or over the blocks alone, for the
// self-supervised teacher of DNA++), the blocks' parameters and batch norms, counts.
#include "nn/effnet.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int fail(char *err, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

// One token: ir_r2_k3_s2_e6_c24_se0.25 (fields in any order after the "ir" type).
static int parse_stage(const char *tok, StageCfg *s, char *err, size_t n) {
    *s = (StageCfg){.repeats = 1, .stride = 1, .expand = 1};
    char buf[128];
    snprintf(buf, sizeof buf, "%s", tok);
    char *save = NULL, *f = strtok_r(buf, "_", &save);
    if (!f || strcmp(f, "ir"))
        return fail(err, n, "stage '%s': only inverted-residual stages ('ir_...') exist", tok);
    while ((f = strtok_r(NULL, "_", &save))) {
        char *end;
        const char *num = !strncmp(f, "se", 2) ? f + 2 : f + 1;
        if (!strncmp(f, "se", 2)) {
            s->se_ratio = strtof(f + 2, &end);
        } else {
            long v = strtol(f + 1, &end, 10);
            if (v < INT_MIN || v > INT_MAX)
                return fail(err, n, "stage '%s': field '%s' is out of range", tok, f);
            switch (f[0]) {
                case 'r':
                    s->repeats = (int)v;
                    break;
                case 'k':
                    s->k = (int)v;
                    break;
                case 's':
                    s->stride = (int)v;
                    break;
                case 'e':
                    s->expand = (int)v;
                    break;
                case 'c':
                    s->cout = (int)v;
                    break;
                default:
                    return fail(err, n, "stage '%s': unknown field '%s'", tok, f);
            }
        }
        if (end == num || *end)
            return fail(err, n, "stage '%s': field '%s' is not a number", tok, f);
    }
    if (s->k <= 0 || s->cout <= 0)
        return fail(err, n, "stage '%s' needs a kernel (k3) and a width (c24)", tok);
    return 0;
}

int effnet_parse_stages(const char *spec, EffNetCfg *cfg, char *err, size_t errlen) {
    char *dup = strdup(spec), *save = NULL;
    cfg->nstages = 0;
    int rc = 0;
    for (char *t = strtok_r(dup, " ,\t", &save); t && !rc; t = strtok_r(NULL, " ,\t", &save)) {
        if (cfg->nstages == EFFNET_MAX_STAGES) {
            rc = fail(err, errlen, "more than %d stages", EFFNET_MAX_STAGES);
            break;
        }
        rc = parse_stage(t, &cfg->stage[cfg->nstages++], err, errlen);
    }
    free(dup);
    if (!rc && cfg->nstages == 0) rc = fail(err, errlen, "no stages given");
    return rc;
}

static int width_ok(int w) {
    return w >= 1 && w <= EFFNET_MAX_WIDTH;
}

int effnet_cfg_validate(const EffNetCfg *c, char *err, size_t n) {
    if (c->cin < 1 || c->cin > 64 || !width_ok(c->stem) || c->stem_stride < 1 ||
        c->stem_stride > 8 || !width_ok(c->head) || c->classes < 2 || c->classes > 1 << 24)
        return fail(err, n,
                    "needs cin in 1..64, stem and head widths in 1..%d, stem_stride in 1..8, "
                    "classes in 2..%d",
                    EFFNET_MAX_WIDTH, 1 << 24);
    // negated comparisons: NaN fails them
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return fail(err, n, "dropout must be in [0, 1)");
    if (!(c->bn_eps > 0.0f && c->bn_eps < 1.0f)) return fail(err, n, "bn_eps must be in (0, 1)");
    if (!(c->bn_momentum >= 0.0f && c->bn_momentum <= 1.0f))
        return fail(err, n, "bn_momentum must be in [0, 1]");
    if (c->nstages < 1 || c->nstages > EFFNET_MAX_STAGES)
        return fail(err, n, "give 1 to %d stages", EFFNET_MAX_STAGES);
    int layers = 0;
    for (int s = 0; s < c->nstages; s++) {
        const StageCfg *g = &c->stage[s];
        if (g->repeats < 1 || g->repeats > EFFNET_MAX_LAYERS || g->k < 1 ||
            g->k > EFFNET_MAX_KERNEL || g->k % 2 == 0 || g->stride < 1 || g->stride > 2 ||
            g->expand < 1 || g->expand > EFFNET_MAX_EXPAND || !width_ok(g->cout) ||
            !(g->se_ratio >= 0.0f && g->se_ratio <= 1.0f))
            return fail(err, n,
                        "stage %d: needs repeats >= 1, an odd kernel up to %d, stride 1 or 2, "
                        "expansion 1..%d, width 1..%d, se in [0, 1]",
                        s, EFFNET_MAX_KERNEL, EFFNET_MAX_EXPAND, EFFNET_MAX_WIDTH);
        layers += g->repeats;  // at most 32 x 2048: no overflow
    }
    if (layers > EFFNET_MAX_LAYERS)
        return fail(err, n, "%d layers, at most %d are supported", layers, EFFNET_MAX_LAYERS);
    long params = effnet_param_count(c);  // widths are bounded: this cannot overflow
    if (params > EFFNET_MAX_PARAMS)
        return fail(err, n, "%ld parameters, more than the %ld supported", params,
                    EFFNET_MAX_PARAMS);
    if (c->nblocks < 1 || c->nblocks > EFFNET_MAX_BLOCKS)
        return fail(err, n, "give 1 to %d block boundaries", EFFNET_MAX_BLOCKS);
    for (int k = 0; k < c->nblocks; k++) {
        int prev = k ? c->block_end[k - 1] : -1;
        if (c->block_end[k] <= prev || c->block_end[k] >= c->nstages)
            return fail(err, n,
                        "block boundaries must be increasing stage indices in [0, %d); "
                        "block %d ends at stage %d",
                        c->nstages, k + 1, c->block_end[k]);
    }
    if (c->block_end[c->nblocks - 1] != c->nstages - 1)
        return fail(err, n, "the last block must end at the last stage (%d)", c->nstages - 1);
    return 0;
}

char *effnet_cfg_to_json(const EffNetCfg *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "efficientnet");
    cJSON_AddNumberToObject(o, "in_chans", c->cin);
    cJSON_AddNumberToObject(o, "stem", c->stem);
    cJSON_AddNumberToObject(o, "stem_stride", c->stem_stride);
    cJSON *st = cJSON_AddArrayToObject(o, "stages");
    for (int s = 0; s < c->nstages; s++) {
        const StageCfg *g = &c->stage[s];
        char tok[96];
        snprintf(tok, sizeof tok, "ir_r%d_k%d_s%d_e%d_c%d_se%g", g->repeats, g->k, g->stride,
                 g->expand, g->cout, g->se_ratio);
        cJSON_AddItemToArray(st, cJSON_CreateString(tok));
    }
    cJSON_AddNumberToObject(o, "head", c->head);
    cJSON_AddNumberToObject(o, "classes", c->classes);
    cJSON_AddNumberToObject(o, "dropout", c->dropout);
    cJSON_AddNumberToObject(o, "bn_eps", c->bn_eps);
    cJSON_AddNumberToObject(o, "bn_momentum", c->bn_momentum);
    cJSON_AddItemToObject(o, "block_end", cJSON_CreateIntArray(c->block_end, c->nblocks));
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

static int json_num(const cJSON *o, const char *key, double *v, char *err, size_t n) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it))
        return fail(err, n, "architecture JSON: '%s' missing or not a number", key);
    *v = it->valuedouble;
    return 0;
}

int effnet_cfg_from_json(const char *json, EffNetCfg *c, char *err, size_t n) {
    cJSON *o = cJSON_Parse(json);
    if (!o) return fail(err, n, "architecture attribute is not valid JSON");
    *c = (EffNetCfg){0};
    double v[8];
    const char *keys[8] = {"in_chans", "stem",    "stem_stride", "head",
                           "classes",  "dropout", "bn_eps",      "bn_momentum"};
    int rc = 0;
    for (int i = 0; i < 8 && !rc; i++) rc = json_num(o, keys[i], &v[i], err, n);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "stages");
    const cJSON *be = cJSON_GetObjectItemCaseSensitive(o, "block_end");
    if (!rc && (!cJSON_IsArray(st) || !cJSON_IsArray(be)))
        rc = fail(err, n, "architecture JSON needs arrays 'stages' and 'block_end'");
    // The integer fields are whole and within int before the cast (undefined beyond it); the
    // float ones finite. effnet_cfg_validate checks the ranges that matter.
    for (int i = 0; i < 8 && !rc; i++)
        if (!isfinite(v[i]) || (i < 5 && (v[i] != floor(v[i]) || fabs(v[i]) > INT_MAX)) ||
            fabs(v[i]) > FLT_MAX)
            rc = fail(err, n, "architecture JSON: '%s' = %g is out of range", keys[i], v[i]);
    if (!rc) {
        c->cin = (int)v[0], c->stem = (int)v[1], c->stem_stride = (int)v[2], c->head = (int)v[3];
        c->classes = (int)v[4], c->dropout = (float)v[5], c->bn_eps = (float)v[6];
        c->bn_momentum = (float)v[7];
        const cJSON *it;
        cJSON_ArrayForEach(it, st) {
            if (rc) break;
            if (!cJSON_IsString(it) || c->nstages == EFFNET_MAX_STAGES)
                rc = fail(err, n, "architecture JSON: bad stage list");
            else
                rc = parse_stage(it->valuestring, &c->stage[c->nstages++], err, n);
        }
        cJSON_ArrayForEach(it, be) {
            if (rc) break;
            if (!cJSON_IsNumber(it) || c->nblocks == EFFNET_MAX_BLOCKS)
                rc = fail(err, n, "architecture JSON: bad block_end list");
            else
                c->block_end[c->nblocks++] = it->valueint;
        }
    }
    cJSON_Delete(o);
    return rc ? rc : effnet_cfg_validate(c, err, n);
}

// ---------------------------------------------------------------- construction

static MBConvCfg layer_cfg(const EffNetCfg *c, int s, int i, int cin) {
    const StageCfg *g = &c->stage[s];
    return (MBConvCfg){.cin = cin,
                       .cout = g->cout,
                       .k = g->k,
                       .expand = g->expand,
                       .stride = i == 0 ? g->stride : 1,
                       .se_ratio = g->se_ratio};
}

static void push_state(EffNet *net, const char *prefix, const char *name, Tensor *t) {
    NamedTensor *nt = &net->state[net->nstate++];
    snprintf(nt->name, sizeof nt->name, "%s%s", prefix, name);
    nt->t = t;
}

static void set_bn(BatchNorm *bn, const EffNetCfg *c) {
    bn->eps = c->bn_eps;
    bn->momentum = c->bn_momentum;
}

// Prefixes the parameters pushed since `from` and records them (and BN running stats,
// named after their BN's weight) in the state list.
static void adopt(EffNet *net, int from, const char *prefix, BatchNorm **bns, int nbn) {
    for (int i = from; i < net->params.n; i++) {
        Param *p = net->params.p[i];
        char full[160];
        snprintf(full, sizeof full, "%s%s", prefix, p->name);
        DNA_CHECK(strlen(full) < sizeof p->name, "use fewer stages", "name '%s' too long", full);
        memcpy(p->name, full, strlen(full) + 1);
        push_state(net, "", p->name, &p->w);
        for (int b = 0; b < nbn; b++)
            if (p == &bns[b]->beta) {  // running stats follow the bias, as in state_dict
                char base[64];
                snprintf(base, sizeof base, "%.*s", (int)(strlen(p->name) - 4), p->name);
                push_state(net, base, "running_mean", &bns[b]->run_mean);
                push_state(net, base, "running_var", &bns[b]->run_var);
            }
    }
}

void effnet_init(const Backend *be, EffNet *net, const EffNetCfg *cfg, int in_hw, Rng *rng) {
    char err[256];
    DNA_CHECK(effnet_cfg_validate(cfg, err, sizeof err) == 0, "fix the [teacher] section",
              "bad teacher architecture: %s", err);
    *net = (EffNet){.cfg = *cfg};
    for (int s = 0; s < cfg->nstages; s++) net->nlayers += cfg->stage[s].repeats;
    DNA_CHECK(net->nlayers <= EFFNET_MAX_STAGES * 64, "use fewer layers", "%d layers is too many",
              net->nlayers);
    net->layers = dna_calloc((size_t)net->nlayers, sizeof(MBConv));
    net->layer_c = dna_calloc((size_t)net->nlayers, sizeof(MBConvCache));
    net->state = dna_calloc((size_t)net->nlayers * 24 + 16, sizeof(NamedTensor));

    stem_init(be, &net->stem, cfg->cin, cfg->stem, cfg->stem_stride, rng);
    set_bn(&net->stem.bn, cfg);
    BatchNorm *bns[3] = {&net->stem.bn};
    convbn_params(&net->stem, &net->params);
    adopt(net, 0, "", bns, 1);

    int cin = cfg->stem, l = 0;
    for (int s = 0; s < cfg->nstages; s++) {
        for (int i = 0; i < cfg->stage[s].repeats; i++, l++) {
            MBConv *m = &net->layers[l];
            mbconv_init(be, m, layer_cfg(cfg, s, i, cin), rng);
            net->layer_stage[l] = s;
            int nb = 0;
            if (m->has_expand) bns[nb++] = &m->expand.bn;
            bns[nb++] = &m->dw.bn;
            bns[nb++] = &m->proj.bn;
            for (int b = 0; b < nb; b++) set_bn(bns[b], cfg);
            if (m->has_se) {  // timm nests SE as a module: blocks.S.I.se.conv_reduce.weight
                Param *se[4] = {&m->se.rw, &m->se.rb, &m->se.ew, &m->se.eb};
                for (int j = 0; j < 4; j++) {
                    char nm[64];
                    snprintf(nm, sizeof nm, "se.%.60s", se[j]->name);
                    memcpy(se[j]->name, nm, sizeof nm);
                }
            }
            int from = net->params.n;
            mbconv_params(m, &net->params);
            char prefix[32];
            snprintf(prefix, sizeof prefix, "blocks.%d.%d.", s, i);
            adopt(net, from, prefix, bns, nb);
            cin = cfg->stage[s].cout;
        }
    }
    effnet_block_shapes(cfg, in_hw, net->block_c, net->block_hw);
    head_init(be, &net->head, cin, cfg->head, cfg->classes, rng);
    net->head.dropout = cfg->dropout;
    set_bn(&net->head.conv.bn, cfg);
    bns[0] = &net->head.conv.bn;
    int from = net->params.n;
    head_params(&net->head, &net->params);
    adopt(net, from, "", bns, 1);
}

void effnet_free(const Backend *be, EffNet *net) {
    convbn_free(be, &net->stem);
    convbn_cache_free(be, &net->stem_c);
    for (int l = 0; l < net->nlayers; l++) {
        mbconv_free(be, &net->layers[l]);
        mbconv_cache_free(be, &net->layer_c[l]);
    }
    head_free(be, &net->head);
    head_cache_free(be, &net->head_c);
    tensor_free(be, &net->dbound);
    params_free(&net->params);
    free(net->layers);
    free(net->layer_c);
    free(net->state);
    *net = (EffNet){0};
}

void effnet_set_drop_connect(EffNet *net, float rate) {
    for (int l = 0; l < net->nlayers; l++)
        net->layers[l].drop_connect = rate * (float)l / (float)net->nlayers;
}

// ---------------------------------------------------------------- forward / backward

// One past the last layer of block k (the layers of stages up to block_end[k]).
static int block_layer_end(const EffNet *net, int k) {
    int l = 0;
    while (l < net->nlayers && net->layer_stage[l] <= net->cfg.block_end[k]) l++;
    return l;
}

// Stem and layers [0, nl), recording the block boundaries passed. Both forwards go through
// here, so their maps and their drop-connect draws (per layer, in layer order) are the same.
static const Tensor *forward_body(const Backend *be, EffNet *net, const Tensor *x, BNMode mode,
                                  Rng *drop, int nl) {
    const Tensor *h = convbn_forward(be, &net->stem, &net->stem_c, x, mode);
    for (int l = 0, blk = 0; l < nl; l++) {
        h = mbconv_forward(be, &net->layers[l], &net->layer_c[l], h, mode, drop);
        int s = net->layer_stage[l];
        int last_of_stage = l + 1 == net->nlayers || net->layer_stage[l + 1] != s;
        if (last_of_stage && blk < net->cfg.nblocks && net->cfg.block_end[blk] == s)
            net->block_out[blk++] = h;
    }
    return h;
}

const Tensor *effnet_forward(const Backend *be, EffNet *net, const Tensor *x, BNMode mode,
                             Rng *drop) {
    const Tensor *h = forward_body(be, net, x, mode, drop, net->nlayers);
    return head_forward(be, &net->head, &net->head_c, h, mode, drop);
}

const Tensor *effnet_forward_blocks(const Backend *be, EffNet *net, const Tensor *x, BNMode mode,
                                    Rng *drop) {
    int last = net->cfg.nblocks - 1;
    forward_body(be, net, x, mode, drop, block_layer_end(net, last));
    return net->block_out[last];
}

// Only layers whose activation keeps the sign of its input are units in NASWOT's sense.
static void visit(const ConvBN *l, const ConvBNCache *c, EffNetActFn fn, void *user) {
    if (l->act == ACT_SWISH || l->act == ACT_RELU) fn(&c->out, user);
}

void effnet_each_activation(const EffNet *net, EffNetActFn fn, void *user) {
    visit(&net->stem, &net->stem_c, fn, user);
    for (int l = 0; l < net->nlayers; l++) {
        const MBConv *m = &net->layers[l];
        const MBConvCache *c = &net->layer_c[l];
        if (m->has_expand) visit(&m->expand, &c->ex, fn, user);
        visit(&m->dw, &c->dw, fn, user);
        if (m->has_se) fn(&c->se.rs, user);  // swish(reduce(pool(x)))
        visit(&m->proj, &c->pj, fn, user);   // no activation today: skipped
    }
    visit(&net->head.conv, &net->head_c.conv, fn, user);
}

void effnet_backward(const Backend *be, EffNet *net, const Tensor *dlogits) {
    const Tensor *d = head_backward(be, &net->head, &net->head_c, dlogits);
    for (int l = net->nlayers - 1; l >= 0; l--)
        d = mbconv_backward(be, &net->layers[l], &net->layer_c[l], d, 1);
    convbn_backward(be, &net->stem, &net->stem_c, d, 0);
}

// The running gradient below boundary k: d (from the blocks above, NULL = none) plus g.
static const Tensor *join_boundary(const Backend *be, EffNet *net, int k, const Tensor *d,
                                   const Tensor *g) {
    if (!g) return d;
    const Tensor *b = net->block_out[k];
    DNA_CHECK(g->n == b->n && g->c == b->c && g->h == b->h && g->w == b->w,
              "pass dL/d block_out[k] in block_out[k]'s shape",
              "block %d: gradient [%d,%d,%d,%d] for a map [%d,%d,%d,%d]", k, g->n, g->c, g->h, g->w,
              b->n, b->c, b->h, b->w);
    if (!d) return g;
    tensor_ensure(be, &net->dbound, b->n, b->c, b->h, b->w);
    be->add(d, g, &net->dbound);  // not in place: d belongs to a layer's cache
    return &net->dbound;
}

// Layers above the highest non-NULL boundary get no gradient and are not visited; their
// parameter gradients would be zero.
void effnet_backward_blocks(const Backend *be, EffNet *net, const Tensor *const *dblock) {
    const Tensor *d = NULL;
    for (int k = net->cfg.nblocks - 1; k >= 0; k--) {
        d = join_boundary(be, net, k, d, dblock[k]);
        int first = k ? block_layer_end(net, k - 1) : 0;
        for (int l = block_layer_end(net, k) - 1; d && l >= first; l--)
            d = mbconv_backward(be, &net->layers[l], &net->layer_c[l], d, 1);
    }
    if (d) convbn_backward(be, &net->stem, &net->stem_c, d, 0);
}

// ---------------------------------------------------------------- block parameters

void effnet_block_params(EffNet *net, ParamList *l) {
    convbn_params(&net->stem, l);  // net->params starts the same way (effnet_init)
    int nl = block_layer_end(net, net->cfg.nblocks - 1);
    for (int i = 0; i < nl; i++) mbconv_params(&net->layers[i], l);
}

static int block_bn_count(const EffNet *net) {
    int n = 1, nl = block_layer_end(net, net->cfg.nblocks - 1);
    for (int i = 0; i < nl; i++) n += 2 + net->layers[i].has_expand;
    return n;
}

int effnet_block_bns(EffNet *net, BatchNorm **bns, int max) {
    int n = 0, nl = block_layer_end(net, net->cfg.nblocks - 1);
#define PUSH(bn) \
    (n < max ? (void)(bns[n++] = (bn)) : DNA_FAIL("", "effnet_block_bns: more than %d", max))
    PUSH(&net->stem.bn);
    for (int i = 0; i < nl; i++) {
        MBConv *m = &net->layers[i];
        if (m->has_expand) PUSH(&m->expand.bn);
        PUSH(&m->dw.bn);
        PUSH(&m->proj.bn);  // SE has no batch norm
    }
#undef PUSH
    return n;
}

int effnet_block_stats(EffNet *net, Tensor **stats, int max) {
    int nbn = block_bn_count(net), n = 0;
    DNA_CHECK(2 * nbn <= max, "", "effnet_block_stats: %d statistics, room for %d", 2 * nbn, max);
    BatchNorm **bns = dna_malloc(sizeof *bns * (size_t)nbn);  // up to 6145: not on the stack
    effnet_block_bns(net, bns, nbn);
    for (int i = 0; i < nbn; i++) stats[n++] = &bns[i]->run_mean, stats[n++] = &bns[i]->run_var;
    free(bns);
    return n;
}

// ---------------------------------------------------------------- counts

int effnet_stem_hw(const EffNetCfg *c, int in_hw) {
    return (in_hw + 2 - 3) / c->stem_stride + 1;  // 3x3, pad 1
}

void effnet_block_shapes(const EffNetCfg *c, int in_hw, int *ch, int *hws) {
    int hw = effnet_stem_hw(c, in_hw), blk = 0;
    for (int s = 0; s < c->nstages; s++) {
        for (int i = 0; i < c->stage[s].repeats; i++) {
            MBConvCfg m = layer_cfg(c, s, i, 1);
            hw = (hw + 2 * (m.k / 2) - m.k) / m.stride + 1;
        }
        if (blk < c->nblocks && c->block_end[blk] == s) {
            ch[blk] = c->stage[s].cout;
            hws[blk++] = hw;
        }
    }
}

long effnet_param_count(const EffNetCfg *c) {
    long n = convbn_param_count(c->cin, c->stem, 3, 1);
    int cin = c->stem;
    for (int s = 0; s < c->nstages; s++)
        for (int i = 0; i < c->stage[s].repeats; i++) {
            n += mbconv_param_count(layer_cfg(c, s, i, cin));
            cin = c->stage[s].cout;
        }
    return n + head_param_count(cin, c->head, c->classes);
}

long effnet_macs(const EffNetCfg *c, int in_hw) {
    int hw = effnet_stem_hw(c, in_hw), cin = c->stem;
    long n = convbn_macs(c->cin, c->stem, 3, 1, hw, hw);
    for (int s = 0; s < c->nstages; s++)
        for (int i = 0; i < c->stage[s].repeats; i++) {
            MBConvCfg m = layer_cfg(c, s, i, cin);
            n += mbconv_macs(m, hw, hw);
            int p = m.k / 2;
            hw = (hw + 2 * p - m.k) / m.stride + 1;
            cin = m.cout;
        }
    return n + head_macs(cin, c->head, c->classes, hw, hw);
}

void effnet_cfg_from_config(const Config *cfg, int cin, EffNetCfg *out) {
    const TeacherCfg *t = &cfg->teacher;
    const char *file = cfg->path[0] ? cfg->path : "the config";
    EffNetCfg c = {.cin = cin,
                   .stem = (int)t->stem,
                   .stem_stride = (int)t->stem_stride,
                   .head = (int)t->head,
                   .classes = (int)cfg->data.classes,
                   .dropout = (float)t->fit.dropout,
                   .bn_eps = (float)t->bn_eps,
                   .bn_momentum = (float)t->bn_momentum};
    char err[256];
    DNA_CHECK(effnet_parse_stages(t->stages, &c, err, sizeof err) == 0,
              "write stages as timm strings, e.g. ir_r2_k3_s2_e6_c24_se0.25",
              "%s: [teacher] stages: %s", file, err);
    char buf[CFG_STR], *save = NULL;
    snprintf(buf, sizeof buf, "%s", t->blocks);
    for (char *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
        char *end;
        long v = strtol(tok, &end, 10);
        DNA_CHECK(!*end && c.nblocks < EFFNET_MAX_BLOCKS, "list stage indices, e.g. blocks = 1 2 3",
                  "%s: [teacher] blocks: bad entry '%s'", file, tok);
        c.block_end[c.nblocks++] = (int)v;
    }
    DNA_CHECK(effnet_cfg_validate(&c, err, sizeof err) == 0, "fix the [teacher] section",
              "%s: [teacher]: %s", file, err);
    *out = c;
}
