// Training seeds: seed file names, the spread over seeds, the searched-vs-random verdict, a
// bench's seed noise.
// The verdict's yardstick is the searched network's own seed spread (max - min): at 2 seeds
// that is |a - b|, about 1.1 standard deviations on average, so it is a rough one; the text
// says what was measured and nothing more.
#include "stages/seeds.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void seed_stem(const char *stem, long s, char *buf, size_t n) {
    if (s <= 1)
        snprintf(buf, n, "%s", stem);
    else
        snprintf(buf, n, "%s_seed%ld", stem, s);
}

int seed_name_clashes(const char *name) {
    const char *p = strrchr(name, '_');
    p = p ? p + 1 : name;
    if (strncmp(p, "seed", 4) || !p[4]) return 0;
    return strspn(p + 4, "0123456789") == strlen(p + 4);
}

SeedSpread seed_spread(const double *top1, int n) {
    SeedSpread s = {.n = n, .mean = NAN, .min = NAN, .max = NAN, .spread = NAN, .std = NAN};
    if (n < 1) return s;
    double sum = 0;
    s.min = s.max = top1[0];
    for (int i = 0; i < n; i++) {
        sum += top1[i];
        s.min = fmin(s.min, top1[i]), s.max = fmax(s.max, top1[i]);
    }
    s.mean = sum / n;
    if (n >= 2) s.spread = s.max - s.min;
    if (n >= 3) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (top1[i] - s.mean) * (top1[i] - s.mean);
        s.std = sqrt(ss / (n - 1));
    }
    return s;
}

// Compared as printed, in hundredths of a point: a difference that reads "0.40" is within a
// spread that reads "0.40", whatever the digits below.
NoiseVerdict noise_verdict(double diff, const SeedSpread *searched) {
    if (searched->n < 2 || isnan(searched->spread)) return NOISE_UNMEASURED;
    return round(1e4 * fabs(diff)) <= round(1e4 * searched->spread) ? NOISE_WITHIN : NOISE_OUTSIDE;
}

NoiseVerdict seed_verdict_text(char *buf, size_t n, const SeedSpread *searched,
                               const double *random, int nrandom, long seeds_set) {
    SeedSpread r = seed_spread(random, nrandom);
    double diff = searched->mean - r.mean;
    int beats = 0;
    for (int i = 0; i < nrandom; i++) beats += searched->mean > random[i];
    char what[96], span[128] = "";
    if (searched->n >= 2)
        snprintf(what, sizeof what, "test top-1, the mean of its %d seeds,", searched->n);
    else
        snprintf(what, sizeof what, "test top-1");
    if (nrandom >= 2)
        snprintf(span, sizeof span, "; they span %.2f–%.2f%%, %.2f points", 100 * r.min,
                 100 * r.max, 100 * r.spread);
    size_t len = (size_t)snprintf(buf, n,
                                  "**Searched vs random:** the searched network's %s is %+.2f "
                                  "points from the mean of the %d random networks (%.2f%%%s); it "
                                  "beats %d of the %d.",
                                  what, 100 * diff, nrandom, 100 * r.mean, span, beats, nrandom);
    if (len >= n) return noise_verdict(diff, searched);
    buf += len, n -= len;
    NoiseVerdict v = noise_verdict(diff, searched);
    char std[48] = "";
    if (!isnan(searched->std)) snprintf(std, sizeof std, ", std %.2f", 100 * searched->std);
    switch (v) {
        case NOISE_UNMEASURED:
            if (seeds_set >= 2)
                snprintf(buf, n,
                         " The retraining noise is not measured yet: %d of the %ld seeds of the "
                         "searched network are retrained (`dna retrain CFG` trains the rest).",
                         searched->n, seeds_set);
            else
                snprintf(buf, n,
                         " The retraining noise was not measured (1 seed; set [retrain] seeds >= "
                         "2): this run cannot say whether the difference is more than noise.");
            break;
        case NOISE_WITHIN:
            snprintf(buf, n,
                     " The spread between its %d seeds is %.2f points%s: the difference is "
                     "within it, within retraining noise: this run cannot say the searched "
                     "network is better.",
                     searched->n, 100 * searched->spread, std);
            break;
        case NOISE_OUTSIDE:
            snprintf(buf, n,
                     " The spread between its %d seeds is %.2f points%s: the difference is "
                     "outside it, larger than the retraining noise these %d seeds show, so in "
                     "this run the searched network is %s these random networks (a spread of "
                     "%d seeds is a rough yardstick, not a significance test).",
                     searched->n, 100 * searched->spread, std, searched->n,
                     diff > 0 ? "ahead of" : "behind", searched->n);
            break;
    }
    return v;
}

static double sample_var(const double *x, int n, int stride) {
    double m = 0, ss = 0;
    for (int i = 0; i < n; i++) m += x[i * stride];
    m /= n;
    for (int i = 0; i < n; i++) ss += (x[i * stride] - m) * (x[i * stride] - m);
    return ss / (n - 1);
}

double sample_sd(const double *x, int n) {
    return sqrt(sample_var(x, n, 1));
}

BenchNoise bench_noise(const double *top1, int n, int k) {
    BenchNoise b = {.n = n, .k = k};
    double *mean = dna_malloc((size_t)n * sizeof *mean), pooled = 0;
    for (int i = 0; i < n; i++) {
        pooled += sample_var(top1 + (size_t)i * k, k, 1) / n;
        mean[i] = 0;
        for (int s = 0; s < k; s++) mean[i] += top1[(size_t)i * k + s] / k;
    }
    b.seed_sd = sqrt(pooled);
    b.one_sd = sqrt(sample_var(top1, n, k));
    b.mean_sd = sample_sd(mean, n);
    b.mean_noise = b.seed_sd / sqrt((double)k);
    b.true_sd = sqrt(fmax(b.mean_sd * b.mean_sd - b.mean_noise * b.mean_noise, 0));
    free(mean);
    return b;
}
