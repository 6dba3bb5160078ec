// dna: the command line. One binary, one subcommand per pipeline stage (DESIGN §1). The
// stages arrive issue by issue; this file parses arguments and dispatches, nothing more.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/config.h"
#include "core/log.h"
#include "core/timer.h"
#include "nas/arch.h"
#include "par/par.h"
#include "train/cell_step.h"
#include "train/bench.h"
#include "train/compare.h"
#include "train/ranking.h"
#include "train/report.h"
#include "train/retrain.h"
#include "train/spos.h"
#include "train/stage.h"
#include "train/stages.h"

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

static const char *str_flag(int argc, char **argv, const char *flag, const char *def) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], flag)) {
            DNA_CHECK(i + 1 < argc, "give a value after the flag", "%s needs a value", flag);
            return argv[i + 1];
        }
    return def;
}

// check: trains the W1 supernet cell (anchors/README.md) for a few steps on synthetic
// tensors on every rank, to show that the build, the backend and MPI work on this machine.
static int cmd_check(RunCtx *ctx, int argc, char **argv) {
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

static int cmd_version(RunCtx *ctx, int argc, char **argv) {
    backend_use(ctx, str_flag(argc, argv, "--backend", "auto"));
    log_info(ctx, "dnafam %s (git %s), backend %s (%s), %d rank(s), %d OpenMP thread(s)",
             DNA_VERSION, DNA_GIT_REV, ctx->be->name, ctx->be->lib_version(), ctx->nranks,
             omp_get_max_threads());
    return 0;
}

// Stage arguments: [CFG] [section.key=value ...] [--backend B] [--force]. Without CFG the
// defaults hold. --backend B stands for run.backend=B, so config.ini records it.
typedef struct StageArgs {
    Config cfg;
    int force;
} StageArgs;

static void stage_args(RunCtx *ctx, int argc, char **argv, StageArgs *a) {
    const char *path = NULL;
    char **over = dna_calloc((size_t)argc + 1, sizeof(char *));
    char backend[64];
    int nover = 0;
    a->force = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--force")) {
            a->force = 1;
        } else if (!strcmp(argv[i], "--backend")) {
            DNA_CHECK(i + 1 < argc, "give cpu, cuda or auto", "--backend needs a value");
            snprintf(backend, sizeof backend, "run.backend=%s", argv[++i]);
            over[nover++] = backend;
        } else if (strchr(argv[i], '='))
            over[nover++] = argv[i];
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else
            DNA_FAIL("usage: dna STAGE [CFG] [section.key=value ...] [--backend B] [--force]",
                     "unexpected argument '%s'", argv[i]);
    }
    config_load(&a->cfg, path, over, nover);
    free(over);
    ctx->seed = (uint64_t)a->cfg.run.seed;
    backend_use(ctx, a->cfg.run.backend);
    stage_prepare(ctx, &a->cfg);
}

#define STAGE_CMD(name)                                         \
    static int cmd_##name(RunCtx *ctx, int argc, char **argv) { \
        StageArgs a;                                            \
        stage_args(ctx, argc, argv, &a);                        \
        stage_timed(ctx, &a.cfg, #name, stage_##name, a.force); \
        return 0;                                               \
    }
STAGE_CMD(data)
STAGE_CMD(teacher)
STAGE_CMD(features)
STAGE_CMD(train)
STAGE_CMD(rate)
STAGE_CMD(report)
STAGE_CMD(spos)

// shards: a content digest of the feature shards, equal however they were partitioned (a
// check after copying them elsewhere, and the 1-rank vs 2-rank test).
static int cmd_shards(RunCtx *ctx, int argc, char **argv) {
    StageArgs a;
    stage_args(ctx, argc, argv, &a);
    return stage_shards_digest(ctx, &a.cfg);
}

// run: every stage in order; each skips itself when its output is complete, so a rerun
// after a crash or a time limit continues where the last one stopped. --force applies to
// none of them (delete the run directory to start over).
static int cmd_run(RunCtx *ctx, int argc, char **argv) {
    StageArgs a;
    stage_args(ctx, argc, argv, &a);
    DNA_CHECK(!a.force, "rerun single stages with --force, or delete the run directory",
              "run: --force is not supported");
    double t0 = timer_now();
    static const struct {
        const char *name;
        StageFn fn;
    } STAGES[] = {{"data", stage_data},       {"teacher", stage_teacher}, {"features", stage_features},
                  {"train", stage_train},     {"rate", stage_rate},       {"search", stage_search},
                  {"retrain", stage_retrain}, {"report", stage_report}};
    for (size_t i = 0; i < sizeof STAGES / sizeof STAGES[0]; i++)
        stage_timed(ctx, &a.cfg, STAGES[i].name, STAGES[i].fn, 0);
    char dir[1024];
    config_run_path(&a.cfg, NULL, dir, sizeof dir);
    log_info(ctx, "run: stages data, teacher, features, train, rate, search, retrain, report "
             "complete in %s (%.1f s); see %s/report.md", dir, timer_now() - t0, dir);
    return 0;
}

static int cmd_plan(RunCtx *ctx, int argc, char **argv) {
    int ranks = int_flag(argc, argv, "--ranks", ctx->nranks);
    char **rest = dna_calloc((size_t)argc + 1, sizeof(char *));
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--ranks")) {
            i++;
            continue;
        }
        rest[n++] = argv[i];
    }
    StageArgs a;
    stage_args(ctx, n, rest, &a);
    free(rest);
    return stage_plan(ctx, &a.cfg, ranks);
}

// Stage arguments where flags stand for config overrides: FLAG VALUE becomes key=VALUE, so
// the run's config.ini records them.
typedef struct FlagKey {
    const char *flag, *key;
} FlagKey;

static void stage_args_flags(RunCtx *ctx, int argc, char **argv, const FlagKey *fk, int nfk,
                             StageArgs *a) {
    char **rest = dna_calloc((size_t)argc + 1, sizeof(char *));
    char (*made)[1200] = dna_calloc((size_t)argc + 1, sizeof *made);
    int n = 0;
    for (int i = 0; i < argc; i++) {
        int f = -1;
        for (int j = 0; j < nfk; j++)
            if (!strcmp(argv[i], fk[j].flag)) f = j;
        if (f < 0) {
            rest[n++] = argv[i];
            continue;
        }
        DNA_CHECK(i + 1 < argc, "give a value after the flag", "%s needs a value", argv[i]);
        snprintf(made[n], sizeof made[n], "%s=%s", fk[f].key, argv[++i]);
        rest[n] = made[n], n++;
    }
    stage_args(ctx, n, rest, a);
    free(rest), free(made);
}

// search: budgets and K as flags (--max-params P --max-flops F --top K). Always recomputes.
static int cmd_search(RunCtx *ctx, int argc, char **argv) {
    static const FlagKey FLAGS[] = {
        {"--max-params", "search.max_params"}, {"--max-flops", "search.max_macs"}, {"--top", "search.top"}};
    StageArgs a;
    stage_args_flags(ctx, argc, argv, FLAGS, 3, &a);
    stage_timed(ctx, &a.cfg, "search", stage_search, 1);
    return 0;
}

// export: an arch.json as timm's arch_def (Python) or as the canonical JSON (doc/formats.md).
static int cmd_export(RunCtx *ctx, int argc, char **argv) {
    const char *path = NULL, *format = "timm";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc)
            format = argv[++i];
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else
            DNA_FAIL("usage: dna export ARCH.json [--format timm|json]", "unexpected argument '%s'",
                     argv[i]);
    }
    DNA_CHECK(path, "usage: dna export ARCH.json [--format timm|json]", "export: no file given");
    DNA_CHECK(!strcmp(format, "timm") || !strcmp(format, "json"), "use --format timm or json",
              "export: unknown format '%s'", format);
    if (ctx->rank != 0) return 0;
    Arch a;
    arch_load(path, &a);
    if (!strcmp(format, "timm")) {
        arch_print_timm(&a, stdout);
    } else {
        char *js = arch_to_json(&a, NULL);
        printf("%s\n", js);
        free(js);
    }
    return 0;
}

// bench: --n N stands for bench.n=N.
static int cmd_bench(RunCtx *ctx, int argc, char **argv) {
    static const FlagKey FLAGS[] = {{"--n", "bench.n"}};
    StageArgs a;
    stage_args_flags(ctx, argc, argv, FLAGS, 1, &a);
    stage_timed(ctx, &a.cfg, "bench", stage_bench, a.force);
    return 0;
}

// rank: --compare RUN_A RUN_B (two runs' path ratings), or a rating against a bench:
// [CFG] [--potentials FILE | --scores CSV] [--truth CSV] [--name NAME] [--out PREFIX].
static int cmd_rank(RunCtx *ctx, int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--compare")) {
        DNA_CHECK(argc == 4, "usage: dna rank --compare RUN_A RUN_B",
                  "rank: --compare takes two run directories");
        return compare_runs(ctx, argv[2], argv[3]);
    }
    static const char *FLAGS[] = {"--potentials", "--scores", "--truth", "--name", "--out"};
    const char *val[5] = {0};
    char **rest = dna_calloc((size_t)argc + 1, sizeof(char *));
    int n = 0, positional = 0;
    for (int i = 0; i < argc; i++) {
        int f = -1;
        for (int j = 0; j < 5; j++)
            if (!strcmp(argv[i], FLAGS[j])) f = j;
        if (f < 0) {
            positional += i > 0;
            rest[n++] = argv[i];
            continue;
        }
        DNA_CHECK(i + 1 < argc, "give a value after the flag", "%s needs a value", argv[i]);
        val[f] = argv[++i];
    }
    char name[256];
    if (val[3]) {
        snprintf(name, sizeof name, "%s", val[3]);
    } else if (val[1]) {  // the scores file's name without directory and .csv
        const char *base = strrchr(val[1], '/');
        snprintf(name, sizeof name, "%s", base ? base + 1 : val[1]);
        char *dot = strrchr(name, '.');
        if (dot && !strcmp(dot, ".csv")) *dot = 0;
    } else {
        snprintf(name, sizeof name, "dna");
    }
    RankArgs ra = {.potentials = val[0], .scores = val[1], .truth = val[2], .name = name, .out = val[4]};
    StageArgs a;
    if (positional || !(val[1] && val[2])) {
        stage_args(ctx, n, rest, &a);
        ra.cfg = &a.cfg;
    }
    free(rest);
    return rank_run(ctx, &ra);
}

// retrain: --arch FILE stands for retrain.arch=FILE.
static int cmd_retrain(RunCtx *ctx, int argc, char **argv) {
    static const FlagKey FLAGS[] = {{"--arch", "retrain.arch"}};
    StageArgs a;
    stage_args_flags(ctx, argc, argv, FLAGS, 1, &a);
    stage_timed(ctx, &a.cfg, "retrain", stage_retrain, a.force);
    return 0;
}

static int cmd_help(RunCtx *ctx, int argc, char **argv);

static const Command COMMANDS[] = {
    {"run", "the whole pipeline data -> ... -> retrain -> report, each stage skipped when complete",
     cmd_run},
    {"data", "import the dataset, draw the search split -> <run>/dataset.h5", cmd_data},
    {"teacher", "train (or import) the teacher -> <run>/teacher.h5", cmd_teacher},
    {"features", "teacher feature maps at the block boundaries -> <run>/features/", cmd_features},
    {"plan", "search-space size, per-job cost/memory/shard bytes, job->rank map (--ranks R)",
     cmd_plan},
    {"train", "supernet training: every (block, cell) job -> <run>/ckpt/", cmd_train},
    {"rate", "score every path of every cell (feature sharing) -> <run>/potentials.h5", cmd_rate},
    {"search", "best architecture under budgets (--max-params P --max-flops F --top K) -> arch.json",
     cmd_search},
    {"export", "print an arch.json as timm's arch_def (--format timm) or canonical JSON", cmd_export},
    {"retrain", "train the searched network from scratch (--arch FILE) -> retrain.h5/.json",
     cmd_retrain},
    {"report", "report.md, figures (report/*.png) and the run record run.json of a run", cmd_report},
    {"bench", "--n N: train N sampled architectures from scratch (ground truth) -> bench.h5/.csv",
     cmd_bench},
    {"spos", "one-shot (SPOS) baseline: train a weight-sharing supernet, rate the bench -> spos.csv",
     cmd_spos},
    {"rank", "[CFG] [--potentials F | --scores CSV] [--truth CSV]: tau/rho/R of a rating against "
             "the bench; --compare RUN_A RUN_B: two runs' path ratings", cmd_rank},
    {"shards", "read the feature shards back and print a content digest per dataset", cmd_shards},
    {"check", "train the W1 supernet cell for a few steps (--steps N, --batch B, --backend B)",
     cmd_check},
    {"version", "print version, git revision and backend (--backend B)", cmd_version},
    {"help", "this list", cmd_help},
};
enum { NCOMMANDS = sizeof COMMANDS / sizeof COMMANDS[0] };

static int cmd_help(RunCtx *ctx, int argc, char **argv) {
    (void)argc, (void)argv;
    if (ctx->rank != 0) return 0;
    printf("usage: dna COMMAND [options]   (run under mpirun/srun for several ranks)\n\n");
    for (int i = 0; i < NCOMMANDS; i++) printf("  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    printf(
        "\nStages take [CFG] [section.key=value ...] [--backend cpu|cuda|auto] [--force];\n"
        "without CFG the defaults (inputs/fashion_mnist.cfg) hold. `dna help config` lists\n"
        "every config key.\n");
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
