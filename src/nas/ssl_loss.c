// DNA++'s self-supervised loss of one block and its gradients (see ssl_loss.h).
//
// Per side, with X the centred values and S = Xᵀ X / (M−1) the covariance:
//   d/dZ ‖offdiag S‖²_F = 4/(M−1) X offdiag(S)           (its columns sum to 0, as X's do,
//                                                          so the centring needs no term)
//   d/dZ_jc max(0, γ − sqrt(S_cc + ε)) = −X_jc / ((M−1) sqrt(S_cc + ε))   while the hinge is on
//   d/dZ  Σ_j ‖Z^j − Ẑ^j‖² = 2 (Z − Ẑ),  d/dẐ = −2 (Z − Ẑ)
// The side is held transposed (xt [C, M]) so that both the covariance and the gradient's
// product run along contiguous rows.
#include "nas/ssl_loss.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "core/error.h"

void ssl_cfg_check(const SslCfg *cfg) {
    const struct {
        const char *name;
        double v;
    } w[] = {{"lambda1", cfg->lambda1},
             {"lambda2", cfg->lambda2},
             {"lambda3", cfg->lambda3},
             {"gamma", cfg->gamma}};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        DNA_CHECK(isfinite(w[i].v) && w[i].v >= 0.0, "give a finite value >= 0",
                  "ssl loss: %s = %g", w[i].name, w[i].v);
    DNA_CHECK(isfinite(cfg->eps) && cfg->eps > 0.0,
              "eps keeps the std's gradient finite on a collapsed channel: give a value > 0",
              "ssl loss: eps = %g", cfg->eps);
    DNA_CHECK(cfg->K >= 1, "K counts the blocks the loss is summed over: give 1 or more",
              "ssl loss: K = %d", cfg->K);
    DNA_CHECK(cfg->var_both == 0 || cfg->var_both == 1,
              "var_both is 1 (hinge on both sides) or 0 (on Z only)", "ssl loss: var_both = %d",
              cfg->var_both);
}

static void check_finite(const float *a, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        DNA_CHECK(isfinite(a[i]), "the projector's output diverged or was not written",
                  "ssl loss: %s[%zu] = %g is not finite", what, i, (double)a[i]);
}

// xt [c, m] := z [m, c] transposed and centred per channel.
static void centre(const float *z, int m, int c, double *xt) {
    for (int k = 0; k < c; k++) {
        double *r = xt + (size_t)k * m, mean = 0.0;
        for (int j = 0; j < m; j++) mean += r[j] = z[(size_t)j * c + k];
        mean /= m;
        for (int j = 0; j < m; j++) r[j] -= mean;
    }
}

// Threads only where the work pays for waking them (the fixture's cases run on one).
#define SSL_PAR_WORK 32768

// s [c, c] := xt xtᵀ / (m − 1), every entry a sum in j order (the same for any thread count).
static void covariance(const double *xt, int m, int c, double *s) {
#pragma omp parallel for schedule(dynamic, 4) if ((long)c * c * m > SSL_PAR_WORK)
    for (int a = 0; a < c; a++)
        for (int b = a; b < c; b++) {
            const double *p = xt + (size_t)a * m, *q = xt + (size_t)b * m;
            double t = 0.0;
            for (int j = 0; j < m; j++) t += p[j] * q[j];
            s[(size_t)a * c + b] = s[(size_t)b * c + a] = t / (m - 1);
        }
}

// One side's regularisers: the covariance and hinge terms (unweighted sums) and its mean std.
typedef struct Side {
    double offdiag;  // ‖offdiag S‖²_F
    double hinge;    // Σ_c max(0, γ − std_c)
    double std;      // mean_c std_c
} Side;

static Side side_terms(const double *s, int c, double gamma, double eps) {
    Side r = {0};
    for (int a = 0; a < c; a++) {
        for (int b = 0; b < c; b++)
            if (a != b) r.offdiag += s[(size_t)a * c + b] * s[(size_t)a * c + b];
        double sd = sqrt(s[(size_t)a * c + a] + eps);
        r.hinge += fmax(0.0, gamma - sd);
        r.std += sd;
    }
    r.std /= c;
    return r;
}

// gt [c, m] := kc 4/(m−1) offdiag(S) xt − [hinge on] kv xt_c / ((m−1) std_c), kc and kv the
// weights of the covariance and hinge terms (kv = 0: no hinge on this side).
static void side_grad(const double *xt, const double *s, int m, int c, double kc, double kv,
                      double gamma, double eps, double *gt) {
    double f = 4.0 * kc / (m - 1);
#pragma omp parallel for schedule(static) if ((long)c * c * m > SSL_PAR_WORK)
    for (int k = 0; k < c; k++) {
        double *g = gt + (size_t)k * m;
        for (int j = 0; j < m; j++) g[j] = 0.0;
        for (int b = 0; b < c; b++) {
            if (b == k) continue;
            double w = f * s[(size_t)k * c + b];
            const double *x = xt + (size_t)b * m;
            for (int j = 0; j < m; j++) g[j] += w * x[j];
        }
        double sd = sqrt(s[(size_t)k * c + k] + eps);
        if (kv > 0.0 && gamma > sd) {
            double h = kv / ((m - 1) * sd);
            const double *x = xt + (size_t)k * m;
            for (int j = 0; j < m; j++) g[j] -= h * x[j];
        }
    }
}

// One side: its terms, and (grad not NULL) its gradient into grad [m, c]: its regularisers'
// plus the distance term's, sign 2 λ1/(K M) (z − zh) (sign +1 for Z, −1 for Ẑ).
static Side side(const SslCfg *cfg, const float *v, int hinge, int m, int c, double *xt, double *s,
                 double *gt, float *grad, const float *z, const float *zh, double sign) {
    centre(v, m, c, xt);
    covariance(xt, m, c, s);
    Side r = side_terms(s, c, cfg->gamma, cfg->eps);
    if (!grad) return r;
    double kc = cfg->lambda2 / ((double)cfg->K * c),
           kv = hinge ? cfg->lambda3 / ((double)c * cfg->K) : 0;
    double kd = sign * 2.0 * cfg->lambda1 / ((double)cfg->K * m);
    side_grad(xt, s, m, c, kc, kv, cfg->gamma, cfg->eps, gt);
    for (int j = 0; j < m; j++)
        for (int k = 0; k < c; k++) {
            size_t at = (size_t)j * c + k;
            double d = (double)z[at] - (double)zh[at];
            grad[at] = (float)(gt[(size_t)k * m + j] + kd * d);
        }
    return r;
}

SslLoss ssl_loss(const SslCfg *cfg, const float *z, const float *zh, int m, int c, float *dz,
                 float *dzh) {
    ssl_cfg_check(cfg);
    DNA_CHECK(m >= 2, "the covariance over the batch needs 2 images or more",
              "ssl loss: batch of %d", m);
    DNA_CHECK(c >= 1, "the projector needs 1 output or more", "ssl loss: %d channels", c);
    size_t n = (size_t)m * c;
    check_finite(z, n, "Z");
    check_finite(zh, n, "Zhat");
    double dist = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)z[i] - (double)zh[i];
        dist += d * d;
    }
    double *xt = dna_malloc(sizeof(double) * n), *gt = dna_malloc(sizeof(double) * n);
    double *s = dna_malloc(sizeof(double) * (size_t)c * c);
    Side a = side(cfg, z, 1, m, c, xt, s, gt, dz, z, zh, 1.0);
    Side b = side(cfg, zh, cfg->var_both, m, c, xt, s, gt, dzh, z, zh, -1.0);
    free(xt), free(gt), free(s);
    SslLoss r = {.std_z = a.std, .std_zh = b.std};
    r.dist = cfg->lambda1 / ((double)cfg->K * m) * dist;
    r.cov = cfg->lambda2 / ((double)cfg->K * c) * (a.offdiag + b.offdiag);
    r.var = cfg->lambda3 / ((double)c * cfg->K) * (a.hinge + (cfg->var_both ? b.hinge : 0.0));
    r.total = r.dist + r.cov + r.var;
    return r;
}
