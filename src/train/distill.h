// Supernet training (`dna train`, DESIGN §5.1, §6): the (block, cell) jobs of the search
// space scheduled over the ranks longest-first (src/par/sched.c), or, with more ranks than
// jobs, one data-parallel rank group per job (synchronised BN, summed gradients); each
// trained by block-wise distillation on the feature shards, checkpointed to <run>/ckpt/block<k>_cell<c>.h5
// (atomic, every [train] ckpt_every steps and each epoch, a done mark at the end) and
// resumed from there; SIGTERM/SIGUSR1 checkpoint every job in flight and stop the run.
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "nas/space.h"

int distill_train(const RunCtx *ctx, const Config *cfg, const Space *sp);
