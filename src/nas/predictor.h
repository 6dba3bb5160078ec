// A calibrated predictor (doc/design.md §5.7, beyond the paper): Eqn 4 sums an architecture's
// block scores with weights lambda_k = 1; here the weights are fitted on a few benchmarked
// networks. Predicted score = sum_k w_k s_k (lower is better; w = 1 is plain DNA), and for
// reporting top-1 ~ intercept - scale * score. Owns the fit (least squares with a ridge toward
// uniform weights), its cross-validation, the JSON form of predictor.json and the digests
// that tie a predictor to the bench and ratings it was fitted on. No cost term: see
// doc/design.md §5.7. Pure computation: the file itself is src/io/predictor.c's.
#pragma once
#include <stdint.h>

#include "nas/bench.h"
#include "nas/potentials.h"

#define PREDICTOR_FORMAT 1
#define PREDICTOR_RIDGE 0.1  // default relative ridge (see predictor_fit)
enum { PREDICTOR_MIN_CALIB = 2 };

typedef struct Predictor {
    int nblocks;
    double weight[SPACE_MAX_BLOCKS];  // w_k, finite, any sign (a fitted value may be <= 0)
    double intercept, scale;          // top-1 ~ intercept - scale * sum_k w_k s_k; scale > 0
    double ridge;                     // the relative ridge it was fitted with
    int ncalib;
    int *calib;  // [ncalib] bench ids (1-based) it was fitted on; owned
    char bench_digest[17], potentials_digest[17];  // what it was fitted on ("" if unknown)
} Predictor;

// The predicted score of block scores s[nblocks], summed in block order as the search sums:
// ((0.0 + w_0 s_0) + w_1 s_1) + ...
double predictor_score(const Predictor *p, const double *s);

// Least squares of top-1 y[n] on block scores s[n][nblocks]: minimises
//   sum_i (y_i - a + sum_k v_k s_ik)^2 + lambda * sum_k (v_k - mean(v))^2,
// lambda = ridge * trace(Sc'Sc) / nblocks (Sc: the centred scores), so the ridge is relative
// to the scores' spread and pulls toward uniform weights of any common scale. The weights
// are then normalised: w = v / |mean(v)|, scale = |mean(v)| (so mean(w) = 1 unless the fit
// reverses DNA's order, then -1), intercept = a. Fatal with a clear message: n < 2, a
// non-finite input, nblocks outside 1..SPACE_MAX_BLOCKS, ridge < 0, or scores that do not
// determine the weights (all equal; ridge 0 with n <= nblocks). Fills every field but calib
// and the digests (calib NULL).
void predictor_fit(const double *s, const double *y, int n, int nblocks, double ridge,
                   Predictor *p);

// Cross-validation: the n networks shuffled (seeded), cut into folds of `calib`; for each
// fold, a fit on it and Kendall tau / Spearman rho of -score against top-1 on all the other
// networks, for the fitted weights and for uniform weights (plain DNA) on the same set.
typedef struct PredictorFold {
    int nheld;
    double tau, rho, tau_dna, rho_dna;
} PredictorFold;

typedef struct PredictorCV {
    int n, calib, nfolds;
    int *order;           // [n] network indices (0-based) in shuffled order; fold f is
                          // order[f * calib .. (f + 1) * calib)
    PredictorFold *fold;  // [nfolds]
    double tau_mean, tau_min, tau_max, dna_mean, dna_min, dna_max;
    Predictor first;  // fitted on fold 1 (calib set: its bench ids)
} PredictorCV;

// folds 0: as many whole folds as fit (n / calib). Fatal when calib < PREDICTOR_MIN_CALIB,
// n < calib + 2 (a held-out tau needs two networks) or folds * calib > n.
void predictor_cv(const double *s, const double *y, int n, int nblocks, int calib, int folds,
                  double ridge, uint64_t seed, PredictorCV *cv);
void predictor_cv_free(PredictorCV *cv);
void predictor_free(Predictor *p);  // safe on a zeroed one

// 1 when bench id (1-based) is one of the calibration networks.
int predictor_in_calib(const Predictor *p, int id);

// FNV-1a digests: the bench's architectures and truths; the potentials' scores (every block,
// cell and path in order).
void predictor_bench_digest(const Bench *b, char hex[17]);
void predictor_potentials_digest(const Potentials *pot, char hex[17]);

// predictor.json text (doc/formats.md): the predictor, plus extra_json's fields (the
// cross-validation and provenance; may be NULL) merged at the top level. Caller frees.
char *predictor_to_json(const Predictor *p, const char *extra_json);
// Parses and checks it (format, finite weights, positive scale, ids >= 1); fatal naming path.
// nblocks > 0: the space's block count, which the predictor must have.
void predictor_from_json(const char *json, const char *path, int nblocks, Predictor *p);
