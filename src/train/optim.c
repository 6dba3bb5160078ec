// Optimizer steps over parameter lists; the arithmetic is the backend's.
#include "train/optim.h"

#include <stdlib.h>

Optim optim_sgd(float lr, float momentum, float weight_decay, int nesterov) {
    return (Optim){.kind = OPTIM_SGD,
                   .lr = lr,
                   .weight_decay = weight_decay,
                   .momentum = momentum,
                   .nesterov = nesterov};
}

Optim optim_adam(float lr, float weight_decay) {
    return (Optim){.kind = OPTIM_ADAM,
                   .lr = lr,
                   .weight_decay = weight_decay,
                   .beta1 = 0.9f,
                   .beta2 = 0.999f,
                   .eps = 1e-8f};
}

Optim optim_adamw(float lr, float weight_decay) {
    Optim o = optim_adam(lr, weight_decay);
    o.kind = OPTIM_ADAMW;
    return o;
}

Optim optim_rmsprop(float lr, float alpha, float eps, float momentum, float weight_decay) {
    return (Optim){.kind = OPTIM_RMSPROP,
                   .lr = lr,
                   .weight_decay = weight_decay,
                   .momentum = momentum,
                   .beta2 = alpha,
                   .eps = eps};
}

static void ensure_state(const Backend *be, Tensor *s, const Tensor *like) {
    if (!s->data) *s = tensor_new(be, like->n, like->c, like->h, like->w);
}

void optim_step(const Backend *be, const Optim *o, const ParamList *l) {
    for (int i = 0; i < l->n; i++) {
        Param *p = l->p[i];
        size_t n = tensor_numel(&p->w);
        float wd = p->decay ? o->weight_decay : 0.0f;
        p->step++;
        if (o->kind == OPTIM_SGD) {
            if (o->momentum != 0.0f) ensure_state(be, &p->m, &p->w);
            be->sgd_step(p->w.data, p->g.data, p->m.data, n, o->lr, o->momentum, wd, o->nesterov);
        } else if (o->kind == OPTIM_RMSPROP) {
            ensure_state(be, &p->v, &p->w);
            if (o->momentum != 0.0f) ensure_state(be, &p->m, &p->w);
            be->rmsprop_step(p->w.data, p->g.data, p->v.data, p->m.data, n, o->lr, o->beta2, o->eps,
                             wd, o->momentum);
        } else {
            ensure_state(be, &p->m, &p->w);
            ensure_state(be, &p->v, &p->w);
            AdamHyper h = {o->lr, o->beta1, o->beta2, o->eps, wd, o->kind == OPTIM_ADAMW};
            be->adam_step(p->w.data, p->g.data, p->m.data, p->v.data, n, h, p->step);
        }
    }
}

void optim_sum_grads(ParSum *s, const ParamList *l, int mean, double *extra) {
    Tensor **g = dna_malloc(sizeof(Tensor *) * (size_t)(l->n ? l->n : 1));
    for (int i = 0; i < l->n; i++) g[i] = &l->p[i]->g;
    par_sum_tensors(s, g, l->n, mean, extra);
    free(g);
}
