// Rating a cell's paths with feature sharing (Alg. 1, doc/design.md §5.2). Every path is scored on
// held-out data after its BN layers are recalibrated on one fixed training batch (running
// statistics := that batch's). The paths form a tree of op choices, walked depth first: a
// node (a path prefix) is computed once and its output and recalibrated statistics serve
// every path below it. Two passes keep memory bounded: pass 1 walks the tree on the
// recalibration batch and keeps each node's BN statistics; pass 2 walks it again for each
// batch of the search split, in eval mode with those statistics. Pure compute: the caller
// brings the batches and decides which subtrees (units) each rank rates.
// DNA++ (self-supervised, issue 20) compares a cell's output only through its MLP projector
// (nn/projector.h) with the teacher's projected vector Z, so its paths are scored on
// projected features: score = rel_l1(P(path output), Z). The projector's BatchNorm1d was
// trained, like the cell's BNs, on random paths, so its running statistics are an average
// over paths that fits none of them: it is recalibrated per path on the same batch (pass 1
// saves its statistics as one more node right after each leaf; pass 2 loads them there).
#pragma once
#include "nas/cell.h"
#include "nn/projector.h"

// The paths whose first `depth` ops spell `prefix` (base-nops digits, layer 0 first);
// depth 0 is the whole cell. A path's code has layer 0 as its most significant digit.
typedef struct RateUnit {
    int depth;
    int64_t prefix;
} RateUnit;

int64_t rate_unit_paths(const CellCfg *c, RateUnit u);  // nops^(layers - depth)
int64_t rate_unit_first(const CellCfg *c, RateUnit u);  // code of the unit's first path

typedef struct RateStats RateStats;
// Pass 1 on the recalibration batch xr. Leaves the cell's running statistics changed.
RateStats *rate_recalibrate(const Backend *be, Cell *c, RateUnit u, const Tensor *xr);
// Pass 2 on one batch (x, y): for every path i of the unit (i = code - first), adds the
// batch's relative L1 (Eqn 7: mean|yhat - y| / std(y)) to rel[i] and its squared error sum
// (MSE x samples) to sq[i]. Returns the nodes computed (for the benchmark).
int64_t rate_score_batch(const Backend *be, Cell *c, const RateStats *s, const Tensor *x,
                         const Tensor *y, double *rel, double *sq);
// The same with projector p (NULL: exactly the two above, bitwise). Pass 1 also leaves the
// projector's running statistics changed; pass 2 scores P(path output) against z [N, cout
// of p, 1, 1] and must get the projector (hidden width) pass 1 had. The count returned is
// of the cell's nodes; the projector's runs (one per path) are not in it.
RateStats *rate_recalibrate_proj(const Backend *be, Cell *c, RateUnit u, const Tensor *xr,
                                 Projector *p);
int64_t rate_score_batch_proj(const Backend *be, Cell *c, const RateStats *s, const Tensor *x,
                              const Tensor *z, Projector *p, double *rel, double *sq);
void rate_stats_free(RateStats *s);
