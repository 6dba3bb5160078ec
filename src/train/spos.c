// The one-shot baseline (see spos.h).
#include "train/spos.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timer.h"
#include "io/dataset.h"
#include "io/textout.h"
#include "nas/arch.h"
#include "nas/cell.h"
#include "par/par.h"
#include "train/bench.h"
#include "train/loader.h"
#include "train/schedule.h"
#include "train/stage.h"
#include "train/stages.h"
#include "train/teacher.h"

enum { STREAM_SPOS = 800, STREAM_INIT = 1, STREAM_DATA = 2, STREAM_PATH = 3, STREAM_DROP = 4,
       STREAM_RECAL = 5 };

typedef struct Supernet {
    const Space *sp;
    Cell cell[SPACE_MAX_BLOCKS][SPACE_MAX_CELLS];
    Head head;
    HeadCache head_c;
    int pick[SPACE_MAX_BLOCKS];                    // the cell of each block on the current path
    int ops[SPACE_MAX_BLOCKS][CELL_MAX_LAYERS];  // and its layers' ops
} Supernet;

static void supernet_init(const Backend *be, Supernet *s, const Space *sp, const EffNetCfg *t,
                          float dropout, Rng *rng) {
    memset(s, 0, sizeof *s);
    s->sp = sp;
    for (int k = 0; k < sp->nblocks; k++)
        for (int c = 0; c < sp->block[k].ncells; c++) cell_init(be, &s->cell[k][c], sp->block[k].cell[c], rng);
    head_init(be, &s->head, sp->block[sp->nblocks - 1].out_c, t->head, t->classes, rng);
    s->head.dropout = dropout;
}

static void supernet_free(const Backend *be, Supernet *s) {
    for (int k = 0; k < s->sp->nblocks; k++)
        for (int c = 0; c < s->sp->block[k].ncells; c++) cell_free(be, &s->cell[k][c]);
    head_free(be, &s->head);
    head_cache_free(be, &s->head_c);
}

static const Tensor *supernet_forward(const Backend *be, Supernet *s, const Tensor *x, BNMode mode,
                                      Rng *drop) {
    for (int k = 0; k < s->sp->nblocks; k++)
        x = cell_forward(be, &s->cell[k][s->pick[k]], s->ops[k], x, mode);
    return head_forward(be, &s->head, &s->head_c, x, mode, drop);
}

static void supernet_backward(const Backend *be, Supernet *s, const Tensor *dlogits) {
    const Tensor *dy = head_backward(be, &s->head, &s->head_c, dlogits);
    for (int k = s->sp->nblocks - 1; k >= 0; k--)
        dy = cell_backward(be, &s->cell[k][s->pick[k]], s->ops[k], dy, k > 0);
}

static void path_params(Supernet *s, ParamList *l) {
    l->n = 0;
    for (int k = 0; k < s->sp->nblocks; k++) cell_path_params(&s->cell[k][s->pick[k]], s->ops[k], l);
    head_params(&s->head, l);
}

static void draw_path(Supernet *s, Rng *r) {
    for (int k = 0; k < s->sp->nblocks; k++) {
        const SpaceBlock *b = &s->sp->block[k];
        s->pick[k] = (int)rng_below(r, (uint32_t)b->ncells);
        const CellCfg *c = &b->cell[s->pick[k]];
        for (int l = 0; l < c->layers; l++) s->ops[k][l] = (int)rng_below(r, (uint32_t)c->nops);
    }
}

static long spos_epochs(const Config *cfg) {
    return cfg->spos.fit.epochs > 0 ? cfg->spos.fit.epochs : cfg->train.epochs;
}

static void train(const RunCtx *ctx, const Config *cfg, const Dataset *d, Supernet *s, Rng *stage) {
    const Backend *be = ctx->be;
    const RecipeCfg *fc = &cfg->spos.fit;
    DNA_CHECK(fc->batch % ctx->nranks == 0 && fc->batch >= ctx->nranks,
              "make the batch a multiple of the rank count",
              "[spos] batch %ld does not split evenly over %d ranks", fc->batch, ctx->nranks);
    long epochs = spos_epochs(cfg);
    Rng data = rng_split(stage, STREAM_DATA), paths = rng_split(stage, STREAM_PATH);
    Rng drop_root = rng_split(stage, STREAM_DROP);
    LoaderCfg lc = {.batch = (int)fc->batch, .part = ctx->rank, .nparts = ctx->nranks,
                    .pad = (int)cfg->data.pad, .crop_pad = (int)cfg->data.crop_pad,
                    .flip = (int)cfg->data.flip, .shuffle = 1, .drop_last = 1,
                    .seed = rng_u64(&data)};
    Loader *L = loader_new(&d->train, d->fit, d->n_fit, d->mean, d->std, lc);
    int c, h, w;
    loader_out_shape(L, &c, &h, &w);
    long per_epoch = loader_batches(L), step = 0;
    Schedule sch = {.kind = strcmp(fc->schedule, "step") ? SCHED_COSINE : SCHED_STEP,
                    .peak = fc->lr, .warmup = (long)(fc->warmup_epochs * (double)per_epoch),
                    .total = per_epoch * epochs, .every = fc->step_epochs * per_epoch,
                    .gamma = fc->step_gamma};
    Optim opt = recipe_optim(fc);
    ParamList all = {0}, pl = {0};
    for (int k = 0; k < s->sp->nblocks; k++)
        for (int j = 0; j < s->sp->block[k].ncells; j++) cell_all_params(&s->cell[k][j], &all);
    head_params(&s->head, &all);
    ParSum *ps = ctx->nranks > 1 ? par_sum_new(be, NULL) : NULL;
    Tensor x = {0}, dlogits = {0};
    int32_t *labels = be->alloc(sizeof(int32_t) * (size_t)fc->batch);
    log_info(ctx, "spos: one-shot supernet, %zu params, %ld epoch(s) x %ld steps of %ld on the "
             "supernet-training split, one uniform path per step (%d rank(s))",
             params_numel(&all), epochs, per_epoch, fc->batch, ctx->nranks);
    double t0 = timer_now();
    for (int ep = 0; ep < epochs; ep++) {
        Progress pr;
        char label[48];
        snprintf(label, sizeof label, "spos epoch %d/%ld", ep + 1, epochs);
        progress_init(&pr, ctx, label, "step", per_epoch);
        loader_start_epoch(L, ep, 0);
        double sums[3] = {0, 0, 0}, t_ep = timer_now();
        const float *xb;
        const int32_t *yb;
        const int64_t *ids;
        for (int b; (b = loader_next(L, &xb, &yb, &ids)) > 0; step++) {
            opt.lr = (float)schedule_lr(&sch, step);
            draw_path(s, &paths);
            path_params(s, &pl);
            tensor_ensure(be, &x, b, c, h, w);
            tensor_upload(be, &x, xb);
            be->upload(labels, yb, sizeof(int32_t) * (size_t)b);
            tensor_ensure(be, &dlogits, b, s->head.classes, 1, 1);
            params_zero_grad(be, &pl);
            Rng drop = rng_split(&drop_root, (uint64_t)step * (uint64_t)ctx->nranks + ctx->rank);
            const Tensor *lg = supernet_forward(be, s, &x, BN_TRAIN, &drop);
            int correct = 0;
            double loss = be->softmax_ce(lg, labels, (float)fc->label_smoothing, &dlogits, &correct);
            DNA_CHECK(isfinite(loss), "lower [spos] lr or raise its warmup_epochs",
                      "[spos] loss became %g at epoch %d step %ld", loss, ep + 1, step);
            supernet_backward(be, s, &dlogits);
            if (ps) grads_average(ps, &pl);
            optim_step(be, &opt, &pl);
            sums[0] += loss * b, sums[1] += correct, sums[2] += b;
            char extra[64];
            snprintf(extra, sizeof extra, "loss=%.4f lr=%.4f", sums[0] / sums[2], opt.lr);
            progress_update(&pr, step - (long)ep * per_epoch + 1, extra);
        }
        progress_end(&pr, NULL);
        if (ctx->nranks > 1) par_allreduce_sum_f64(sums, 3);
        log_info(ctx, "spos: epoch %d/%ld  loss %.4f  train top-1 %.2f%% (sampled paths)  %.0f img/s  %.0f s",
                 ep + 1, epochs, sums[0] / sums[2], 100.0 * sums[1] / sums[2],
                 sums[2] / (timer_now() - t_ep), timer_now() - t0);
    }
    params_free(&all), params_free(&pl);
    loader_free(L);
    tensor_free(be, &x), tensor_free(be, &dlogits);
    be->free(labels);
    par_sum_free(ps);
}

// Top-1 of the current path on the search split, after recalibrating its batch norms on xr.
static double rate_path(const Backend *be, Supernet *s, const Tensor *xr, Loader *val, int c,
                        int h, int w) {
    supernet_forward(be, s, xr, BN_RECALIBRATE, NULL);
    loader_start_epoch(val, 0, 0);
    Tensor x = {0};
    double hit = 0, seen = 0;
    const float *xb;
    const int32_t *yb;
    const int64_t *ids;
    for (int b; (b = loader_next(val, &xb, &yb, &ids)) > 0;) {
        tensor_ensure(be, &x, b, c, h, w);
        tensor_upload(be, &x, xb);
        hit += logits_hits(be, supernet_forward(be, s, &x, BN_EVAL, NULL), yb);
        seen += b;
    }
    tensor_free(be, &x);
    return hit / seen;
}

// Rates the bench's architectures, each rank a share, and gathers val top-1 into acc[n].
static void rate(const RunCtx *ctx, const Config *cfg, const Dataset *d, Supernet *s,
                 const Bench *bench, Rng *stage, double *acc) {
    const Backend *be = ctx->be;
    Rng rr = rng_split(stage, STREAM_RECAL);
    LoaderCfg rc = {.batch = (int)cfg->rate.recal_batch, .nparts = 1, .pad = (int)cfg->data.pad,
                    .shuffle = 1, .seed = rng_u64(&rr)};
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
        for (int k = 0; k < s->sp->nblocks; k++) {
            s->pick[k] = bench->cell[(size_t)i * bench->nblocks + k];
            const CellCfg *cc = &s->sp->block[k].cell[s->pick[k]];
            arch_decode_path(bench->code[(size_t)i * bench->nblocks + k], cc->layers, cc->nops, s->ops[k]);
        }
        acc[i] = rate_path(be, s, &xr, V, c, h, w);
        progress_update(&pr, i + 1, NULL);
    }
    progress_end(&pr, NULL);
    if (ctx->nranks > 1) par_allreduce_sum_f64(acc, (size_t)bench->n);
    loader_free(V);
    tensor_free(be, &xr);
}

int stage_spos(const RunCtx *ctx, const Config *cfg, int force) {
    char path[1100];
    config_run_path(cfg, "spos.csv", path, sizeof path);
    if (stage_done(path) && !force) {
        log_info(ctx, "spos: %s is complete; skipping (--force reruns)", path);
        return STAGE_SKIPPED;
    }
    Space sp;
    EffNetCfg teacher;
    int in_hw;
    stage_space(ctx, cfg, &sp, &teacher, &in_hw);
    Bench bench;
    bench_sample(&sp, &teacher, in_hw, (int)cfg->bench.n, (uint64_t)cfg->run.seed, &bench);
    char dpath[1100];
    config_run_path(cfg, "dataset.h5", dpath, sizeof dpath);
    DNA_CHECK(stage_done(dpath), "run `dna data CFG` first", "no dataset file '%s'", dpath);
    Dataset d;
    dataset_load(dpath, &d);
    Rng root = rng_new((uint64_t)cfg->run.seed), stage = rng_split(&root, STREAM_SPOS);
    Rng init = rng_split(&stage, STREAM_INIT);
    Supernet s;
    supernet_init(ctx->be, &s, &sp, &teacher, (float)cfg->spos.fit.dropout, &init);
    double t0 = timer_now();
    train(ctx, cfg, &d, &s, &stage);
    double t_train = timer_now() - t0;
    double *acc = dna_malloc(sizeof(double) * (size_t)bench.n);
    t0 = timer_now();
    rate(ctx, cfg, &d, &s, &bench, &stage, acc);
    if (ctx->rank == 0) {
        TextOut out;
        FILE *f = textout_open(&out, path);
        fprintf(f, "id,score,val_top1\n");
        for (int i = 0; i < bench.n; i++) fprintf(f, "%d,%.6f,%.6f\n", i + 1, 1.0 - acc[i], acc[i]);
        textout_commit(&out);
    }
    par_barrier();
    log_info(ctx, "spos: supernet trained in %.0f s; %d bench architectures rated on %d search "
             "images in %.0f s -> %s (rank it: dna rank CFG --scores %s)", t_train, bench.n,
             d.n_search, timer_now() - t0, path, path);
    free(acc);
    supernet_free(ctx->be, &s);
    bench_free(&bench);
    dataset_free(&d);
    return STAGE_RAN;
}
