// `dna rank --compare RUN_A RUN_B`: how alike two runs rate the same search space (e.g.
// seeds 0/41/42 or data fractions, the paper's Tables 8 and 9): per block, Kendall's tau-b
// and Spearman's rho between the two runs' scores of every path (read from each run's
// potentials.h5), and where each run's searched architecture (arch.json) ranks in the other
// run's ratings. Rank 0 prints a table; rank_compare.csv in RUN_A records it.
#pragma once
#include "core/ctx.h"

int compare_runs(const RunCtx *ctx, const char *run_a, const char *run_b);
