// The teacher stage: build the EfficientNet-style teacher from the config, train it with
// labels data-parallel over the ranks (gradients averaged each step), evaluate top-1 on
// test every epoch, and read/write teacher.h5 (architecture JSON + named weights incl. BN
// running statistics + the input normalisation the weights expect).
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "io/dataset.h"
#include "nn/effnet.h"

enum { TEACHER_FORMAT = 1 };

typedef struct Teacher {
    EffNet net;
    int in_hw;                 // input resolution the teacher runs at
    double mean[4], std[4];    // input normalisation of its weights
    double top1;               // test top-1 recorded when it was trained (-1: unknown)
} Teacher;

// [teacher] section -> architecture; fatal naming the key on errors.
void teacher_arch_from_config(const Config *cfg, int cin, EffNetCfg *out);
// Trains t->net (already built) on the supernet-training split (train minus the search
// split, which stays unseen until rating); returns the final test top-1.
double teacher_train(const RunCtx *ctx, const Config *cfg, const Dataset *d, Teacher *t);
// Test top-1 (fraction) in eval mode, the test set split over the ranks.
double teacher_evaluate(const RunCtx *ctx, const Config *cfg, const Dataset *d, Teacher *t);
void teacher_save(const RunCtx *ctx, const Config *cfg, const Teacher *t, const char *path);
// Builds the network from the file's architecture and loads its weights.
void teacher_load(const Backend *be, const char *path, Teacher *t);
void teacher_free(const Backend *be, Teacher *t);
