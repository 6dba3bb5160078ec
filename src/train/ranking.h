// `dna rank` (DESIGN §5.6): how well a rating ranks architectures. An architecture's predicted
// score is the sum of its blocks' path scores (potentials.h5; lower is better); its truth is
// the test top-1 it reached when trained from scratch (bench.h5). Reports Kendall's tau,
// Spearman's rho and Pearson's R between -score and top-1 (so +1 means the rating orders the
// architectures exactly as their accuracies do) with 95% bootstrap intervals, and writes
// <out>.csv (id, score, top1), <out>.json and <out>.png (top-1 against score, as the paper's
// Fig. 7). Scores and truths can also come from CSV files (a column "id" plus "score" or
// "top1"), so rankings of other tools, e.g. `dna spos`, are judged on the same bench.
#pragma once
#include "core/config.h"
#include "core/ctx.h"

typedef struct RankArgs {
    const Config *cfg;       // the run (bench.h5, potentials.h5, output directory); may be NULL
    const char *potentials;  // ratings from another potentials.h5 on this run's space, or NULL
    const char *scores;      // CSV of scores instead of potentials, or NULL
    const char *truth;       // CSV of truths instead of the run's bench.h5, or NULL
    const char *name;        // label of the rating ("dna", "spos", "seed41", ...)
    const char *out;         // output path without extension, or NULL: <run>/rank_<name>
} RankArgs;

int rank_run(const RunCtx *ctx, const RankArgs *a);
