// Rank correlations between two ratings of the same items (doc/design.md §5.6): Kendall's tau-b
// (ties counted as in scipy.stats.kendalltau), Spearman's rho (Pearson on average ranks)
// and Pearson's R. Used to compare two runs' path rankings (`dna rank --compare`) and,
// later, predicted scores with true accuracies.
#pragma once
#include <stdint.h>

double rank_kendall_tau(const double *x, const double *y, long n);  // O(n^2); NAN if undefined
double rank_spearman(const double *x, const double *y, long n);
double rank_pearson(const double *x, const double *y, long n);
// 95% percentile-bootstrap intervals of tau, rho and R: `reps` resamplings of the n pairs
// with replacement (seeded); ci[s] = {2.5th, 97.5th percentile} for s = tau, rho, R.
// Resamples where a statistic is undefined (all x or all y equal) are left out of its interval.
void rank_bootstrap(const double *x, const double *y, long n, int reps, uint64_t seed,
                    double ci[3][2]);
// Average ranks (1-based; ties get the mean of their positions) into r[n].
void rank_average(const double *x, long n, double *r);
