// A ViT stage: embedding conv -> tokens + positional embedding -> transformer blocks ->
// LayerNorm -> linear -> map (nn/vitstage.h).
#include "nn/vitstage.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"

static int tokens(const VitStageCfg *c) {
    return c->out_hw * c->out_hw;
}

static TfBlockCfg block_cfg(const VitStageCfg *c) {
    return (TfBlockCfg){.dim = c->dim, .heads = c->dim / c->head_dim, .hidden = c->hidden};
}

static void check_cfg(const VitStageCfg *c) {
    DNA_CHECK(c->out_hw > 0 && c->in_hw % c->out_hw == 0,
              "place the ViT blocks where the teacher's resolution divides the input's (a patch "
              "must tile the map)",
              "ViT stage from %dx%d to %dx%d: the embedding's stride must be a whole number",
              c->in_hw, c->in_hw, c->out_hw, c->out_hw);
    DNA_CHECK(c->head_dim > 0 && c->dim > 0 && c->dim % c->head_dim == 0,
              "choose widths that are multiples of [space] head_dim",
              "ViT width %d is not a multiple of the head width %d", c->dim, c->head_dim);
    DNA_CHECK(
        c->depth >= 1 && c->depth <= VIT_MAX_DEPTH && c->hidden > 0 && c->cin > 0 && c->cout > 0,
        "give 1..16 transformer blocks per ViT block and positive widths",
        "bad ViT stage: depth %d, hidden %d, cin %d, cout %d", c->depth, c->hidden, c->cin,
        c->cout);
}

static void init_normal(const Backend *be, Param *p, float std, Rng *rng) {
    size_t n = tensor_numel(&p->w);
    float *h = dna_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = std * rng_normal(rng);
    tensor_upload(be, &p->w, h);
    free(h);
}

void vitstage_init(const Backend *be, VitStage *l, VitStageCfg cfg, Rng *rng) {
    check_cfg(&cfg);
    *l = (VitStage){.cfg = cfg, .stride = cfg.in_hw / cfg.out_hw};
    int s = l->stride, D = cfg.dim;
    param_init(be, &l->embed_w, "embed.weight", D, cfg.cin, s, s, 1);
    init_normal(be, &l->embed_w, 0.02f, rng);
    param_init(be, &l->pos, "pos_embed", 1, tokens(&cfg), 1, D, 0);
    init_normal(be, &l->pos, 0.02f, rng);
    for (int i = 0; i < cfg.depth; i++) {
        tfblock_init(be, &l->blk[i], block_cfg(&cfg), rng);
        ParamList pl = {0};
        tfblock_params(&l->blk[i], &pl);
        for (int j = 0; j < pl.n; j++) {  // "blocks.<i>.<name>", timm's naming
            char name[96];
            snprintf(name, sizeof name, "blocks.%d.%s", i, pl.p[j]->name);
            snprintf(pl.p[j]->name, sizeof pl.p[j]->name, "%.63s", name);
        }
        params_free(&pl);
    }
    param_init(be, &l->norm_w, "norm.weight", D, 1, 1, 1, 0);
    param_fill(be, &l->norm_w, 1.0f);
    param_init(be, &l->norm_b, "norm.bias", D, 1, 1, 1, 0);
    param_init(be, &l->out_w, "out.weight", cfg.cout, D, 1, 1, 1);
    init_normal(be, &l->out_w, 0.02f, rng);
    param_init(be, &l->out_b, "out.bias", cfg.cout, 1, 1, 1, 0);
}

void vitstage_params(VitStage *l, ParamList *list) {
    params_push(list, &l->embed_w);
    params_push(list, &l->pos);
    for (int i = 0; i < l->cfg.depth; i++) tfblock_params(&l->blk[i], list);
    params_push(list, &l->norm_w);
    params_push(list, &l->norm_b);
    params_push(list, &l->out_w);
    params_push(list, &l->out_b);
}

void vitstage_free(const Backend *be, VitStage *l) {
    param_free(be, &l->embed_w);
    param_free(be, &l->pos);
    for (int i = 0; i < VIT_MAX_DEPTH; i++)
        if (l->blk[i].norm1_w.w.data) tfblock_free(be, &l->blk[i]);
    param_free(be, &l->norm_w);
    param_free(be, &l->norm_b);
    param_free(be, &l->out_w);
    param_free(be, &l->out_b);
}

static ConvSpec embed_spec(const VitStage *l) {
    return (ConvSpec){.stride = l->stride, .pad = 0, .groups = 1};
}

const Tensor *vitstage_embed(const Backend *be, VitStage *l, VitStageCache *c, const Tensor *x) {
    const VitStageCfg *g = &l->cfg;
    DNA_CHECK(x->c == g->cin && x->h == g->in_hw && x->w == g->in_hw,
              "check the teacher's block boundaries against the ViT space",
              "ViT stage reads [%d,%d,%d] maps, given [%d,%d,%d]", g->cin, g->in_hw, g->in_hw, x->c,
              x->h, x->w);
    int N = x->n, T = tokens(g), D = g->dim, hw = g->out_hw;
    c->x = x;
    tensor_ensure(be, &c->e, N, D, hw, hw);
    tensor_ensure(be, &c->t0, N, T, 1, D);
    be->conv2d_fwd(x, &l->embed_w.w, &c->e, embed_spec(l));
    be->transpose(&c->e, &c->t0);
    be->bcast_add(&c->t0, &l->pos.w, &c->t0);
    return &c->t0;
}

const Tensor *vitstage_head(const Backend *be, VitStage *l, VitStageCache *c, const Tensor *t) {
    const VitStageCfg *g = &l->cfg;
    int N = t->n, T = tokens(g), D = g->dim, hw = g->out_hw;
    tensor_ensure(be, &c->n, N, T, 1, D);
    tensor_ensure(be, &c->mean, N * T, 1, 1, 1);
    tensor_ensure(be, &c->istd, N * T, 1, 1, 1);
    tensor_ensure(be, &c->u, N, T, 1, g->cout);
    tensor_ensure(be, &c->out, N, g->cout, hw, hw);
    be->layernorm_fwd(t, l->norm_w.w.data, l->norm_b.w.data, &c->n, c->mean.data, c->istd.data,
                      l->blk[0].eps);
    be->tok_linear_fwd(&c->n, &l->out_w.w, l->out_b.w.data, &c->u);
    be->transpose(&c->u, &c->out);
    return &c->out;
}

const Tensor *vitstage_forward(const Backend *be, VitStage *l, VitStageCache *c, const Tensor *x,
                               Rng *drop) {
    const Tensor *t = vitstage_embed(be, l, c, x);
    for (int i = 0; i < l->cfg.depth; i++) t = tfblock_forward(be, &l->blk[i], &c->blk[i], t, drop);
    return vitstage_head(be, l, c, t);
}

const Tensor *vitstage_backward(const Backend *be, VitStage *l, VitStageCache *c, const Tensor *dy,
                                int need_dx) {
    const VitStageCfg *g = &l->cfg;
    int N = dy->n, T = tokens(g), D = g->dim, hw = g->out_hw;
    tensor_ensure(be, &c->du, N, T, 1, g->cout);
    tensor_ensure(be, &c->dn, N, T, 1, D);
    tensor_ensure(be, &c->dt, N, T, 1, D);
    tensor_ensure(be, &c->de, N, D, hw, hw);
    be->transpose(dy, &c->du);
    be->tok_linear_bwd(&c->n, &l->out_w.w, &c->du, &c->dn, &l->out_w.g, l->out_b.g.data);
    const Tensor *last = g->depth ? &c->blk[g->depth - 1].out : &c->t0;
    be->layernorm_bwd(last, l->norm_w.w.data, c->mean.data, c->istd.data, &c->dn, &c->dt,
                      l->norm_w.g.data, l->norm_b.g.data);
    const Tensor *d = &c->dt;
    for (int i = g->depth - 1; i >= 0; i--) d = tfblock_backward(be, &l->blk[i], &c->blk[i], d);
    be->bcast_add_bwd(d, &l->pos.g);
    be->transpose(d, &c->de);
    if (need_dx) tensor_ensure(be, &c->dx, N, g->cin, g->in_hw, g->in_hw);
    be->conv2d_bwd(c->x, &l->embed_w.w, &c->de, need_dx ? &c->dx : NULL, &l->embed_w.g,
                   embed_spec(l));
    return need_dx ? &c->dx : NULL;
}

void vitstage_cache_free(const Backend *be, VitStageCache *c) {
    Tensor *t[] = {&c->e,   &c->t0, &c->n,  &c->mean, &c->istd, &c->u,
                   &c->out, &c->du, &c->dn, &c->dt,   &c->de,   &c->dx};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) tensor_free(be, t[i]);
    for (int i = 0; i < VIT_MAX_DEPTH; i++) tfblock_cache_free(be, &c->blk[i]);
    *c = (VitStageCache){0};
}

// ---------------------------------------------------------------- slimming
void vitstage_slice(const Backend *be, const VitStage *full, VitStage *sub, VitStageCfg cfg) {
    const VitStageCfg *F = &full->cfg;
    check_cfg(&cfg);
    DNA_CHECK(cfg.cin == F->cin && cfg.in_hw == F->in_hw && cfg.cout == F->cout &&
                  cfg.out_hw == F->out_hw && cfg.head_dim == F->head_dim && cfg.dim <= F->dim &&
                  cfg.hidden <= F->hidden && cfg.depth <= F->depth,
              "a subnet is at most as wide and deep as its supernet, with the same ends",
              "cannot slice dim %d, hidden %d, depth %d out of dim %d, hidden %d, depth %d",
              cfg.dim, cfg.hidden, cfg.depth, F->dim, F->hidden, F->depth);
    int d = cfg.dim, D = F->dim, T = tokens(F), s = full->stride, k = F->cin * s * s;
    sub->cfg = cfg;
    sub->stride = s;
    tensor_ensure(be, &sub->embed_w.w, d, F->cin, s, s);
    tensor_ensure(be, &sub->embed_w.g, d, F->cin, s, s);
    be->copy2d(sub->embed_w.w.data, k, full->embed_w.w.data, k, d, k, 0);
    tensor_ensure(be, &sub->pos.w, 1, T, 1, d);
    tensor_ensure(be, &sub->pos.g, 1, T, 1, d);
    be->copy2d(sub->pos.w.data, d, full->pos.w.data, D, T, d, 0);
    for (int i = 0; i < cfg.depth; i++)
        tfblock_slice(be, &full->blk[i], &sub->blk[i], block_cfg(&cfg));
    Param *pv[] = {&sub->norm_w, &sub->norm_b};
    const Param *fv[] = {&full->norm_w, &full->norm_b};
    for (int j = 0; j < 2; j++) {
        tensor_ensure(be, &pv[j]->w, d, 1, 1, 1);
        tensor_ensure(be, &pv[j]->g, d, 1, 1, 1);
        be->copy2d(pv[j]->w.data, d, fv[j]->w.data, D, 1, d, 0);
    }
    tensor_ensure(be, &sub->out_w.w, F->cout, d, 1, 1);
    tensor_ensure(be, &sub->out_w.g, F->cout, d, 1, 1);
    be->copy2d(sub->out_w.w.data, d, full->out_w.w.data, D, F->cout, d, 0);
    be->copy(sub->out_b.w.data, full->out_b.w.data, sizeof(float) * (size_t)F->cout);
}

void vitstage_unslice_grads(const Backend *be, const VitStage *sub, VitStage *full) {
    int d = sub->cfg.dim, D = full->cfg.dim, T = tokens(&full->cfg), s = full->stride;
    int k = full->cfg.cin * s * s, C = full->cfg.cout;
    be->copy2d(full->embed_w.g.data, k, sub->embed_w.g.data, k, d, k, 1);
    be->copy2d(full->pos.g.data, D, sub->pos.g.data, d, T, d, 1);
    for (int i = 0; i < sub->cfg.depth; i++) tfblock_unslice_grads(be, &sub->blk[i], &full->blk[i]);
    be->copy2d(full->norm_w.g.data, D, sub->norm_w.g.data, d, 1, d, 1);
    be->copy2d(full->norm_b.g.data, D, sub->norm_b.g.data, d, 1, d, 1);
    be->copy2d(full->out_w.g.data, D, sub->out_w.g.data, d, C, d, 1);
    be->copy2d(full->out_b.g.data, C, sub->out_b.g.data, C, 1, C, 1);
}

// ---------------------------------------------------------------- costs
long vitstage_param_count(VitStageCfg cfg) {
    long s = cfg.in_hw / cfg.out_hw, D = cfg.dim;
    long n = D * cfg.cin * s * s + (long)tokens(&cfg) * D;
    n += cfg.depth * tfblock_param_count(block_cfg(&cfg));
    return n + 2 * D + D * cfg.cout + cfg.cout;
}

long vitstage_macs(VitStageCfg cfg) {
    long s = cfg.in_hw / cfg.out_hw, D = cfg.dim, T = tokens(&cfg);
    long n = T * D * cfg.cin * s * s;
    n += cfg.depth * tfblock_macs(block_cfg(&cfg), (int)T);
    return n + T * D + T * D * cfg.cout;
}
