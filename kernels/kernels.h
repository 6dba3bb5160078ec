// Host launchers of the CUDA kernels (kernels/*.cu), callable from C: each enqueues its
// kernels on the given stream and returns cudaGetLastError(), which the caller checks with
// CUDA_CHECK (src/backend/cuda/cuda.h). Pointers are device memory unless a comment says
// otherwise; tensors are NCHW float32. Semantics are those of the op interface
// (src/tensor/ops.h) and of the CPU backend, which is the reference.
#pragma once
#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Activation codes: the values of Act in src/tensor/ops.h (checked there at compile time).
enum { DK_ACT_NONE = 0, DK_ACT_RELU = 1, DK_ACT_SWISH = 2, DK_ACT_SIGMOID = 3, DK_ACT_GELU = 4 };

// ---------------------------------------------------------------- elementwise.cu
cudaError_t dk_fill(float *dst, float v, size_t n, cudaStream_t s);
cudaError_t dk_act_fwd(int act, const float *x, float *y, size_t n, cudaStream_t s);
// dx = dy * act'(x); dx may alias dy or x
cudaError_t dk_act_bwd(int act, const float *x, const float *dy, float *dx, size_t n,
                       cudaStream_t s);
cudaError_t dk_add(const float *a, const float *b, float *y, size_t n, cudaStream_t s);
cudaError_t dk_axpy(float alpha, const float *x, float *y, size_t n, cudaStream_t s);
// y [rows, cols] += b [cols] (a linear layer's bias)
cudaError_t dk_add_bias_rows(float *y, const float *b, int rows, int cols, cudaStream_t s);
// db [cols] += sum over rows of dy [rows, cols]
cudaError_t dk_sum_rows_acc(const float *dy, float *db, int rows, int cols, cudaStream_t s);
// SE gate over planes of hw values: y = x * g[plane]; y may alias x
cudaError_t dk_scale_ch_fwd(const float *x, const float *g, float *y, size_t planes, int hw,
                            cudaStream_t s);
// dg[plane] = sum dy * x (overwritten; dg may be NULL), dx = dy * g[plane] (overwritten; dx
// may be NULL and may alias x or dy)
cudaError_t dk_scale_ch_bwd(const float *x, const float *g, const float *dy, float *dx, float *dg,
                            size_t planes, int hw, cudaStream_t s);

// ---------------------------------------------------------------- pool.cu
// y[plane] = mean of the plane's hw values
cudaError_t dk_gap_fwd(const float *x, float *y, size_t planes, int hw, cudaStream_t s);
// dx[plane, i] += dy[plane] / hw
cudaError_t dk_gap_bwd(const float *dy, float *dx, size_t planes, int hw, cudaStream_t s);

// ---------------------------------------------------------------- bn.cu
// How the per-channel reductions of a [N, C, HW] tensor are split over thread blocks: P
// blocks per channel write P partial sums (in double) per quantity, which a second kernel
// adds in a fixed order, so results do not depend on scheduling.
typedef struct DkBnPlan {
    int n, c, hw;
    int groups, lanes;  // planes one block reads at a time, threads per plane
    int pn, pi;         // blocks over planes, blocks within a plane
    int parts;          // pn * pi
} DkBnPlan;
DkBnPlan dk_bn_plan(int n, int c, int hw, int sms);
// Scratch (device) a plan's forward or backward needs, in bytes: 8-byte aligned.
size_t dk_bn_scratch_bytes(const DkBnPlan *p);

// sum[c] = sum of x over channel c (double). scratch: dk_bn_scratch_bytes.
cudaError_t dk_bn_sum(const DkBnPlan *p, const float *x, double *sum, void *scratch,
                      cudaStream_t s);
// sq[c] = sum of (x - mu_c)^2 with mu_c = (float)(sum[c] / m), the float deviation squared
// in float and added in double, as the CPU backend does.
cudaError_t dk_bn_sq(const DkBnPlan *p, const float *x, const double *sum, double m, double *sq,
                     void *scratch, cudaStream_t s);
// From the moments over m values: mean/invstd (each may be NULL), running stats (may be
// NULL; running var gets the unbiased variance), and scale/shift [c] for dk_bn_apply.
cudaError_t dk_bn_finish(int c, const double *sum, const double *sq, double m, const float *gamma,
                         const float *beta, float *mean, float *invstd, float *run_mean,
                         float *run_var, float momentum, float eps, float *scale, float *shift,
                         cudaStream_t s);
// scale/shift [c] from running statistics (eval mode)
cudaError_t dk_bn_eval_coef(int c, const float *gamma, const float *beta, const float *run_mean,
                            const float *run_var, float eps, float *scale, float *shift,
                            cudaStream_t s);
// y = act(x * scale[c] + shift[c]); y may alias x
cudaError_t dk_bn_apply(const DkBnPlan *p, const float *x, const float *scale, const float *shift,
                        float *y, int act, cudaStream_t s);
// Backward pass 1: with dz = dy * act'(z) (z recomputed from x and the saved statistics),
// sums[c] = sum dz and sums[C + c] = invstd_c * sum dz (x - mean_c); dgamma[c] += sums[C + c]
// and dbeta[c] += sums[c] when not NULL (this rank's share, before any group sum).
cudaError_t dk_bn_bwd_sums(const DkBnPlan *p, const float *x, const float *dy, const float *gamma,
                           const float *beta, const float *mean, const float *invstd, int act,
                           double *sums, float *dgamma, float *dbeta, void *scratch,
                           cudaStream_t s);
// Pass 2: dx = gamma invstd (dz - sums[c]/m - xhat sums[C+c]/m), overwritten. dx may alias dy.
cudaError_t dk_bn_bwd_apply(const DkBnPlan *p, const float *x, const float *dy, const float *gamma,
                            const float *beta, const float *mean, const float *invstd, int act,
                            const double *sums, double m, float *dx, cudaStream_t s);

// ---------------------------------------------------------------- loss.cu
// Reductions leave one double per block in part[0, blocks) (part[blocks, 2 blocks) for the
// second quantity); the host adds them in order. dk_loss_blocks(n) is the block count.
int dk_loss_blocks(size_t n, int sms);
// part: sum of (float)(a-b)^2; d = k (a - b) unless d is NULL
cudaError_t dk_mse(const float *a, const float *b, float *d, float k, size_t n, int blocks,
                   double *part, cudaStream_t s);
// part: sum of b, then sum of |a - b| (both in double)
cudaError_t dk_rel_l1_sums(const float *a, const float *b, size_t n, int blocks, double *part,
                           cudaStream_t s);
// part: sum of (b - mu)^2 in double
cudaError_t dk_sq_dev(const float *b, double mu, size_t n, int blocks, double *part,
                      cudaStream_t s);
// Per row n of logits [rows, k]: loss[n] (label-smoothed cross-entropy), hit[n] (1 when the
// first arg max is the label, 0 otherwise, 2 when the label lies outside [0, k)); dlogits =
// (softmax - target) / rows unless NULL.
cudaError_t dk_softmax_ce(const float *logits, const int32_t *labels, int rows, int k,
                          float smoothing, float *dlogits, double *loss, int32_t *hit,
                          cudaStream_t s);

// ---------------------------------------------------------------- optim.cu
// PyTorch's SGD; mom is read only when momentum != 0
cudaError_t dk_sgd(float *p, const float *g, float *mom, size_t n, float lr, float momentum,
                   float wd, int nesterov, cudaStream_t s);
// Adam/AdamW with bias corrections precomputed on the host: p = p shrink - step_size m /
// (sqrt(v) rbc2 + eps), the gradient plus l2 p
cudaError_t dk_adam(float *p, const float *g, float *m, float *v, size_t n, float beta1,
                    float beta2, float eps, float l2, float shrink, float step_size, float rbc2,
                    cudaStream_t s);
// PyTorch's RMSprop; buf may be NULL (no momentum)
cudaError_t dk_rmsprop(float *p, const float *g, float *sq, float *buf, size_t n, float lr,
                       float alpha, float eps, float wd, float momentum, cudaStream_t s);

// ---------------------------------------------------------------- vit.cu
// LayerNorm over rows of d values: y = (x - mean) invstd gamma + beta; mean/invstd [rows]
// written when not NULL; y NULL: statistics only. Per-row sums in double.
cudaError_t dk_layernorm_fwd(const float *x, const float *gamma, const float *beta, float *y,
                             float *mean, float *invstd, size_t rows, int d, float eps,
                             cudaStream_t s);
// dx = invstd (g dy - mean(g dy) - xhat mean(g dy xhat)) per row (overwritten; may alias dy
// or x)
cudaError_t dk_layernorm_bwd_dx(const float *x, const float *gamma, const float *mean,
                                const float *invstd, const float *dy, float *dx, size_t rows, int d,
                                cudaStream_t s);
// Column sums of a [rows, cols]: acc0[j] += sum of a[., j]; acc1[j] += sum of a[r, j] (x[r, j]
// - mean[r]) invstd[r] (LayerNorm's dbeta and dgamma; x/mean/invstd read only with acc1).
// Either acc may be NULL. Partial sums per chunk of rows in double, added in a fixed order.
// scratch: dk_col_sums_scratch_bytes(rows, cols), 8-byte aligned.
size_t dk_col_sums_scratch_bytes(int rows, int cols);
cudaError_t dk_col_sums_acc(const float *a, const float *x, const float *mean, const float *invstd,
                            int rows, int cols, float *acc0, float *acc1, void *scratch,
                            cudaStream_t s);
// In place softmax over rows of t values, the row's maximum subtracted; row r lies at
// p + (r / t) stride + (r % t) t (t rows per image, images stride floats apart).
cudaError_t dk_softmax_rows(float *p, size_t rows, int t, size_t stride, cudaStream_t s);
// Softmax backward in place on dp: dp = p (dp - sum over the row of dp p); rows laid out as
// dk_softmax_rows's, p's images pstride floats apart, dp's dstride.
cudaError_t dk_softmax_bwd_rows(const float *p, size_t pstride, float *dp, size_t dstride,
                                size_t rows, int t, cudaStream_t s);
// y [n, b, a] = x [n, a, b] per image; y must not overlap x
cudaError_t dk_transpose(const float *x, float *y, int n, int a, int b, cudaStream_t s);
// y[i] = x[i] + b[i % per] over n values; y may alias x
cudaError_t dk_bcast_add(const float *x, const float *b, float *y, size_t n, size_t per,
                         cudaStream_t s);
// dst[r ldd + c] = src[r lds + c] (acc 0) or += it (acc 1) for r < rows, c < cols; src and
// dst do not overlap
cudaError_t dk_copy2d(float *dst, int ldd, const float *src, int lds, int rows, int cols, int acc,
                      cudaStream_t s);

#ifdef __cplusplus
}
#endif
