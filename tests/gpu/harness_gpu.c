// Runner of the GPU tests: registry and failure reporting of tests/unit/harness.h, the
// GPU/CPU comparison helpers of gpu_test.h, and a main that skips everything (exit 0) when
// no CUDA device is visible, so the test can sit in any build's test list.
// Usage: test_gpu [NAME_SUBSTRING[,NAME_SUBSTRING...]] (cases whose name contains any of
// them). Closing line: "N passed, N failed, N skipped".
#include <cuda_runtime_api.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "core/rng.h"
#include "gpu_test.h"

enum { MAX_TESTS = 256 };
typedef struct {
    const char *name, *file;
    TestFn fn;
} Case;

// The registry is filled by constructors before main: test-only state.
static Case cases[MAX_TESTS];
static int ncases, case_failures, verbose;
static const Backend *be_gpu;

void t_register(const char *name, TestFn fn, const char *file) {
    if (ncases < MAX_TESTS) cases[ncases++] = (Case){name, file, fn};
}

void t_fail(const char *file, int line, const char *fmt, ...) {
    if (case_failures++ >= 8) return;  // enough to diagnose
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "    %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void t_fill_uniform(float *x, size_t n, unsigned seed, float lo, float hi) {
    Rng r = rng_new(seed);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(&r);
}

const Backend *gpu(void) {
    return be_gpu;
}
const Backend *cpu(void) {
    return backend_cpu();
}

Tensor h_rand(int n, int c, int h, int w, unsigned seed, float lo, float hi) {
    Tensor t = tensor_new(cpu(), n, c, h, w);
    t_fill_uniform(t.data, tensor_numel(&t), seed, lo, hi);
    return t;
}

Tensor h_const(int n, int c, int h, int w, float v) {
    Tensor t = tensor_new(cpu(), n, c, h, w);
    for (size_t i = 0; i < tensor_numel(&t); i++) t.data[i] = v;
    return t;
}

Tensor h_copy(const Tensor *s) {
    Tensor t = tensor_new(cpu(), s->n, s->c, s->h, s->w);
    memcpy(t.data, s->data, sizeof(float) * tensor_numel(s));
    return t;
}

void h_free(Tensor *t) {
    tensor_free(cpu(), t);
}

Tensor d_of(const Tensor *h) {
    Tensor t = tensor_new(gpu(), h->n, h->c, h->h, h->w);
    tensor_upload(gpu(), &t, h->data);
    return t;
}

Tensor d_zeros(int n, int c, int h, int w) {
    return tensor_new(gpu(), n, c, h, w);
}

void d_free(Tensor *t) {
    tensor_free(gpu(), t);
}

float *d_read(const float *dev, size_t n) {
    float *h = malloc(sizeof(float) * (n ? n : 1));
    gpu()->download(h, dev, sizeof(float) * n);
    return h;
}

double t_same_at(const char *file, int line, const char *what, const float *dev, const float *ref,
                 size_t n, double atol, double rtol) {
    float *got = d_read(dev, n);
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]), lim = atol + rtol * fabs(ref[i]);
        double r = isnan(d) ? INFINITY : d == 0.0 ? 0.0 : d / lim;  // lim 0: exact
        if (r > worst) worst = r, at = i;
    }
    if (worst > 1.0)
        t_fail(file, line, "%s: element %zu of %zu: gpu %.9g, cpu %.9g (atol %g rtol %g)", what, at,
               n, got[at], ref[at], atol, rtol);
    if (verbose) printf("      %-44s worst %.3f of tolerance\n", what, worst);
    free(got);
    return worst;
}

double t_rel_l2_at(const char *file, int line, const char *what, const float *dev, const float *ref,
                   size_t n, double tol, double floor) {
    float *got = d_read(dev, n);
    double e = 0.0, r = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        e += d * d, r += (double)ref[i] * ref[i];
    }
    e = sqrt(e), r = sqrt(r);
    double lim = tol * r + floor * sqrt((double)n);
    if (!(e <= lim))
        t_fail(file, line, "%s: |gpu - cpu| %.3g > %.3g (|cpu| %.3g, %zu values)", what, e, lim, r,
               n);
    if (verbose)
        printf("      %-44s rel L2 %.3g, rms %.2g (%.3f of tolerance)\n", what, r > 0 ? e / r : e,
               r / sqrt((double)(n ? n : 1)), e == 0.0 ? 0.0 : e / lim);
    free(got);
    return e / lim;
}

void t_same_scalar_at(const char *file, int line, const char *what, double got, double want,
                      double atol, double rtol) {
    double lim = atol + rtol * fabs(want), d = fabs(got - want);
    if (!(d <= lim)) t_fail(file, line, "%s: gpu %.12g, cpu %.12g", what, got, want);
    if (verbose) printf("      %-44s worst %.3f of tolerance\n", what, d == 0.0 ? 0.0 : d / lim);
}

// name contains one of the comma-separated substrings of filter (all names: filter NULL)
static int selected(const char *name, const char *filter) {
    if (!filter) return 1;
    for (const char *p = filter; *p;) {
        size_t n = strcspn(p, ",");
        for (const char *q = name; n && strlen(q) >= n; q++)
            if (!strncmp(q, p, n)) return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

int main(int argc, char **argv) {
    int devices = 0;
    cudaError_t e = cudaGetDeviceCount(&devices);
    if (e != cudaSuccess || devices == 0) {
        printf("skip gpu: no CUDA device visible (%s)\n",
               e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount reports 0 devices");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    const char *dev = getenv("DNA_TEST_DEVICE"), *v = getenv("GPU_TEST_VERBOSE");
    verbose = v && v[0] == '1';
    be_gpu = backend_cuda(dev ? atoi(dev) : 0);
    printf("gpu: %s\n", be_gpu->lib_version());
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    for (int i = 0; i < ncases; i++) {
        if (!selected(cases[i].name, filter)) continue;
        case_failures = 0;
        if (verbose) printf("  %s\n", cases[i].name);
        fflush(stdout);
        cases[i].fn();
        if (case_failures) {
            failed++;
            printf("FAIL %s (%s)\n", cases[i].name, cases[i].file);
        } else {
            passed++;
            printf("ok   %s\n", cases[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed, 0 skipped\n", passed, failed);
    return failed ? 1 : 0;
}
