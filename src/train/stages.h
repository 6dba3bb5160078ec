// The stage drivers behind the subcommands: each checks its inputs, skips itself when its
// output is complete (unless forced), runs, and logs what it wrote. Stages so far: data,
// teacher, features, train, rate, search; plus the shard digest used to compare extractions.
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "nas/space.h"

int stage_data(const RunCtx *ctx, const Config *cfg, int force);
int stage_teacher(const RunCtx *ctx, const Config *cfg, int force);
int stage_features(const RunCtx *ctx, const Config *cfg, int force);
int stage_train(const RunCtx *ctx, const Config *cfg, int force);
int stage_rate(const RunCtx *ctx, const Config *cfg, int force);
int stage_search(const RunCtx *ctx, const Config *cfg, int force);
// The space as the run's teacher.h5 defines it (block widths and sizes), and the teacher's
// architecture and input size when asked for (arch, in_hw may be NULL).
void stage_space(const RunCtx *ctx, const Config *cfg, Space *sp, EffNetCfg *arch, int *in_hw);
// Reads every split's shards back in global sample order and prints, per dataset, the
// sample count and an FNV-1a digest of the fp32 values (rank 0).
int stage_shards_digest(const RunCtx *ctx, const Config *cfg);
// `dna plan`: the search space's size, every (block, cell) job's estimated FLOPs per step,
// memory and shard bytes, and how the jobs map onto `ranks` ranks with the load balance.
// Needs only the config (no files), so it sizes an sbatch allocation before anything runs.
int stage_plan(const RunCtx *ctx, const Config *cfg, int ranks);
