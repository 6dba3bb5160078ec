// Threads (issue 17). The MPI thread level dna needs (the check par_init makes), and the CPU
// backend with more OpenMP threads than its per-thread state serves: the
// convolution backward's per-thread weight-gradient partials (`part[CPU_MAX_THREADS]`) were
// indexed by thread id before any limit was checked. cpu_nthreads() now caps the team, so the
// results equal a one-thread run (up to the partials' summation order).
#include <omp.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "backend/cpu/cpu.h"
#include "harness.h"
#include "par/par.h"

static void level(void *arg) {
    par_thread_level_check(*(int *)arg);
}

TEST(par_thread_level_below_funneled_is_fatal) {
    int single = MPI_THREAD_SINGLE, funneled = MPI_THREAD_FUNNELED;
    T_EXPECT_DEATH(level, &single,
                   "the MPI library provides MPI_THREAD_SINGLE (0), dna needs "
                   "MPI_THREAD_FUNNELED");
    par_thread_level_check(funneled);  // returns
    int multiple = MPI_THREAD_MULTIPLE;
    par_thread_level_check(multiple);
}

// Forward, then backward (dx, and dw when asked) of a convolution: k 1 (GEMM), k 3 dense
// (im2col), or k 3 depthwise (groups 3, 3 -> 3 channels; the direct kernels). Every region
// that uses per-thread scratch runs here.
static void conv_bwd(const Backend *be, int k, int dwise, int want_dw, float *dx, float *dw) {
    int co = dwise ? 3 : 4;
    ConvSpec s = {.stride = 1, .pad = k / 2, .groups = dwise ? 3 : 1};
    Tensor x = tensor_new(be, 6, 3, 5, 5), w = tensor_new(be, co, dwise ? 1 : 3, k, k);
    Tensor dy = tensor_new(be, 6, co, 5, 5), tdx = tensor_new(be, 6, 3, 5, 5),
           tdw = tensor_new(be, co, dwise ? 1 : 3, k, k), y = tensor_new(be, 6, co, 5, 5);
    float *h = malloc(sizeof(float) * 6 * 4 * 25);
    t_fill_uniform(h, tensor_numel(&x), 1, -1, 1), tensor_upload(be, &x, h);
    t_fill_uniform(h, tensor_numel(&w), 2, -1, 1), tensor_upload(be, &w, h);
    t_fill_uniform(h, tensor_numel(&dy), 3, -1, 1), tensor_upload(be, &dy, h);
    be->conv2d_fwd(&x, &w, &y, s);
    tensor_download(be, &y, h);
    for (int i = 0; i < 6 * co * 25; i++) dx[450 + i] = h[i];  // the forward, after dx
    be->conv2d_bwd(&x, &w, &dy, &tdx, want_dw ? &tdw : NULL, s);
    tensor_download(be, &tdx, dx);
    tensor_download(be, &tdw, dw);
    free(h);
    tensor_free(be, &x), tensor_free(be, &w), tensor_free(be, &dy);
    tensor_free(be, &tdx), tensor_free(be, &tdw), tensor_free(be, &y);
}

TEST(cpu_conv_bwd_more_threads_than_the_limit) {
    const Backend *be = backend_cpu();
    int saved = omp_get_max_threads();
    for (int v = 0; v < 3; v++) {  // 1x1, 3x3, 3x3 depthwise
        int k = v ? 3 : 1, dwise = v == 2, nw = (dwise ? 3 : 12) * k * k;
        for (int want_dw = 0; want_dw <= 1; want_dw++) {
            float dx1[1050], dw1[108], dx2[1050], dw2[108];
            omp_set_num_threads(1);
            conv_bwd(be, k, dwise, want_dw, dx1, dw1);
            omp_set_num_threads(CPU_MAX_THREADS + 44);
            T_CHECK(cpu_nthreads() == CPU_MAX_THREADS, "cpu_nthreads %d with %d asked for",
                    cpu_nthreads(), CPU_MAX_THREADS + 44);
            conv_bwd(be, k, dwise, want_dw, dx2, dw2);
            T_NEAR_ARRAY(dx2, dx1, 450 + (size_t)(dwise ? 3 : 4) * 150, 1e-6, 1e-5,
                         "dx and y, 300 threads vs 1");
            T_NEAR_ARRAY(dw2, dw1, (size_t)nw, 1e-5, 1e-5, "dw, 300 threads vs 1");
        }
    }
    omp_set_num_threads(saved);
}
