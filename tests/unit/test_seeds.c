// [retrain] seeds: the seed files' names, the spread over seeds, the searched-vs-random
// verdict (within or outside the searched network's seed spread, or not measured), and the
// key's range. [bench] seeds: a bench's seed noise against its spread, the key's range and
// hash.
#include <math.h>
#include <string.h>

#include "core/config.h"
#include "harness.h"
#include "stages/seeds.h"

TEST(seeds_file_names) {
    char b[64];
    seed_stem("retrain", 1, b, sizeof b);
    T_CHECK(!strcmp(b, "retrain"), "seed 1 keeps today's name: %s", b);
    seed_stem("retrain", 2, b, sizeof b);
    T_CHECK(!strcmp(b, "retrain_seed2"), "seed 2: %s", b);
    seed_stem("retrain_random_1", 16, b, sizeof b);
    T_CHECK(!strcmp(b, "retrain_random_1_seed16"), "seed 16 of a random network: %s", b);
    T_CHECK(seed_name_clashes("retrain_seed2") && seed_name_clashes("retrain_other_seed10") &&
                seed_name_clashes("seed3"),
            "names that read as seed files clash");
    T_CHECK(!seed_name_clashes("retrain_other") && !seed_name_clashes("retrain_seed") &&
                !seed_name_clashes("retrain_seed2x") && !seed_name_clashes("retrain_seeds2"),
            "other names do not");
}

TEST(seeds_spread) {
    const double one[1] = {0.87}, two[2] = {0.8709, 0.8680}, three[3] = {0.8709, 0.8680, 0.8675};
    SeedSpread s = seed_spread(one, 1);
    T_CHECK(s.n == 1 && s.mean == 0.87 && isnan(s.spread) && isnan(s.std),
            "one seed: no spread, no std");
    s = seed_spread(two, 2);
    T_NEAR(s.mean, 0.86945, 1e-15, 0, "mean of 2");
    T_NEAR(s.spread, 0.0029, 1e-15, 0, "spread of 2");
    T_CHECK(s.min == 0.8680 && s.max == 0.8709 && isnan(s.std), "min, max; no std below 3");
    s = seed_spread(three, 3);
    double m = (0.8709 + 0.8680 + 0.8675) / 3;
    double sd = sqrt(
        ((0.8709 - m) * (0.8709 - m) + (0.8680 - m) * (0.8680 - m) + (0.8675 - m) * (0.8675 - m)) /
        2);
    T_NEAR(s.spread, 0.0034, 1e-15, 0, "spread of 3");
    T_NEAR(s.std, sd, 1e-15, 0, "sample std of 3");
}

TEST(seeds_verdict) {
    const double two[2] = {0.870, 0.866};  // spread 0.4 points
    SeedSpread s = seed_spread(two, 2), one = seed_spread(two, 1);
    T_CHECK(noise_verdict(0.003, &s) == NOISE_WITHIN, "+0.3 within a 0.4 spread");
    T_CHECK(noise_verdict(-0.003, &s) == NOISE_WITHIN, "-0.3 within a 0.4 spread");
    T_CHECK(noise_verdict(0.004, &s) == NOISE_WITHIN, "equal to the spread: within");
    T_CHECK(noise_verdict(-0.0040004, &s) == NOISE_WITHIN, "reads as the spread: within");
    T_CHECK(noise_verdict(0.0041, &s) == NOISE_OUTSIDE, "+0.41 outside");
    T_CHECK(noise_verdict(-0.0085, &s) == NOISE_OUTSIDE, "-0.85 outside");
    T_CHECK(noise_verdict(0.0085, &one) == NOISE_UNMEASURED, "one seed: unmeasured");
}

TEST(seeds_verdict_text) {
    char t[1500];
    const double two[2] = {0.870, 0.866}, rnd[3] = {0.865, 0.867, 0.863},
                 far[3] = {0.85, 0.855, 0.86};
    SeedSpread s = seed_spread(two, 2), one = seed_spread(two, 1);
    // 0.868 - 0.865 = +0.30 points, within a spread of 0.40
    T_CHECK(seed_verdict_text(t, sizeof t, &s, rnd, 3, 2) == NOISE_WITHIN, "within");
    T_CHECK(strstr(t,
                   "**Searched vs random:** the searched network's test top-1, the mean of its "
                   "2 seeds, is +0.30 points from the mean of the 3 random networks (86.50%; "
                   "they span 86.30–86.70%, 0.40 points); it beats 3 of the 3.") &&
                strstr(t,
                       "The spread between its 2 seeds is 0.40 points: the difference is "
                       "within it, within retraining noise: this run cannot say the searched "
                       "network is better."),
            "%s", t);
    T_CHECK(seed_verdict_text(t, sizeof t, &s, far, 3, 2) == NOISE_OUTSIDE, "outside");
    T_CHECK(strstr(t, "is +1.30 points from") && strstr(t, "the difference is outside it") &&
                strstr(t, "the searched network is ahead of these random networks") &&
                !strstr(t, "within"),
            "%s", t);
    const double high[2] = {0.88, 0.885};
    seed_verdict_text(t, sizeof t, &s, high, 2, 2);
    T_CHECK(strstr(t, "is -1.45 points from") && strstr(t, "it beats 0 of the 2") &&
                strstr(t, "is behind these random networks"),
            "%s", t);
    T_CHECK(seed_verdict_text(t, sizeof t, &one, rnd, 3, 1) == NOISE_UNMEASURED, "unmeasured");
    T_CHECK(strstr(t, "the searched network's test top-1 is +0.50 points from") &&
                strstr(t,
                       "The retraining noise was not measured (1 seed; set [retrain] seeds >= "
                       "2)") &&
                !strstr(t, "within") && !strstr(t, "outside"),
            "%s", t);
    seed_verdict_text(t, sizeof t, &one, rnd, 3, 3);
    T_CHECK(strstr(t, "not measured yet: 1 of the 3 seeds"), "seeds set, not all trained: %s", t);
    seed_verdict_text(t, sizeof t, &s, rnd, 1, 2);
    T_CHECK(strstr(t, "the mean of the 1 random networks (86.50%); it beats 1 of the 1"),
            "one random network: no span: %s", t);
}

static void load_seeds(void *arg) {
    char *over[] = {arg};
    Config c;
    config_load(&c, NULL, over, 1);
}

TEST(seeds_key_range) {
    Config c;
    config_load(&c, NULL, NULL, 0);
    T_CHECK(c.retrain.seeds == 2, "default 2 (inputs/fashion_mnist.cfg's): %ld", c.retrain.seeds);
    char o[] = "retrain.seeds=16", *over[] = {o};
    config_load(&c, NULL, over, 1);
    T_CHECK(c.retrain.seeds == 16, "16 is allowed");
    T_EXPECT_DEATH(load_seeds, "retrain.seeds=0", "retrain.seeds = 0 is out of range 1..16");
    T_EXPECT_DEATH(load_seeds, "retrain.seeds=17", "retrain.seeds = 17 is out of range 1..16");
    T_EXPECT_DEATH(load_seeds, "retrain.seeds=two", "retrain.seeds = 'two' is not an integer");
}

TEST(seeds_bench_noise) {
    // 3 networks x 2 seeds; references from numpy (var/std with ddof=1)
    const double t[6] = {0.80, 0.82, 0.85, 0.85, 0.90, 0.88};
    BenchNoise z = bench_noise(t, 3, 2);
    T_CHECK(z.n == 3 && z.k == 2, "n %d k %d", z.n, z.k);
    T_NEAR(z.seed_sd, 0.011547005383792493, 1e-14, 0, "pooled within-network sd");
    T_NEAR(z.one_sd, 0.04999999999999999, 1e-14, 0, "between networks, seed 1");
    T_NEAR(z.mean_sd, 0.03999999999999998, 1e-14, 0, "between networks, the means");
    T_NEAR(z.mean_noise, 0.008164965809277244, 1e-14, 0, "noise of a mean of 2");
    T_NEAR(z.true_sd, 0.03915780041490242, 1e-14, 0, "expected top-1 spread");
    const double same[6] = {0.8, 0.81, 0.8, 0.81, 0.8, 0.81};  // all noise, no spread
    z = bench_noise(same, 3, 2);
    T_CHECK(z.mean_sd == 0 && z.true_sd == 0 && z.seed_sd > 0, "no spread between networks");
}

TEST(seeds_bench_key) {
    Config c, d;
    config_load(&c, NULL, NULL, 0);
    T_CHECK(c.bench.seeds == 1, "default 1: %ld", c.bench.seeds);
    char one[] = "bench.seeds=1", two[] = "bench.seeds=2", *o1[] = {one}, *o2[] = {two};
    config_load(&d, NULL, o1, 1);  // given at its default: allowed, and the same config
    char h0[17], h1[17], h2[17];
    config_hash(&c, h0), config_hash(&d, h1);
    config_load(&d, NULL, o2, 1);
    config_hash(&d, h2);
    T_CHECK(!strcmp(h0, h1) && strcmp(h0, h2), "hash: default %s, seeds=1 %s, seeds=2 %s", h0, h1,
            h2);
    T_EXPECT_DEATH(load_seeds, "bench.seeds=0", "bench.seeds = 0 is out of range 1..16");
    T_EXPECT_DEATH(load_seeds, "bench.seeds=17", "bench.seeds = 17 is out of range 1..16");
}
