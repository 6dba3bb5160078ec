// Helpers of the GPU tests: the unit harness's TEST / T_CHECK / T_NEAR (tests/unit/harness.h,
// run by harness_gpu.c here), the two backends, tensors made on the CPU and copied to the
// GPU, and comparisons of a GPU result with the CPU backend's: |gpu - cpu| <= atol +
// rtol |cpu| per element, or a relative L2 error per tensor.
// GPU_TEST_VERBOSE=1 prints every comparison's worst error as a fraction of its tolerance.
#pragma once
#include <stddef.h>

#include "../unit/harness.h"
#include "tensor/ops.h"

const Backend *gpu(void);  // the CUDA backend under test (device DNA_TEST_DEVICE, default 0)
const Backend *cpu(void);

// host (CPU backend) tensors
Tensor h_rand(int n, int c, int h, int w, unsigned seed, float lo, float hi);
Tensor h_const(int n, int c, int h, int w, float v);
Tensor h_copy(const Tensor *t);
void h_free(Tensor *t);
// device tensors: a copy of a host tensor, or zeros
Tensor d_of(const Tensor *h);
Tensor d_zeros(int n, int c, int h, int w);
void d_free(Tensor *t);
// n floats of device memory as a fresh host array (caller frees)
float *d_read(const float *dev, size_t n);

// Compares device data with host reference data; returns the worst error / tolerance.
double t_same_at(const char *file, int line, const char *what, const float *dev, const float *ref,
                 size_t n, double atol, double rtol);
#define T_SAME(dev_t, ref_t, atol, rtol, what)                                                   \
    t_same_at(__FILE__, __LINE__, what, (dev_t)->data, (ref_t)->data, tensor_numel(ref_t), atol, \
              rtol)
#define T_SAME_F(dev, ref, n, atol, rtol, what) \
    t_same_at(__FILE__, __LINE__, what, dev, ref, n, atol, rtol)
// ||gpu - cpu||_2 <= tol ||cpu||_2 + floor sqrt(n), per tensor (for whole networks, where
// single near-zero elements carry no meaning; floor: the rms difference accepted where the
// true value is 0 and both backends return rounding noise)
double t_rel_l2_at(const char *file, int line, const char *what, const float *dev, const float *ref,
                   size_t n, double tol, double floor);
#define T_REL_L2(dev_t, ref_t, tol, floor, what)                                                  \
    t_rel_l2_at(__FILE__, __LINE__, what, (dev_t)->data, (ref_t)->data, tensor_numel(ref_t), tol, \
                floor)
// a scalar (loss): same rule as T_NEAR, also reported under GPU_TEST_VERBOSE
void t_same_scalar_at(const char *file, int line, const char *what, double got, double want,
                      double atol, double rtol);
#define T_SAME_SCALAR(got, want, atol, rtol, what) \
    t_same_scalar_at(__FILE__, __LINE__, what, got, want, atol, rtol)
