// Input pipeline: exact normalisation and padding, per-epoch shuffle, data-parallel parts
// that add up bitwise to the one-part batch (augmentation included), flip/crop pixel
// movement, drop_last, resuming mid-epoch, restarts and shutdown with prefetch in flight.
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "harness.h"
#include "train/loader.h"

static Split make_split(int n, int c, int h, int w, int classes, unsigned seed) {
    Split s = {.n = n, .c = c, .h = h, .w = w};
    s.images = malloc((size_t)n * c * h * w);
    s.labels = malloc((size_t)n * sizeof *s.labels);
    Rng r = rng_new(seed);
    for (size_t i = 0; i < (size_t)n * c * h * w; i++) s.images[i] = (uint8_t)rng_below(&r, 256);
    for (int i = 0; i < n; i++) s.labels[i] = i % classes;
    return s;
}

static LoaderCfg cfg_of(int batch) {
    return (LoaderCfg){.batch = batch, .nparts = 1, .seed = 42};
}

// One epoch, all batches concatenated: x [total, per], ids, y, and each batch's size.
typedef struct {
    int nb, total, sizes[256];
    float *x;
    int64_t ids[1024];
    int32_t y[1024];
} Epoch;

static Epoch run_epoch(Loader *l, int epoch, int start) {
    int c, h, w;
    loader_out_shape(l, &c, &h, &w);
    size_t per = (size_t)c * h * w;
    Epoch e = {0};
    e.x = malloc(1024 * per * sizeof(float));
    loader_start_epoch(l, epoch, start);
    const float *x;
    const int32_t *y;
    const int64_t *ids;
    int b;
    while ((b = loader_next(l, &x, &y, &ids)) > 0) {
        memcpy(e.x + (size_t)e.total * per, x, (size_t)b * per * sizeof(float));
        memcpy(e.ids + e.total, ids, (size_t)b * sizeof *ids);
        memcpy(e.y + e.total, y, (size_t)b * sizeof *y);
        e.sizes[e.nb++] = b;
        e.total += b;
    }
    return e;
}

static const double MEAN[2] = {0.3, 0.6}, STD[2] = {0.25, 0.125};

TEST(loader_normalises_exactly_and_pads_with_zeros) {
    Split s = make_split(5, 2, 3, 4, 3, 1);
    LoaderCfg cfg = cfg_of(2);
    cfg.pad = 2;
    Loader *l = loader_new(&s, NULL, 0, MEAN, STD, cfg);
    int c, h, w;
    loader_out_shape(l, &c, &h, &w);
    T_CHECK(c == 2 && h == 7 && w == 8, "out shape %dx%dx%d", c, h, w);
    T_CHECK(loader_batches(l) == 3, "batches %d", loader_batches(l));
    Epoch e = run_epoch(l, 0, 0);
    T_CHECK(e.nb == 3 && e.sizes[0] == 2 && e.sizes[2] == 1, "batches %d, last %d", e.nb,
            e.sizes[2]);
    int bad = 0;
    for (int i = 0; i < e.total; i++) {
        T_CHECK(e.ids[i] == i && e.y[i] == s.labels[i], "sample %d: id %lld label %d", i,
                (long long)e.ids[i], e.y[i]);
        for (int ch = 0; ch < 2; ch++)
            for (int y = 0; y < 7; y++)
                for (int x = 0; x < 8; x++) {
                    float got = e.x[((size_t)(i * 2 + ch) * 7 + y) * 8 + x], want = 0.0f;
                    if (y >= 2 && y < 5 && x >= 2 && x < 6) {
                        uint8_t p = s.images[((size_t)(i * 2 + ch) * 3 + y - 2) * 4 + x - 2];
                        want = (float)((p / 255.0 - MEAN[ch]) / STD[ch]);
                    }
                    bad += got != want;
                }
    }
    T_CHECK(e.total == 5 && bad == 0, "%d of %d values differ", bad, 5 * 2 * 7 * 8);
    free(e.x);
    loader_free(l);
    split_free(&s);
}

static int same_order(const Epoch *a, const Epoch *b) {
    return a->total == b->total && memcmp(a->ids, b->ids, (size_t)a->total * 8) == 0;
}

TEST(loader_shuffle_depends_on_seed_and_epoch_only) {
    Split s = make_split(50, 1, 2, 2, 5, 2);
    int32_t subset[30];
    for (int i = 0; i < 30; i++) subset[i] = 49 - i;  // a subset, not in ascending order
    LoaderCfg cfg = cfg_of(8);
    cfg.shuffle = 1;
    Loader *a = loader_new(&s, NULL, 0, MEAN, STD, cfg),
           *b = loader_new(&s, NULL, 0, MEAN, STD, cfg);
    cfg.seed = 43;
    Loader *other = loader_new(&s, NULL, 0, MEAN, STD, cfg);
    Loader *sub = loader_new(&s, subset, 30, MEAN, STD, cfg);
    Epoch a3 = run_epoch(a, 3, 0), a4 = run_epoch(a, 4, 0), b3 = run_epoch(b, 3, 0),
          a3again = run_epoch(a, 3, 0), o3 = run_epoch(other, 3, 0), s3 = run_epoch(sub, 3, 0);
    T_CHECK(same_order(&a3, &b3), "same seed and epoch, different order");
    T_CHECK(same_order(&a3, &a3again), "epoch 3 changed after running epoch 4");
    T_CHECK(!same_order(&a3, &a4), "epochs 3 and 4 have one order");
    T_CHECK(!same_order(&a3, &o3), "seeds 42 and 43 have one order");
    int seen[50] = {0}, ascending = 1;
    for (int i = 0; i < a4.total; i++) {
        seen[a4.ids[i]]++;
        T_CHECK(a4.y[i] == s.labels[a4.ids[i]], "label of sample %lld", (long long)a4.ids[i]);
        ascending &= i == 0 || a4.ids[i] > a4.ids[i - 1];
    }
    for (int i = 0; i < 50; i++) T_CHECK(seen[i] == 1, "sample %d seen %d times", i, seen[i]);
    T_CHECK(!ascending, "shuffle left index order");
    int in_subset = 0;
    for (int i = 0; i < s3.total; i++) in_subset += s3.ids[i] >= 20;
    T_CHECK(s3.total == 30 && in_subset == 30, "subset epoch: %d samples, %d from the subset",
            s3.total, in_subset);
    free(a3.x), free(a4.x), free(b3.x), free(a3again.x), free(o3.x), free(s3.x);
    loader_free(a), loader_free(b), loader_free(other), loader_free(sub);
    split_free(&s);
}

TEST(loader_parts_add_up_to_the_single_part_batch_bitwise) {
    enum { P = 3 };
    Split s = make_split(37, 2, 5, 4, 4, 3);
    LoaderCfg cfg = cfg_of(8);  // 5 batches, the last of 5 samples
    cfg.shuffle = 1, cfg.pad = 1, cfg.crop_pad = 2, cfg.flip = 1;
    Loader *one = loader_new(&s, NULL, 0, MEAN, STD, cfg);
    Loader *part[P];
    for (int p = 0; p < P; p++) {
        LoaderCfg pc = cfg;
        pc.part = p, pc.nparts = P;
        part[p] = loader_new(&s, NULL, 0, MEAN, STD, pc);
        T_CHECK(loader_batches(part[p]) == loader_batches(one), "part %d: %d batches", p,
                loader_batches(part[p]));
    }
    size_t per = 2 * 7 * 6;
    for (int epoch = 0; epoch < 2; epoch++) {
        Epoch whole = run_epoch(one, epoch, 0), ep[P];
        for (int p = 0; p < P; p++) ep[p] = run_epoch(part[p], epoch, 0);
        int at[P] = {0}, pos = 0, mismatch = 0;
        for (int b = 0; b < whole.nb; b++)
            for (int p = 0; p < P; p++) {
                int n = ep[p].sizes[b];
                T_CHECK(n > 0, "epoch %d batch %d: part %d empty", epoch, b, p);
                mismatch += memcmp(ep[p].x + at[p] * per, whole.x + pos * per, n * per * 4) != 0;
                mismatch += memcmp(ep[p].ids + at[p], whole.ids + pos, n * 8) != 0;
                mismatch += memcmp(ep[p].y + at[p], whole.y + pos, n * 4) != 0;
                at[p] += n, pos += n;
            }
        T_CHECK(pos == 37 && mismatch == 0, "epoch %d: %d of 37 samples, %d mismatches", epoch, pos,
                mismatch);
        for (int p = 0; p < P; p++) {
            T_CHECK(ep[p].nb == whole.nb, "part %d: %d batches", p, ep[p].nb);
            free(ep[p].x);
        }
        free(whole.x);
    }
    for (int p = 0; p < P; p++) loader_free(part[p]);
    loader_free(one);
    split_free(&s);
}

// The loader's output of a 3x4 image with pixels 1..12, mean 0 and std 1 (value p/255),
// against the image shifted by (dy, dx) and optionally mirrored, with zeros outside.
static int matches(const float *out, const uint8_t *img, int dy, int dx, int mirror) {
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++) {
            int sy = y + dy, sx = (mirror ? 3 - x : x) + dx;
            float want =
                sy >= 0 && sy < 3 && sx >= 0 && sx < 4 ? (float)(img[sy * 4 + sx] / 255.0) : 0.0f;
            if (out[y * 4 + x] != want) return 0;
        }
    return 1;
}

TEST(loader_flip_and_crop_move_pixels_as_expected) {
    enum { N = 200 };
    Split s = {.n = N, .c = 1, .h = 3, .w = 4};
    s.images = malloc(N * 12);
    s.labels = calloc(N, sizeof *s.labels);
    for (int i = 0; i < N * 12; i++) s.images[i] = (uint8_t)(i % 12 + 1);
    const double zero[1] = {0}, one[1] = {1};
    for (int mode = 0; mode < 3; mode++) {  // flip only, crop only, both
        LoaderCfg cfg = cfg_of(16);
        cfg.flip = mode != 1;
        cfg.crop_pad = mode == 0 ? 0 : mode == 1 ? 2 : 1;
        int cp = cfg.crop_pad;
        Loader *l = loader_new(&s, NULL, 0, zero, one, cfg);
        Epoch e = run_epoch(l, 1, 0);
        int used[5][5][2] = {{{0}}}, unmatched = 0, kinds = 0;
        for (int i = 0; i < e.total; i++) {
            int found = 0;
            for (int dy = -cp; dy <= cp && !found; dy++)
                for (int dx = -cp; dx <= cp && !found; dx++)
                    for (int m = 0; m <= cfg.flip && !found; m++)
                        if (matches(e.x + i * 12, s.images, dy, dx, m))
                            found = 1, used[dy + 2][dx + 2][m]++;
            unmatched += !found;
        }
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 5; b++) kinds += (used[a][b][0] > 0) + (used[a][b][1] > 0);
        int expect = (2 * cp + 1) * (2 * cp + 1) * (cfg.flip ? 2 : 1);  // 2, 25, 18
        T_CHECK(e.total == N && unmatched == 0, "mode %d: %d of %d outputs are no shift/mirror",
                mode, unmatched, e.total);
        // 200 draws over at most 25 outcomes: one missing by chance has probability
        // < 25 * (24/25)^200 < 1%, and the seed is fixed, so this is not flaky
        T_CHECK(kinds == expect, "mode %d: %d of %d shift/mirror outcomes seen", mode, kinds,
                expect);
        free(e.x);
        loader_free(l);
    }
    split_free(&s);
}

TEST(loader_drop_last) {
    Split s = make_split(10, 1, 2, 2, 2, 4);
    LoaderCfg cfg = cfg_of(4);
    Loader *keep = loader_new(&s, NULL, 0, MEAN, STD, cfg);
    cfg.drop_last = 1;
    Loader *drop = loader_new(&s, NULL, 0, MEAN, STD, cfg);
    T_CHECK(loader_batches(keep) == 3 && loader_batches(drop) == 2, "batches %d / %d",
            loader_batches(keep), loader_batches(drop));
    Epoch k = run_epoch(keep, 0, 0), d = run_epoch(drop, 0, 0);
    T_CHECK(k.nb == 3 && k.total == 10 && k.sizes[2] == 2, "keep: %d batches, %d samples", k.nb,
            k.total);
    T_CHECK(d.nb == 2 && d.total == 8 && d.sizes[1] == 4, "drop: %d batches, %d samples", d.nb,
            d.total);
    const float *x;
    const int32_t *y;
    const int64_t *ids;
    T_CHECK(loader_next(drop, &x, &y, &ids) == 0, "a call after the end of the epoch gave data");
    free(k.x), free(d.x);
    loader_free(keep), loader_free(drop);
    split_free(&s);
}

TEST(loader_resume_and_restart_give_the_uninterrupted_batches) {
    Split s = make_split(40, 1, 4, 4, 4, 5);
    LoaderCfg cfg = cfg_of(6);
    cfg.shuffle = 1, cfg.crop_pad = 1, cfg.flip = 1;
    Loader *l = loader_new(&s, NULL, 0, MEAN, STD, cfg);
    Epoch full = run_epoch(l, 2, 0);
    // Restarts before the end, with the helper mid-prefetch, many times over.
    const float *x;
    const int32_t *y;
    const int64_t *ids;
    for (int r = 0; r < 50; r++) {
        loader_start_epoch(l, r % 3, 0);
        for (int i = 0; i < r % 4; i++) loader_next(l, &x, &y, &ids);
    }
    Epoch rest = run_epoch(l, 2, 3);
    size_t skip = 0, per = 16;
    for (int b = 0; b < 3; b++) skip += full.sizes[b];
    T_CHECK(rest.nb == full.nb - 3 && rest.total == full.total - (int)skip,
            "resumed: %d batches, %d samples", rest.nb, rest.total);
    T_CHECK(memcmp(rest.ids, full.ids + skip, (size_t)rest.total * 8) == 0, "resumed ids differ");
    T_CHECK(memcmp(rest.x, full.x + skip * per, (size_t)rest.total * per * 4) == 0,
            "resumed pixels differ (augmentation must follow the epoch position)");
    Epoch end = run_epoch(l, 2, loader_batches(l));
    T_CHECK(end.nb == 0, "starting at the last batch gave %d batches", end.nb);
    loader_start_epoch(l, 0, 0);
    loader_next(l, &x, &y, &ids);  // freed with a batch held and the next in flight
    loader_free(l);
    free(full.x), free(rest.x), free(end.x);
    split_free(&s);
}

static void tiny_last_batch(void *arg) {
    Split *s = arg;
    LoaderCfg cfg = cfg_of(8);
    cfg.nparts = 4, cfg.part = 1;  // 10 samples: the last batch of 2 cannot feed 4 parts
    loader_new(s, NULL, 0, MEAN, STD, cfg);
}

TEST(loader_rejects_a_part_with_no_samples) {
    Split s = make_split(10, 1, 2, 2, 2, 6);
    T_EXPECT_DEATH(tiny_last_batch, &s, "the last batch has 2 samples for 4 ranks");
    LoaderCfg cfg = cfg_of(8);
    cfg.nparts = 4, cfg.part = 1, cfg.drop_last = 1;
    Loader *l = loader_new(&s, NULL, 0, MEAN, STD, cfg);  // dropping it is fine
    Epoch e = run_epoch(l, 0, 0);
    T_CHECK(e.nb == 1 && e.total == 2 && e.ids[0] == 2 && e.ids[1] == 3,
            "part 1 of 4: %d batches, %d samples, ids %lld %lld", e.nb, e.total,
            (long long)e.ids[0], (long long)e.ids[1]);
    free(e.x);
    loader_free(l);
    split_free(&s);
}
