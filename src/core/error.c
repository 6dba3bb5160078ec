// Fatal errors and checked allocation. Core knows nothing above it: the layer that can end
// the whole job (src/par, with MPI) registers its abort and rank functions here, and the
// stage log registers its file, so an error reaches the log too.
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

// Process-wide by necessity: dna_fatal is reached from code that holds no context.
static struct {
    int (*rank)(void);
    void (*abort)(int code);
    int log_fd;
} hooks = {.log_fd = -1};

void dna_fatal_hooks(int (*rank)(void), void (*abort_job)(int code)) {
    hooks.rank = rank;
    hooks.abort = abort_job;
}

void dna_fatal_log(int fd) {
    hooks.log_fd = fd;
}

// Per thread: set by a helper thread on itself (see error.h).
static _Thread_local struct {
    DnaFatalCatch fn;
    void *arg;
} catcher;

void dna_fatal_catch(DnaFatalCatch fn, void *arg) {
    catcher.fn = fn;
    catcher.arg = arg;
}

void dna_fatal(const char *file, int line, const char *hint, const char *fmt, ...) {
    DnaError e = {.file = file, .line = line};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    snprintf(e.hint, sizeof e.hint, "%s", hint ? hint : "");
    dna_fatal_raise(&e, NULL);
}

void dna_fatal_raise(const DnaError *e, const char *where) {
    if (catcher.fn) catcher.fn(e, catcher.arg);  // a helper thread: hands it over, ends
    int rank = hooks.rank ? hooks.rank() : -1;
    char who[32] = "", text[1800];
    if (rank >= 0) snprintf(who, sizeof who, " (rank %d)", rank);
    int n = snprintf(text, sizeof text, "dna: error%s: %s\n  at %s:%d%s%s\n%s%s%s", who, e->msg,
                     e->file, e->line, where ? ", " : "", where ? where : "",
                     e->hint[0] ? "  fix: " : "", e->hint, e->hint[0] ? "\n" : "");
    if (n > (int)sizeof text - 1) n = (int)sizeof text - 1;
    fflush(stdout);
    fputs(text, stderr);
    fflush(stderr);
    if (hooks.log_fd >= 0) {  // one write: ranks failing together do not interleave
        ssize_t w = write(hooks.log_fd, text, (size_t)n);
        (void)w;
    }
    if (hooks.abort) hooks.abort(DNA_EXIT_ERROR);
    exit(DNA_EXIT_ERROR);
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
