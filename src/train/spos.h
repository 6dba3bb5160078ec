// `dna spos` (DESIGN §5.6): the one-shot weight-sharing baseline DNA is compared with (the
// paper's Table 7), in the style of SPOS (Guo et al., 2020). The supernet is the run's search
// space end to end: block k holds all of block k's cells (the same cells DNA trains, each
// reading the teacher's block-(k-1) width and writing its block-k width), then the teacher's
// head. It trains with labels on the supernet-training split, one uniformly drawn cell and
// path per block per step (every rank draws the same one; gradients averaged), for [spos]
// epochs (0: as many as [train] epochs, the DNA supernet's budget). Then each architecture
// of the run's bench (the same draw `dna bench` makes) is rated by its top-1 on the held-out
// search split with the inherited weights, after its batch norms are recalibrated on one
// fixed training batch ([rate] recal_batch), as `dna rate` does. Writes spos.csv (id, score =
// 1 - that top-1, so lower is better as with DNA's scores, val_top1), for `dna rank --scores`.
#pragma once
#include "core/config.h"
#include "core/ctx.h"

int stage_spos(const RunCtx *ctx, const Config *cfg, int force);
