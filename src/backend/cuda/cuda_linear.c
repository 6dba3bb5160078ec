// CUDA linear layers: cuBLAS SGEMM plus two small kernels (bias, bias gradient). cuBLAS is
// column-major: a row-major [R, C] matrix is, to cuBLAS, its transpose ([C, R], leading
// dimension C), so each product below is the transposed one (C^T = B^T A^T).
#include "backend/cuda/cuda_internal.h"
#include "core/error.h"

static void check_shapes(const Tensor *x, const Tensor *w, const Tensor *y) {
    int N = x->n, Ni = x->c * x->h * x->w, No = w->n;
    DNA_CHECK(w->c * w->h * w->w == Ni && y->n == N && y->c * y->h * y->w == No,
              "check the layer widths in the configuration",
              "linear shapes do not match: x [%d,%d] w [%d,%d] y [%d,%d]", N, Ni, w->n,
              w->c * w->h * w->w, y->n, y->c * y->h * y->w);
}

// y [N, O] = x [N, I] w^T (+ b): to cuBLAS, y^T [O, N] = w [I, O]^T x^T [I, N]
void cuda_linear_fwd(const Tensor *x, const Tensor *w, const float *b, Tensor *y) {
    check_shapes(x, w, y);
    CudaCtx *g = cuda_ctx();
    int N = x->n, Ni = x->c * x->h * x->w, No = w->n;
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasSgemm(g->cublas, CUBLAS_OP_T, CUBLAS_OP_N, No, N, Ni, &one, w->data, Ni,
                             x->data, Ni, &zero, y->data, No));
    if (b) CUDA_CHECK(dk_add_bias_rows(y->data, b, N, No, g->stream));
}

// dx [N, I] = dy [N, O] w [O, I] (overwritten): dx^T [I, N] = w^T [I, O] dy^T [O, N]
// dw [O, I] += dy^T x (accumulated):             dw^T [I, O] += x^T [I, N] dy [N, O]
// db [O] += sum over rows of dy
void cuda_linear_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                     float *db) {
    check_shapes(x, w, dy);
    CudaCtx *g = cuda_ctx();
    int N = x->n, Ni = x->c * x->h * x->w, No = w->n;
    const float one = 1.0f, zero = 0.0f;
    if (dx)
        CUBLAS_CHECK(cublasSgemm(g->cublas, CUBLAS_OP_N, CUBLAS_OP_N, Ni, N, No, &one, w->data, Ni,
                                 dy->data, No, &zero, dx->data, Ni));
    if (dw)
        CUBLAS_CHECK(cublasSgemm(g->cublas, CUBLAS_OP_N, CUBLAS_OP_T, Ni, No, N, &one, x->data, Ni,
                                 dy->data, No, &one, dw->data, Ni));
    if (db) CUDA_CHECK(dk_sum_rows_acc(dy->data, db, N, No, g->stream));
}
