// Training seeds ([retrain] seeds, [bench] seeds): the names of a network's seed files, the
// spread of its test top-1 over seeds, the report's "searched vs random" verdict, which sets
// the difference to the random networks against that spread, and a bench's seed noise against
// its spread between networks. Pure functions: no files, no ranks.
#pragma once
#include <stddef.h>

// "<stem>" for seed 1, "<stem>_seed<s>" for seed s >= 2 (stem: a path or a name, no suffix).
void seed_stem(const char *stem, long s, char *buf, size_t n);
// 1 when `name` (a file name without .json) could be read as a seed file's tail: "seed<d>"
// or "..._seed<d>"; such an --arch file would share names with another network's seeds.
int seed_name_clashes(const char *name);

// Test top-1 over a network's seeds (fractions).
typedef struct SeedSpread {
    int n;
    double mean, min, max;
    double spread;  // max - min; NAN for one seed
    double std;     // sample standard deviation (n - 1); NAN for fewer than 3 seeds
} SeedSpread;
SeedSpread seed_spread(const double *top1, int n);

typedef enum {
    NOISE_UNMEASURED,  // one seed: the noise is unknown
    NOISE_WITHIN,      // |difference| <= the searched network's seed spread
    NOISE_OUTSIDE,     // |difference| > its seed spread
} NoiseVerdict;
NoiseVerdict noise_verdict(double diff, const SeedSpread *searched);

// The report's "Searched vs random" sentences (markdown, no trailing newline) into buf:
// searched: the searched network's seeds; random: each random network's top-1 (its mean over
// its seeds), nrandom >= 1; seeds_set: [retrain] seeds. States the difference, the seed
// spread, how many random networks it beats and, plainly, the verdict. Returns the verdict.
NoiseVerdict seed_verdict_text(char *buf, size_t n, const SeedSpread *searched,
                               const double *random, int nrandom, long seeds_set);

// The sample standard deviation (n - 1) of x[0..n), n >= 2.
double sample_sd(const double *x, int n);

// A bench trained with k >= 2 seeds per network, n >= 2 networks (top1: n rows of k,
// fractions). Whether its truths separate the networks: the seed noise within a network
// against the spread between them (doc/results.md, "Do the truths separate the networks?").
typedef struct BenchNoise {
    int n, k;
    double seed_sd;     // within a network: sqrt of the mean of the networks' sample variances
    double one_sd;      // between networks, seed 1's truths: what a one-seed bench ranks by
    double mean_sd;     // between networks, the means over seeds: this bench's truths
    double mean_noise;  // the seed noise left in a mean: seed_sd / sqrt(k)
    double true_sd;  // the networks' expected top-1 spread, sqrt(max(mean_sd^2 - mean_noise^2, 0))
} BenchNoise;
BenchNoise bench_noise(const double *top1, int n, int k);
