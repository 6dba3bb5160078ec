// `dna proxy` (doc/design.md §5.6): training-free baselines that rate the bench's architectures,
// for `dna rank --scores` to judge against the same truths as DNA: the parameter count, the
// multiply-adds, and NASWOT's activation-pattern score (src/nas/naswot.h; Mellor et al., ICML
// 2021) of each network at the initialisation the bench trained it from, on one seeded batch
// of training images with batch-statistics BN. Architectures are split over the ranks. Writes
// <run>/proxy_<name>.csv (id, score = minus the proxy, so lower is better, the proxy's value,
// seconds) and its provenance beside it in proxy_<name>.json (the CSV reader takes no comments).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timer.h"
#include "io/bench.h"
#include "io/files.h"
#include "nas/arch.h"
#include "nas/naswot.h"
#include "par/par.h"
#include "stages/plus.h"
#include "stages/stages.h"
#include "train/loader.h"

// STREAM_BENCH_INIT is src/stages/bench.c's: each network starts from the very weights the
// bench trained it from. STREAM_PROXY draws the batch.
enum { STREAM_BENCH_INIT = 701, STREAM_PROXY = 900, PROXY_FORMAT = 1, PROXY_BATCH = 128 };

static const char *const NAMES[] = {"naswot", "params", "macs"};

typedef struct ProxyArgs {
    const Config *cfg;  // the run: generation 1's directory holds bench.h5 and the outputs
    int which[3];       // NAMES to compute
    int batch;          // NASWOT's images
} ProxyArgs;

// One network's activation layers into the kernel: downloaded (a device backend's tensors),
// then packed into codes.
typedef struct Capture {
    const Backend *be;
    NaswotKernel *k;
    float *host;
    size_t cap;
} Capture;

static void capture(const Tensor *act, void *user) {
    Capture *c = user;
    size_t n = tensor_numel(act);
    if (n > c->cap) {
        free(c->host);
        c->host = dna_malloc(sizeof(float) * n), c->cap = n;
    }
    tensor_download(c->be, act, c->host);
    naswot_add(c->k, c->host, (long)(n / (size_t)act->n));
}

// NASWOT of architecture `a` (MBConv or ViT) on batch x; *units gets N_A.
static double naswot_of(const RunCtx *ctx, const Config *cfg, const Arch *a, const Tensor *x,
                        long *units) {
    Rng root = rng_new((uint64_t)cfg->run.seed), init = rng_split(&root, STREAM_BENCH_INIT);
    NaswotKernel k;
    naswot_init(&k, x->n);
    Capture c = {.be = ctx->be, .k = &k};
    if (a->vit) {
        VitNetCfg vc;
        arch_to_vitnet(a, &vc);
        VitNet net;
        vitnet_init(ctx->be, &net, &vc, &init);
        vitnet_forward(ctx->be, &net, x, BN_TRAIN, NULL);
        vitnet_each_activation(&net, capture, &c);
        vitnet_free(ctx->be, &net);
    } else {
        EffNetCfg ec;
        arch_to_effnet(a, &ec);
        EffNet net;
        effnet_init(ctx->be, &net, &ec, a->in_hw, &init);
        effnet_forward(ctx->be, &net, x, BN_TRAIN, NULL);  // batch statistics, as the reference
        effnet_each_activation(&net, capture, &c);
        effnet_free(ctx->be, &net);
    }
    double s = naswot_score(&k);
    *units = k.units;
    free(c.host);
    naswot_free(&k);
    return s;
}

// The batch: `batch` training images drawn by the run's seed, normalised and padded as
// training sees them, without augmentation (the reference's --augtype none).
static Tensor proxy_batch(const RunCtx *ctx, const Config *cfg, const Dataset *d, int batch,
                          int in_hw) {
    DNA_CHECK(batch >= 2 && batch <= d->train.n, "give --batch between 2 and the training images",
              "proxy: --batch %d, the training set has %d images", batch, d->train.n);
    Rng root = rng_new((uint64_t)cfg->run.seed), r = rng_split(&root, STREAM_PROXY);
    LoaderCfg lc = {
        .batch = batch, .nparts = 1, .pad = (int)cfg->data.pad, .shuffle = 1, .seed = rng_u64(&r)};
    Loader *L = loader_new(&d->train, NULL, d->train.n, d->mean, d->std, lc);
    int c, h, w;
    loader_out_shape(L, &c, &h, &w);
    DNA_CHECK(h == in_hw && w == in_hw, "score a bench made for this dataset and [data] pad",
              "proxy: the bench's networks take %dx%d images, the data gives %dx%d", in_hw, in_hw,
              h, w);
    loader_start_epoch(L, 0, 0);
    const float *xb;
    const int32_t *yb;
    const int64_t *ids;
    int nb = loader_next(L, &xb, &yb, &ids);
    Tensor x = tensor_new(ctx->be, nb, c, h, w);
    tensor_upload(ctx->be, &x, xb);
    loader_free(L);
    return x;
}

// NASWOT of every bench architecture, each rank a share; val[i] and secs[i] on every rank.
static void naswot_all(const RunCtx *ctx, const Config *cfg, const Bench *b, int batch, double *val,
                       double *secs) {
    Space sp;
    EffNetCfg teacher;
    int in_hw;
    stage_space_any(ctx, cfg, &sp, &teacher, &in_hw);
    DNA_CHECK(sp.nblocks == b->nblocks, "score a bench made in this run's space",
              "proxy: the bench has %d blocks, the space %d", b->nblocks, sp.nblocks);
    Dataset d;
    stage_dataset(cfg, &d);
    Tensor x = proxy_batch(ctx, cfg, &d, batch, in_hw);
    dataset_free(&d);
    memset(val, 0, sizeof(double) * (size_t)b->n);
    memset(secs, 0, sizeof(double) * (size_t)b->n);
    Progress pr;
    progress_init(&pr, ctx, "proxy naswot", "arch", b->n);
    for (int i = ctx->rank; i < b->n; i += ctx->nranks) {
        const int *cell = b->cell + (size_t)i * b->nblocks;
        const int64_t *code = b->code + (size_t)i * b->nblocks;
        for (int k = 0; k < b->nblocks; k++)
            DNA_CHECK(cell[k] < sp.block[k].ncells && code[k] < space_cell_paths(&sp, k, cell[k]),
                      "score a bench made in this run's space",
                      "proxy: bench architecture %d is not in the run's space", i + 1);
        Arch a;
        arch_from_choice(&sp, &teacher, in_hw, cell, code, &a);
        double t0 = timer_now();
        long units;
        val[i] = naswot_of(ctx, cfg, &a, &x, &units);
        secs[i] = timer_now() - t0;
        log_debug(ctx, "proxy: arch %d/%d  naswot %.6f over %ld units  %.2f s", i + 1, b->n, val[i],
                  units, secs[i]);
        progress_update(&pr, i + 1, NULL);
    }
    progress_end(&pr, NULL);
    tensor_free(ctx->be, &x);
    if (ctx->nranks > 1) {  // each entry is one rank's, the others hold 0
        par_allreduce_sum_f64(val, (size_t)b->n);
        par_allreduce_sum_f64(secs, (size_t)b->n);
    }
}

// proxy_<name>.json (provenance), then proxy_<name>.csv: a crash between them leaves no CSV.
static void write_proxy(const RunCtx *ctx, const ProxyArgs *pa, int q, const Bench *b,
                        const double *val, const double *secs, double total) {
    const Config *cfg = pa->cfg;
    double worst = -INFINITY;  // the largest finite score
    int singular = 0;
    for (int i = 0; i < b->n; i++) {
        singular += !isfinite(val[i]);
        if (isfinite(val[i])) worst = fmax(worst, -val[i]);
    }
    DNA_CHECK(singular < b->n, "give a larger --batch or check the data for duplicate images",
              "proxy %s: every architecture's kernel matrix is singular", NAMES[q]);
    char csv[1100], js[1100], name[64], hash[17], bench[1100];
    snprintf(name, sizeof name, "proxy_%s.json", NAMES[q]);
    config_run_path(cfg, name, js, sizeof js);
    snprintf(name, sizeof name, "proxy_%s.csv", NAMES[q]);
    config_run_path(cfg, name, csv, sizeof csv);
    config_run_path(cfg, "bench.h5", bench, sizeof bench);
    config_hash(cfg, hash);
    TextOut out;
    FILE *f = textout_open(&out, js);
    fprintf(f,
            "{\n  \"format\": \"dnafam-proxy\", \"version\": %d, \"name\": \"%s\",\n"
            "  \"bench\": \"%s\", \"n\": %d, \"csv\": \"%s\",\n"
            "  \"score\": \"minus the proxy (lower is better, as dna rank --scores reads)\",\n",
            PROXY_FORMAT, NAMES[q], bench, b->n, csv);
    if (q == 0)
        fprintf(f,
                "  \"method\": \"NASWOT: log|det K_H|, K_H[i][j] = N_A - Hamming(c_i, c_j), c_i "
                "the signs of every swish pre-activation for image i\",\n"
                "  \"citation\": \"Mellor, Turner, Storkey, Crowley. Neural Architecture Search "
                "without Training. ICML 2021\",\n"
                "  \"batch\": %d, \"init_stream\": %d, \"batch_stream\": %d, \"bn\": \"batch "
                "statistics\", \"singular\": %d,\n"
                "  \"singular_score\": \"a singular kernel (NASWOT -inf) is written as the "
                "worst finite score + 1\",\n",
                pa->batch, STREAM_BENCH_INIT, STREAM_PROXY, singular);
    fprintf(f,
            "  \"seconds\": %.3f, \"ranks\": %d, \"seed\": %ld, \"config_hash\": \"%s\",\n"
            "  \"git_rev\": \"%s\", \"dna_version\": \"%s\"\n}\n",
            total, ctx->nranks, cfg->run.seed, hash, ctx->git_rev, ctx->version);
    textout_commit(&out);
    f = textout_open(&out, csv);
    fprintf(f, "id,score,%s,seconds\n", NAMES[q]);
    for (int i = 0; i < b->n; i++) {
        double s = isfinite(val[i]) ? -val[i] : worst + 1.0;
        fprintf(f, "%d,%.9g,%.9g,%.4f\n", i + 1, s, val[i], secs[i]);
    }
    textout_commit(&out);
    if (singular)
        log_warn(ctx,
                 "proxy %s: %d architecture(s) with a singular kernel matrix, scored as the "
                 "worst",
                 NAMES[q], singular);
    log_info(ctx, "proxy %s: %d architectures in %.1f s -> %s (rank it: dna rank CFG --scores %s)",
             NAMES[q], b->n, total, csv, csv);
}

static void proxy_run(const RunCtx *ctx, const ProxyArgs *pa) {
    char path[1100];
    config_run_path(pa->cfg, "bench.h5", path, sizeof path);
    DNA_CHECK(file_exists(path), "run `dna bench CFG` first", "proxy: no bench '%s'", path);
    Bench b;
    bench_load(path, &b);
    double *val = dna_malloc(sizeof(double) * (size_t)b.n),
           *secs = dna_malloc(sizeof(double) * (size_t)b.n);
    for (int q = 0; q < 3; q++) {
        if (!pa->which[q]) continue;
        double t0 = timer_now();
        if (q == 0) {
            naswot_all(ctx, pa->cfg, &b, pa->batch, val, secs);
        } else {
            for (int i = 0; i < b.n; i++) val[i] = q == 1 ? b.params[i] : b.macs[i], secs[i] = 0;
        }
        double total = timer_now() - t0;
        if (ctx->rank == 0) write_proxy(ctx, pa, q, &b, val, secs, total);
        if (q == 0) {
            double sum = 0;
            for (int i = 0; i < b.n; i++) sum += secs[i];
            log_info(ctx, "proxy naswot: %.3f s per architecture (batch %d), %.1f s in all",
                     sum / b.n, pa->batch, total);
        }
    }
    par_barrier();
    free(val), free(secs);
    bench_free(&b);
}

// proxy: [CFG] [section.key=value ...] [--name naswot|params|macs] [--batch B].
static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    (void)all;
    const char *name = NULL, *batch = NULL;
    char **rest = dna_calloc((size_t)argc + 1, sizeof(char *));
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char **dst = !strcmp(argv[i], "--name")    ? &name
                           : !strcmp(argv[i], "--batch") ? &batch
                                                         : NULL;
        if (!dst) {
            rest[n++] = argv[i];
            continue;
        }
        DNA_CHECK(i + 1 < argc, "give a value after the flag", "%s needs a value", argv[i]);
        *dst = argv[++i];
    }
    ProxyArgs pa = {.batch = PROXY_BATCH};
    for (int q = 0; q < 3; q++) pa.which[q] = !name || !strcmp(name, NAMES[q]);
    DNA_CHECK(!name || pa.which[0] || pa.which[1] || pa.which[2],
              "give --name naswot, params or macs (none: all three)", "proxy: unknown --name '%s'",
              name);
    if (batch) {
        char *end;
        long v = strtol(batch, &end, 10);
        DNA_CHECK(*batch && !*end && v >= 2 && v <= 65536, "give --batch an integer in 2..65536",
                  "proxy: --batch '%s'", batch);
        pa.batch = (int)v;
    }
    Config cfg;
    runner_args(ctx, NULL, n, rest, &cfg);
    free(rest);
    Config root = plus_at(&cfg, 1);  // the bench of generation 1, as `dna rank` reads
    pa.cfg = &root;
    char dir[1100];
    config_run_path(&root, NULL, dir, sizeof dir);
    if (file_exists(dir)) runner_open_logs(ctx, dir, "proxy", 0);
    proxy_run(ctx, &pa);
    runner_close_logs(ctx);
    return 0;
}

const Stage STAGE_PROXY = {
    .name = "proxy",
    .help =
        "[CFG] [--name naswot|params|macs] [--batch B]: training-free ratings of the bench "
        "-> proxy_<name>.csv",
    .command = command,
};
