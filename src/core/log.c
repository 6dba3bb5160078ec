// Logging and progress. Only rank 0 prints progress; plain lines go to stdout so that a
// Slurm log holds them in order with the rest. Every line printed also goes to the stage's
// log file when one is open, in one write(2) so that ranks appending to the same file
// (O_APPEND) never interleave within a line.
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/timer.h"

// tag NULL: no time prefix
static void vlog(const RunCtx *ctx, FILE *f, const char *tag, const char *fmt, va_list ap) {
    char line[2048];
    double t = ctx ? timer_now() - ctx->t_start : 0.0;
    int n = !tag ? 0
            : ctx && ctx->nranks > 1
                ? snprintf(line, sizeof line, "[%8.1fs r%d] %s", t, ctx->rank, tag)
                : snprintf(line, sizeof line, "[%8.1fs] %s", t, tag);
    n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    line[n] = 0;
    fputs(line, f);
    fflush(f);
    if (ctx && ctx->log_fd >= 0) {  // a full disk must not end a run over a log line
        ssize_t w = write(ctx->log_fd, line, (size_t)n);
        (void)w;
    }
}

void log_info(const RunCtx *ctx, const char *fmt, ...) {
    if (ctx && (ctx->rank != 0 || ctx->verbose < 1)) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(ctx, stdout, "", fmt, ap);
    va_end(ap);
}

void log_plain(const RunCtx *ctx, const char *fmt, ...) {
    if (ctx && ctx->rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(ctx, stdout, NULL, fmt, ap);
    va_end(ap);
}

void log_debug(const RunCtx *ctx, const char *fmt, ...) {
    if (!ctx || ctx->verbose < 2) return;
    va_list ap;
    va_start(ap, fmt);
    vlog(ctx, stdout, "debug: ", fmt, ap);
    va_end(ap);
}

void log_rank(const RunCtx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(ctx, stdout, "", fmt, ap);
    va_end(ap);
}

void log_warn(const RunCtx *ctx, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(ctx, stderr, "warning: ", fmt, ap);
    va_end(ap);
}

void progress_init(Progress *p, const RunCtx *ctx, const char *label, const char *unit,
                   long total) {
    memset(p, 0, sizeof *p);
    p->ctx = ctx;
    snprintf(p->label, sizeof p->label, "%s", label);
    p->unit = unit;
    p->total = total;
    p->t0 = p->t_last = timer_now();
    p->interval = 30.0;
    p->shown = -1;
    p->tty = ctx ? ctx->is_tty : 0;
}

void log_hms(double s, char *buf, int len) {
    if (s < 0 || s > 99 * 3600.0) {
        snprintf(buf, len, "--:--:--");
        return;
    }
    long t = (long)(s + 0.5);
    snprintf(buf, len, "%02ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

void progress_format(const Progress *p, double now, const char *extra, char *buf, int len) {
    double el = now - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0.0;
    char eta[32], elapsed[32];
    log_hms(rate > 0 ? (double)(p->total - p->done) / rate : -1, eta, sizeof eta);
    log_hms(el, elapsed, sizeof elapsed);
    double pct = p->total > 0 ? 100.0 * (double)p->done / (double)p->total : 0.0;
    snprintf(buf, len, "%s %ld/%ld (%.0f%%)  %.2f %s/s  elapsed %s  ETA %s%s%s", p->label, p->done,
             p->total, pct, rate, p->unit, elapsed, eta, extra ? "  " : "", extra ? extra : "");
}

void progress_update(Progress *p, long done, const char *extra) {
    p->done = done;
    if (p->ctx && (p->ctx->rank != 0 || p->ctx->verbose < 1)) return;
    double now = timer_now();
    double every = p->tty ? 0.2 : p->interval;
    if (now - p->t_last < every && done < p->total) return;
    p->t_last = now;
    char line[256];
    progress_format(p, now, extra, line, sizeof line);
    if (p->tty) {
        printf("\r\033[K%s", line);
        fflush(stdout);
    } else {
        log_info(p->ctx, "%s", line);
        p->shown = done;
    }
}

void progress_end(Progress *p, const char *extra) {
    if (p->ctx && (p->ctx->rank != 0 || p->ctx->verbose < 1)) return;
    if (!p->tty && p->shown == p->done && !extra) return;
    char line[256];
    progress_format(p, timer_now(), extra, line, sizeof line);
    if (p->tty) {
        printf("\r\033[K%s\n", line);
        fflush(stdout);
    } else {
        log_info(p->ctx, "%s", line);
    }
}
