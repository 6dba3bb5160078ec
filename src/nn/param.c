// Parameter storage, initialisation and lists.
#include "nn/param.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"

void param_init(const Backend *be, Param *p, const char *name, int n, int c, int h, int w,
                int decay) {
    *p = (Param){0};
    snprintf(p->name, sizeof p->name, "%s", name);
    p->w = tensor_new(be, n, c, h, w);
    p->g = tensor_new(be, n, c, h, w);
    p->decay = decay;
}

void param_init_linear_pair(const Backend *be, Param *w, Param *b, const char *name, int out,
                            int in) {
    char s[sizeof w->name];
    snprintf(s, sizeof s, "%s.weight", name);
    param_init(be, w, s, out, in, 1, 1, 1);
    snprintf(s, sizeof s, "%s.bias", name);
    param_init(be, b, s, out, 1, 1, 1, 0);
}

void param_free(const Backend *be, Param *p) {
    tensor_free(be, &p->w);
    tensor_free(be, &p->g);
    tensor_free(be, &p->m);
    tensor_free(be, &p->v);
}

void param_zero_grad(const Backend *be, Param *p) {
    be->fill(p->g.data, 0.0f, tensor_numel(&p->g));
}

static void init_host(const Backend *be, Param *p, Rng *rng, int normal, float scale) {
    size_t n = tensor_numel(&p->w);
    float *h = dna_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        h[i] = normal ? scale * rng_normal(rng) : scale * (2.0f * rng_uniform(rng) - 1.0f);
    tensor_upload(be, &p->w, h);
    free(h);
}

void param_init_conv(const Backend *be, Param *p, int fan_out, Rng *rng) {
    init_host(be, p, rng, 1, sqrtf(2.0f / (float)fan_out));
}

void param_init_linear(const Backend *be, Param *p, int fan_out, Rng *rng) {
    init_host(be, p, rng, 0, 1.0f / sqrtf((float)fan_out));
}

void param_fill(const Backend *be, Param *p, float v) {
    be->fill(p->w.data, v, tensor_numel(&p->w));
}

void params_push(ParamList *l, Param *p) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        Param **q = realloc(l->p, sizeof(Param *) * (size_t)l->cap);
        DNA_CHECK(q, "", "out of memory growing a parameter list");
        l->p = q;
    }
    l->p[l->n++] = p;
}

void params_free(ParamList *l) {
    free(l->p);
    *l = (ParamList){0};
}

size_t params_numel(const ParamList *l) {
    size_t s = 0;
    for (int i = 0; i < l->n; i++) s += tensor_numel(&l->p[i]->w);
    return s;
}

void params_zero_grad(const Backend *be, const ParamList *l) {
    for (int i = 0; i < l->n; i++) param_zero_grad(be, l->p[i]);
}
