// DNA++'s co-training model and step (doc/design.md §5.5, the paper's Fig. 4 and Eqns 10-11):
// the online teacher (an EffNet cut into the space's blocks), one projector per teacher block,
// and every (block, cell) student supernet with its own projector, trained together on two
// augmented views of unlabelled images.
//
// A step takes a batch of views laid out [view a of this rank's images; view b of them]. The
// teacher runs once over both (batch norm over the 2m images, as SimCLR runs its views), each
// block's map is projected to Z. Student (k, c) reads the teacher's block-(k-1) map (block 1:
// the views themselves), detached, runs its sampled path over both views, and its projector
// gives Z-hat. Symmetric cross-view targets: Z-hat of view a is compared with Z of view b and
// vice versa, each direction weighing 1/2, and a block's cells share its weight (1/n_k each),
// so one cell per block gives Eqns 10-11 exactly. The teacher's gradient sums every cell's
// distance term plus its own covariance and variance terms; the students' inputs carry none.
//
// Data parallel over a group of ranks: every member holds the whole model and takes a slice of
// the batch. The loss needs the whole batch (covariance, variance), so the members exchange
// their Z and Z-hat rows (small: M x C floats per projector), each computes the same loss and
// gradients in double, and back-propagates its own rows; parameter gradients then go through
// one ParSum, and batch norms are synchronised (BatchNorm.sync), so any member count computes
// the one-rank step up to summation order.
#pragma once
#include "nas/ssl_loss.h"
#include "nas/student.h"
#include "nn/effnet.h"
#include "nn/projector.h"
#include "par/par.h"
#include "train/optim.h"

enum { COTRAIN_MAX_JOBS = SPACE_MAX_BLOCKS * SPACE_MAX_CELLS };

typedef struct CoJob {
    int block, cell;
    Student st;
    Projector proj;
    ProjectorCache pc;
    int path[CELL_MAX_LAYERS];  // of the last step
} CoJob;

// One block's loss terms of a step (weighted, as they add up to the loss) and the collapse
// guard's figures: the mean over channels of the std of Z and (mean over the cells) Z-hat.
enum { COTRAIN_TERMS = 5 };  // dist, cov, var, std_z, std_zh
typedef struct CoTerms {
    double loss;
    double block[SPACE_MAX_BLOCKS][COTRAIN_TERMS];
} CoTerms;

typedef struct CoTrain {
    const Backend *be;
    Space sp;
    EffNet *teacher;  // the caller's; its blocks must be the space's
    Projector tproj[SPACE_MAX_BLOCKS];
    ProjectorCache tpc[SPACE_MAX_BLOCKS];
    int njobs;
    CoJob job[COTRAIN_MAX_JOBS];
    SslCfg loss;
    // data parallel: the group (NULL: this rank alone), its gradient sum and batch-norm sync
    ParGroup *g;
    ParSum *sum;
    BnSync bsync;
    // step buffers
    Tensor dz;
    float *host;  // gathered rows and gradients, grown as needed
    size_t host_cap;
    // the communication of the steps so far: seconds, and the last step's volume (floats
    // summed over the team: gradients, and the gathered projections as doubles)
    double comm_s;
    size_t comm_grad, comm_rows;
} CoTrain;

// Builds the projectors and students (weights from `rng`'s streams: block k's projector from
// child k, job j's student and projector from child 100 + j) around the caller's teacher.
// g: the data-parallel group (NULL: alone); then the batch norms of teacher, students and
// projectors are synchronised over it.
void cotrain_init(const Backend *be, CoTrain *m, const Space *sp, EffNet *teacher, int hidden,
                  int dim, SslCfg loss, ParGroup *g, Rng *rng);
void cotrain_free(CoTrain *m);
// Everything a checkpoint holds: parameters (teacher blocks, its projectors, then per job the
// student's and its projector's) and the batch norms' running statistics, in that order.
void cotrain_params(CoTrain *m, ParamList *l);
int cotrain_stats(CoTrain *m, Tensor **stats, int max);
int cotrain_max_stats(const CoTrain *m);  // an upper bound for the stats array
// One step on x [2m, c, h, w] (views a then b of this member's m images; m >= 1 and the
// group's total >= 2). paths[j]: job j's path stream, split by `step` (nas/student.h), the
// same on every member. Returns the loss (the whole batch's, the same on every member) and
// fills *t when not NULL.
double cotrain_step(CoTrain *m, const Tensor *x, Rng *paths, long step, const Optim *opt,
                    CoTerms *t);
// Evaluation mode: the teacher's maps and projected Z of every block for x [n, c, h, w]:
// after it, m->teacher->block_out[k] and the returned z[k] ([n, C, 1, 1], in the teacher
// projectors' caches) hold them until the next call.
void cotrain_teacher_eval(CoTrain *m, const Tensor *x, const Tensor **z);
