// ConvBN forward/backward over the backend's ops.
#include "nn/convbn.h"

#include <stdio.h>

#include "core/error.h"

void bn_init(const Backend *be, BatchNorm *bn, int c, float eps, float momentum) {
    param_init(be, &bn->gamma, "weight", c, 1, 1, 1, 0);
    param_init(be, &bn->beta, "bias", c, 1, 1, 1, 0);
    param_fill(be, &bn->gamma, 1.0f);
    bn->run_mean = tensor_new(be, c, 1, 1, 1);
    bn->run_var = tensor_new(be, c, 1, 1, 1);
    be->fill(bn->run_var.data, 1.0f, (size_t)c);
    bn->eps = eps, bn->momentum = momentum;
}

void bn_free(const Backend *be, BatchNorm *bn) {
    param_free(be, &bn->gamma);
    param_free(be, &bn->beta);
    tensor_free(be, &bn->run_mean);
    tensor_free(be, &bn->run_var);
}

void bn_params(BatchNorm *bn, ParamList *l) {
    params_push(l, &bn->gamma);
    params_push(l, &bn->beta);
}

void convbn_init(const Backend *be, ConvBN *l, int cin, int cout, int k, int stride, int groups,
                 Act act, Rng *rng) {
    DNA_CHECK(k % 2 == 1 && cin % groups == 0 && cout % groups == 0,
              "kernels are odd and groups divide both channel counts",
              "bad conv: cin %d cout %d k %d groups %d", cin, cout, k, groups);
    *l = (ConvBN){.cin = cin, .cout = cout, .k = k, .stride = stride, .groups = groups, .act = act};
    param_init(be, &l->w, "weight", cout, cin / groups, k, k, 1);
    param_init_conv(be, &l->w, k * k * cout / groups, rng);
    bn_init(be, &l->bn, cout, 1e-5f, 0.1f);
}

void convbn_free(const Backend *be, ConvBN *l) {
    param_free(be, &l->w);
    bn_free(be, &l->bn);
}

void convbn_params(ConvBN *l, ParamList *list) {
    params_push(list, &l->w);
    bn_params(&l->bn, list);
}

int convbn_out_size(const ConvBN *l, int in) {
    return (in + 2 * (l->k / 2) - l->k) / l->stride + 1;
}

static ConvSpec spec(const ConvBN *l) {
    return (ConvSpec){l->stride, l->k / 2, l->groups};
}

const Tensor *convbn_forward(const Backend *be, ConvBN *l, ConvBNCache *c, const Tensor *x,
                             BNMode mode) {
    DNA_CHECK(x->c == l->cin, "check the channel widths of consecutive layers",
              "layer expects %d input channels, got %d", l->cin, x->c);
    int ho = convbn_out_size(l, x->h), wo = convbn_out_size(l, x->w);
    c->x = x, c->mode = mode;
    tensor_ensure(be, &c->a, x->n, l->cout, ho, wo);
    tensor_ensure(be, &c->out, x->n, l->cout, ho, wo);
    tensor_ensure(be, &c->mean, l->cout, 1, 1, 1);
    tensor_ensure(be, &c->invstd, l->cout, 1, 1, 1);
    be->conv2d_fwd(x, &l->w.w, &c->a, spec(l));
    BatchNorm *bn = &l->bn;
    if (mode == BN_EVAL)
        be->bn_fwd_eval(&c->a, bn->gamma.w.data, bn->beta.w.data, bn->run_mean.data,
                        bn->run_var.data, bn->eps, &c->out, l->act);
    else
        be->bn_fwd_train(&c->a, bn->gamma.w.data, bn->beta.w.data, &c->out, c->mean.data,
                         c->invstd.data, bn->run_mean.data, bn->run_var.data,
                         mode == BN_RECALIBRATE ? 1.0f : bn->momentum, bn->eps, l->act, bn->sync);
    return &c->out;
}

const Tensor *convbn_backward(const Backend *be, ConvBN *l, ConvBNCache *c, const Tensor *dy,
                              int need_dx) {
    DNA_CHECK(c->mode != BN_EVAL, "run the forward in training mode before a backward",
              "backward after an eval-mode forward (BN used running statistics)");
    const Tensor *x = c->x;
    tensor_ensure(be, &c->da, c->a.n, c->a.c, c->a.h, c->a.w);
    BatchNorm *bn = &l->bn;
    be->bn_bwd(&c->a, bn->gamma.w.data, bn->beta.w.data, c->mean.data, c->invstd.data, dy, &c->da,
               bn->gamma.g.data, bn->beta.g.data, l->act, bn->sync);
    if (need_dx) tensor_ensure(be, &c->dx, x->n, x->c, x->h, x->w);
    be->conv2d_bwd(x, &l->w.w, &c->da, need_dx ? &c->dx : NULL, &l->w.g, spec(l));
    return need_dx ? &c->dx : NULL;
}

void convbn_cache_free(const Backend *be, ConvBNCache *c) {
    tensor_free(be, &c->a);
    tensor_free(be, &c->out);
    tensor_free(be, &c->mean);
    tensor_free(be, &c->invstd);
    tensor_free(be, &c->da);
    tensor_free(be, &c->dx);
}

long convbn_param_count(int cin, int cout, int k, int groups) {
    return (long)cout * (cin / groups) * k * k + 2L * cout;
}

long convbn_macs(int cin, int cout, int k, int groups, int ho, int wo) {
    return (long)ho * wo * cout * (cin / groups) * k * k;
}
