// DNA++'s two-view augmentation (src/train/views.h): the crop's resize and fallback against
// torchvision (tests/ref/views_ref.json, tests/ref/make_views_ref.py; tests run from the
// repository root), the drawn crop and erase boxes against their ranges, determinism and the
// independence of a view from its batch, rank split and thread count, the flip, the erasing and
// the noise each against the same view without it, and every bad setting of views_check.
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "harness.h"
#include "io/files.h"
#include "train/views.h"

static const char *const REF_PATH = "tests/ref/views_ref.json";

static float *json_floats(const cJSON *a, int *n) {
    *n = cJSON_GetArraySize(a);
    float *v = malloc(sizeof(float) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++) v[i] = (float)cJSON_GetArrayItem(a, i)->valuedouble;
    return v;
}

static int json_int(const cJSON *a, int i) {
    return cJSON_GetArrayItem(a, i)->valueint;
}

static cJSON *load_ref(void) {
    char *text = text_read(REF_PATH);
    T_CHECK(text, "cannot read %s (run from the repository root)", REF_PATH);
    if (!text) return NULL;
    cJSON *ref = cJSON_Parse(text);
    free(text);
    T_CHECK(ref, "%s is not JSON", REF_PATH);
    return ref;
}

// ---------------------------------------------------------------- against torchvision

// F.resized_crop(img, top, left, h, w, [oh, ow], antialias=False) on 9 boxes: up and down,
// non-square, the whole image, one pixel. On 3 channels PyTorch's NCHW kernel runs and we are
// equal bit for bit; a 1-channel image is also channels-last contiguous, and PyTorch takes its
// channels-last kernel, which rounds otherwise: within one ulp there (2.4e-7, values up to 2.6).
TEST(views_resize_matches_torchvision) {
    cJSON *ref = load_ref();
    if (!ref) return;
    const cJSON *images = cJSON_GetObjectItem(ref, "images"), *c;
    int ncases = 0;
    double worst = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(ref, "resized_crop")) {
        const cJSON *img =
            cJSON_GetObjectItem(images, cJSON_GetObjectItem(c, "image")->valuestring);
        const cJSON *shape = cJSON_GetObjectItem(img, "shape"), *bx = cJSON_GetObjectItem(c, "box");
        const cJSON *os = cJSON_GetObjectItem(c, "out");
        int ch = json_int(shape, 0), h = json_int(shape, 1), w = json_int(shape, 2);
        int oh = json_int(os, 0), ow = json_int(os, 1), nx, ny;
        ViewsBox b = {json_int(bx, 0), json_int(bx, 1), json_int(bx, 2), json_int(bx, 3)};
        float *x = json_floats(cJSON_GetObjectItem(img, "x"), &nx);
        float *want = json_floats(cJSON_GetObjectItem(c, "y"), &ny);
        T_CHECK(nx == ch * h * w && ny == ch * oh * ow, "case %d: fixture sizes %d, %d", ncases, nx,
                ny);
        float *got = malloc(sizeof(float) * (size_t)ny);
        views_resize_bilinear(x, ch, h, w, b, oh, ow, got);
        char what[96];
        snprintf(what, sizeof what, "case %d: box (%d, %d, %dx%d) -> %dx%d", ncases, b.top, b.left,
                 b.h, b.w, oh, ow);
        double e = T_NEAR_ARRAY(got, want, (size_t)ny, 3e-7, 3e-7, what);
        if (ch > 1) T_CHECK(e == 0, "%s: off by %g, want bitwise equal", what, e);
        worst = e > worst ? e : worst;
        free(x), free(want), free(got);
        ncases++;
    }
    T_CHECK(ncases == 9, "%d cases in the fixture, want 9", ncases);
    T_CHECK(worst < 5e-7, "worst difference %g", worst);
    cJSON_Delete(ref);
}

// RandomResizedCrop.get_params where every attempt must fail: the central fallback, with
// Python's half-to-even rounding (5 / 2 = 2.5 -> 2).
TEST(views_fallback_matches_torchvision) {
    cJSON *ref = load_ref();
    if (!ref) return;
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(ref, "fallback")) {
        const cJSON *hw = cJSON_GetObjectItem(c, "hw"), *s = cJSON_GetObjectItem(c, "scale");
        const cJSON *r = cJSON_GetObjectItem(c, "ratio"), *bx = cJSON_GetObjectItem(c, "box");
        ViewsCfg cfg = VIEWS_CFG_DEFAULT;
        cfg.out_hw = 8;
        for (int k = 0; k < 2; k++) {
            cfg.crop_scale[k] = cJSON_GetArrayItem(s, k)->valuedouble;
            cfg.crop_ratio[k] = cJSON_GetArrayItem(r, k)->valuedouble;
        }
        int h = json_int(hw, 0), w = json_int(hw, 1);
        views_check(&cfg, h, w, "fallback");
        for (int seed = 0; seed < 5; seed++) {
            Rng g = rng_new((uint64_t)seed);
            ViewsBox b;
            int drawn = views_crop_box(&cfg, h, w, &g, &b);
            T_CHECK(!drawn && b.top == json_int(bx, 0) && b.left == json_int(bx, 1) &&
                        b.h == json_int(bx, 2) && b.w == json_int(bx, 3),
                    "case %d: drawn %d, box (%d, %d, %dx%d), torchvision's (%d, %d, %dx%d)", n,
                    drawn, b.top, b.left, b.h, b.w, json_int(bx, 0), json_int(bx, 1),
                    json_int(bx, 2), json_int(bx, 3));
        }
        n++;
    }
    T_CHECK(n == 4, "%d fallback cases, want 4", n);
    cJSON_Delete(ref);
}

// ---------------------------------------------------------------- the boxes

// Could sides p = round(sqrt(a r)) and q = round(sqrt(a / r)) come from a in area * scale and
// r in ratio? Before rounding they lie within 0.5, so a = pq and r = p / q within those bounds.
static int box_consistent(int p, int q, double area, const double scale[2], const double ratio[2]) {
    double alo = (p - 0.5) * (q - 0.5), ahi = (p + 0.5) * (q + 0.5);
    double rlo = (p - 0.5) / (q + 0.5), rhi = (p + 0.5) / (q - 0.5);
    return alo <= scale[1] * area && ahi >= scale[0] * area && rlo <= ratio[1] && rhi >= ratio[0];
}

TEST(views_crop_box_in_range) {
    const int sizes[][2] = {{28, 28}, {32, 32}, {9, 7}, {12, 40}};
    ViewsCfg cfgs[3] = {VIEWS_CFG_DEFAULT, VIEWS_CFG_DEFAULT, VIEWS_CFG_DEFAULT};
    cfgs[1].crop_scale[0] = 0.08;  // torchvision's
    cfgs[2].crop_scale[0] = 0.5, cfgs[2].crop_ratio[0] = 0.2, cfgs[2].crop_ratio[1] = 5;
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < 4; s++) {
            const ViewsCfg *cfg = &cfgs[k];
            int h = sizes[s][0], w = sizes[s][1], drawn = 0, bad = 0;
            for (int i = 0; i < 2000; i++) {
                Rng r = views_rng(7, k * 4 + s, i, 0);
                ViewsBox b;
                int d = views_crop_box(cfg, h, w, &r, &b);
                drawn += d;
                int inside = b.h >= 1 && b.w >= 1 && b.top >= 0 && b.left >= 0 &&
                             b.top + b.h <= h && b.left + b.w <= w;
                int ok =
                    d ? box_consistent(b.w, b.h, (double)h * w, cfg->crop_scale, cfg->crop_ratio)
                      : b.top == (h - b.h) / 2 && b.left == (w - b.w) / 2;
                if (!inside || !ok) {
                    if (bad++ < 3)
                        t_fail(__FILE__, __LINE__, "cfg %d, %dx%d: box (%d, %d, %dx%d) %s", k, h, w,
                               b.top, b.left, b.h, b.w,
                               !inside ? "outside the image" : "outside the ranges");
                }
            }
            T_CHECK(drawn >= 1500, "cfg %d, %dx%d: only %d of 2000 boxes drawn, not fallen back", k,
                    h, w, drawn);
        }
}

TEST(views_erase_box_in_range) {
    ViewsCfg cfg = VIEWS_CFG_DEFAULT;
    for (int s = 8; s <= 32; s += 12) {
        int found = 0;
        for (int i = 0; i < 2000; i++) {
            Rng r = views_rng(3, 0, i, s);
            ViewsBox b;
            if (!views_erase_box(&cfg, s, s, &r, &b)) continue;
            found++;
            T_CHECK(b.h >= 0 && b.w >= 0 && b.h < s && b.w < s && b.top >= 0 && b.left >= 0 &&
                        b.top + b.h <= s && b.left + b.w <= s,
                    "%dx%d: erase box (%d, %d, %dx%d)", s, s, b.top, b.left, b.h, b.w);
            // torchvision's erase box takes h from area * ratio and w from area / ratio
            T_CHECK(box_consistent(b.h, b.w, (double)s * s, cfg.erase_scale, cfg.erase_ratio),
                    "%dx%d: erase box %dx%d outside the ranges", s, s, b.h, b.w);
        }
        T_CHECK(found > 1900, "%dx%d: %d of 2000 erase boxes found", s, s, found);
    }
}

// ---------------------------------------------------------------- determinism

enum { N = 8, C = 3, H = 28, W = 28, S = 32 };
static const int64_t IDS[N] = {5, 900, 17, 3, 123456789012LL, 42, 0, 77};

static float *images(unsigned seed, float lo, float hi) {
    float *x = malloc(sizeof(float) * N * C * H * W);
    t_fill_uniform(x, (size_t)N * C * H * W, seed, lo, hi);
    return x;
}

static ViewsCfg busy_cfg(void) {  // every augmentation on, upscaling 28 -> 32
    ViewsCfg cfg = VIEWS_CFG_DEFAULT;
    cfg.out_hw = S;
    cfg.noise_std = 0.1;
    return cfg;
}

static const size_t IN = (size_t)C * H * W, OUT = (size_t)C * S * S;

TEST(views_deterministic) {
    ViewsCfg cfg = busy_cfg();
    float *x = images(1, -2, 2);
    float *a = malloc(sizeof(float) * N * OUT), *b = malloc(sizeof(float) * N * OUT);
    float *a2 = malloc(sizeof(float) * N * OUT), *b2 = malloc(sizeof(float) * N * OUT);
    views_make(&cfg, x, N, C, H, W, 11, 2, IDS, a, b);
    views_make(&cfg, x, N, C, H, W, 11, 2, IDS, a2, b2);
    T_CHECK(!memcmp(a, a2, sizeof(float) * N * OUT) && !memcmp(b, b2, sizeof(float) * N * OUT),
            "the same seed, epoch and ids gave other views");
    struct {
        uint64_t seed;
        int epoch;
        int64_t shift;
        const char *what;
    } other[] = {{11, 3, 0, "another epoch"}, {12, 2, 0, "another seed"}, {11, 2, 1, "other ids"}};
    for (int k = 0; k < 3; k++) {
        int64_t ids[N];
        for (int i = 0; i < N; i++) ids[i] = IDS[i] + other[k].shift;
        views_make(&cfg, x, N, C, H, W, other[k].seed, other[k].epoch, ids, a2, b2);
        for (int i = 0; i < N; i++)
            T_CHECK(memcmp(a + i * OUT, a2 + i * OUT, sizeof(float) * OUT) &&
                        memcmp(b + i * OUT, b2 + i * OUT, sizeof(float) * OUT),
                    "%s: image %d's views unchanged", other[k].what, i);
    }
    free(x), free(a), free(b), free(a2), free(b2);
}

// Image i's views are the same alone, at any position of a batch, split over 2 or 3 "ranks",
// and on 1 or 3 threads.
TEST(views_batch_invariant) {
    ViewsCfg cfg = busy_cfg();
    float *x = images(2, -2, 2);
    float *a = malloc(sizeof(float) * N * OUT), *b = malloc(sizeof(float) * N * OUT);
    float *a2 = malloc(sizeof(float) * N * OUT), *b2 = malloc(sizeof(float) * N * OUT);
    views_make(&cfg, x, N, C, H, W, 5, 1, IDS, a, b);
    for (int i = 0; i < N; i++) {  // alone
        views_make(&cfg, x + i * IN, 1, C, H, W, 5, 1, &IDS[i], a2, b2);
        T_CHECK(!memcmp(a + i * OUT, a2, sizeof(float) * OUT) &&
                    !memcmp(b + i * OUT, b2, sizeof(float) * OUT),
                "image %d alone: other views than in the batch", i);
    }
    // reversed: position N-1-i holds image i
    float *xr = malloc(sizeof(float) * N * IN);
    int64_t ids[N];
    for (int i = 0; i < N; i++) {
        memcpy(xr + (N - 1 - i) * IN, x + i * IN, sizeof(float) * IN);
        ids[N - 1 - i] = IDS[i];
    }
    views_make(&cfg, xr, N, C, H, W, 5, 1, ids, a2, b2);
    for (int i = 0; i < N; i++)
        T_CHECK(!memcmp(a + i * OUT, a2 + (N - 1 - i) * OUT, sizeof(float) * OUT) &&
                    !memcmp(b + i * OUT, b2 + (N - 1 - i) * OUT, sizeof(float) * OUT),
                "image %d at position %d: other views", i, N - 1 - i);
    for (int parts = 2; parts <= 3; parts++) {  // the loader's split of a global batch
        for (int p = 0; p < parts; p++) {
            int lo = p * N / parts, hi = (p + 1) * N / parts;
            views_make(&cfg, x + lo * IN, hi - lo, C, H, W, 5, 1, IDS + lo, a2 + lo * OUT,
                       b2 + lo * OUT);
        }
        T_CHECK(!memcmp(a, a2, sizeof(float) * N * OUT) && !memcmp(b, b2, sizeof(float) * N * OUT),
                "split over %d parts: other views", parts);
    }
    int saved = omp_get_max_threads();
    for (int t = 1; t <= 3; t += 2) {
        omp_set_num_threads(t);
        views_make(&cfg, x, N, C, H, W, 5, 1, IDS, a2, b2);
        T_CHECK(!memcmp(a, a2, sizeof(float) * N * OUT) && !memcmp(b, b2, sizeof(float) * N * OUT),
                "%d threads: other views", t);
    }
    omp_set_num_threads(saved);
    free(x), free(xr), free(a), free(b), free(a2), free(b2);
}

TEST(views_two_views_differ) {
    ViewsCfg cfg = VIEWS_CFG_DEFAULT;  // no noise: the crops alone must differ
    cfg.erase_p = 0;
    float *x = images(3, -2, 2);
    float *a = malloc(sizeof(float) * N * C * H * W), *b = malloc(sizeof(float) * N * C * H * W);
    views_make(&cfg, x, N, C, H, W, 9, 0, NULL, a, b);
    for (int i = 0; i < N; i++)
        T_CHECK(memcmp(a + i * IN, b + i * IN, sizeof(float) * IN), "image %d: equal views", i);
    free(x), free(a), free(b);
}

// ---------------------------------------------------------------- each augmentation

// views_one of cfg and of base (the same but one augmentation off) from the same stream.
static void pair(const ViewsCfg *cfg, const ViewsCfg *base, const float *x, int i, float *on,
                 float *off) {
    Rng r = views_rng(21, 4, i, i % 2);
    views_one(cfg, x, C, H, W, &r, on);
    views_one(base, x, C, H, W, &r, off);
}

TEST(views_flip_exact) {
    ViewsCfg cfg = busy_cfg(), base = busy_cfg();
    cfg.flip_p = 1, base.flip_p = 0;
    cfg.erase_p = base.erase_p = 0;  // the erase box is drawn after the flip, not mirrored
    float *x = images(4, -2, 2), *on = malloc(sizeof(float) * OUT),
          *off = malloc(sizeof(float) * OUT);
    cfg.noise_std = base.noise_std = 0;  // noise is drawn per pixel, after the flip
    int flips = 0;
    for (int i = 0; i < N; i++) {
        pair(&cfg, &base, x + i * IN, i, on, off);
        int bad = 0;
        for (int ch = 0; ch < C; ch++)
            for (int y = 0; y < S; y++)
                for (int k = 0; k < S; k++)
                    bad += on[(ch * S + y) * S + k] != off[(ch * S + y) * S + S - 1 - k];
        T_CHECK(bad == 0, "image %d: %d pixels not the mirror's", i, bad);
    }
    base.flip_p = 0.5;  // p = 0.5: some views flipped, some not
    for (int i = 0; i < 64; i++) {
        pair(&base, &cfg, x, i, off, on);
        flips += !memcmp(on, off, sizeof(float) * OUT);
    }
    T_CHECK(flips > 16 && flips < 48, "p = 0.5 flipped %d of 64 views", flips);
    free(x), free(on), free(off);
}

// With erasing on (p = 1), a view differs from the same view without it exactly on one
// rectangle, set to 0 in every channel, whose sides fit the erase ranges.
TEST(views_erase_rectangle) {
    ViewsCfg cfg = busy_cfg(), base = busy_cfg();
    cfg.noise_std = base.noise_std = 0;
    cfg.erase_p = 1, base.erase_p = 0;
    float *x = images(5, 1, 2);  // no zeros in the view
    float *on = malloc(sizeof(float) * OUT), *off = malloc(sizeof(float) * OUT);
    int erased = 0;
    for (int i = 0; i < 200; i++) {
        pair(&cfg, &base, x + (i % N) * IN, i, on, off);
        int y0 = S, y1 = -1, x0 = S, x1 = -1, changed = 0;
        for (int y = 0; y < S; y++)
            for (int k = 0; k < S; k++)
                if (on[y * S + k] != off[y * S + k]) {
                    y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
                    x0 = k < x0 ? k : x0, x1 = k > x1 ? k : x1;
                    changed++;
                }
        if (!changed) continue;
        erased++;
        int eh = y1 - y0 + 1, ew = x1 - x0 + 1, bad = 0;
        for (int ch = 0; ch < C; ch++)
            for (int y = 0; y < S; y++)
                for (int k = 0; k < S; k++) {
                    size_t at = ((size_t)ch * S + y) * S + k;
                    int in = y >= y0 && y <= y1 && k >= x0 && k <= x1;
                    bad += in ? on[at] != 0.0f : on[at] != off[at];
                }
        T_CHECK(bad == 0 && changed == eh * ew, "view %d: %d pixels off the %dx%d rectangle", i,
                bad, eh, ew);
        T_CHECK(box_consistent(eh, ew, (double)S * S, cfg.erase_scale, cfg.erase_ratio) && eh < S &&
                    ew < S,
                "view %d: erased %dx%d, outside the ranges", i, eh, ew);
    }
    T_CHECK(erased >= 190, "p = 1 erased %d of 200 views", erased);
    free(x), free(on), free(off);
}

TEST(views_noise_std) {
    ViewsCfg cfg = busy_cfg(), base = busy_cfg();
    cfg.noise_std = 0.25, base.noise_std = 0;
    float *x = images(6, -2, 2);
    float *on = malloc(sizeof(float) * OUT), *off = malloc(sizeof(float) * OUT);
    double s1 = 0, s2 = 0;
    long n = 0;
    for (int i = 0; i < 16; i++) {
        pair(&cfg, &base, x + (i % N) * IN, i, on, off);
        for (size_t k = 0; k < OUT; k++) {
            double d = (double)on[k] - off[k];
            s1 += d, s2 += d * d, n++;
        }
    }
    double mean = s1 / n, sd = sqrt(s2 / n - mean * mean);
    T_CHECK(fabs(mean) < 0.01, "noise mean %g over %ld pixels", mean, n);
    T_NEAR(sd, 0.25, 0, 0.02, "noise std over 49152 pixels");
    free(x), free(on), free(off);
}

TEST(views_defaults) {
    ViewsCfg cfg = VIEWS_CFG_DEFAULT;
    views_check(&cfg, 28, 28, "defaults");
    views_check(&cfg, 32, 32, "defaults");
    T_CHECK(views_out_hw(&cfg, 28) == 28, "out_hw 0 keeps the side: %d", views_out_hw(&cfg, 28));
    cfg.out_hw = 24;
    views_check(&cfg, 28, 20, "defaults");  // non-square input, square views
    T_CHECK(views_out_hw(&cfg, 28) == 24, "out_hw %d", views_out_hw(&cfg, 28));
    cfg.out_hw = 4, cfg.erase_p = 0;  // erase ranges too small for 4x4, but erasing is off
    views_check(&cfg, 28, 28, "defaults");
}

// ---------------------------------------------------------------- bad settings

typedef struct Bad {
    ViewsCfg cfg;
    int h, w;
} Bad;

static void run_check(void *arg) {
    Bad *b = arg;
    views_check(&b->cfg, b->h, b->w, "[ssl]");
}

TEST(views_check_rejects_bad_settings) {
    const ViewsCfg d = VIEWS_CFG_DEFAULT;
    struct {
        Bad b;
        const char *msg;
    } cases[32];
    int n = 0;
#define CASE(field_set, hh, ww, m)           \
    do {                                     \
        Bad b_ = {d, hh, ww};                \
        ViewsCfg *c_ = &b_.cfg;              \
        (void)c_;                            \
        field_set;                           \
        cases[n].b = b_, cases[n++].msg = m; \
    } while (0)
    CASE(c_->crop_scale[0] = 0, 28, 28, "[ssl].crop_scale = [0, 1]: want 0 < min <= max <= 1");
    CASE(c_->crop_scale[1] = 1.5, 28, 28,
         "[ssl].crop_scale = [0.2, 1.5]: want 0 < min <= max <= 1");
    CASE(c_->crop_scale[0] = NAN, 28, 28, "[ssl].crop_scale = [nan, 1]: want 0 < min");
    CASE((c_->crop_scale[0] = 0.8, c_->crop_scale[1] = 0.5), 28, 28,
         "[ssl].crop_scale = [0.8, 0.5]: the range is empty (min > max)");
    CASE(c_->crop_ratio[0] = 0, 28, 28,
         "[ssl].crop_ratio = [0, 1.33333]: want 0 < min <= max, both finite");
    CASE(c_->crop_ratio[0] = -1, 28, 28, "[ssl].crop_ratio = [-1, 1.33333]: want 0 < min");
    CASE(c_->crop_ratio[1] = INFINITY, 28, 28, "[ssl].crop_ratio = [0.75, inf]: want 0 < min");
    CASE((c_->crop_ratio[0] = 2, c_->crop_ratio[1] = 1), 28, 28,
         "[ssl].crop_ratio = [2, 1]: the range is empty (min > max)");
    // 0.0003 * 784 = 0.235 pixels: a side below half a pixel rounds to 0
    CASE(c_->crop_scale[0] = 0.0003, 28, 28,
         "[ssl].crop_scale min 0.0003 at 28x28 with crop_ratio [0.75, 1.33333] can draw an "
         "empty box");
    CASE(c_->crop_scale[0] = 0.01, 4, 4, "[ssl].crop_scale min 0.01 at 4x4");
    // 100x1 with ratio 3: every attempt is too wide, the fallback is round(1 / 3) = 0 rows
    CASE((c_->out_hw = 8, c_->crop_scale[0] = 1, c_->crop_ratio[0] = 3, c_->crop_ratio[1] = 3), 100,
         1, "[ssl].crop_ratio = [3, 3] at 100x1: the central fallback crop would be empty (0x1)");
    CASE(c_->flip_p = 1.5, 28, 28, "[ssl].flip_p = 1.5: a probability must lie in [0, 1]");
    CASE(c_->flip_p = -0.1, 28, 28, "[ssl].flip_p = -0.1: a probability must lie in [0, 1]");
    CASE(c_->flip_p = NAN, 28, 28, "[ssl].flip_p = nan: a probability must lie in [0, 1]");
    CASE(c_->erase_p = 2, 28, 28, "[ssl].erase_p = 2: a probability must lie in [0, 1]");
    CASE(c_->erase_scale[0] = 0, 28, 28, "[ssl].erase_scale = [0, 0.33]: want 0 < min <= max <= 1");
    CASE(c_->erase_scale[1] = 1.2, 28, 28,
         "[ssl].erase_scale = [0.02, 1.2]: want 0 < min <= max <= 1");
    CASE((c_->erase_scale[0] = 0.3, c_->erase_scale[1] = 0.1), 28, 28,
         "[ssl].erase_scale = [0.3, 0.1]: the range is empty (min > max)");
    CASE(c_->erase_ratio[0] = 0, 28, 28, "[ssl].erase_ratio = [0, 3.3]: want 0 < min");
    CASE((c_->erase_ratio[0] = 3.3, c_->erase_ratio[1] = 0.3), 28, 28,
         "[ssl].erase_ratio = [3.3, 0.3]: the range is empty (min > max)");
    // 0.02 * 16 * 0.3 = 0.096: an erase box on a 4x4 view can round to 0 pixels
    CASE(c_->out_hw = 4, 28, 28,
         "[ssl].erase_scale min 0.02 at 4x4 with erase_ratio [0.3, 3.3] can draw an empty box");
    CASE(c_->noise_std = -0.1, 28, 28, "[ssl].noise_std = -0.1: want >= 0");
    CASE(c_->noise_std = NAN, 28, 28, "[ssl].noise_std = nan: want >= 0");
    CASE(c_->out_hw = -1, 28, 28, "[ssl].out_hw = -1: want 0 (the input's side) or 1..65536");
    CASE((void)0, 28, 20,
         "[ssl].out_hw = 0 takes the input's side, but the input is 28x20 (not square)");
    CASE((void)0, 0, 28, "[ssl]: input images of 0x28");
#undef CASE
    for (int i = 0; i < n; i++) T_EXPECT_DEATH(run_check, &cases[i].b, cases[i].msg);
}

typedef struct BadMake {
    int n, epoch;
    ViewsBox box;
} BadMake;

static void run_make(void *arg) {
    BadMake *b = arg;
    ViewsCfg cfg = VIEWS_CFG_DEFAULT;
    float x[C * 12 * 12] = {0}, out[C * 12 * 12];
    if (b->box.h) {
        views_resize_bilinear(x, C, 12, 12, b->box, 12, 12, out);
        return;
    }
    views_make(&cfg, x, b->n, C, 12, 12, 1, b->epoch, NULL, out, out);
}

TEST(views_make_rejects_bad_input) {
    BadMake b = {-1, 0, {0}};
    T_EXPECT_DEATH(run_make, &b, "views: -1 images of 3 channels, epoch 0");
    b = (BadMake){1, -2, {0}};
    T_EXPECT_DEATH(run_make, &b, "views: 1 images of 3 channels, epoch -2");
    b = (BadMake){1, 0, {1, 0, 12, 12}};
    T_EXPECT_DEATH(run_make, &b, "views: box (top 1, left 0, 12x12) in a 12x12 image");
    b = (BadMake){1, 0, {0, 0, 3, 0}};
    T_EXPECT_DEATH(run_make, &b, "views: box (top 0, left 0, 3x0) in a 12x12 image");
}
