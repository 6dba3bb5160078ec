// MPI tests, run under `mpirun -np 2`: collectives, data-parallel gradients equal to the
// single-process gradient, and RNG streams that do not depend on which rank draws them.
// Rank 0 prints one line per case and "mpi: N passed, N failed".
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "nn/convbn.h"
#include "par/par.h"

static int passed, failed;

static void report(const RunCtx *ctx, const char *name, int ok_local) {
    double v = ok_local ? 0.0 : 1.0;
    par_allreduce_sum_f64(&v, 1);  // a case passes only if it passed on every rank
    if (v == 0.0)
        passed++;
    else
        failed++;
    if (ctx->rank == 0) printf("%s %s\n", v == 0.0 ? "ok  " : "FAIL", name);
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

int main(int argc, char **argv) {
    RunCtx ctx = ctx_local(backend_cpu(), 1234);
    par_init(&ctx, &argc, &argv);
    test_allreduce(&ctx);
    test_data_parallel_grad(&ctx);
    test_streams_independent_of_ranks(&ctx);
    if (ctx.rank == 0) printf("mpi (%d ranks): %d passed, %d failed\n", ctx.nranks, passed, failed);
    par_finalize();
    return failed ? 1 : 0;
}
