// CUDA elementwise ops, global average pool and the SE channel gate: shape checks and
// launches of kernels/elementwise.cu and kernels/pool.cu on the backend's stream.
#include "backend/cuda/cuda_internal.h"
#include "core/error.h"

void cuda_act_fwd(Act act, const Tensor *x, Tensor *y) {
    CudaCtx *g = cuda_ctx();
    size_t n = tensor_numel(x);
    if (act == ACT_NONE) {
        if (y->data != x->data && n)
            CUDA_CHECK(cudaMemcpyAsync(y->data, x->data, n * sizeof(float),
                                       cudaMemcpyDeviceToDevice, g->stream));
        return;
    }
    CUDA_CHECK(dk_act_fwd((int)act, x->data, y->data, n, g->stream));
}

void cuda_act_bwd(Act act, const Tensor *x, const Tensor *dy, Tensor *dx) {
    CUDA_CHECK(
        dk_act_bwd((int)act, x->data, dy->data, dx->data, tensor_numel(x), cuda_ctx()->stream));
}

void cuda_add(const Tensor *a, const Tensor *b, Tensor *y) {
    CUDA_CHECK(dk_add(a->data, b->data, y->data, tensor_numel(a), cuda_ctx()->stream));
}

void cuda_axpy(float alpha, const Tensor *x, Tensor *y) {
    CUDA_CHECK(dk_axpy(alpha, x->data, y->data, tensor_numel(x), cuda_ctx()->stream));
}

void cuda_gap_fwd(const Tensor *x, Tensor *y) {
    CUDA_CHECK(dk_gap_fwd(x->data, y->data, (size_t)x->n * x->c, x->h * x->w, cuda_ctx()->stream));
}

void cuda_gap_bwd(const Tensor *dy, Tensor *dx) {
    CUDA_CHECK(
        dk_gap_bwd(dy->data, dx->data, (size_t)dx->n * dx->c, dx->h * dx->w, cuda_ctx()->stream));
}

void cuda_scale_ch_fwd(const Tensor *x, const Tensor *g, Tensor *y) {
    size_t planes = (size_t)x->n * x->c;
    DNA_CHECK(tensor_numel(g) == planes, "the gate must be [N,C]",
              "scale_ch: gate has %zu values, x has %zu planes", tensor_numel(g), planes);
    CUDA_CHECK(dk_scale_ch_fwd(x->data, g->data, y->data, planes, x->h * x->w, cuda_ctx()->stream));
}

void cuda_scale_ch_bwd(const Tensor *x, const Tensor *g, const Tensor *dy, Tensor *dx, Tensor *dg) {
    CUDA_CHECK(dk_scale_ch_bwd(x->data, g->data, dy->data, dx ? dx->data : NULL,
                               dg ? dg->data : NULL, (size_t)x->n * x->c, x->h * x->w,
                               cuda_ctx()->stream));
}
