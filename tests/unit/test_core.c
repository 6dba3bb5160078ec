// Core: Philox known answers, stream splitting, draw statistics, progress lines, fatal errors.
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "harness.h"

TEST(rng_philox_known_answers) {
    // Known-answer vectors of Philox4x32-10 from Random123's kat_vectors.
    struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t o[4];
        philox4x32_10(kat[i].ctr, kat[i].key, o);
        for (int j = 0; j < 4; j++)
            T_CHECK(o[j] == kat[i].out[j], "vector %d word %d: %08x != %08x", i, j, o[j],
                    kat[i].out[j]);
    }
}

TEST(rng_same_seed_same_stream) {
    Rng a = rng_new(42), b = rng_new(42), c = rng_new(43);
    int diff = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = rng_u32(&a), y = rng_u32(&b), z = rng_u32(&c);
        T_CHECK(x == y, "draw %d differs for the same seed", i);
        diff += x != z;
    }
    T_CHECK(diff > 990, "seeds 42 and 43 agree on %d of 1000 draws", 1000 - diff);
}

TEST(rng_split_depends_on_ids_only) {
    // A child stream is a function of (parent seed/stream, id), not of how much the parent
    // or siblings have drawn: what makes per-job streams independent of the rank layout.
    Rng root = rng_new(7), used = rng_new(7);
    for (int i = 0; i < 77; i++) rng_u32(&used);
    Rng a = rng_split(&root, 3), b = rng_split(&used, 3);
    Rng job = rng_split(&root, 4), step = rng_split(&job, 10), step2 = rng_split(&job, 11);
    Rng ten = rng_split(&root, 10), other = rng_split(&ten, 4);  // (10, 4) is not (4, 10)
    int same_ab = 1, same_steps = 0, same_other = 0;
    for (int i = 0; i < 64; i++) {
        uint32_t x = rng_u32(&a), y = rng_u32(&b), s1 = rng_u32(&step), s2 = rng_u32(&step2),
                 o = rng_u32(&other);
        same_ab &= x == y;
        same_steps += s1 == s2;
        same_other += s1 == o;
    }
    T_CHECK(same_ab, "split(3) changed after the parent drew numbers");
    T_CHECK(same_steps < 2 && same_other < 2, "sibling streams overlap (%d, %d)", same_steps,
            same_other);
}

TEST(rng_distributions) {
    Rng r = rng_new(1);
    double su = 0, sn = 0, sn2 = 0;
    int n = 200000, counts[7] = {0};
    for (int i = 0; i < n; i++) {
        float u = rng_uniform(&r), g = rng_normal(&r);
        T_CHECK(u >= 0.0f && u < 1.0f, "uniform %g outside [0,1)", u);
        su += u, sn += g, sn2 += (double)g * g;
        counts[rng_below(&r, 7)]++;
    }
    // 5 standard errors
    T_NEAR(su / n, 0.5, 5 * 0.2887 / sqrt(n), 0, "uniform mean");
    T_NEAR(sn / n, 0.0, 5 / sqrt(n), 0, "normal mean");
    T_NEAR(sn2 / n, 1.0, 5 * sqrt(2.0 / n), 0, "normal variance");
    for (int k = 0; k < 7; k++) T_NEAR(counts[k], n / 7.0, 5 * sqrt(n / 7.0), 0, "below(7) bucket");
    int a[10];
    for (int i = 0; i < 10; i++) a[i] = i;
    rng_shuffle(&r, a, 10);
    int sum = 0;
    for (int i = 0; i < 10; i++) sum += a[i];
    T_CHECK(sum == 45, "shuffle lost elements");
}

TEST(progress_line_has_rate_and_eta) {
    RunCtx ctx = ctx_local(NULL, 0);
    Progress p;
    progress_init(&p, &ctx, "train", "step", 1000);
    p.done = 250;
    char line[256];
    progress_format(&p, p.t0 + 50.0, "loss=0.5", line, sizeof line);  // 5 steps/s, 150 s left
    T_CHECK(strstr(line, "250/1000 (25%)") != NULL, "count missing: %s", line);
    T_CHECK(strstr(line, "5.00 step/s") != NULL, "rate missing: %s", line);
    T_CHECK(strstr(line, "ETA 00:02:30") != NULL, "ETA missing: %s", line);
    T_CHECK(strstr(line, "loss=0.5") != NULL, "extra missing: %s", line);
}

static void fail_with_hint(void *arg) {
    (void)arg;
    DNA_CHECK(1 == 2, "set block.count to 6", "config '%s': bad block count", "x.cfg");
}

TEST(fatal_error_names_location_and_fix) {
    T_EXPECT_DEATH(fail_with_hint, NULL, "config 'x.cfg': bad block count");
    T_EXPECT_DEATH(fail_with_hint, NULL, "fix: set block.count to 6");
    T_EXPECT_DEATH(fail_with_hint, NULL, "test_core.c:");
}
