// `dna status [CFG]`: where a run stands. Every stage's state (done, partial, not started);
// for `train`, every (block, cell) job's step, loss and ETA; for every training loop with a
// checkpoint in <run>/resume/ (teacher, retrain, bench, spos), its step, loss and ETA. It
// only reads: the outputs' presence, the checkpoints' attributes and loss curves, and the
// last lines of the metrics files (log/<stage>.jsonl) for the ETA, so it is safe on a login
// node while the job runs, and it writes nothing.
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "io/files.h"
#include "io/h5.h"
#include "stages/stages.h"

enum { METRICS_TAIL = 4 << 20 };  // bytes of a metrics file read from its end

// The last metrics line of `job` in <dir>/log/<stage>.jsonl: its time, ETA and img/s.
static int last_metrics(const char *dir, const char *stage, const char *job, double *t, double *eta,
                        double *img_s) {
    char path[1200];
    snprintf(path, sizeof path, "%s/log/%s.jsonl", dir, stage);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f), from = size > METRICS_TAIL ? size - METRICS_TAIL : 0;
    fseek(f, from, SEEK_SET);
    char *buf = dna_malloc((size_t)(size - from) + 1);
    size_t n = fread(buf, 1, (size_t)(size - from), f);
    fclose(f);
    buf[n] = 0;
    int found = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);  // the first line may be cut: it fails to parse
        const cJSON *j = cJSON_GetObjectItem(o, "job"), *tt = cJSON_GetObjectItem(o, "t");
        const cJSON *e = cJSON_GetObjectItem(o, "eta_s"), *r = cJSON_GetObjectItem(o, "img_s");
        if (cJSON_IsString(j) && !strcmp(j->valuestring, job) && cJSON_IsNumber(tt) &&
            cJSON_IsNumber(e)) {
            *t = tt->valuedouble, *eta = e->valuedouble, found = 1;
            if (cJSON_IsNumber(r)) *img_s = r->valuedouble;
        }
        cJSON_Delete(o);
    }
    free(buf);
    return found;
}

// One checkpoint's line: step/total (epoch), the mean loss of its last steps, and the ETA
// its metrics gave when last written.
static void ckpt_line(const RunCtx *ctx, const char *dir, const char *stage, const char *job,
                      const char *path) {
    hid_t f = h5_open_read(path);
    long long step = h5_read_attr_i64(f, "step", path), done = h5_read_attr_i64(f, "done", path);
    long long epochs = h5_has_attr(f, "epochs") ? h5_read_attr_i64(f, "epochs", path) : 0;
    long long per = h5_has_attr(f, "per_epoch") ? h5_read_attr_i64(f, "per_epoch", path) : 0;
    char loss[48] = "";
    if (step > 0 && h5_has(f, "loss")) {
        size_t n;
        float *l = h5_read_f32(f, path, "loss", &n, NULL, NULL);
        size_t k = n < 20 ? n : 20;
        double m = 0;
        for (size_t i = n - k; i < n; i++) m += l[i] / (double)k;
        snprintf(loss, sizeof loss, "  loss %.5f", m);
        free(l);
    }
    h5_close(f);
    char eta[96] = "";
    double t, left, img_s = NAN;
    if (!done && last_metrics(dir, stage, job, &t, &left, &img_s)) {
        char h[32];
        log_hms(left, h, sizeof h);
        snprintf(eta, sizeof eta, "  ETA %s as of %.0f s ago (%.0f img/s)", h,
                 difftime(time(NULL), (time_t)t), img_s);
    }
    long long total = epochs * per;
    log_plain(ctx, "  %-18s %s step %lld/%lld (epoch %lld/%lld)%s%s", job,
              done ? "done   " : "partial", step, total, per ? (step + per - 1) / per : 0, epochs,
              loss, eta);
}

static void train_jobs(const RunCtx *ctx, const Config *cfg, const char *dir) {
    char path[1100], err[256];
    config_run_path(cfg, "teacher.h5", path, sizeof path);
    if (!file_exists(path)) return;
    hid_t f = h5_open_read(path);  // the architecture only: no weights are loaded
    char *json = h5_read_attr_str(f, "arch", path);
    int in_hw = (int)h5_read_attr_i64(f, "in_hw", path);
    h5_close(f);
    EffNetCfg arch;
    DNA_CHECK(effnet_cfg_from_json(json, &arch, err, sizeof err) == 0, "regenerate the teacher",
              "'%s': %s", path, err);
    free(json);
    Space sp;
    space_from_config(cfg, &arch, in_hw, &sp);
    for (int k = 0; k < sp.nblocks; k++)
        for (int c = 0; c < sp.block[k].ncells; c++) {
            char name[64], job[32];
            snprintf(name, sizeof name, "ckpt/block%d_cell%d.h5", k + 1, c + 1);
            snprintf(job, sizeof job, "train b%d.c%d", k + 1, c + 1);
            config_run_path(cfg, name, path, sizeof path);
            if (file_exists(path))
                ckpt_line(ctx, dir, "train", job, path);
            else
                log_plain(ctx, "  %-18s not started", job);
        }
}

// Training loops in progress: <run>/resume/<job>.h5, their stage the job's name up to '_'.
static void resumable(const RunCtx *ctx, const char *dir) {
    char rd[1200];
    snprintf(rd, sizeof rd, "%s/resume", dir);
    DIR *d = opendir(rd);
    int n_found = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".h5") || strstr(e->d_name, ".tmp.")) continue;
        char job[256], stage[256], path[1500];
        snprintf(job, sizeof job, "%.*s", (int)(n - 3), e->d_name);
        snprintf(stage, sizeof stage, "%s", job);
        stage[strcspn(stage, "_")] = 0;
        snprintf(path, sizeof path, "%s/%s", rd, e->d_name);
        ckpt_line(ctx, dir, stage, job, path);
        n_found++;
    }
    if (d) closedir(d);
    if (!n_found) log_plain(ctx, "  none");
}

static void status(const RunCtx *ctx, const Commands *all, const Config *cfg) {
    char dir[1100], path[1100];
    config_run_path(cfg, NULL, dir, sizeof dir);
    log_plain(ctx, "run %s (config %s)", dir, cfg->path[0] ? cfg->path : "defaults");
    for (int i = 0; i < all->n; i++) {
        const Stage *st = all->stage[i];
        if (!st->writes) continue;
        config_run_path(cfg, st->writes, path, sizeof path);
        const char *state = "not started";
        if (file_exists(path)) {
            state = "done";
        } else if (st->partial) {
            config_run_path(cfg, st->partial, path, sizeof path);
            if (file_exists(path)) state = "partial";
        }
        log_plain(ctx, "%-10s %-12s %s", st->name, state, st->writes);
        if (!strcmp(st->name, "train") && strcmp(state, "not started")) train_jobs(ctx, cfg, dir);
    }
    log_plain(ctx, "training loops in progress (checkpoints in %s/resume):", dir);
    resumable(ctx, dir);
}

static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    Config cfg;
    runner_args(ctx, NULL, argc, argv, &cfg);
    if (ctx->rank == 0) status(ctx, all, &cfg);
    return 0;
}

const Stage STAGE_STATUS = {
    .name = "status",
    .help = "[CFG]: every stage's state, and each training job's step, loss and ETA (read only)",
    .command = command,
};
