// The plain C GEMM of cpu_gemm.h: correct for every argument cblas_sgemm takes (row-major),
// and cache-aware enough for a reference backend: op(B) is walked in tiles, and the inner
// loops are unit-stride so GCC vectorises them. Single-threaded: the backend calls it from
// inside OpenMP loops. Sums run in float, in 8 lanes for the dot products, as a BLAS
// kernel's would.
#include "backend/cpu/cpu_gemm.h"

// Tile sizes: a tile of op(B) (KB x NB floats, 512 KiB, or JB rows of KB: 64 KiB) stays in
// L2 while all M rows of C pass over it.
enum { KB = 256, NB = 512, JB = 64 };

// c[0..n) += a * b[0..n)
static void axpy_row(int n, float a, const float *restrict b, float *restrict c) {
    for (int j = 0; j < n; j++) c[j] += a * b[j];
}

static float dot(int n, const float *restrict a, const float *restrict b) {
    float s[8] = {0}, t = 0.0f;
    int k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) s[l] += a[k + l] * b[k + l];
    for (; k < n; k++) t += a[k] * b[k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + t;
}

// C += alpha op(A) B, B not transposed: row i of C gathers rows k of B scaled by op(A)[i][k]
static void gemm_nb(int ta, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float *C, int ldc) {
    for (int j0 = 0; j0 < N; j0 += NB) {
        int jn = N - j0 < NB ? N - j0 : NB;
        for (int k0 = 0; k0 < K; k0 += KB) {
            int kn = K - k0 < KB ? K - k0 : KB;
            for (int i = 0; i < M; i++)
                for (int k = k0; k < k0 + kn; k++) {
                    float a = ta ? A[(long)k * lda + i] : A[(long)i * lda + k];
                    axpy_row(jn, alpha * a, B + (long)k * ldb + j0, C + (long)i * ldc + j0);
                }
        }
    }
}

// C += alpha op(A) B^T: C[i][j] is the dot product of op(A)'s row i and B's row j, both
// unit-stride once a transposed A's column is packed
static void gemm_tb(int ta, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float *C, int ldc) {
    float pack[KB];
    for (int k0 = 0; k0 < K; k0 += KB) {
        int kn = K - k0 < KB ? K - k0 : KB;
        for (int j0 = 0; j0 < N; j0 += JB) {
            int jn = N - j0 < JB ? N - j0 : JB;
            for (int i = 0; i < M; i++) {
                const float *a = A + (long)i * lda + k0;
                if (ta) {
                    for (int k = 0; k < kn; k++) pack[k] = A[(long)(k0 + k) * lda + i];
                    a = pack;
                }
                float *c = C + (long)i * ldc;
                for (int j = j0; j < j0 + jn; j++)
                    c[j] += alpha * dot(kn, a, B + (long)j * ldb + k0);
            }
        }
    }
}

void cpu_sgemm_plain(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (long)i * ldc;
        if (beta == 0.0f)  // C is not read (it may hold NaN), as in BLAS
            for (int j = 0; j < N; j++) c[j] = 0.0f;
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
    if (alpha == 0.0f || K == 0) return;
    if (tb)
        gemm_tb(ta, M, N, K, alpha, A, lda, B, ldb, C, ldc);
    else
        gemm_nb(ta, M, N, K, alpha, A, lda, B, ldb, C, ldc);
}
