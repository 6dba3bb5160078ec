// `dna report` (the last stage of `dna run`): the run's report and record, made from the
// files the other stages left in the run directory, on rank 0, regenerated every time.
//   report.md          results (teacher, searched and random networks retrained: top-1,
//                      params, multiply-adds, predicted score), time per stage, figures,
//                      the searched architecture, the run record's essentials
//   report/loss.png    every (block, cell) job's distillation loss per step, a panel per block
//   report/frontier.png  the score-vs-parameters frontier, the chosen and the random networks
//   report/arch.png    the searched network drawn layer by layer (the paper's Fig. 13)
//   run.json           the run record: config hash, seed, versions of dna and its libraries,
//                      git revision, ranks x threads, every stage's wall time (stages.csv)
// Missing inputs (a stage not run yet) leave their rows or figures out, with a note.
#pragma once
#include "core/config.h"
#include "core/ctx.h"

int stage_report(const RunCtx *ctx, const Config *cfg, int force);
