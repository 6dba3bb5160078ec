// CUDA transformer ops: LayerNorm, the token-wise linear layer, the attention core, the
// per-image transpose, the broadcast add and copy2d (src/tensor/ops.def), with the CPU
// backend's shape checks (src/backend/cpu/cpu_vit.c). GEMMs go to cuBLAS (column-major: a
// row-major [R, C] matrix with leading dimension ld is, to cuBLAS, its transpose [C, R] with
// the same ld, so each product below is issued as its transpose, C^T = B^T A^T, as in
// cuda_linear.c); the rest are the kernels of kernels/vit.cu. Every call runs on
// cuda_ctx()->stream.
#include "backend/cuda/cuda_internal.h"
#include "core/error.h"

static size_t rows_of(const Tensor *x) {
    return (size_t)x->n * x->c * x->h;
}

static size_t up256(size_t b) {
    return (b + 255) & ~(size_t)255;
}

// ---------------------------------------------------------------- LayerNorm
void cuda_layernorm_fwd(const Tensor *x, const float *gamma, const float *beta, Tensor *y,
                        float *mean, float *invstd, float eps) {
    DNA_CHECK(tensor_same_shape(x, y), "check the token widths of the layer",
              "layernorm shapes do not match: x [%d,%d,%d,%d] y [%d,%d,%d,%d]", x->n, x->c, x->h,
              x->w, y->n, y->c, y->h, y->w);
    CUDA_CHECK(dk_layernorm_fwd(x->data, gamma, beta, y->data, mean, invstd, rows_of(x), x->w, eps,
                                cuda_ctx()->stream));
}

// dgamma/dbeta first: they read dy and x, which dx may alias.
void cuda_layernorm_bwd(const Tensor *x, const float *gamma, const float *mean, const float *invstd,
                        const Tensor *dy, Tensor *dx, float *dgamma, float *dbeta) {
    DNA_CHECK(tensor_same_shape(x, dy), "check the token widths of the layer",
              "layernorm backward shapes do not match: x [%d,%d,%d,%d] dy [%d,%d,%d,%d]", x->n,
              x->c, x->h, x->w, dy->n, dy->c, dy->h, dy->w);
    DNA_CHECK(mean && invstd, "pass the statistics the forward saved",
              "layernorm backward without mean/invstd");
    CudaCtx *g = cuda_ctx();
    size_t R = rows_of(x);
    DNA_CHECK(R <= 0x7fffffff, "use a smaller batch", "layernorm backward over %zu rows", R);
    if (dgamma || dbeta) {
        void *scratch = cuda_scratch(dk_col_sums_scratch_bytes((int)R, x->w));
        CUDA_CHECK(dk_col_sums_acc(dy->data, x->data, mean, invstd, (int)R, x->w, dbeta, dgamma,
                                   scratch, g->stream));
    }
    if (dx)
        CUDA_CHECK(dk_layernorm_bwd_dx(x->data, gamma, mean, invstd, dy->data, dx->data, R, x->w,
                                       g->stream));
}

// ---------------------------------------------------------------- token-wise linear
// the shared check, and cuBLAS's int row count
static void tok_linear_check(const Tensor *x, const Tensor *w, const Tensor *y, const char *what) {
    tok_linear_check_shapes(x, w, y, what);
    DNA_CHECK(rows_of(x) <= 0x7fffffff, "use a smaller batch", "token linear over %zu rows",
              rows_of(x));
}

// y [R, O] = x [R, I] w^T (+ b) over all R = N T rows: to cuBLAS y^T [O, R] = w^T' x^T
void cuda_tok_linear_fwd(const Tensor *x, const Tensor *w, const float *b, Tensor *y) {
    tok_linear_check(x, w, y, "forward");
    CudaCtx *g = cuda_ctx();
    int R = (int)rows_of(x), I = x->w, O = w->n;
    if (!R || !O) return;
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasSgemm(g->cublas, CUBLAS_OP_T, CUBLAS_OP_N, O, R, I, &one, w->data, I,
                             x->data, I, &zero, y->data, O));
    if (b) CUDA_CHECK(dk_add_bias_rows(y->data, b, R, O, g->stream));
}

// dx [R, I] = dy [R, O] w [O, I] (overwritten); dw [O, I] += dy^T x; db [O] += column sums of
// dy (accumulated)
void cuda_tok_linear_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                         float *db) {
    tok_linear_check(x, w, dy, "backward");
    CudaCtx *g = cuda_ctx();
    int R = (int)rows_of(x), I = x->w, O = w->n;
    const float one = 1.0f, zero = 0.0f;
    if (dx && R && I) {
        if (O)
            CUBLAS_CHECK(cublasSgemm(g->cublas, CUBLAS_OP_N, CUBLAS_OP_N, I, R, O, &one, w->data, I,
                                     dy->data, O, &zero, dx->data, I));
        else
            CUDA_CHECK(dk_fill(dx->data, 0.0f, (size_t)R * I, g->stream));
    }
    if (dw && R && O && I)
        CUBLAS_CHECK(cublasSgemm(g->cublas, CUBLAS_OP_N, CUBLAS_OP_T, I, O, R, &one, x->data, I,
                                 dy->data, O, &one, dw->data, I));
    if (db && R && O) {
        void *scratch = cuda_scratch(dk_col_sums_scratch_bytes(R, O));
        CUDA_CHECK(dk_col_sums_acc(dy->data, NULL, NULL, NULL, R, O, db, NULL, scratch, g->stream));
    }
}

// ---------------------------------------------------------------- attention core
// Per head h, batched over the N images with cublasSgemmStridedBatched: the head's q, k, v
// are [T, dh] blocks of qkv with leading dimension 3D (images T 3D apart), y's and dy's with
// D (T D apart), p's [T, T] blocks with T (heads T T apart; the scratch's T T apart).
static void attn_p_check(const Tensor *p, int N, int heads, int T) {
    DNA_CHECK(p->n == N && p->c == heads && p->h == T && p->w == T,
              "size the attention buffer [N, heads, T, T]",
              "attention probabilities [%d,%d,%d,%d], want [%d,%d,%d,%d]", p->n, p->c, p->h, p->w,
              N, heads, T, T);
}

// column-major C = alpha op(A) op(B) (+ beta C) for each of `batch` images
static void gemm_batched(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         float alpha, const float *A, int lda, long long sa, const float *B,
                         int ldb, long long sb, float beta, float *C, int ldc, long long sc,
                         int batch) {
    CUBLAS_CHECK(cublasSgemmStridedBatched(cuda_ctx()->cublas, ta, tb, m, n, k, &alpha, A, lda, sa,
                                           B, ldb, sb, &beta, C, ldc, sc, batch));
}

void cuda_attn_fwd(const Tensor *qkv, Tensor *y, Tensor *p, int heads) {
    int D = attn_check_shapes(qkv, y, heads, "forward"), T = y->c * y->h, dh = D / heads, N = y->n;
    if (p) attn_p_check(p, N, heads, T);
    if (!N || !T || !D) return;
    CudaCtx *g = cuda_ctx();
    float scale = 1.0f / sqrtf((float)dh);
    long long TT = (long long)T * T, sq = (long long)T * 3 * D, sy = (long long)T * D;
    // p, or one head's [N, T, T] in scratch
    float *pb = p ? p->data : cuda_scratch(sizeof(float) * (size_t)N * T * T);
    long long sp = p ? TT * heads : TT;
    for (int h = 0; h < heads; h++) {
        const float *q = qkv->data + (size_t)h * dh, *k = q + D, *v = q + 2 * D;
        float *ph = p ? pb + (size_t)h * TT : pb;
        // S [T, T] = scale q k^T: to cuBLAS S^T = k q^T
        gemm_batched(CUBLAS_OP_T, CUBLAS_OP_N, T, T, dh, scale, k, 3 * D, sq, q, 3 * D, sq, 0.0f,
                     ph, T, sp, N);
        CUDA_CHECK(dk_softmax_rows(ph, (size_t)N * T, T, (size_t)sp, g->stream));
        // y_h [T, dh] = P v: to cuBLAS y_h^T = v^T P^T
        gemm_batched(CUBLAS_OP_N, CUBLAS_OP_N, dh, T, T, 1.0f, v, 3 * D, sq, ph, T, sp, 0.0f,
                     y->data + (size_t)h * dh, D, sy, N);
    }
}

// dP = dY V^T, dS = P (dP - rowsum(dP P)) (in scratch), dV = P^T dY, dQ = scale dS K,
// dK = scale dS^T Q; every column of dqkv is written (beta 0)
void cuda_attn_bwd(const Tensor *qkv, const Tensor *p, const Tensor *dy, Tensor *dqkv, int heads) {
    int D = attn_check_shapes(qkv, dy, heads, "backward"), T = dy->c * dy->h, dh = D / heads,
        N = dy->n;
    DNA_CHECK(p && tensor_same_shape(qkv, dqkv),
              "pass the forward's probabilities and a dqkv shaped like qkv",
              "attention backward: p %s, dqkv [%d,%d,%d,%d] for qkv [%d,%d,%d,%d]",
              p ? "given" : "NULL", dqkv->n, dqkv->c, dqkv->h, dqkv->w, qkv->n, qkv->c, qkv->h,
              qkv->w);
    attn_p_check(p, N, heads, T);
    DNA_CHECK(dqkv->data != qkv->data && dqkv->data != dy->data,
              "give the attention backward its own dqkv buffer",
              "attention backward: dqkv aliases qkv or dy");
    if (!N || !T || !D) return;
    CudaCtx *g = cuda_ctx();
    float scale = 1.0f / sqrtf((float)dh);
    long long TT = (long long)T * T, sq = (long long)T * 3 * D, sy = (long long)T * D,
              sp = TT * heads;
    float *ds = cuda_scratch(sizeof(float) * (size_t)N * T * T);
    for (int h = 0; h < heads; h++) {
        size_t off = (size_t)h * dh;
        const float *q = qkv->data + off, *k = q + D, *v = q + 2 * D;
        const float *ph = p->data + (size_t)h * TT, *gy = dy->data + off;
        float *dq = dqkv->data + off, *dk = dq + D, *dv = dq + 2 * D;
        // dP [T, T] = dY V^T: to cuBLAS dP^T = V dY^T
        gemm_batched(CUBLAS_OP_T, CUBLAS_OP_N, T, T, dh, 1.0f, v, 3 * D, sq, gy, D, sy, 0.0f, ds, T,
                     TT, N);
        CUDA_CHECK(
            dk_softmax_bwd_rows(ph, (size_t)sp, ds, (size_t)TT, (size_t)N * T, T, g->stream));
        // dV [T, dh] = P^T dY: to cuBLAS dV^T = dY^T P
        gemm_batched(CUBLAS_OP_N, CUBLAS_OP_T, dh, T, T, 1.0f, gy, D, sy, ph, T, sp, 0.0f, dv,
                     3 * D, sq, N);
        // dQ [T, dh] = scale dS K: to cuBLAS dQ^T = scale K^T dS^T
        gemm_batched(CUBLAS_OP_N, CUBLAS_OP_N, dh, T, T, scale, k, 3 * D, sq, ds, T, TT, 0.0f, dq,
                     3 * D, sq, N);
        // dK [T, dh] = scale dS^T Q: to cuBLAS dK^T = scale Q^T dS
        gemm_batched(CUBLAS_OP_N, CUBLAS_OP_T, dh, T, T, scale, q, 3 * D, sq, ds, T, TT, 0.0f, dk,
                     3 * D, sq, N);
    }
}

// ---------------------------------------------------------------- layout and broadcast
void cuda_transpose(const Tensor *x, Tensor *y) {
    transpose_check_shapes(x, y);
    int A = x->c, B = x->h * x->w;
    DNA_CHECK(x->data != y->data || tensor_numel(x) == 0, "transpose into another buffer",
              "transpose in place");
    CUDA_CHECK(dk_transpose(x->data, y->data, x->n, A, B, cuda_ctx()->stream));
}

void cuda_bcast_add(const Tensor *x, const Tensor *b, Tensor *y) {
    bcast_check_shapes(x, b);
    DNA_CHECK(tensor_same_shape(x, y), "the sum has the shape of the tokens",
              "broadcast add: y [%d,%d,%d,%d] for x [%d,%d,%d,%d]", y->n, y->c, y->h, y->w, x->n,
              x->c, x->h, x->w);
    CUDA_CHECK(dk_bcast_add(x->data, b->data, y->data, tensor_numel(x), tensor_numel(b),
                            cuda_ctx()->stream));
}

// db [P] += sum over the images of dy, one thread per value adding the images in order
void cuda_bcast_add_bwd(const Tensor *dy, Tensor *db) {
    bcast_check_shapes(dy, db);
    size_t P = tensor_numel(db);
    DNA_CHECK(P <= 0x7fffffff, "use a smaller embedding", "broadcast add over %zu values", P);
    CUDA_CHECK(dk_sum_rows_acc(dy->data, db->data, dy->n, (int)P, cuda_ctx()->stream));
}

// the block [rows, cols] between row strides lds and ldd (a supernet's weight slice)
void cuda_copy2d(float *dst, int ldd, const float *src, int lds, int rows, int cols, int acc) {
    DNA_CHECK(rows >= 0 && cols >= 0 && cols <= ldd && cols <= lds,
              "slice a block no wider than either matrix",
              "copy2d of %d x %d between row strides %d and %d", rows, cols, lds, ldd);
    CUDA_CHECK(dk_copy2d(dst, ldd, src, lds, rows, cols, acc, cuda_ctx()->stream));
}
