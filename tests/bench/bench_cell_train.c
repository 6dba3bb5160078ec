// Benchmark W1 cell_train (../shared/anchors/README.md): one DNA supernet cell, 4 layers x
// 6 MBConv candidates, input [64,24,32,32], target [64,40,16,16], one uniformly sampled path
// per step, MSE, Adam (lr 0.005) on the sampled path. Prints the median img/s over the
// timed steps after warm-up, as one "bench cell_train key=value ..." line.
// Usage: bench_cell_train [STEPS] [--backend cpu|cuda|auto]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "backend/backend.h"
#include "core/ctx.h"
#include "core/timer.h"
#include "nas/cell.h"
#include "train/cell_step.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int batch = 64, warmup = 5, steps = 30;
    RunCtx ctx = ctx_local(backend_cpu(), 0);
    const char *want = "cpu";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc)
            want = argv[++i];
        else
            steps = atoi(argv[i]);
    }
    backend_use(&ctx, want);
    const Backend *be = ctx.be;
    Rng root = rng_new(0), init = rng_split(&root, 1), data = rng_split(&root, 2),
        paths = rng_split(&root, 3);
    Cell cell;
    cell_init(be, &cell, cell_cfg_default(24, 40, 4, 2), &init);
    Tensor x = tensor_new(be, batch, 24, 32, 32), y = tensor_new(be, batch, 40, 16, 16);
    Tensor dy = tensor_new(be, batch, 40, 16, 16);
    float *h = malloc(sizeof(float) * tensor_numel(&x));  // x is the larger
    for (size_t i = 0; i < tensor_numel(&x); i++) h[i] = rng_normal(&data);
    tensor_upload(be, &x, h);
    for (size_t i = 0; i < tensor_numel(&y); i++) h[i] = rng_normal(&data);
    tensor_upload(be, &y, h);
    free(h);
    Optim opt = optim_adam(0.005f, 0.0f);
    double *t = malloc(sizeof(double) * (size_t)steps), loss = 0, first = 0;
    for (int s = 0; s < warmup + steps; s++) {
        int path[4];
        for (int i = 0; i < 4; i++) path[i] = (int)rng_below(&paths, 6);
        double t0 = timer_now();
        loss = cell_train_step(be, &cell, path, &x, &y, &dy, &opt, NULL);
        if (s == warmup) first = loss;
        if (s >= warmup) t[s - warmup] = timer_now() - t0;
    }
    double *sorted = malloc(sizeof(double) * (size_t)steps);
    for (int i = 0; i < steps; i++) sorted[i] = t[i];
    qsort(sorted, (size_t)steps, sizeof(double), cmp_double);
    double med = sorted[steps / 2];
    printf(
        "bench cell_train backend=%s img_per_s=%.1f ms_per_step=%.1f min_ms=%.1f max_ms=%.1f steps=%d "
        "batch=%d first_loss=%.4f last_loss=%.4f peak_rss_MB=%.0f\n",
        be->name, batch / med, 1e3 * med, 1e3 * sorted[0], 1e3 * sorted[steps - 1], steps, batch, first,
        loss, bench_peak_rss_mb());
    free(sorted);
    free(t);
    tensor_free(be, &x);
    tensor_free(be, &y);
    tensor_free(be, &dy);
    cell_free(be, &cell);
    return 0;
}
