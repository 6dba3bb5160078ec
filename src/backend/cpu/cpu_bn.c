// CPU batch norm with a fused activation. Statistics are two-pass in double per channel
// (channels spread over threads); the pre-activation is recomputed in backward instead of
// stored.
#include "backend/cpu/cpu.h"

static void channel_moments(const Tensor *x, int c, double *mean, double *var) {
    size_t HW = (size_t)x->h * x->w, M = HW * x->n;
    double s = 0.0;
    for (int n = 0; n < x->n; n++) {
        const float *p = x->data + ((size_t)n * x->c + c) * HW;
        float ps = 0.0f;  // one plane in float, planes summed in double
#pragma omp simd reduction(+ : ps)
        for (size_t i = 0; i < HW; i++) ps += p[i];
        s += ps;
    }
    double mu = s / (double)M, q = 0.0;
    for (int n = 0; n < x->n; n++) {
        const float *p = x->data + ((size_t)n * x->c + c) * HW;
        float m = (float)mu, pq = 0.0f;
#pragma omp simd reduction(+ : pq)
        for (size_t i = 0; i < HW; i++) pq += (p[i] - m) * (p[i] - m);
        q += pq;
    }
    *mean = mu;
    *var = q / (double)M;
}

static void apply(const Tensor *x, int c, float scale, float shift, Tensor *y, Act act) {
    size_t HW = (size_t)x->h * x->w;
    for (int n = 0; n < x->n; n++) {
        const float *p = x->data + ((size_t)n * x->c + c) * HW;
        float *q = y->data + ((size_t)n * x->c + c) * HW;
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
}

void cpu_bn_fwd_train(const Tensor *x, const float *gamma, const float *beta, Tensor *y,
                      float *mean, float *invstd, float *run_mean, float *run_var, float momentum,
                      float eps, Act act) {
    double M = (double)x->n * x->h * x->w;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < x->c; c++) {
        double mu, var;
        channel_moments(x, c, &mu, &var);
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
}

void cpu_bn_fwd_eval(const Tensor *x, const float *gamma, const float *beta, const float *run_mean,
                     const float *run_var, float eps, Tensor *y, Act act) {
#pragma omp parallel for schedule(static)
    for (int c = 0; c < x->c; c++) {
        float scale = gamma[c] / sqrtf(run_var[c] + eps);
        apply(x, c, scale, beta[c] - run_mean[c] * scale, y, act);
    }
}

void cpu_bn_bwd(const Tensor *x, const float *gamma, const float *beta, const float *mean,
                const float *invstd, const Tensor *dy, Tensor *dx, float *dgamma, float *dbeta,
                Act act) {
    size_t HW = (size_t)x->h * x->w;
    double M = (double)x->n * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < x->c; c++) {
        float mu = mean[c], is = invstd[c], scale = gamma[c] * is, shift = beta[c] - mu * scale;
        double sdz = 0.0, sdzx = 0.0;
        // pass 1: dz = dy * act'(z) into dx; sums of dz and dz * xhat
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
        sdzx *= is;  // sum of dz * xhat
        if (dgamma) dgamma[c] += (float)sdzx;
        if (dbeta) dbeta[c] += (float)sdz;
        // pass 2: dx = gamma * invstd * (dz - mean(dz) - xhat * mean(dz * xhat))
        float k = scale, m1 = (float)(sdz / M), m2 = (float)(sdzx / M);
        for (int n = 0; n < x->n; n++) {
            size_t off = ((size_t)n * x->c + c) * HW;
            const float *p = x->data + off;
            float *d = dx->data + off;
            for (size_t i = 0; i < HW; i++) d[i] = k * (d[i] - m1 - (p[i] - mu) * is * m2);
        }
    }
}
