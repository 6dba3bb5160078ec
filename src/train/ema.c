// EMA of the network state (see ema.h).
#include "train/ema.h"

#include <stdlib.h>

#include "core/error.h"

void ema_init(const Backend *be, Ema *e, const NamedTensor *state, int n, float decay) {
    e->decay = decay;
    e->n = n;
    e->shadow = dna_calloc((size_t)e->n, sizeof(Tensor));
    e->live = dna_calloc((size_t)e->n, sizeof(Tensor *));
    for (int i = 0; i < e->n; i++) {
        Tensor *t = state[i].t;
        e->live[i] = t;
        e->shadow[i] = tensor_new(be, t->n, t->c, t->h, t->w);
        be->copy(e->shadow[i].data, t->data, sizeof(float) * tensor_numel(t));
    }
}

void ema_update(const Backend *be, Ema *e) {
    for (int i = 0; i < e->n; i++) {
        be->axpy(e->decay - 1.0f, &e->shadow[i], &e->shadow[i]);  // shadow *= decay
        be->axpy(1.0f - e->decay, e->live[i], &e->shadow[i]);
    }
}

// By copies, not by exchanging pointers: a state tensor may be a view into a larger buffer.
void ema_swap(const Backend *be, Ema *e) {
    size_t max = 0;
    for (int i = 0; i < e->n; i++)
        if (tensor_numel(e->live[i]) > max) max = tensor_numel(e->live[i]);
    float *tmp = be->alloc(sizeof(float) * (max ? max : 1));
    for (int i = 0; i < e->n; i++) {
        size_t bytes = sizeof(float) * tensor_numel(e->live[i]);
        be->copy(tmp, e->live[i]->data, bytes);
        be->copy(e->live[i]->data, e->shadow[i].data, bytes);
        be->copy(e->shadow[i].data, tmp, bytes);
    }
    be->free(tmp);
}

void ema_free(const Backend *be, Ema *e) {
    for (int i = 0; i < e->n; i++) tensor_free(be, &e->shadow[i]);
    free(e->shadow);
    free(e->live);
    *e = (Ema){0};
}
