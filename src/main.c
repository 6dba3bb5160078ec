// dna: the command line. One binary, one subcommand per pipeline stage (DESIGN §1). The
// stages arrive issue by issue; this file parses arguments and dispatches, nothing more.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/timer.h"
#include "par/par.h"
#include "train/cell_step.h"
#include "io/shard.h"
#include "train/features.h"
#include "train/stage.h"
#include "train/teacher.h"

#ifndef DNA_GIT_REV
#define DNA_GIT_REV "unknown"
#endif
#define DNA_VERSION "0.1.0"

typedef struct Command {
    const char *name, *help;
    int (*run)(RunCtx *ctx, int argc, char **argv);
} Command;

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

// check: trains the W1 supernet cell (anchors/README.md) for a few steps on synthetic
// tensors on every rank, to show that the build, the backend and MPI work on this machine.
static int cmd_check(RunCtx *ctx, int argc, char **argv) {
    int steps = int_flag(argc, argv, "--steps", 10), batch = int_flag(argc, argv, "--batch", 64);
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
    Progress pr;
    progress_init(&pr, ctx, "check", "step", steps);
    pr.interval = 2.0;
    double first = 0, loss = 0, t0 = timer_now();
    for (int s = 0; s < steps; s++) {
        int path[4];
        for (int i = 0; i < 4; i++) path[i] = (int)rng_below(&paths, 6);
        loss = cell_train_step(be, &cell, path, &x, &y, &dy, &opt);
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

static int cmd_version(RunCtx *ctx, int argc, char **argv) {
    (void)argc, (void)argv;
    log_info(ctx, "dnafam %s (git %s), backend %s, %d rank(s), %d OpenMP thread(s)", DNA_VERSION,
             DNA_GIT_REV, ctx->be->name, ctx->nranks, omp_get_max_threads());
    return 0;
}

// Stage arguments: [CFG] [section.key=value ...] [--force]. Without CFG the defaults hold.
typedef struct StageArgs {
    Config cfg;
    int force;
} StageArgs;

static void stage_args(RunCtx *ctx, int argc, char **argv, StageArgs *a) {
    const char *path = NULL;
    char **over = dna_calloc((size_t)argc + 1, sizeof(char *));
    int nover = 0;
    a->force = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--force"))
            a->force = 1;
        else if (strchr(argv[i], '='))
            over[nover++] = argv[i];
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else
            DNA_FAIL("usage: dna STAGE [CFG] [section.key=value ...] [--force]",
                     "unexpected argument '%s'", argv[i]);
    }
    config_load(&a->cfg, path, over, nover);
    free(over);
    ctx->seed = (uint64_t)a->cfg.run.seed;
    stage_prepare(ctx, &a->cfg);
}

// Skips a stage whose output exists (outputs appear only by rename) unless --force.
static int skip_stage(const RunCtx *ctx, const StageArgs *a, const char *what, const char *path) {
    if (!stage_done(path)) return 0;
    if (a->force) {
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

static int run_data(RunCtx *ctx, StageArgs *ap) {
    StageArgs a = *ap;
    char path[1100], hash[17];
    config_run_path(&a.cfg, "dataset.h5", path, sizeof path);
    if (skip_stage(ctx, &a, "data", path)) return 0;
    if (ctx->rank == 0) {
        double t0 = timer_now();
        DataImport imp = {.source = a.cfg.data.source,
                          .path = a.cfg.data.path,
                          .classes = (int)a.cfg.data.classes,
                          .search_per_class = (int)a.cfg.data.search_per_class,
                          .seed = (unsigned long long)a.cfg.run.seed,
                          .limit_train = (int)a.cfg.data.limit_train,
                          .limit_test = (int)a.cfg.data.limit_test};
        H5Prov prov = stage_prov(ctx, &a.cfg, DATASET_FORMAT, hash);
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

static int run_teacher(RunCtx *ctx, StageArgs *ap) {
    StageArgs a = *ap;
    char path[1100];
    config_run_path(&a.cfg, "teacher.h5", path, sizeof path);
    if (skip_stage(ctx, &a, "teacher", path)) return 0;
    Dataset d;
    load_dataset(&a.cfg, &d);
    Teacher t;
    double t0 = timer_now();
    if (a.cfg.teacher.import[0]) {
        teacher_load(ctx->be, a.cfg.teacher.import, &t);
        DNA_CHECK(t.net.cfg.classes == d.classes && t.net.cfg.cin == d.train.c,
                  "import a teacher trained for this dataset's classes and channels",
                  "'%s' has %d inputs channels and %d classes; the dataset %d and %d",
                  a.cfg.teacher.import, t.net.cfg.cin, t.net.cfg.classes, d.train.c, d.classes);
        t.top1 = teacher_evaluate(ctx, &a.cfg, &d, &t);
        log_info(ctx, "teacher: imported %s, test top-1 %.2f%%", a.cfg.teacher.import,
                 100.0 * t.top1);
    } else {
        EffNetCfg arch;
        teacher_arch_from_config(&a.cfg, d.train.c, &arch);
        t = (Teacher){.in_hw = d.train.h + 2 * (int)a.cfg.data.pad};
        memcpy(t.mean, d.mean, sizeof t.mean);
        memcpy(t.std, d.std, sizeof t.std);
        Rng root = rng_new(ctx->seed), init = rng_split(&root, 101);
        effnet_init(ctx->be, &t.net, &arch, t.in_hw, &init);
        teacher_train(ctx, &a.cfg, &d, &t);
        log_info(ctx, "teacher: test top-1 %.2f%% after %ld epochs, %.1f s", 100.0 * t.top1,
                 a.cfg.teacher.epochs, timer_now() - t0);
    }
    if (ctx->rank == 0) teacher_save(ctx, &a.cfg, &t, path);
    par_barrier();
    teacher_free(ctx->be, &t);
    dataset_free(&d);
    return 0;
}

static int run_features(RunCtx *ctx, StageArgs *ap) {
    StageArgs a = *ap;
    char path[1100];
    config_run_path(&a.cfg, "features/COMPLETE", path, sizeof path);
    if (skip_stage(ctx, &a, "features", path)) return 0;
    DNA_CHECK(!a.force, "delete the run's features/ directory to rewrite the shards",
              "features: --force would mix old and new shards");
    Dataset d;
    load_dataset(&a.cfg, &d);
    config_run_path(&a.cfg, "teacher.h5", path, sizeof path);
    DNA_CHECK(stage_done(path), "run `dna teacher CFG` first", "no teacher '%s'", path);
    Teacher t;
    teacher_load(ctx->be, path, &t);
    features_extract(ctx, &a.cfg, &d, &t);
    teacher_free(ctx->be, &t);
    dataset_free(&d);
    return 0;
}

// shards: reads every split's shards back in global sample order and prints, per dataset,
// the sample count and an FNV-1a digest of the fp32 values: equal digests mean equal
// content however the shards were partitioned (a check after copying them elsewhere, and
// the 1-rank vs 2-rank test).
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ULL;
    return h;
}

static int cmd_shards(RunCtx *ctx, int argc, char **argv) {
    StageArgs a;
    stage_args(ctx, argc, argv, &a);
    if (ctx->rank != 0) return 0;
    char path[1100];
    config_run_path(&a.cfg, "teacher.h5", path, sizeof path);
    Teacher t;
    teacher_load(ctx->be, path, &t);
    for (int s = 0; s < FEATURES_NSPLITS; s++) {
        char sub[64];
        snprintf(sub, sizeof sub, "features/%s", FEATURES_SPLITS[s]);
        config_run_path(&a.cfg, sub, path, sizeof path);
        for (int k = 1; k <= t.net.cfg.nblocks; k++) {
            ShardReaderCfg rc = {.block = k, .batch = 256, .nparts = 1};
            ShardReader *r = shard_reader_open(path, &rc, NULL, NULL);
            shard_reader_start_epoch(r, 0, 0);
            const EffNet *e = &t.net;
            size_t in = k == 1 ? (size_t)e->cfg.cin * t.in_hw * t.in_hw
                               : (size_t)e->block_c[k - 2] * e->block_hw[k - 2] * e->block_hw[k - 2];
            size_t out = (size_t)e->block_c[k - 1] * e->block_hw[k - 1] * e->block_hw[k - 1];
            uint64_t hx = 1469598103934665603ULL, hy = hx, hl = hx;
            long n = 0;
            const float *x, *y;
            const int32_t *lab;
            const int64_t *ids;
            for (int b; (b = shard_reader_next(r, &x, &y, &lab, &ids)) > 0; n += b) {
                if (k == 1) hx = fnv(hx, x, sizeof(float) * in * b);
                hy = fnv(hy, y, sizeof(float) * out * b);
                hl = fnv(fnv(hl, lab, sizeof(int32_t) * b), ids, sizeof(int64_t) * b);
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

#define STAGE_CMD(name)                                         \
    static int cmd_##name(RunCtx *ctx, int argc, char **argv) { \
        StageArgs a;                                            \
        stage_args(ctx, argc, argv, &a);                        \
        return run_##name(ctx, &a);                             \
    }
STAGE_CMD(data)
STAGE_CMD(teacher)
STAGE_CMD(features)

// run: every stage in order; each skips itself when its output is complete, so a rerun
// after a crash or a time limit continues where the last one stopped. --force applies to
// none of them (delete the run directory to start over).
static int cmd_run(RunCtx *ctx, int argc, char **argv) {
    StageArgs a;
    stage_args(ctx, argc, argv, &a);
    DNA_CHECK(!a.force, "rerun single stages with --force, or delete the run directory",
              "run: --force is not supported");
    double t0 = timer_now();
    int (*stages[])(RunCtx *, StageArgs *) = {run_data, run_teacher, run_features};
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++)
        if (stages[i](ctx, &a)) return 1;
    char dir[1024];
    config_run_path(&a.cfg, NULL, dir, sizeof dir);
    log_info(ctx, "run: stages data, teacher, features complete in %s (%.1f s)", dir,
             timer_now() - t0);
    return 0;
}

static int cmd_help(RunCtx *ctx, int argc, char **argv);

static const Command COMMANDS[] = {
    {"run", "the whole pipeline (stages so far: data, teacher, features), resumable", cmd_run},
    {"data", "import the dataset, draw the search split -> <run>/dataset.h5", cmd_data},
    {"teacher", "train (or import) the teacher -> <run>/teacher.h5", cmd_teacher},
    {"features", "teacher feature maps at the block boundaries -> <run>/features/", cmd_features},
    {"shards", "read the feature shards back and print a content digest per dataset", cmd_shards},
    {"check", "train the W1 supernet cell for a few steps (--steps N, --batch B)", cmd_check},
    {"version", "print version, git revision and backend", cmd_version},
    {"help", "this list", cmd_help},
};
enum { NCOMMANDS = sizeof COMMANDS / sizeof COMMANDS[0] };

static int cmd_help(RunCtx *ctx, int argc, char **argv) {
    (void)argc, (void)argv;
    if (ctx->rank != 0) return 0;
    printf("usage: dna COMMAND [options]   (run under mpirun/srun for several ranks)\n\n");
    for (int i = 0; i < NCOMMANDS; i++) printf("  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    printf(
        "\nStages take [CFG] [section.key=value ...] [--force]; without CFG the defaults\n"
        "(inputs/fashion_mnist.cfg) hold. `dna help config` lists every config key.\n");
    if (argc > 1 && !strcmp(argv[1], "config")) config_help(stdout);
    return 0;
}

int main(int argc, char **argv) {
    RunCtx ctx = ctx_local(backend_cpu(), 0);
    ctx.version = DNA_VERSION;
    ctx.git_rev = DNA_GIT_REV;
    par_init(&ctx, &argc, &argv);
    const char *name = argc > 1 ? argv[1] : "help";
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(name, COMMANDS[i].name)) {
            int rc = COMMANDS[i].run(&ctx, argc - 1, argv + 1);
            par_finalize();
            return rc;
        }
    DNA_FAIL("run 'dna help' for the list of commands", "unknown command '%s'", name);
}
