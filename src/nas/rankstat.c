// Rank correlations (see rankstat.h).
#include "nas/rankstat.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/rng.h"

static int sgn(double a, double b) {
    return (a > b) - (a < b);
}

double rank_kendall_tau(const double *x, const double *y, long n) {
    double c = 0, d = 0, tx = 0, ty = 0;  // pairs tied in both count nowhere
    for (long i = 0; i < n; i++)
        for (long j = i + 1; j < n; j++) {
            int a = sgn(x[i], x[j]), b = sgn(y[i], y[j]);
            if (!a && !b) continue;
            if (!a) tx++;
            else if (!b) ty++;
            else if (a == b) c++;
            else d++;
        }
    double den = sqrt((c + d + tx) * (c + d + ty));
    return den > 0 ? (c - d) / den : NAN;
}

double rank_pearson(const double *x, const double *y, long n) {
    double mx = 0, my = 0, sxy = 0, sx = 0, sy = 0;
    for (long i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    for (long i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sx += (x[i] - mx) * (x[i] - mx);
        sy += (y[i] - my) * (y[i] - my);
    }
    return sx > 0 && sy > 0 ? sxy / sqrt(sx * sy) : NAN;
}

typedef struct Keyed {
    double v;
    long i;
} Keyed;

static int by_value(const void *a, const void *b) {
    const Keyed *u = a, *v = b;
    return u->v < v->v ? -1 : u->v > v->v ? 1 : (u->i > v->i) - (u->i < v->i);
}

void rank_average(const double *x, long n, double *r) {
    Keyed *k = dna_malloc(sizeof(Keyed) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) k[i] = (Keyed){x[i], i};
    qsort(k, (size_t)n, sizeof(Keyed), by_value);
    for (long i = 0; i < n;) {
        long j = i;
        while (j + 1 < n && k[j + 1].v == k[i].v) j++;
        for (long t = i; t <= j; t++) r[k[t].i] = (double)(i + j) / 2.0 + 1.0;
        i = j + 1;
    }
    free(k);
}

double rank_spearman(const double *x, const double *y, long n) {
    double *rx = dna_malloc(sizeof(double) * (size_t)(n ? n : 1)),
           *ry = dna_malloc(sizeof(double) * (size_t)(n ? n : 1));
    rank_average(x, n, rx);
    rank_average(y, n, ry);
    double rho = rank_pearson(rx, ry, n);
    free(rx), free(ry);
    return rho;
}

static int cmp_f64(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void rank_bootstrap(const double *x, const double *y, long n, int reps, uint64_t seed,
                    double ci[3][2]) {
    double *bx = dna_malloc(sizeof(double) * (size_t)n), *by = dna_malloc(sizeof(double) * (size_t)n);
    double *st = dna_malloc(sizeof(double) * 3 * (size_t)reps);
    long cnt[3] = {0, 0, 0};
    Rng r = rng_new(seed);
    for (int b = 0; b < reps; b++) {
        for (long i = 0; i < n; i++) {
            long j = (long)rng_below(&r, (uint32_t)n);
            bx[i] = x[j], by[i] = y[j];
        }
        double v[3] = {rank_kendall_tau(bx, by, n), rank_spearman(bx, by, n), rank_pearson(bx, by, n)};
        for (int s = 0; s < 3; s++)
            if (isfinite(v[s])) st[(size_t)s * reps + cnt[s]++] = v[s];
    }
    for (int s = 0; s < 3; s++) {
        double *v = st + (size_t)s * reps;
        qsort(v, (size_t)cnt[s], sizeof(double), cmp_f64);
        ci[s][0] = cnt[s] ? v[(long)floor(0.025 * (double)(cnt[s] - 1))] : NAN;
        ci[s][1] = cnt[s] ? v[(long)ceil(0.975 * (double)(cnt[s] - 1))] : NAN;
    }
    free(bx), free(by), free(st);
}
