// Tensors: float32, NCHW, data owned by a backend (host memory for the CPU backend, device
// memory for CUDA). A matrix [N, F] is a tensor with h = w = 1. Tensors are plain structs;
// views share data and are never freed.
#pragma once
#include <stddef.h>

typedef struct Backend Backend;

typedef struct Tensor {
    float *data;
    int n, c, h, w;
    size_t cap;  // floats allocated (0 for a view)
} Tensor;

static inline size_t tensor_numel(const Tensor *t) {
    return (size_t)t->n * (size_t)t->c * (size_t)t->h * (size_t)t->w;
}
static inline Tensor tensor_view(float *data, int n, int c, int h, int w) {
    Tensor t = {data, n, c, h, w, 0};
    return t;
}

Tensor tensor_new(const Backend *be, int n, int c, int h, int w);  // zero-filled
void tensor_free(const Backend *be, Tensor *t);
// Make t hold at least n*c*h*w floats with that shape, reallocating only when it grows
// (activation buffers reused across steps of different sizes).
void tensor_ensure(const Backend *be, Tensor *t, int n, int c, int h, int w);
void tensor_upload(const Backend *be, Tensor *t, const float *host);
void tensor_download(const Backend *be, const Tensor *t, float *host);
int tensor_same_shape(const Tensor *a, const Tensor *b);
