// The runner (see runner.h).
#include "stages/runner.h"

#include <fcntl.h>
#include <omp.h>
#include <signal.h>
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
#include "io/fingerprint.h"
#include "io/h5lock.h"
#include "io/teacher.h"
#include "par/par.h"
#include "stages/plus.h"
#include "tensor/ops.h"

const Stage *runner_find(const Commands *all, const char *name) {
    for (int i = 0; i < all->n; i++)
        if (!strcmp(all->stage[i]->name, name)) return all->stage[i];
    return NULL;
}

const Stage *runner_at(const Commands *all, int order) {
    for (int i = 0; i < all->n; i++)
        if (all->stage[i]->order == order) return all->stage[i];
    return NULL;
}

const Stage *runner_maker(const Commands *all, const char *file) {
    for (int i = 0; i < all->n; i++)
        if (all->stage[i]->writes && !strcmp(all->stage[i]->writes, file)) return all->stage[i];
    return NULL;
}

int runner_args(RunCtx *ctx, const FlagKey *flags, int argc, char **argv, Config *cfg) {
    static const FlagKey BACKEND = {"--backend", "run.backend", NULL};  // config.ini records it
    const char *path = NULL;
    char **over = dna_calloc((size_t)argc + 1, sizeof(char *));
    char(*made)[1200] = dna_calloc((size_t)argc + 1, sizeof *made);
    int nover = 0, force = 0;
    for (int i = 1; i < argc; i++) {
        const FlagKey *f = NULL;
        for (int j = 0; flags && j < RUNNER_MAX_FLAGS && flags[j].flag; j++)
            if (!strcmp(argv[i], flags[j].flag)) f = &flags[j];
        if (!strcmp(argv[i], "--backend")) f = &BACKEND;
        if (f) {
            DNA_CHECK(f->key, f->refused, "%s: %s is not accepted", argv[0], argv[i]);
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
    plus_check(cfg);
    free(over), free(made);
    ctx->seed = (uint64_t)cfg->run.seed;
    ctx->strict_determinism = (int)cfg->run.strict_determinism;
    backend_use(ctx, cfg->run.backend);
    return force;
}

// "2026-12-02T07:41:12Z": when a lock was taken, a command run, a stage finished.
static void utc_now(char when[32]) {
    time_t now = time(NULL);
    strftime(when, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
}

// The run lock (<run>/.lock): a POSIX record lock, which the kernel (and an NFS lock
// manager) drops when its holder dies, so a lock is only ever held by a live command. The
// file says who holds it; runner_unlock empties it, so a holder named in a file whose lock
// is free ended without unlocking (killed, or an error).
static void lock_run(RunCtx *ctx, const char *dir) {
    char path[1100], holder[512] = "", host[256] = "?";
    snprintf(path, sizeof path, "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0664);
    DNA_CHECK(fd >= 0, "check the permissions of run.out_dir", "cannot open the run lock '%s'",
              path);
    ssize_t got = pread(fd, holder, sizeof holder - 1, 0);
    holder[got > 0 ? got : 0] = 0;
    holder[strcspn(holder, "\n")] = 0;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    DNA_CHECK(fcntl(fd, F_SETLK, &fl) == 0,
              "wait for it to finish (`dna status CFG` shows where it is), cancel it, or use "
              "another run.name",
              "run directory '%s' is in use by another dna command: %s", dir,
              holder[0] ? holder : "(holder unknown)");
    gethostname(host, sizeof host - 1);
    if (holder[0]) {  // left by a command that died without removing it: the lock was free
        char h[256] = "";
        int pid = 0;
        sscanf(holder, "host %255s pid %d", h, &pid);
        if (!strcmp(h, host) && pid > 0 && kill(pid, 0) != 0)
            log_warn(ctx,
                     "run lock: took over '%s', left by process %d, which ended without "
                     "releasing it (%s)",
                     path, pid, holder);
    }
    ctx->lock_fd = fd;
    char line[512];
    const char *job = getenv("SLURM_JOB_ID");
    char when[32];
    utc_now(when);
    int n = snprintf(line, sizeof line, "host %s pid %d slurm_job %s since %s\n", host,
                     (int)getpid(), job ? job : "-", when);
    DNA_CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)n, 0) == n,
              "check the disk (space, permissions)", "cannot write the run lock '%s'", path);
}

// Appends one whole block to a file with a single write (O_APPEND): concurrent writers on
// one host never interleave inside it, and nothing is read back and rewritten.
static void append_text(const char *path, const char *text, size_t n) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0664);
    DNA_CHECK(fd >= 0 && write(fd, text, n) == (ssize_t)n && close(fd) == 0,
              "check the disk (space, permissions)", "cannot append to '%s'", path);
}

void runner_unlock(RunCtx *ctx) {
    if (ctx->lock_fd < 0) return;
    DNA_CHECK(ftruncate(ctx->lock_fd, 0) == 0 && close(ctx->lock_fd) == 0,
              "check the disk (space, permissions)", "cannot release the run lock");
    ctx->lock_fd = -1;
}

void runner_prepare(RunCtx *ctx, const Config *cfg, int argc, char **argv) {
    if (ctx->rank == 0) {
        char dir[1024], root[1024], path[1100], hash[17], when[32];
        config_run_path(cfg, NULL, dir, sizeof dir);
        make_dirs(dir);
        // a DNA+ generation's stage takes the run's lock: `dna run` works on every generation
        Config first = plus_at(cfg, 1);
        config_run_path(&first, NULL, root, sizeof root);
        lock_run(ctx, root);
        config_run_path(cfg, "config.ini", path, sizeof path);
        config_hash(cfg, hash);
        utc_now(when);
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        fprintf(f, "\n; ==== %s  dna", when);
        for (int i = 0; i < argc; i++) fprintf(f, " %s", argv[i]);
        fprintf(f,
                "\n; effective config of run '%s' (read from %s), hash %s, %d rank(s), dna %s "
                "(%s)\n",
                cfg->run.name, cfg->path[0] ? cfg->path : "defaults", hash, ctx->nranks,
                ctx->version, ctx->git_rev);
        config_dump(cfg, f);
        fclose(f);
        append_text(path, buf, n);
        free(buf);
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

// Appends the stage's wall time to <run>/stages.csv (rank 0): `stage,seconds,ranks,threads,
// finished_utc,git_rev,fingerprint`, one line per completed run of a stage, so the run record
// keeps every stage's time across resumed runs.
static void record_time(const RunCtx *ctx, const Config *cfg, const Stage *st, double secs) {
    if (ctx->rank != 0) return;
    char path[1100], when[32], line[512];
    config_run_path(cfg, "stages.csv", path, sizeof path);
    utc_now(when);
    int n = 0;
    if (!file_exists(path))
        n = snprintf(line, sizeof line,
                     "stage,seconds,ranks,threads,finished_utc,git_rev,fingerprint\n");
    n += snprintf(line + n, sizeof line - (size_t)n, "%s,%.1f,%d,%d,%s,%s,%s\n", st->name, secs,
                  ctx->nranks, omp_get_max_threads(), when, ctx->git_rev,
                  ctx->fingerprint ? ctx->fingerprint : "");
    append_text(path, line, (size_t)n);
}

// The fingerprint the stage's output gets now (rank 0 reads the inputs' fingerprints; every
// rank gets rank 0's text).
static void stage_fingerprint(const RunCtx *ctx, const Config *cfg, const Stage *st,
                              Fingerprint *fp) {
    char *keys = NULL;
    if (ctx->rank == 0) {
        size_t n = 0;
        FILE *f = open_memstream(&keys, &n);
        config_keys(cfg, st->sections ? st->sections : "", f);
        if (st->keys) st->keys(cfg, f);
        for (int i = 0; i < 4 && st->reads[i]; i++) {
            char path[1100], hex[17];
            config_run_path(cfg, st->reads[i], path, sizeof path);
            fp_read_hex(path, hex);
            fprintf(f, "input %s = %s\n", st->reads[i], hex);
        }
        fclose(f);
    }
    char *all = par_bcast_text(keys);
    fp_make(fp, all);
    free(all), free(keys);
}

void stage_mismatch(const Stage *st, const Config *cfg, const char *what, const char *old_keys,
                    const char *new_keys) {
    char diff[1500], fix[1200];
    if (old_keys)
        fp_diff(old_keys, new_keys, diff, sizeof diff);
    else
        snprintf(diff, sizeof diff, "it records no fingerprint (made by an older dna)");
    const char *cf = cfg->path[0] ? cfg->path : "CFG";
    snprintf(fix, sizeof fix,
             "`dna %s %s ... --force` redoes the stage with the new settings (its partial work "
             "too), or set run.name=NEW to keep this run and start another",
             st->name, cf);
    DNA_FAIL(fix, "%s: %s was made with other settings: %s", st->name, what, diff);
}

// 1 when the stage's output exists and was made as it would be now (rank 0 decides); fatal,
// naming the changed keys, when it exists but was made otherwise.
static int skip(const RunCtx *ctx, const Config *cfg, const Stage *st) {
    char path[1100];
    config_run_path(cfg, st->writes, path, sizeof path);
    int state = 0;  // 0: absent, 1: the same, 2: made otherwise
    Fingerprint old = {0};
    if (ctx->rank == 0 && file_exists(path)) {
        fp_read(path, &old);
        state = old.hex[0] && !strcmp(old.hex, ctx->fingerprint) ? 1 : 2;
        if (state == 2) stage_mismatch(st, cfg, path, old.keys, ctx->fingerprint_keys);
    }
    fp_free(&old);
    state = par_bcast_int(state);
    if (state == 1) log_info(ctx, "%s: %s is complete; skipping (--force reruns)", st->name, path);
    return state == 1;
}

// --force: the stage's partial work goes (checkpoints with their previous generation, units,
// shards), so it starts afresh.
static void clear_partial(const RunCtx *ctx, const Config *cfg, const Stage *st) {
    if (ctx->rank == 0 && st->partial) {
        char path[1100], prev[1200];
        config_run_path(cfg, st->partial, path, sizeof path);
        snprintf(prev, sizeof prev, "%s.prev", path);
        for (const char *p = path; p; p = p == path ? prev : NULL)
            if (file_exists(p)) {
                log_info(ctx, "%s: --force: removing %s", st->name, p);
                remove_tree(p);
            }
    }
    par_barrier();
}

// Rank 0 checks; the others wait for its verdict (an error on rank 0 ends the job).
static void check_inputs(const RunCtx *ctx, const Commands *all, const Config *cfg,
                         const Stage *st) {
    for (int i = 0; ctx->rank == 0 && i < 4 && st->reads[i]; i++) {
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
    par_barrier();
}

static int run_stage(RunCtx *ctx, const Commands *all, const Config *cfg, const Stage *st,
                     int force) {
    log_debug(ctx, "%s: reads %s%s%s%s, writes %s, depends on [%s]%s", st->name,
              st->reads[0] ? st->reads[0] : "nothing", st->reads[1] ? " " : "",
              st->reads[1] ? st->reads[1] : "", force ? " (forced)" : "",
              st->writes ? st->writes : "nothing", st->sections ? st->sections : "",
              st->checkpoints ? "; checkpoints (SIGTERM/SIGUSR1 stop it cleanly)" : "");
    if (!force && !st->decides && st->writes && skip(ctx, cfg, st)) return STAGE_SKIPPED;
    check_inputs(ctx, all, cfg, st);
    if (force) clear_partial(ctx, cfg, st);
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

int runner_stage(RunCtx *ctx, const Commands *all, const Config *cfg, const Stage *st, int force) {
    char why[512];
    if (cfg->plus.generation > 1 &&
        plus_ended_before(ctx, cfg, cfg->plus.generation, why, sizeof why)) {
        log_info(ctx, "plus: generation %ld is not run (%s): %s has nothing to do",
                 cfg->plus.generation, why, st->name);
        return STAGE_SKIPPED;
    }
    Fingerprint fp;
    stage_fingerprint(ctx, cfg, st, &fp);
    ctx->fingerprint = fp.hex, ctx->fingerprint_keys = fp.keys;
    int rc = run_stage(ctx, all, cfg, st, force);
    ctx->fingerprint = ctx->fingerprint_keys = NULL;
    fp_free(&fp);
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
    char h5[160];
    h5_thread_mode(h5, sizeof h5);
    log_debug(ctx, "%s", h5);
}

int runner_dispatch(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    const Stage *st = runner_find(all, argv[0]);
    DNA_CHECK(st, "run 'dna help' for the list of commands", "unknown command '%s'", argv[0]);
    if (st->command) return st->command(ctx, all, argc, argv);
    Config cfg;
    int force = runner_args(ctx, st->flags, argc, argv, &cfg);
    runner_prepare(ctx, &cfg, argc, argv);
    char dir[1100];
    config_run_path(&cfg, NULL, dir, sizeof dir);
    runner_open_logs(ctx, dir, st->name, st->metrics);
    log_start(ctx, argc, argv);
    int rc = runner_stage(ctx, all, &cfg, st, force || st->redo);
    runner_close_logs(ctx);
    runner_unlock(ctx);
    return rc == STAGE_STOPPED ? DNA_EXIT_REQUEUE : 0;
}

void stage_space_any(const RunCtx *ctx, const Config *cfg, Space *sp, EffNetCfg *arch, int *in_hw) {
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

void stage_space(const RunCtx *ctx, const Config *cfg, Space *sp, EffNetCfg *arch, int *in_hw) {
    stage_space_any(ctx, cfg, sp, arch, in_hw);
    space_require_mbconv(sp, "this stage");
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

char *stage_identity(const RunCtx *ctx, const char *job) {
    const char *keys = ctx->fingerprint_keys ? ctx->fingerprint_keys : "";
    size_t n = strlen(keys) + strlen(job) + 16;
    char *id = dna_malloc(n);
    snprintf(id, n, "%sjob = %s\n", keys, job);
    return id;
}

void stage_mode_keys(const Config *cfg, FILE *f) {
    if (config_ssl(cfg)) fprintf(f, "train.mode = ssl\nssl.init = %s\n", cfg->ssl.init);
}
