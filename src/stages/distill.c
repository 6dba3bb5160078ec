// `dna train`: block-wise distillation of the supernet (doc/design.md §5.1, Eqn 6). The (block,
// cell) jobs of the search space are scheduled over the ranks longest-first (src/par/sched.c),
// or, with more ranks than jobs, one data-parallel rank group per job (synchronised BN,
// summed gradients). Every job trains its cell on the teacher's feature shards, one uniformly
// sampled path per step, MSE to the teacher's map, Adam (lr per block, x lr_decay per epoch)
// on that path only, checkpointed by the trainer to <run>/ckpt/block<k>_cell<c>.h5 (done when
// finished) and resumed from there. Everything a job draws comes from streams split by
// (seed, block, cell) and by step, so its result does not depend on which rank runs it, and a
// resumed job continues bitwise.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timer.h"
#include "io/files.h"
#include "io/fingerprint.h"
#include "io/h5lock.h"
#include "io/shard.h"
#include "par/par.h"
#include "par/sched.h"
#include "stages/cotrain.h"
#include "stages/stages.h"
#include "train/cell_step.h"
#include "train/trainer.h"

enum { STREAM_SUPERNET = 200, STREAM_INIT = 1, STREAM_DATA = 2, STREAM_PATH = 3, STREAM_VAL = 4 };

// Mean MSE over the test split's shards, a random path per batch (fixed per epoch). A rank
// group splits every batch and sums.
static double validate(const RunCtx *ctx, const Config *cfg, Student *st, int block, Rng *val,
                       int epoch, const int *in, const int *out, ParGroup *g) {
    const Backend *be = ctx->be;
    char dir[1100];
    config_run_path(cfg, "features/test", dir, sizeof dir);
    ShardReaderCfg rc = {.block = block + 1,
                         .batch = (int)cfg->train.batch,
                         .part = g ? par_group_rank(g) : 0,
                         .nparts = g ? par_group_size(g) : 1};
    ShardReader *r = shard_reader_open(dir, &rc, in, out);
    shard_reader_start_epoch(r, 0, 0);
    Tensor x = {0}, y = {0};
    double sum[2] = {0, 0};  // squared error x samples, samples
    const float *xb, *yb;
    const int32_t *lab;
    const int64_t *ids;
    Rng er = rng_split(val, (uint64_t)epoch);
    int path[CELL_MAX_LAYERS];
    // (a rank whose slice of the short last batch is empty just stops one batch early)
    for (int b, i = 0; (b = shard_reader_next(r, &xb, &yb, &lab, &ids)) > 0; i++) {
        student_sample(st, &er, i, path);
        tensor_ensure(be, &x, b, in[0], in[1], in[2]);
        tensor_ensure(be, &y, b, out[0], out[1], out[2]);
        tensor_upload(be, &x, xb);
        tensor_upload(be, &y, yb);
        sum[0] += be->mse(student_forward_eval(be, st, path, &x), &y, NULL) * b;
        sum[1] += b;
    }
    shard_reader_free(r);
    tensor_free(be, &x), tensor_free(be, &y);
    if (g) par_group_sum_f64(g, sum, 2);
    return sum[0] / sum[1];
}

// ckpt/block<k>_cell<c>.h5: the job's checkpoint, and when done its result.
static void job_ckpt(const Config *cfg, int k, int c, char *path, size_t n) {
    char name[64];
    snprintf(name, sizeof name, "ckpt/block%d_cell%d.h5", k + 1, c + 1);
    config_run_path(cfg, name, path, n);
}

static double mean_of(const float *v, long lo, long hi) {
    double s = 0;
    for (long i = lo; i < hi; i++) s += v[i];
    return hi > lo ? s / (double)(hi - lo) : NAN;
}

// The epoch that just ended: its validation, log line and checkpoint (the final one carries
// the done mark). After a kill between an epoch's last step and this point, it runs on
// resume from the same weights.
static void epoch_end(const RunCtx *ctx, const Config *cfg, Student *st, int k, int c, Rng *val,
                      const int *in, const int *out, ParGroup *g, Trainer *tr, double t0) {
    long e = tr->epoch, per_epoch = tr->c.per_epoch;
    double v = validate(ctx, cfg, st, k, val, (int)e - 1, in, out, g);
    trainer_epoch_end(tr, v);
    if (tr->lead)
        log_rank(ctx,
                 "train: block %d cell %d epoch %ld/%ld  lr %.5f  train mse %.5f  "
                 "val mse %.5f  %.1f s",
                 k + 1, c + 1, e, tr->c.epochs,
                 (k == 0 ? cfg->train.lr_first : cfg->train.lr) *
                     pow(cfg->train.lr_decay, (double)(e - 1)),
                 mean_of(tr->loss, (e - 1) * per_epoch, e * per_epoch), v, timer_now() - t0);
}

// The job's data: its block's maps from the supernet-training shards, this member's slice.
static ShardReader *open_reader(const RunCtx *ctx, const Config *cfg, int k, Rng *job, ParGroup *g,
                                const int *in, const int *out) {
    char dir[1100];
    config_run_path(cfg, "features/train", dir, sizeof dir);
    Rng data = rng_split(job, STREAM_DATA);
    ShardReaderCfg rc = {.block = k + 1,
                         .batch = (int)cfg->train.batch,
                         .part = g ? par_group_rank(g) : 0,
                         .nparts = g ? par_group_size(g) : 1,
                         .shuffle = 1,
                         .window = (int)cfg->train.window,
                         .drop_last = 1,
                         .seed = rng_u64(&data),
                         .fraction = cfg->train.fraction,
                         .alloc = ctx->be->host_alloc,
                         .free = ctx->be->host_free};
    DNA_CHECK(cfg->train.fraction > 0 && cfg->train.fraction <= 1, "set [train] fraction in (0, 1]",
              "%s: [train] fraction = %g", cfg->path[0] ? cfg->path : "config",
              cfg->train.fraction);
    ShardReader *r = shard_reader_open(dir, &rc, in, out);
    DNA_CHECK(shard_reader_batches(r) > 0,
              "lower [train] batch, raise [train] fraction or use more training data",
              "block %d: fewer supernet-training samples than one batch of %ld", k + 1,
              cfg->train.batch);
    return r;
}

// The steps of one epoch (from the trainer's cursor) with Adam at the epoch's learning rate.
// Two input buffers alternate by step: the next batch's upload (upload_async from the
// reader's pinned batch) overlaps with the last step's backward, which still reads the other.
static TrainEvent run_epoch(const RunCtx *ctx, const Config *cfg, Student *st, int k, int c,
                            const int *in, const int *out, ShardReader *r, Rng *paths, ParSum *gsum,
                            Tensor *x, Tensor *y, Tensor *dy, Trainer *tr) {
    const Backend *be = ctx->be;
    long sub = shard_reader_batches(r);
    double lr0 = k == 0 ? cfg->train.lr_first : cfg->train.lr;
    Optim opt = optim_adam((float)(lr0 * pow(cfg->train.lr_decay, (double)tr->epoch)),
                           (float)cfg->train.weight_decay);
    const float *xb, *yb;
    const int32_t *lab;
    const int64_t *ids;
    for (long open_pass = -1;;) {
        be->upload_wait();  // the reader may refill the last batch's buffers from here on
        double t0 = timer_now();
        long pass = tr->step / sub;
        if (pass != open_pass) shard_reader_start_epoch(r, (int)pass, (int)(tr->step % sub));
        open_pass = pass;
        int nb = shard_reader_next(r, &xb, &yb, &lab, &ids);
        DNA_CHECK(nb > 0, "report this as a bug", "block %d cell %d: reader ended at step %lld",
                  k + 1, c + 1, tr->step);
        double wait = timer_now() - t0;
        Tensor *xs = &x[tr->step & 1], *ys = &y[tr->step & 1];
        tensor_ensure(be, xs, nb, in[0], in[1], in[2]);
        tensor_ensure(be, ys, nb, out[0], out[1], out[2]);
        tensor_ensure(be, dy, nb, out[0], out[1], out[2]);
        be->upload_async(xs->data, xb, sizeof(float) * tensor_numel(xs));
        be->upload_async(ys->data, yb, sizeof(float) * tensor_numel(ys));
        int p[CELL_MAX_LAYERS];
        student_sample(st, paths, tr->step, p);
        StepSync ss = {(float)nb / (float)cfg->train.batch, gsum};
        int h5t = h5_main_yield();  // no HDF5 in a step: the reader's thread may read meanwhile
        double loss = student_train_step(be, st, p, xs, ys, dy, &opt, gsum ? &ss : NULL);
        h5_main_resume(h5t);
        DNA_CHECK(isfinite(loss), "lower [train] lr / lr_first",
                  "block %d cell %d: loss became %g at step %lld", k + 1, c + 1, loss, tr->step);
        TrainEvent ev = trainer_step(tr, loss, opt.lr, wait);
        if (ev != TRAIN_NEXT) return ev;
    }
}

// Trains one job to completion (or until a stop signal); returns 1 when stopped early. With
// a rank group g, every member runs this together on its slice of each batch; member 0
// writes the checkpoints and the log lines.
static int run_job(const RunCtx *ctx, const Config *cfg, const Space *sp, int k, int c, ParGroup *g,
                   ParSum *gsum) {
    const Backend *be = ctx->be;
    const SpaceBlock *b = &sp->block[k];
    int in[3] = {b->in_c, b->in_hw, b->in_hw}, out[3] = {b->out_c, b->out_hw, b->out_hw};
    long seed = cfg->train.seed >= 0 ? cfg->train.seed : cfg->run.seed;
    Rng root = rng_new((uint64_t)seed), sup = rng_split(&root, STREAM_SUPERNET);
    Rng job = rng_split(&sup, (uint64_t)k * SPACE_MAX_CELLS + c);
    Rng init = rng_split(&job, STREAM_INIT), paths = rng_split(&job, STREAM_PATH);
    Rng val = rng_split(&job, STREAM_VAL);
    Student st;
    student_init(be, &st, sp, k, c, &init);
    ParamList all = {0};
    student_all_params(&st, &all);
    BatchNorm *bns[CELL_MAX_BNS];
    int nbn = student_bns(&st, bns, CELL_MAX_BNS);
    BnSync bsync = {par_group_bn_sum, g};
    for (int i = 0; g && i < nbn; i++) bns[i]->sync = &bsync;
    Tensor *stats[2 * CELL_MAX_BNS];
    int nstats = student_stats(&st, stats, 2 * CELL_MAX_BNS);
    ShardReader *r = open_reader(ctx, cfg, k, &job, g, in, out);
    // An epoch is a pass over the whole split's worth of batches, whatever the fraction: the
    // reader then wraps around its subset (pass = step / sub), so the total steps and the
    // per-epoch learning-rate decay do not depend on the fraction (the paper's Table 9).
    long per_epoch = shard_reader_split_total(r) / cfg->train.batch, epochs = cfg->train.epochs;
    char path[1100], hash[17], label[32];
    job_ckpt(cfg, k, c, path, sizeof path);
    snprintf(label, sizeof label, "train b%d.c%d", k + 1, c + 1);
    char job_name[64];
    snprintf(job_name, sizeof job_name, "block %d cell %d", k + 1, c + 1);
    char *identity = stage_identity(ctx, job_name);
    TrainerCfg tc = {.label = label,
                     .identity = identity,
                     .ckpt = path,
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
    Trainer tr;
    trainer_init(&tr, ctx, &tc);
    tr.params = &all, tr.local = stats, tr.nlocal = nstats;
    int resumed = trainer_resume(&tr), stopped = 0;
    if (tr.done) {
        if (tr.lead)
            log_rank(ctx, "train: block %d cell %d is done (%s); skipping", k + 1, c + 1, path);
    } else {
        if (resumed && tr.lead)
            log_rank(ctx, "train: block %d cell %d resumes at epoch %lld batch %lld (step %lld)",
                     k + 1, c + 1, tr.epoch + 1, tr.cursor, tr.step);
        // two input buffers sized once for the largest share, so they never move while in use
        Tensor x[2] = {{0}}, y[2] = {{0}}, dy = {0};
        int parts = g ? par_group_size(g) : 1, most = (int)((cfg->train.batch + parts - 1) / parts);
        for (int i = 0; i < 2; i++) {
            tensor_ensure(be, &x[i], most, in[0], in[1], in[2]);
            tensor_ensure(be, &y[i], most, out[0], out[1], out[2]);
        }
        double t0 = timer_now();
        for (;;) {
            if (tr.nval < tr.epoch) epoch_end(ctx, cfg, &st, k, c, &val, in, out, g, &tr, t0);
            if (tr.epoch == epochs) break;
            if ((stopped = run_epoch(ctx, cfg, &st, k, c, in, out, r, &paths, g ? gsum : NULL, x, y,
                                     &dy, &tr) == TRAIN_STOP))
                break;
        }
        if (tr.done && tr.lead) {
            long tail = tr.step / 10 > 0 ? tr.step / 10 : 1;
            double a = mean_of(tr.loss, 0, tail), z = mean_of(tr.loss, tr.step - tail, tr.step);
            log_rank(
                ctx,
                "train: block %d cell %d train mse, first %ld steps %.5f -> last %ld %.5f (%s)",
                k + 1, c + 1, tail, a, tail, z, z < a ? "falls" : "DOES NOT FALL");
        }
        for (int i = 0; i < 2; i++) tensor_free(be, &x[i]), tensor_free(be, &y[i]);
        tensor_free(be, &dy);
    }
    trainer_free(&tr);
    free(identity);
    shard_reader_free(r);
    params_free(&all);
    student_free(be, &st);
    return stopped;
}

// Returns 1 on every rank when a stop signal stopped any job (all checkpointed).
static int train_jobs(const RunCtx *ctx, const Config *cfg, const Space *sp) {
    SchedJob jobs[SPACE_MAX_BLOCKS * SPACE_MAX_CELLS];
    int nj = 0;
    for (int k = 0; k < sp->nblocks; k++)
        for (int c = 0; c < sp->block[k].ncells; c++)
            jobs[nj++] = (SchedJob){.block = k, .cell = c, .cost = space_cell_macs(sp, k, c)};
    SchedPlan pl;
    sched_plan(jobs, nj, ctx->nranks, &pl);
    char dir[1100];
    config_run_path(cfg, "ckpt", dir, sizeof dir);
    if (ctx->rank == 0) make_dirs(dir);
    par_barrier();
    int mine[SPACE_MAX_BLOCKS * SPACE_MAX_CELLS], n = sched_jobs_of_rank(&pl, ctx->rank, mine, nj);
    ParGroup *g = NULL;
    ParSum *gsum = NULL;
    if (pl.grouped) {  // one group per job; a group of one trains alone
        int size;
        sched_group_of_rank(&pl, ctx->rank, NULL, NULL, &size);
        g = par_group_split(mine[0]);
        if (size == 1)
            par_group_free(g), g = NULL;
        else
            gsum = par_sum_new(ctx->be, g);
    }
    double t0 = timer_now(), secs[SPACE_MAX_BLOCKS * SPACE_MAX_CELLS] = {0};
    int stopped = 0;
    for (int i = 0; i < n && !stopped; i++) {
        double tj = timer_now();
        stopped = run_job(ctx, cfg, sp, jobs[mine[i]].block, jobs[mine[i]].cell, g, gsum);
        if (!g || par_group_rank(g) == 0) secs[mine[i]] = timer_now() - tj;
    }
    double busy = timer_now() - t0, mam[3];
    double flag = stopped;
    par_allreduce_sum_f64(&flag, 1);
    par_allreduce_sum_f64(secs, (size_t)nj);
    par_minavgmax(busy, mam);
    if (flag != 0) {
        par_sum_free(gsum);
        par_group_free(g);
        sched_free(&pl);
        return 1;
    }
    for (int j = 0; j < nj; j++)
        log_info(ctx, "train: job %d (block %d cell %d) on rank %d%s: %.1f s", j, jobs[j].block + 1,
                 jobs[j].cell + 1, pl.rank_of_job[j], pl.group_size[j] > 1 ? " and its group" : "",
                 secs[j]);
    log_info(ctx, "train: %d jobs on %d ranks (%s); rank busy time min/avg/max %.1f/%.1f/%.1f s",
             nj, ctx->nranks, pl.grouped ? "rank groups" : "whole jobs", mam[0], mam[1], mam[2]);
    par_sum_free(gsum);
    par_group_free(g);
    sched_free(&pl);
    return 0;
}

static int run(const RunCtx *ctx, const Config *cfg, int force) {
    (void)force;  // the runner removed ckpt/ already
    Space sp;
    stage_space_any(ctx, cfg, &sp, NULL, NULL);  // MBConv cells or ViT supernets
    if (config_ssl(cfg) ? cotrain_run(ctx, cfg, &sp) : train_jobs(ctx, cfg, &sp))
        return stage_stopped(ctx, "train: stopped by a signal; every job checkpointed");
    if (ctx->rank == 0) {
        char path[1100], prev[1200];
        cotrain_ckpt_path(cfg, path, sizeof path);
        snprintf(prev, sizeof prev, "%s.prev", path);
        unlink(prev);
        for (int k = 0; k < sp.nblocks; k++)  // every job is done: the generations before go
            for (int c = 0; c < sp.block[k].ncells; c++) {
                job_ckpt(cfg, k, c, path, sizeof path);
                snprintf(prev, sizeof prev, "%s.prev", path);
                unlink(prev);
            }
        config_run_path(cfg, "ckpt/COMPLETE", path, sizeof path);
        TextOut out;
        fp_write_text(textout_open(&out, path), ctx->fingerprint, ctx->fingerprint_keys, NULL);
        textout_commit(&out);
    }
    par_barrier();
    return STAGE_RAN;
}

const Stage STAGE_TRAIN = {
    .name = "train",
    .help = "supernet training: every (block, cell) job -> <run>/ckpt/",
    .run = run,
    .order = 4,
    .reads = {"teacher.h5", "features/COMPLETE"},
    .writes = "ckpt/COMPLETE",
    .partial = "ckpt",
    .sections = "data teacher features space train ssl",
    .checkpoints = 1,
    .metrics = 1,
};
