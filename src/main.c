// dna: the command line. One binary, one command per file of src/stages/; this file holds the
// table of commands (the `dna help` order), the global flags (-v, -q) and `version`/`help`.
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "core/log.h"
#include "par/par.h"
#include "stages/stages.h"
#include "tensor/ops.h"

#ifndef DNA_GIT_REV
#define DNA_GIT_REV "unknown"
#endif
#define DNA_VERSION "0.1.0"

static int version(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    (void)all;
    const char *backend = "auto";
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--backend")) backend = argv[i + 1];
    backend_use(ctx, backend);
    log_info(ctx, "dnafam %s (git %s), backend %s (%s), %d rank(s), %d OpenMP thread(s)",
             DNA_VERSION, DNA_GIT_REV, ctx->be->name, ctx->be->lib_version(), ctx->nranks,
             omp_get_max_threads());
    return 0;
}

static int help(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    if (ctx->rank != 0) return 0;
    printf(
        "usage: dna [-v | -q] COMMAND [options]   (run under mpirun/srun for several ranks)\n\n");
    for (int i = 0; i < all->n; i++)
        printf("  %-10s %s\n", all->stage[i]->name, all->stage[i]->help);
    printf(
        "\nStages take [CFG] [section.key=value ...] [--backend cpu|cuda|auto] [--force];\n"
        "without CFG the defaults (inputs/fashion_mnist.cfg) hold. -v adds debug lines, -q\n"
        "keeps warnings and errors only. `dna help config` lists every config key.\n");
    if (argc > 1 && !strcmp(argv[1], "config")) config_help(stdout);
    return 0;
}

static const Stage VERSION = {.name = "version",
                              .help = "print version, git revision and backend (--backend B)",
                              .command = version};
static const Stage HELP = {.name = "help", .help = "this list", .command = help};

static const Stage *const COMMANDS[] = {
    &STAGE_RUN,    &STAGE_DATA,   &STAGE_TEACHER, &STAGE_FEATURES, &STAGE_PLAN,    &STAGE_TRAIN,
    &STAGE_RATE,   &STAGE_SEARCH, &STAGE_EXPORT,  &STAGE_SCALE,    &STAGE_RETRAIN, &STAGE_REPORT,
    &STAGE_PLUS,   &STAGE_BENCH,  &STAGE_SPOS,    &STAGE_RANK,     &STAGE_CALIB,   &STAGE_PROXY,
    &STAGE_COMPARE, &STAGE_STATUS, &STAGE_SHARDS, &STAGE_CHECK,    &VERSION,       &HELP,
};

int main(int argc, char **argv) {
    RunCtx ctx = ctx_local(backend_cpu(), 0);
    ctx.version = DNA_VERSION;
    ctx.git_rev = DNA_GIT_REV;
    par_init(&ctx, &argc, &argv);
    int n = 0;  // -v and -q anywhere: verbosity; the rest is the command line
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
            ctx.verbose = 2;
        else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
            ctx.verbose = 0;
        else
            argv[++n] = argv[i];
    }
    Commands all = {COMMANDS, (int)(sizeof COMMANDS / sizeof COMMANDS[0])};
    char *dflt[] = {"help"};
    int rc = runner_dispatch(&ctx, &all, n ? n : 1, n ? argv + 1 : dflt);
    par_finalize();
    return rc;
}
