// `dna retrain` (DESIGN §5.6): the searched architecture (arch.json) built as a standalone
// network and trained from scratch with labels on the whole training set ([retrain]
// recipe), test top-1 every epoch. Writes retrain.h5 (teacher.h5's layout, so a retrained
// network can be the next teacher, as DNA+ does) and retrain.json (results and provenance);
// an architecture other than the run's own arch.json writes retrain_<name>.h5/.json.
// Without [retrain] arch it retrains arch.json and then the [search] random baselines
// random_<i>.json with the same recipe and seed, each skipped when its .json exists.
#pragma once
#include "core/config.h"
#include "core/ctx.h"

int stage_retrain(const RunCtx *ctx, const Config *cfg, int force);
