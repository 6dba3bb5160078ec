// Fatal errors and checked allocation. Core knows nothing above it: the layer that can end
// the whole job (src/par, with MPI) registers its abort and rank functions here, and the
// stage log registers its file, so an error reaches the log too.
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

// Process-wide by necessity: dna_fatal is reached from code that holds no context.
static struct {
    int (*rank)(void);
    void (*abort)(int code);
    FILE *log;
} hooks;

void dna_fatal_hooks(int (*rank)(void), void (*abort_job)(int code)) {
    hooks.rank = rank;
    hooks.abort = abort_job;
}

void dna_fatal_log(FILE *f) {
    hooks.log = f;
}

static void report(FILE *f, int rank, const char *msg, const char *file, int line,
                   const char *hint) {
    if (rank >= 0)
        fprintf(f, "dna: error (rank %d): %s\n", rank, msg);
    else
        fprintf(f, "dna: error: %s\n", msg);
    fprintf(f, "  at %s:%d\n", file, line);
    if (hint && hint[0]) fprintf(f, "  fix: %s\n", hint);
    fflush(f);
}

void dna_fatal(const char *file, int line, const char *hint, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int rank = hooks.rank ? hooks.rank() : -1;
    fflush(stdout);
    report(stderr, rank, msg, file, line, hint);
    if (hooks.log) report(hooks.log, rank, msg, file, line, hint);
    if (hooks.abort) hooks.abort(1);
    exit(1);
}

void *dna_malloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    DNA_CHECK(p, "reduce the batch size or the model, or run on a node with more memory",
              "out of memory allocating %zu bytes", bytes);
    return p;
}

void *dna_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    DNA_CHECK(p, "reduce the batch size or the model, or run on a node with more memory",
              "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}
