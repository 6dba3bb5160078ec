// Rating a cell's paths with feature sharing (Alg. 1, doc/design.md §5.2). Every path is scored on
// held-out data after its BN layers are recalibrated on one fixed training batch (running
// statistics := that batch's). The paths form a tree of op choices, walked depth first: a
// node (a path prefix) is computed once and its output and recalibrated statistics serve
// every path below it. Two passes keep memory bounded: pass 1 walks the tree on the
// recalibration batch and keeps each node's BN statistics; pass 2 walks it again for each
// batch of the search split, in eval mode with those statistics. Pure compute: the caller
// brings the batches and decides which subtrees (units) each rank rates.
#pragma once
#include "nas/cell.h"

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
void rate_stats_free(RateStats *s);
