// Host stand-in for cuBLAS (tests/gpu/emu/run.sh): column-major SGEMM, single and strided
// batched, with cuBLAS's leading-dimension checks, accumulated in float as a GPU does, queued on
// the handle's stream (emu.h) with alpha and beta read at the call (host pointer mode).
#include <cublas_v2.h>
#include <stddef.h>
#include <stdlib.h>

#include "emu.h"

struct cublasContext {
    cudaStream_t stream;
};
static struct cublasContext the_blas;
cublasStatus_t cublasCreate_v2(cublasHandle_t *h) {
    *h = &the_blas;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s) {
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) {
    (void)h;
    return m == CUBLAS_DEFAULT_MATH ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}
cublasStatus_t cublasGetVersion_v2(cublasHandle_t h, int *v) {
    (void)h;
    *v = 130100;
    return CUBLAS_STATUS_SUCCESS;
}
const char *cublasGetStatusName(cublasStatus_t s) {
    (void)s;
    return "CUBLAS_MOCK";
}
const char *cublasGetStatusString(cublasStatus_t s) {
    (void)s;
    return "mock";
}
typedef struct {
    cublasOperation_t ta, tb;
    int m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
} Gemm;
// column-major C [m, n] = alpha op(A) op(B) + beta C
static void run_gemm(void *arg) {
    Gemm *g = arg;
    for (int j = 0; j < g->n; j++)
        for (int i = 0; i < g->m; i++) {
            float s = 0;
            for (int p = 0; p < g->k; p++) {
                float a = g->ta == CUBLAS_OP_N ? g->A[i + (size_t)p * g->lda]
                                               : g->A[p + (size_t)i * g->lda];
                float b = g->tb == CUBLAS_OP_N ? g->B[p + (size_t)j * g->ldb]
                                               : g->B[j + (size_t)p * g->ldb];
                s += a * b;
            }
            float *c = &g->C[i + (size_t)j * g->ldc];
            *c = g->alpha * s + (g->beta != 0.0f ? g->beta * *c : 0.0f);
        }
    free(g);
}
cublasStatus_t cublasSgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                              int n, int k, const float *alpha, const float *A, int lda,
                              const float *B, int ldb, const float *beta, float *C, int ldc) {
    if (lda < (ta == CUBLAS_OP_N ? m : k) || ldb < (tb == CUBLAS_OP_N ? k : n) || ldc < m)
        return CUBLAS_STATUS_INVALID_VALUE;
    Gemm *g = malloc(sizeof *g);
    if (!g) return CUBLAS_STATUS_ALLOC_FAILED;
    *g = (Gemm){ta, tb, m, n, k, lda, ldb, ldc, *alpha, *beta, A, B, C};
    emu_enqueue(h->stream, run_gemm, g);
    return CUBLAS_STATUS_SUCCESS;
}

typedef struct {
    Gemm g;
    long long sa, sb, sc;
    int batch;
} GemmBatch;
static void run_gemm_batched(void *arg) {
    GemmBatch *b = arg;
    for (int i = 0; i < b->batch; i++) {
        Gemm *g = malloc(sizeof *g);
        if (!g) abort();
        *g = b->g;
        g->A += i * b->sa, g->B += i * b->sb, g->C += i * b->sc;
        run_gemm(g);  // frees g
    }
    free(b);
}
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                         cublasOperation_t tb, int m, int n, int k,
                                         const float *alpha, const float *A, int lda, long long sa,
                                         const float *B, int ldb, long long sb, const float *beta,
                                         float *C, int ldc, long long sc, int batch) {
    if (lda < (ta == CUBLAS_OP_N ? m : k) || ldb < (tb == CUBLAS_OP_N ? k : n) || ldc < m ||
        m < 0 || n < 0 || k < 0 || batch < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    GemmBatch *b = malloc(sizeof *b);
    if (!b) return CUBLAS_STATUS_ALLOC_FAILED;
    *b = (GemmBatch){{ta, tb, m, n, k, lda, ldb, ldc, *alpha, *beta, A, B, C}, sa, sb, sc, batch};
    emu_enqueue(h->stream, run_gemm_batched, b);
    return CUBLAS_STATUS_SUCCESS;
}
