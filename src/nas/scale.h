// EfficientNet compound scaling of an architecture (Tan & Le 2019; DNA+ scales a searched
// network the same way): widths x width, depths x depth, input size := resolution, with the
// rounding torchvision and timm use, so that B0 scaled by torchvision's coefficients is
// exactly torchvision's B1..B7 (tests/unit/test_scale.c). Pure computation.
#pragma once
#include "nas/arch.h"

// Coefficients `dna scale` accepts: width and depth in (0, SCALE_MAX_COEF] (B7 is 2.0 x 3.1),
// a resolution of 0 (keep the input size) or SCALE_MIN_HW..SCALE_MAX_HW (arch.json's range).
#define SCALE_MAX_COEF 8.0
#define SCALE_MIN_HW 8
#define SCALE_MAX_HW 4096

typedef struct ScaleCoef {
    double width, depth;
    int resolution;  // 0: keep in_hw
} ScaleCoef;

// channels x w rounded as torchvision's and timm's _make_divisible(v, 8): to the nearest
// multiple of 8, at least 8, plus 8 when that fell below 90% of v.
int scale_width(double channels, double w);
// timm's _scale_stage_depth in ceil mode: a block of n runs of identical layers (runs[i]
// layers each) gets ceil(sum x d) layers, handed out from the last run backwards, each run
// round(its share of what is left) (half to even, as Python rounds) and at least 1. Writes
// out[0..n-1] and returns their sum (more than the ceil when d < 1 leaves a run below 1).
int scale_depth_runs(const int *runs, int n, double d, int *out);
// `in` scaled: every block width, the stem and the head x width (scale_width); each block's
// layers by scale_depth_runs over its runs of identical consecutive layers (a one-run block
// gets ceil(depth x D) copies of its op); in_hw := resolution when > 0; score NAN; cell and
// code kept from `in` (provenance only: the code no longer decodes to the layers). The
// coefficients must be valid (above); fatal, naming the block, when a block would exceed
// CELL_MAX_LAYERS layers, or the network the limits of effnet.h.
void arch_scale(const Arch *in, ScaleCoef c, Arch *out);
