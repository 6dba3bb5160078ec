// The pre-norm transformer block: a composition of the transformer ops (tensor/ops.def).
#include "nn/tfblock.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"

static void init_weight(const Backend *be, Param *p, Rng *rng) {
    size_t n = tensor_numel(&p->w);
    float *h = dna_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = 0.02f * rng_normal(rng);
    tensor_upload(be, &p->w, h);
    free(h);
}

static void linear(const Backend *be, Param *w, Param *b, const char *name, int out, int in,
                   Rng *rng) {
    param_init_linear_pair(be, w, b, name, out, in);
    init_weight(be, w, rng);
}

static void norm(const Backend *be, Param *w, Param *b, const char *name, int dim) {
    char s[64];
    snprintf(s, sizeof s, "%s.weight", name);
    param_init(be, w, s, dim, 1, 1, 1, 0);
    param_fill(be, w, 1.0f);
    snprintf(s, sizeof s, "%s.bias", name);
    param_init(be, b, s, dim, 1, 1, 1, 0);
}

void tfblock_init(const Backend *be, TfBlock *l, TfBlockCfg cfg, Rng *rng) {
    DNA_CHECK(cfg.dim > 0 && cfg.heads > 0 && cfg.dim % cfg.heads == 0 && cfg.hidden > 0,
              "the token width must be a positive multiple of the number of heads",
              "bad transformer block: dim %d, %d heads, hidden %d", cfg.dim, cfg.heads, cfg.hidden);
    *l = (TfBlock){.cfg = cfg, .eps = 1e-6f};
    int D = cfg.dim;
    norm(be, &l->norm1_w, &l->norm1_b, "norm1", D);
    linear(be, &l->qkv_w, &l->qkv_b, "attn.qkv", 3 * D, D, rng);
    linear(be, &l->proj_w, &l->proj_b, "attn.proj", D, D, rng);
    norm(be, &l->norm2_w, &l->norm2_b, "norm2", D);
    linear(be, &l->fc1_w, &l->fc1_b, "mlp.fc1", cfg.hidden, D, rng);
    linear(be, &l->fc2_w, &l->fc2_b, "mlp.fc2", D, cfg.hidden, rng);
}

void tfblock_params(TfBlock *l, ParamList *list) {
    Param *p[] = {&l->norm1_w, &l->norm1_b, &l->qkv_w, &l->qkv_b, &l->proj_w, &l->proj_b,
                  &l->norm2_w, &l->norm2_b, &l->fc1_w, &l->fc1_b, &l->fc2_w,  &l->fc2_b};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) params_push(list, p[i]);
}

void tfblock_free(const Backend *be, TfBlock *l) {
    ParamList list = {0};
    tfblock_params(l, &list);
    for (int i = 0; i < list.n; i++) param_free(be, list.p[i]);
    params_free(&list);
}

// DropPath as timm's drop_path: each sample keeps a residual branch with probability 1 - p,
// scaled by 1 / (1 - p). keep is [2, N]: the attention branch's factors, then the MLP's;
// per sample both are drawn, attention first.
static void draw_keep(const Backend *be, TfBlock *l, TfBlockCache *c, int n, Rng *drop) {
    tensor_ensure(be, &c->keep, 2, n, 1, 1);
    float *m = dna_malloc(sizeof(float) * 2 * (size_t)n), keep = 1.0f / (1.0f - l->drop_path);
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 2; b++) m[b * n + i] = rng_uniform(drop) < l->drop_path ? 0.0f : keep;
    tensor_upload(be, &c->keep, m);
    free(m);
}

// Branch b's tensor x times each sample's keep factor, into y (may alias x): the channel
// gate on a one-channel view [N, 1, 1, T D] with one gate value per sample.
static void drop_branch(const Backend *be, TfBlockCache *c, int b, const Tensor *x, Tensor *y) {
    Tensor xv = tensor_view(x->data, x->n, 1, 1, x->c * x->h * x->w);
    Tensor yv = tensor_view(y->data, x->n, 1, 1, x->c * x->h * x->w);
    Tensor g = tensor_view(c->keep.data + (size_t)b * x->n, x->n, 1, 1, 1);
    be->scale_ch_fwd(&xv, &g, &yv);
}

const Tensor *tfblock_forward(const Backend *be, TfBlock *l, TfBlockCache *c, const Tensor *x,
                              Rng *drop) {
    int N = x->n, T = x->c * x->h, D = l->cfg.dim, H = l->cfg.hidden, R = N * T;
    DNA_CHECK(x->w == D && x->h == 1, "check the token width of the blocks",
              "transformer block of width %d given tokens [%d,%d,%d,%d]", D, x->n, x->c, x->h,
              x->w);
    c->x = x;
    tensor_ensure(be, &c->n1, N, T, 1, D);
    tensor_ensure(be, &c->mean1, R, 1, 1, 1);
    tensor_ensure(be, &c->istd1, R, 1, 1, 1);
    tensor_ensure(be, &c->qkv, N, T, 1, 3 * D);
    tensor_ensure(be, &c->att, N, T, 1, D);
    tensor_ensure(be, &c->p, N, l->cfg.heads, T, T);
    tensor_ensure(be, &c->a, N, T, 1, D);
    tensor_ensure(be, &c->h, N, T, 1, D);
    tensor_ensure(be, &c->n2, N, T, 1, D);
    tensor_ensure(be, &c->mean2, R, 1, 1, 1);
    tensor_ensure(be, &c->istd2, R, 1, 1, 1);
    tensor_ensure(be, &c->f1, N, T, 1, H);
    tensor_ensure(be, &c->g, N, T, 1, H);
    tensor_ensure(be, &c->out, N, T, 1, D);
    c->dropped = drop && l->drop_path > 0.0f;
    if (c->dropped) draw_keep(be, l, c, N, drop);

    be->layernorm_fwd(x, l->norm1_w.w.data, l->norm1_b.w.data, &c->n1, c->mean1.data, c->istd1.data,
                      l->eps);
    be->tok_linear_fwd(&c->n1, &l->qkv_w.w, l->qkv_b.w.data, &c->qkv);
    be->attn_fwd(&c->qkv, &c->att, &c->p, l->cfg.heads);
    be->tok_linear_fwd(&c->att, &l->proj_w.w, l->proj_b.w.data, &c->a);
    if (c->dropped) drop_branch(be, c, 0, &c->a, &c->a);  // the backward needs att, not a
    be->add(x, &c->a, &c->h);
    be->layernorm_fwd(&c->h, l->norm2_w.w.data, l->norm2_b.w.data, &c->n2, c->mean2.data,
                      c->istd2.data, l->eps);
    be->tok_linear_fwd(&c->n2, &l->fc1_w.w, l->fc1_b.w.data, &c->f1);
    be->act_fwd(ACT_GELU, &c->f1, &c->g);
    be->tok_linear_fwd(&c->g, &l->fc2_w.w, l->fc2_b.w.data, &c->out);
    if (c->dropped) drop_branch(be, c, 1, &c->out, &c->out);
    be->add(&c->h, &c->out, &c->out);
    return &c->out;
}

const Tensor *tfblock_backward(const Backend *be, TfBlock *l, TfBlockCache *c, const Tensor *dy) {
    const Tensor *x = c->x;
    int N = x->n, T = x->c, D = l->cfg.dim, H = l->cfg.hidden;
    tensor_ensure(be, &c->dh, N, T, 1, D);
    tensor_ensure(be, &c->d1, N, T, 1, H > D ? H : D);
    tensor_ensure(be, &c->d2, N, T, 1, H > D ? H : D);
    tensor_ensure(be, &c->dqkv, N, T, 1, 3 * D);
    tensor_ensure(be, &c->dx, N, T, 1, D);
    Tensor dD1 = tensor_view(c->d1.data, N, T, 1, D);
    Tensor dD2 = tensor_view(c->d2.data, N, T, 1, D), dH2 = tensor_view(c->d2.data, N, T, 1, H);

    // MLP half: dh = dy + LN2'(fc1'(GELU'(fc2'(drop(dy)))))
    const Tensor *df2 = dy;
    if (c->dropped) drop_branch(be, c, 1, dy, &dD1), df2 = &dD1;
    be->tok_linear_bwd(&c->g, &l->fc2_w.w, df2, &dH2, &l->fc2_w.g, l->fc2_b.g.data);
    be->act_bwd(ACT_GELU, &c->f1, &dH2, &dH2);
    be->tok_linear_bwd(&c->n2, &l->fc1_w.w, &dH2, &dD1, &l->fc1_w.g, l->fc1_b.g.data);
    be->layernorm_bwd(&c->h, l->norm2_w.w.data, c->mean2.data, c->istd2.data, &dD1, &c->dh,
                      l->norm2_w.g.data, l->norm2_b.g.data);
    be->add(&c->dh, dy, &c->dh);
    // attention half: dx = dh + LN1'(qkv'(attn'(proj'(drop(dh)))))
    const Tensor *da = &c->dh;
    if (c->dropped) drop_branch(be, c, 0, &c->dh, &dD1), da = &dD1;
    be->tok_linear_bwd(&c->att, &l->proj_w.w, da, &dD2, &l->proj_w.g, l->proj_b.g.data);
    be->attn_bwd(&c->qkv, &c->p, &dD2, &c->dqkv, l->cfg.heads);
    be->tok_linear_bwd(&c->n1, &l->qkv_w.w, &c->dqkv, &dD1, &l->qkv_w.g, l->qkv_b.g.data);
    be->layernorm_bwd(x, l->norm1_w.w.data, c->mean1.data, c->istd1.data, &dD1, &c->dx,
                      l->norm1_w.g.data, l->norm1_b.g.data);
    be->add(&c->dx, &c->dh, &c->dx);
    return &c->dx;
}

void tfblock_cache_free(const Backend *be, TfBlockCache *c) {
    Tensor *t[] = {&c->n1,   &c->mean1, &c->istd1, &c->qkv,   &c->att,  &c->p, &c->a,
                   &c->h,    &c->n2,    &c->mean2, &c->istd2, &c->f1,   &c->g, &c->out,
                   &c->keep, &c->dh,    &c->d1,    &c->d2,    &c->dqkv, &c->dx};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) tensor_free(be, t[i]);
    *c = (TfBlockCache){0};
}

long tfblock_param_count(TfBlockCfg cfg) {
    long D = cfg.dim, H = cfg.hidden;
    return 4 * D + (3 * D * D + 3 * D) + (D * D + D) + (D * H + H) + (H * D + D);
}

long tfblock_macs(TfBlockCfg cfg, int tokens) {
    long T = tokens, D = cfg.dim, H = cfg.hidden;
    return 2 * T * D + T * D * 3 * D + 2 * T * T * D + T * D * D + 2 * T * D * H;
}

// ---------------------------------------------------------------- slimming
typedef enum { SLICE_W, SLICE_G } SliceWhat;

static float *data_of(const Param *p, SliceWhat what) {
    return what == SLICE_W ? p->w.data : p->g.data;
}

// rows x cols of a [.., ld] matrix between full and sub (to sub: copy; back: accumulate)
static void move(const Backend *be, const Param *full, int full_ld, const Param *sub, int sub_ld,
                 int rows, int cols, int row0_full, int row0_sub, SliceWhat what, int back) {
    float *f = data_of(full, what) + (size_t)row0_full * full_ld;
    float *s = data_of(sub, what) + (size_t)row0_sub * sub_ld;
    if (back)
        be->copy2d(f, full_ld, s, sub_ld, rows, cols, 1);
    else
        be->copy2d(s, sub_ld, f, full_ld, rows, cols, 0);
}

// Every parameter of the block; weights are [rows, cols] matrices, vectors one row.
static void move_all(const Backend *be, const TfBlock *full, const TfBlock *sub, SliceWhat what,
                     int back) {
    int D = full->cfg.dim, H = full->cfg.hidden, d = sub->cfg.dim, h = sub->cfg.hidden;
    move(be, &full->norm1_w, D, &sub->norm1_w, d, 1, d, 0, 0, what, back);
    move(be, &full->norm1_b, D, &sub->norm1_b, d, 1, d, 0, 0, what, back);
    for (int j = 0; j < 3; j++) {  // q, k, v: the first d rows of each, the first d inputs
        move(be, &full->qkv_w, D, &sub->qkv_w, d, d, d, j * D, j * d, what, back);
        move(be, &full->qkv_b, 1, &sub->qkv_b, 1, d, 1, j * D, j * d, what, back);
    }
    move(be, &full->proj_w, D, &sub->proj_w, d, d, d, 0, 0, what, back);
    move(be, &full->proj_b, D, &sub->proj_b, d, 1, d, 0, 0, what, back);
    move(be, &full->norm2_w, D, &sub->norm2_w, d, 1, d, 0, 0, what, back);
    move(be, &full->norm2_b, D, &sub->norm2_b, d, 1, d, 0, 0, what, back);
    move(be, &full->fc1_w, D, &sub->fc1_w, d, h, d, 0, 0, what, back);
    move(be, &full->fc1_b, H, &sub->fc1_b, h, 1, h, 0, 0, what, back);
    move(be, &full->fc2_w, H, &sub->fc2_w, h, d, h, 0, 0, what, back);
    move(be, &full->fc2_b, D, &sub->fc2_b, d, 1, d, 0, 0, what, back);
}

static void reshape(const Backend *be, Param *p, int n, int c) {
    tensor_ensure(be, &p->w, n, c, 1, 1);
    tensor_ensure(be, &p->g, n, c, 1, 1);
}

void tfblock_slice(const Backend *be, const TfBlock *full, TfBlock *sub, TfBlockCfg cfg) {
    int D = full->cfg.dim, H = full->cfg.hidden, d = cfg.dim, h = cfg.hidden;
    DNA_CHECK(d > 0 && d <= D && h > 0 && h <= H && cfg.heads > 0 && d % cfg.heads == 0 &&
                  d / cfg.heads == D / full->cfg.heads,
              "a subnet is at most as wide as the supernet, with the same head width",
              "cannot slice dim %d, hidden %d, %d heads out of dim %d, hidden %d, %d heads", d, h,
              cfg.heads, D, H, full->cfg.heads);
    sub->cfg = cfg;
    sub->eps = full->eps;
    sub->drop_path = full->drop_path;
    reshape(be, &sub->norm1_w, d, 1), reshape(be, &sub->norm1_b, d, 1);
    reshape(be, &sub->qkv_w, 3 * d, d), reshape(be, &sub->qkv_b, 3 * d, 1);
    reshape(be, &sub->proj_w, d, d), reshape(be, &sub->proj_b, d, 1);
    reshape(be, &sub->norm2_w, d, 1), reshape(be, &sub->norm2_b, d, 1);
    reshape(be, &sub->fc1_w, h, d), reshape(be, &sub->fc1_b, h, 1);
    reshape(be, &sub->fc2_w, d, h), reshape(be, &sub->fc2_b, d, 1);
    move_all(be, full, sub, SLICE_W, 0);
}

void tfblock_unslice_grads(const Backend *be, const TfBlock *sub, TfBlock *full) {
    move_all(be, full, sub, SLICE_G, 1);
}
