// Stage plumbing (see stage.h).
#include "train/stage.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/timer.h"
#include "io/textout.h"
#include "par/par.h"
#include "tensor/ops.h"

void stage_mkdir(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            DNA_CHECK(mkdir(buf, 0775) == 0 || errno == EEXIST,
                      "check the permissions of run.out_dir", "cannot create directory '%s': %s",
                      buf, strerror(errno));
            if (!(*p = c)) break;
        }
    }
}

void stage_prepare(const RunCtx *ctx, const Config *cfg) {
    if (ctx->rank == 0) {
        char dir[1024], path[1100];
        config_run_path(cfg, NULL, dir, sizeof dir);
        stage_mkdir(dir);
        snprintf(path, sizeof path, "%s/config.ini", dir);
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

H5Prov stage_prov(const RunCtx *ctx, const Config *cfg, int format, char hash[17]) {
    config_hash(cfg, hash);
    return (H5Prov){.format = format,
                    .config_hash = hash,
                    .seed = (unsigned long long)cfg->run.seed,
                    .git_rev = ctx->git_rev,
                    .version = ctx->version,
                    .backend = ctx->be->name,
                    .backend_lib = ctx->be->lib_version()};
}

int stage_done(const char *path) {
    return access(path, F_OK) == 0;
}

int stage_timed(const RunCtx *ctx, const Config *cfg, const char *name, StageFn fn, int force) {
    double t0 = timer_now();
    int rc = fn(ctx, cfg, force);
    if (rc != STAGE_RAN || ctx->rank != 0) return rc;
    char path[1100], when[32];
    config_run_path(cfg, "stages.csv", path, sizeof path);
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    // rewritten whole under a temporary name: a crash mid-write leaves the old file
    char *old = text_read(path);
    TextOut out;
    FILE *f = textout_open(&out, path);
    fputs(old ? old : "stage,seconds,ranks,threads,finished_utc,git_rev\n", f);
    free(old);
    fprintf(f, "%s,%.1f,%d,%d,%s,%s\n", name, timer_now() - t0, ctx->nranks, omp_get_max_threads(),
            when, ctx->git_rev);
    textout_commit(&out);
    return rc;
}
