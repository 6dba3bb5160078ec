// Rank correlations between two ratings of the same items (doc/design.md §5.6): Kendall's tau-b
// (ties counted as in scipy.stats.kendalltau), Spearman's rho (Pearson on average ranks)
// and Pearson's R, each in O(n log n), and their bootstrap intervals spread over OpenMP
// threads. Used to compare two runs' path rankings (`dna rank --compare`) and predicted
// scores with true accuracies (`dna rank`).
#pragma once
#include <stdint.h>

// Knight's algorithm (1966): O(n log n). NAN when undefined (n < 2, all x or all y equal).
// All take finite values (the order of NAN is undefined).
double rank_kendall_tau(const double *x, const double *y, long n);
double rank_spearman(const double *x, const double *y, long n);  // NAN as tau
double rank_pearson(const double *x, const double *y, long n);   // NAN as tau
// Statistics of `reps` bootstrap resamples of the n pairs: st[b] = {tau, rho, R} of resample
// b (NAN where undefined), whose n indices are rng_below(&s, n) drawn in order from
// s = rng_split(&root, b), root = rng_new(seed). A resample's draws depend on b alone, so the
// result is the same for any number of threads.
void rank_bootstrap_stats(const double *x, const double *y, long n, int reps, uint64_t seed,
                          double (*st)[3]);
// 95% percentile-bootstrap intervals of tau, rho and R from rank_bootstrap_stats: ci[s] =
// {2.5th, 97.5th percentile} for s = tau, rho, R. Resamples where a statistic is undefined
// are left out of its interval.
void rank_bootstrap(const double *x, const double *y, long n, int reps, uint64_t seed,
                    double ci[3][2]);
// Average ranks (1-based; ties get the mean of their positions) into r[n].
void rank_average(const double *x, long n, double *r);
