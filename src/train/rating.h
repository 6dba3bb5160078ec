// Rating (`dna rate`, DESIGN §5.2, §6): every path of every cell scored on the search split
// with feature sharing (src/nas/rate.c). The paths are cut into units (subtrees under a
// prefix of the first layers' ops: by first-layer op, finer when ranks outnumber those),
// dealt to ranks longest-first; each finished unit is saved to <run>/rate/ (so a rerun
// resumes), the results are gathered to rank 0 (MPI_Gatherv) and written as potentials.h5
// with one CSV per block.
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "nas/space.h"

void rating_run(const RunCtx *ctx, const Config *cfg, const Space *sp);
