// Benchmark `supernet_train`: the default config's (block, cell) jobs (inputs/fashion_mnist.cfg
// space and teacher shapes) on synthetic tensors, scheduled over the ranks as `dna train`
// does (longest first by estimated cost), each job `steps` distillation steps. Prints the
// images per second per rank and for all ranks together (run it plain and under
// `mpirun -np 2` for the 1 -> 2-rank speedup), the measured seconds per step of every job,
// and the load balance of a full default `dna train` predicted from those measurements.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "backend/backend.h"
#include "core/timer.h"
#include "nas/space.h"
#include "par/par.h"
#include "par/sched.h"
#include "train/cell_step.h"

static double job_seconds_per_step(const Backend *be, const Space *sp, int k, int c, int batch,
                                   int steps) {
    const SpaceBlock *b = &sp->block[k];
    Rng r = rng_new((uint64_t)(k * 16 + c)), init = rng_split(&r, 1), paths = rng_split(&r, 2);
    Cell cell;
    cell_init(be, &cell, b->cell[c], &init);
    Tensor x = tensor_new(be, batch, b->in_c, b->in_hw, b->in_hw);
    Tensor y = tensor_new(be, batch, b->out_c, b->out_hw, b->out_hw);
    Tensor dy = tensor_new(be, batch, b->out_c, b->out_hw, b->out_hw);
    for (size_t i = 0; i < tensor_numel(&x); i++) x.data[i] = rng_normal(&r);
    for (size_t i = 0; i < tensor_numel(&y); i++) y.data[i] = rng_normal(&r);
    Optim opt = optim_adam(0.005f, 1e-4f);
    int path[CELL_MAX_LAYERS];
    double t0 = 0;
    for (int s = 0; s < steps + 2; s++) {
        if (s == 2) t0 = timer_now();
        for (int i = 0; i < cell.cfg.layers; i++) path[i] = (int)rng_below(&paths, (uint32_t)cell.cfg.nops);
        cell_train_step(be, &cell, path, &x, &y, &dy, &opt, NULL);
    }
    double per = (timer_now() - t0) / steps;
    tensor_free(be, &x), tensor_free(be, &y), tensor_free(be, &dy);
    cell_free(be, &cell);
    return per;
}

int main(int argc, char **argv) {
    RunCtx ctx = ctx_local(backend_cpu(), 0);
    par_init(&ctx, &argc, &argv);
    int steps = argc > 1 ? atoi(argv[1]) : 10;
    Config cfg;
    config_load(&cfg, NULL, NULL, 0);
    EffNetCfg t;
    effnet_cfg_from_config(&cfg, (int)cfg.data.channels, &t);
    Space sp;
    space_from_config(&cfg, &t, (int)(cfg.data.image_size + 2 * cfg.data.pad), &sp);
    SchedJob jobs[SPACE_MAX_BLOCKS * SPACE_MAX_CELLS];
    int nj = 0;
    for (int k = 0; k < sp.nblocks; k++)
        for (int c = 0; c < sp.block[k].ncells; c++)
            jobs[nj++] = (SchedJob){.block = k, .cell = c, .cost = space_cell_macs(&sp, k, c)};
    SchedPlan pl;
    sched_plan(jobs, nj, ctx.nranks, &pl);
    int mine[SPACE_MAX_BLOCKS * SPACE_MAX_CELLS];
    int n = sched_jobs_of_rank(&pl, ctx.rank, mine, nj), batch = (int)cfg.train.batch;
    double *sec = calloc((size_t)nj, sizeof(double));
    par_barrier();
    double t0 = timer_now();
    for (int i = 0; i < n; i++)
        sec[mine[i]] = job_seconds_per_step(ctx.be, &sp, jobs[mine[i]].block, jobs[mine[i]].cell,
                                            batch, steps);
    double wall = timer_now() - t0, imgs = (double)n * (steps + 2) * batch, mam[3];
    par_minavgmax(wall, mam);
    double rss[3];  // the largest rank's peak: what a node must hold per rank
    par_minavgmax(bench_peak_rss_mb(), rss);
    double tot[2] = {imgs, 0};
    par_allreduce_sum_f64(tot, 1);
    par_allreduce_sum_f64(sec, (size_t)nj);
    // Predicted full run: measured seconds per step x steps per epoch x epochs, per job.
    long n_fit = cfg.data.train_size - cfg.data.classes * cfg.data.search_per_class;
    double per_job_steps = (double)(n_fit / batch) * (double)cfg.train.epochs;
    for (int j = 0; j < nj; j++) jobs[j].cost = sec[j] * per_job_steps;
    SchedPlan full;
    sched_plan(jobs, nj, ctx.nranks, &full);
    double mx = 0;
    for (int r = 0; r < ctx.nranks; r++) mx = full.rank_load[r] > mx ? full.rank_load[r] : mx;
    if (ctx.rank == 0) {
        printf("bench supernet_train ranks=%d threads=%d jobs=%d steps_per_job=%d batch=%d "
               "img_s_per_rank=%.0f img_s_total=%.0f rank_wall_min_max=%.1f/%.1f "
               "default_train_s=%.0f default_balance=%.3f peak_rss_MB_max_rank=%.0f\n",
               ctx.nranks, omp_get_max_threads(), nj, steps, batch, tot[0] / mam[2] / ctx.nranks,
               tot[0] / mam[2], mam[0], mam[2], mx, full.balance, rss[2]);
        printf("  ms/step per job:");
        for (int j = 0; j < nj; j++)
            printf(" b%d.c%d=%.0f", jobs[j].block + 1, jobs[j].cell + 1, 1e3 * sec[j]);
        printf("\n");
    }
    sched_free(&pl), sched_free(&full);
    free(sec);
    par_finalize();
    return 0;
}
