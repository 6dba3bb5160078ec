// Stage plumbing (see stage.h).
#include "train/stage.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "par/par.h"
#include "io/textout.h"

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
                    .version = ctx->version};
}

int stage_done(const char *path) {
    return access(path, F_OK) == 0;
}
