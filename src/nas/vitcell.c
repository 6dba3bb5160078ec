// ViT search blocks: subnet codes and costs (nas/vitcell.h).
#include "nas/vitcell.h"

#include <math.h>

#include "core/error.h"

int64_t vitcell_path_count(const VitCellCfg *c) {
    return (int64_t)c->ch.ndims * c->ch.nratios * c->ch.ndepths;
}

static int hidden(int dim, double ratio) {
    return (int)lround(ratio * dim);
}

VitStageCfg vitcell_stage(const VitCellCfg *c, int64_t code) {
    DNA_CHECK(code >= 0 && code < vitcell_path_count(c), "use a code the space lists",
              "ViT subnet code %lld of %lld", (long long)code, (long long)vitcell_path_count(c));
    int d = (int)(code % c->ch.ndepths), r = (int)(code / c->ch.ndepths % c->ch.nratios);
    int w = (int)(code / c->ch.ndepths / c->ch.nratios);
    int dim = c->ch.dims[w];
    return (VitStageCfg){.cin = c->cin,
                         .in_hw = c->in_hw,
                         .cout = c->cout,
                         .out_hw = c->out_hw,
                         .dim = dim,
                         .hidden = hidden(dim, c->ch.ratios[r]),
                         .depth = c->ch.depths[d],
                         .head_dim = c->ch.head_dim};
}

VitStageCfg vitcell_max(const VitCellCfg *c) {
    const VitChoices *h = &c->ch;
    int dim = h->dims[h->ndims - 1];
    return (VitStageCfg){.cin = c->cin,
                         .in_hw = c->in_hw,
                         .cout = c->cout,
                         .out_hw = c->out_hw,
                         .dim = dim,
                         .hidden = hidden(dim, h->ratios[h->nratios - 1]),
                         .depth = h->depths[h->ndepths - 1],
                         .head_dim = h->head_dim};
}

double vitcell_mean_macs(const VitCellCfg *c) {
    double s = 0;
    int64_t n = vitcell_path_count(c);
    for (int64_t i = 0; i < n; i++) s += (double)vitstage_macs(vitcell_stage(c, i));
    return s / (double)n;
}

long vitcell_max_params(const VitCellCfg *c) {
    return vitstage_param_count(vitcell_max(c));
}

void vitcell_init(const Backend *be, VitCell *c, VitCellCfg cfg, Rng *rng) {
    *c = (VitCell){.cfg = cfg};
    VitStageCfg m = vitcell_max(&cfg);
    vitstage_init(be, &c->full, m, rng);
    Rng scratch = rng_new(0);  // the working stage's weights are always sliced over
    vitstage_init(be, &c->sub, m, &scratch);
}

void vitcell_free(const Backend *be, VitCell *c) {
    vitstage_cache_free(be, &c->cache);
    vitstage_free(be, &c->full);
    vitstage_free(be, &c->sub);
}

void vitcell_params(VitCell *c, ParamList *l) {
    vitstage_params(&c->full, l);
}

const Tensor *vitcell_forward(const Backend *be, VitCell *c, int64_t code, const Tensor *x,
                              Rng *drop) {
    vitstage_slice(be, &c->full, &c->sub, vitcell_stage(&c->cfg, code));
    return vitstage_forward(be, &c->sub, &c->cache, x, drop);
}

const Tensor *vitcell_backward(const Backend *be, VitCell *c, const Tensor *dy, int need_dx) {
    ParamList pl = {0};
    vitstage_params(&c->sub, &pl);
    params_zero_grad(be, &pl);
    params_free(&pl);
    const Tensor *dx = vitstage_backward(be, &c->sub, &c->cache, dy, need_dx);
    vitstage_unslice_grads(be, &c->sub, &c->full);
    return dx;
}

int64_t vitcell_units(const VitCellCfg *c) {
    return (int64_t)c->ch.ndims * c->ch.nratios;
}

void vitcell_rate_slice(const Backend *be, VitCell *c, int64_t unit) {
    DNA_CHECK(unit >= 0 && unit < vitcell_units(&c->cfg), "use a unit the space lists",
              "ViT rating unit %lld of %lld", (long long)unit, (long long)vitcell_units(&c->cfg));
    int nd = c->cfg.ch.ndepths;  // the deepest subnet of the unit
    vitstage_slice(be, &c->full, &c->sub, vitcell_stage(&c->cfg, unit * nd + nd - 1));
}

void vitcell_rate_batch(const Backend *be, VitCell *c, const Tensor *x, const Tensor *y,
                        double *rel, double *sq) {
    const VitChoices *h = &c->cfg.ch;
    const Tensor *t = vitstage_embed(be, &c->sub, &c->cache, x);
    for (int i = 0, d = 0; i < c->sub.cfg.depth; i++) {
        t = tfblock_forward(be, &c->sub.blk[i], &c->cache.blk[i], t, NULL);
        if (d < h->ndepths && h->depths[d] == i + 1) {
            const Tensor *o = vitstage_head(be, &c->sub, &c->cache, t);
            rel[d] += be->rel_l1(o, y);
            sq[d] += be->mse(o, y, NULL) * x->n;
            d++;
        }
    }
}
