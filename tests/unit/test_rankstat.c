// Rank correlations (src/nas/rankstat.h) against their O(n^2) definitions, kept here as the
// reference: tau-b counted pair by pair, average ranks counted value by value. Also against
// values computed by scipy for n = 100,000 (tests/ref/rank_ref.json, written by
// tests/ref/make_rank_ref.py from data both sides draw from the same integer LCG; the test
// binary runs from the repository root), and the bootstrap: each resample's statistics are
// those of its draws, and the result is bitwise the same for 1 and 2 threads.
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "harness.h"
#include "io/files.h"
#include "nas/rankstat.h"

static int sgn(double a, double b) {
    return (a > b) - (a < b);
}

// tau-b by definition: every pair, concordant or discordant or tied in x or in y only (pairs
// tied in both count nowhere).
static double ref_tau(const double *x, const double *y, long n) {
    double c = 0, d = 0, tx = 0, ty = 0;
    for (long i = 0; i < n; i++)
        for (long j = i + 1; j < n; j++) {
            int a = sgn(x[i], x[j]), b = sgn(y[i], y[j]);
            if (!a && !b) continue;
            if (!a)
                tx++;
            else if (!b)
                ty++;
            else if (a == b)
                c++;
            else
                d++;
        }
    double den = sqrt((c + d + tx) * (c + d + ty));
    return den > 0 ? (c - d) / den : NAN;
}

static double ref_pearson(const double *x, const double *y, long n) {
    double mx = 0, my = 0, sxy = 0, sx = 0, sy = 0;
    for (long i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    for (long i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sx += (x[i] - mx) * (x[i] - mx);
        sy += (y[i] - my) * (y[i] - my);
    }
    int cx = 1, cy = 1;  // constant data: undefined
    for (long i = 1; i < n; i++) cx &= x[i] == x[0], cy &= y[i] == y[0];
    return n < 2 || cx || cy ? NAN : sxy / sqrt(sx * sy);
}

// Pearson on average ranks, each rank counted: 1 + (values below) + (other equal values) / 2.
static double ref_spearman(const double *x, const double *y, long n) {
    double *rx = malloc(sizeof(double) * (size_t)(n + 1)),
           *ry = malloc(sizeof(double) * (size_t)(n + 1));
    for (long i = 0; i < n; i++) {
        long bx = 0, ex = 0, by = 0, ey = 0;
        for (long j = 0; j < n; j++) {
            bx += x[j] < x[i], ex += x[j] == x[i];
            by += y[j] < y[i], ey += y[j] == y[i];
        }
        rx[i] = 1.0 + (double)bx + (double)(ex - 1) / 2.0;
        ry[i] = 1.0 + (double)by + (double)(ey - 1) / 2.0;
    }
    double rho = ref_pearson(rx, ry, n);
    free(rx), free(ry);
    return rho;
}

// Equal to 1e-12, or both NAN.
static int same(double a, double b) {
    return (isnan(a) && isnan(b)) || fabs(a - b) <= 1e-12;
}

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

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
                        k[5] = {0.1, 0.1, 0.1, 0.1, 0.1};
    T_NEAR(rank_kendall_tau(a, b, 5), 1, 0, 0, "same order");
    T_NEAR(rank_kendall_tau(a, c, 5), -1, 0, 0, "reversed");
    T_NEAR(rank_spearman(a, c, 5), -1, 1e-15, 0, "reversed rho");
    // constant x or y (0.1 five times: its mean need not round to 0.1), one pair, none
    const double *u[4] = {a, k, a, a}, *v[4] = {k, a, a, a};
    const long n[4] = {5, 5, 1, 0};
    for (int t = 0; t < 4; t++)
        T_CHECK(isnan(rank_kendall_tau(u[t], v[t], n[t])) &&
                    isnan(rank_spearman(u[t], v[t], n[t])) && isnan(rank_pearson(u[t], v[t], n[t])),
                "case %d: no correlation is defined", t);
    T_NEAR(rank_kendall_tau(a, c, 2), -1, 0, 0, "two pairs");
    T_NEAR(rank_pearson(a, b, 2), 1, 1e-15, 0, "two pairs");
}

// Random data with heavy ties (values on a grid of `levels` steps, y correlated with x or
// not), n up to 2,000: the O(n log n) statistics equal the definitions.
TEST(rankstat_equals_quadratic_definitions_with_ties) {
    static const long sizes[] = {2, 3, 7, 33, 100, 257, 1000, 2000};
    static const int levels[] = {1, 2, 3, 10, 1000000};
    double *x = malloc(sizeof(double) * 2000), *y = malloc(sizeof(double) * 2000);
    uint64_t s = 99;
    int cases = 0, undefined = 0;
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
        for (size_t lx = 0; lx < sizeof levels / sizeof *levels; lx++)
            for (size_t ly = 0; ly < sizeof levels / sizeof *levels; ly++) {
                long n = sizes[a];
                if (n >= 1000 && lx != ly) continue;  // the O(n^2) side is the slow one
                for (long i = 0; i < n; i++) {
                    uint64_t u = lcg(&s) % (uint64_t)levels[lx], v = lcg(&s) % (uint64_t)levels[ly];
                    x[i] = (double)u * 0.1;
                    y[i] = (double)((u + v) % (uint64_t)levels[ly]) - 3.5;
                }
                double t = rank_kendall_tau(x, y, n), r = rank_spearman(x, y, n),
                       p = rank_pearson(x, y, n);
                double wt = ref_tau(x, y, n), wr = ref_spearman(x, y, n), wp = ref_pearson(x, y, n);
                T_CHECK(
                    same(t, wt) && same(r, wr) && same(p, wp),
                    "n %ld, %d x %d levels: tau %.17g rho %.17g R %.17g, want %.17g %.17g %.17g", n,
                    levels[lx], levels[ly], t, r, p, wt, wr, wp);
                cases++, undefined += isnan(wt);
            }
    T_CHECK(cases > 100 && undefined > 10 && cases - undefined > 50, "%d cases, %d undefined",
            cases, undefined);
    free(x), free(y);
}

// Each resample's statistics are those of the n pairs it draws, in draw order, from its own
// stream (rankstat.h): checked against the definitions, including resamples of 3 pairs that
// draw one x value only (undefined).
TEST(rankstat_bootstrap_resamples_are_their_draws) {
    enum { REPS = 40 };
    static const long sizes[] = {3, 9, 150, 600};
    double x[600], y[600], bx[600], by[600], st[REPS][3];
    uint64_t s = 5;
    int undefined = 0;
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++) {
        long n = sizes[a];
        for (long i = 0; i < n; i++) {
            x[i] = (double)(lcg(&s) % 5);
            y[i] = x[i] + (double)(lcg(&s) % 4) * 0.25;
        }
        rank_bootstrap_stats(x, y, n, REPS, 17, st);
        Rng root = rng_new(17);
        for (int b = 0; b < REPS; b++) {
            Rng r = rng_split(&root, (uint64_t)b);
            for (long i = 0; i < n; i++) {
                long j = (long)rng_below(&r, (uint32_t)n);
                bx[i] = x[j], by[i] = y[j];
            }
            double w[3] = {ref_tau(bx, by, n), ref_spearman(bx, by, n), ref_pearson(bx, by, n)};
            undefined += isnan(w[0]);
            for (int q = 0; q < 3; q++)
                T_CHECK(same(st[b][q], w[q]), "n %ld resample %d statistic %d: %.17g, want %.17g",
                        n, b, q, st[b][q], w[q]);
        }
    }
    T_CHECK(undefined > 0, "some resample of 3 pairs draws one value only");
}

TEST(rankstat_bootstrap_same_for_1_and_2_threads) {
    enum { N = 3000, REPS = 64 };
    double *x = malloc(sizeof(double) * N), *y = malloc(sizeof(double) * N);
    uint64_t s = 3;
    for (long i = 0; i < N; i++)
        x[i] = (double)(lcg(&s) % 40), y[i] = x[i] + (double)(lcg(&s) % 60);
    double(*one)[3] = malloc(sizeof(double[3]) * REPS),
    (*two)[3] = malloc(sizeof(double[3]) * REPS);
    double c1[3][2], c2[3][2];
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    rank_bootstrap_stats(x, y, N, REPS, 42, one);
    rank_bootstrap(x, y, N, REPS, 42, c1);
    omp_set_num_threads(2);
    rank_bootstrap_stats(x, y, N, REPS, 42, two);
    rank_bootstrap(x, y, N, REPS, 42, c2);
    omp_set_num_threads(saved);
    T_CHECK(!memcmp(one, two, sizeof(double[3]) * REPS), "per-resample statistics differ");
    T_CHECK(!memcmp(c1, c2, sizeof c1), "intervals differ");
    rank_bootstrap_stats(x, y, N, REPS, 43, two);
    T_CHECK(memcmp(one, two, sizeof(double[3]) * REPS), "another seed, other resamples");
    free(x), free(y), free(one), free(two);
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
                "statistic %d: %.3f outside its interval [%.3f, %.3f]", q, st[q], ci[q][0],
                ci[q][1]);
    double small[3][2];
    rank_bootstrap(x, y, 10, 500, 1, small);
    T_CHECK(small[0][1] - small[0][0] > ci[0][1] - ci[0][0], "10 pairs give a wider tau interval");
    rank_bootstrap(x, x, 40, 200, 1, ci);
    T_NEAR(ci[0][0], 1, 0, 0, "a perfect ranking: tau interval [1, 1]");
    T_NEAR(ci[1][1], 1, 1e-12, 0, "rho");
}

static const char *const REF_PATH = "tests/ref/rank_ref.json";

static double field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    T_CHECK(cJSON_IsNumber(v), "%s: no number '%s'", REF_PATH, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

// scipy 'kendalltau' (tau-b), 'spearmanr' and 'pearsonr' on 100,000 pairs with 200 x and 50 y
// values: the data regenerated here (their sums and distinct counts checked first).
TEST(rankstat_equals_scipy_n100000) {
    char *text = text_read(REF_PATH);
    T_CHECK(text, "cannot read %s (run from the repository root)", REF_PATH);
    if (!text) return;
    cJSON *ref = cJSON_Parse(text);
    free(text);
    long n = (long)field(ref, "n");
    T_CHECK(n == 100000, "%s: n %ld", REF_PATH, n);
    double *x = malloc(sizeof(double) * (size_t)n), *y = malloc(sizeof(double) * (size_t)n), sx = 0,
           sy = 0;
    uint64_t s = (uint64_t)field(ref, "seed");
    for (long i = 0; i < n; i++) {
        uint64_t a = lcg(&s), b = lcg(&s);
        x[i] = (double)(a % 200), y[i] = (double)((a % 200 + b % 150) / 7);
        sx += x[i], sy += y[i];
    }
    T_CHECK(sx == field(ref, "sum_x") && sy == field(ref, "sum_y"),
            "not scipy's data: sums %.0f %.0f", sx, sy);
    T_NEAR(rank_kendall_tau(x, y, n), field(ref, "kendall_tau_b"), 0, 1e-12, "tau-b vs scipy");
    T_NEAR(rank_spearman(x, y, n), field(ref, "spearman_rho"), 0, 1e-12, "rho vs scipy");
    T_NEAR(rank_pearson(x, y, n), field(ref, "pearson_r"), 0, 1e-12, "R vs scipy");
    cJSON_Delete(ref);
    free(x), free(y);
}
