// Finite-difference gradient checking for the unit tests. A test wraps its forward pass in
// a GcLoss that returns a scalar L (usually sum_i r_i * out_i for fixed random r, summed in
// double, so that the analytic gradient is the op's backward with dy = r), and compares
// the backward's gradient with a numeric one on a random subset of coordinates.
//
// Numeric gradient: Richardson-extrapolated central differences,
//   D(h) = (L(x + h e_j) - L(x - h e_j)) / 2h,   num = (4 D(h) - D(2h)) / 3,
// which is the 4-point stencil with truncation error O(h^4) (exact for the multilinear ops,
// tiny for BN / swish / softmax at h = 2^-7). The steps actually taken are read back from
// the float data, so rounding of x +- h does not bias the quotient. The remaining error is
// float rounding of the forward pass, ~1e-7 * |L| / h, far below the tolerances used.
// Why the extrapolation matters: a conv weight in front of train-mode BN can be small next
// to h (BN makes L depend on w / |w|), and plain central differences at h = 2^-7 are then
// off by 15% where the 4-point stencil is within 0.3%.
//
// Environment: GRADCHECK_VERBOSE=1 prints each check's worst error and its ratio to the
// tolerance; GRADCHECK_ALL=1 checks every coordinate instead of a sample.
#pragma once
#include <stddef.h>

typedef double (*GcLoss)(void *ctx);

typedef struct GcOpts {
    double h;           // step (a power of two keeps x +- h exact for |x| < 2^16 * h)
    double atol, rtol;  // pass when |num - ana| <= atol + rtol * |ana|
    int samples;        // coordinates checked (all of them when the tensor is smaller)
    unsigned seed;      // picks the coordinates
    int quiet;          // 1: only count mismatches, record no failure (checker self-tests)
} GcOpts;

// h = 2^-7, atol 1e-3, rtol 1e-2, 24 samples: see test_grad.c for why these catch bugs.
GcOpts gc_opts(unsigned seed);

// Checks dL/dx against ana at sampled coordinates of x[0..n) (x is perturbed in place and
// restored bit-exactly). Returns the number of mismatching coordinates; unless quiet, each
// of the first few becomes a test failure naming `what`, the index, numeric and analytic.
int gc_check_at(const char *file, int line, const char *what, GcLoss f, void *ctx, float *x,
                size_t n, const float *ana, GcOpts o);
#define GC_CHECK(what, f, ctx, x, n, ana, opts) \
    gc_check_at(__FILE__, __LINE__, what, f, ctx, x, n, ana, opts)

// sum_i r_i * y_i in double
double gc_dot(const float *r, const float *y, size_t n);
