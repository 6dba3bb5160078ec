// Rank-aware logging and progress lines. log_info prints on rank 0 only (with the time
// since start), log_rank on every rank with its rank number. Every line also goes to the
// stage's log file (RunCtx.log_fd) when one is open; -q (verbose 0) silences log_info and
// progress, -v (verbose 2) adds log_debug. A Progress shows rate and ETA:
// redrawn in place on a terminal, one plain line per interval otherwise (Slurm logs).
#pragma once
#include "core/ctx.h"

void log_info(const RunCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const RunCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_rank(const RunCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warn(const RunCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// A line of a table or listing: rank 0, stdout and the log file, without the time prefix.
void log_plain(const RunCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct Progress {
    const RunCtx *ctx;
    char label[48];
    const char *unit;  // what is counted: "step", "img", "path"
    long total, done;
    long shown;  // `done` of the last plain line (-1: none), so the end is not logged twice
    double t0, t_last;
    double interval;  // seconds between plain lines when not on a terminal
    int tty;
} Progress;

void progress_init(Progress *p, const RunCtx *ctx, const char *label, const char *unit, long total);
// done: items finished so far; extra: a short status such as "loss=0.123" (may be NULL).
void progress_update(Progress *p, long done, const char *extra);
void progress_end(Progress *p, const char *extra);
// Seconds as hh:mm:ss ("--:--:--" when negative or over 99 hours).
void log_hms(double s, char *buf, int len);
// Formats "label  done/total  rate unit/s  ETA hh:mm:ss  extra" into buf (for tests, too).
void progress_format(const Progress *p, double now, const char *extra, char *buf, int len);
