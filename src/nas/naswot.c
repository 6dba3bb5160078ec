// NASWOT's kernel matrix and its log-determinant (see naswot.h).
#include "nas/naswot.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void naswot_init(NaswotKernel *k, int b) {
    DNA_CHECK(b >= 2, "give a batch of 2 images or more", "naswot: batch of %d", b);
    *k = (NaswotKernel){.b = b, .ham = dna_calloc((size_t)b * b, sizeof(int64_t))};
}

void naswot_free(NaswotKernel *k) {
    free(k->ham);
    *k = (NaswotKernel){0};
}

// Codes are packed 64 units to a word so that a pair's Hamming distance is a popcount of XORs:
// B^2/2 * N_A/64 word operations, which stays well below the forward pass that made them.
void naswot_add(NaswotKernel *k, const float *act, long per_image) {
    if (per_image <= 0) return;
    size_t words = ((size_t)per_image + 63) / 64, b = (size_t)k->b;
    uint64_t *bits = dna_calloc(b * words, sizeof(uint64_t));
    for (size_t i = 0; i < b; i++) {
        const float *a = act + i * (size_t)per_image;
        uint64_t *w = bits + i * words;
        for (long u = 0; u < per_image; u++)
            if (a[u] > 0.0f) w[u >> 6] |= 1ULL << (u & 63);
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < b; i++)
        for (size_t j = i + 1; j < b; j++) {
            const uint64_t *x = bits + i * words, *y = bits + j * words;
            int64_t h = 0;
            for (size_t q = 0; q < words; q++) h += __builtin_popcountll(x[q] ^ y[q]);
            k->ham[i * b + j] += h;
            k->ham[j * b + i] += h;
        }
    k->units += per_image;
    free(bits);
}

void naswot_matrix(const NaswotKernel *k, double *K) {
    size_t n = (size_t)k->b * k->b;
    for (size_t i = 0; i < n; i++) K[i] = (double)(k->units - k->ham[i]);
}

double naswot_logdet(const double *A, int n) {
    size_t m = (size_t)n;
    double *a = dna_malloc(sizeof(double) * m * m), amax = 0.0, ld = 0.0;
    memcpy(a, A, sizeof(double) * m * m);
    for (size_t i = 0; i < m * m; i++) amax = fmax(amax, fabs(a[i]));
    double tiny = (double)n * DBL_EPSILON * amax;
    for (size_t c = 0; c < m && ld > -INFINITY; c++) {
        size_t p = c;
        for (size_t r = c + 1; r < m; r++)
            if (fabs(a[r * m + c]) > fabs(a[p * m + c])) p = r;
        if (!(fabs(a[p * m + c]) > tiny)) {  // also NaN
            ld = -INFINITY;
            break;
        }
        if (p != c)
            for (size_t q = 0; q < m; q++) {
                double t = a[c * m + q];
                a[c * m + q] = a[p * m + q], a[p * m + q] = t;
            }
        double piv = a[c * m + c];
        ld += log(fabs(piv));
        for (size_t r = c + 1; r < m; r++) {
            double f = a[r * m + c] / piv;
            if (f == 0.0) continue;
            for (size_t q = c + 1; q < m; q++) a[r * m + q] -= f * a[c * m + q];
            a[r * m + c] = 0.0;
        }
    }
    free(a);
    return ld;
}

double naswot_score(const NaswotKernel *k) {
    if (k->units == 0) return -INFINITY;
    double *K = dna_malloc(sizeof(double) * (size_t)k->b * k->b);
    naswot_matrix(k, K);
    double s = naswot_logdet(K, k->b);
    free(K);
    return s;
}
