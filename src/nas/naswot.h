// NASWOT (Mellor, Turner, Storkey, Crowley, "Neural Architecture Search without Training",
// ICML 2021): the zero-cost proxy `dna proxy --name naswot` computes (doc/design.md §5.6).
// For a mini-batch of B images at initialisation, image i's binary code c_i says which units
// of the network's activation layers are active (pre-activation > 0); the kernel
// K[i][j] = N_A - Hamming(c_i, c_j) over all N_A units, and the score is log|det K|.
// Pure computation on host arrays: the caller runs the network and hands each activation
// layer here (src/stages/proxy.c).
#pragma once
#include <stdint.h>

typedef struct NaswotKernel {
    int b;         // images in the batch
    long units;    // N_A: units added so far, per image
    int64_t *ham;  // [b * b] Hamming distances between the codes so far (symmetric)
} NaswotKernel;

void naswot_init(NaswotKernel *k, int b);
void naswot_free(NaswotKernel *k);
// Adds one activation layer: act [b, per_image] (image-major, as an NCHW tensor), a unit being
// active when its value is > 0. The values may be the pre-activations or the outputs of an
// activation with the sign of its input (ReLU's output > 0 and swish's output > 0 exactly when
// the input is > 0).
void naswot_add(NaswotKernel *k, const float *act, long per_image);
// K[i][j] = units - ham[i][j], [b * b].
void naswot_matrix(const NaswotKernel *k, double *K);
// log|det A| of an n x n matrix (row-major, not changed) by LU with partial pivoting in double
// (numpy's slogdet). -INFINITY when A is numerically singular: a pivot of magnitude at most
// n * DBL_EPSILON * max|A| (exactly 0 when two images have the same code).
double naswot_logdet(const double *A, int n);
// The score: log|det K| of the layers added (-INFINITY when singular or no unit was added).
double naswot_score(const NaswotKernel *k);
