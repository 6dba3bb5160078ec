// Squeeze-excitation forward/backward over the backend's ops.
#include "nn/se.h"

void se_init(const Backend *be, SE *l, int c, int r, Rng *rng) {
    *l = (SE){.c = c, .r = r};
    param_init(be, &l->rw, "conv_reduce.weight", r, c, 1, 1, 1);
    param_init(be, &l->rb, "conv_reduce.bias", r, 1, 1, 1, 0);
    param_init(be, &l->ew, "conv_expand.weight", c, r, 1, 1, 1);
    param_init(be, &l->eb, "conv_expand.bias", c, 1, 1, 1, 0);
    param_init_conv(be, &l->rw, r, rng);  // SE's FCs are 1x1 convs in EfficientNet
    param_init_conv(be, &l->ew, c, rng);
}

void se_free(const Backend *be, SE *l) {
    param_free(be, &l->rw);
    param_free(be, &l->rb);
    param_free(be, &l->ew);
    param_free(be, &l->eb);
}

void se_params(SE *l, ParamList *list) {
    params_push(list, &l->rw);
    params_push(list, &l->rb);
    params_push(list, &l->ew);
    params_push(list, &l->eb);
}

const Tensor *se_forward(const Backend *be, SE *l, SECache *c, const Tensor *x) {
    int n = x->n;
    c->x = x;
    tensor_ensure(be, &c->s, n, l->c, 1, 1);
    tensor_ensure(be, &c->r, n, l->r, 1, 1);
    tensor_ensure(be, &c->rs, n, l->r, 1, 1);
    tensor_ensure(be, &c->e, n, l->c, 1, 1);
    tensor_ensure(be, &c->g, n, l->c, 1, 1);
    tensor_ensure(be, &c->out, n, x->c, x->h, x->w);
    be->gap_fwd(x, &c->s);
    be->linear_fwd(&c->s, &l->rw.w, l->rb.w.data, &c->r);
    be->act_fwd(ACT_SWISH, &c->r, &c->rs);
    be->linear_fwd(&c->rs, &l->ew.w, l->eb.w.data, &c->e);
    be->act_fwd(ACT_SIGMOID, &c->e, &c->g);
    be->scale_ch_fwd(x, &c->g, &c->out);
    return &c->out;
}

const Tensor *se_backward(const Backend *be, SE *l, SECache *c, const Tensor *dy) {
    const Tensor *x = c->x;
    int n = x->n;
    tensor_ensure(be, &c->dg, n, l->c, 1, 1);
    tensor_ensure(be, &c->de, n, l->c, 1, 1);
    tensor_ensure(be, &c->drs, n, l->r, 1, 1);
    tensor_ensure(be, &c->dr, n, l->r, 1, 1);
    tensor_ensure(be, &c->ds, n, l->c, 1, 1);
    tensor_ensure(be, &c->dx, n, x->c, x->h, x->w);
    be->scale_ch_bwd(x, &c->g, dy, &c->dx, &c->dg);  // dx = dy * gate (the direct path)
    be->act_bwd(ACT_SIGMOID, &c->e, &c->dg, &c->de);
    be->linear_bwd(&c->rs, &l->ew.w, &c->de, &c->drs, &l->ew.g, l->eb.g.data);
    be->act_bwd(ACT_SWISH, &c->r, &c->drs, &c->dr);
    be->linear_bwd(&c->s, &l->rw.w, &c->dr, &c->ds, &l->rw.g, l->rb.g.data);
    be->gap_bwd(&c->ds, &c->dx);  // + the pooled path
    return &c->dx;
}

void se_cache_free(const Backend *be, SECache *c) {
    Tensor *t[] = {&c->s,  &c->r,  &c->rs,  &c->e,  &c->g,  &c->out,
                   &c->dg, &c->de, &c->drs, &c->dr, &c->ds, &c->dx};
    for (unsigned i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(be, t[i]);
}

long se_param_count(int c, int r) {
    return 2L * c * r + c + r;
}
long se_macs(int c, int r) {
    return 2L * c * r;
}
