// Optimizer steps over parameter lists; the arithmetic is the backend's. LARS has no op of
// its own: a weight's two norms are computed on the host (lars_trust) and its update is four
// axpy ops; biases and BN take the SGD op.
#include "train/optim.h"

#include <math.h>
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

Optim optim_lars(float lr, float weight_decay, float momentum, float eta) {
    return (Optim){.kind = OPTIM_LARS,
                   .lr = lr,
                   .weight_decay = weight_decay,
                   .momentum = momentum,
                   .eta = eta};
}

static void ensure_state(const Backend *be, Tensor *s, const Tensor *like) {
    if (!s->data) *s = tensor_new(be, like->n, like->c, like->h, like->w);
}

// LARS's trust ratio eta ‖w‖ / ‖g + wd w‖ (1 when either norm is 0), the norms summed in
// double on the host from a download of w and g. No backend op reduces a norm (mse against a
// zero tensor would need a second buffer the size of w, and still not give ‖g + wd w‖), and
// the download is cheap where LARS is used: a memcpy on the CPU; on a GPU 8 bytes per
// parameter and a wait for the queue per weight tensor, per step, small next to a forward
// and backward of a whole batch (a fused norm op is the step up if it ever shows in a
// profile). The ratio is then exact and the same on every backend and rank.
static double lars_trust(const Backend *be, const Param *p, float wd, float eta) {
    size_t n = tensor_numel(&p->w);
    float *w = dna_malloc(sizeof(float) * 2 * (n ? n : 1)), *g = w + n;
    tensor_download(be, &p->w, w);
    tensor_download(be, &p->g, g);
    double ww = 0.0, dd = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)g[i] + (double)wd * (double)w[i];
        ww += (double)w[i] * (double)w[i];
        dd += d * d;
    }
    free(w);
    return ww > 0.0 && dd > 0.0 ? (double)eta * sqrt(ww) / sqrt(dd) : 1.0;
}

// VICReg's LARS step (optim.h). Weights: m = momentum m + q g + q wd w, w -= lr m, as axpys
// (m := m + (momentum - 1) m scales in place). Biases and BN: SGD with momentum, no decay.
static void lars_step(const Backend *be, const Optim *o, Param *p) {
    ensure_state(be, &p->m, &p->w);
    if (!p->decay) {
        be->sgd_step(p->w.data, p->g.data, p->m.data, tensor_numel(&p->w), o->lr, o->momentum, 0.0f,
                     0);
        return;
    }
    float q = (float)lars_trust(be, p, o->weight_decay, o->eta);
    be->axpy(o->momentum - 1.0f, &p->m, &p->m);
    be->axpy(q, &p->g, &p->m);
    if (o->weight_decay != 0.0f) be->axpy(q * o->weight_decay, &p->w, &p->m);
    be->axpy(-o->lr, &p->m, &p->w);
}

void optim_step(const Backend *be, const Optim *o, const ParamList *l) {
    for (int i = 0; i < l->n; i++) {
        Param *p = l->p[i];
        size_t n = tensor_numel(&p->w);
        float wd = p->decay ? o->weight_decay : 0.0f;
        p->step++;
        if (o->kind == OPTIM_LARS) {
            lars_step(be, o, p);
        } else if (o->kind == OPTIM_SGD) {
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
