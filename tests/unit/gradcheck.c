// Finite-difference gradient checker (see gradcheck.h).
#include "gradcheck.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/rng.h"
#include "harness.h"

GcOpts gc_opts(unsigned seed) {
    return (GcOpts){.h = 1.0 / 128, .atol = 1e-3, .rtol = 1e-2, .samples = 24, .seed = seed};
}

double gc_dot(const float *r, const float *y, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)r[i] * (double)y[i];
    return s;
}

// (L(x0 + h) - L(x0 - h)) / (actual step), x[j] restored afterwards
static double central(GcLoss f, void *ctx, float *xj, double h) {
    float x0 = *xj, xp = (float)((double)x0 + h), xm = (float)((double)x0 - h);
    *xj = xp;
    double lp = f(ctx);
    *xj = xm;
    double lm = f(ctx);
    *xj = x0;
    return (lp - lm) / ((double)xp - (double)xm);
}

int gc_check_at(const char *file, int line, const char *what, GcLoss f, void *ctx, float *x,
                size_t n, const float *ana, GcOpts o) {
    if (getenv("GRADCHECK_ALL")) o.samples = 1 << 30;  // every coordinate (slow; for audits)
    size_t m = (size_t)o.samples < n ? (size_t)o.samples : n;
    size_t *idx = malloc(sizeof(size_t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) idx[i] = i;
    Rng r = rng_new(o.seed ? o.seed : 1);
    for (size_t i = 0; i < m; i++) {  // partial Fisher-Yates: m distinct coordinates
        size_t j = i + rng_below(&r, (uint32_t)(n - i));
        size_t t = idx[i];
        idx[i] = idx[j], idx[j] = t;
    }
    int bad = 0;
    double worst_err = 0.0, worst_ratio = 0.0;
    // The many small forwards run on one thread: the analytic pass (the caller's) keeps the
    // backend's threaded paths under test, and with other jobs on the cores each OpenMP
    // region of a tiny op could otherwise cost a scheduler time slice (seconds in all).
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    for (size_t s = 0; s < m; s++) {
        size_t j = idx[s];
        double d1 = central(f, ctx, &x[j], o.h), d2 = central(f, ctx, &x[j], 2.0 * o.h);
        double num = (4.0 * d1 - d2) / 3.0, a = ana[j];
        double err = fabs(num - a), lim = o.atol + o.rtol * fabs(a);
        if (err > worst_err || isnan(err)) worst_err = isnan(err) ? INFINITY : err;
        if (err / lim > worst_ratio || isnan(err)) worst_ratio = isnan(err) ? INFINITY : err / lim;
        if (!(err <= lim)) {
            if (!o.quiet && bad < 3)
                t_fail(file, line, "%s[%zu]: numeric %.7g, analytic %.7g (|diff| %.3g > %.3g)",
                       what, j, num, a, err, lim);
            bad++;
        }
    }
    omp_set_num_threads(threads);
    if (getenv("GRADCHECK_VERBOSE"))
        fprintf(stderr, "    %-34s n=%-5zu checked %-3zu max|num-ana| %.2e  max err/tol %.3f%s\n",
                what, n, m, worst_err, worst_ratio, bad ? "  MISMATCH" : "");
    free(idx);
    return bad;
}
