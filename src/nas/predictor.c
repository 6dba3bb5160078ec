// The calibrated predictor: fit, cross-validation, digests and JSON form (see predictor.h).
#include "nas/predictor.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "nas/rankstat.h"

enum { STREAM_CV = 900 };

double predictor_score(const Predictor *p, const double *s) {
    double t = 0.0;
    for (int k = 0; k < p->nblocks; k++) t += p->weight[k] * s[k];
    return t;
}

// Solves A x = b (n x n, row-major, overwritten) by Gaussian elimination with partial
// pivoting; returns 0 when a pivot is below tol (the system does not determine x).
static int solve(double *A, double *b, int n, double tol) {
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(A[r * n + c]) > fabs(A[piv * n + c])) piv = r;
        if (!(fabs(A[piv * n + c]) > tol)) return 0;
        if (piv != c) {
            for (int j = 0; j < n; j++) {
                double t = A[c * n + j];
                A[c * n + j] = A[piv * n + j], A[piv * n + j] = t;
            }
            double t = b[c];
            b[c] = b[piv], b[piv] = t;
        }
        for (int r = c + 1; r < n; r++) {
            double f = A[r * n + c] / A[c * n + c];
            for (int j = c; j < n; j++) A[r * n + j] -= f * A[c * n + j];
            b[r] -= f * b[c];
        }
    }
    for (int c = n - 1; c >= 0; c--) {
        double t = b[c];
        for (int j = c + 1; j < n; j++) t -= A[c * n + j] * b[j];
        b[c] = t / A[c * n + c];
    }
    return 1;
}

void predictor_fit(const double *s, const double *y, int n, int K, double ridge, Predictor *p) {
    DNA_CHECK(K >= 1 && K <= SPACE_MAX_BLOCKS, "use a space of 1..8 blocks", "predictor: %d blocks",
              K);
    DNA_CHECK(n >= PREDICTOR_MIN_CALIB, "calibrate on at least 2 networks (--calib N)",
              "predictor: %d calibration network(s), the fit needs at least %d", n,
              PREDICTOR_MIN_CALIB);
    DNA_CHECK(ridge >= 0 && isfinite(ridge), "give a ridge >= 0 (--ridge R)", "predictor: ridge %g",
              ridge);
    double mean_s[SPACE_MAX_BLOCKS] = {0}, mean_y = 0;
    for (int i = 0; i < n; i++) {
        DNA_CHECK(isfinite(y[i]), "train every bench network first (`dna bench CFG`)",
                  "predictor: calibration network %d has no finite top-1", i + 1);
        mean_y += y[i];
        for (int k = 0; k < K; k++) {
            DNA_CHECK(isfinite(s[(size_t)i * K + k]), "rate every path first (`dna rate CFG`)",
                      "predictor: calibration network %d has a non-finite block-%d score", i + 1,
                      k + 1);
            mean_s[k] += s[(size_t)i * K + k];
        }
    }
    mean_y /= n;
    for (int k = 0; k < K; k++) mean_s[k] /= n;
    // Normal equations of the centred problem: (G + lambda P) v = -Sc' yc, P = I - 11'/K.
    double G[SPACE_MAX_BLOCKS * SPACE_MAX_BLOCKS] = {0}, b[SPACE_MAX_BLOCKS] = {0}, tr = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) {
            double ck = s[(size_t)i * K + k] - mean_s[k];
            b[k] -= ck * (y[i] - mean_y);
            for (int j = 0; j < K; j++) G[k * K + j] += ck * (s[(size_t)i * K + j] - mean_s[j]);
        }
    for (int k = 0; k < K; k++) tr += G[k * K + k];
    DNA_CHECK(tr > 0, "calibrate on networks whose block scores differ",
              "predictor: the %d calibration networks have the same block scores", n);
    double lambda = ridge * tr / K;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < K; j++) G[k * K + j] += lambda * ((k == j) - 1.0 / K);
    DNA_CHECK(solve(G, b, K, 1e-12 * tr), "calibrate on more networks or give a ridge > 0",
              "predictor: the block scores of the %d calibration networks do not determine %d "
              "weights (ridge %g)",
              n, K, ridge);
    double v_mean = 0, v_max = 0;
    for (int k = 0; k < K; k++) v_mean += b[k] / K, v_max = fmax(v_max, fabs(b[k]));
    DNA_CHECK(v_max > 0, "calibrate on networks whose top-1 differs",
              "predictor: top-1 of the %d calibration networks does not vary with their scores "
              "(every fitted weight is 0)",
              n);
    // mean(v) near 0 (the blocks cancel): normalise by the largest weight instead.
    double norm = fabs(v_mean) >= 1e-6 * v_max ? fabs(v_mean) : v_max;
    memset(p, 0, sizeof *p);
    p->nblocks = K, p->scale = norm, p->ridge = ridge;
    double a = mean_y;
    for (int k = 0; k < K; k++) p->weight[k] = b[k] / norm, a += b[k] * mean_s[k];
    p->intercept = a;
}

// Kendall tau and Spearman rho of -score (weights w, or uniform when w is NULL) against y
// over the networks idx[0..m-1].
static void held_stats(const double *s, const double *y, int K, const Predictor *w, const int *idx,
                       int m, double *tau, double *rho) {
    double *x = dna_malloc(sizeof(double) * (size_t)m), *t = dna_malloc(sizeof(double) * (size_t)m);
    Predictor one = {.nblocks = K};
    for (int k = 0; k < K; k++) one.weight[k] = 1.0;
    for (int i = 0; i < m; i++) {
        x[i] = -predictor_score(w ? w : &one, s + (size_t)idx[i] * K);
        t[i] = y[idx[i]];
    }
    *tau = rank_kendall_tau(x, t, m), *rho = rank_spearman(x, t, m);
    free(x), free(t);
}

void predictor_cv(const double *s, const double *y, int n, int K, int calib, int folds,
                  double ridge, uint64_t seed, PredictorCV *cv) {
    DNA_CHECK(calib >= PREDICTOR_MIN_CALIB, "give --calib N with N >= 2", "calibrate: --calib %d",
              calib);
    DNA_CHECK(n >= calib + 2, "benchmark more networks (`dna bench CFG --n N`) or lower --calib",
              "calibrate: %d networks: a fold of %d leaves fewer than 2 to evaluate on", n, calib);
    int most = n / calib;
    DNA_CHECK(folds >= 0 && folds <= most, "give --folds F with F * calib <= the bench's size",
              "calibrate: --folds %d with --calib %d needs %d networks, the bench has %d", folds,
              calib, folds * calib, n);
    memset(cv, 0, sizeof *cv);
    cv->n = n, cv->calib = calib, cv->nfolds = folds ? folds : most;
    cv->order = dna_malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) cv->order[i] = i;
    Rng root = rng_new(seed), r = rng_split(&root, STREAM_CV);
    rng_shuffle(&r, cv->order, n);
    cv->fold = dna_calloc((size_t)cv->nfolds, sizeof(PredictorFold));
    double *cs = dna_malloc(sizeof(double) * (size_t)calib * K),
           *cy = dna_malloc(sizeof(double) * (size_t)calib);
    int *held = dna_malloc(sizeof(int) * (size_t)n);
    cv->tau_min = cv->dna_min = INFINITY, cv->tau_max = cv->dna_max = -INFINITY;
    for (int f = 0; f < cv->nfolds; f++) {
        const int *in = cv->order + (size_t)f * calib;
        for (int i = 0; i < calib; i++) {
            memcpy(cs + (size_t)i * K, s + (size_t)in[i] * K, sizeof(double) * (size_t)K);
            cy[i] = y[in[i]];
        }
        Predictor p;
        predictor_fit(cs, cy, calib, K, ridge, &p);
        int m = 0;  // held out: every network outside this fold, in shuffled order
        for (int i = 0; i < n; i++)
            if (i < f * calib || i >= (f + 1) * calib) held[m++] = cv->order[i];
        PredictorFold *d = &cv->fold[f];
        d->nheld = m;
        held_stats(s, y, K, &p, held, m, &d->tau, &d->rho);
        held_stats(s, y, K, NULL, held, m, &d->tau_dna, &d->rho_dna);
        cv->tau_mean += d->tau / cv->nfolds, cv->dna_mean += d->tau_dna / cv->nfolds;
        cv->tau_min = fmin(cv->tau_min, d->tau), cv->tau_max = fmax(cv->tau_max, d->tau);
        cv->dna_min = fmin(cv->dna_min, d->tau_dna), cv->dna_max = fmax(cv->dna_max, d->tau_dna);
        if (f == 0) {
            p.ncalib = calib;
            p.calib = dna_malloc(sizeof(int) * (size_t)calib);
            for (int i = 0; i < calib; i++) p.calib[i] = in[i] + 1;
            cv->first = p;
        }
    }
    free(cs), free(cy), free(held);
}

void predictor_free(Predictor *p) {
    free(p->calib);
    p->calib = NULL, p->ncalib = 0;
}

void predictor_cv_free(PredictorCV *cv) {
    free(cv->order), free(cv->fold);
    predictor_free(&cv->first);
    cv->order = NULL, cv->fold = NULL;
}

int predictor_in_calib(const Predictor *p, int id) {
    for (int i = 0; i < p->ncalib; i++)
        if (p->calib[i] == id) return 1;
    return 0;
}

void predictor_bench_digest(const Bench *b, char hex[17]) {
    uint64_t h = fnv1a(FNV1A_INIT, &b->n, sizeof b->n);
    h = fnv1a(h, &b->nblocks, sizeof b->nblocks);
    size_t m = (size_t)b->n * b->nblocks;
    h = fnv1a(h, b->cell, sizeof(int) * m);
    h = fnv1a(h, b->code, sizeof(int64_t) * m);
    h = fnv1a(h, b->top1, sizeof(double) * (size_t)b->n);
    snprintf(hex, 17, "%016llx", (unsigned long long)h);
}

void predictor_potentials_digest(const Potentials *pot, char hex[17]) {
    uint64_t h = fnv1a(FNV1A_INIT, &pot->nblocks, sizeof pot->nblocks);
    for (int k = 0; k < pot->nblocks; k++)
        for (int c = 0; c < pot->ncells[k]; c++)
            h = fnv1a(h, pot->cell[k][c].score, sizeof(double) * (size_t)pot->cell[k][c].npaths);
    snprintf(hex, 17, "%016llx", (unsigned long long)h);
}

char *predictor_to_json(const Predictor *p, const char *extra_json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "dnafam-predictor");
    cJSON_AddNumberToObject(o, "version", PREDICTOR_FORMAT);
    cJSON_AddStringToObject(o, "model",
                            "score = sum_k weight_k * s_k (lower is better); top1 ~ intercept - "
                            "scale * score");
    cJSON_AddNumberToObject(o, "nblocks", p->nblocks);
    cJSON_AddItemToObject(o, "weights", cJSON_CreateDoubleArray(p->weight, p->nblocks));
    cJSON_AddNumberToObject(o, "intercept", p->intercept);
    cJSON_AddNumberToObject(o, "scale", p->scale);
    cJSON_AddNumberToObject(o, "ridge", p->ridge);
    cJSON_AddItemToObject(o, "calibration_ids", cJSON_CreateIntArray(p->calib, p->ncalib));
    cJSON_AddStringToObject(o, "bench_digest", p->bench_digest);
    cJSON_AddStringToObject(o, "potentials_digest", p->potentials_digest);
    if (extra_json) {
        cJSON *x = cJSON_Parse(extra_json), *it;
        DNA_CHECK(cJSON_IsObject(x), "report this as a bug", "predictor: bad extra JSON");
        while ((it = x->child))
            cJSON_AddItemToObject(o, it->string, cJSON_DetachItemViaPointer(x, it));
        cJSON_Delete(x);
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

static double field(const cJSON *o, const char *key, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    DNA_CHECK(cJSON_IsNumber(v) && isfinite(v->valuedouble),
              "write it again with `dna calibrate CFG`", "'%s': '%s' is missing or not a number",
              path, key);
    return v->valuedouble;
}

static void digest(const cJSON *o, const char *key, char hex[17]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(hex, 17, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

void predictor_from_json(const char *json, const char *path, int nblocks, Predictor *p) {
    memset(p, 0, sizeof *p);
    cJSON *o = cJSON_Parse(json);
    DNA_CHECK(o, "check the file (it is not valid JSON)", "'%s' is not valid JSON", path);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    DNA_CHECK(cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "dnafam-predictor"),
              "pass a predictor.json written by `dna calibrate`", "'%s' is not a dnafam predictor",
              path);
    DNA_CHECK(field(o, "version", path) == PREDICTOR_FORMAT,
              "write it again with this dna's `dna calibrate CFG`",
              "'%s': predictor format %g, this dna reads %d", path, field(o, "version", path),
              PREDICTOR_FORMAT);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "weights"), *e;
    int n = cJSON_IsArray(w) ? cJSON_GetArraySize(w) : -1;
    DNA_CHECK(n >= 1 && n <= SPACE_MAX_BLOCKS, "give 'weights' as a list of 1..8 numbers",
              "'%s': bad 'weights'", path);
    DNA_CHECK(nblocks <= 0 || n == nblocks,
              "use a predictor calibrated in this run's space (`dna calibrate CFG`)",
              "'%s' has %d block weights, the search space %d blocks", path, n, nblocks);
    p->nblocks = n;
    int k = 0;
    cJSON_ArrayForEach(e, w) {
        DNA_CHECK(cJSON_IsNumber(e) && isfinite(e->valuedouble),
                  "give every weight as a finite number", "'%s': weight %d is not a finite number",
                  path, k + 1);
        p->weight[k++] = e->valuedouble;
    }
    p->intercept = field(o, "intercept", path);
    p->scale = field(o, "scale", path);
    p->ridge = field(o, "ridge", path);
    DNA_CHECK(p->scale > 0, "write it again with `dna calibrate CFG`", "'%s': scale %g is not > 0",
              path, p->scale);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(o, "calibration_ids");
    DNA_CHECK(cJSON_IsArray(ids), "list the bench ids it was fitted on",
              "'%s': no 'calibration_ids' list", path);
    p->ncalib = cJSON_GetArraySize(ids);
    p->calib = dna_malloc(sizeof(int) * (size_t)(p->ncalib ? p->ncalib : 1));
    k = 0;
    cJSON_ArrayForEach(e, ids) {
        DNA_CHECK(cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble <= 1e9 &&
                      e->valuedouble == floor(e->valuedouble),
                  "give bench ids (1, 2, ...)", "'%s': calibration id %d is not a bench id", path,
                  k + 1);
        p->calib[k++] = (int)e->valuedouble;
    }
    digest(o, "bench_digest", p->bench_digest);
    digest(o, "potentials_digest", p->potentials_digest);
    cJSON_Delete(o);
}
