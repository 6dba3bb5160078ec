// `dna check`: trains the W1 supernet cell (the cell_train benchmark's workload: 24 -> 40
// channels, 4 layers, 32x32 -> 16x16) for a few steps on synthetic tensors on every rank, to
// show that the build, the backend and MPI work on this machine. Writes nothing.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/log.h"
#include "core/timer.h"
#include "io/h5lock.h"
#include "par/par.h"
#include "stages/stages.h"
#include "train/cell_step.h"

static int int_flag(int argc, char **argv, const char *flag, int def) {
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], flag)) {
            char *end;
            long v = strtol(argv[i + 1], &end, 10);
            DNA_CHECK(*end == 0 && v > 0, "give a positive integer",
                      "%s expects a positive integer, got '%s'", flag, argv[i + 1]);
            return (int)v;
        }
    return def;
}

static const char *str_flag(int argc, char **argv, const char *flag, const char *def) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], flag)) {
            DNA_CHECK(i + 1 < argc, "give a value after the flag", "%s needs a value", flag);
            return argv[i + 1];
        }
    return def;
}

static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    (void)all;
    int steps = int_flag(argc, argv, "--steps", 10), batch = int_flag(argc, argv, "--batch", 64);
    backend_use(ctx, str_flag(argc, argv, "--backend", "auto"));
    const Backend *be = ctx->be;
    Rng root = rng_new(ctx->seed), init = rng_split(&root, 1), data = rng_split(&root, 2);
    Rng paths = rng_split(&root, 3 + (uint64_t)ctx->rank);
    Cell cell;
    cell_init(be, &cell, cell_cfg_default(24, 40, 4, 2), &init);
    Tensor x = tensor_new(be, batch, 24, 32, 32), y = tensor_new(be, batch, 40, 16, 16);
    Tensor dy = tensor_new(be, batch, 40, 16, 16);
    float *h = malloc(sizeof(float) * tensor_numel(&x));
    for (size_t i = 0; i < tensor_numel(&x); i++) h[i] = rng_normal(&data);
    tensor_upload(be, &x, h);
    for (size_t i = 0; i < tensor_numel(&y); i++) h[i] = rng_normal(&data);
    tensor_upload(be, &y, h);
    free(h);
    Optim opt = optim_adam(0.005f, 0.0f);
    log_info(ctx, "check: cell_train, %d rank(s) x %d thread(s), batch %d, %d steps", ctx->nranks,
             omp_get_max_threads(), batch, steps);
    char h5[160];
    h5_thread_mode(h5, sizeof h5);
    log_info(ctx, "check: %s", h5);
    Progress pr;
    progress_init(&pr, ctx, "check", "step", steps);
    pr.interval = 2.0;
    double first = 0, loss = 0, t0 = timer_now();
    for (int s = 0; s < steps; s++) {
        int path[4];
        for (int i = 0; i < 4; i++) path[i] = (int)rng_below(&paths, 6);
        loss = cell_train_step(be, &cell, path, &x, &y, &dy, &opt, NULL);
        DNA_CHECK(isfinite(loss), "lower the learning rate", "loss became %g at step %d", loss, s);
        if (s == 0) first = loss;
        char extra[48];
        snprintf(extra, sizeof extra, "loss=%.4f", loss);
        progress_update(&pr, s + 1, extra);
    }
    double busy = timer_now() - t0, mam[3];
    par_minavgmax(busy, mam);
    log_info(ctx,
             "check: cell_train loss %.4f -> %.4f, %.1f img/s per rank (rank busy time min/avg/max "
             "%.2f/%.2f/%.2f s)",
             first, loss, batch * steps / mam[1], mam[0], mam[1], mam[2]);
    tensor_free(be, &x), tensor_free(be, &y), tensor_free(be, &dy);
    cell_free(be, &cell);
    return 0;
}

const Stage STAGE_CHECK = {
    .name = "check",
    .help = "train the W1 supernet cell for a few steps (--steps N, --batch B, --backend B)",
    .command = command,
};
