// The distillation step: only the sampled path's parameters get gradients and updates, so
// unsampled ops keep their weights and optimizer state untouched (unlike the reference code,
// whose momentum and weight decay move every op).
#include "train/cell_step.h"

#include <stdlib.h>

#include "core/error.h"

// Sums the path's gradients (and the loss, in the last slot) over the group in one call.
static double group_sum(const Backend *be, const ParamList *pl, double loss, const StepSync *s) {
    size_t n = 1;
    for (int i = 0; i < pl->n; i++) n += tensor_numel(&pl->p[i]->g);
    float *buf = dna_malloc(sizeof(float) * n), *p = buf;
    for (int i = 0; i < pl->n; i++) {
        tensor_download(be, &pl->p[i]->g, p);
        p += tensor_numel(&pl->p[i]->g);
    }
    *p = (float)loss;
    s->sum(s->ctx, buf, n);
    p = buf;
    for (int i = 0; i < pl->n; i++) {
        tensor_upload(be, &pl->p[i]->g, p);
        p += tensor_numel(&pl->p[i]->g);
    }
    loss = *p;
    free(buf);
    return loss;
}

double cell_train_step(const Backend *be, Cell *c, const int *path, const Tensor *x,
                       const Tensor *y, Tensor *dy, const Optim *opt, const StepSync *sync) {
    ParamList pl = {0};
    cell_path_params(c, path, &pl);
    params_zero_grad(be, &pl);
    const Tensor *out = cell_forward(be, c, path, x, BN_TRAIN);
    double loss = be->mse(out, y, dy);
    if (sync) be->axpy(sync->share - 1.0f, dy, dy);  // dy *= share
    cell_backward(be, c, path, dy, 0);
    if (sync) loss = group_sum(be, &pl, loss * sync->share, sync);
    optim_step(be, opt, &pl);
    params_free(&pl);
    return loss;
}
