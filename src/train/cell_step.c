// The distillation step: only the sampled path's parameters get gradients and updates, so
// unsampled ops keep their weights and optimizer state untouched (unlike the reference code,
// whose momentum and weight decay move every op).
#include "train/cell_step.h"


// Sums the path's gradients (and the loss, in the last slot) over the group in one call,
// packed into one buffer in the backend's memory (with NCCL it never leaves the GPU).
static double group_sum(const Backend *be, const ParamList *pl, double loss, const StepSync *s) {
    size_t n = 1;
    for (int i = 0; i < pl->n; i++) n += tensor_numel(&pl->p[i]->g);
    float *buf = par_sum_buf(s->sum, n), *p = buf, l = (float)loss;
    for (int i = 0; i < pl->n; i++) {
        be->copy(p, pl->p[i]->g.data, sizeof(float) * tensor_numel(&pl->p[i]->g));
        p += tensor_numel(&pl->p[i]->g);
    }
    be->upload(p, &l, sizeof l);
    par_sum_f32(s->sum, buf, n);
    p = buf;
    for (int i = 0; i < pl->n; i++) {
        be->copy(pl->p[i]->g.data, p, sizeof(float) * tensor_numel(&pl->p[i]->g));
        p += tensor_numel(&pl->p[i]->g);
    }
    be->download(&l, p, sizeof l);
    return l;
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
