// The plain C GEMM (cpu_gemm.c), which stands in for OpenBLAS in the device-only build, where
// it is the reference the GPU is compared with: every transpose pair, shapes across its tile
// edges, padded leading dimensions, alpha and beta (beta 0 must not read C), against a double
// reference with float summation's error bound, and against OpenBLAS (cpu_sgemm here).
#include <math.h>
#include <stdlib.h>

#include "backend/cpu/cpu_gemm.h"
#include "harness.h"

typedef struct {
    int ta, tb, M, N, K, pad;
    float alpha, beta;
} Case;

// op(X)[r][c] of X stored row-major with leading dimension ld
static double at(const float *X, int ld, int trans, int r, int c) {
    return trans ? X[(long)c * ld + r] : X[(long)r * ld + c];
}

static void check(Case c) {
    int ar = c.ta ? c.K : c.M, ac = c.ta ? c.M : c.K, br = c.tb ? c.N : c.K, bc = c.tb ? c.K : c.N;
    int lda = ac + c.pad, ldb = bc + c.pad, ldc = c.N + c.pad;
    float *A = malloc(sizeof(float) * ar * lda), *B = malloc(sizeof(float) * br * ldb);
    float *C = malloc(sizeof(float) * c.M * ldc), *C0 = malloc(sizeof(float) * c.M * ldc);
    float *Cb = malloc(sizeof(float) * c.M * ldc);
    t_fill_uniform(A, (size_t)ar * lda, 1, -1, 1);
    t_fill_uniform(B, (size_t)br * ldb, 2, -1, 1);
    t_fill_uniform(C0, (size_t)c.M * ldc, 3, -1, 1);
    if (c.beta == 0.0f) C0[0] = NAN;  // never read: must not reach the result
    for (int i = 0; i < c.M * ldc; i++) C[i] = Cb[i] = C0[i];
    cpu_sgemm_plain(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A, lda, B, ldb, c.beta, C, ldc);
    cpu_sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A, lda, B, ldb, c.beta, Cb, ldc);
    double worst = 0.0;
    int bad = 0;
    for (int i = 0; i < c.M; i++)
        for (int j = 0; j < c.N; j++) {
            double s = 0.0, mag = 0.0;
            for (int k = 0; k < c.K; k++) {
                double p = at(A, lda, c.ta, i, k) * at(B, ldb, c.tb, k, j);
                s += p, mag += fabs(p);
            }
            double c0 = c.beta == 0.0f ? 0.0 : c.beta * (double)C0[(long)i * ldc + j];
            double ref = c.alpha * s + c0;
            // float summation's bound: (K + 2) ulps of the magnitudes summed
            double lim = (c.K + 2) * 0x1p-24 * (fabs(c.alpha) * mag + fabs(c0)) + 1e-30;
            double e = fabs(C[(long)i * ldc + j] - ref), eb = fabs(Cb[(long)i * ldc + j] - ref);
            if (!(e <= lim) || !(eb <= lim)) bad++;
            if (e / lim > worst || isnan(e)) worst = isnan(e) ? INFINITY : e / lim;
        }
    for (int i = 0; i < c.M; i++)  // the padding between rows of C stays untouched
        for (int j = c.N; j < ldc; j++)
            T_CHECK(C[(long)i * ldc + j] == C0[(long)i * ldc + j], "pad");
    T_CHECK(!bad,
            "ta %d tb %d M %d N %d K %d pad %d alpha %g beta %g: %d elements off (worst %.3g "
            "of the bound)",
            c.ta, c.tb, c.M, c.N, c.K, c.pad, c.alpha, c.beta, bad, worst);
    free(A), free(B), free(C), free(C0), free(Cb);
}

TEST(gemm_plain_matches_reference_and_blas) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check((Case){ta, tb, 7, 5, 3, 0, 1.0f, 0.0f});
            check((Case){ta, tb, 1, 70, 300, 3, 1.0f, 1.0f});    // linear rows; K, N over tiles
            check((Case){ta, tb, 33, 600, 40, 1, 0.5f, -0.5f});  // N over the 512 tile
            check((Case){ta, tb, 17, 9, 520, 2, -1.0f, 0.0f});   // K over two 256 tiles
            check((Case){ta, tb, 5, 6, 0, 0, 1.0f, 2.0f});       // K 0: C = beta C
        }
}
