// The teacher stage: build the EfficientNet-style teacher from the config, train it with
// labels data-parallel over the ranks (gradients averaged each step), evaluate top-1 on
// test every epoch, and read/write teacher.h5 (architecture JSON + named weights incl. BN
// running statistics + the input normalisation the weights expect).
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "io/dataset.h"
#include "nn/effnet.h"
#include "par/par.h"
#include "train/optim.h"

enum { TEACHER_FORMAT = 1 };

typedef struct Teacher {
    EffNet net;
    int in_hw;                 // input resolution the teacher runs at
    double mean[4], std[4];    // input normalisation of its weights
    double top1;               // test top-1 recorded when it was trained (-1: unknown)
} Teacher;

// [teacher] section -> architecture; fatal naming the key on errors.
void teacher_arch_from_config(const Config *cfg, int cin, EffNetCfg *out);
// A supervised training recipe: [teacher]'s for the teacher, [retrain]'s for the searched
// network. `stream` names the random stream (so two networks never share draws); `all_train`
// trains on the whole training set instead of the supernet-training split.
typedef struct Recipe {
    const char *label;  // log prefix and config section: "teacher", "retrain"
    unsigned long long stream;
    int all_train;
    long limit;  // all_train: a seeded subset of this many training images (0: all of them)
    const RecipeCfg *fit;
} Recipe;

Recipe recipe_teacher(const Config *cfg);
Optim recipe_optim(const RecipeCfg *fit);  // SGD (Nesterov) or RMSprop as fit says
// Averages the list's gradients over s's ranks in place, packed into one allreduce.
void grads_average(ParSum *s, const ParamList *pl);
Recipe recipe_retrain(const Config *cfg);
// Trains t->net (already built) with recipe r, data-parallel over the ranks; the teacher
// uses the supernet-training split (train minus the search split, which stays unseen until
// rating). Evaluates test top-1 each epoch; writes it to top1[epoch] when not NULL and
// returns the last.
double teacher_train(const RunCtx *ctx, const Config *cfg, const Recipe *r, const Dataset *d,
                     Teacher *t, double *top1);
// How many rows of logits [N, classes] (on the device) have their largest entry at the label.
int logits_hits(const Backend *be, const Tensor *lg, const int32_t *labels);
// Test top-1 (fraction) in eval mode, the test set split over the ranks.
double teacher_evaluate(const RunCtx *ctx, long eval_batch, const Dataset *d, Teacher *t);
void teacher_save(const RunCtx *ctx, const Config *cfg, const Teacher *t, const char *path);
// Builds the network from the file's architecture and loads its weights.
void teacher_load(const Backend *be, const char *path, Teacher *t);
void teacher_free(const Backend *be, Teacher *t);
