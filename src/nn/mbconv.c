// MBConv, stem and head: composition of ConvBN and SE, plus their parameter and MAC counts.
#include "nn/mbconv.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"

static void name_convbn(ConvBN *l, const char *conv, const char *bn) {
    snprintf(l->w.name, sizeof l->w.name, "%s.weight", conv);
    snprintf(l->bn.gamma.name, sizeof l->bn.gamma.name, "%s.weight", bn);
    snprintf(l->bn.beta.name, sizeof l->bn.beta.name, "%s.bias", bn);
}

static int se_width(MBConvCfg c) {
    int r = (int)(c.se_ratio * (float)c.cin);
    return r > 1 ? r : 1;
}

void mbconv_init(const Backend *be, MBConv *l, MBConvCfg cfg, Rng *rng) {
    DNA_CHECK(cfg.expand >= 1 && cfg.stride >= 1 && cfg.k % 2 == 1 && cfg.cin > 0 && cfg.cout > 0,
              "MBConv needs expansion >= 1, stride >= 1, an odd kernel and positive widths",
              "bad MBConv: cin %d cout %d k %d e %d s %d", cfg.cin, cfg.cout, cfg.k, cfg.expand,
              cfg.stride);
    *l = (MBConv){.cfg = cfg};
    l->mid = cfg.cin * cfg.expand;
    l->has_expand = cfg.expand != 1;
    l->has_se = cfg.se_ratio > 0.0f;
    l->se_dim = l->has_se ? se_width(cfg) : 0;
    l->has_res = cfg.stride == 1 && cfg.cin == cfg.cout;
    if (l->has_expand) {
        convbn_init(be, &l->expand, cfg.cin, l->mid, 1, 1, 1, ACT_SWISH, rng);
        name_convbn(&l->expand, "conv_pw", "bn1");
    }
    convbn_init(be, &l->dw, l->mid, l->mid, cfg.k, cfg.stride, l->mid, ACT_SWISH, rng);
    name_convbn(&l->dw, "conv_dw", "bn2");
    if (l->has_se) se_init(be, &l->se, l->mid, l->se_dim, rng);
    convbn_init(be, &l->proj, l->mid, cfg.cout, 1, 1, 1, ACT_NONE, rng);
    name_convbn(&l->proj, "conv_pwl", "bn3");
}

void mbconv_free(const Backend *be, MBConv *l) {
    if (l->has_expand) convbn_free(be, &l->expand);
    convbn_free(be, &l->dw);
    if (l->has_se) se_free(be, &l->se);
    convbn_free(be, &l->proj);
}

void mbconv_params(MBConv *l, ParamList *list) {
    if (l->has_expand) convbn_params(&l->expand, list);
    convbn_params(&l->dw, list);
    if (l->has_se) se_params(&l->se, list);
    convbn_params(&l->proj, list);
}

int mbconv_out_size(const MBConv *l, int in) {
    return convbn_out_size(&l->dw, in);
}

// Drop-connect as in timm's drop_path: each sample keeps the residual branch with probability
// 1 - p, scaled by 1 / (1 - p), or reduces the layer to its identity shortcut.
static void draw_keep(const Backend *be, MBConv *l, MBConvCache *c, int n, Rng *drop) {
    int ch = l->cfg.cout;
    tensor_ensure(be, &c->keep, n, ch, 1, 1);
    float *m = dna_malloc(sizeof(float) * (size_t)n * ch), keep = 1.0f / (1.0f - l->drop_connect);
    for (int i = 0; i < n; i++) {
        float v = rng_uniform(drop) < l->drop_connect ? 0.0f : keep;
        for (int j = 0; j < ch; j++) m[i * ch + j] = v;
    }
    tensor_upload(be, &c->keep, m);
    free(m);
}

const Tensor *mbconv_forward(const Backend *be, MBConv *l, MBConvCache *c, const Tensor *x,
                             BNMode mode, Rng *drop) {
    const Tensor *h = l->has_expand ? convbn_forward(be, &l->expand, &c->ex, x, mode) : x;
    h = convbn_forward(be, &l->dw, &c->dw, h, mode);
    if (l->has_se) h = se_forward(be, &l->se, &c->se, h);
    Tensor *y = (Tensor *)convbn_forward(be, &l->proj, &c->pj, h, mode);
    c->dropped = l->has_res && drop && mode == BN_TRAIN && l->drop_connect > 0.0f;
    if (c->dropped) {
        draw_keep(be, l, c, y->n, drop);
        be->scale_ch_fwd(y, &c->keep, y);  // elementwise, so in place is safe
    }
    if (l->has_res) be->add(y, x, y);  // in place: backward needs the pre-BN tensor, not y
    return y;
}

const Tensor *mbconv_backward(const Backend *be, MBConv *l, MBConvCache *c, const Tensor *dy,
                              int need_dx) {
    const Tensor *db = dy;
    if (c->dropped) {
        tensor_ensure(be, &c->dbranch, dy->n, dy->c, dy->h, dy->w);
        be->scale_ch_bwd(dy, &c->keep, dy, &c->dbranch, NULL);
        db = &c->dbranch;
    }
    const Tensor *d = convbn_backward(be, &l->proj, &c->pj, db, 1);
    if (l->has_se) d = se_backward(be, &l->se, &c->se, d);
    Tensor *dx = (Tensor *)convbn_backward(be, &l->dw, &c->dw, d, need_dx || l->has_expand);
    if (l->has_expand) dx = (Tensor *)convbn_backward(be, &l->expand, &c->ex, dx, need_dx);
    if (need_dx && l->has_res) be->axpy(1.0f, dy, dx);
    return need_dx ? dx : NULL;
}

void mbconv_cache_free(const Backend *be, MBConvCache *c) {
    convbn_cache_free(be, &c->ex);
    convbn_cache_free(be, &c->dw);
    convbn_cache_free(be, &c->pj);
    se_cache_free(be, &c->se);
    tensor_free(be, &c->keep);
    tensor_free(be, &c->dbranch);
}

long mbconv_param_count(MBConvCfg cfg) {
    int mid = cfg.cin * cfg.expand;
    long n = cfg.expand != 1 ? convbn_param_count(cfg.cin, mid, 1, 1) : 0;
    n += convbn_param_count(mid, mid, cfg.k, mid);
    if (cfg.se_ratio > 0.0f) n += se_param_count(mid, se_width(cfg));
    return n + convbn_param_count(mid, cfg.cout, 1, 1);
}

long mbconv_macs(MBConvCfg cfg, int h, int w) {
    int mid = cfg.cin * cfg.expand, p = cfg.k / 2;
    int ho = (h + 2 * p - cfg.k) / cfg.stride + 1, wo = (w + 2 * p - cfg.k) / cfg.stride + 1;
    long n = cfg.expand != 1 ? convbn_macs(cfg.cin, mid, 1, 1, h, w) : 0;
    n += convbn_macs(mid, mid, cfg.k, mid, ho, wo);
    if (cfg.se_ratio > 0.0f) n += se_macs(mid, se_width(cfg));
    return n + convbn_macs(mid, cfg.cout, 1, 1, ho, wo);
}

void stem_init(const Backend *be, ConvBN *l, int cin, int cout, int stride, Rng *rng) {
    convbn_init(be, l, cin, cout, 3, stride, 1, ACT_SWISH, rng);
    name_convbn(l, "conv_stem", "bn1");
}

void head_init(const Backend *be, Head *l, int cin, int ch, int classes, Rng *rng) {
    *l = (Head){.cin = cin, .ch = ch, .classes = classes};
    convbn_init(be, &l->conv, cin, ch, 1, 1, 1, ACT_SWISH, rng);
    name_convbn(&l->conv, "conv_head", "bn2");
    param_init(be, &l->fc_w, "classifier.weight", classes, ch, 1, 1, 1);
    param_init(be, &l->fc_b, "classifier.bias", classes, 1, 1, 1, 0);
    param_init_linear(be, &l->fc_w, classes, rng);
}

void head_free(const Backend *be, Head *l) {
    convbn_free(be, &l->conv);
    param_free(be, &l->fc_w);
    param_free(be, &l->fc_b);
}

void head_params(Head *l, ParamList *list) {
    convbn_params(&l->conv, list);
    params_push(list, &l->fc_w);
    params_push(list, &l->fc_b);
}

// The mask is drawn on the host (it is N x ch values) and applied with the channel-gate op.
static const Tensor *head_dropout(const Backend *be, Head *l, HeadCache *c, Rng *drop) {
    int n = c->pooled.n;
    tensor_ensure(be, &c->mask, n, l->ch, 1, 1);
    tensor_ensure(be, &c->dropped, n, l->ch, 1, 1);
    float *m = dna_malloc(sizeof(float) * (size_t)n * l->ch), keep = 1.0f / (1.0f - l->dropout);
    for (int i = 0; i < n * l->ch; i++) m[i] = rng_uniform(drop) < l->dropout ? 0.0f : keep;
    tensor_upload(be, &c->mask, m);
    free(m);
    be->scale_ch_fwd(&c->pooled, &c->mask, &c->dropped);
    return &c->dropped;
}

const Tensor *head_forward(const Backend *be, Head *l, HeadCache *c, const Tensor *x, BNMode mode,
                           Rng *drop) {
    const Tensor *f = convbn_forward(be, &l->conv, &c->conv, x, mode);
    tensor_ensure(be, &c->pooled, x->n, l->ch, 1, 1);
    tensor_ensure(be, &c->logits, x->n, l->classes, 1, 1);
    be->gap_fwd(f, &c->pooled);
    c->dropped_out = drop && mode == BN_TRAIN && l->dropout > 0.0f;
    const Tensor *in = c->dropped_out ? head_dropout(be, l, c, drop) : &c->pooled;
    be->linear_fwd(in, &l->fc_w.w, l->fc_b.w.data, &c->logits);
    return &c->logits;
}

const Tensor *head_backward(const Backend *be, Head *l, HeadCache *c, const Tensor *dlogits) {
    const Tensor *f = &c->conv.out;
    tensor_ensure(be, &c->dpooled, f->n, l->ch, 1, 1);
    tensor_ensure(be, &c->dfeat, f->n, f->c, f->h, f->w);
    if (c->dropped_out) {
        tensor_ensure(be, &c->ddropped, f->n, l->ch, 1, 1);
        be->linear_bwd(&c->dropped, &l->fc_w.w, dlogits, &c->ddropped, &l->fc_w.g, l->fc_b.g.data);
        be->scale_ch_bwd(&c->pooled, &c->mask, &c->ddropped, &c->dpooled, NULL);
    } else {
        be->linear_bwd(&c->pooled, &l->fc_w.w, dlogits, &c->dpooled, &l->fc_w.g, l->fc_b.g.data);
    }
    be->fill(c->dfeat.data, 0.0f, tensor_numel(&c->dfeat));
    be->gap_bwd(&c->dpooled, &c->dfeat);
    return convbn_backward(be, &l->conv, &c->conv, &c->dfeat, 1);
}

void head_cache_free(const Backend *be, HeadCache *c) {
    convbn_cache_free(be, &c->conv);
    tensor_free(be, &c->pooled);
    tensor_free(be, &c->logits);
    tensor_free(be, &c->dpooled);
    tensor_free(be, &c->dfeat);
    tensor_free(be, &c->mask);
    tensor_free(be, &c->dropped);
    tensor_free(be, &c->ddropped);
}

long head_param_count(int cin, int ch, int classes) {
    return convbn_param_count(cin, ch, 1, 1) + (long)ch * classes + classes;
}

long head_macs(int cin, int ch, int classes, int h, int w) {
    return convbn_macs(cin, ch, 1, 1, h, w) + (long)ch * classes;
}
