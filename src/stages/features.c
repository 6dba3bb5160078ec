// `dna features`: the frozen teacher in eval mode over the supernet-training split (train
// minus search), the search split and test, writing the feature shards (doc/formats.md)
// under <run>/features/<split>/. Every rank writes its own files for its slice of each split
// (src/io/shard.c plans the slices), so the shards do not depend on the rank count; a rerun
// writes only the missing ones, then the marker features/COMPLETE.
#include "stages/features.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timer.h"
#include "io/files.h"
#include "io/fingerprint.h"
#include "io/shard.h"
#include "io/teacher.h"
#include "par/par.h"
#include "stages/stages.h"
#include "train/loader.h"

// Sample positions of a split as indices into the dataset's Split.
static const int32_t *split_index(const Dataset *d, int s, const Split **src, long *n,
                                  int32_t **owned) {
    *owned = NULL;
    if (s == 0) return *src = &d->train, *n = d->n_fit, d->fit;
    if (s == 1) return *src = &d->train, *n = d->n_search, d->search;
    *src = &d->test, *n = d->test.n;
    *owned = dna_malloc(sizeof(int32_t) * (size_t)d->test.n);
    for (int i = 0; i < d->test.n; i++) (*owned)[i] = i;
    return *owned;
}

// A file left by an earlier run counts only if it was made as this run would make it: the
// same fingerprint (without one, outside a stage: the same config hash).
static int shard_reusable(const RunCtx *ctx, const Config *cfg, const char *path,
                          const char *hash) {
    if (!file_exists(path)) return 0;
    Fingerprint old;
    fp_read(path, &old);
    if (ctx->fingerprint && strcmp(old.hex, ctx->fingerprint))
        stage_mismatch(&STAGE_FEATURES, cfg, path, old.keys, ctx->fingerprint_keys);
    fp_free(&old);
    if (!ctx->fingerprint) {
        hid_t f = h5_open_read(path);
        char *h = h5_read_attr_str(f, "config_hash", path);
        int same = !strcmp(h, hash);
        free(h);
        h5_close(f);
        DNA_CHECK(same, "delete the run's features/ directory or use a new run.name",
                  "'%s' was written with another config (hash differs)", path);
    }
    return 1;
}

// Rank 0: shards of a split written by another number of ranks follow another plan (their
// sample ranges would overlap this run's): they are removed, and this run writes the split
// by its own plan.
static void drop_other_plans(const RunCtx *ctx, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    int dropped = 0, other = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "shard_", 6) || !strstr(e->d_name, ".h5") ||
            strstr(e->d_name, ".tmp"))
            continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        hid_t f = h5_open_read(path);
        int ranks =
            h5_has_attr(f, "writer_ranks") ? (int)h5_read_attr_i64(f, "writer_ranks", path) : -1;
        h5_close(f);
        if (ranks != ctx->nranks) {
            DNA_CHECK(unlink(path) == 0, "check the permissions of run.out_dir",
                      "cannot remove '%s'", path);
            dropped++, other = ranks;
        }
    }
    closedir(d);
    if (dropped)
        log_warn(ctx,
                 "features: %d shard(s) in %s were written by %d rank(s), this run has %d: "
                 "removed, the split is written again by this run's plan",
                 dropped, dir, other, ctx->nranks);
}

static void write_range(const RunCtx *ctx, const Config *cfg, Teacher *t, const Split *src,
                        const int32_t *index, const ShardRange *r, const ShardSpec *spec,
                        long total, const char *path, const H5Prov *prov, Progress *pr,
                        long *done) {
    const Backend *be = ctx->be;
    LoaderCfg lc = {.batch = (int)cfg->features.batch, .nparts = 1, .pad = (t->in_hw - src->h) / 2};
    Loader *L = loader_new(src, index + r->first, (int)r->count, t->mean, t->std, lc);
    ShardWriter *w = shard_writer_open(path, spec, r->first, r->count, total, prov);
    int c, h, wd;
    loader_out_shape(L, &c, &h, &wd);
    Tensor x = {0};
    float *host = NULL;
    size_t cap = 0;
    long row = 0;
    loader_start_epoch(L, 0, 0);
    const float *xb;
    const int32_t *yb;
    const int64_t *ids;
    for (int b; (b = loader_next(L, &xb, &yb, &ids)) > 0; row += b) {
        tensor_ensure(be, &x, b, c, h, wd);
        tensor_upload(be, &x, xb);
        effnet_forward(be, &t->net, &x, BN_EVAL, NULL);
        shard_writer_put(w, 0, row, b, xb);
        for (int k = 0; k < spec->nblocks; k++) {
            const Tensor *y = t->net.block_out[k];
            if (tensor_numel(y) > cap)
                host = realloc(host, sizeof(float) * (cap = tensor_numel(y)));
            DNA_CHECK(host, "", "out of memory");
            tensor_download(be, y, host);
            shard_writer_put(w, k + 1, row, b, host);
        }
        shard_writer_put_meta(w, row, b, yb);
        *done += b;
        progress_update(pr, *done * ctx->nranks, NULL);  // ranks move at about the same pace
    }
    shard_writer_close(w);
    loader_free(L);
    tensor_free(be, &x);
    free(host);
}

// features/COMPLETE (rank 0; collective): the stage's fingerprint and `extra` lines.
static void write_marker(const RunCtx *ctx, const Config *cfg, const char *extra) {
    if (ctx->rank == 0) {
        char path[1100];
        config_run_path(cfg, "features", path, sizeof path);
        make_dirs(path);
        config_run_path(cfg, "features/COMPLETE", path, sizeof path);
        TextOut out;
        fp_write_text(textout_open(&out, path), ctx->fingerprint ? ctx->fingerprint : "",
                      ctx->fingerprint_keys ? ctx->fingerprint_keys : "", extra);
        textout_commit(&out);
    }
    par_barrier();
}

void features_extract(const RunCtx *ctx, const Config *cfg, const Dataset *d, Teacher *t) {
    const EffNetCfg *a = &t->net.cfg;
    DNA_CHECK(t->in_hw >= d->train.h && (t->in_hw - d->train.h) % 2 == 0 && a->cin == d->train.c,
              "use a teacher made for this dataset (or set [data] pad)",
              "teacher input %dx%dx%d does not fit dataset images %dx%dx%d", a->cin, t->in_hw,
              t->in_hw, d->train.c, d->train.h, d->train.w);
    ShardSpec spec = {.nblocks = a->nblocks,
                      .fp16 = !strcmp(cfg->features.dtype, "float16"),
                      .chunk = (int)cfg->features.chunk,
                      .deflate = (int)cfg->features.deflate,
                      .ranks = ctx->nranks};
    spec.dims[0][0] = a->cin, spec.dims[0][1] = spec.dims[0][2] = t->in_hw;
    for (int k = 0; k < a->nblocks; k++) {
        spec.dims[k + 1][0] = t->net.block_c[k];
        spec.dims[k + 1][1] = spec.dims[k + 1][2] = t->net.block_hw[k];
    }
    double per_sample = 0;  // bytes of /x and every /block<k> of one sample
    for (int k = 0; k <= spec.nblocks; k++)
        per_sample += (spec.fp16 ? 2.0 : 4.0) * spec.dims[k][0] * spec.dims[k][1] * spec.dims[k][2];
    char hash[17], dir[1024], path[1200];
    H5Prov prov = h5_prov_of_run(ctx, cfg, SHARD_FORMAT, hash);
    long all = d->n_fit + d->n_search + d->test.n, done = 0;
    Progress pr;
    progress_init(&pr, ctx, "features", "img", all);
    double t0 = timer_now(), bytes = 0;
    for (int s = 0; s < SHARD_NSPLITS; s++) {
        char sub[64];
        snprintf(sub, sizeof sub, "features/%s", SHARD_SPLITS[s]);
        config_run_path(cfg, sub, dir, sizeof dir);
        if (ctx->rank == 0) make_dirs(dir), drop_other_plans(ctx, dir);
        par_barrier();
        const Split *src;
        long n;
        int32_t *owned;
        const int32_t *index = split_index(d, s, &src, &n, &owned);
        if (n == 0) {  // e.g. search_per_class = 0: the reader reports the empty split
            free(owned);
            continue;
        }
        int nr =
            shard_plan(n, spec.chunk, cfg->features.shard_samples, ctx->rank, ctx->nranks, NULL, 0);
        ShardRange *r = dna_calloc((size_t)(nr > 0 ? nr : 1), sizeof *r);
        shard_plan(n, spec.chunk, cfg->features.shard_samples, ctx->rank, ctx->nranks, r, nr);
        for (int i = 0; i < nr; i++) {
            shard_path(path, sizeof path, dir, ctx->rank, r[i].file);
            if (shard_reusable(ctx, cfg, path, hash)) {
                done += r[i].count;
                continue;
            }
            write_range(ctx, cfg, t, src, index, &r[i], &spec, n, path, &prov, &pr, &done);
            bytes += per_sample * (double)r[i].count;
        }
        free(r);
        free(owned);
    }
    progress_end(&pr, NULL);
    double secs = timer_now() - t0, sum[2] = {bytes, (double)done};
    par_allreduce_sum_f64(sum, 2);
    par_barrier();
    log_info(ctx, "features: %ld samples in 3 splits, %.1f MB of shard data written (%s) in %.1f s",
             all, sum[0] / 1e6, cfg->features.dtype, secs);
    char extra[128];
    snprintf(extra, sizeof extra, "config_hash %s\nranks %d\nsamples %ld\n", hash, ctx->nranks,
             all);
    write_marker(ctx, cfg, extra);
}

static int run(const RunCtx *ctx, const Config *cfg, int force) {
    (void)force;            // the runner removed features/ already
    if (config_ssl(cfg)) {  // DNA++ computes the teacher's maps online: the marker alone
        log_info(ctx,
                 "features: none stored: [train] mode = ssl computes the teacher's maps online");
        write_marker(ctx, cfg, "shards none (train.mode = ssl)\n");
        return STAGE_RAN;
    }
    char path[1100];
    Dataset d;
    stage_dataset(cfg, &d);
    config_run_path(cfg, "teacher.h5", path, sizeof path);
    Teacher t;
    teacher_load(ctx->be, path, &t);
    features_extract(ctx, cfg, &d, &t);
    teacher_free(ctx->be, &t);
    dataset_free(&d);
    return STAGE_RAN;
}

const Stage STAGE_FEATURES = {
    .name = "features",
    .help = "teacher feature maps at the block boundaries -> <run>/features/",
    .run = run,
    .order = 3,
    .reads = {"dataset.h5", "teacher.h5"},
    .writes = "features/COMPLETE",
    .partial = "features",
    .sections = "data teacher features",
    .keys = stage_mode_keys,  // DNA++ stores no shards
};
