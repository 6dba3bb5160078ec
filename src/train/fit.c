// The supervised loop (see fit.h). Every rank holds the whole network and takes its share of
// every global batch; averaged gradients keep the replicas identical.
#include "train/fit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timer.h"
#include "io/ckpt.h"
#include "par/par.h"
#include "train/ema.h"
#include "train/loader.h"
#include "train/schedule.h"
#include "train/trainer.h"

// Random streams below a recipe's stream.
enum {
    STREAM_TEACHER = 100,
    STREAM_RETRAIN = 400,
    STREAM_DATA = 2,
    STREAM_DROP = 3,
    STREAM_SUBSET = 4
};
enum { FIT_CKPT_FORMAT = 1 };
// A rank's running sums of the epoch in progress (checkpointed with it).
enum { SUM_LOSS, SUM_HITS, SUM_SEEN, SUM_SECS, SUM_WAIT, NSUMS };

Recipe recipe_teacher(const Config *cfg) {
    return (Recipe){.label = "teacher", .stream = STREAM_TEACHER, .fit = &cfg->teacher.fit};
}

Recipe recipe_retrain(const Config *cfg) {
    return (Recipe){
        .label = "retrain", .stream = STREAM_RETRAIN, .all_train = 1, .fit = &cfg->retrain.fit};
}

Optim recipe_optim(const RecipeCfg *t) {
    if (!strcmp(t->optimizer, "adamw")) return optim_adamw((float)t->lr, (float)t->weight_decay);
    if (!strcmp(t->optimizer, "rmsprop"))
        return optim_rmsprop((float)t->lr, (float)t->rmsprop_alpha, (float)t->rmsprop_eps,
                             (float)t->momentum, (float)t->weight_decay);
    return optim_sgd((float)t->lr, (float)t->momentum, (float)t->weight_decay, 1);
}

int logits_hits(const Backend *be, const Tensor *lg, const int32_t *labels) {
    float *hl = dna_malloc(sizeof(float) * tensor_numel(lg));
    tensor_download(be, lg, hl);
    int hits = 0;
    for (int i = 0; i < lg->n; i++) {
        int best = 0;
        for (int k = 1; k < lg->c; k++)
            if (hl[i * lg->c + k] > hl[i * lg->c + best]) best = k;
        hits += best == labels[i];
    }
    free(hl);
    return hits;
}

static const Tensor *effnet_fwd(void *net, const Backend *be, const Tensor *x, BNMode mode,
                                Rng *drop) {
    return effnet_forward(be, net, x, mode, drop);
}
static void effnet_bwd(void *net, const Backend *be, const Tensor *dlogits) {
    effnet_backward(be, net, dlogits);
}
static const ParamList *effnet_all(void *net) {
    return &((EffNet *)net)->params;
}

// A network trained whole (every parameter every step): its BN running statistics, found
// by name in its state list, are each rank's own and averaged at every epoch's end.
static Model whole_model(Model m) {
    m.average_stats = 1;
    m.stats = dna_malloc(sizeof(Tensor *) * (size_t)(m.nstate ? m.nstate : 1));
    for (int i = 0; i < m.nstate; i++)
        if (strstr(m.state[i].name, "running_")) m.stats[m.nstats++] = m.state[i].t;
    return m;
}

Model model_effnet(EffNet *net) {
    return whole_model((Model){.net = net,
                               .forward = effnet_fwd,
                               .backward = effnet_bwd,
                               .step_params = effnet_all,
                               .params = &net->params,
                               .state = net->state,
                               .nstate = net->nstate});
}

static const Tensor *vitnet_fwd(void *net, const Backend *be, const Tensor *x, BNMode mode,
                                Rng *drop) {
    return vitnet_forward(be, net, x, mode, drop);
}
static void vitnet_bwd(void *net, const Backend *be, const Tensor *dlogits) {
    vitnet_backward(be, net, dlogits);
}
static const ParamList *vitnet_all(void *net) {
    return &((VitNet *)net)->params;
}

Model model_vitnet(VitNet *net) {
    return whole_model((Model){.net = net,
                               .forward = vitnet_fwd,
                               .backward = vitnet_bwd,
                               .step_params = vitnet_all,
                               .params = &net->params,
                               .state = net->state,
                               .nstate = net->nstate});
}

void model_free(Model *m) {
    free(m->stats);
    m->stats = NULL, m->nstats = 0;
}

double fit_evaluate(const RunCtx *ctx, Model *m, long eval_batch, const Split *test,
                    const double *mean, const double *std, int pad) {
    const Backend *be = ctx->be;
    LoaderCfg lc = {.batch = (int)eval_batch, .part = ctx->rank, .nparts = ctx->nranks, .pad = pad};
    Loader *L = loader_new(test, NULL, test->n, mean, std, lc);
    int c, h, w;
    loader_out_shape(L, &c, &h, &w);
    Tensor x = {0};
    double hits[2] = {0, 0};  // correct, seen
    loader_start_epoch(L, 0, 0);
    const float *xb;
    const int32_t *yb;
    const int64_t *ids;
    for (int b; (b = loader_next(L, &xb, &yb, &ids)) > 0;) {
        tensor_ensure(be, &x, b, c, h, w);
        tensor_upload(be, &x, xb);
        hits[0] += logits_hits(be, m->forward(m->net, be, &x, BN_EVAL, NULL), yb);
        hits[1] += b;
    }
    if (ctx->nranks > 1) par_allreduce_sum_f64(hits, 2);
    loader_free(L);
    tensor_free(be, &x);
    return hits[0] / hits[1];
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

// The recipe's training images: the supernet-training split (train minus the search split,
// which stays unseen until rating), the whole training set, or a seeded subset of it.
static Loader *recipe_loader(const RunCtx *ctx, const Config *cfg, const Recipe *r,
                             const Dataset *d, const double *mean, const double *std, Rng *stage,
                             Rng *data) {
    LoaderCfg lc = {.batch = (int)r->fit->batch,
                    .part = ctx->rank,
                    .nparts = ctx->nranks,
                    .pad = (int)cfg->data.pad,
                    .crop_pad = (int)cfg->data.crop_pad,
                    .flip = (int)cfg->data.flip,
                    .shuffle = 1,
                    .drop_last = 1,
                    .seed = rng_u64(data)};
    if (!r->all_train) return loader_new(&d->train, d->fit, d->n_fit, mean, std, lc);
    if (r->limit <= 0 || r->limit >= d->train.n)
        return loader_new(&d->train, NULL, d->train.n, mean, std, lc);
    Rng sub = rng_split(stage, STREAM_SUBSET);
    int32_t *subset = dna_malloc(sizeof(int32_t) * (size_t)d->train.n);
    for (int i = 0; i < d->train.n; i++) subset[i] = i;
    rng_shuffle(&sub, subset, d->train.n);
    qsort(subset, (size_t)r->limit, sizeof(int32_t), cmp_i32);
    Loader *L = loader_new(&d->train, subset, (int)r->limit, mean, std, lc);
    free(subset);  // the loader keeps a copy
    return L;
}

// Everything one fit_train call holds.
typedef struct Fit {
    const RunCtx *ctx;
    const Recipe *r;
    Model *m;
    long epochs;
    Loader *L;
    Schedule sch;
    Optim opt;
    Ema ema;
    ParSum *ps;
    Rng drop_root;
    Trainer tr;
    double sums[NSUMS];
    Tensor **shared, **local;  // the checkpoint's lists
    Tensor x, dlogits;
    int32_t *labels;
    char hash[17];  // the checkpoint's provenance points at it
} Fit;

static void average_stats(Fit *f) {
    if (f->ps && f->m->average_stats) par_sum_tensors(f->ps, f->m->stats, f->m->nstats, 1, NULL);
}

// The trainer tracks the parameters, the EMA of the weights (the same on every rank), the BN
// statistics and their EMA (each rank's own), the running sums and the model's stream.
static void track(Fit *f) {
    Model *m = f->m;
    f->shared = dna_malloc(sizeof(Tensor *) * (size_t)(f->ema.n + 1));
    f->local = dna_malloc(sizeof(Tensor *) * (size_t)(f->ema.n + m->nstats + 1));
    Trainer *t = &f->tr;
    for (int i = 0; i < m->nstats; i++) f->local[t->nlocal++] = m->stats[i];
    for (int i = 0; i < f->ema.n; i++) {
        if (strstr(m->state[i].name, "running_"))
            f->local[t->nlocal++] = &f->ema.shadow[i];
        else
            f->shared[t->nshared++] = &f->ema.shadow[i];
    }
    t->params = m->params, t->shared = f->shared, t->local = f->local;
    t->sums = f->sums, t->nsums = NSUMS, t->rng = m->rng;
}

// One step on this rank's share of a batch; returns what the trainer says next.
static TrainEvent step(Fit *f, int c, int h, int w) {
    const Backend *be = f->ctx->be;
    Model *m = f->m;
    const RecipeCfg *fc = f->r->fit;
    double t0 = timer_now();
    const float *xb;
    const int32_t *yb;
    const int64_t *ids;
    int b = loader_next(f->L, &xb, &yb, &ids);
    DNA_CHECK(b > 0, "report this as a bug", "%s: the loader ended at step %lld", f->r->label,
              f->tr.step);
    double wait = timer_now() - t0;
    f->opt.lr = (float)schedule_lr(&f->sch, f->tr.step);
    const ParamList *pl = m->step_params(m->net);
    tensor_ensure(be, &f->x, b, c, h, w);
    tensor_upload(be, &f->x, xb);
    be->upload(f->labels, yb, sizeof(int32_t) * (size_t)b);
    params_zero_grad(be, pl);
    Rng drop = rng_split(&f->drop_root,
                         (uint64_t)f->tr.step * (uint64_t)f->ctx->nranks + (uint64_t)f->ctx->rank);
    const Tensor *lg = m->forward(m->net, be, &f->x, BN_TRAIN, &drop);
    tensor_ensure(be, &f->dlogits, b, lg->c, 1, 1);
    int correct = 0;
    double loss = be->softmax_ce(lg, f->labels, (float)fc->label_smoothing, &f->dlogits, &correct);
    DNA_CHECK(isfinite(loss), "lower the section's lr or raise its warmup_epochs",
              "[%s] loss became %g at epoch %lld step %lld", f->r->label, loss, f->tr.epoch + 1,
              f->tr.step);
    m->backward(m->net, be, &f->dlogits);
    double team = loss;
    if (f->ps) optim_sum_grads(f->ps, pl, 1, &team);  // averaged; the loss rides along
    optim_step(be, &f->opt, pl);
    if (f->ema.n) ema_update(be, &f->ema);
    f->sums[SUM_LOSS] += loss * b, f->sums[SUM_HITS] += correct, f->sums[SUM_SEEN] += b;
    f->sums[SUM_WAIT] += wait, f->sums[SUM_SECS] += timer_now() - t0;
    return trainer_step(&f->tr, team, f->opt.lr, wait);
}

// An epoch's end: BN statistics averaged over the ranks, the EMA swapped in to be evaluated
// (after the last epoch it stays, to be saved), test top-1, the log line, the checkpoint.
static double epoch_end(Fit *f, const Config *cfg, const Dataset *d, const double *mean,
                        const double *std, int eval) {
    const RunCtx *ctx = f->ctx;
    long ep = f->tr.nval;  // the epoch that ended (0-based)
    double secs = f->sums[SUM_SECS], wait = f->sums[SUM_WAIT];
    if (ctx->nranks > 1) par_allreduce_sum_f64(f->sums, SUM_SECS);
    average_stats(f);
    if (f->ema.n) {
        ema_swap(ctx->be, &f->ema);
        average_stats(f);  // each rank's EMA saw its own statistics
    }
    double top1 = NAN;
    if (eval)
        top1 =
            fit_evaluate(ctx, f->m, f->r->fit->eval_batch, &d->test, mean, std, (int)cfg->data.pad);
    if (f->ema.n && ep + 1 < f->epochs) ema_swap(ctx->be, &f->ema);
    char test[64] = "";
    if (eval)
        snprintf(test, sizeof test, "  test top-1 %.2f%%%s", 100.0 * top1,
                 f->ema.n ? " (EMA)" : "");
    const double *s = f->sums;
    log_info(ctx,
             "%s: epoch %ld/%ld  loss %.4f  train top-1 %.2f%%%s  %.0f img/s  data wait %.1f%%",
             f->r->label, ep + 1, f->epochs, s[SUM_LOSS] / s[SUM_SEEN],
             100.0 * s[SUM_HITS] / s[SUM_SEEN], test, s[SUM_SEEN] / secs, 100.0 * wait / secs);
    // the epoch's figure: test top-1, or without evaluation the training loss
    trainer_epoch_end(&f->tr, eval ? top1 : s[SUM_LOSS] / s[SUM_SEEN]);
    return top1;
}

static void fit_open(Fit *f, const RunCtx *ctx, const Config *cfg, const Recipe *r,
                     const Dataset *d, const double *mean, const double *std, Model *m) {
    const RecipeCfg *fc = r->fit;
    *f = (Fit){.ctx = ctx, .r = r, .m = m, .epochs = r->epochs > 0 ? r->epochs : fc->epochs};
    DNA_CHECK(fc->batch % ctx->nranks == 0 && fc->batch >= ctx->nranks,
              "make the batch a multiple of the rank count",
              "[%s] batch %ld does not split evenly over %d ranks", r->label, fc->batch,
              ctx->nranks);
    DNA_CHECK(fc->ema >= 0 && fc->ema < 1, "set the section's ema in [0, 1) (0 = off)",
              "[%s] ema = %g", r->label, fc->ema);
    DNA_CHECK(fc->ema == 0 || m->state, "set the section's ema to 0",
              "[%s]: this network takes no EMA", r->label);
    Rng root = rng_new((uint64_t)cfg->run.seed), stage = rng_split(&root, r->stream);
    Rng data = rng_split(&stage, STREAM_DATA);
    f->drop_root = rng_split(&stage, r->drop_stream ? r->drop_stream : STREAM_DROP);
    f->L = recipe_loader(ctx, cfg, r, d, mean, std, &stage, &data);
    long per_epoch = loader_batches(f->L);
    f->sch = (Schedule){.kind = strcmp(fc->schedule, "step") ? SCHED_COSINE : SCHED_STEP,
                        .peak = fc->lr,
                        .warmup = (long)(fc->warmup_epochs * (double)per_epoch),
                        .total = per_epoch * f->epochs,
                        .every = fc->step_epochs * per_epoch,
                        .gamma = fc->step_gamma};
    f->opt = recipe_optim(fc);
    if (fc->ema > 0) ema_init(ctx->be, &f->ema, m->state, m->nstate, (float)fc->ema);
    f->ps = ctx->nranks > 1 ? par_sum_new(ctx->be, NULL) : NULL;
    f->labels = ctx->be->alloc(sizeof(int32_t) * (size_t)fc->batch);
    TrainerCfg tc = {.label = r->job ? r->job : r->label,
                     .ckpt = r->ckpt,
                     .epochs = f->epochs,
                     .per_epoch = per_epoch,
                     .ckpt_minutes = cfg->run.ckpt_minutes,
                     .metrics_every = cfg->run.metrics_every,
                     .batch = fc->batch,
                     .solo = ctx->nranks == 1,
                     .step_curve = 1,
                     .prov = h5_prov_of_run(ctx, cfg, FIT_CKPT_FORMAT, f->hash),
                     .identity = r->identity};
    trainer_init(&f->tr, ctx, &tc);
    track(f);
    if (trainer_resume(&f->tr) && !f->tr.done)
        log_info(ctx, "%s: resumes at epoch %lld batch %lld (step %lld) from %s", r->label,
                 f->tr.epoch + 1, f->tr.cursor, f->tr.step, r->ckpt);
}

static void fit_close(Fit *f) {
    const Backend *be = f->ctx->be;
    trainer_free(&f->tr);
    if (f->ema.n) ema_free(be, &f->ema);
    loader_free(f->L);
    tensor_free(be, &f->x);
    tensor_free(be, &f->dlogits);
    be->free(f->labels);
    par_sum_free(f->ps);
    free(f->shared), free(f->local);
}

double fit_train(const RunCtx *ctx, const Config *cfg, const Recipe *r, const Dataset *d,
                 const double *mean, const double *std, Model *m, int eval, double *top1,
                 int *stopped) {
    Fit f;
    fit_open(&f, ctx, cfg, r, d, mean, std, m);
    int c, h, w;
    loader_out_shape(f.L, &c, &h, &w);
    log_info(ctx, "%s: %ld epoch(s) x %ld steps of %ld (%d rank(s))", r->label, f.epochs,
             f.tr.c.per_epoch, r->fit->batch, ctx->nranks);
    double last = f.tr.nval > 0 ? f.tr.val[f.tr.nval - 1] : NAN;
    int stop = 0;
    for (;;) {
        if (f.tr.nval < f.tr.epoch) last = epoch_end(&f, cfg, d, mean, std, eval);
        if (f.tr.epoch == f.epochs) break;
        if (f.tr.cursor == 0) memset(f.sums, 0, sizeof f.sums);
        loader_start_epoch(f.L, (int)f.tr.epoch, (int)f.tr.cursor);
        TrainEvent ev;
        while ((ev = step(&f, c, h, w)) == TRAIN_NEXT) {
        }
        if ((stop = ev == TRAIN_STOP)) break;
    }
    if (top1 && eval) memcpy(top1, f.tr.val, sizeof(double) * (size_t)f.tr.nval);
    fit_close(&f);
    *stopped = stop;
    return eval ? last : NAN;
}

double fit_teacher(const RunCtx *ctx, const Config *cfg, const Recipe *r, const Dataset *d,
                   Teacher *t, double *top1, int *stopped) {
    const RecipeCfg *fc = r->fit;
    DNA_CHECK(fc->drop_connect >= 0 && fc->drop_connect < 1,
              "set the section's drop_connect in [0, 1) (0 = off)", "[%s] drop_connect = %g",
              r->label, fc->drop_connect);
    effnet_set_drop_connect(&t->net, (float)fc->drop_connect);
    log_info(ctx, "%s: %ld params, %.1fM MACs/img at %dx%d", r->label,
             effnet_param_count(&t->net.cfg), effnet_macs(&t->net.cfg, t->in_hw) / 1e6, t->in_hw,
             t->in_hw);
    Model m = model_effnet(&t->net);
    t->top1 = fit_train(ctx, cfg, r, d, t->mean, t->std, &m, 1, top1, stopped);
    model_free(&m);
    return t->top1;
}

void fit_done(const RunCtx *ctx, const Recipe *r) {
    if (r->ckpt && ctx->rank == 0) ckpt_remove(r->ckpt);
}
