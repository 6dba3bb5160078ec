// The distillation step: only the sampled path's parameters get gradients and updates, so
// unsampled ops keep their weights and optimizer state untouched (unlike the reference code,
// whose momentum and weight decay move every op).
#include "train/cell_step.h"

#include <stdlib.h>

#include "core/error.h"

double cell_train_step(const Backend *be, Cell *c, const int *path, const Tensor *x,
                       const Tensor *y, Tensor *dy, const Optim *opt, const StepSync *sync) {
    ParamList pl = {0};
    cell_path_params(c, path, &pl);
    params_zero_grad(be, &pl);
    const Tensor *out = cell_forward(be, c, path, x, BN_TRAIN);
    double loss = be->mse(out, y, dy);
    if (sync) be->axpy(sync->share - 1.0f, dy, dy);  // dy *= share
    cell_backward(be, c, path, dy, 0);
    if (sync) {  // the path's gradients and the loss summed over the group in one allreduce
        loss *= sync->share;
        optim_sum_grads(sync->sum, &pl, 0, &loss);
    }
    optim_step(be, opt, &pl);
    params_free(&pl);
    return loss;
}

double student_train_step(const Backend *be, Student *s, const int *path, const Tensor *x,
                          const Tensor *y, Tensor *dy, const Optim *opt, const StepSync *sync) {
    if (!s->vit) return cell_train_step(be, &s->cell, path, x, y, dy, opt, sync);
    ParamList pl = {0};
    vitcell_params(&s->vc, &pl);
    params_zero_grad(be, &pl);
    const Tensor *out = vitcell_forward(be, &s->vc, path[0], x, NULL);
    double loss = be->mse(out, y, dy);
    if (sync) be->axpy(sync->share - 1.0f, dy, dy);  // dy *= share
    vitcell_backward(be, &s->vc, dy, 0);
    if (sync) {
        loss *= sync->share;
        optim_sum_grads(sync->sum, &pl, 0, &loss);
    }
    optim_step(be, opt, &pl);
    params_free(&pl);
    return loss;
}
