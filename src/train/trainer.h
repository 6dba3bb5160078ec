// The trainer: what every training loop needs around its steps, so that each loop holds only
// its step. It counts steps and epochs with the data cursor (a loop resumes mid-epoch),
// keeps the per-step loss curve and one validation figure per epoch, checkpoints atomically
// (at least every [run] ckpt_minutes, at every epoch's end, on a stop signal, and every
// ckpt_steps steps where a loop asks for it), resumes from the checkpoint so that a killed
// run ends bitwise where an uninterrupted one does, polls the stop signals (SIGTERM,
// SIGUSR1: checkpoint, then stop), shows progress with rate and ETA, and writes the metrics
// lines of <run>/log/<stage>.jsonl.
//
// A team of ranks that trains one network together (data parallel) decides together: once
// per step its members OR their stop flags and its rank 0's "a checkpoint is due", and its
// rank 0 writes the checkpoint with every member's own values (BN running statistics and
// running sums differ per rank) gathered into it as one row per member.
// The supervised loop built on it is fit.h's; distillation drives its own steps through it.
#pragma once
#include "core/ctx.h"
#include "core/log.h"
#include "core/rng.h"
#include "io/h5.h"
#include "nn/param.h"
#include "par/par.h"

typedef enum { TRAIN_NEXT, TRAIN_EPOCH_END, TRAIN_STOP } TrainEvent;

typedef struct TrainerCfg {
    const char *label;       // logs, progress and the metrics lines' "job"
    const char *ckpt;        // checkpoint file; NULL: none
    long epochs, per_epoch;  // steps per epoch
    double ckpt_minutes;     // a checkpoint at least this often (<= 0: epoch ends, stops only)
    long ckpt_steps;         // also every this many steps (0: off)
    long metrics_every;      // steps between metrics lines (0: epoch ends only)
    long batch;              // samples per step over the team, for img/s
    ParGroup *team;          // the ranks that train this together; NULL: every rank
    int solo;                // this rank trains alone: no collectives
    int step_curve;          // keep the per-step loss curve (checkpointed)
    H5Prov prov;             // of the checkpoint
    // What the state belongs to: fingerprint keys (io/fingerprint.h) of the settings it
    // depends on and the network. A checkpoint of another identity is an error naming the
    // changed keys (--force removes it). NULL: not checked.
    const char *identity;
} TrainerCfg;

typedef struct Trainer {
    const RunCtx *ctx;
    TrainerCfg c;
    int lead, rank, size;  // team rank 0 (writes, logs); this rank in the team; team size
    // Progress: what a checkpoint restores.
    long long epoch, cursor, step, nval, done;
    float *loss;  // [epochs * per_epoch] per-step loss when step_curve, else NULL
    double *val;  // [epochs] validation figure per epoch
    // What the checkpoint holds besides: set by the caller before trainer_resume.
    const ParamList *params;  // with their optimizer state; the same on every member
    Tensor **shared;          // the same on every member (an EMA of the weights)
    int nshared;
    Tensor **local;  // each member's own (BN running statistics)
    int nlocal;
    double *sums;  // each member's own running sums (the epoch's loss, hits, seconds)
    int nsums;
    Rng *rng;  // a sequential random stream the steps draw from (NULL: none)
    // Bookkeeping of this process.
    double t_ckpt;                        // last checkpoint
    double t_line, line_loss, line_wait;  // since the last metrics line
    long line_steps;
    double lr;       // of the last step
    double ep_loss;  // loss sum of the epoch in progress (progress display)
    long ep_steps;
    Progress pr;
} Trainer;

void trainer_init(Trainer *t, const RunCtx *ctx, const TrainerCfg *c);
// Loads the checkpoint when there is one of this identity: 1 when it did (t->done tells a
// finished one). A team of another size than the one that wrote it resumes with every member
// starting from the members' mean (BN statistics) and the epoch's sums restarted, with a warning.
int trainer_resume(Trainer *t);
// After step t->step: records its loss (the team's), learning rate and the seconds this rank
// waited for its data; moves the cursor; writes a metrics line and a checkpoint when due.
// TRAIN_EPOCH_END after an epoch's last step (its checkpoint waits for trainer_epoch_end);
// TRAIN_STOP when the team was asked to stop (checkpointed: rerun to resume).
TrainEvent trainer_step(Trainer *t, double loss, double lr, double wait);
// After an epoch's end work (averaging, validation): records its figure, marks the trainee
// done after the last epoch, writes the metrics line and the checkpoint.
void trainer_epoch_end(Trainer *t, double val);
void trainer_save(Trainer *t);  // collective over the team
void trainer_free(Trainer *t);
// A finished trainee's parameters and its first member's `local` tensors, from checkpoint
// `path` (fatal, naming it, when it is missing or unfinished).
void trainer_load_final(const char *path, const Backend *be, const ParamList *params,
                        Tensor **local, int nlocal);
// The same for a state of any shape: t's params, shared, local and sums (the first member's)
// as set for trainer_resume; nothing else of t is used.
void trainer_load_finished(const char *path, const Backend *be, Trainer *t);
