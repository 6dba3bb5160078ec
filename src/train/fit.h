// Supervised training with labels, on the trainer: the loop that trains the teacher, the
// retrained networks, the bench's networks and the one-shot (SPOS) supernet. A recipe
// ([teacher], [retrain], [bench], [spos]) gives the optimizer (SGD with Nesterov momentum or
// RMSprop), the learning-rate schedule, label smoothing, an optional EMA of the weights and
// the data; the loop runs data-parallel over the ranks (each takes its share of every global
// batch; gradients are averaged every step, BN running statistics at every epoch's end, as
// PyTorch DDP without SyncBN does), evaluates test top-1 after every epoch when asked, and
// checkpoints and resumes through the trainer.
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "io/dataset.h"
#include "io/teacher.h"
#include "nn/vitnet.h"
#include "train/optim.h"

// A network the loop trains: an EffNet (model_effnet) or the one-shot supernet.
typedef struct Model {
    void *net;
    const Tensor *(*forward)(void *net, const Backend *be, const Tensor *x, BNMode mode, Rng *drop);
    void (*backward)(void *net, const Backend *be, const Tensor *dlogits);
    // The parameters the next step updates: all of them, or the path the supernet draws.
    const ParamList *(*step_params)(void *net);
    const ParamList *params;  // every parameter (the checkpoint holds them)
    Tensor **stats;           // BN running statistics: each rank's own
    int nstats;
    int average_stats;   // average them over the ranks at every epoch's end
    NamedTensor *state;  // the whole state, for an EMA; NULL: the model takes none
    int nstate;
    Rng *rng;  // a sequential stream step_params draws from (checkpointed), or NULL
} Model;

// What to train, on what, with which random streams.
typedef struct Recipe {
    const char *label;     // log prefix and config section: "teacher", "retrain", "bench", "spos"
    uint64_t stream;       // the stage's stream, split from the run seed
    uint64_t drop_stream;  // the dropout masks' stream below it (0: 3)
    int all_train;         // the whole training set (else the supernet-training split)
    long limit;            // all_train: a seeded subset of this many images (0: all)
    long epochs;           // 0: fit->epochs
    const RecipeCfg *fit;
    const char *ckpt;      // checkpoint (NULL: none): <run>/resume/<name>.h5
    const char *identity;  // what the checkpoint belongs to (see TrainerCfg)
    const char *job;       // metrics lines' "job" (NULL: label)
} Recipe;

Recipe recipe_teacher(const Config *cfg);
Recipe recipe_retrain(const Config *cfg);
Optim recipe_optim(const RecipeCfg *fit);  // SGD (Nesterov), RMSprop or AdamW as fit says

// Trains m with recipe r on d's images normalised by mean/std, data-parallel over ctx's
// ranks. With `eval`, evaluates test top-1 after every epoch into top1[epoch] (top1 may be
// NULL) and returns the last; else returns NAN. A stop signal checkpoints, then sets
// *stopped on every rank (the caller returns STAGE_STOPPED; rerun to resume).
double fit_train(const RunCtx *ctx, const Config *cfg, const Recipe *r, const Dataset *d,
                 const double *mean, const double *std, Model *m, int eval, double *top1,
                 int *stopped);
// The same for the network of a teacher file (teacher, retrain, bench): the recipe's
// drop-connect and EMA apply; t->top1 gets the result.
double fit_teacher(const RunCtx *ctx, const Config *cfg, const Recipe *r, const Dataset *d,
                   Teacher *t, double *top1, int *stopped);
// Deletes the recipe's checkpoint (rank 0), once the stage's output holds the result.
void fit_done(const RunCtx *ctx, const Recipe *r);
// Test top-1 (fraction) in eval mode, the test set split over the ranks; pad: zero padding
// that brings the images to the network's input size.
double fit_evaluate(const RunCtx *ctx, Model *m, long eval_batch, const Split *test,
                    const double *mean, const double *std, int pad);
// An EffNet as a Model (model_free releases the lists it builds).
Model model_effnet(EffNet *net);
// A standalone ViT network as a Model.
Model model_vitnet(VitNet *net);
void model_free(Model *m);
// How many rows of logits [N, classes] (on the device) have their largest entry at the label.
int logits_hits(const Backend *be, const Tensor *lg, const int32_t *labels);
