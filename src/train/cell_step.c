// The distillation step: only the sampled path's parameters get gradients and updates, so
// unsampled ops keep their weights and optimizer state untouched (unlike the reference code,
// whose momentum and weight decay move every op).
#include "train/cell_step.h"

double cell_train_step(const Backend *be, Cell *c, const int *path, const Tensor *x,
                       const Tensor *y, Tensor *dy, const Optim *opt) {
    ParamList pl = {0};
    cell_path_params(c, path, &pl);
    params_zero_grad(be, &pl);
    const Tensor *out = cell_forward(be, c, path, x, BN_TRAIN);
    double loss = be->mse(out, y, dy);
    cell_backward(be, c, path, dy);
    optim_step(be, opt, &pl);
    params_free(&pl);
    return loss;
}
