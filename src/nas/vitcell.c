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
    return (VitStageCfg){.cin = c->cin, .in_hw = c->in_hw, .cout = c->cout, .out_hw = c->out_hw,
                         .dim = dim, .hidden = hidden(dim, c->ch.ratios[r]),
                         .depth = c->ch.depths[d], .head_dim = c->ch.head_dim};
}

VitStageCfg vitcell_max(const VitCellCfg *c) {
    const VitChoices *h = &c->ch;
    int dim = h->dims[h->ndims - 1];
    return (VitStageCfg){.cin = c->cin, .in_hw = c->in_hw, .cout = c->cout, .out_hw = c->out_hw,
                         .dim = dim, .hidden = hidden(dim, h->ratios[h->nratios - 1]),
                         .depth = h->depths[h->ndepths - 1], .head_dim = h->head_dim};
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
