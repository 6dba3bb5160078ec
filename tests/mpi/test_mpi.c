// MPI tests, run under `mpirun -np 2` (on any other rank count they fail at once):
// collectives, data-parallel gradients equal to the single-process gradient, the one-sided
// work counter, and RNG streams that do not depend on which rank draws them.
// Rank 0 prints one line per case and "mpi (2 ranks): N passed, N failed".
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/log.h"
#include "nn/convbn.h"
#include "par/par.h"
#include "train/cell_step.h"

static int passed, failed;

// Issue 17: MPI provides MPI_THREAD_FUNNELED (par_init checked it), and a helper thread gets
// the rank for its error messages without calling MPI (the rank par_init recorded).
static void *rank_on_helper(void *arg) {
    *(int *)arg = par_world_rank();
    return NULL;
}

static void report(const RunCtx *ctx, const char *name, int ok_local) {
    double v = ok_local ? 0.0 : 1.0;
    par_allreduce_sum_f64(&v, 1);  // a case passes only if it passed on every rank
    if (v == 0.0)
        passed++;
    else
        failed++;
    if (ctx->rank == 0) printf("%s %s\n", v == 0.0 ? "ok  " : "FAIL", name);
}

static void test_threads(const RunCtx *ctx) {
    int level = -1, r = -2;
    MPI_Query_thread(&level);
    pthread_t t;
    pthread_create(&t, NULL, rank_on_helper, &r);
    pthread_join(t, NULL);
    report(ctx, "mpi_thread_level_and_rank_off_the_main_thread",
           level >= MPI_THREAD_FUNNELED && r == ctx->rank);
}

static void test_allreduce(const RunCtx *ctx) {
    float x[3] = {1.0f + ctx->rank, 2.0f, -1.0f * ctx->rank};
    par_allreduce_sum_f32(x, 3);
    int R = ctx->nranks;
    int ok = x[0] == R + R * (R - 1) / 2.0f && x[1] == 2.0f * R && x[2] == -R * (R - 1) / 2.0f;
    double mam[3];
    par_minavgmax((double)ctx->rank, mam);
    ok &= mam[0] == 0 && mam[2] == R - 1 && fabs(mam[1] - (R - 1) / 2.0) < 1e-12;
    report(ctx, "mpi_allreduce_and_minavgmax", ok);
}

// What rank 0 decided is what every rank does: each rank offers its own answer (as ranks that
// see a shared filesystem differently would) and gets rank 0's.
static void test_rank0_decides(const RunCtx *ctx) {
    int v = par_bcast_int(10 + ctx->rank);
    char mine[32];
    snprintf(mine, sizeof mine, "seen by rank %d", ctx->rank);
    char *text = par_bcast_text(mine), *none = par_bcast_text(ctx->rank ? "x" : NULL);
    int ok = v == 10 && text && !strcmp(text, "seen by rank 0") && !none;
    free(text), free(none);
    report(ctx, "mpi_rank0_decides", ok);
}

// A ConvBN's weight gradient, averaged over ranks that each see a slice of the batch, must
// equal the gradient of the whole batch on one process (BN without cross-rank statistics is
// the per-rank model of data parallelism, so use BN_EVAL-free layers: a conv + MSE).
static void test_data_parallel_grad(const RunCtx *ctx) {
    const Backend *be = ctx->be;
    int N = 4 * ctx->nranks, per = 4;
    Rng rng = rng_new(5);
    Tensor x = tensor_new(be, N, 3, 6, 6), w = tensor_new(be, 5, 3, 3, 3),
           y = tensor_new(be, N, 5, 6, 6);
    Tensor t = tensor_new(be, N, 5, 6, 6), dy = tensor_new(be, N, 5, 6, 6),
           g1 = tensor_new(be, 5, 3, 3, 3);
    for (size_t i = 0; i < tensor_numel(&x); i++) x.data[i] = rng_normal(&rng);
    for (size_t i = 0; i < tensor_numel(&w); i++) w.data[i] = rng_normal(&rng);
    for (size_t i = 0; i < tensor_numel(&t); i++) t.data[i] = rng_normal(&rng);
    ConvSpec s = {1, 1, 1};
    be->conv2d_fwd(&x, &w, &y, s);
    be->mse(&y, &t, &dy);
    be->conv2d_bwd(&x, &w, &dy, NULL, &g1, s);  // whole batch on every rank
    // this rank's slice
    size_t xo = (size_t)ctx->rank * per * 3 * 36, yo = (size_t)ctx->rank * per * 5 * 36;
    Tensor xs = tensor_view(x.data + xo, per, 3, 6, 6), ts = tensor_view(t.data + yo, per, 5, 6, 6);
    Tensor ys = tensor_new(be, per, 5, 6, 6), dys = tensor_new(be, per, 5, 6, 6),
           g = tensor_new(be, 5, 3, 3, 3);
    be->conv2d_fwd(&xs, &w, &ys, s);
    be->mse(&ys, &ts, &dys);
    be->conv2d_bwd(&xs, &w, &dys, NULL, &g, s);
    par_allreduce_sum_f32(g.data, tensor_numel(&g));
    int ok = 1;
    for (size_t i = 0; i < tensor_numel(&g); i++) {
        float avg = g.data[i] / ctx->nranks;  // each slice's MSE is a mean over its own part
        ok &= fabsf(avg - g1.data[i]) <= 1e-5f + 1e-4f * fabsf(g1.data[i]);
    }
    report(ctx, "mpi_data_parallel_grad_equals_single_process", ok);
    Tensor *all[] = {&x, &w, &y, &t, &dy, &g1, &ys, &dys, &g};
    for (int i = 0; i < 9; i++) tensor_free(be, all[i]);
}

// A rank group training one cell (synchronised BN, summed gradients, each rank a slice of
// the batch, the slices uneven) must follow the one-process run on the whole batch up to
// summation order: three Adam steps with a stem, SE and a residual layer, then compare
// weights. Every rank also runs the whole batch alone, as the reference.
static void test_group_cell_steps(const RunCtx *ctx) {
    const Backend *be = ctx->be;
    int R = ctx->nranks, N = 5 * R + 1;  // uneven: rank 0 gets one more
    int lo = ctx->rank * N / R, hi = (ctx->rank + 1) * N / R;
    CellCfg cfg = cell_cfg_default(3, 8, 2, 2);
    cfg.width = 6, cfg.stem = 4, cfg.stem_stride = 1, cfg.se_ratio = 0.25f;
    Cell one, grp;
    Rng r1 = rng_new(9), r2 = rng_new(9), data = rng_new(10);
    cell_init(be, &one, cfg, &r1);
    cell_init(be, &grp, cfg, &r2);
    ParamList p1 = {0}, p2 = {0};
    cell_all_params(&one, &p1);
    cell_all_params(&grp, &p2);
    ParGroup *g = par_group_split(0);
    BnSync bs = {par_group_bn_sum, g};
    BatchNorm *bns[CELL_MAX_LAYERS * CELL_MAX_OPS * 3 + 1],
        *bn1[CELL_MAX_LAYERS * CELL_MAX_OPS * 3 + 1];
    int nbn = cell_bns(&grp, bns, (int)(sizeof bns / sizeof *bns));
    cell_bns(&one, bn1, nbn);
    for (int i = 0; i < nbn; i++) bns[i]->sync = &bs;
    ParSum *ps = par_sum_new(be, g);
    StepSync ss = {(float)(hi - lo) / (float)N, ps};
    Tensor x = tensor_new(be, N, 3, 8, 8), y = tensor_new(be, N, 8, 4, 4),
           dy = tensor_new(be, N, 8, 4, 4), dys = tensor_new(be, hi - lo, 8, 4, 4);
    for (size_t i = 0; i < tensor_numel(&x); i++) x.data[i] = rng_normal(&data);
    for (size_t i = 0; i < tensor_numel(&y); i++) y.data[i] = rng_normal(&data);
    Tensor xs = tensor_view(x.data + (size_t)lo * 3 * 64, hi - lo, 3, 8, 8),
           ys = tensor_view(y.data + (size_t)lo * 8 * 16, hi - lo, 8, 4, 4);
    Optim opt = optim_adam(0.01f, 1e-4f);
    int ok = 1;
    for (int step = 0; step < 3; step++) {
        int path[2] = {step % cfg.nops, (step * 5 + 1) % cfg.nops};
        double l1 = cell_train_step(be, &one, path, &x, &y, &dy, &opt, NULL);
        double l2 = cell_train_step(be, &grp, path, &xs, &ys, &dys, &opt, &ss);
        ok &= fabs(l1 - l2) <= 1e-5 * fabs(l1);
    }
    // Weights are not compared one by one: a parameter whose true gradient is zero (a BN
    // shift that the next BN removes) gets Adam steps of size lr from rounding noise in both
    // runs, and eval mode would show it (the next BN's running mean trails the shift). The
    // functions must agree: every path's training-mode output on the whole batch.
    float worst = 0, worst_bn = 0;
    for (int i = 0; i < nbn; i++)
        for (int c = 0; c < bns[i]->run_var.n; c++) {
            float a = bn1[i]->run_var.data[c], b = bns[i]->run_var.data[c];
            float m = bn1[i]->run_mean.data[c], n = bns[i]->run_mean.data[c];
            float e = fmaxf(fabsf(a - b) / a, fabsf(m - n) / (1e-3f + fabsf(m)));
            worst_bn = e > worst_bn ? e : worst_bn;
        }
    for (int i = 0; i < nbn; i++) bns[i]->sync = NULL;  // whole batch on every rank now
    for (int a = 0; a < cfg.nops; a++)
        for (int b = 0; b < cfg.nops; b++) {
            int path[2] = {a, b};
            const Tensor *o1 = cell_forward(be, &one, path, &x, BN_TRAIN);
            Tensor t1 = tensor_new(be, o1->n, o1->c, o1->h, o1->w);
            memcpy(t1.data, o1->data, sizeof(float) * tensor_numel(o1));
            const Tensor *o2 = cell_forward(be, &grp, path, &x, BN_TRAIN);
            float big = 0, diff = 0;
            for (size_t j = 0; j < tensor_numel(&t1); j++) {
                big = fmaxf(big, fabsf(t1.data[j]));
                diff = fmaxf(diff, fabsf(t1.data[j] - o2->data[j]));
            }
            worst = fmaxf(worst, diff / big);
            tensor_free(be, &t1);
        }
    ok &= worst <= 1e-4f && worst_bn <= 1e-5f;
    if (ctx->rank == 0)
        printf(
            "     after 3 steps, every path: max |out_group - out_one| / max |out| %.2e; BN "
            "running stats rel. %.2e\n",
            worst, worst_bn);
    report(ctx, "mpi_group_cell_steps_equal_single_process", ok);
    par_sum_free(ps);
    par_group_free(g);
    params_free(&p1), params_free(&p2);
    cell_free(be, &one), cell_free(be, &grp);
    Tensor *all[] = {&x, &y, &dy, &dys};
    for (int i = 0; i < 4; i++) tensor_free(be, all[i]);
}

// Jobs are dealt round-robin to ranks; each job's draws come from split(root, job). Rank 0
// gathers every job's first draws and compares them with computing all jobs itself.
static void test_streams_independent_of_ranks(const RunCtx *ctx) {
    enum { JOBS = 7, DRAWS = 5 };
    Rng root = rng_new(ctx->seed);
    float mine[JOBS * DRAWS] = {0};
    for (int j = ctx->rank; j < JOBS; j += ctx->nranks) {
        Rng r = rng_split(&root, (uint64_t)j);
        for (int d = 0; d < DRAWS; d++) mine[j * DRAWS + d] = rng_uniform(&r);
    }
    par_allreduce_sum_f32(mine, JOBS * DRAWS);  // every slot is written by exactly one rank
    int ok = 1;
    for (int j = 0; j < JOBS; j++) {
        Rng r = rng_split(&root, (uint64_t)j);
        for (int d = 0; d < DRAWS; d++) ok &= mine[j * DRAWS + d] == rng_uniform(&r);
    }
    report(ctx, "mpi_rng_streams_independent_of_rank_count", ok);
}

// The one-sided counter hands out every value exactly once, whichever rank asks, while the
// ranks take values at different speeds (rank 1 sleeps between takes).
// Issue 23: a sum takes the device path (NCCL) only when every member has device collectives
// and a device of its own, and the members decide together: two on one device (NCCL refuses
// them) or one without (a rank that fell back to the CPU) send every member through the host.
// A stand-in backend: the CPU's, with device collectives that count their use.
static int fake_comms;
static unsigned char fake_device;  // this rank's device, as a UUID byte
static void fake_id(unsigned char id[BACKEND_COMM_ID_BYTES]) {
    memset(id, 7, BACKEND_COMM_ID_BYTES);
}
static void *fake_new(const unsigned char id[BACKEND_COMM_ID_BYTES], int nranks, int rank) {
    (void)id, (void)nranks, (void)rank;
    fake_comms++;
    return &fake_comms;
}
static void fake_sum(void *comm, float *buf, size_t n) {
    (void)comm;
    par_allreduce_sum_f32(buf, n);
}
static void fake_free(void *comm) {
    (void)comm;
}
static void fake_uuid(unsigned char u[BACKEND_UUID_BYTES]) {
    memset(u, 0, BACKEND_UUID_BYTES);
    u[0] = 1, u[1] = fake_device;
}

// 1 when this rank's sum took the device path; *right: the sum was right either way
static int device_path(const RunCtx *ctx, int has_comm, int device, int *right) {
    Backend be = *backend_cpu();
    if (has_comm) {
        be.comm_id = fake_id, be.comm_new = fake_new, be.comm_sum = fake_sum;
        be.comm_free = fake_free, be.device_uuid = fake_uuid;
    }
    fake_device = (unsigned char)device;
    fake_comms = 0;
    ParSum *ps = par_sum_new(&be, NULL);
    float v = 1.0f + (float)ctx->rank;
    par_sum_f32(ps, &v, 1);
    *right = v == 3.0f;
    par_sum_free(ps);
    return fake_comms;
}

static void test_sum_path_agreed(const RunCtx *ctx) {
    int r1 = 0, r2 = 0, r3 = 0;
    int own = device_path(ctx, 1, ctx->rank, &r1);
    int shared = device_path(ctx, 1, 0, &r2);
    int mixed = device_path(ctx, ctx->rank == 0, ctx->rank, &r3);
    if (!(own == 1 && !shared && !mixed))
        fprintf(stderr, "rank %d: device path with own devices %d, one device %d, mixed %d\n",
                ctx->rank, own, shared, mixed);
    report(ctx, "mpi_sum_device_path_only_with_a_device_each_agreed",
           own == 1 && !shared && !mixed && r1 && r2 && r3);
}

static void test_counter(const RunCtx *ctx) {
    enum { K = 40 };
    double seen[K] = {0};
    ParCounter *c = par_counter_new();
    long got = 0;
    for (long v; (v = par_counter_next(c)) < K; got++) {
        seen[v] += 1;
        if (ctx->rank == 1) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    par_counter_free(c);
    par_allreduce_sum_f64(seen, K);
    int ok = 1;
    for (int i = 0; i < K; i++) ok &= seen[i] == 1.0;
    double mine = (double)got;
    par_allreduce_sum_f64(&mine, 1);
    report(ctx, "counter_hands_out_each_value_once", ok && mine == K);
}

// Stop signals: one rank's SIGUSR1 is every rank's stop once they agree, and is then acted
// on (no re-raise at restore); a signal that came after the agreement is re-raised as
// itself (SIGUSR1 stays SIGUSR1: a child process dies of it).
static void test_stop_signals(const RunCtx *ctx) {
    par_signals_install();
    if (ctx->rank == 1 || ctx->nranks == 1) raise(SIGUSR1);
    int mine = par_stop_requested() == (ctx->rank == 1 || ctx->nranks == 1);
    int agreed = par_stop_agreed(), after = par_stop_requested();
    par_signals_restore();  // acted on: no re-raise, this process lives on
    int died_of = 0;
    if (ctx->rank == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            par_signals_install();
            raise(SIGUSR1);
            par_signals_restore();
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        died_of = WIFSIGNALED(st) ? WTERMSIG(st) : -1;
    }
    report(ctx, "stop_signals_agreed_and_reraised_as_themselves",
           mine && agreed == 1 && after == 0 && (ctx->rank != 0 || died_of == SIGUSR1));
}

int main(int argc, char **argv) {
    RunCtx ctx = ctx_local(backend_cpu(), 1234);
    par_init(&ctx, &argc, &argv);
    if (ctx.nranks != 2) {  // on 1 rank every case would pass without testing anything
        if (ctx.rank == 0)
            printf(
                "FAIL mpi_two_ranks: run under mpirun -np 2, got %d rank(s)\n"
                "mpi (%d ranks): 0 passed, 1 failed\n",
                ctx.nranks, ctx.nranks);
        par_finalize();
        return 1;
    }
    test_allreduce(&ctx);
    test_data_parallel_grad(&ctx);
    test_streams_independent_of_ranks(&ctx);
    test_group_cell_steps(&ctx);
    test_sum_path_agreed(&ctx);
    test_counter(&ctx);
    test_rank0_decides(&ctx);
    test_threads(&ctx);
    test_stop_signals(&ctx);
    if (ctx.rank == 0) printf("mpi (%d ranks): %d passed, %d failed\n", ctx.nranks, passed, failed);
    par_finalize();
    return failed ? 1 : 0;
}
