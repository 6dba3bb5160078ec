// Stage drivers (see stages.h).
#include "train/stages.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/timer.h"
#include "io/shard.h"
#include "nas/space.h"
#include "train/distill.h"
#include "par/par.h"
#include "par/sched.h"
#include "train/features.h"
#include "train/rating.h"
#include "train/searching.h"
#include "train/stage.h"
#include "train/teacher.h"

// Skips a stage whose output exists (outputs appear only by rename) unless --force.
static int skip_stage(const RunCtx *ctx, int force, const char *what, const char *path) {
    if (!stage_done(path)) return 0;
    if (force) {
        log_info(ctx, "%s: --force: rewriting %s", what, path);
        return 0;
    }
    log_info(ctx, "%s: %s is complete; skipping (--force reruns)", what, path);
    return 1;
}

static void load_dataset(const Config *cfg, Dataset *d) {
    char path[1100];
    config_run_path(cfg, "dataset.h5", path, sizeof path);
    DNA_CHECK(stage_done(path), "run `dna data CFG` first", "no dataset file '%s'", path);
    dataset_load(path, d);
    DNA_CHECK(d->classes == cfg->data.classes, "set [data] classes to the dataset's",
              "'%s' has %d classes, the config says %ld", path, d->classes, cfg->data.classes);
}

int stage_data(const RunCtx *ctx, const Config *cfg, int force) {
    char path[1100], hash[17];
    config_run_path(cfg, "dataset.h5", path, sizeof path);
    if (skip_stage(ctx, force, "data", path)) return STAGE_SKIPPED;
    if (ctx->rank == 0) {
        double t0 = timer_now();
        DataImport imp = {.source = cfg->data.source,
                          .path = cfg->data.path,
                          .classes = (int)cfg->data.classes,
                          .search_per_class = (int)cfg->data.search_per_class,
                          .seed = (unsigned long long)cfg->run.seed,
                          .limit_train = (int)cfg->data.limit_train,
                          .limit_test = (int)cfg->data.limit_test,
                          .expect_c = (int)cfg->data.channels,
                          .expect_hw = (int)cfg->data.image_size,
                          .expect_train = (int)cfg->data.train_size};
        H5Prov prov = stage_prov(ctx, cfg, DATASET_FORMAT, hash);
        dataset_import(&imp, &prov, path);
        Dataset d;
        dataset_load(path, &d);
        log_info(ctx,
                 "data: %s from %s: train %d, test %d images of %dx%dx%d, %d classes; search split "
                 "%d (%d/class), supernet-training split %d; %.1f s -> %s",
                 imp.source, imp.path, d.train.n, d.test.n, d.train.c, d.train.h, d.train.w,
                 d.classes, d.n_search, d.search_per_class, d.n_fit, timer_now() - t0, path);
        dataset_free(&d);
    }
    par_barrier();
    return 0;
}

int stage_teacher(const RunCtx *ctx, const Config *cfg, int force) {
    char path[1100];
    config_run_path(cfg, "teacher.h5", path, sizeof path);
    if (skip_stage(ctx, force, "teacher", path)) return STAGE_SKIPPED;
    Dataset d;
    load_dataset(cfg, &d);
    Teacher t;
    double t0 = timer_now();
    if (cfg->teacher.import[0]) {
        teacher_load(ctx->be, cfg->teacher.import, &t);
        DNA_CHECK(t.net.cfg.classes == d.classes && t.net.cfg.cin == d.train.c,
                  "import a teacher trained for this dataset's classes and channels",
                  "'%s' has %d inputs channels and %d classes; the dataset %d and %d",
                  cfg->teacher.import, t.net.cfg.cin, t.net.cfg.classes, d.train.c, d.classes);
        t.top1 = teacher_evaluate(ctx, cfg->teacher.fit.eval_batch, &d, &t);
        log_info(ctx, "teacher: imported %s, test top-1 %.2f%%", cfg->teacher.import,
                 100.0 * t.top1);
    } else {
        EffNetCfg arch;
        teacher_arch_from_config(cfg, d.train.c, &arch);
        t = (Teacher){.in_hw = d.train.h + 2 * (int)cfg->data.pad};
        memcpy(t.mean, d.mean, sizeof t.mean);
        memcpy(t.std, d.std, sizeof t.std);
        Rng root = rng_new(ctx->seed), init = rng_split(&root, 101);
        effnet_init(ctx->be, &t.net, &arch, t.in_hw, &init);
        Recipe r = recipe_teacher(cfg);
        teacher_train(ctx, cfg, &r, &d, &t, NULL);
        log_info(ctx, "teacher: test top-1 %.2f%% after %ld epochs, %.1f s", 100.0 * t.top1,
                 cfg->teacher.fit.epochs, timer_now() - t0);
    }
    if (ctx->rank == 0) teacher_save(ctx, cfg, &t, path);
    par_barrier();
    teacher_free(ctx->be, &t);
    dataset_free(&d);
    return 0;
}

int stage_features(const RunCtx *ctx, const Config *cfg, int force) {
    char path[1100];
    config_run_path(cfg, "features/COMPLETE", path, sizeof path);
    DNA_CHECK(!force, "delete the run's features/ directory to rewrite the shards",
              "features: --force would mix old and new shards");
    if (skip_stage(ctx, force, "features", path)) return STAGE_SKIPPED;
    Dataset d;
    load_dataset(cfg, &d);
    config_run_path(cfg, "teacher.h5", path, sizeof path);
    DNA_CHECK(stage_done(path), "run `dna teacher CFG` first", "no teacher '%s'", path);
    Teacher t;
    teacher_load(ctx->be, path, &t);
    features_extract(ctx, cfg, &d, &t);
    teacher_free(ctx->be, &t);
    dataset_free(&d);
    return 0;
}

// shards: reads every split's shards back in global sample order and prints, per dataset,
// the sample count and an FNV-1a digest of the fp32 values: equal digests mean equal
// content however the shards were partitioned (a check after copying them elsewhere, and
// the 1-rank vs 2-rank test).

int stage_shards_digest(const RunCtx *ctx, const Config *cfg) {
    if (ctx->rank != 0) return 0;
    char path[1100];
    config_run_path(cfg, "teacher.h5", path, sizeof path);
    Teacher t;
    teacher_load(ctx->be, path, &t);
    for (int s = 0; s < FEATURES_NSPLITS; s++) {
        char sub[64];
        snprintf(sub, sizeof sub, "features/%s", FEATURES_SPLITS[s]);
        config_run_path(cfg, sub, path, sizeof path);
        for (int k = 1; k <= t.net.cfg.nblocks; k++) {
            ShardReaderCfg rc = {.block = k, .batch = 256, .nparts = 1};
            ShardReader *r = shard_reader_open(path, &rc, NULL, NULL);
            shard_reader_start_epoch(r, 0, 0);
            const EffNet *e = &t.net;
            size_t in = k == 1 ? (size_t)e->cfg.cin * t.in_hw * t.in_hw
                               : (size_t)e->block_c[k - 2] * e->block_hw[k - 2] * e->block_hw[k - 2];
            size_t out = (size_t)e->block_c[k - 1] * e->block_hw[k - 1] * e->block_hw[k - 1];
            uint64_t hx = FNV1A_INIT, hy = hx, hl = hx;
            long n = 0;
            const float *x, *y;
            const int32_t *lab;
            const int64_t *ids;
            for (int b; (b = shard_reader_next(r, &x, &y, &lab, &ids)) > 0; n += b) {
                if (k == 1) hx = fnv1a(hx, x, sizeof(float) * in * b);
                hy = fnv1a(hy, y, sizeof(float) * out * b);
                hl = fnv1a(fnv1a(hl, lab, sizeof(int32_t) * b), ids, sizeof(int64_t) * b);
            }
            if (k == 1)
                printf("shards %s /x n=%ld digest=%016llx labels+ids=%016llx\n", FEATURES_SPLITS[s],
                       n, (unsigned long long)hx, (unsigned long long)hl);
            printf("shards %s /block%d n=%ld digest=%016llx\n", FEATURES_SPLITS[s], k, n,
                   (unsigned long long)hy);
            shard_reader_free(r);
        }
    }
    teacher_free(ctx->be, &t);
    return 0;
}


int stage_plan(const RunCtx *ctx, const Config *cfg, int ranks) {
    if (ctx->rank != 0) return 0;
    EffNetCfg t;
    teacher_arch_from_config(cfg, (int)cfg->data.channels, &t);
    int in_hw = (int)(cfg->data.image_size + 2 * cfg->data.pad);
    Space sp;
    space_from_config(cfg, &t, in_hw, &sp);
    long n_train = cfg->data.train_size;
    if (cfg->data.limit_train > 0 && cfg->data.limit_train < n_train) n_train = cfg->data.limit_train;
    long n_fit = n_train - cfg->data.classes * cfg->data.search_per_class;
    DNA_CHECK(n_fit > 0 && cfg->train.batch > 0 && cfg->train.epochs > 0,
              "check [data] train_size / search_per_class and [train] batch / epochs",
              "plan: %ld supernet-training images, batch %ld, %ld epochs", n_fit, cfg->train.batch,
              cfg->train.epochs);
    long steps = cfg->train.epochs * (n_fit / cfg->train.batch);
    printf("plan: %s, teacher input %dx%dx%d, %d blocks; supernet-training split %ld images, "
           "%ld epochs x %ld steps of %ld per job\n",
           cfg->path[0] ? cfg->path : "defaults", t.cin, in_hw, in_hw, sp.nblocks, n_fit,
           cfg->train.epochs, n_fit / cfg->train.batch, cfg->train.batch);
    printf("architectures per block:");
    for (int k = 0; k < sp.nblocks; k++) printf(" %.0f", space_block_paths(&sp, k));
    printf("; in total %.3g\n\n", space_total(&sp));
    printf("%4s %5s %4s %6s %5s %6s %15s %15s %10s %10s %9s %9s %9s\n", "job", "block", "cell",
           "layers", "width", "stride", "input", "target", "paths", "GFLOP/step", "total PF",
           "mem MB", "shard MB");
    SchedJob jobs[SPACE_MAX_BLOCKS * SPACE_MAX_CELLS];
    int nj = 0;
    for (int k = 0; k < sp.nblocks; k++)
        for (int c = 0; c < sp.block[k].ncells; c++, nj++) {
            const SpaceBlock *b = &sp.block[k];
            const CellCfg *cc = &b->cell[c];
            double flop_step = 6.0 * space_cell_macs(&sp, k, c) * (double)cfg->train.batch;
            double mem = 16.0 * (double)space_cell_params(&sp, k, c) +
                         4.0 * 8.0 * cc->layers * (double)space_cell_act(&sp, k, c) *
                             (double)cfg->train.batch;
            double per = (double)b->in_c * b->in_hw * b->in_hw + (double)b->out_c * b->out_hw * b->out_hw;
            double shard = per * (strcmp(cfg->features.dtype, "float16") ? 4 : 2) * (double)n_fit;
            char in[32], out[32];
            snprintf(in, sizeof in, "%dx%dx%d", b->in_c, b->in_hw, b->in_hw);
            snprintf(out, sizeof out, "%dx%dx%d", b->out_c, b->out_hw, b->out_hw);
            jobs[nj] = (SchedJob){.block = k, .cell = c, .cost = flop_step * (double)steps};
            printf("%4d %5d %4d %6d %5d %6d %15s %15s %10.0f %10.3f %9.4f %9.0f %9.0f\n", nj, k + 1,
                   c + 1, cc->layers, cc->width, cc->stride, in, out, pow(cc->nops, cc->layers),
                   flop_step / 1e9, jobs[nj].cost / 1e15, mem / 1e6, shard / 1e6);
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
    return 0;
}

void stage_space(const RunCtx *ctx, const Config *cfg, Space *sp, EffNetCfg *arch,
                         int *in_hw) {
    char path[1100];
    config_run_path(cfg, "teacher.h5", path, sizeof path);
    DNA_CHECK(stage_done(path), "run `dna teacher CFG` first", "no teacher '%s'", path);
    Teacher t;
    teacher_load(ctx->be, path, &t);
    space_from_config(cfg, &t.net.cfg, t.in_hw, sp);
    if (arch) *arch = t.net.cfg;
    if (in_hw) *in_hw = t.in_hw;
    teacher_free(ctx->be, &t);
}

int stage_train(const RunCtx *ctx, const Config *cfg, int force) {
    char path[1100];
    config_run_path(cfg, "ckpt/COMPLETE", path, sizeof path);
    DNA_CHECK(!force, "delete the run's ckpt/ directory to retrain from scratch",
              "train: --force would mix old and new checkpoints");
    if (skip_stage(ctx, force, "train", path)) return STAGE_SKIPPED;
    config_run_path(cfg, "features/COMPLETE", path, sizeof path);
    DNA_CHECK(stage_done(path), "run `dna features CFG` first", "no feature shards ('%s')", path);
    config_run_path(cfg, "teacher.h5", path, sizeof path);
    Space sp;
    stage_space(ctx, cfg, &sp, NULL, NULL);
    distill_train(ctx, cfg, &sp);
    if (ctx->rank == 0) {
        config_run_path(cfg, "ckpt/COMPLETE", path, sizeof path);
        FILE *f = fopen(path, "w");
        DNA_CHECK(f && fclose(f) == 0, "check the disk", "cannot write '%s'", path);
    }
    par_barrier();
    return 0;
}

int stage_rate(const RunCtx *ctx, const Config *cfg, int force) {
    char path[1100];
    DNA_CHECK(!force, "delete the run's rate/ directory and potentials.h5 to rate again",
              "rate: --force would mix old and new unit files");
    config_run_path(cfg, "potentials.h5", path, sizeof path);
    if (skip_stage(ctx, force, "rate", path)) return STAGE_SKIPPED;
    DNA_CHECK(cfg->rate.batch > 0 && cfg->rate.recal_batch > 0 && cfg->rate.limit >= 0,
              "give positive [rate] batch and recal_batch, and limit >= 0",
              "%s: bad [rate] section", cfg->path[0] ? cfg->path : "config");
    config_run_path(cfg, "ckpt/COMPLETE", path, sizeof path);
    DNA_CHECK(stage_done(path), "run `dna train CFG` first", "no trained supernet ('%s')", path);
    Space sp;
    stage_space(ctx, cfg, &sp, NULL, NULL);
    double t0 = timer_now();
    rating_run(ctx, cfg, &sp);
    log_info(ctx, "rate: %.3g paths rated in %.1f s", space_total_paths(&sp), timer_now() - t0);
    return 0;
}

int stage_search(const RunCtx *ctx, const Config *cfg, int force) {
    char path[1100];
    config_run_path(cfg, "arch.json", path, sizeof path);
    if (skip_stage(ctx, force, "search", path)) return STAGE_SKIPPED;
    Space sp;
    EffNetCfg arch;
    int in_hw;
    stage_space(ctx, cfg, &sp, &arch, &in_hw);
    searching_run(ctx, cfg, &sp, &arch, in_hw);
    par_barrier();
    return 0;
}
