// Row-major single-precision GEMM of the CPU backend, C = alpha op(A) op(B) + beta C with
// op(X) = X or its transpose (cblas_sgemm's contract): OpenBLAS's, or where OpenBLAS is
// absent (-DDNA_NO_BLAS: the device-only build, whose CPU backend is only the reference the
// GPU is compared with) cpu_sgemm_plain. The plain one is in every build, so the unit tests
// hold it against OpenBLAS.
#pragma once

enum { GEMM_N = 0, GEMM_T = 1 };  // op(X): X, X transposed

void cpu_sgemm_plain(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);

#ifdef DNA_NO_BLAS
static inline void cpu_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                             int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    cpu_sgemm_plain(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
static inline const char *cpu_gemm_library(void) {
    return "plain C GEMM (built without BLAS)";
}
static inline void cpu_gemm_single_thread(void) {}
#else
#include <cblas.h>
static inline void cpu_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                             int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}
const char *cpu_gemm_library(void);
// OpenMP loops around the calls give the parallelism: OpenBLAS's own pool would fight them.
// Also picks OpenBLAS's kernels for this CPU where its table does not know the CPU (see
// cpu_gemm.c).
void cpu_gemm_single_thread(void);
#endif
