// Batch norm with a fused activation: per-channel moments (two passes, double sums over a
// fixed split of the channel, DkBnPlan), running statistics, normalise + activate, and the
// backward from the saved mean/invstd with the pre-activation recomputed. Formulas and
// rounding steps follow src/backend/cpu/cpu_bn.c; the host (src/backend/cuda/cuda_bn.c)
// sequences the passes and, for synchronised BN, sums the moments over the rank group
// between them.
#include "common.cuh"

// Calls f(j) for every element index j of channel c that block `part` covers.
template <class F>
__device__ __forceinline__ void chan_loop(const DkBnPlan &p, int c, int part, F f) {
    int pn = part / p.pi, pi = part % p.pi;
    int g = threadIdx.x / p.lanes, l = threadIdx.x % p.lanes;
    if (g >= p.groups) return;
    for (int n = pn * p.groups + g; n < p.n; n += p.pn * p.groups) {
        size_t base = ((size_t)n * p.c + c) * p.hw;
        for (int i = pi * p.lanes + l; i < p.hw; i += p.pi * p.lanes) f(base + i);
    }
}

// grid (parts, C): part[c * parts + q] = sum of x over block q's share of channel c
__global__ void k_bn_sum(DkBnPlan p, const float *x, double *part) {
    int c = blockIdx.y, q = blockIdx.x;
    double s = 0.0;
    chan_loop(p, c, q, [&](size_t j) { s += (double)x[j]; });
    s = dk_block_sum(s);
    if (threadIdx.x == 0) part[(size_t)c * p.parts + q] = s;
}

__global__ void k_bn_sq(DkBnPlan p, const float *x, const double *sum, double m, double *part) {
    int c = blockIdx.y, q = blockIdx.x;
    float mu = (float)(sum[c] / m);
    double s = 0.0;
    chan_loop(p, c, q, [&](size_t j) {
        float d = x[j] - mu;
        s += (double)(d * d);
    });
    s = dk_block_sum(s);
    if (threadIdx.x == 0) part[(size_t)c * p.parts + q] = s;
}

// out[t] = sum over q of part[t * parts + q], in order
__global__ void k_reduce_parts(const double *part, int parts, int count, double *out) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count) return;
    double s = 0.0;
    for (int q = 0; q < parts; q++) s += part[(size_t)t * parts + q];
    out[t] = s;
}

__global__ void k_bn_finish(int C, const double *sum, const double *sq, double m,
                            const float *gamma, const float *beta, float *mean, float *invstd,
                            float *run_mean, float *run_var, float momentum, float eps,
                            float *scale, float *shift) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double mu = sum[c] / m, var = sq[c] / m;
    float is = (float)(1.0 / sqrt(var + eps));
    if (mean) mean[c] = (float)mu;
    if (invstd) invstd[c] = is;
    if (run_mean) run_mean[c] = (float)((1.0 - momentum) * run_mean[c] + momentum * mu);
    if (run_var)
        run_var[c] =
            (float)((1.0 - momentum) * run_var[c] + momentum * (m > 1 ? var * m / (m - 1) : var));
    float sc = gamma[c] * is;
    scale[c] = sc;
    shift[c] = beta[c] - (float)mu * sc;
}

__global__ void k_bn_eval_coef(int C, const float *gamma, const float *beta, const float *run_mean,
                               const float *run_var, float eps, float *scale, float *shift) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float sc = gamma[c] / sqrtf(run_var[c] + eps);
    scale[c] = sc;
    shift[c] = beta[c] - run_mean[c] * sc;
}

__global__ void k_bn_apply(DkBnPlan p, const float *x, const float *scale, const float *shift,
                           float *y, int act) {
    size_t planes = (size_t)p.n * p.c;
    DK_PLANE_LOOP(pl, planes) {
        int c = (int)(pl % (size_t)p.c);
        float sc = scale[c], sh = shift[c];
        const float *xp = x + pl * p.hw;
        float *yp = y + pl * p.hw;
        DK_IN_PLANE_LOOP(i, p.hw) yp[i] = dk_act(act, xp[i] * sc + sh);
    }
}

// dz = dy * act'(z), z = x * scale + shift (the forward's pre-activation)
__device__ __forceinline__ float bn_dz(int act, float x, float dy, float sc, float sh) {
    return act == DK_ACT_NONE ? dy : dy * dk_act_grad(act, x * sc + sh);
}

// part[c * parts + q] = sum dz, part[(C + c) * parts + q] = sum dz (x - mean)
__global__ void k_bn_bwd_sums(DkBnPlan p, const float *x, const float *dy, const float *gamma,
                              const float *beta, const float *mean, const float *invstd, int act,
                              double *part) {
    int c = blockIdx.y, q = blockIdx.x;
    float mu = mean[c], is = invstd[c], sc = gamma[c] * is, sh = beta[c] - mu * sc;
    double a = 0.0, b = 0.0;
    chan_loop(p, c, q, [&](size_t j) {
        float xv = x[j], dz = bn_dz(act, xv, dy[j], sc, sh);
        a += (double)dz;
        b += (double)(dz * (xv - mu));
    });
    a = dk_block_sum(a);
    b = dk_block_sum(b);
    if (threadIdx.x == 0) {
        part[(size_t)c * p.parts + q] = a;
        part[((size_t)p.c + c) * p.parts + q] = b;
    }
}

__global__ void k_bn_bwd_reduce(int C, int parts, const double *part, const float *invstd,
                                double *sums, float *dgamma, float *dbeta) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double a = 0.0, b = 0.0;
    for (int q = 0; q < parts; q++) {
        a += part[(size_t)c * parts + q];
        b += part[((size_t)C + c) * parts + q];
    }
    b *= invstd[c];
    sums[c] = a;
    sums[C + c] = b;
    if (dgamma) dgamma[c] += (float)b;
    if (dbeta) dbeta[c] += (float)a;
}

__global__ void k_bn_bwd_apply(DkBnPlan p, const float *x, const float *dy, const float *gamma,
                               const float *beta, const float *mean, const float *invstd, int act,
                               const double *sums, double m, float *dx) {
    size_t planes = (size_t)p.n * p.c;
    DK_PLANE_LOOP(pl, planes) {
        int c = (int)(pl % (size_t)p.c);
        float mu = mean[c], is = invstd[c], k = gamma[c] * is, sh = beta[c] - mu * k;
        float m1 = (float)(sums[c] / m), m2 = (float)(sums[p.c + c] / m);
        const float *xp = x + pl * p.hw, *gp = dy + pl * p.hw;
        float *dp = dx + pl * p.hw;
        DK_IN_PLANE_LOOP(i, p.hw) {
            float xv = xp[i], dz = bn_dz(act, xv, gp[i], k, sh);
            dp[i] = k * (dz - m1 - (xv - mu) * is * m2);
        }
    }
}

static unsigned per_channel_blocks(int C) {
    return (unsigned)((C + DK_BLOCK - 1) / DK_BLOCK);
}

extern "C" {

DkBnPlan dk_bn_plan(int n, int c, int hw, int sms) {
    DkBnPlan p = {n, c, hw, 1, DK_BLOCK, 1, 1, 1};
    int h = hw > 0 ? hw : 1;
    if (h < DK_BLOCK) p.lanes = h, p.groups = DK_BLOCK / h;
    // blocks per channel so that all channels together give about 4 blocks per SM
    long target = (4L * (sms > 0 ? sms : 1) + c - 1) / (c > 0 ? c : 1);
    if (target > 1024) target = 1024;
    // split a plane only when it is large: at least 4 elements per thread
    long pi = h >= DK_BLOCK ? (h + 4L * DK_BLOCK - 1) / (4L * DK_BLOCK) : 1;
    if (pi > target) pi = target;
    long steps = (n + p.groups - 1) / p.groups, pn = target / pi;
    if (pn > steps) pn = steps;
    if (pn < 1) pn = 1;
    p.pi = (int)pi, p.pn = (int)pn, p.parts = (int)(pi * pn);
    return p;
}

size_t dk_bn_scratch_bytes(const DkBnPlan *p) {
    return 2 * sizeof(double) * (size_t)p->c * (size_t)p->parts;
}

cudaError_t dk_bn_sum(const DkBnPlan *p, const float *x, double *sum, void *scratch,
                      cudaStream_t s) {
    double *part = (double *)scratch;
    k_bn_sum<<<dim3(p->parts, p->c), DK_BLOCK, 0, s>>>(*p, x, part);
    k_reduce_parts<<<per_channel_blocks(p->c), DK_BLOCK, 0, s>>>(part, p->parts, p->c, sum);
    return cudaGetLastError();
}

cudaError_t dk_bn_sq(const DkBnPlan *p, const float *x, const double *sum, double m, double *sq,
                     void *scratch, cudaStream_t s) {
    double *part = (double *)scratch;
    k_bn_sq<<<dim3(p->parts, p->c), DK_BLOCK, 0, s>>>(*p, x, sum, m, part);
    k_reduce_parts<<<per_channel_blocks(p->c), DK_BLOCK, 0, s>>>(part, p->parts, p->c, sq);
    return cudaGetLastError();
}

cudaError_t dk_bn_finish(int c, const double *sum, const double *sq, double m, const float *gamma,
                         const float *beta, float *mean, float *invstd, float *run_mean,
                         float *run_var, float momentum, float eps, float *scale, float *shift,
                         cudaStream_t s) {
    k_bn_finish<<<per_channel_blocks(c), DK_BLOCK, 0, s>>>(
        c, sum, sq, m, gamma, beta, mean, invstd, run_mean, run_var, momentum, eps, scale, shift);
    return cudaGetLastError();
}

cudaError_t dk_bn_eval_coef(int c, const float *gamma, const float *beta, const float *run_mean,
                            const float *run_var, float eps, float *scale, float *shift,
                            cudaStream_t s) {
    k_bn_eval_coef<<<per_channel_blocks(c), DK_BLOCK, 0, s>>>(c, gamma, beta, run_mean, run_var,
                                                              eps, scale, shift);
    return cudaGetLastError();
}

cudaError_t dk_bn_apply(const DkBnPlan *p, const float *x, const float *scale, const float *shift,
                        float *y, int act, cudaStream_t s) {
    DkPlaneGrid pg = dk_plane_grid((size_t)p->n * p->c, p->hw);
    k_bn_apply<<<pg.grid, pg.block, 0, s>>>(*p, x, scale, shift, y, act);
    return cudaGetLastError();
}

cudaError_t dk_bn_bwd_sums(const DkBnPlan *p, const float *x, const float *dy, const float *gamma,
                           const float *beta, const float *mean, const float *invstd, int act,
                           double *sums, float *dgamma, float *dbeta, void *scratch,
                           cudaStream_t s) {
    double *part = (double *)scratch;
    k_bn_bwd_sums<<<dim3(p->parts, p->c), DK_BLOCK, 0, s>>>(*p, x, dy, gamma, beta, mean, invstd,
                                                            act, part);
    k_bn_bwd_reduce<<<per_channel_blocks(p->c), DK_BLOCK, 0, s>>>(p->c, p->parts, part, invstd,
                                                                  sums, dgamma, dbeta);
    return cudaGetLastError();
}

cudaError_t dk_bn_bwd_apply(const DkBnPlan *p, const float *x, const float *dy, const float *gamma,
                            const float *beta, const float *mean, const float *invstd, int act,
                            const double *sums, double m, float *dx, cudaStream_t s) {
    DkPlaneGrid pg = dk_plane_grid((size_t)p->n * p->c, p->hw);
    k_bn_bwd_apply<<<pg.grid, pg.block, 0, s>>>(*p, x, dy, gamma, beta, mean, invstd, act, sums, m,
                                                dx);
    return cudaGetLastError();
}

}  // extern "C"
