// CPU batch norm with a fused activation. Statistics are two-pass in double per channel
// (channels spread over threads); the pre-activation is recomputed in backward instead of
// stored. A rank group (BnSync) sums the per-channel moments across ranks between passes.
#include "backend/cpu/cpu.h"

#include <stdlib.h>

#include "core/error.h"

// Sums of one channel over (N,H,W): one plane in float, planes added in double.
static double channel_sum(const Tensor *x, int c) {
    size_t HW = (size_t)x->h * x->w;
    double s = 0.0;
    for (int n = 0; n < x->n; n++) {
        const float *p = x->data + ((size_t)n * x->c + c) * HW;
        float ps = 0.0f;
#pragma omp simd reduction(+ : ps)
        for (size_t i = 0; i < HW; i++) ps += p[i];
        s += ps;
    }
    return s;
}

static double channel_sq(const Tensor *x, int c, double mu) {
    size_t HW = (size_t)x->h * x->w;
    double q = 0.0;
    for (int n = 0; n < x->n; n++) {
        const float *p = x->data + ((size_t)n * x->c + c) * HW;
        float m = (float)mu, pq = 0.0f;
#pragma omp simd reduction(+ : pq)
        for (size_t i = 0; i < HW; i++) pq += (p[i] - m) * (p[i] - m);
        q += pq;
    }
    return q;
}

// q = act(p * scale + shift) over one plane of HW values
static void apply_plane(const float *p, size_t HW, float scale, float shift, float *q, Act act) {
    switch (act) {  // hoisted so each loop vectorises
        case ACT_SWISH:
            for (size_t i = 0; i < HW; i++) {
                float z = p[i] * scale + shift;
                q[i] = z * cpu_sigmoid(z);
            }
            break;
        case ACT_RELU:
            for (size_t i = 0; i < HW; i++) {
                float z = p[i] * scale + shift;
                q[i] = z > 0.0f ? z : 0.0f;
            }
            break;
        case ACT_NONE:
            for (size_t i = 0; i < HW; i++) q[i] = p[i] * scale + shift;
            break;
        default:
            for (size_t i = 0; i < HW; i++) q[i] = cpu_act(act, p[i] * scale + shift);
    }
}

static void apply(const Tensor *x, int c, float scale, float shift, Tensor *y, Act act) {
    size_t HW = (size_t)x->h * x->w;
    for (int n = 0; n < x->n; n++) {
        size_t off = ((size_t)n * x->c + c) * HW;
        apply_plane(x->data + off, HW, scale, shift, y->data + off, act);
    }
}

// Running stats, saved stats and the normalised output of channel c from its moments over
// M values.
static void finish_channel(const Tensor *x, int c, double mu, double var, double M,
                           const float *gamma, const float *beta, Tensor *y, float *mean,
                           float *invstd, float *run_mean, float *run_var, float momentum,
                           float eps, Act act) {
    float is = (float)(1.0 / sqrt(var + eps));
    if (mean) mean[c] = (float)mu;
    if (invstd) invstd[c] = is;
    if (run_mean) run_mean[c] = (float)((1.0 - momentum) * run_mean[c] + momentum * mu);
    if (run_var)
        run_var[c] = (float)((1.0 - momentum) * run_var[c] +
                             momentum * (M > 1 ? var * M / (M - 1) : var));
    float scale = gamma[c] * is;
    apply(x, c, scale, beta[c] - (float)mu * scale, y, act);
}

void cpu_bn_fwd_train(const Tensor *x, const float *gamma, const float *beta, Tensor *y,
                      float *mean, float *invstd, float *run_mean, float *run_var, float momentum,
                      float eps, Act act, const BnSync *sync) {
    double M = (double)x->n * x->h * x->w;
    int C = x->c;
    if (!sync) {  // one pass per channel while its planes are in cache
#pragma omp parallel for schedule(static)
        for (int c = 0; c < C; c++) {
            double mu = channel_sum(x, c) / M;
            finish_channel(x, c, mu, channel_sq(x, c, mu) / M, M, gamma, beta, y, mean, invstd,
                           run_mean, run_var, momentum, eps, act);
        }
        return;
    }
    // Group statistics: sums, then centred squares about the group mean (two-pass, as above).
    double *buf = dna_malloc(sizeof(double) * (size_t)(C + 1));
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) buf[c] = channel_sum(x, c);
    buf[C] = M;
    sync->sum(sync->ctx, buf, (size_t)C + 1);
    double Mg = buf[C];
    for (int c = 0; c < C; c++) buf[c] /= Mg;
    double *q = dna_malloc(sizeof(double) * (size_t)C);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) q[c] = channel_sq(x, c, buf[c]);
    sync->sum(sync->ctx, q, (size_t)C);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        finish_channel(x, c, buf[c], q[c] / Mg, Mg, gamma, beta, y, mean, invstd, run_mean,
                       run_var, momentum, eps, act);
    free(q);
    free(buf);
}

// Plane by plane in memory order: no statistics tie a channel's planes together here, and
// walking the planes of one channel (N strided pieces) cost 1.5x in BN + swish.
void cpu_bn_fwd_eval(const Tensor *x, const float *gamma, const float *beta, const float *run_mean,
                     const float *run_var, float eps, Tensor *y, Act act) {
    int C = x->c;
    float *k = dna_malloc(sizeof(float) * 2 * (size_t)C);
    for (int c = 0; c < C; c++) {
        k[c] = gamma[c] / sqrtf(run_var[c] + eps);
        k[C + c] = beta[c] - run_mean[c] * k[c];
    }
    size_t HW = (size_t)x->h * x->w;
#pragma omp parallel for schedule(static)
    for (long nc = 0; nc < (long)x->n * C; nc++)
        apply_plane(x->data + nc * HW, HW, k[nc % C], k[C + nc % C], y->data + nc * HW, act);
    free(k);
}

// Backward pass 1 for channel c: dz = dy * act'(z) into dx; returns the sums of dz and of
// dz * (x - mean).
static void bwd_sums(const Tensor *x, int c, float scale, float shift, float mu, const Tensor *dy,
                     Tensor *dx, Act act, double *sdz_out, double *sdzx_out) {
    size_t HW = (size_t)x->h * x->w;
    double sdz = 0.0, sdzx = 0.0;
    for (int n = 0; n < x->n; n++) {
        size_t off = ((size_t)n * x->c + c) * HW;
        const float *p = x->data + off, *g = dy->data + off;
        float *d = dx->data + off, a = 0.0f, b = 0.0f;
        if (act == ACT_SWISH) {
#pragma omp simd reduction(+ : a, b)
            for (size_t i = 0; i < HW; i++) {
                float z = p[i] * scale + shift, s = cpu_sigmoid(z);
                float dz = g[i] * s * (1.0f + z * (1.0f - s));
                d[i] = dz, a += dz, b += dz * (p[i] - mu);
            }
        } else if (act == ACT_NONE) {
#pragma omp simd reduction(+ : a, b)
            for (size_t i = 0; i < HW; i++) {
                float dz = g[i];
                d[i] = dz, a += dz, b += dz * (p[i] - mu);
            }
        } else {
#pragma omp simd reduction(+ : a, b)
            for (size_t i = 0; i < HW; i++) {
                float dz = g[i] * cpu_act_grad(act, p[i] * scale + shift);
                d[i] = dz, a += dz, b += dz * (p[i] - mu);
            }
        }
        sdz += a, sdzx += b;
    }
    *sdz_out = sdz, *sdzx_out = sdzx;
}

// Pass 2: dx = gamma * invstd * (dz - mean(dz) - xhat * mean(dz * xhat)).
static void bwd_apply(const Tensor *x, int c, float k, float mu, float is, float m1, float m2,
                      Tensor *dx) {
    size_t HW = (size_t)x->h * x->w;
    for (int n = 0; n < x->n; n++) {
        size_t off = ((size_t)n * x->c + c) * HW;
        const float *p = x->data + off;
        float *d = dx->data + off;
        for (size_t i = 0; i < HW; i++) d[i] = k * (d[i] - m1 - (p[i] - mu) * is * m2);
    }
}

void cpu_bn_bwd(const Tensor *x, const float *gamma, const float *beta, const float *mean,
                const float *invstd, const Tensor *dy, Tensor *dx, float *dgamma, float *dbeta,
                Act act, const BnSync *sync) {
    double M = (double)x->n * x->h * x->w;
    int C = x->c;
    // [0,C): sum dz, [C,2C): sum dz * xhat, [2C]: M
    double *s = dna_malloc(sizeof(double) * (size_t)(2 * C + 1));
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float mu = mean[c], is = invstd[c], scale = gamma[c] * is;
        bwd_sums(x, c, scale, beta[c] - mu * scale, mu, dy, dx, act, &s[c], &s[C + c]);
        s[C + c] *= is;
        if (dgamma) dgamma[c] += (float)s[C + c];
        if (dbeta) dbeta[c] += (float)s[c];
        if (!sync) bwd_apply(x, c, scale, mu, is, (float)(s[c] / M), (float)(s[C + c] / M), dx);
    }
    if (sync) {
        s[2 * C] = M;
        sync->sum(sync->ctx, s, (size_t)(2 * C + 1));
        double Mg = s[2 * C];
#pragma omp parallel for schedule(static)
        for (int c = 0; c < C; c++)
            bwd_apply(x, c, gamma[c] * invstd[c], mean[c], invstd[c], (float)(s[c] / Mg),
                      (float)(s[C + c] / Mg), dx);
    }
    free(s);
}
