// par.h for one rank without MPI: the device-only build (make CUDA=1 DEVICE_ONLY=1), for
// machines that have a GPU but no MPI library. Every collective over one rank is the
// identity (or a copy), so this is par.c's behaviour on one rank, minus the library.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "par/par.h"

void par_thread_level_check(int provided) {
    (void)provided;  // no MPI: no thread level to fall short of
}

void par_init(RunCtx *ctx, int *argc, char ***argv) {
    (void)argc, (void)argv;
    dna_fatal_hooks(par_world_rank, par_abort);
    ctx->rank = 0, ctx->nranks = 1, ctx->local_rank = 0, ctx->local_size = 1;
    ctx->allgather = par_allgather;
    ctx->is_tty = isatty(1);
    const char *mode = getenv("DNA_PROGRESS");  // "tty" or "plain" overrides the guess
    if (mode) ctx->is_tty = !strcmp(mode, "tty");
}

void par_finalize(void) {}

int par_world_rank(void) {
    return 0;
}

void par_abort(int code) {
    // at once, as par.c does: no exit handlers closing files the failure left half-written
    fflush(stdout), fflush(stderr);
    _exit(code);
}

void par_barrier(void) {}

int par_bcast_int(int v) {
    return v;
}

void par_allgather(const void *mine, void *all, size_t bytes) {
    memmove(all, mine, bytes);
}

char *par_bcast_text(const char *text) {
    if (!text) return NULL;
    size_t n = strlen(text) + 1;
    return memcpy(dna_malloc(n), text, n);
}

void par_allreduce_sum_f32(float *buf, size_t n) {
    (void)buf, (void)n;
}
void par_allreduce_sum_f64(double *buf, size_t n) {
    (void)buf, (void)n;
}

double *par_gatherv_f64(const double *send, int n, int *total) {
    double *all = dna_malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (n) memcpy(all, send, sizeof(double) * (size_t)n);
    *total = n;
    return all;
}

struct ParGroup {
    int color;  // the split's colour: with one member there is nothing else to hold
};

ParGroup *par_group_split(int color) {
    ParGroup *g = dna_malloc(sizeof *g);
    g->color = color;
    return g;
}

int par_group_rank(const ParGroup *g) {
    (void)g;
    return 0;
}
int par_group_size(const ParGroup *g) {
    (void)g;
    return 1;
}
void par_group_sum_f64(ParGroup *g, double *buf, size_t n) {
    (void)g, (void)buf, (void)n;
}
void par_group_bn_sum(void *g, double *buf, size_t n) {
    (void)g, (void)buf, (void)n;
}
void par_group_or(ParGroup *g, int *flags, int n) {
    (void)g, (void)flags, (void)n;
}
void par_group_barrier(ParGroup *g) {
    (void)g;
}

double *par_group_gather_rows(ParGroup *g, const double *row, int n) {
    (void)g;
    double *all = dna_malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (n) memcpy(all, row, sizeof(double) * (size_t)n);
    return all;
}

void par_group_free(ParGroup *g) {
    free(g);
}

// One member: the sum is the buffer itself, on any backend, with no device communicator.
struct ParSum {
    const Backend *be;
};

ParSum *par_sum_new(const Backend *be, ParGroup *g) {
    (void)g;
    ParSum *s = dna_malloc(sizeof *s);
    s->be = be;
    return s;
}

void par_sum_f32(ParSum *s, float *buf, size_t n) {
    (void)s, (void)buf, (void)n;
}

void par_sum_tensors(ParSum *s, Tensor *const *t, int n, int mean, double *extra) {
    (void)s, (void)t, (void)n, (void)mean;  // the mean of one member is itself
    // par.c carries the extra value as a float in the packed buffer: the same rounding here
    if (extra) *extra = (float)*extra;
}

void par_sum_free(ParSum *s) {
    free(s);
}

int par_stop_agreed(void) {
    return par_stop_take();
}

struct ParCounter {
    long next;
};

ParCounter *par_counter_new(void) {
    return dna_calloc(1, sizeof(ParCounter));
}

long par_counter_next(ParCounter *c) {
    return c->next++;
}

void par_counter_free(ParCounter *c) {
    free(c);
}

void par_minavgmax(double v, double out[3]) {
    out[0] = out[1] = out[2] = v;
}

void par_library_version(char *buf, size_t n) {
    snprintf(buf, n, "none (serial build: one rank, no MPI)");
}
