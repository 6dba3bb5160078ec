// DNA++'s co-training stage (see cotrain.h): data, views, schedule, checkpoint and the
// collapse guard around train/cotrain.c's step.
#include "stages/cotrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timer.h"
#include "io/files.h"
#include "stages/stages.h"
#include "train/loader.h"
#include "train/schedule.h"
#include "train/trainer.h"
#include "train/views.h"

// Streams of the co-training, under (train.seed or run.seed) -> STREAM_SSL.
enum { STREAM_SSL = 210, SSL_INIT = 1, SSL_DATA = 2, SSL_PATHS = 3, SSL_VIEWS = 4 };

static const char *cfg_file(const Config *cfg) {
    return cfg->path[0] ? cfg->path : "config";
}

void cotrain_ckpt_path(const Config *cfg, char *buf, size_t n) {
    config_run_path(cfg, "ckpt/ssl.h5", buf, n);
}

SslCfg cotrain_loss_cfg(const Config *cfg) {
    const SslCfgKeys *s = &cfg->ssl;
    const struct {
        const char *key;
        double v;
        int positive;  // 1: must be > 0; 0: >= 0
    } k[] = {{"lambda1", s->lambda1, 0},
             {"lambda2", s->lambda2, 0},
             {"lambda3", s->lambda3, 0},
             {"gamma", s->gamma, 0},
             {"eps", s->eps, 1},
             {"lr", s->lr, 1},
             {"weight_decay", s->weight_decay, 0},
             {"momentum", s->momentum, 0},
             {"eta", s->eta, 1},
             {"warmup_epochs", s->warmup_epochs, 0}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        DNA_CHECK(isfinite(k[i].v) && (k[i].positive ? k[i].v > 0 : k[i].v >= 0),
                  k[i].positive ? "give a finite value > 0" : "give a finite value >= 0",
                  "%s: [ssl] %s = %g is out of range", cfg_file(cfg), k[i].key, k[i].v);
    DNA_CHECK(s->momentum < 1, "give a momentum in [0, 1)", "%s: [ssl] momentum = %g",
              cfg_file(cfg), s->momentum);
    DNA_CHECK(
        s->proj_hidden >= 1 && s->proj_dim >= 1 && s->proj_hidden <= 65536 && s->proj_dim <= 65536,
        "give projector widths in 1..65536", "%s: [ssl] proj_hidden = %ld, proj_dim = %ld",
        cfg_file(cfg), s->proj_hidden, s->proj_dim);
    SslCfg l = SSL_CFG_DEFAULT;
    l.lambda1 = s->lambda1, l.lambda2 = s->lambda2, l.lambda3 = s->lambda3;
    l.gamma = s->gamma, l.eps = s->eps, l.var_both = (int)s->var_both;
    return l;
}

// "MIN MAX" of an [ssl] range key.
static void range(const Config *cfg, const char *key, const char *text, double out[2]) {
    char *end;
    out[0] = strtod(text, &end);
    const char *p = end;
    out[1] = strtod(p, &end);
    DNA_CHECK(end != p && !*(end + strspn(end, " \t")), "write the range as two numbers, MIN MAX",
              "%s: [ssl] %s = '%s'", cfg_file(cfg), key, text);
}

static ViewsCfg views_cfg(const Config *cfg, int h, int w) {
    ViewsCfg v = VIEWS_CFG_DEFAULT;
    range(cfg, "crop_scale", cfg->ssl.crop_scale, v.crop_scale);
    range(cfg, "crop_ratio", cfg->ssl.crop_ratio, v.crop_ratio);
    range(cfg, "erase_scale", cfg->ssl.erase_scale, v.erase_scale);
    range(cfg, "erase_ratio", cfg->ssl.erase_ratio, v.erase_ratio);
    v.flip_p = cfg->ssl.flip_p, v.erase_p = cfg->ssl.erase_p, v.noise_std = cfg->ssl.noise_std;
    char what[CFG_STR + 16];
    snprintf(what, sizeof what, "%s: [ssl]", cfg_file(cfg));
    views_check(&v, h, w, what);
    return v;
}

// Keys that only distillation reads: given in DNA++'s mode, they do nothing; say so.
static void warn_distill_keys(const RunCtx *ctx, const Config *cfg) {
    static const char *const keys[][2] = {
        {"features", "dtype"},   {"features", "chunk"}, {"features", "shard_samples"},
        {"features", "deflate"}, {"features", "batch"}, {"train", "lr_first"},
        {"train", "lr"},         {"train", "lr_decay"}, {"train", "weight_decay"},
        {"train", "window"},     {"train", "fraction"}};
    char list[512] = "";
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (config_given(cfg, keys[i][0], keys[i][1])) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s.%s", l ? ", " : "", keys[i][0], keys[i][1]);
        }
    if (list[0] && ctx->rank == 0)
        log_warn(ctx,
                 "%s: [train] mode = ssl does not read %s (distillation's keys; DNA++ takes its "
                 "optimizer from [ssl] and stores no shards): remove them",
                 cfg_file(cfg), list);
}

// Both views of each of the b images x [b, c, h, w], padded by `pad` zeros a side, into
// out [2b, c, h + 2 pad, w + 2 pad]: view a's rows, then view b's.
static void make_views(const ViewsCfg *v, const float *x, int b, int c, int h, int w, int pad,
                       uint64_t seed, int epoch, const int64_t *ids, float *va, float *vb,
                       float *out) {
    views_make(v, x, b, c, h, w, seed, epoch, ids, va, vb);
    int H = h + 2 * pad, W = w + 2 * pad;
    memset(out, 0, sizeof(float) * (size_t)2 * b * c * H * W);
    for (int i = 0; i < 2 * b; i++)
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++) {
                const float *src = (i < b ? va : vb) + (((size_t)(i % b) * c + ch) * h + y) * w;
                memcpy(out + (((size_t)i * c + ch) * H + y + pad) * W + pad, src,
                       sizeof(float) * (size_t)w);
            }
}

// What ckpt/ssl.h5 holds besides the trainer's progress, in one shape for writing it and
// reading it back: the model's parameters and batch-norm statistics, the guard's curves and
// the running sums of the epoch in progress.
typedef struct CoState {
    ParamList all;
    Tensor **stats;
    int nstats;
    Tensor curves;  // [epochs, K, COTRAIN_TERMS]: the epochs' means (the checkpoint's shared0)
    Tensor *shared[1];
    double *acc;  // the epoch in progress: its steps, then K x COTRAIN_TERMS sums (trainer sums)
    int nsums;
} CoState;

// s must not move afterwards (shared points into it).
static void state_init(const Backend *be, CoTrain *m, long epochs, CoState *s) {
    *s = (CoState){0};
    cotrain_params(m, &s->all);
    int maxst = cotrain_max_stats(m);
    s->stats = dna_malloc(sizeof(Tensor *) * (size_t)maxst);
    s->nstats = cotrain_stats(m, s->stats, maxst);
    s->curves = tensor_new(be, (int)epochs, m->sp.nblocks, COTRAIN_TERMS, 1);
    be->fill(s->curves.data, NAN, tensor_numel(&s->curves));
    s->shared[0] = &s->curves;
    s->nsums = 1 + m->sp.nblocks * COTRAIN_TERMS;
    s->acc = calloc((size_t)s->nsums, sizeof(double));
}

static void state_attach(CoState *s, Trainer *t) {
    t->params = &s->all, t->local = s->stats, t->nlocal = s->nstats;
    t->shared = s->shared, t->nshared = 1, t->sums = s->acc, t->nsums = s->nsums;
}

static void state_free(const Backend *be, CoState *s) {
    params_free(&s->all);
    free(s->stats), free(s->acc);
    tensor_free(be, &s->curves);
}

typedef struct Run {
    const RunCtx *ctx;
    const Config *cfg;
    const Space *sp;
    CoTrain m;
    Trainer tr;
    CoState st;
} Run;

// The epoch that ended: its means per block into the curves, a log line per block, and the
// collapse guard's warning.
static void epoch_end(Run *r) {
    int K = r->sp->nblocks;
    long e = r->tr.epoch;
    double steps = r->st.acc[0] > 0 ? r->st.acc[0] : 1, mean_loss = 0;
    size_t n = tensor_numel(&r->st.curves);
    float *h = dna_malloc(sizeof(float) * n);
    tensor_download(r->ctx->be, &r->st.curves, h);
    for (int k = 0; k < K; k++) {
        const double *s = r->st.acc + 1 + k * COTRAIN_TERMS;
        for (int q = 0; q < COTRAIN_TERMS; q++)
            h[((e - 1) * K + k) * COTRAIN_TERMS + q] = (float)(s[q] / steps);
        mean_loss += (s[0] + s[1] + s[2]) / steps;
        if (r->tr.lead)
            log_rank(r->ctx,
                     "train: ssl epoch %ld/%ld block %d: dist %.4f cov %.4f var %.4f, std Z %.3f "
                     "Z-hat %.3f",
                     e, r->tr.c.epochs, k + 1, s[0] / steps, s[1] / steps, s[2] / steps,
                     s[3] / steps, s[4] / steps);
        double lim = r->cfg->ssl.gamma / 10;
        if (r->tr.lead && (s[3] / steps < lim || s[4] / steps < lim))
            log_warn(r->ctx,
                     "train: ssl block %d is collapsing: the mean std of its projections (Z %.4f, "
                     "Z-hat %.4f) fell below gamma/10 = %g; raise [ssl] lambda3 or lower lr",
                     k + 1, s[3] / steps, s[4] / steps, lim);
    }
    tensor_upload(r->ctx->be, &r->st.curves, h);
    free(h);
    memset(r->st.acc, 0, sizeof(double) * (size_t)r->tr.nsums);
    trainer_epoch_end(&r->tr, mean_loss);  // the figure: the epoch's mean training loss
}

int cotrain_run(const RunCtx *ctx, const Config *cfg, const Space *sp) {
    const Backend *be = ctx->be;
    warn_distill_keys(ctx, cfg);
    SslCfg loss = cotrain_loss_cfg(cfg);
    Dataset d;
    stage_dataset(cfg, &d);
    ViewsCfg vc = views_cfg(cfg, d.train.h, d.train.w);
    char path[1100];
    config_run_path(cfg, "teacher.h5", path, sizeof path);
    Teacher t;
    teacher_load(be, path, &t);
    int pad = (t.in_hw - d.train.h) / 2;
    DNA_CHECK(t.in_hw == d.train.h + 2 * pad && views_out_hw(&vc, d.train.h) == d.train.h,
              "use the teacher made for this dataset",
              "'%s' takes %dx%d inputs; the images are %dx%d", path, t.in_hw, t.in_hw, d.train.h,
              d.train.w);
    DNA_CHECK(cfg->train.batch >= 2 && cfg->train.batch >= ctx->nranks,
              "set [train] batch to 2 or more, and at least the rank count",
              "%s: [train] batch = %ld on %d ranks", cfg_file(cfg), cfg->train.batch, ctx->nranks);
    char dir[1100];
    config_run_path(cfg, "ckpt", dir, sizeof dir);
    if (ctx->rank == 0) make_dirs(dir);
    par_barrier();
    ParGroup *g = ctx->nranks > 1 ? par_group_split(0) : NULL;
    long seed = cfg->train.seed >= 0 ? cfg->train.seed : cfg->run.seed;
    Rng root = rng_new((uint64_t)seed), ssl = rng_split(&root, STREAM_SSL);
    Rng init = rng_split(&ssl, SSL_INIT), data = rng_split(&ssl, SSL_DATA);
    Rng pathroot = rng_split(&ssl, SSL_PATHS), vr = rng_split(&ssl, SSL_VIEWS);
    uint64_t vseed = rng_u64(&vr);
    Run r = {.ctx = ctx, .cfg = cfg, .sp = sp};
    cotrain_init(be, &r.m, sp, &t.net, (int)cfg->ssl.proj_hidden, (int)cfg->ssl.proj_dim, loss, g,
                 &init);
    Rng *paths = dna_malloc(sizeof(Rng) * (size_t)r.m.njobs);
    for (int j = 0; j < r.m.njobs; j++) paths[j] = rng_split(&pathroot, (uint64_t)j);
    Loader *L = loader_new(&d.train, d.fit, d.n_fit, d.mean, d.std,
                           (LoaderCfg){.batch = (int)cfg->train.batch,
                                       .part = ctx->rank,
                                       .nparts = ctx->nranks,
                                       .shuffle = 1,
                                       .drop_last = 1,
                                       .seed = rng_u64(&data)});
    long per_epoch = loader_batches(L), epochs = cfg->train.epochs;
    DNA_CHECK(per_epoch > 0, "lower [train] batch or use more training data",
              "co-training: fewer supernet-training images (%d) than one batch of %ld", d.n_fit,
              cfg->train.batch);
    state_init(be, &r.m, epochs, &r.st);
    char ck[1100], hash[17];
    cotrain_ckpt_path(cfg, ck, sizeof ck);
    char *identity = stage_identity(ctx, "ssl co-training");
    TrainerCfg tc = {.label = "train ssl",
                     .identity = identity,
                     .ckpt = ck,
                     .epochs = epochs,
                     .per_epoch = per_epoch,
                     .ckpt_minutes = cfg->run.ckpt_minutes,
                     .ckpt_steps = cfg->train.ckpt_every,
                     .metrics_every = cfg->run.metrics_every,
                     .batch = cfg->train.batch,
                     .team = g,
                     .solo = !g,
                     .step_curve = 1,
                     .prov = h5_prov_of_run(ctx, cfg, 1, hash)};
    trainer_init(&r.tr, ctx, &tc);
    state_attach(&r.st, &r.tr);
    int resumed = trainer_resume(&r.tr), stopped = 0;
    if (r.tr.done) {
        log_info(ctx, "train: ssl co-training is done (%s); skipping", ck);
    } else {
        if (resumed)
            log_info(ctx, "train: ssl co-training resumes at epoch %lld batch %lld (step %lld)",
                     r.tr.epoch + 1, r.tr.cursor, r.tr.step);
        log_info(ctx,
                 "train: ssl co-training of the teacher and %d students, %ld epochs x %ld steps of "
                 "%ld images (2 views each) on %d ranks; %s lr %g",
                 r.m.njobs, epochs, per_epoch, cfg->train.batch, ctx->nranks, cfg->ssl.optimizer,
                 cfg->ssl.lr);
        Schedule sch = {.kind = SCHED_COSINE,
                        .peak = cfg->ssl.lr,
                        .warmup = (long)(cfg->ssl.warmup_epochs * (double)per_epoch),
                        .total = per_epoch * epochs};
        int c = d.train.c, h = d.train.h, w = d.train.w, most = (int)cfg->train.batch;
        size_t img = (size_t)c * h * w, padded = (size_t)c * t.in_hw * t.in_hw;
        float *va = dna_malloc(sizeof(float) * img * most),
              *vb = dna_malloc(sizeof(float) * img * most);
        float *xv = dna_malloc(sizeof(float) * padded * 2 * most);
        Tensor x = {0};
        int lars = !strcmp(cfg->ssl.optimizer, "lars");
        for (long open = -1; r.tr.epoch < epochs;) {
            if (r.tr.nval < r.tr.epoch) epoch_end(&r);
            if (open != r.tr.epoch) loader_start_epoch(L, (int)r.tr.epoch, (int)r.tr.cursor);
            open = r.tr.epoch;
            double t0 = timer_now();
            const float *xb;
            const int32_t *lab;
            const int64_t *ids;
            int b = loader_next(L, &xb, &lab, &ids);
            DNA_CHECK(b > 0, "report this as a bug", "co-training: loader ended at step %lld",
                      r.tr.step);
            make_views(&vc, xb, b, c, h, w, pad, vseed, (int)r.tr.epoch, ids, va, vb, xv);
            double wait = timer_now() - t0;
            tensor_ensure(be, &x, 2 * b, c, t.in_hw, t.in_hw);
            tensor_upload(be, &x, xv);
            double lr = schedule_lr(&sch, r.tr.step);
            Optim opt = lars ? optim_lars((float)lr, (float)cfg->ssl.weight_decay,
                                          (float)cfg->ssl.momentum, (float)cfg->ssl.eta)
                             : optim_adamw((float)lr, (float)cfg->ssl.weight_decay);
            CoTerms terms;
            double l = cotrain_step(&r.m, &x, paths, r.tr.step, &opt, &terms);
            DNA_CHECK(isfinite(l), "lower [ssl] lr or raise warmup_epochs",
                      "train: ssl loss became %g at step %lld", l, r.tr.step);
            r.st.acc[0] += 1;
            for (int k = 0; k < sp->nblocks; k++)
                for (int q = 0; q < COTRAIN_TERMS; q++)
                    r.st.acc[1 + k * COTRAIN_TERMS + q] += terms.block[k][q];
            TrainEvent ev = trainer_step(&r.tr, l, lr, wait);
            if ((stopped = ev == TRAIN_STOP)) break;
        }
        if (!stopped && r.tr.nval < r.tr.epoch) epoch_end(&r);
        free(va), free(vb), free(xv);
        tensor_free(be, &x);
        if (r.tr.lead && ctx->nranks > 1)  // the figures of doc/design.md §6
            log_rank(ctx,
                     "train: ssl communication %.1f s over this process's steps; a step sums %zu "
                     "gradient floats and gathers %zu projection values",
                     r.m.comm_s, r.m.comm_grad, r.m.comm_rows);
        if (r.tr.done && r.tr.lead) {
            long tail = r.tr.step / 10 > 0 ? r.tr.step / 10 : 1;
            double a = 0, z = 0;
            for (long i = 0; i < tail; i++) a += r.tr.loss[i], z += r.tr.loss[r.tr.step - 1 - i];
            log_rank(ctx, "train: ssl loss, first %ld steps %.5f -> last %ld %.5f (%s)", tail,
                     a / tail, tail, z / tail, z < a ? "falls" : "DOES NOT FALL");
        }
    }
    trainer_free(&r.tr);
    free(identity);
    free(paths);
    state_free(be, &r.st);
    loader_free(L);
    cotrain_free(&r.m);
    teacher_free(be, &t);
    dataset_free(&d);
    par_group_free(g);
    double flag = stopped;
    par_allreduce_sum_f64(&flag, 1);
    return flag != 0;
}

void cotrain_load(const RunCtx *ctx, const Config *cfg, const Space *sp, Teacher *t, CoTrain *m) {
    char path[1100];
    config_run_path(cfg, "teacher.h5", path, sizeof path);
    teacher_load(ctx->be, path, t);
    Rng r = rng_new(0);
    cotrain_init(ctx->be, m, sp, &t->net, (int)cfg->ssl.proj_hidden, (int)cfg->ssl.proj_dim,
                 cotrain_loss_cfg(cfg), NULL, &r);
    CoState st;
    state_init(ctx->be, m, cfg->train.epochs, &st);
    Trainer shape = {0};
    state_attach(&st, &shape);
    cotrain_ckpt_path(cfg, path, sizeof path);
    trainer_load_finished(path, ctx->be, &shape);
    state_free(ctx->be, &st);
}
