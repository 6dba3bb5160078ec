// DNA+ (the paper's Section 3.4): generations. Generation 1 is the run itself; generation
// m >= 2 lives in <run>/gen<m>/ (config_run_path with plus.generation = m), where the teacher
// stage trains generation m-1's searched network, scaled by plus.width/depth (or alpha^phi,
// beta^phi), from scratch with the [teacher] recipe, and every later stage runs as in
// generation 1 on that teacher. This file owns the [plus] keys' meaning, the stop rules and
// the generation loop of `dna run` and `dna plus`.
#pragma once
#include "stages/runner.h"

void plus_check(const Config *cfg);  // fatal naming a [plus] key out of its range
// The width and depth multipliers that make generation m's teacher (m >= 2).
void plus_coef(const Config *cfg, long m, double *width, double *depth);
Config plus_at(const Config *cfg, long m);  // cfg, working on generation m
// 1 when the stop rule ended the run before generation m (why says which generation ended
// it and by how much); rank 0 reads the earlier generations' files, every rank gets its answer.
int plus_ended_before(const RunCtx *ctx, const Config *cfg, long m, char *why, size_t n);
// Kendall tau between generation a's and b's path ratings, per block (tau[k]); returns their
// mean, NAN when either generation has no potentials.h5.
double plus_tau(const RunCtx *ctx, const Config *cfg, long a, long b, double *tau, int *nblocks);
// Generations 2..plus.generations, each skipped where complete, then the root report again
// (its table covers every generation). Returns STAGE_STOPPED when a stage stopped on a signal.
int plus_run(RunCtx *ctx, const Commands *all, const Config *cfg);
// Rank 0, from the files: the report's "DNA+ generations" section (the paper's Table 5) and
// its figure <dir>/generations.png, when the run has more than one generation on disk.
void plus_report(const RunCtx *ctx, const Config *cfg, const char *dir, FILE *f);
