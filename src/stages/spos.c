// `dna spos` (doc/design.md §5.6): the one-shot weight-sharing baseline DNA is
// compared with (the paper's Table 7), in the style of SPOS (Guo et al., 2020). The supernet
// (src/nas/oneshot.c) trains with labels on the supernet-training split, one uniformly drawn
// cell and path per block per step (a ViT space: one subnet per block, doc/design.md §4.4;
// every rank draws the same one; gradients averaged), for [spos] epochs (0: as many as
// [train] epochs, the DNA supernet's budget), checkpointed to <run>/resume/spos.h5. Then
// each architecture of the run's bench (the same draw `dna bench` makes) is rated by its
// top-1 on the held-out search split with the inherited weights, after its batch norms are
// recalibrated on one fixed training batch ([rate] recal_batch), as `dna rate` does. Writes
// spos.csv (id, score = 1 - that top-1, so lower is better as with DNA's scores, val_top1),
// for `dna rank --scores`.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timer.h"
#include "io/ckpt.h"
#include "io/files.h"
#include "io/fingerprint.h"
#include "nas/bench.h"
#include "nas/oneshot.h"
#include "par/par.h"
#include "stages/stages.h"
#include "train/fit.h"
#include "train/loader.h"

enum { STREAM_SPOS = 800, STREAM_INIT = 1, STREAM_PATH = 3, STREAM_DROP = 4, STREAM_RECAL = 5 };

static long spos_epochs(const Config *cfg) {
    return cfg->spos.fit.epochs > 0 ? cfg->spos.fit.epochs : cfg->train.epochs;
}

// The supernet as the supervised loop's model: every step draws a uniform path (from a
// sequential stream, which the checkpoint keeps) and trains it alone.
typedef struct SposNet {
    OneShot *s;
    ParamList path;
    Rng draws;
} SposNet;

static const Tensor *spos_fwd(void *net, const Backend *be, const Tensor *x, BNMode mode,
                              Rng *drop) {
    return oneshot_forward(be, ((SposNet *)net)->s, x, mode, drop);
}
static void spos_bwd(void *net, const Backend *be, const Tensor *dlogits) {
    oneshot_backward(be, ((SposNet *)net)->s, dlogits);
}
static const ParamList *spos_step(void *net) {
    SposNet *n = net;
    oneshot_draw(n->s, &n->draws);
    oneshot_path_params(n->s, &n->path);
    return &n->path;
}

enum { SPOS_MAX_STATS = SPACE_MAX_BLOCKS * SPACE_MAX_CELLS * 2 * CELL_MAX_BNS + 2 };

// Trains the supernet; ckpt gets the checkpoint's path. Returns 1 when stopped by a signal.
static int train(const RunCtx *ctx, const Config *cfg, const Dataset *d, OneShot *s, Rng *stage,
                 char *ckpt, size_t n) {
    SposNet net = {.s = s, .draws = rng_split(stage, STREAM_PATH)};
    ParamList all = {0};
    oneshot_all_params(s, &all);
    Tensor **stats = dna_malloc(sizeof(Tensor *) * SPOS_MAX_STATS);
    Model m = {.net = &net,
               .forward = spos_fwd,
               .backward = spos_bwd,
               .step_params = spos_step,
               .params = &all,
               .stats = stats,
               .nstats = oneshot_stats(s, stats, SPOS_MAX_STATS),
               .rng = &net.draws};
    stage_resume_path(ctx, cfg, "spos", ckpt, n);
    char *id = stage_identity(ctx, "spos");
    Recipe r = {.label = "spos",
                .stream = STREAM_SPOS,
                .drop_stream = STREAM_DROP,
                .epochs = spos_epochs(cfg),
                .fit = &cfg->spos.fit,
                .ckpt = ckpt,
                .identity = id};
    log_info(ctx,
             "spos: one-shot supernet, %zu params, on the supernet-training split, one "
             "uniform path per step (train top-1 below: of the sampled paths)",
             params_numel(&all));
    int stopped = 0;
    fit_train(ctx, cfg, &r, d, d->mean, d->std, &m, 0, NULL, &stopped);
    free(id);
    params_free(&all), params_free(&net.path);
    free(stats);
    return stopped;
}

// Top-1 of the current path on the search split, after recalibrating its batch norms on xr.
static double rate_path(const Backend *be, OneShot *s, const Tensor *xr, Loader *val, int c, int h,
                        int w) {
    oneshot_forward(be, s, xr, BN_RECALIBRATE, NULL);
    loader_start_epoch(val, 0, 0);
    Tensor x = {0};
    double hit = 0, seen = 0;
    const float *xb;
    const int32_t *yb;
    const int64_t *ids;
    for (int b; (b = loader_next(val, &xb, &yb, &ids)) > 0;) {
        tensor_ensure(be, &x, b, c, h, w);
        tensor_upload(be, &x, xb);
        hit += logits_hits(be, oneshot_forward(be, s, &x, BN_EVAL, NULL), yb);
        seen += b;
    }
    tensor_free(be, &x);
    return hit / seen;
}

// Rates the bench's architectures, each rank a share, and gathers val top-1 into acc[n].
static void rate(const RunCtx *ctx, const Config *cfg, const Dataset *d, OneShot *s,
                 const Bench *bench, Rng *stage, double *acc) {
    const Backend *be = ctx->be;
    Rng rr = rng_split(stage, STREAM_RECAL);
    LoaderCfg rc = {.batch = (int)cfg->rate.recal_batch,
                    .nparts = 1,
                    .pad = (int)cfg->data.pad,
                    .shuffle = 1,
                    .seed = rng_u64(&rr)};
    Loader *R = loader_new(&d->train, d->fit, d->n_fit, d->mean, d->std, rc);
    int c, h, w;
    loader_out_shape(R, &c, &h, &w);
    loader_start_epoch(R, 0, 0);
    const float *xb;
    const int32_t *yb;
    const int64_t *ids;
    int nr = loader_next(R, &xb, &yb, &ids);
    Tensor xr = tensor_new(be, nr, c, h, w);
    tensor_upload(be, &xr, xb);
    loader_free(R);
    LoaderCfg vc = {.batch = (int)cfg->rate.batch, .nparts = 1, .pad = (int)cfg->data.pad};
    Loader *V = loader_new(&d->train, d->search, d->n_search, d->mean, d->std, vc);
    memset(acc, 0, sizeof(double) * (size_t)bench->n);
    Progress pr;
    progress_init(&pr, ctx, "spos rating", "arch", bench->n);
    for (int i = ctx->rank; i < bench->n; i += ctx->nranks) {
        oneshot_set(s, bench->cell + (size_t)i * bench->nblocks,
                    bench->code + (size_t)i * bench->nblocks);
        acc[i] = rate_path(be, s, &xr, V, c, h, w);
        progress_update(&pr, i + 1, NULL);
    }
    progress_end(&pr, NULL);
    if (ctx->nranks > 1) par_allreduce_sum_f64(acc, (size_t)bench->n);
    loader_free(V);
    tensor_free(be, &xr);
}

static int run(const RunCtx *ctx, const Config *cfg, int force) {
    (void)force;
    char path[1100], ckpt[1100];
    config_run_path(cfg, "spos.csv", path, sizeof path);
    Space sp;
    EffNetCfg teacher;
    int in_hw;
    stage_space_any(ctx, cfg, &sp, &teacher, &in_hw);
    Bench bench;
    bench_sample(&sp, &teacher, in_hw, (int)cfg->bench.n, (uint64_t)cfg->run.seed, &bench);
    Dataset d;
    stage_dataset(cfg, &d);
    Rng root = rng_new((uint64_t)cfg->run.seed), stage = rng_split(&root, STREAM_SPOS);
    Rng init = rng_split(&stage, STREAM_INIT);
    OneShot s;
    oneshot_init(ctx->be, &s, &sp, &teacher, (float)cfg->spos.fit.dropout, &init);
    double t0 = timer_now();
    if (train(ctx, cfg, &d, &s, &stage, ckpt, sizeof ckpt)) {
        oneshot_free(ctx->be, &s);
        bench_free(&bench);
        dataset_free(&d);
        return stage_stopped(ctx, "spos: stopped by a signal; checkpointed to '%s'", ckpt);
    }
    double t_train = timer_now() - t0;
    double *acc = dna_malloc(sizeof(double) * (size_t)bench.n);
    t0 = timer_now();
    rate(ctx, cfg, &d, &s, &bench, &stage, acc);
    if (ctx->rank == 0) {
        char side[1200];  // the fingerprint first: a crash between the two leaves no CSV
        fp_sidecar_path(path, side, sizeof side);
        TextOut out;
        fp_write_text(textout_open(&out, side), ctx->fingerprint, ctx->fingerprint_keys, NULL);
        textout_commit(&out);
        FILE *f = textout_open(&out, path);
        fprintf(f, "id,score,val_top1\n");
        for (int i = 0; i < bench.n; i++) fprintf(f, "%d,%.6f,%.6f\n", i + 1, 1.0 - acc[i], acc[i]);
        textout_commit(&out);
        ckpt_remove(ckpt);  // spos.csv holds the result now
    }
    par_barrier();
    log_info(ctx,
             "spos: supernet trained in %.0f s; %d bench architectures rated on %d search "
             "images in %.0f s -> %s (rank it: dna rank CFG --scores %s)",
             t_train, bench.n, d.n_search, timer_now() - t0, path, path);
    free(acc);
    oneshot_free(ctx->be, &s);
    bench_free(&bench);
    dataset_free(&d);
    return STAGE_RAN;
}

const Stage STAGE_SPOS = {
    .name = "spos",
    .help = "one-shot (SPOS) baseline: train a weight-sharing supernet, rate the bench -> spos.csv",
    .run = run,
    .reads = {"dataset.h5", "teacher.h5"},
    .writes = "spos.csv",
    .partial = "resume/spos.h5",
    .sections = "data teacher space train rate bench spos",
    .checkpoints = 1,
    .metrics = 1,
};
