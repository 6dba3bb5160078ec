// The runner (see runner.h).
#include "stages/runner.h"

#include <fcntl.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/log.h"
#include "core/timer.h"
#include "io/files.h"
#include "io/teacher.h"
#include "par/par.h"
#include "tensor/ops.h"

const Stage *runner_find(const Commands *all, const char *name) {
    for (int i = 0; i < all->n; i++)
        if (!strcmp(all->stage[i]->name, name)) return all->stage[i];
    return NULL;
}

const Stage *runner_maker(const Commands *all, const char *file) {
    for (int i = 0; i < all->n; i++)
        if (all->stage[i]->writes && !strcmp(all->stage[i]->writes, file)) return all->stage[i];
    return NULL;
}

int runner_args(RunCtx *ctx, const FlagKey *flags, int argc, char **argv, Config *cfg) {
    static const FlagKey BACKEND = {"--backend", "run.backend"};  // config.ini records it
    const char *path = NULL;
    char **over = dna_calloc((size_t)argc + 1, sizeof(char *));
    char(*made)[1200] = dna_calloc((size_t)argc + 1, sizeof *made);
    int nover = 0, force = 0;
    for (int i = 1; i < argc; i++) {
        const FlagKey *f = NULL;
        for (int j = 0; flags && j < 4 && flags[j].flag; j++)
            if (!strcmp(argv[i], flags[j].flag)) f = &flags[j];
        if (!strcmp(argv[i], "--backend")) f = &BACKEND;
        if (f) {
            DNA_CHECK(i + 1 < argc, "give a value after the flag", "%s needs a value", argv[i]);
            snprintf(made[nover], sizeof made[nover], "%s=%s", f->key, argv[++i]);
            over[nover] = made[nover], nover++;
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (strchr(argv[i], '=')) {
            over[nover++] = argv[i];
        } else if (!path && argv[i][0] != '-') {
            path = argv[i];
        } else {
            DNA_FAIL(
                "usage: dna STAGE [CFG] [section.key=value ...] [--backend B] [--force] "
                "(`dna help` lists each stage's flags)",
                "%s: unexpected argument '%s'", argv[0], argv[i]);
        }
    }
    config_load(cfg, path, over, nover);
    free(over), free(made);
    ctx->seed = (uint64_t)cfg->run.seed;
    backend_use(ctx, cfg->run.backend);
    return force;
}

void runner_prepare(const RunCtx *ctx, const Config *cfg) {
    if (ctx->rank == 0) {
        char dir[1024], path[1100];
        config_run_path(cfg, NULL, dir, sizeof dir);
        make_dirs(dir);
        config_run_path(cfg, "config.ini", path, sizeof path);
        TextOut out;
        FILE *f = textout_open(&out, path);
        char hash[17];
        config_hash(cfg, hash);
        fprintf(f, "; effective config of run '%s' (read from %s), hash %s, dna %s (%s)\n",
                cfg->run.name, cfg->path[0] ? cfg->path : "defaults", hash, ctx->version,
                ctx->git_rev);
        config_dump(cfg, f);
        textout_commit(&out);
    }
    par_barrier();
}

static int open_append(const char *dir, const char *name, const char *ext) {
    char path[1200];
    snprintf(path, sizeof path, "%s/log/%s.%s", dir, name, ext);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0664);
    DNA_CHECK(fd >= 0, "check the permissions of run.out_dir", "cannot open the log '%s'", path);
    return fd;
}

void runner_open_logs(RunCtx *ctx, const char *run_dir, const char *name, int metrics) {
    runner_close_logs(ctx);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/log", run_dir);
    make_dirs(dir);  // every rank: mkdir is atomic, and an existing directory is fine
    ctx->log_fd = open_append(run_dir, name, "log");
    if (metrics) ctx->metrics_fd = open_append(run_dir, name, "jsonl");
    dna_fatal_log(ctx->log_fd);
}

void runner_close_logs(RunCtx *ctx) {
    dna_fatal_log(-1);
    if (ctx->log_fd >= 0) close(ctx->log_fd);
    if (ctx->metrics_fd >= 0) close(ctx->metrics_fd);
    ctx->log_fd = ctx->metrics_fd = -1;
}

// The sections' hash recorded with a stage's time in stages.csv, and the one recorded when
// its output was made (empty when none is).
static void sections_hash(const Config *cfg, const Stage *st, char hex[17]) {
    config_hash_sections(cfg, st->sections ? st->sections : "", hex);
}

static void recorded_hash(const Config *cfg, const char *name, char hex[17]) {
    char path[1100], line[512], stage[32], h[17];
    config_run_path(cfg, "stages.csv", path, sizeof path);
    hex[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%31[^,],%*[^,],%*[^,],%*[^,],%*[^,],%*[^,],%16[^,\n]", stage, h) == 2 &&
            !strcmp(stage, name))
            snprintf(hex, 17, "%s", h);
    fclose(f);
}

// Appends the stage's wall time to <run>/stages.csv (rank 0): `stage,seconds,ranks,threads,
// finished_utc,git_rev,sections_hash`, one line per completed run of a stage, so the run record
// keeps every stage's time across resumed runs. Rewritten whole under a temporary name: a
// crash mid-write leaves the old file.
static void record_time(const RunCtx *ctx, const Config *cfg, const Stage *st, double secs) {
    if (ctx->rank != 0) return;
    char path[1100], when[32], hash[17];
    config_run_path(cfg, "stages.csv", path, sizeof path);
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    sections_hash(cfg, st, hash);
    char *old = text_read(path);
    TextOut out;
    FILE *f = textout_open(&out, path);
    fputs(old ? old : "stage,seconds,ranks,threads,finished_utc,git_rev,sections_hash\n", f);
    free(old);
    fprintf(f, "%s,%.1f,%d,%d,%s,%s,%s\n", st->name, secs, ctx->nranks, omp_get_max_threads(), when,
            ctx->git_rev, hash);
    textout_commit(&out);
}

// Skips a stage whose output exists, saying so, and warning when the config sections it
// depends on changed since the output was made.
static int skip(const RunCtx *ctx, const Config *cfg, const Stage *st) {
    char path[1100], now[17], then[17];
    config_run_path(cfg, st->writes, path, sizeof path);
    if (!file_exists(path)) return 0;
    log_info(ctx, "%s: %s is complete; skipping (--force reruns)", st->name, path);
    sections_hash(cfg, st, now);
    recorded_hash(cfg, st->name, then);
    if (then[0] && strcmp(now, then))
        log_warn(ctx,
                 "%s: the config sections it depends on ([%s]) changed since %s was made; "
                 "it is kept as it is (--force redoes the stage)",
                 st->name, st->sections, path);
    return 1;
}

static void check_inputs(const RunCtx *ctx, const Commands *all, const Config *cfg,
                         const Stage *st) {
    (void)ctx;
    for (int i = 0; i < 4 && st->reads[i]; i++) {
        char path[1100], fix[1200];
        config_run_path(cfg, st->reads[i], path, sizeof path);
        if (file_exists(path)) continue;
        const Stage *by = runner_maker(all, st->reads[i]);
        const char *cf = cfg->path[0] ? cfg->path : "CFG";
        snprintf(fix, sizeof fix, "run `dna %s %s` first, or `dna run %s`", by ? by->name : "run",
                 cf, cf);
        DNA_FAIL(fix, "stage %s needs %s, made by stage %s", st->name, path,
                 by ? by->name : "(none)");
    }
}

int runner_stage(RunCtx *ctx, const Commands *all, const Config *cfg, const Stage *st, int force) {
    log_debug(ctx, "%s: reads %s%s%s%s, writes %s, depends on [%s]%s", st->name,
              st->reads[0] ? st->reads[0] : "nothing", st->reads[1] ? " " : "",
              st->reads[1] ? st->reads[1] : "", force ? " (forced)" : "",
              st->writes ? st->writes : "nothing", st->sections ? st->sections : "",
              st->checkpoints ? "; checkpoints (SIGTERM/SIGUSR1 stop it cleanly)" : "");
    if (!force && !st->decides && st->writes && skip(ctx, cfg, st)) return STAGE_SKIPPED;
    check_inputs(ctx, all, cfg, st);
    if (st->checkpoints) par_signals_install();
    double t0 = timer_now();
    int rc = st->run(ctx, cfg, force);
    if (rc == STAGE_RAN) record_time(ctx, cfg, st, timer_now() - t0);
    if (st->checkpoints) {  // a signal after the stage's last look: the command stops too
        if (par_stop_agreed() && rc != STAGE_STOPPED)
            rc = stage_stopped(ctx, "%s: stopped by a signal after the stage ended", st->name);
        par_signals_restore();
    }
    return rc;
}

int stage_stopped(const RunCtx *ctx, const char *fmt, ...) {
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    log_info(ctx, "%s; rerun the same command to resume (exit %d)", what, DNA_EXIT_REQUEUE);
    return STAGE_STOPPED;
}

static void log_start(const RunCtx *ctx, int argc, char **argv) {
    char line[1024] = "";
    for (int i = 0; i < argc; i++) {
        size_t l = strlen(line);
        snprintf(line + l, sizeof line - l, "%s%s", i ? " " : "", argv[i]);
    }
    log_info(ctx, "dna %s: %d rank(s) x %d thread(s), backend %s, dna %s (git %s)", line,
             ctx->nranks, omp_get_max_threads(), ctx->be->name, ctx->version, ctx->git_rev);
}

int runner_dispatch(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    const Stage *st = runner_find(all, argv[0]);
    DNA_CHECK(st, "run 'dna help' for the list of commands", "unknown command '%s'", argv[0]);
    if (st->command) return st->command(ctx, all, argc, argv);
    Config cfg;
    int force = runner_args(ctx, st->flags, argc, argv, &cfg);
    runner_prepare(ctx, &cfg);
    char dir[1100];
    config_run_path(&cfg, NULL, dir, sizeof dir);
    runner_open_logs(ctx, dir, st->name, st->metrics);
    log_start(ctx, argc, argv);
    int rc = runner_stage(ctx, all, &cfg, st, force || st->redo);
    runner_close_logs(ctx);
    return rc == STAGE_STOPPED ? DNA_EXIT_REQUEUE : 0;
}

void stage_space(const RunCtx *ctx, const Config *cfg, Space *sp, EffNetCfg *arch, int *in_hw) {
    char path[1100];
    config_run_path(cfg, "teacher.h5", path, sizeof path);
    DNA_CHECK(file_exists(path), "run `dna teacher CFG` first", "no teacher '%s'", path);
    Teacher t;
    teacher_load(ctx->be, path, &t);
    space_from_config(cfg, &t.net.cfg, t.in_hw, sp);
    if (arch) *arch = t.net.cfg;
    if (in_hw) *in_hw = t.in_hw;
    teacher_free(ctx->be, &t);
}

void stage_dataset(const Config *cfg, Dataset *d) {
    char path[1100];
    config_run_path(cfg, "dataset.h5", path, sizeof path);
    DNA_CHECK(file_exists(path), "run `dna data CFG` first", "no dataset file '%s'", path);
    dataset_load(path, d);
    DNA_CHECK(d->classes == cfg->data.classes, "set [data] classes to the dataset's",
              "'%s' has %d classes, the config says %ld", path, d->classes, cfg->data.classes);
}

void stage_resume_path(const RunCtx *ctx, const Config *cfg, const char *name, char *buf,
                       size_t n) {
    char file[256];
    config_run_path(cfg, "resume", buf, n);
    if (ctx->rank == 0) make_dirs(buf);
    par_barrier();
    snprintf(file, sizeof file, "resume/%s.h5", name);
    config_run_path(cfg, file, buf, n);
}

void stage_identity(const Config *cfg, const Stage *st, const char *extra, char *buf, size_t n) {
    char hex[17];
    sections_hash(cfg, st, hex);
    snprintf(buf, n, "%s [%s] %s%s%s", st->name, st->sections, hex, extra ? " arch " : "",
             extra ? extra : "");
}
