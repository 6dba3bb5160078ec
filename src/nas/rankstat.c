// Rank correlations (see rankstat.h). The data are ranked once, by a sort; after that tau and
// rho need only integer ranks (order and ties), so a bootstrap resample is a count per item,
// walked in the items' (x, y) order: O(n) for the ranks, ties and Pearson's sums, plus the
// O(n log n) count of discordant pairs, with no sort of values and no allocation.
#include "nas/rankstat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

typedef struct Keyed {
    double v;
    long i;
} Keyed;

static int by_value(const void *a, const void *b) {
    const Keyed *u = a, *v = b;
    return u->v < v->v ? -1 : u->v > v->v ? 1 : (u->i > v->i) - (u->i < v->i);
}

// x[] sorted, each value with its position (equal values in position order); caller frees.
static Keyed *sorted(const double *x, long n) {
    Keyed *k = dna_malloc(sizeof(Keyed) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) k[i] = (Keyed){x[i], i};
    qsort(k, (size_t)n, sizeof(Keyed), by_value);
    return k;
}

// Dense ranks: r[i] = how many distinct values lie below x[i]. Returns the distinct count.
static long dense_ranks(const double *x, long n, int32_t *r) {
    Keyed *k = sorted(x, n);
    long d = 0;
    for (long t = 0; t < n; t++) {
        if (t && k[t].v != k[t - 1].v) d++;
        r[k[t].i] = (int32_t)d;
    }
    free(k);
    return n ? d + 1 : 0;
}

void rank_average(const double *x, long n, double *r) {
    Keyed *k = sorted(x, n);
    for (long i = 0; i < n;) {
        long j = i;
        while (j + 1 < n && k[j + 1].v == k[i].v) j++;
        for (long t = i; t <= j; t++) r[k[t].i] = (double)(i + j) / 2.0 + 1.0;
        i = j + 1;
    }
    free(k);
}

static int64_t pairs(int64_t t) {
    return t * (t - 1) / 2;
}

// Pairs within the runs of equal values of a[n].
static int64_t run_pairs(const int32_t *a, long n) {
    int64_t s = 0;
    for (long i = 0; i < n;) {
        long j = i;
        while (j < n && a[j] == a[i]) j++;
        s += pairs(j - i);
        i = j;
    }
    return s;
}

// Sorts a[n] ascending and returns its inversions, the pairs i < j with a[i] > a[j]: an
// insertion sort of short runs (each shift is one inversion), then bottom-up merges through
// tmp[n], where taking from the right half passes every element left in the left half.
// Equal values are never counted (ties are not discordant).
static int64_t sort_inversions(int32_t *a, int32_t *tmp, long n) {
    enum { RUN = 32 };
    int64_t inv = 0;
    for (long s = 0; s < n; s += RUN) {
        long e = s + RUN < n ? s + RUN : n;
        for (long i = s + 1; i < e; i++) {
            int32_t v = a[i];
            long j = i;
            while (j > s && a[j - 1] > v) a[j] = a[j - 1], j--;
            inv += i - j;
            a[j] = v;
        }
    }
    int32_t *src = a, *dst = tmp;
    for (long w = RUN; w < n; w *= 2) {
        for (long s = 0; s < n; s += 2 * w) {
            long m = s + w < n ? s + w : n, e = s + 2 * w < n ? s + 2 * w : n;
            long i = s, j = m, o = s;
            while (i < m && j < e) {  // branch-free: which half wins is data, not pattern
                int32_t u = src[i], v = src[j];
                long right = v < u;
                dst[o++] = right ? v : u;
                inv += right * (m - i);
                i += !right, j += right;
            }
            while (i < m) dst[o++] = src[i++];
            while (j < e) dst[o++] = src[j++];
        }
        int32_t *t = src;
        src = dst, dst = t;
    }
    if (src != a) memcpy(a, src, sizeof(int32_t) * (size_t)n);
    return inv;
}

// tau-b from pair counts (Knight): n0 all pairs, n1 tied in x, n2 tied in y, n3 tied in both,
// s discordant. Concordant minus discordant is n0 - n1 - n2 + n3 - 2s; the denominator is
// the geometric mean of the pairs untied in x and in y, as scipy's.
static double tau_b(int64_t n0, int64_t n1, int64_t n2, int64_t n3, int64_t s) {
    if (n0 - n1 <= 0 || n0 - n2 <= 0) return NAN;
    return (double)(n0 - n1 - n2 + n3 - 2 * s) / sqrt((double)(n0 - n2) * (double)(n0 - n1));
}

typedef struct Pair {
    uint64_t key;  // x's dense rank << 32 | y's
    long i;
} Pair;

static int by_key(const void *a, const void *b) {
    const Pair *u = a, *v = b;
    return u->key < v->key ? -1 : u->key > v->key ? 1 : (u->i > v->i) - (u->i < v->i);
}

// The items sorted by (x, y): their positions, dense ranks, and the number of distinct y.
static Pair *sorted_pairs(const double *x, const double *y, long n, long *ny) {
    int32_t *rx = dna_malloc(sizeof(int32_t) * (size_t)n),
            *ry = dna_malloc(sizeof(int32_t) * (size_t)n);
    dense_ranks(x, n, rx);
    *ny = dense_ranks(y, n, ry);
    Pair *p = dna_malloc(sizeof(Pair) * (size_t)n);
    for (long i = 0; i < n; i++) p[i] = (Pair){(uint64_t)rx[i] << 32 | (uint32_t)ry[i], i};
    qsort(p, (size_t)n, sizeof(Pair), by_key);
    free(rx), free(ry);
    return p;
}

double rank_kendall_tau(const double *x, const double *y, long n) {
    if (n < 2) return NAN;
    DNA_CHECK(n < INT32_MAX, "rank fewer items", "rank: %ld items, at most %d", n, INT32_MAX - 1);
    long ny;
    Pair *p = sorted_pairs(x, y, n, &ny);
    int32_t *kx = dna_malloc(sizeof(int32_t) * (size_t)n),
            *ky = dna_malloc(sizeof(int32_t) * (size_t)n),
            *tmp = dna_malloc(sizeof(int32_t) * (size_t)n);
    int64_t n3 = 0;
    for (long i = 0, j; i < n; i = j) {
        for (j = i; j < n && p[j].key == p[i].key;) j++;
        n3 += pairs(j - i);
    }
    for (long i = 0; i < n; i++)
        kx[i] = (int32_t)(p[i].key >> 32), ky[i] = (int32_t)(uint32_t)p[i].key;
    int64_t n1 = run_pairs(kx, n), s = sort_inversions(ky, tmp, n), n2 = run_pairs(ky, n);
    free(p), free(kx), free(ky), free(tmp);
    return tau_b(pairs(n), n1, n2, n3, s);
}

// Constant data have no correlation. Tested on the values, not on the sums of squares: the
// mean of n equal values need not round to that value.
static int constant(const double *x, long n) {
    for (long i = 1; i < n; i++)
        if (x[i] != x[0]) return 0;
    return 1;
}

double rank_pearson(const double *x, const double *y, long n) {
    if (n < 2 || constant(x, n) || constant(y, n)) return NAN;
    double mx = 0, my = 0, sxy = 0, sx = 0, sy = 0;
    for (long i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    for (long i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sx += (x[i] - mx) * (x[i] - mx);
        sy += (y[i] - my) * (y[i] - my);
    }
    return sxy / sqrt(sx * sy);
}

double rank_spearman(const double *x, const double *y, long n) {
    if (n < 2) return NAN;
    double *rx = dna_malloc(sizeof(double) * (size_t)n),
           *ry = dna_malloc(sizeof(double) * (size_t)n);
    rank_average(x, n, rx);
    rank_average(y, n, ry);
    double rho = rank_pearson(rx, ry, n);
    free(rx), free(ry);
    return rho;
}

// What every resample shares: the items in (x, y) order.
typedef struct Boot {
    long n, ny;              // pairs; distinct y values
    const int32_t *pos;      // pos[i]: item i's place in (x, y) order
    const int32_t *kx, *ky;  // dense ranks, in (x, y) order
    const double *px, *py;   // values, in (x, y) order
} Boot;

// One thread's buffers, reused by all its resamples.
typedef struct Scratch {
    int32_t *c;    // [n] times each place was drawn
    int32_t *fen;  // [ny + 1] Fenwick tree of the y counts seen so far
    int32_t *hy;   // [ny] the resample's count of each y value
    double *ay;    // [ny] its average y rank, centred
} Scratch;

// Resample statistics from the draw counts c[] alone, walking the items in (x, y) order, where
// equal (x, y) pairs are adjacent and, within an x group, y ascends. Tau: the discordant pairs
// are, for each item, its count times the count already seen with a larger y (a Fenwick tree
// over y ranks: O(n log ny), the same pairs Knight's merge sort counts, without materialising
// the resample). Rho and R: weighted sums over the items.
static void resample(const Boot *B, Rng s, Scratch *w, double st[3]) {
    const long n = B->n, ny = B->ny;
    const int32_t *kx = B->kx, *ky = B->ky, *c = w->c;
    int32_t *fen = w->fen, *hy = w->hy;
    memset(w->c, 0, sizeof(int32_t) * (size_t)n);
    memset(hy, 0, sizeof(int32_t) * (size_t)ny);
    memset(fen, 0, sizeof(int32_t) * (size_t)(ny + 1));
    for (long i = 0; i < n; i++) w->c[B->pos[rng_below(&s, (uint32_t)n)]]++;
    int64_t n3 = 0, joint = 0, disc = 0, seen = 0;
    double mx = 0, my = 0;
    for (long p = 0; p < n; p++) {
        if (p && (kx[p] != kx[p - 1] || ky[p] != ky[p - 1])) n3 += pairs(joint), joint = 0;
        if (!c[p]) continue;
        joint += c[p];
        hy[ky[p]] += c[p];
        mx += c[p] * B->px[p], my += c[p] * B->py[p];
        int64_t below = 0;  // seen with y <= this y
        for (long k = ky[p] + 1; k > 0; k -= k & -k) below += fen[k];
        disc += c[p] * (seen - below);
        for (long k = ky[p] + 1; k <= ny; k += k & -k) fen[k] += c[p];
        seen += c[p];
    }
    n3 += pairs(joint);
    mx /= (double)n, my /= (double)n;
    // Average ranks (1-based) less their mean (n + 1) / 2: y's by value, x's by x group.
    const double mid = (double)(n + 1) / 2.0;
    int64_t n2 = 0, n1 = 0;
    long before = 0;
    for (long v = 0; v < ny; v++) {
        n2 += pairs(hy[v]);
        w->ay[v] = (double)before + (double)(hy[v] + 1) / 2.0 - mid;
        before += hy[v];
    }
    double rxy = 0, rxx = 0, ryy = 0, vxy = 0, vxx = 0, vyy = 0;
    before = 0;
    for (long a = 0, b; a < n; a = b) {
        long g = 0;
        for (b = a; b < n && kx[b] == kx[a]; b++) g += c[b];
        n1 += pairs(g);
        double ax = (double)before + (double)(g + 1) / 2.0 - mid;
        before += g;
        for (long p = a; p < b; p++) {
            if (!c[p]) continue;
            double cp = c[p], ay = w->ay[ky[p]], ex = B->px[p] - mx, ey = B->py[p] - my;
            rxy += cp * ax * ay, rxx += cp * ax * ax, ryy += cp * ay * ay;
            vxy += cp * ex * ey, vxx += cp * ex * ex, vyy += cp * ey * ey;
        }
    }
    int64_t n0 = pairs(n);
    if (n1 == n0 || n2 == n0) {  // every x or every y equal: nothing is defined
        st[0] = st[1] = st[2] = NAN;
        return;
    }
    st[0] = tau_b(n0, n1, n2, n3, disc);
    st[1] = rxy / sqrt(rxx * ryy);
    st[2] = vxy / sqrt(vxx * vyy);
}

void rank_bootstrap_stats(const double *x, const double *y, long n, int reps, uint64_t seed,
                          double (*st)[3]) {
    if (n < 2) {
        for (int b = 0; b < reps; b++) st[b][0] = st[b][1] = st[b][2] = NAN;
        return;
    }
    DNA_CHECK(n < INT32_MAX, "rank fewer items", "rank: %ld items, at most %d", n, INT32_MAX - 1);
    long ny;
    Pair *pr = sorted_pairs(x, y, n, &ny);
    int32_t *pos = dna_malloc(sizeof(int32_t) * (size_t)n),
            *kx = dna_malloc(sizeof(int32_t) * (size_t)n),
            *ky = dna_malloc(sizeof(int32_t) * (size_t)n);
    double *px = dna_malloc(sizeof(double) * (size_t)n),
           *py = dna_malloc(sizeof(double) * (size_t)n);
    for (long p = 0; p < n; p++) {
        long i = pr[p].i;
        pos[i] = (int32_t)p;
        kx[p] = (int32_t)(pr[p].key >> 32), ky[p] = (int32_t)(uint32_t)pr[p].key;
        px[p] = x[i], py[p] = y[i];
    }
    free(pr);
    const Boot B = {n, ny, pos, kx, ky, px, py};
    const Rng root = rng_new(seed);
#pragma omp parallel
    {
        Scratch w = {
            dna_malloc(sizeof(int32_t) * (size_t)n), dna_malloc(sizeof(int32_t) * (size_t)(ny + 1)),
            dna_malloc(sizeof(int32_t) * (size_t)ny), dna_malloc(sizeof(double) * (size_t)ny)};
#pragma omp for schedule(dynamic, 4)
        for (int b = 0; b < reps; b++) resample(&B, rng_split(&root, (uint64_t)b), &w, st[b]);
        free(w.c), free(w.fen), free(w.hy), free(w.ay);
    }
    free(pos), free(kx), free(ky), free(px), free(py);
}

static int cmp_f64(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void rank_bootstrap(const double *x, const double *y, long n, int reps, uint64_t seed,
                    double ci[3][2]) {
    double(*st)[3] = dna_malloc(sizeof(double[3]) * (size_t)(reps > 0 ? reps : 1));
    double *v = dna_malloc(sizeof(double) * (size_t)(reps > 0 ? reps : 1));
    rank_bootstrap_stats(x, y, n, reps, seed, st);
    for (int s = 0; s < 3; s++) {
        long cnt = 0;
        for (int b = 0; b < reps; b++)
            if (isfinite(st[b][s])) v[cnt++] = st[b][s];
        qsort(v, (size_t)cnt, sizeof(double), cmp_f64);
        ci[s][0] = cnt ? v[(long)floor(0.025 * (double)(cnt - 1))] : NAN;
        ci[s][1] = cnt ? v[(long)ceil(0.975 * (double)(cnt - 1))] : NAN;
    }
    free(st), free(v);
}
