// Teacher: architecture from config, data-parallel supervised training, evaluation, and
// teacher.h5 I/O. Every rank holds the whole network; each takes its share of every global
// batch, and averaged gradients keep the replicas identical (BN statistics stay per rank,
// as in PyTorch DDP without SyncBN; running statistics are averaged at each epoch's end).
#include "train/teacher.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timer.h"
#include "io/weights.h"
#include "par/par.h"
#include "train/ema.h"
#include "train/loader.h"
#include "train/optim.h"
#include "train/schedule.h"
#include "train/stage.h"

// Random streams of the teacher stage, split from the run seed.
enum { STREAM_TEACHER = 100, STREAM_RETRAIN = 400, STREAM_INIT = 1, STREAM_DATA = 2, STREAM_DROP = 3,
       STREAM_SUBSET = 4 };

void teacher_arch_from_config(const Config *cfg, int cin, EffNetCfg *out) {
    const TeacherCfg *t = &cfg->teacher;
    const char *file = cfg->path[0] ? cfg->path : "the config";
    EffNetCfg c = {.cin = cin,
                   .stem = (int)t->stem,
                   .stem_stride = (int)t->stem_stride,
                   .head = (int)t->head,
                   .classes = (int)cfg->data.classes,
                   .dropout = (float)t->fit.dropout,
                   .bn_eps = (float)t->bn_eps,
                   .bn_momentum = (float)t->bn_momentum};
    char err[256];
    DNA_CHECK(effnet_parse_stages(t->stages, &c, err, sizeof err) == 0,
              "write stages as timm strings, e.g. ir_r2_k3_s2_e6_c24_se0.25",
              "%s: [teacher] stages: %s", file, err);
    char buf[CFG_STR], *save = NULL;
    snprintf(buf, sizeof buf, "%s", t->blocks);
    for (char *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
        char *end;
        long v = strtol(tok, &end, 10);
        DNA_CHECK(!*end && c.nblocks < EFFNET_MAX_BLOCKS, "list stage indices, e.g. blocks = 1 2 3",
                  "%s: [teacher] blocks: bad entry '%s'", file, tok);
        c.block_end[c.nblocks++] = (int)v;
    }
    DNA_CHECK(effnet_cfg_validate(&c, err, sizeof err) == 0, "fix the [teacher] section",
              "%s: [teacher]: %s", file, err);
    *out = c;
}

void grads_average(ParSum *s, const ParamList *pl) {
    Tensor **g = dna_malloc(sizeof(Tensor *) * (size_t)(pl->n ? pl->n : 1));
    for (int i = 0; i < pl->n; i++) g[i] = &pl->p[i]->g;
    par_sum_tensors(s, g, pl->n, 1, NULL);
    free(g);
}

// Running statistics differ per rank (each saw its own shard of every batch): average them.
static void average_running_stats(ParSum *s, Teacher *t) {
    if (!s) return;
    Tensor **r = dna_malloc(sizeof(Tensor *) * (size_t)(t->net.nstate ? t->net.nstate : 1));
    int n = 0;
    for (int i = 0; i < t->net.nstate; i++)
        if (strstr(t->net.state[i].name, "running_")) r[n++] = t->net.state[i].t;
    par_sum_tensors(s, r, n, 1, NULL);
    free(r);
}

Recipe recipe_teacher(const Config *cfg) {
    return (Recipe){.label = "teacher", .stream = STREAM_TEACHER, .fit = &cfg->teacher.fit};
}

Recipe recipe_retrain(const Config *cfg) {
    return (Recipe){.label = "retrain", .stream = STREAM_RETRAIN, .all_train = 1,
                    .fit = &cfg->retrain.fit};
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

Optim recipe_optim(const RecipeCfg *t) {
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

double teacher_evaluate(const RunCtx *ctx, long eval_batch, const Dataset *d, Teacher *t) {
    const Backend *be = ctx->be;
    LoaderCfg lc = {.batch = (int)eval_batch,
                    .part = ctx->rank,
                    .nparts = ctx->nranks,
                    .pad = (t->in_hw - d->test.h) / 2};
    Loader *L = loader_new(&d->test, NULL, d->test.n, t->mean, t->std, lc);
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
        hits[0] += logits_hits(be, effnet_forward(be, &t->net, &x, BN_EVAL, NULL), yb);
        hits[1] += b;
    }
    if (ctx->nranks > 1) par_allreduce_sum_f64(hits, 2);
    loader_free(L);
    tensor_free(be, &x);
    return hits[0] / hits[1];
}

double teacher_train(const RunCtx *ctx, const Config *cfg, const Recipe *tc, const Dataset *d,
                     Teacher *t, double *top1s) {
    const Backend *be = ctx->be;
    const RecipeCfg *fc = tc->fit;
    DNA_CHECK(fc->batch % ctx->nranks == 0 && fc->batch >= ctx->nranks,
              "make the batch a multiple of the rank count",
              "[%s] batch %ld does not split evenly over %d ranks", tc->label, fc->batch, ctx->nranks);
    Rng root = rng_new((uint64_t)cfg->run.seed), stage = rng_split(&root, tc->stream);
    Rng drop_root = rng_split(&stage, STREAM_DROP), data = rng_split(&stage, STREAM_DATA);
    LoaderCfg lc = {.batch = (int)fc->batch,
                    .part = ctx->rank,
                    .nparts = ctx->nranks,
                    .pad = (int)cfg->data.pad,
                    .crop_pad = (int)cfg->data.crop_pad,
                    .flip = (int)cfg->data.flip,
                    .shuffle = 1,
                    .drop_last = 1,
                    .seed = rng_u64(&data)};
    int32_t *subset = NULL;
    Loader *L;
    if (tc->all_train && tc->limit > 0 && tc->limit < d->train.n) {
        Rng sub = rng_split(&stage, STREAM_SUBSET);
        subset = dna_malloc(sizeof(int32_t) * (size_t)d->train.n);
        for (int i = 0; i < d->train.n; i++) subset[i] = i;
        rng_shuffle(&sub, subset, d->train.n);
        qsort(subset, (size_t)tc->limit, sizeof(int32_t), cmp_i32);
        L = loader_new(&d->train, subset, (int)tc->limit, t->mean, t->std, lc);
    } else if (tc->all_train) {
        L = loader_new(&d->train, NULL, d->train.n, t->mean, t->std, lc);
    } else {
        L = loader_new(&d->train, d->fit, d->n_fit, t->mean, t->std, lc);
    }
    int c, h, w;
    loader_out_shape(L, &c, &h, &w);
    long per_epoch = loader_batches(L), total = per_epoch * fc->epochs;
    Schedule sch = {.kind = strcmp(fc->schedule, "step") ? SCHED_COSINE : SCHED_STEP,
                    .peak = fc->lr,
                    .warmup = (long)(fc->warmup_epochs * (double)per_epoch),
                    .total = total,
                    .every = fc->step_epochs * per_epoch,
                    .gamma = fc->step_gamma};
    Optim opt = recipe_optim(fc);
    DNA_CHECK(fc->ema >= 0 && fc->ema < 1, "set the section's ema in [0, 1) (0 = off)",
              "[%s] ema = %g", tc->label, fc->ema);
    DNA_CHECK(fc->drop_connect >= 0 && fc->drop_connect < 1,
              "set the section's drop_connect in [0, 1) (0 = off)", "[%s] drop_connect = %g",
              tc->label, fc->drop_connect);
    effnet_set_drop_connect(&t->net, (float)fc->drop_connect);
    Ema ema = {0};
    if (fc->ema > 0) ema_init(be, &ema, &t->net, (float)fc->ema);
    ParSum *ps = ctx->nranks > 1 ? par_sum_new(be, NULL) : NULL;
    Tensor x = {0}, dlogits = {0};
    int32_t *labels = be->alloc(sizeof(int32_t) * (size_t)fc->batch);
    log_info(ctx, "%s: %ld params, %.1fM MACs/img at %dx%d, %ld epochs x %ld steps of %ld "
             "(%d rank(s))", tc->label,
             effnet_param_count(&t->net.cfg), effnet_macs(&t->net.cfg, t->in_hw) / 1e6, h, w,
             fc->epochs, per_epoch, fc->batch, ctx->nranks);
    double top1 = 0, t0 = timer_now();
    long step = 0;
    for (int ep = 0; ep < fc->epochs; ep++) {
        Progress pr;
        char label[48];
        snprintf(label, sizeof label, "%s epoch %d/%ld", tc->label, ep + 1, fc->epochs);
        progress_init(&pr, ctx, label, "step", per_epoch);
        loader_start_epoch(L, ep, 0);
        double sums[3] = {0, 0, 0};  // loss x samples, correct, samples (this rank)
        double wait = 0, t_ep = timer_now(), tw = t_ep;
        const float *xb;
        const int32_t *yb;
        const int64_t *ids;
        for (int b; (b = loader_next(L, &xb, &yb, &ids)) > 0; step++, tw = timer_now()) {
            wait += timer_now() - tw;
            opt.lr = (float)schedule_lr(&sch, step);
            tensor_ensure(be, &x, b, c, h, w);
            tensor_upload(be, &x, xb);
            be->upload(labels, yb, sizeof(int32_t) * (size_t)b);
            tensor_ensure(be, &dlogits, b, t->net.cfg.classes, 1, 1);
            params_zero_grad(be, &t->net.params);
            Rng drop = rng_split(&drop_root, (uint64_t)step * (uint64_t)ctx->nranks + ctx->rank);
            const Tensor *lg = effnet_forward(be, &t->net, &x, BN_TRAIN, &drop);
            int correct = 0;
            double loss = be->softmax_ce(lg, labels, (float)fc->label_smoothing, &dlogits, &correct);
            DNA_CHECK(isfinite(loss), "lower the section's lr or raise its warmup_epochs",
                      "[%s] loss became %g at epoch %d step %ld", tc->label, loss, ep + 1, step);
            effnet_backward(be, &t->net, &dlogits);
            if (ps) grads_average(ps, &t->net.params);
            optim_step(be, &opt, &t->net.params);
            if (ema.n) ema_update(be, &ema);
            sums[0] += loss * b, sums[1] += correct, sums[2] += b;
            char extra[64];
            snprintf(extra, sizeof extra, "loss=%.4f lr=%.4f", sums[0] / sums[2], opt.lr);
            progress_update(&pr, step - (long)ep * per_epoch + 1, extra);
        }
        progress_end(&pr, NULL);
        double t_train = timer_now() - t_ep;
        if (ctx->nranks > 1) par_allreduce_sum_f64(sums, 3);
        average_running_stats(ps, t);
        if (ema.n) {  // evaluate the average; after the last epoch it stays, to be saved
            ema_swap(be, &ema);
            average_running_stats(ps, t);  // each rank's EMA saw its own stats
        }
        top1 = teacher_evaluate(ctx, fc->eval_batch, d, t);
        if (ema.n && ep + 1 < fc->epochs) ema_swap(be, &ema);
        if (top1s) top1s[ep] = top1;
        log_info(ctx,
                 "%s: epoch %d/%ld  loss %.4f  train top-1 %.2f%%  test top-1 %.2f%%%s  "
                 "%.0f img/s  data wait %.1f%%  %.0f s",
                 tc->label, ep + 1, fc->epochs, sums[0] / sums[2], 100.0 * sums[1] / sums[2], 100.0 * top1,
                 ema.n ? " (EMA)" : "",
                 sums[2] / t_train, 100.0 * wait / t_train,
                 timer_now() - t0);
    }
    if (ema.n) ema_free(be, &ema);
    loader_free(L);
    free(subset);
    tensor_free(be, &x);
    tensor_free(be, &dlogits);
    be->free(labels);
    par_sum_free(ps);
    t->top1 = top1;
    return top1;
}

void teacher_save(const RunCtx *ctx, const Config *cfg, const Teacher *t, const char *path) {
    char tmp[1024], hash[17];
    hid_t f = h5_create_tmp(path, tmp);
    H5Prov prov = cfg ? stage_prov(ctx, cfg, TEACHER_FORMAT, hash)
                      : (H5Prov){.format = TEACHER_FORMAT, .git_rev = ctx->git_rev,
                                 .version = ctx->version, .backend = ctx->be->name,
                                 .backend_lib = ctx->be->lib_version()};
    h5_attr_prov(f, &prov, tmp);
    char *arch = effnet_cfg_to_json(&t->net.cfg);
    h5_attr_str(f, "arch", arch, tmp);
    free(arch);
    h5_attr_i64(f, "in_hw", t->in_hw, tmp);
    h5_attr_f64(f, "mean", t->mean, t->net.cfg.cin, tmp);
    h5_attr_f64(f, "std", t->std, t->net.cfg.cin, tmp);
    h5_attr_f64(f, "top1", &t->top1, 1, tmp);
    weights_write(f, tmp, ctx->be, t->net.state, t->net.nstate);
    h5_commit(f, tmp, path);
}

void teacher_load(const Backend *be, const char *path, Teacher *t) {
    hid_t f = h5_open_read(path);
    char *arch = h5_read_attr_str(f, "arch", path), err[256];
    EffNetCfg c;
    DNA_CHECK(effnet_cfg_from_json(arch, &c, err, sizeof err) == 0,
              "the file is not a teacher written by dna or tools/export_torchvision_efficientnet.py",
              "'%s': %s", path, err);
    free(arch);
    *t = (Teacher){.in_hw = (int)h5_read_attr_i64(f, "in_hw", path), .top1 = -1};
    DNA_CHECK(t->in_hw > 0 && c.cin <= 4, "regenerate the teacher file",
              "'%s': input %dx%d with %d channels is not supported", path, t->in_hw, t->in_hw, c.cin);
    h5_read_attr_f64(f, "mean", t->mean, c.cin, path);
    h5_read_attr_f64(f, "std", t->std, c.cin, path);
    if (h5_has_attr(f, "top1")) h5_read_attr_f64(f, "top1", &t->top1, 1, path);
    Rng rng = rng_new(0);  // every tensor is overwritten by the file
    effnet_init(be, &t->net, &c, t->in_hw, &rng);
    weights_read(f, path, be, t->net.state, t->net.nstate);
    h5_close(f);
}

void teacher_free(const Backend *be, Teacher *t) {
    effnet_free(be, &t->net);
}
