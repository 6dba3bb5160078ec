// Rank correlations against reference values (an independent O(n^2) Python implementation
// of tau-b, and Pearson on average ranks, run once; the data have ties in both variables).
#include <math.h>
#include <string.h>

#include "harness.h"
#include "nas/rankstat.h"

TEST(rankstat_reference_values_with_ties) {
    static const double x[9] = {1, 2, 2, 3, 5, 4, 7, 7, 0.5}, y[9] = {2, 1, 3, 3, 6, 4, 8, 5, 1};
    T_NEAR(rank_kendall_tau(x, y, 9), 14.0 / 17.0, 1e-12, 0, "tau-b");
    T_NEAR(rank_spearman(x, y, 9), 0.915254237288136, 1e-12, 0, "spearman rho");
    T_NEAR(rank_pearson(x, y, 9), 0.901588969123762, 1e-12, 0, "pearson r");
    double r[9];
    rank_average(x, 9, r);
    static const double want[9] = {2, 3.5, 3.5, 5, 7, 6, 8.5, 8.5, 1};
    for (int i = 0; i < 9; i++) T_NEAR(r[i], want[i], 0, 0, "average rank");
}

TEST(rankstat_extremes) {
    static const double a[5] = {1, 2, 3, 4, 5}, b[5] = {10, 20, 30, 40, 50}, c[5] = {5, 4, 3, 2, 1},
                        k[5] = {7, 7, 7, 7, 7};
    T_NEAR(rank_kendall_tau(a, b, 5), 1, 0, 0, "same order");
    T_NEAR(rank_kendall_tau(a, c, 5), -1, 0, 0, "reversed");
    T_NEAR(rank_spearman(a, c, 5), -1, 1e-15, 0, "reversed rho");
    T_CHECK(isnan(rank_kendall_tau(a, k, 5)) && isnan(rank_spearman(a, k, 5)),
            "a constant rating has no rank correlation");
}

// Bootstrap intervals: deterministic for a seed, around the point estimate, degenerate for a
// perfect ranking, and wider for fewer pairs.
TEST(rankstat_bootstrap_intervals) {
    double x[40], y[40], ci[3][2], again[3][2];
    unsigned long long s = 7;
    for (int i = 0; i < 40; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = i, y[i] = i + 12.0 * (double)(s >> 40) / (double)(1ULL << 24);  // noisy increasing
    }
    rank_bootstrap(x, y, 40, 500, 1, ci);
    rank_bootstrap(x, y, 40, 500, 1, again);
    T_CHECK(!memcmp(ci, again, sizeof ci), "same seed, same intervals");
    double st[3] = {rank_kendall_tau(x, y, 40), rank_spearman(x, y, 40), rank_pearson(x, y, 40)};
    for (int q = 0; q < 3; q++)
        T_CHECK(ci[q][0] < st[q] && st[q] < ci[q][1] && ci[q][1] <= 1.0,
                "statistic %d: %.3f outside its interval [%.3f, %.3f]", q, st[q], ci[q][0], ci[q][1]);
    double small[3][2];
    rank_bootstrap(x, y, 10, 500, 1, small);
    T_CHECK(small[0][1] - small[0][0] > ci[0][1] - ci[0][0], "10 pairs give a wider tau interval");
    rank_bootstrap(x, x, 40, 200, 1, ci);
    T_NEAR(ci[0][0], 1, 0, 0, "a perfect ranking: tau interval [1, 1]");
    T_NEAR(ci[1][1], 1, 1e-12, 0, "rho");
}
