// Benchmark W5 vit_cell_train (issue 19; its PyTorch twin is tests/bench/torch_vit_cell.py):
// block 1's ViT supernet of inputs/fashion_mnist_vit.cfg, a 1x32x32 image in 4x4 patches
// (64 tokens) to the teacher's 24x8x8 map; widths 32/48/64 (heads of 16), MLP ratios 2/3/4,
// depths 1/2. Per step: one subnet, MSE to a fixed target, AdamW (lr 1e-3, weight decay
// 0.05) over the supernet. The subnets take turns (step s runs subnet s mod 18, the depth
// the last digit, as training codes them), so that both twins do the same work; img/s is
// over whole rounds of the 18 (a step's time depends on its subnet, so no median), as one
// "bench vit_cell_train key=value ..." line.
// Usage: bench_vit_cell_train [STEPS] [--backend cpu|cuda|auto]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "bench.h"
#include "core/ctx.h"
#include "core/timer.h"
#include "train/cell_step.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int batch = 64, warmup = 18, steps = 36;
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
    Rng root = rng_new(0), init = rng_split(&root, 1), data = rng_split(&root, 2);
    VitCellCfg cfg = {.cin = 1,
                      .in_hw = 32,
                      .cout = 24,
                      .out_hw = 8,
                      .ch = {.ndims = 3,
                             .dims = {32, 48, 64},
                             .nratios = 3,
                             .ratios = {2, 3, 4},
                             .ndepths = 2,
                             .depths = {1, 2},
                             .head_dim = 16}};
    Student st = {.vit = 1};
    vitcell_init(be, &st.vc, cfg, &init);
    Tensor x = tensor_new(be, batch, 1, 32, 32), y = tensor_new(be, batch, 24, 8, 8);
    Tensor dy = tensor_new(be, batch, 24, 8, 8);
    float *h = malloc(sizeof(float) * tensor_numel(&y));  // y is the larger
    for (size_t i = 0; i < tensor_numel(&x); i++) h[i] = rng_normal(&data);
    tensor_upload(be, &x, h);
    for (size_t i = 0; i < tensor_numel(&y); i++) h[i] = rng_normal(&data);
    tensor_upload(be, &y, h);
    free(h);
    Optim opt = optim_adamw(1e-3f, 0.05f);
    double *t = malloc(sizeof(double) * (size_t)steps), loss = 0, first = 0;
    for (int s = 0; s < warmup + steps; s++) {
        int path[1] = {s % (int)vitcell_path_count(&cfg)};
        double t0 = timer_now();
        loss = student_train_step(be, &st, path, &x, &y, &dy, &opt, NULL);
        if (s == warmup) first = loss;
        if (s >= warmup) t[s - warmup] = timer_now() - t0;
    }
    double total = 0;
    for (int i = 0; i < steps; i++) total += t[i];
    double *sorted = malloc(sizeof(double) * (size_t)steps);
    for (int i = 0; i < steps; i++) sorted[i] = t[i];
    qsort(sorted, (size_t)steps, sizeof(double), cmp_double);
    printf(
        "bench vit_cell_train backend=%s img_per_s=%.1f ms_per_step=%.1f min_ms=%.1f "
        "max_ms=%.1f steps=%d batch=%d first_loss=%.4f last_loss=%.4f peak_rss_MB=%.0f\n",
        be->name, batch * steps / total, 1e3 * total / steps, 1e3 * sorted[0],
        1e3 * sorted[steps - 1], steps, batch, first, loss, bench_peak_rss_mb());
    free(sorted);
    free(t);
    tensor_free(be, &x);
    tensor_free(be, &y);
    tensor_free(be, &dy);
    vitcell_free(be, &st.vc);
    return 0;
}
