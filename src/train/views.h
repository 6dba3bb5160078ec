// Two-view augmentation for DNA++'s self-supervised co-training (issue 20): from a batch of
// normalised float images, two independently augmented views of each, by torchvision's recipe:
// RandomResizedCrop (get_params' 10 attempts, central fallback; bilinear, align_corners=False,
// no antialias), horizontal flip, RandomErasing (value 0, the normalised mean), Gaussian noise.
// A view is a function of (seed, epoch, image id, view index) alone: never of the batch it sits
// in, the rank split or the thread count. Host arrays only; no files, no config parsing.
//
// Defaults (VIEWS_CFG_DEFAULT), for the 28x28 / 32x32 images of this project:
//  - crop scale [0.2, 1], not torchvision's [0.08, 1]: 8% of a 28x28 image is a 8x8 patch
//    blown up 3.5x, too little of the object for the two views to share content. 0.2 is
//    MoCo v2's and SupContrast's CIFAR setting (a 12x12 patch at least on 28x28);
//  - crop ratio [3/4, 4/3], flip p 0.5: torchvision's;
//  - erasing p 0.5, scale [0.02, 0.33], ratio [0.3, 3.3], value 0: torchvision's RandomErasing.
//    Grayscale data has no colour to jitter; erasing is the photometric part of the recipe
//    (issue 20). On colour data it stays, as it does not hurt;
//  - noise std 0 (off): the images are normalised to unit std, so a std of 0.1 is 10% of it.
#pragma once
#include <stdint.h>

#include "core/rng.h"

typedef struct ViewsCfg {
    int out_hw;             // side of each square view; 0: the input's (square inputs only)
    double crop_scale[2];   // area fraction of the crop, 0 < min <= max <= 1
    double crop_ratio[2];   // width / height of the crop, drawn log-uniform, 0 < min <= max
    double flip_p;          // horizontal flip probability, [0, 1]
    double erase_p;         // random erasing probability, [0, 1]
    double erase_scale[2];  // erased area fraction of the view, 0 < min <= max <= 1
    double erase_ratio[2];  // height / width of the erased box (torchvision's), 0 < min <= max
    double noise_std;       // std of the Gaussian noise added last, >= 0 (0: off)
} ViewsCfg;

#define VIEWS_CFG_DEFAULT                             \
    ((ViewsCfg){.out_hw = 0,                          \
                .crop_scale = {0.2, 1.0},             \
                .crop_ratio = {3.0 / 4.0, 4.0 / 3.0}, \
                .flip_p = 0.5,                        \
                .erase_p = 0.5,                       \
                .erase_scale = {0.02, 0.33},          \
                .erase_ratio = {0.3, 3.3},            \
                .noise_std = 0.0})

// A box in an image: rows [top, top + h), columns [left, left + w).
typedef struct ViewsBox {
    int top, left, h, w;
} ViewsBox;

// Fatal (naming `what`.field and the rule) for every bad setting at input size h x w: a range
// that is empty, not finite or out of its bounds, a probability outside [0, 1], a negative
// noise std, out_hw < 0 or 0 with a non-square input, and a crop or erase range that can draw
// an empty (0-pixel) box: every (scale, ratio) in the ranges must round to at least 1x1.
void views_check(const ViewsCfg *cfg, int h, int w, const char *what);
// The side of the views made from h x w inputs (out_hw, or h when it is 0).
int views_out_hw(const ViewsCfg *cfg, int h);

// The stream of one view: seed -> epoch -> image id -> view (0 or 1), by rng_split.
Rng views_rng(uint64_t seed, int epoch, int64_t id, int view);
// RandomResizedCrop.get_params on an h x w image: up to 10 draws of (area fraction, log-uniform
// ratio), w = round(sqrt(area ratio)), h = round(sqrt(area / ratio)) (half to even, as
// Python's round), the first that fits placed uniformly; else the central fallback. Returns 1
// for a drawn box, 0 for the fallback.
int views_crop_box(const ViewsCfg *cfg, int h, int w, Rng *r, ViewsBox *box);
// RandomErasing.get_params on an h x w view: up to 10 draws (h from area * ratio, w from
// area / ratio, both < the view's sides); returns 1 with the box, 0 when none fits (no erasing).
int views_erase_box(const ViewsCfg *cfg, int h, int w, Rng *r, ViewsBox *box);
// torchvision's F.resized_crop(img, top, left, h, w, [oh, ow], antialias=False) on one image
// src [c, h, w] -> out [c, oh, ow]: bilinear, align_corners=False, PyTorch's float arithmetic.
// The box must lie inside the image (fatal otherwise).
void views_resize_bilinear(const float *src, int c, int h, int w, ViewsBox box, int oh, int ow,
                           float *out);
// One view of one image src [c, h, w] from its stream r (views_rng): crop and resize, flip,
// erase, noise; out [c, s, s], s = views_out_hw. Each step draws from its own child of r, so
// switching one augmentation on or off leaves the others' draws unchanged.
void views_one(const ViewsCfg *cfg, const float *src, int c, int h, int w, const Rng *r,
               float *out);
// Two views of each image: src [n, c, h, w] (normalised) -> out_a, out_b [n, c, s, s].
// ids[i] is image i's id in its dataset (NULL: i). Checks cfg (views_check); OpenMP over the
// 2n views, each written by one thread from its own stream, so any thread count gives the
// same bits.
void views_make(const ViewsCfg *cfg, const float *src, int n, int c, int h, int w, uint64_t seed,
                int epoch, const int64_t *ids, float *out_a, float *out_b);
