// ViT search blocks: subnet codes and costs (nas/vitcell.h).
#include "nas/vitcell.h"

#include <math.h>
#include <stdlib.h>

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

// The projector's BN statistics of each depth of the unit's deepest subnet, on xr.
struct VitRateStats {
    VitStageCfg sub;      // the slice they were taken on (checked when scoring)
    int hidden, ndepths;  // the projector's BN width; the unit's depths
    float *stat;          // [ndepths][2 hidden]: running mean, then running variance
};

// One run through the sliced subnet's blocks, visiting the head's output at every depth:
// pass 1 recalibrates the projector there and keeps its statistics; pass 2 scores.
typedef struct DepthWalk {
    const Backend *be;
    int pass;      // 1 or 2
    Projector *p;  // NULL: score the head's output itself (pass 2 only)
    ProjectorCache pc;
    VitRateStats *s;  // NULL when p is
    const Tensor *y;  // the target: the teacher's map, or its projected Z
    double *rel, *sq;
} DepthWalk;

static void visit(DepthWalk *w, int d, const Tensor *o) {
    const Backend *be = w->be;
    if (w->p) {
        BatchNorm *bn = &w->p->bn;
        float *st = w->s->stat + (size_t)d * 2 * w->s->hidden;
        if (w->pass == 1) {
            projector_forward(be, w->p, &w->pc, o, BN_RECALIBRATE);
            tensor_download(be, &bn->run_mean, st);
            tensor_download(be, &bn->run_var, st + w->s->hidden);
            return;
        }
        tensor_upload(be, &bn->run_mean, st);
        tensor_upload(be, &bn->run_var, st + w->s->hidden);
        o = projector_forward(be, w->p, &w->pc, o, BN_EVAL);
    }
    w->rel[d] += be->rel_l1(o, w->y);
    w->sq[d] += be->mse(o, w->y, NULL) * o->n;
}

static void walk_depths(DepthWalk *w, VitCell *c, const Tensor *x) {
    const VitChoices *h = &c->cfg.ch;
    const Tensor *t = vitstage_embed(w->be, &c->sub, &c->cache, x);
    for (int i = 0, d = 0; i < c->sub.cfg.depth; i++) {
        t = tfblock_forward(w->be, &c->sub.blk[i], &c->cache.blk[i], t, NULL);
        if (d < h->ndepths && h->depths[d] == i + 1)
            visit(w, d++, vitstage_head(w->be, &c->sub, &c->cache, t));
    }
    projector_cache_free(w->be, &w->pc);
}

VitRateStats *vitcell_rate_recalibrate_proj(const Backend *be, VitCell *c, int64_t unit,
                                            const Tensor *xr, Projector *p) {
    vitcell_rate_slice(be, c, unit);
    if (!p) return NULL;  // LayerNorms only: nothing else to recalibrate
    VitRateStats *s = calloc(1, sizeof *s);
    DNA_CHECK(s, "free memory", "out of memory");
    *s = (VitRateStats){.sub = c->sub.cfg, .hidden = p->hidden, .ndepths = c->cfg.ch.ndepths};
    s->stat = dna_malloc(sizeof(float) * 2 * (size_t)p->hidden * (size_t)s->ndepths);
    DepthWalk w = {.be = be, .pass = 1, .p = p, .s = s};
    walk_depths(&w, c, xr);
    return s;
}

void vitcell_rate_batch_proj(const Backend *be, VitCell *c, const VitRateStats *s, const Tensor *x,
                             const Tensor *z, Projector *p, double *rel, double *sq) {
    DNA_CHECK(!s == !p, "recalibrate with the projector that scores (or with none)",
              "ViT rating: projector statistics %s, projector %s", s ? "given" : "missing",
              p ? "given" : "missing");
    if (s) {
        const VitStageCfg *a = &s->sub, *b = &c->sub.cfg;
        DNA_CHECK(s->hidden == p->hidden && a->dim == b->dim && a->hidden == b->hidden &&
                      a->depth == b->depth,
                  "score the unit and projector the statistics were recalibrated for",
                  "ViT rating: statistics for width %d, MLP %d, depth %d, projector %d; "
                  "scoring width %d, MLP %d, depth %d, projector %d",
                  a->dim, a->hidden, a->depth, s->hidden, b->dim, b->hidden, b->depth, p->hidden);
    }
    DepthWalk w = {
        .be = be, .pass = 2, .p = p, .s = (VitRateStats *)s, .y = z, .rel = rel, .sq = sq};
    walk_depths(&w, c, x);
}

void vitcell_rate_batch(const Backend *be, VitCell *c, const Tensor *x, const Tensor *y,
                        double *rel, double *sq) {
    vitcell_rate_batch_proj(be, c, NULL, x, y, NULL, rel, sq);
}

void vitcell_rate_stats_free(VitRateStats *s) {
    if (!s) return;
    free(s->stat);
    free(s);
}
