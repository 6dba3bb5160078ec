// The plain C GEMM of cpu_gemm.h: correct for every argument cblas_sgemm takes (row-major),
// and cache-aware enough for a reference backend: op(B) is walked in tiles, and the inner
// loops are unit-stride so GCC vectorises them. Single-threaded: the backend calls it from
// inside OpenMP loops. Sums run in float, in 8 lanes for the dot products, as a BLAS
// kernel's would. Also, with OpenBLAS: its one-time set-up (one thread per call, kernels
// for this CPU) and the library string outputs record.
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

#ifndef DNA_NO_BLAS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its kernels from a table of CPU models
// at load time. A model newer than the library (0.3.21 and Emerald Rapids, model 207, on
// this project's machines) falls back to the SSE3 "Prescott" kernels: the W3R rating
// benchmark took 83 s with them, 45 s with the AVX-512 ones (doc/benchmarks.md). Where the user has
// not chosen (OPENBLAS_CORETYPE unset) and the CPU has the instructions, the library is
// re-initialised with the kernels the CPU supports, through the entry points its own loader uses;
// weak, so a build without DYNAMIC_ARCH links and keeps its kernels.
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));

static char gemm_library[512];

static const char *better_core(void) {
#if defined(__x86_64__)
    static const char *const generic[] = {"Prescott", "Core2", "Penryn", "Dunnington",
                                          "Nehalem",  "Atom",  "Katmai", "Banias"};
    const char *now = openblas_get_corename();
    int is_generic = 0;
    for (size_t i = 0; i < sizeof generic / sizeof *generic; i++)
        is_generic |= now && !strcmp(now, generic[i]);
    if (!is_generic) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

void cpu_gemm_single_thread(void) {
    const char *want = getenv("OPENBLAS_CORETYPE") ? NULL : better_core(), *was;
    char before[64];
    was = openblas_get_corename();
    snprintf(before, sizeof before, "%s", was ? was : "?");
    if (want && gotoblas_dynamic_init && gotoblas_dynamic_quit) {
        setenv("OPENBLAS_CORETYPE", want, 0);
        gotoblas_dynamic_quit();
        gotoblas_dynamic_init();
    }
    openblas_set_num_threads(1);
    const char *core = openblas_get_corename();
    core = core ? core : "?";
    if (strcmp(before, core))
        snprintf(gemm_library, sizeof gemm_library,
                 "%s; core %s (library's choice: %s, not this CPU's)", openblas_get_config(), core,
                 before);
    else
        snprintf(gemm_library, sizeof gemm_library, "%s; core %s", openblas_get_config(), core);
}

const char *cpu_gemm_library(void) {
    return gemm_library[0] ? gemm_library : openblas_get_config();
}
#endif
