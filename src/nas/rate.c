// Feature-shared path rating (see rate.h). Nodes are stored in depth-first visiting order,
// which both passes share, so pass 2 finds node i's statistics at position i. With a
// projector, a leaf (a whole path) is followed by one more node: the projector's BN
// statistics for that path.
#include "nas/rate.h"

#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"

struct RateStats {
    RateUnit unit;
    int proj;        // the projector's hidden width the walk saved statistics for; 0: none
    int64_t n, cap;  // nodes: about 1.2 x the unit's paths (+ 1 per path with a projector)
    float **node;    // per node: [mean, var] of each BN of the node's op (the root: the stem's)
};

int64_t rate_unit_paths(const CellCfg *c, RateUnit u) {
    int64_t n = 1;
    for (int i = u.depth; i < c->layers; i++)
        n = checked_mul_i64(n, c->nops, "a rating unit's paths");
    return n;
}

int64_t rate_unit_first(const CellCfg *c, RateUnit u) {
    return checked_mul_i64(u.prefix, rate_unit_paths(c, u), "a rating unit's first path");
}

static int op_bns(MBConv *m, BatchNorm **b) {
    int n = 0;
    if (m->has_expand) b[n++] = &m->expand.bn;
    b[n++] = &m->dw.bn;
    b[n++] = &m->proj.bn;
    return n;
}

static size_t stats_floats(BatchNorm **b, int n) {
    size_t f = 0;
    for (int i = 0; i < n; i++) f += 2 * tensor_numel(&b[i]->run_mean);
    return f;
}

static void save(const Backend *be, RateStats *s, BatchNorm **b, int n) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->node = realloc(s->node, sizeof(float *) * (size_t)s->cap);
        DNA_CHECK(s->node, "free memory", "out of memory for rating statistics");
    }
    float *p = s->node[s->n++] = dna_malloc(sizeof(float) * stats_floats(b, n));
    for (int i = 0; i < n; i++) {
        size_t c = tensor_numel(&b[i]->run_mean);
        tensor_download(be, &b[i]->run_mean, p), p += c;
        tensor_download(be, &b[i]->run_var, p), p += c;
    }
}

static void load(const Backend *be, const RateStats *s, int64_t node, BatchNorm **b, int n) {
    const float *p = s->node[node];
    for (int i = 0; i < n; i++) {
        size_t c = tensor_numel(&b[i]->run_mean);
        tensor_upload(be, &b[i]->run_mean, p), p += c;
        tensor_upload(be, &b[i]->run_var, p), p += c;
    }
}

// One walk of the unit's tree; pass 1 (stats == NULL on entry of each node: recalibrate and
// save) or pass 2 (load and score).
typedef struct Walk {
    const Backend *be;
    Cell *c;
    RateStats *s;
    int pass;         // 1 or 2
    int64_t next;     // next node to save or load
    const Tensor *y;  // the target: the teacher's map, or its projected Z with a projector
    double *rel, *sq;
    int64_t first, nodes;
    Projector *p;  // NULL: score the cell's output itself
    ProjectorCache pc;
    int path[CELL_MAX_LAYERS];
} Walk;

// A leaf: the path's output `out` is complete. With a projector, pass 1 recalibrates its BN
// on this path's features and saves the statistics as the next node; pass 2 loads them and
// scores the projected vector. Pass 1 without a projector has nothing to do here.
static void leaf(Walk *w, const Tensor *out) {
    if (w->p) {
        BatchNorm *b = &w->p->bn;
        if (w->pass == 1) {
            projector_forward(w->be, w->p, &w->pc, out, BN_RECALIBRATE);
            save(w->be, w->s, &b, 1);
            return;
        }
        load(w->be, w->s, w->next++, &b, 1);
        out = projector_forward(w->be, w->p, &w->pc, out, BN_EVAL);
    } else if (w->pass == 1) {
        return;
    }
    const CellCfg *cfg = &w->c->cfg;
    int64_t code = 0;  // < the cell's path count: no overflow (checked at parse)
    for (int i = 0; i < cfg->layers; i++) code = code * cfg->nops + w->path[i];
    int64_t i = code - w->first;
    w->rel[i] += w->be->rel_l1(out, w->y);
    w->sq[i] += w->be->mse(out, w->y, NULL) * (double)out->n;
}

static void walk(Walk *w, int d, const Tensor *x) {
    const CellCfg *cfg = &w->c->cfg;
    RateUnit u = w->s->unit;
    int lo = 0, hi = cfg->nops;
    if (d < u.depth) {  // the unit's fixed prefix: one op at this layer
        int64_t p = u.prefix;
        for (int i = u.depth - 1; i > d; i--) p /= cfg->nops;
        lo = (int)(p % cfg->nops), hi = lo + 1;
    }
    for (int op = lo; op < hi; op++) {
        MBConv *m = cell_op(w->c, d, op);
        BatchNorm *b[3];
        int nb = op_bns(m, b);
        const Tensor *out;
        if (w->pass == 1) {
            out = mbconv_forward(w->be, m, &w->c->cache[d], x, BN_RECALIBRATE, NULL);
            save(w->be, w->s, b, nb);
        } else {
            load(w->be, w->s, w->next++, b, nb);
            out = mbconv_forward(w->be, m, &w->c->cache[d], x, BN_EVAL, NULL);
        }
        w->nodes++;
        w->path[d] = op;
        if (d + 1 < cfg->layers)
            walk(w, d + 1, out);
        else
            leaf(w, out);
    }
}

RateStats *rate_recalibrate_proj(const Backend *be, Cell *c, RateUnit u, const Tensor *xr,
                                 Projector *p) {
    DNA_CHECK(u.depth >= 0 && u.depth <= c->cfg.layers && u.prefix >= 0,
              "internal: a unit lies inside the cell", "bad rating unit (depth %d)", u.depth);
    RateStats *s = calloc(1, sizeof *s);
    DNA_CHECK(s, "free memory", "out of memory");
    s->unit = u;
    s->proj = p ? p->hidden : 0;
    Walk w = {.be = be, .c = c, .s = s, .pass = 1, .p = p};
    if (c->cfg.stem > 0) {
        xr = convbn_forward(be, &c->stem, &c->stem_c, xr, BN_RECALIBRATE);
        BatchNorm *b = &c->stem.bn;
        save(be, s, &b, 1);
    }
    walk(&w, 0, xr);
    projector_cache_free(be, &w.pc);
    return s;
}

RateStats *rate_recalibrate(const Backend *be, Cell *c, RateUnit u, const Tensor *xr) {
    return rate_recalibrate_proj(be, c, u, xr, NULL);
}

int64_t rate_score_batch_proj(const Backend *be, Cell *c, const RateStats *s, const Tensor *x,
                              const Tensor *z, Projector *p, double *rel, double *sq) {
    DNA_CHECK(s->proj == (p ? p->hidden : 0),
              "score with the projector the statistics were recalibrated for (or none)",
              "rating: statistics for a projector of hidden width %d, scoring with %d", s->proj,
              p ? p->hidden : 0);
    Walk w = {.be = be,
              .c = c,
              .s = (RateStats *)s,
              .pass = 2,
              .y = z,
              .rel = rel,
              .sq = sq,
              .first = rate_unit_first(&c->cfg, s->unit),
              .p = p};
    if (c->cfg.stem > 0) {
        BatchNorm *b = &c->stem.bn;
        load(be, s, w.next++, &b, 1);
        x = convbn_forward(be, &c->stem, &c->stem_c, x, BN_EVAL);
    }
    walk(&w, 0, x);
    projector_cache_free(be, &w.pc);
    return w.nodes;
}

int64_t rate_score_batch(const Backend *be, Cell *c, const RateStats *s, const Tensor *x,
                         const Tensor *y, double *rel, double *sq) {
    return rate_score_batch_proj(be, c, s, x, y, NULL, rel, sq);
}

void rate_stats_free(RateStats *s) {
    if (!s) return;
    for (int64_t i = 0; i < s->n; i++) free(s->node[i]);
    free(s->node);
    free(s);
}
