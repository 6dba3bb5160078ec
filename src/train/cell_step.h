// One block-wise distillation step of a supernet cell (doc/design.md §5.1): forward the sampled
// path, MSE to the teacher's feature map, backward, optimizer step (an MBConv cell: on that
// path only).
// Shared by `dna train`, `dna check` and the cell_train benchmark.
#pragma once
#include "nas/student.h"
#include "par/par.h"
#include "train/optim.h"

// A data-parallel rank group's step: this rank holds `share` (its samples / the group's) of
// the batch; `sum` adds over the group. The loss gradient is scaled by the share, so the
// summed gradients are the whole batch's. The cell's batch norms must be synchronised too
// (BatchNorm.sync) for the step to equal the one-rank step.
typedef struct StepSync {
    float share;
    ParSum *sum;
} StepSync;

// dy: a buffer shaped like y for the loss gradient. Returns the MSE before the update (the
// group's, with sync; sync NULL: one rank).
double cell_train_step(const Backend *be, Cell *c, const int *path, const Tensor *x,
                       const Tensor *y, Tensor *dy, const Optim *opt, const StepSync *sync);

// The same step for a student of either kind. A ViT supernet's step slices the sampled
// subnet out, and the optimizer steps the whole supernet with the subnet's gradients at
// their places and zeros elsewhere: weight entanglement as AutoFormer and DS-ViT train it
// (the slices overlap, so every subnet moves the weights it shares with the others).
double student_train_step(const Backend *be, Student *s, const int *path, const Tensor *x,
                          const Tensor *y, Tensor *dy, const Optim *opt, const StepSync *sync);
