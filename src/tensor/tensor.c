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

void tok_linear_check_shapes(const Tensor *x, const Tensor *w, const Tensor *y, const char *what) {
    DNA_CHECK(
        w->c * w->h * w->w == x->w && y->n == x->n && y->c == x->c && y->h == x->h && y->w == w->n,
        "check the token widths of the layer",
        "token linear %s shapes do not match: x [%d,%d,%d,%d] w [%d,%d] y [%d,%d,%d,%d]", what,
        x->n, x->c, x->h, x->w, w->n, w->c * w->h * w->w, y->n, y->c, y->h, y->w);
}

int attn_check_shapes(const Tensor *qkv, const Tensor *y, int heads, const char *what) {
    int D = y->w;
    DNA_CHECK(heads > 0 && D % heads == 0 && qkv->w == 3 * D && qkv->n == y->n &&
                  qkv->c * qkv->h == y->c * y->h,
              "the width must be a multiple of the number of heads, and the QKV projection 3x it",
              "attention %s shapes do not match: qkv [%d,%d,%d,%d] y [%d,%d,%d,%d], %d heads", what,
              qkv->n, qkv->c, qkv->h, qkv->w, y->n, y->c, y->h, y->w, heads);
    return D;
}

void transpose_check_shapes(const Tensor *x, const Tensor *y) {
    DNA_CHECK(y->n == x->n && y->c == x->h * x->w && y->h * y->w == x->c,
              "tokens [N, HW, 1, C] pair with maps [N, C, H, W]",
              "transpose shapes do not match: x [%d,%d,%d,%d] y [%d,%d,%d,%d]", x->n, x->c, x->h,
              x->w, y->n, y->c, y->h, y->w);
}

void bcast_check_shapes(const Tensor *x, const Tensor *b) {
    DNA_CHECK(b->n == 1 && b->c == x->c && b->h == x->h && b->w == x->w,
              "size the embedding as one image of the tokens it is added to",
              "broadcast add: b [%d,%d,%d,%d] for x [%d,%d,%d,%d]", b->n, b->c, b->h, b->w, x->n,
              x->c, x->h, x->w);
}
