// The two-view augmentation behind views.h: torchvision's RandomResizedCrop, horizontal flip,
// RandomErasing and Gaussian noise on host float images. Every draw comes from a view's own
// stream (views_rng), split once more per augmentation, so no view reads another's state and
// the OpenMP loop over views needs no order. No allocation per pixel, no I/O.
#include "train/views.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"

// The first split under the seed: keeps the views' streams apart from any other stream a
// caller derives from the same seed (the loader's order and crop streams split 0 and 1).
#define VIEWS_DOMAIN 0x7669657773ull  // "views"
#define VIEWS_ATTEMPTS 10             // torchvision's, for both the crop and the erasing
#define VIEWS_MAX_SIDE 65536

enum { STREAM_CROP, STREAM_FLIP, STREAM_ERASE, STREAM_NOISE };

// Python's round(): half to even, which is rint's default rounding mode.
static int round_half_even(double x) {
    return (int)nearbyint(x);
}

// ---------------------------------------------------------------- settings

static void check_prob(double p, const char *what, const char *field) {
    DNA_CHECK(isfinite(p) && p >= 0.0 && p <= 1.0, "give a probability in [0, 1]",
              "%s.%s = %g: a probability must lie in [0, 1]", what, field, p);
}

// A range [min, max] with 0 < min and, when hi > 0, max <= hi.
static void check_range(const double r[2], double hi, const char *what, const char *field) {
    if (hi > 0)
        DNA_CHECK(isfinite(r[0]) && isfinite(r[1]) && r[0] > 0.0 && r[1] <= hi,
                  "give both ends in (0, 1]", "%s.%s = [%g, %g]: want 0 < min <= max <= %g", what,
                  field, r[0], r[1], hi);
    else
        DNA_CHECK(isfinite(r[0]) && isfinite(r[1]) && r[0] > 0.0, "give finite ends > 0",
                  "%s.%s = [%g, %g]: want 0 < min <= max, both finite", what, field, r[0], r[1]);
    DNA_CHECK(r[0] <= r[1], "give the range as [min, max]",
              "%s.%s = [%g, %g]: the range is empty (min > max)", what, field, r[0], r[1]);
}

// Every (area fraction, ratio) of the ranges on an h x w image rounds to sides >= 1 pixel:
// side = round(sqrt(a r)) and round(sqrt(a / r)), smallest at a = min and r at either end.
static void check_not_empty(const double scale[2], const double ratio[2], int h, int w,
                            const char *what, const char *field, const char *ratio_field) {
    double a = scale[0] * h * w;
    DNA_CHECK(a * ratio[0] > 0.25 && a / ratio[1] > 0.25,
              "raise the area's minimum or narrow the ratio range",
              "%s.%s min %g at %dx%d with %s [%g, %g] can draw an empty box (sides %.3g x %.3g "
              "pixels before rounding): every drawn side must round to 1 pixel or more",
              what, field, scale[0], h, w, ratio_field, ratio[0], ratio[1], sqrt(a / ratio[1]),
              sqrt(a * ratio[0]));
}

static ViewsBox fallback_box(const ViewsCfg *cfg, int h, int w) {
    double in_ratio = (double)w / (double)h;
    int ch = h, cw = w;
    if (in_ratio < cfg->crop_ratio[0])
        ch = round_half_even(w / cfg->crop_ratio[0]);
    else if (in_ratio > cfg->crop_ratio[1])
        cw = round_half_even(h * cfg->crop_ratio[1]);
    return (ViewsBox){(h - ch) / 2, (w - cw) / 2, ch, cw};
}

void views_check(const ViewsCfg *cfg, int h, int w, const char *what) {
    DNA_CHECK(h >= 1 && w >= 1 && h <= VIEWS_MAX_SIDE && w <= VIEWS_MAX_SIDE,
              "pass images of 1 to 65536 pixels a side", "%s: input images of %dx%d", what, h, w);
    DNA_CHECK(cfg->out_hw >= 0 && cfg->out_hw <= VIEWS_MAX_SIDE,
              "give a side of 1 to 65536, or 0 for the input's",
              "%s.out_hw = %d: want 0 (the input's side) or 1..65536", what, cfg->out_hw);
    DNA_CHECK(cfg->out_hw > 0 || h == w, "give out_hw for non-square inputs",
              "%s.out_hw = 0 takes the input's side, but the input is %dx%d (not square)", what, h,
              w);
    check_range(cfg->crop_scale, 1.0, what, "crop_scale");
    check_range(cfg->crop_ratio, 0.0, what, "crop_ratio");
    check_not_empty(cfg->crop_scale, cfg->crop_ratio, h, w, what, "crop_scale", "crop_ratio");
    ViewsBox fb = fallback_box(cfg, h, w);
    DNA_CHECK(fb.h >= 1 && fb.w >= 1, "widen crop_ratio towards the image's own ratio",
              "%s.crop_ratio = [%g, %g] at %dx%d: the central fallback crop would be empty (%dx%d)",
              what, cfg->crop_ratio[0], cfg->crop_ratio[1], h, w, fb.h, fb.w);
    check_prob(cfg->flip_p, what, "flip_p");
    check_prob(cfg->erase_p, what, "erase_p");
    check_range(cfg->erase_scale, 1.0, what, "erase_scale");
    check_range(cfg->erase_ratio, 0.0, what, "erase_ratio");
    if (cfg->erase_p > 0.0) {
        int s = views_out_hw(cfg, h);
        check_not_empty(cfg->erase_scale, cfg->erase_ratio, s, s, what, "erase_scale",
                        "erase_ratio");
    }
    DNA_CHECK(isfinite(cfg->noise_std) && cfg->noise_std >= 0.0,
              "give a finite std >= 0 (0: no noise)", "%s.noise_std = %g: want >= 0", what,
              cfg->noise_std);
}

int views_out_hw(const ViewsCfg *cfg, int h) {
    return cfg->out_hw > 0 ? cfg->out_hw : h;
}

// ---------------------------------------------------------------- draws

Rng views_rng(uint64_t seed, int epoch, int64_t id, int view) {
    Rng root = rng_new(seed);
    Rng dom = rng_split(&root, VIEWS_DOMAIN);
    Rng ep = rng_split(&dom, (uint64_t)epoch);
    Rng im = rng_split(&ep, (uint64_t)id);
    return rng_split(&im, (uint64_t)view);
}

// One (area, ratio) draw of get_params: area uniform in [lo, hi) * area, ratio log-uniform.
static void draw_area_ratio(Rng *r, const double scale[2], const double ratio[2], double area,
                            double *a, double *ar) {
    double lr0 = log(ratio[0]), lr1 = log(ratio[1]);
    *a = area * (scale[0] + (scale[1] - scale[0]) * rng_uniform_double(r));
    *ar = exp(lr0 + (lr1 - lr0) * rng_uniform_double(r));
}

int views_crop_box(const ViewsCfg *cfg, int h, int w, Rng *r, ViewsBox *box) {
    for (int t = 0; t < VIEWS_ATTEMPTS; t++) {
        double a, ar;
        draw_area_ratio(r, cfg->crop_scale, cfg->crop_ratio, (double)h * w, &a, &ar);
        int cw = round_half_even(sqrt(a * ar)), ch = round_half_even(sqrt(a / ar));
        if (0 < cw && cw <= w && 0 < ch && ch <= h) {
            box->h = ch, box->w = cw;
            box->top = (int)rng_below(r, (uint32_t)(h - ch + 1));
            box->left = (int)rng_below(r, (uint32_t)(w - cw + 1));
            return 1;
        }
    }
    *box = fallback_box(cfg, h, w);
    return 0;
}

int views_erase_box(const ViewsCfg *cfg, int h, int w, Rng *r, ViewsBox *box) {
    for (int t = 0; t < VIEWS_ATTEMPTS; t++) {
        double a, ar;
        draw_area_ratio(r, cfg->erase_scale, cfg->erase_ratio, (double)h * w, &a, &ar);
        int eh = round_half_even(sqrt(a * ar)), ew = round_half_even(sqrt(a / ar));
        if (!(eh < h && ew < w)) continue;
        box->h = eh, box->w = ew;
        box->top = (int)rng_below(r, (uint32_t)(h - eh + 1));
        box->left = (int)rng_below(r, (uint32_t)(w - ew + 1));
        return 1;
    }
    return 0;
}

// ---------------------------------------------------------------- resize

// One output index's two source taps along a dimension, as PyTorch's CPU upsample gives them
// for align_corners=False (measured on torch 1.13: these weights are its weights bit for bit):
// scale = in / out in float, src = scale (d + 0.5) - 0.5 without intermediate rounding,
// clamped at 0, the fraction rounded to float once. Equal sizes copy.
typedef struct Tap {
    int i0, i1;
    float l0, l1;
} Tap;

static Tap tap_at(int in, int out, int d) {
    if (in == out) return (Tap){d, d, 1.0f, 0.0f};
    float scale = (float)in / (float)out;
    double s = (double)scale * (d + 0.5) - 0.5;
    if (s < 0.0) s = 0.0;
    int i0 = (int)s;
    float l1 = fminf(fmaxf((float)(s - i0), 0.0f), 1.0f);
    return (Tap){i0, i0 + (i0 < in - 1), 1.0f - l1, l1};
}

void views_resize_bilinear(const float *src, int c, int h, int w, ViewsBox box, int oh, int ow,
                           float *out) {
    DNA_CHECK(box.h >= 1 && box.w >= 1 && box.top >= 0 && box.left >= 0 && box.top + box.h <= h &&
                  box.left + box.w <= w && oh >= 1 && ow >= 1,
              "crop a non-empty box inside the image",
              "views: box (top %d, left %d, %dx%d) in a %dx%d image, output %dx%d", box.top,
              box.left, box.h, box.w, h, w, oh, ow);
    Tap *tx = dna_malloc((size_t)ow * sizeof *tx);
    for (int x = 0; x < ow; x++) tx[x] = tap_at(box.w, ow, x);
    for (int ch = 0; ch < c; ch++) {
        const float *plane = src + (size_t)ch * h * w + (size_t)box.top * w + box.left;
        for (int y = 0; y < oh; y++) {
            Tap ty = tap_at(box.h, oh, y);
            const float *r0 = plane + (size_t)ty.i0 * w, *r1 = plane + (size_t)ty.i1 * w;
            float *o = out + ((size_t)ch * oh + y) * ow;
            for (int x = 0; x < ow; x++) {
                const Tap *t = &tx[x];
                // PyTorch's NCHW kernel: columns inside, rows outside, each a0 w0 + a1 w1
                // with the first product fused (bitwise equal on several channels; one
                // channel takes its channels-last kernel, which rounds otherwise)
                float top = fmaf(r0[t->i0], t->l0, r0[t->i1] * t->l1);
                float bot = fmaf(r1[t->i0], t->l0, r1[t->i1] * t->l1);
                o[x] = fmaf(top, ty.l0, bot * ty.l1);
            }
        }
    }
    free(tx);
}

// ---------------------------------------------------------------- one view

static void flip_rows(float *x, int c, int s) {
    for (long row = 0; row < (long)c * s; row++) {
        float *p = x + row * s;
        for (int i = 0, j = s - 1; i < j; i++, j--) {
            float t = p[i];
            p[i] = p[j], p[j] = t;
        }
    }
}

static void erase_box(float *x, int c, int s, ViewsBox b) {
    for (int ch = 0; ch < c; ch++)
        for (int y = b.top; y < b.top + b.h; y++)
            for (int i = b.left; i < b.left + b.w; i++) x[((size_t)ch * s + y) * s + i] = 0.0f;
}

void views_one(const ViewsCfg *cfg, const float *src, int c, int h, int w, const Rng *r,
               float *out) {
    int s = views_out_hw(cfg, h);
    Rng rc = rng_split(r, STREAM_CROP), rf = rng_split(r, STREAM_FLIP);
    Rng re = rng_split(r, STREAM_ERASE), rn = rng_split(r, STREAM_NOISE);
    ViewsBox b;
    views_crop_box(cfg, h, w, &rc, &b);
    views_resize_bilinear(src, c, h, w, b, s, s, out);
    if (rng_uniform_double(&rf) < cfg->flip_p) flip_rows(out, c, s);
    ViewsBox e;
    if (rng_uniform_double(&re) < cfg->erase_p && views_erase_box(cfg, s, s, &re, &e))
        erase_box(out, c, s, e);
    if (cfg->noise_std > 0.0) {
        size_t n = (size_t)c * s * s;
        for (size_t i = 0; i < n; i++) out[i] += (float)(cfg->noise_std * rng_normal(&rn));
    }
}

void views_make(const ViewsCfg *cfg, const float *src, int n, int c, int h, int w, uint64_t seed,
                int epoch, const int64_t *ids, float *out_a, float *out_b) {
    views_check(cfg, h, w, "views");
    DNA_CHECK(n >= 0 && c >= 1 && epoch >= 0, "pass n >= 0 images of c >= 1 channels, epoch >= 0",
              "views: %d images of %d channels, epoch %d", n, c, epoch);
    int s = views_out_hw(cfg, h);
    size_t in = (size_t)c * h * w, out = (size_t)c * s * s;
    // Each iteration writes one view from its own stream: no shared state, any schedule.
#pragma omp parallel for schedule(static) if (n > 1)
    for (long k = 0; k < 2L * n; k++) {
        long i = k / 2;
        int v = (int)(k % 2);
        Rng r = views_rng(seed, epoch, ids ? ids[i] : i, v);
        views_one(cfg, src + (size_t)i * in, c, h, w, &r, (v ? out_b : out_a) + (size_t)i * out);
    }
}
