// Projector forward/backward over the backend's ops (see projector.h). BN and ReLU are one
// op (bn_fwd_train / bn_bwd with ACT_RELU), as in ConvBN.
#include "nn/projector.h"

#include <stdio.h>

#include "core/error.h"

static void linear_init(const Backend *be, Param *w, Param *b, const char *name, int in, int out,
                        Rng *rng) {
    param_init_linear_pair(be, w, b, name, out, in);
    param_init_linear(be, w, in, rng);  // the bound is 1/sqrt(its argument): fan_in here
    param_init_linear(be, b, in, rng);
}

void projector_init(const Backend *be, Projector *p, int cin, int hidden, int cout, Rng *rng) {
    DNA_CHECK(cin > 0 && hidden > 0 && cout > 0, "give the projector positive widths",
              "projector %d -> %d -> %d", cin, hidden, cout);
    *p = (Projector){.cin = cin, .hidden = hidden, .cout = cout};
    linear_init(be, &p->fc1_w, &p->fc1_b, "mlp.0", cin, hidden, rng);
    bn_init(be, &p->bn, hidden, 1e-5f, 0.1f);
    snprintf(p->bn.gamma.name, sizeof p->bn.gamma.name, "mlp.1.weight");
    snprintf(p->bn.beta.name, sizeof p->bn.beta.name, "mlp.1.bias");
    linear_init(be, &p->fc2_w, &p->fc2_b, "mlp.3", hidden, cout, rng);
}

void projector_free(const Backend *be, Projector *p) {
    param_free(be, &p->fc1_w);
    param_free(be, &p->fc1_b);
    bn_free(be, &p->bn);
    param_free(be, &p->fc2_w);
    param_free(be, &p->fc2_b);
}

void projector_params(Projector *p, ParamList *list) {
    params_push(list, &p->fc1_w);
    params_push(list, &p->fc1_b);
    bn_params(&p->bn, list);
    params_push(list, &p->fc2_w);
    params_push(list, &p->fc2_b);
}

const Tensor *projector_forward(const Backend *be, Projector *p, ProjectorCache *c, const Tensor *x,
                                BNMode mode) {
    DNA_CHECK(x->c == p->cin, "check the projector's input width against the block's output",
              "projector expects %d input channels, got %d", p->cin, x->c);
    DNA_CHECK(mode == BN_EVAL || x->n >= 2 || p->bn.sync,
              "train the projector on batches of 2 images or more",
              "projector: training-mode batch norm over %d image", x->n);
    int n = x->n;
    c->x = x, c->mode = mode;
    tensor_ensure(be, &c->pooled, n, p->cin, 1, 1);
    tensor_ensure(be, &c->h, n, p->hidden, 1, 1);
    tensor_ensure(be, &c->a, n, p->hidden, 1, 1);
    tensor_ensure(be, &c->out, n, p->cout, 1, 1);
    tensor_ensure(be, &c->mean, p->hidden, 1, 1, 1);
    tensor_ensure(be, &c->invstd, p->hidden, 1, 1, 1);
    be->gap_fwd(x, &c->pooled);
    be->linear_fwd(&c->pooled, &p->fc1_w.w, p->fc1_b.w.data, &c->h);
    BatchNorm *bn = &p->bn;
    if (mode == BN_EVAL)
        be->bn_fwd_eval(&c->h, bn->gamma.w.data, bn->beta.w.data, bn->run_mean.data,
                        bn->run_var.data, bn->eps, &c->a, ACT_RELU);
    else
        be->bn_fwd_train(&c->h, bn->gamma.w.data, bn->beta.w.data, &c->a, c->mean.data,
                         c->invstd.data, bn->run_mean.data, bn->run_var.data,
                         mode == BN_RECALIBRATE ? 1.0f : bn->momentum, bn->eps, ACT_RELU, bn->sync);
    be->linear_fwd(&c->a, &p->fc2_w.w, p->fc2_b.w.data, &c->out);
    return &c->out;
}

const Tensor *projector_backward(const Backend *be, Projector *p, ProjectorCache *c,
                                 const Tensor *dy, int need_dx) {
    DNA_CHECK(c->mode != BN_EVAL, "run the forward in training mode before a backward",
              "projector backward after an eval-mode forward (BN used running statistics)");
    const Tensor *x = c->x;
    int n = x->n;
    tensor_ensure(be, &c->da, n, p->hidden, 1, 1);
    tensor_ensure(be, &c->dh, n, p->hidden, 1, 1);
    be->linear_bwd(&c->a, &p->fc2_w.w, dy, &c->da, &p->fc2_w.g, p->fc2_b.g.data);
    BatchNorm *bn = &p->bn;
    be->bn_bwd(&c->h, bn->gamma.w.data, bn->beta.w.data, c->mean.data, c->invstd.data, &c->da,
               &c->dh, bn->gamma.g.data, bn->beta.g.data, ACT_RELU, bn->sync);
    if (!need_dx) {
        be->linear_bwd(&c->pooled, &p->fc1_w.w, &c->dh, NULL, &p->fc1_w.g, p->fc1_b.g.data);
        return NULL;
    }
    tensor_ensure(be, &c->dpooled, n, p->cin, 1, 1);
    tensor_ensure(be, &c->dx, n, x->c, x->h, x->w);
    be->linear_bwd(&c->pooled, &p->fc1_w.w, &c->dh, &c->dpooled, &p->fc1_w.g, p->fc1_b.g.data);
    be->fill(c->dx.data, 0.0f, tensor_numel(&c->dx));  // gap_bwd accumulates
    be->gap_bwd(&c->dpooled, &c->dx);
    return &c->dx;
}

void projector_cache_free(const Backend *be, ProjectorCache *c) {
    Tensor *t[] = {&c->pooled, &c->h,  &c->a,  &c->out,     &c->mean,
                   &c->invstd, &c->da, &c->dh, &c->dpooled, &c->dx};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(be, t[i]);
}

long projector_param_count(int cin, int hidden, int cout) {
    return (long)hidden * cin + hidden + 2L * hidden + (long)cout * hidden + cout;
}
