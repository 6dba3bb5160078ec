// Rank correlations between two ratings of the same items (DESIGN §5.6): Kendall's tau-b
// (ties counted as in scipy.stats.kendalltau), Spearman's rho (Pearson on average ranks)
// and Pearson's R. Used to compare two runs' path rankings (`dna rank --compare`) and,
// later, predicted scores with true accuracies.
#pragma once

double rank_kendall_tau(const double *x, const double *y, long n);  // O(n^2); NAN if undefined
double rank_spearman(const double *x, const double *y, long n);
double rank_pearson(const double *x, const double *y, long n);
// Average ranks (1-based; ties get the mean of their positions) into r[n].
void rank_average(const double *x, long n, double *r);
