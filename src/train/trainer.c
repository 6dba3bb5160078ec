// The trainer (see trainer.h). A member's row in the checkpoint is its local tensors' values
// (as doubles, exact) followed by its sums.
#include "train/trainer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/timer.h"
#include "io/ckpt.h"
#include "io/files.h"
#include "io/fingerprint.h"
#include "tensor/ops.h"

void trainer_init(Trainer *t, const RunCtx *ctx, const TrainerCfg *c) {
    *t = (Trainer){.ctx = ctx, .c = *c};
    t->rank = c->solo ? 0 : par_group_rank(c->team);
    t->size = c->solo ? 1 : par_group_size(c->team);
    t->lead = t->rank == 0;
    if (c->step_curve) t->loss = dna_calloc((size_t)(c->epochs * c->per_epoch), sizeof(float));
    t->val = dna_calloc((size_t)c->epochs, sizeof(double));
    t->t_ckpt = t->t_line = timer_now();
}

static long row_length(const Trainer *t) {
    long n = t->nsums;
    for (int i = 0; i < t->nlocal; i++) n += (long)tensor_numel(t->local[i]);
    return n;
}

static void pack_row(const Trainer *t, double *row) {
    const Backend *be = t->ctx->be;
    for (int i = 0; i < t->nlocal; i++) {
        size_t n = tensor_numel(t->local[i]);
        float *h = dna_malloc(sizeof(float) * n);
        tensor_download(be, t->local[i], h);
        for (size_t j = 0; j < n; j++) *row++ = h[j];
        free(h);
    }
    if (t->nsums) memcpy(row, t->sums, sizeof(double) * (size_t)t->nsums);
}

static void unpack_row(Trainer *t, const double *row) {
    const Backend *be = t->ctx->be;
    for (int i = 0; i < t->nlocal; i++) {
        size_t n = tensor_numel(t->local[i]);
        float *h = dna_malloc(sizeof(float) * n);
        for (size_t j = 0; j < n; j++) h[j] = (float)*row++;
        tensor_upload(be, t->local[i], h);
        free(h);
    }
    if (t->nsums) memcpy(t->sums, row, sizeof(double) * (size_t)t->nsums);
}

static Ckpt ckpt_of(Trainer *t) {
    return (Ckpt){.params = t->params,
                  .shared = t->shared,
                  .nshared = t->nshared,
                  .row = row_length(t),
                  .rng = t->rng,
                  .rng_bytes = t->rng ? sizeof(Rng) : 0,
                  .epochs = t->c.epochs,
                  .per_epoch = t->c.per_epoch,
                  .epoch = t->epoch,
                  .cursor = t->cursor,
                  .step = t->step,
                  .done = t->done,
                  .nval = t->nval,
                  .nloss = t->loss ? t->step : 0,
                  .loss = t->loss,
                  .val = t->val,
                  .cap_loss = t->c.epochs * t->c.per_epoch,
                  .cap_val = t->c.epochs,
                  .identity = t->c.identity};
}

void trainer_save(Trainer *t) {
    if (!t->c.ckpt) return;
    Ckpt c = ckpt_of(t);
    double *row = dna_malloc(sizeof(double) * (size_t)(c.row ? c.row : 1));
    pack_row(t, row);
    double *rows = t->c.solo ? row : par_group_gather_rows(t->c.team, row, (int)c.row);
    if (t->lead) {
        c.rows = rows, c.members = t->size;
        double t0 = timer_now();
        ckpt_save(t->c.ckpt, t->ctx->be, &c, &t->c.prov);
        log_debug(t->ctx, "%s: checkpoint at step %lld -> %s (%.3f s)", t->c.label, t->step,
                  t->c.ckpt, timer_now() - t0);
    }
    if (rows != row) free(rows);
    free(row);
    // nobody goes on (and perhaps ends the job) before the file is in place
    if (!t->c.solo) par_group_barrier(t->c.team);
    t->t_ckpt = timer_now();
}

// Which checkpoint to resume, if any: the newest, or the one before when the newest cannot
// be read (the lead then moves the damaged one aside, "<ckpt>.bad", so that the next save
// does not keep it as the previous generation). The team lead decides and every member
// follows: members that saw different files would otherwise take different paths through
// collectives. One of other settings or another network is not this trainee's state: an
// error naming what changed.
static const char *checkpoint_to_resume(Trainer *t, char prev[1100]) {
    int which = 0;  // 0 none, 1 the newest, 2 the previous generation
    snprintf(prev, 1100, "%s.prev", t->c.ckpt);
    if (t->lead) {
        int fell_back = 0;
        const char *from = ckpt_choose(t->c.ckpt, prev, &fell_back);
        which = !from ? 0 : fell_back ? 2 : 1;
        if (fell_back) {
            char bad[1200];
            snprintf(bad, sizeof bad, "%s.bad", t->c.ckpt);
            log_warn(t->ctx,
                     "%s: checkpoint '%s' cannot be read (truncated or damaged): resuming from "
                     "the previous one, '%s' (the damaged file is kept as '%s')",
                     t->c.label, t->c.ckpt, prev, bad);
            rename(t->c.ckpt, bad);
        }
        char *id = from ? ckpt_identity(from) : NULL;
        if (id && t->c.identity && strcmp(id, t->c.identity)) {
            char diff[1500];
            if (id[0])
                fp_diff(id, t->c.identity, diff, sizeof diff);
            else
                snprintf(diff, sizeof diff, "it records no identity (made by an older dna)");
            DNA_FAIL(
                "rerun the stage with --force to start it afresh, or set run.name=NEW for a "
                "new run",
                "%s: checkpoint '%s' was saved with other settings: %s", t->c.label, from, diff);
        }
        free(id);
    }
    if (!t->c.solo) par_group_or(t->c.team, &which, 1);
    return which == 0 ? NULL : which == 2 ? prev : t->c.ckpt;
}

int trainer_resume(Trainer *t) {
    char prev[1100];
    const char *from = t->c.ckpt ? checkpoint_to_resume(t, prev) : NULL;
    if (!from) return 0;
    Ckpt c = ckpt_of(t);
    DNA_CHECK(ckpt_load(from, t->ctx->be, &c),
              "make run.out_dir a filesystem every node sees the same way",
              "%s: checkpoint '%s' exists for the team's first rank but not on rank %d", t->c.label,
              from, t->ctx->rank);
    if (c.row > 0 && c.members == t->size) {
        unpack_row(t, c.rows + (size_t)t->rank * (size_t)c.row);
    } else if (c.row > 0) {  // another team size: every member starts from the mean
        double *mean = dna_calloc((size_t)c.row, sizeof(double));
        for (int m = 0; m < c.members; m++)
            for (long j = 0; j < c.row; j++) mean[j] += c.rows[(size_t)m * c.row + j] / c.members;
        for (int i = 0; i < t->nsums; i++) mean[c.row - t->nsums + i] = 0;
        unpack_row(t, mean);
        free(mean);
        if (t->lead)
            log_warn(t->ctx,
                     "%s: '%s' was written by %d rank(s), this run has %d: BN statistics "
                     "start from their mean and the epoch's running figures restart (the result "
                     "is no longer bitwise that of an uninterrupted run)",
                     t->c.label, t->c.ckpt, c.members, t->size);
    }
    free(c.rows);
    t->epoch = c.epoch, t->cursor = c.cursor, t->step = c.step, t->nval = c.nval;
    t->done = c.done;
    return 1;
}

static double wall_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double eta_seconds(const Trainer *t) {
    double el = timer_now() - t->pr.t0;
    long total = t->c.epochs * t->c.per_epoch;
    return t->pr.done > 0 && el > 0 ? (double)(total - t->step) * el / (double)t->pr.done : -1;
}

// One JSON line in one write(2): lines of several ranks never interleave in the file.
static void metrics_line(const Trainer *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void metrics_line(const Trainer *t, const char *fmt, ...) {
    if (!t->lead || t->ctx->metrics_fd < 0) return;
    char line[1024];
    int n =
        snprintf(line, sizeof line,
                 "{\"t\": %.3f, \"job\": \"%s\", \"epoch\": %lld, \"step\": %lld, \"steps\": %ld",
                 wall_clock(), t->c.label, t->epoch + (t->cursor > 0), t->step,
                 t->c.epochs * t->c.per_epoch);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 3) n = (int)sizeof line - 3;
    n += snprintf(line + n, sizeof line - (size_t)n, "}\n");
    ssize_t w = write(t->ctx->metrics_fd, line, (size_t)n);
    (void)w;  // a full disk must not end a run over a metrics line
}

static void step_metrics(Trainer *t, double lr) {
    double now = timer_now(), el = now - t->t_line;
    char loss[32], rate[32];
    metrics_line(t,
                 ", \"loss\": %s, \"lr\": %s, \"img_s\": %.1f, \"data_wait\": %.4f, "
                 "\"eta_s\": %.0f",
                 json_num(loss, t->line_loss / (double)t->line_steps, 6), json_num(rate, lr, 6),
                 el > 0 ? (double)(t->line_steps * t->c.batch) / el : 0.0,
                 el > 0 ? t->line_wait / el : 0.0, eta_seconds(t));
    t->t_line = now, t->line_loss = t->line_wait = 0, t->line_steps = 0;
}

TrainEvent trainer_step(Trainer *t, double loss, double lr, double wait) {
    if (t->pr.total == 0) {  // the first step of this process: rate and ETA over its own steps
        progress_init(&t->pr, t->ctx, t->c.label, "step", t->c.epochs * t->c.per_epoch - t->step);
        t->pr.interval = 10.0;
        t->t_line = timer_now();
    }
    if (t->loss) t->loss[t->step] = (float)loss;
    t->lr = lr;
    t->line_loss += loss, t->line_wait += wait, t->line_steps++;
    t->ep_loss += loss, t->ep_steps++;
    t->step++, t->cursor++;
    int epoch_end = t->cursor == t->c.per_epoch;
    if (epoch_end) t->epoch++, t->cursor = 0;
    if (t->lead) {
        char extra[64];
        snprintf(extra, sizeof extra, "loss=%.4f lr=%.3g", t->ep_loss / (double)t->ep_steps, lr);
        progress_update(&t->pr, t->pr.done + 1, extra);
    }
    if (epoch_end) t->ep_loss = 0, t->ep_steps = 0;
    if (t->c.metrics_every > 0 && t->step % t->c.metrics_every == 0) step_metrics(t, lr);
    // [0]: stop, [1]: a checkpoint is due (rank 0 of the team decides by its clock)
    int flag[2] = {par_stop_requested(), 0};
    if (t->lead)
        flag[1] = (t->c.ckpt_minutes > 0 && timer_now() - t->t_ckpt >= 60.0 * t->c.ckpt_minutes) ||
                  (t->c.ckpt_steps > 0 && t->step % t->c.ckpt_steps == 0);
    if (!t->c.solo) par_group_or(t->c.team, flag, 2);
    if (flag[0]) {
        trainer_save(t);
        return TRAIN_STOP;
    }
    if (flag[1] && !epoch_end) trainer_save(t);
    return epoch_end ? TRAIN_EPOCH_END : TRAIN_NEXT;
}

void trainer_epoch_end(Trainer *t, double val) {
    t->val[t->nval++] = val;
    t->done = t->nval == t->c.epochs;
    if (t->line_steps > 0 && t->c.metrics_every > 0) step_metrics(t, t->lr);
    char v[32];
    metrics_line(t, ", \"val\": %s, \"epoch_end\": true, \"eta_s\": %.0f", json_num(v, val, 6),
                 t->done ? 0.0 : eta_seconds(t));
    trainer_save(t);
}

void trainer_free(Trainer *t) {
    if (t->pr.total > 0) progress_end(&t->pr, NULL);
    free(t->loss), free(t->val);
    t->loss = NULL, t->val = NULL;
}

void trainer_load_finished(const char *path, const Backend *be, Trainer *t) {
    Ckpt c = ckpt_of(t);
    c.cap_loss = c.cap_val = 0;
    c.loss = NULL, c.val = NULL;
    char prev[1100];
    int fell_back;
    const char *from = ckpt_choose(path, prev, &fell_back);
    DNA_CHECK(from && ckpt_load(from, be, &c) && c.done, "run `dna train CFG` to completion first",
              "no finished checkpoint '%s'", path);
    RunCtx one = ctx_local(be, 0);
    const RunCtx *keep = t->ctx;
    t->ctx = &one;
    unpack_row(t, c.rows);
    t->ctx = keep;
    free(c.rows);
}

void trainer_load_final(const char *path, const Backend *be, const ParamList *params,
                        Tensor **local, int nlocal) {
    Trainer t = {.ctx = NULL, .params = params, .local = local, .nlocal = nlocal};
    trainer_load_finished(path, be, &t);
}
