// One block-wise distillation step of a supernet cell (DESIGN §5.1): forward the sampled
// path, MSE to the teacher's feature map, backward, optimizer step on that path only.
// Shared by `dna train`, `dna check` and the cell_train benchmark.
#pragma once
#include "nas/cell.h"
#include "train/optim.h"

// dy: a buffer shaped like y for the loss gradient. Returns the MSE before the update.
double cell_train_step(const Backend *be, Cell *c, const int *path, const Tensor *x,
                       const Tensor *y, Tensor *dy, const Optim *opt);
