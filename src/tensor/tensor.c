// Tensor allocation through the owning backend, and the convolution shape check that every
// backend runs.
#include "tensor/tensor.h"

#include "core/error.h"
#include "tensor/ops.h"

Tensor tensor_new(const Backend *be, int n, int c, int h, int w) {
    Tensor t = {NULL, n, c, h, w, 0};
    t.cap = tensor_numel(&t);
    t.data = be->alloc(t.cap * sizeof(float));
    return t;
}

void tensor_free(const Backend *be, Tensor *t) {
    if (t->data) be->free(t->data);
    t->data = NULL;
    t->n = t->c = t->h = t->w = 0;
    t->cap = 0;
}

void tensor_ensure(const Backend *be, Tensor *t, int n, int c, int h, int w) {
    size_t want = (size_t)n * c * h * w;
    if (!t->data || want > t->cap) {
        tensor_free(be, t);
        *t = tensor_new(be, n, c, h, w);
        return;
    }
    t->n = n, t->c = c, t->h = h, t->w = w;  // the allocation is kept: it only grows
}

void tensor_upload(const Backend *be, Tensor *t, const float *host) {
    be->upload(t->data, host, tensor_numel(t) * sizeof(float));
}

void tensor_download(const Backend *be, const Tensor *t, float *host) {
    be->download(host, t->data, tensor_numel(t) * sizeof(float));
}

int tensor_same_shape(const Tensor *a, const Tensor *b) {
    return a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w;
}

void conv_check_shapes(const Tensor *x, const Tensor *w, const Tensor *y, ConvSpec s) {
    int k = w->h;
    DNA_CHECK(w->h == w->w && s.groups > 0 && s.stride > 0 && s.pad >= 0 && x->c % s.groups == 0 &&
                  y->c % s.groups == 0 && w->c == x->c / s.groups && w->n == y->c && y->n == x->n &&
                  y->h == conv_out_size(x->h, k, s.stride, s.pad) &&
                  y->w == conv_out_size(x->w, k, s.stride, s.pad),
              "a layer was built with shapes that do not chain; check the layer configuration",
              "conv2d shapes do not match: x [%d,%d,%d,%d] w [%d,%d,%d,%d] y [%d,%d,%d,%d] "
              "stride %d pad %d groups %d",
              x->n, x->c, x->h, x->w, w->n, w->c, w->h, w->w, y->n, y->c, y->h, y->w, s.stride,
              s.pad, s.groups);
}
