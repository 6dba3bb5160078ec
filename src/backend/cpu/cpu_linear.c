// CPU linear layers via CBLAS. Each thread takes a block of rows (of the batch, or of the
// weight for dW), so no partial sums are needed.
#include <cblas.h>
#include <omp.h>

#include "backend/cpu/cpu.h"
#include "core/error.h"

static void rows_of(int total, int *lo, int *hi) {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    *lo = (int)((long)total * t / nt), *hi = (int)((long)total * (t + 1) / nt);
}

void cpu_linear_fwd(const Tensor *x, const Tensor *w, const float *b, Tensor *y) {
    int N = x->n, Ni = x->c * x->h * x->w, No = w->n;
    DNA_CHECK(w->c * w->h * w->w == Ni && y->n == N && y->c * y->h * y->w == No,
              "check the layer widths in the configuration",
              "linear shapes do not match: x [%d,%d] w [%d,%d] y [%d,%d]", N, Ni, w->n,
              w->c * w->h * w->w, y->n, y->c * y->h * y->w);
#pragma omp parallel
    {
        int lo, hi;
        rows_of(N, &lo, &hi);
        if (hi > lo) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hi - lo, No, Ni, 1.0f,
                        x->data + (size_t)lo * Ni, Ni, w->data, Ni, 0.0f, y->data + (size_t)lo * No,
                        No);
            if (b)
                for (int n = lo; n < hi; n++)
                    for (int o = 0; o < No; o++) y->data[(size_t)n * No + o] += b[o];
        }
    }
}

void cpu_linear_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                    float *db) {
    int N = x->n, Ni = x->c * x->h * x->w, No = w->n;
#pragma omp parallel
    {
        int lo, hi;
        if (dx) {
            rows_of(N, &lo, &hi);
            if (hi > lo)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, Ni, No, 1.0f,
                            dy->data + (size_t)lo * No, No, w->data, Ni, 0.0f,
                            dx->data + (size_t)lo * Ni, Ni);
        }
        rows_of(No, &lo, &hi);
        if (dw && hi > lo)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hi - lo, Ni, N, 1.0f,
                        dy->data + lo, No, x->data, Ni, 1.0f, dw->data + (size_t)lo * Ni, Ni);
        if (db)
            for (int o = lo; o < hi; o++) {
                float s = 0.0f;
                for (int n = 0; n < N; n++) s += dy->data[(size_t)n * No + o];
                db[o] += s;
            }
    }
}
