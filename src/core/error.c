// Fatal errors and checked allocation. The abort itself is par_abort's job (src/par), so
// that this file stays free of MPI.
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "par/par.h"

void dna_fatal(const char *file, int line, const char *hint, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int rank = par_world_rank();
    fflush(stdout);
    if (rank >= 0)
        fprintf(stderr, "dna: error (rank %d): %s\n", rank, msg);
    else
        fprintf(stderr, "dna: error: %s\n", msg);
    fprintf(stderr, "  at %s:%d\n", file, line);
    if (hint && hint[0]) fprintf(stderr, "  fix: %s\n", hint);
    fflush(stderr);
    par_abort(1);
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
