// `dna plan`: the search space's size, every (block, cell) job's estimated FLOPs per step,
// memory and shard bytes, and how the jobs map onto R ranks with the load balance. Needs only
// the config (no files), so it sizes an sbatch allocation before anything runs.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/arch.h"
#include "io/files.h"
#include "nas/scale.h"
#include "nas/space.h"
#include "par/sched.h"
#include "stages/plus.h"
#include "stages/stages.h"

// DNA+: generations 2..G repeat the jobs above on a teacher scaled from the previous
// generation's search, which is known only once that search ran: its size is shown where the
// run directory already holds it.
static void print_generations(const Config *cfg, int njobs, long n_fit) {
    if (cfg->plus.generations < 2) return;
    printf(
        "\nDNA+: %ld generations; each of 2..%ld trains its own teacher, then the same %d jobs "
        "(their input and target widths are that teacher's):\n",
        cfg->plus.generations, cfg->plus.generations, njobs);
    for (long m = 2; m <= cfg->plus.generations; m++) {
        double w, d;
        plus_coef(cfg, m, &w, &d);
        Config prev = plus_at(cfg, m - 1);
        char path[1100];
        config_run_path(&prev, "arch.json", path, sizeof path);
        printf(
            "  generation %ld (gen%ld/): teacher = generation %ld's searched network x width "
            "%.3g, depth %.3g",
            m, m, m - 1, w, d);
        if (file_exists(path)) {
            Arch a, s;
            arch_load(path, &a);
            arch_scale(&a, (ScaleCoef){.width = w, .depth = d}, &s);
            double macs = (double)arch_macs(&s);
            printf(": %ld params, %.3g MMACs/img, %.3g PF to train %ld epochs\n", arch_params(&s),
                   macs / 1e6, 6.0 * macs * (double)n_fit * (double)cfg->teacher.fit.epochs / 1e15,
                   cfg->teacher.fit.epochs);
        } else {
            printf(" (its size is known once '%s' exists)\n", path);
        }
    }
}

static void print_plan(const RunCtx *ctx, const Config *cfg, int ranks) {
    (void)ctx;
    EffNetCfg t;
    effnet_cfg_from_config(cfg, (int)cfg->data.channels, &t);
    int in_hw = (int)(cfg->data.image_size + 2 * cfg->data.pad);
    Space sp;
    space_from_config(cfg, &t, in_hw, &sp);
    long n_train = cfg->data.train_size;
    if (cfg->data.limit_train > 0 && cfg->data.limit_train < n_train)
        n_train = cfg->data.limit_train;
    long n_fit = n_train - cfg->data.classes * cfg->data.search_per_class;
    DNA_CHECK(n_fit > 0 && cfg->train.batch > 0 && cfg->train.epochs > 0,
              "check [data] train_size / search_per_class and [train] batch / epochs",
              "plan: %ld supernet-training images, batch %ld, %ld epochs", n_fit, cfg->train.batch,
              cfg->train.epochs);
    long steps = cfg->train.epochs * (n_fit / cfg->train.batch);
    printf(
        "plan: %s, teacher input %dx%dx%d, %d blocks; supernet-training split %ld images, "
        "%ld epochs x %ld steps of %ld per job\n",
        cfg->path[0] ? cfg->path : "defaults", t.cin, in_hw, in_hw, sp.nblocks, n_fit,
        cfg->train.epochs, n_fit / cfg->train.batch, cfg->train.batch);
    printf("architectures per block:");
    for (int k = 0; k < sp.nblocks; k++) printf(" %lld", (long long)space_block_paths(&sp, k));
    double total = space_total(&sp);
    if (total < 9007199254740992.0)  // exact in a double: the count itself
        printf("; in total %.0f (%.3g)\n", total, total);
    else
        printf("; in total %.3g\n", total);
    int64_t paths = space_total_paths(&sp);
    printf(
        "rating: %lld paths (at most %lld per cell and in all), potentials on rank 0 %.3g MB\n\n",
        (long long)paths, (long long)SPACE_MAX_PATHS, 4.0 * 8.0 * (double)paths / 1e6);
    printf("%4s %5s %4s %6s %7s %6s %15s %15s %10s %10s %9s %9s %9s\n", "job", "block", "cell",
           "layers", "width", "stride", "input", "target", "paths", "GFLOP/step", "total PF",
           "mem MB", "shard MB");
    SchedJob jobs[SPACE_MAX_BLOCKS * SPACE_MAX_CELLS];
    int nj = 0;
    for (int k = 0; k < sp.nblocks; k++)
        for (int c = 0; c < sp.block[k].ncells; c++, nj++) {
            const SpaceBlock *b = &sp.block[k];
            double flop_step = 6.0 * space_cell_macs(&sp, k, c) * (double)cfg->train.batch;
            double mem = 16.0 * (double)space_cell_params(&sp, k, c) +
                         4.0 * space_cell_train_floats(&sp, k, c) * (double)cfg->train.batch;
            double per =
                (double)b->in_c * b->in_hw * b->in_hw + (double)b->out_c * b->out_hw * b->out_hw;
            double shard = per * (strcmp(cfg->features.dtype, "float16") ? 4 : 2) * (double)n_fit;
            char in[32], out[32], layers[16], width[16];
            snprintf(in, sizeof in, "%dx%dx%d", b->in_c, b->in_hw, b->in_hw);
            snprintf(out, sizeof out, "%dx%dx%d", b->out_c, b->out_hw, b->out_hw);
            int stride;
            int64_t paths = space_block_paths(&sp, k);  // ViT: the block's one supernet
            if (sp.vit) {  // the ranges of the supernet's subnets; the embedding's stride
                const VitChoices *h = &b->vit.ch;
                snprintf(layers, sizeof layers, "%d-%d", h->depths[0], h->depths[h->ndepths - 1]);
                snprintf(width, sizeof width, "%d-%d", h->dims[0], h->dims[h->ndims - 1]);
                stride = b->in_hw / b->out_hw;
            } else {
                const CellCfg *cc = &b->cell[c];
                snprintf(layers, sizeof layers, "%d", cc->layers);
                snprintf(width, sizeof width, "%d", cc->width);
                stride = cc->stride;
                paths = cell_path_count(cc);
            }
            jobs[nj] = (SchedJob){.block = k, .cell = c, .cost = flop_step * (double)steps};
            printf("%4d %5d %4d %6s %7s %6d %15s %15s %10lld %10.3f %9.4f %9.0f %9.0f\n", nj, k + 1,
                   c + 1, layers, width, stride, in, out, (long long)paths, flop_step / 1e9,
                   jobs[nj].cost / 1e15, mem / 1e6, shard / 1e6);
        }
    SchedPlan pl;
    sched_plan(jobs, nj, ranks, &pl);
    printf("\n%d ranks, %d jobs: %s\n", ranks, nj,
           pl.grouped ? "one rank group per job, data-parallel within a group"
                      : "whole jobs per rank, longest first");
    for (int r = 0; r < ranks; r++) {
        int js[SPACE_MAX_BLOCKS * SPACE_MAX_CELLS];
        int n = sched_jobs_of_rank(&pl, r, js, nj);
        printf("  rank %3d  load %9.4f PF  jobs", r, pl.rank_load[r] / 1e15);
        for (int i = 0; i < n; i++)
            printf(" %d(b%d.c%d%s)", js[i], jobs[js[i]].block + 1, jobs[js[i]].cell + 1,
                   pl.grouped ? (pl.group_size[js[i]] > 1 ? ",shared" : "") : "");
        printf("\n");
    }
    printf("load balance (max/mean rank load): %.3f\n", pl.balance);
    sched_free(&pl);
    print_generations(cfg, nj, n_fit);
}

// [CFG] [section.key=value ...] [--ranks R] (R: this run's rank count)
static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    (void)all;
    int ranks = ctx->nranks, n = 0;
    char **rest = dna_calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--ranks")) {
            rest[n++] = argv[i];
            continue;
        }
        char *end = NULL;
        long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
        DNA_CHECK(end && !*end && v > 0, "give a positive integer",
                  "--ranks expects a positive "
                  "integer, got '%s'",
                  i + 1 < argc ? argv[i + 1] : "");
        ranks = (int)v, i++;
    }
    Config cfg;
    runner_args(ctx, NULL, n, rest, &cfg);
    free(rest);
    if (ctx->rank == 0) print_plan(ctx, &cfg, ranks);
    return 0;
}

const Stage STAGE_PLAN = {
    .name = "plan",
    .help = "search-space size, per-job cost/memory/shard bytes, job->rank map (--ranks R)",
    .command = command,
};
