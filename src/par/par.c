// MPI set-up, abort and collectives. Errors are returned by MPI (MPI_ERRORS_RETURN) and
// turned into dna_fatal by MPI_CHECK, which aborts every rank with the message.
#include "par/par.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"

// mpirun gives ranks a pseudo-terminal even when its own output goes to a file, so a
// launched rank cannot trust isatty: it prints plain progress lines (what Slurm logs want).
static int launched_by_mpi(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK") ||
           getenv("SLURM_PROCID");
}

// Process-wide by necessity: MPI is. The thread that initialised MPI is the only one that
// may call it (MPI_THREAD_FUNNELED); the rank is kept for error messages from other threads.
static struct {
    pthread_t main;
    int main_set, rank;
} mpi_owner = {.rank = -1};

static int on_main_thread(void) {
    return !mpi_owner.main_set || pthread_equal(pthread_self(), mpi_owner.main);
}

static const char *thread_level_name(int level) {
    return level == MPI_THREAD_SINGLE       ? "MPI_THREAD_SINGLE"
           : level == MPI_THREAD_FUNNELED   ? "MPI_THREAD_FUNNELED"
           : level == MPI_THREAD_SERIALIZED ? "MPI_THREAD_SERIALIZED"
           : level == MPI_THREAD_MULTIPLE   ? "MPI_THREAD_MULTIPLE"
                                            : "an unknown level";
}

void par_thread_level_check(int provided) {
    DNA_CHECK(provided >= MPI_THREAD_FUNNELED,
              "use an MPI library (module) built with thread support: Open MPI and MPICH "
              "provide FUNNELED by default; check OMPI_MPI_THREAD_LEVEL or similar settings",
              "the MPI library provides %s (%d), dna needs MPI_THREAD_FUNNELED: helper threads "
              "read data while the main thread alone calls MPI",
              thread_level_name(provided), provided);
}

void par_init(RunCtx *ctx, int *argc, char ***argv) {
    mpi_owner.main = pthread_self();
    mpi_owner.main_set = 1;
    dna_fatal_hooks(par_world_rank, par_abort);
    int provided = 0;
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &ctx->rank));
    mpi_owner.rank = ctx->rank;
    par_thread_level_check(provided);
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &ctx->nranks));
    MPI_Comm node;
    MPI_CHECK(
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, ctx->rank, MPI_INFO_NULL, &node));
    MPI_CHECK(MPI_Comm_rank(node, &ctx->local_rank));
    MPI_CHECK(MPI_Comm_size(node, &ctx->local_size));
    MPI_CHECK(MPI_Comm_free(&node));
    ctx->allgather = par_allgather;
    ctx->is_tty = ctx->rank == 0 && isatty(1) && !launched_by_mpi();
    const char *mode = getenv("DNA_PROGRESS");  // "tty" or "plain" overrides the guess
    if (mode) ctx->is_tty = ctx->rank == 0 && !strcmp(mode, "tty");
}

void par_finalize(void) {
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Finalize();
}

int par_world_rank(void) {
    if (!on_main_thread()) return mpi_owner.rank;  // no MPI call off the main thread
    int up = 0, down = 0, rank = -1;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

void par_abort(int code) {
    // Another thread (an OpenMP worker: helper threads hand their errors to the main thread)
    // may not call MPI: it ends the process, and mpirun/srun end the other ranks.
    if (!on_main_thread()) _exit(code);
    int up = 0, down = 0, size = 1;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) {
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        if (size > 1) MPI_Abort(MPI_COMM_WORLD, code);
        MPI_Finalize();
    }
    // at once, as MPI_Abort ends the other ranks: no exit handlers, which would close (and
    // flush) files left open by the failure, e.g. HDF5's, whose own close then crashes
    fflush(stdout), fflush(stderr);
    _exit(code);
}

void par_barrier(void) {
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
}

int par_bcast_int(int v) {
    MPI_CHECK(MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD));
    return v;
}

void par_allgather(const void *mine, void *all, size_t bytes) {
    DNA_CHECK(bytes <= INT_MAX, "gather less", "allgather of %zu bytes per rank", bytes);
    MPI_CHECK(MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD));
}

char *par_bcast_text(const char *text) {
    long n = text ? (long)strlen(text) : -1;
    MPI_CHECK(MPI_Bcast(&n, 1, MPI_LONG, 0, MPI_COMM_WORLD));
    if (n < 0) return NULL;
    char *copy = dna_malloc((size_t)n + 1);
    if (text) memcpy(copy, text, (size_t)n + 1);
    MPI_CHECK(MPI_Bcast(copy, (int)n + 1, MPI_CHAR, 0, MPI_COMM_WORLD));
    return copy;
}

// MPI counts are int: large buffers go in slices.
static void allreduce(MPI_Comm comm, void *buf, size_t n, size_t elem, MPI_Datatype t) {
    char *p = buf;
    while (n > 0) {
        int m = n > (size_t)INT_MAX ? INT_MAX : (int)n;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p, m, t, MPI_SUM, comm));
        p += (size_t)m * elem, n -= (size_t)m;
    }
}

void par_allreduce_sum_f32(float *buf, size_t n) {
    allreduce(MPI_COMM_WORLD, buf, n, sizeof(float), MPI_FLOAT);
}
void par_allreduce_sum_f64(double *buf, size_t n) {
    allreduce(MPI_COMM_WORLD, buf, n, sizeof(double), MPI_DOUBLE);
}

double *par_gatherv_f64(const double *send, int n, int *total) {
    int size = 1, rank = 0;
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size));
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    int *counts = rank == 0 ? dna_malloc(sizeof(int) * (size_t)size) : NULL;
    int *displs = rank == 0 ? dna_malloc(sizeof(int) * (size_t)size) : NULL;
    MPI_CHECK(MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD));
    double *all = NULL;
    if (rank == 0) {
        long sum = 0;
        for (int r = 0; r < size; r++) displs[r] = (int)sum, sum += counts[r];
        DNA_CHECK(sum <= INT_MAX, "rate fewer paths per run", "gather of %ld values", sum);
        all = dna_malloc(sizeof(double) * (size_t)(sum ? sum : 1));
        *total = (int)sum;
    }
    MPI_CHECK(MPI_Gatherv(send, n, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, MPI_COMM_WORLD));
    free(counts), free(displs);
    return all;
}

struct ParGroup {
    MPI_Comm comm;
    int rank, size;
};

ParGroup *par_group_split(int color) {
    int world = 0;
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world));
    ParGroup *g = dna_malloc(sizeof *g);
    MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, color, world, &g->comm));
    MPI_CHECK(MPI_Comm_set_errhandler(g->comm, MPI_ERRORS_RETURN));
    MPI_CHECK(MPI_Comm_rank(g->comm, &g->rank));
    MPI_CHECK(MPI_Comm_size(g->comm, &g->size));
    return g;
}

int par_group_rank(const ParGroup *g) {
    int r = 0;
    if (!g) MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &r));
    return g ? g->rank : r;
}
int par_group_size(const ParGroup *g) {
    int n = 1;
    if (!g) MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &n));
    return g ? g->size : n;
}
void par_group_sum_f64(ParGroup *g, double *buf, size_t n) {
    allreduce(g->comm, buf, n, sizeof(double), MPI_DOUBLE);
}
void par_group_bn_sum(void *g, double *buf, size_t n) {
    par_group_sum_f64(g, buf, n);
}

void par_group_or(ParGroup *g, int *flags, int n) {
    MPI_Comm comm = g ? g->comm : MPI_COMM_WORLD;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, flags, n, MPI_INT, MPI_LOR, comm));
}

void par_group_barrier(ParGroup *g) {
    MPI_CHECK(MPI_Barrier(g ? g->comm : MPI_COMM_WORLD));
}

double *par_group_gather_rows(ParGroup *g, const double *row, int n) {
    MPI_Comm comm = g ? g->comm : MPI_COMM_WORLD;
    int rank = par_group_rank(g), size = par_group_size(g);
    size_t bytes = sizeof(double) * (size_t)size * (size_t)(n ? n : 1);
    double *all = rank == 0 ? dna_malloc(bytes) : NULL;
    MPI_CHECK(MPI_Gather(row, n, MPI_DOUBLE, all, n, MPI_DOUBLE, 0, comm));
    return all;
}

void par_group_free(ParGroup *g) {
    if (!g) return;
    MPI_CHECK(MPI_Comm_free(&g->comm));
    free(g);
}

struct ParSum {
    const Backend *be;
    MPI_Comm comm;      // the group's, or MPI_COMM_WORLD
    void *dev;          // the backend's communicator (NULL: host path)
    int size;           // members
    float *buf, *host;  // par_sum_buf's buffer (backend memory); host staging (host path)
    size_t cap, host_cap;
};

// Whether the members (all[n]) can sum on their devices: every one has device collectives
// and a device of its own (NCCL refuses two ranks on one GPU). When not, and any member
// could have, `why` says what stands in the way.
static int device_sums(const BackendPlace *all, int n, char *why, size_t len) {
    int some = 0, every = 1;
    for (int i = 0; i < n; i++) some |= all[i].comm, every &= all[i].comm;
    if (!some) return 0;  // the CPU: the host path is the only one, nothing to say
    for (int i = 0; i < n && !every; i++)
        if (!all[i].comm) {
            snprintf(why, len, "rank %d has no NCCL (backend %s%s)", all[i].rank, all[i].backend,
                     strcmp(all[i].backend, "cpu") ? ", built without NCCL" : "");
            return 0;
        }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (backend_same_device(&all[i], &all[j])) {
                char uuid[48];
                backend_uuid_text(all[i].uuid, uuid);
                snprintf(why, len, "ranks %d and %d share GPU %s on host %s", all[i].rank,
                         all[j].rank, uuid, all[i].host);
                return 0;
            }
    return 1;
}

ParSum *par_sum_new(const Backend *be, ParGroup *g) {
    ParSum *s = dna_calloc(1, sizeof *s);
    s->be = be;
    s->comm = g ? g->comm : MPI_COMM_WORLD;
    int rank = 0, world = 0;
    MPI_CHECK(MPI_Comm_rank(s->comm, &rank));
    MPI_CHECK(MPI_Comm_size(s->comm, &s->size));
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &world));
    // decided from what every member says, so all take the same path (a member that chose
    // otherwise would wait forever in a collective the others never join)
    BackendPlace me = backend_place(be, world);
    BackendPlace *all = dna_malloc(sizeof *all * (size_t)s->size);
    MPI_CHECK(MPI_Allgather(&me, sizeof me, MPI_BYTE, all, sizeof me, MPI_BYTE, s->comm));
    char why[400] = "";
    int dev = device_sums(all, s->size, why, sizeof why);
    free(all);
    static int warned;  // once per process: each new sum would say the same
    if (why[0] && rank == 0 && !warned) {
        warned = 1;
        fprintf(stderr,
                "dna: warning (rank %d): the %d ranks of its %s sum gradients through host "
                "memory and MPI, not NCCL: %s (one GPU per rank, NCCL on every rank, lets them "
                "sum on the GPUs)\n",
                world, s->size, g ? "group" : "run", why);
    }
    if (dev) {
        unsigned char id[BACKEND_COMM_ID_BYTES] = {0};
        if (rank == 0) be->comm_id(id);
        MPI_CHECK(MPI_Bcast(id, BACKEND_COMM_ID_BYTES, MPI_BYTE, 0, s->comm));
        s->dev = be->comm_new(id, s->size, rank);
    }
    return s;
}

void par_sum_f32(ParSum *s, float *buf, size_t n) {
    if (s->dev) {
        s->be->comm_sum(s->dev, buf, n);
        return;
    }
    if (n > s->host_cap) {
        free(s->host);
        s->host = dna_malloc(sizeof(float) * n);
        s->host_cap = n;
    }
    s->be->download(s->host, buf, sizeof(float) * n);
    allreduce(s->comm, s->host, n, sizeof(float), MPI_FLOAT);
    s->be->upload(buf, s->host, sizeof(float) * n);
}

static float *sum_buf(ParSum *s, size_t n) {
    if (n > s->cap) {
        if (s->buf) s->be->free(s->buf);
        s->buf = s->be->alloc(sizeof(float) * n);
        s->cap = n;
    }
    return s->buf;
}

void par_sum_tensors(ParSum *s, Tensor *const *t, int n, int mean, double *extra) {
    const Backend *be = s->be;
    size_t total = extra ? 1 : 0;
    for (int i = 0; i < n; i++) total += tensor_numel(t[i]);
    float *buf = sum_buf(s, total), *p = buf, e = extra ? (float)*extra : 0.0f;
    for (int i = 0; i < n; i++) {
        be->copy(p, t[i]->data, sizeof(float) * tensor_numel(t[i]));
        p += tensor_numel(t[i]);
    }
    if (extra) be->upload(p, &e, sizeof e);
    par_sum_f32(s, buf, total);
    if (mean) {
        Tensor v = tensor_view(buf, 1, (int)total, 1, 1);
        be->axpy(1.0f / (float)s->size - 1.0f, &v, &v);  // exact for power-of-two groups
    }
    p = buf;
    for (int i = 0; i < n; i++) {
        be->copy(t[i]->data, p, sizeof(float) * tensor_numel(t[i]));
        p += tensor_numel(t[i]);
    }
    if (extra) be->download(&e, p, sizeof e), *extra = e;
}

void par_sum_free(ParSum *s) {
    if (!s) return;
    if (s->dev) s->be->comm_free(s->dev);
    if (s->buf) s->be->free(s->buf);
    free(s->host);
    free(s);
}

struct ParCounter {
    MPI_Win win;
    long *value;  // rank 0's counter (NULL elsewhere)
};

ParCounter *par_counter_new(void) {
    ParCounter *c = dna_calloc(1, sizeof *c);
    int rank = 0;
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    MPI_Aint size = rank == 0 ? (MPI_Aint)sizeof(long) : 0;
    MPI_CHECK(
        MPI_Win_allocate(size, sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &c->value, &c->win));
    if (rank == 0) *c->value = 0;
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));  // the zero is in place before anyone takes a value
    MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, c->win));
    return c;
}

long par_counter_next(ParCounter *c) {
    long one = 1, got = 0;
    MPI_CHECK(MPI_Fetch_and_op(&one, &got, MPI_LONG, 0, 0, MPI_SUM, c->win));
    MPI_CHECK(MPI_Win_flush(0, c->win));
    return got;
}

void par_counter_free(ParCounter *c) {
    if (!c) return;
    MPI_CHECK(MPI_Win_unlock_all(c->win));
    MPI_CHECK(MPI_Win_free(&c->win));
    free(c);
}

void par_minavgmax(double v, double out[3]) {
    int size = 1;
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size));
    MPI_CHECK(MPI_Allreduce(&v, &out[0], 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD));
    MPI_CHECK(MPI_Allreduce(&v, &out[1], 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    MPI_CHECK(MPI_Allreduce(&v, &out[2], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    out[1] /= size;
}

int par_stop_agreed(void) {
    int flag = par_stop_take();
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &flag, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    return flag;
}

void par_library_version(char *buf, size_t n) {
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_CHECK(MPI_Get_library_version(v, &len));
    v[strcspn(v, "\n,")] = 0;
    snprintf(buf, n, "%s", v);
}
