// What every pipeline stage shares: the run directory (outputs/<run>/) with the effective
// config, provenance attributes for the files a stage writes, and the decision to skip a
// stage whose output is already complete.
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "io/h5.h"

// What a stage function returns; a stage skips itself when its output is complete.
enum { STAGE_RAN = 0, STAGE_SKIPPED = 1 };
typedef int (*StageFn)(const RunCtx *ctx, const Config *cfg, int force);

// Runs one stage and, when it ran, appends its wall time to <run>/stages.csv (rank 0):
// `stage,seconds,ranks,threads,finished_utc,git_rev`, one line per completed stage run, so
// the run record keeps every stage's time across resumed runs. Returns the stage's value.
int stage_timed(const RunCtx *ctx, const Config *cfg, const char *name, StageFn fn, int force);

// Creates the run directory (rank 0) and writes config.ini there atomically; all ranks
// return after it exists.
void stage_prepare(const RunCtx *ctx, const Config *cfg);
// Provenance for a file of layout `format`; the strings point into `hash` (17 bytes).
H5Prov stage_prov(const RunCtx *ctx, const Config *cfg, int format, char hash[17]);
// 1 when `path` is a complete output (it exists: outputs appear only by rename).
int stage_done(const char *path);
void stage_mkdir(const char *path);  // mkdir -p; fatal naming the path
