// CPU linear layers via GEMM (cpu_gemm.h). Each GEMM computes one row (of the batch, or of
// the weight for dW), and the threads share the rows: a row's result never depends on how
// many rows a call held. OpenBLAS picks its kernel by the matrix shape (on AVX-512 a
// small-matrix kernel sums in another order), so calls over a thread's block of rows made
// the values depend on the thread count and on the batch's split over ranks (1 rank x 2
// threads and 2 ranks x 1 thread wrote different feature shards). The layers are small (SE,
// classifier): one GEMM per row costs nothing that shows.
#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_gemm.h"
#include "core/error.h"

void cpu_linear_fwd(const Tensor *x, const Tensor *w, const float *b, Tensor *y) {
    int N = x->n, Ni = x->c * x->h * x->w, No = w->n;
    DNA_CHECK(w->c * w->h * w->w == Ni && y->n == N && y->c * y->h * y->w == No,
              "check the layer widths in the configuration",
              "linear shapes do not match: x [%d,%d] w [%d,%d] y [%d,%d]", N, Ni, w->n,
              w->c * w->h * w->w, y->n, y->c * y->h * y->w);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *yn = y->data + (size_t)n * No;
        cpu_sgemm(GEMM_N, GEMM_T, 1, No, Ni, 1.0f, x->data + (size_t)n * Ni, Ni, w->data, Ni, 0.0f,
                  yn, No);
        if (b)
            for (int o = 0; o < No; o++) yn[o] += b[o];
    }
}

void cpu_linear_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                    float *db) {
    int N = x->n, Ni = x->c * x->h * x->w, No = w->n;
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++)
            cpu_sgemm(GEMM_N, GEMM_N, 1, Ni, No, 1.0f, dy->data + (size_t)n * No, No, w->data, Ni,
                      0.0f, dx->data + (size_t)n * Ni, Ni);
    }
    if (dw || db) {
#pragma omp parallel for schedule(static)
        for (int o = 0; o < No; o++) {
            if (dw)
                cpu_sgemm(GEMM_T, GEMM_N, 1, Ni, N, 1.0f, dy->data + o, No, x->data, Ni, 1.0f,
                          dw->data + (size_t)o * Ni, Ni);
            if (db) {
                float s = 0.0f;
                for (int n = 0; n < N; n++) s += dy->data[(size_t)n * No + o];
                db[o] += s;
            }
        }
    }
}
