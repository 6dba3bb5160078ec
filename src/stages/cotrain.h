// `dna train` in DNA++'s mode (`[train] mode = ssl`, doc/design.md §5.5): the teacher of
// teacher.h5 (random weights, or the supervised teacher with `[ssl] init = teacher`) and every
// (block, cell) student co-trained self-supervised on two augmented views of the
// supernet-training split's images, no labels read and no shards: one data-parallel team of
// every rank (train/cotrain.h), one checkpoint <run>/ckpt/ssl.h5 that resumes bitwise.
// The rating stage reads the co-trained model back with cotrain_load.
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "io/teacher.h"
#include "train/cotrain.h"

// Trains to the end (or a stop signal: returns 1 on every rank, checkpointed).
int cotrain_run(const RunCtx *ctx, const Config *cfg, const Space *sp);
// The finished co-training of the run, in evaluation mode on this rank alone: t receives the
// teacher (freed by the caller after cotrain_free).
void cotrain_load(const RunCtx *ctx, const Config *cfg, const Space *sp, Teacher *t, CoTrain *m);
// The [ssl] section as the loss's settings, checked, naming the file and key (fatal).
SslCfg cotrain_loss_cfg(const Config *cfg);
// <run>/ckpt/ssl.h5
void cotrain_ckpt_path(const Config *cfg, char *buf, size_t n);
