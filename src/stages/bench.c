// `dna bench` (doc/design.md §5.6): the ground truth a rating is judged by.
// [bench] n architectures are sampled from the search space across its cost range
// (src/nas/bench.c), and each is trained from scratch as a standalone network with the one
// [bench] recipe on the whole training set; its test top-1 is the truth. One architecture per
// rank at a time, handed out dynamically (largest first, so the last ones to finish are
// small), each checkpointed to <run>/resume/bench_<id>.h5 while it trains; every result is its
// own file, so an interrupted bench resumes where it stopped. Writes bench/arch_<id>.json and
// bench/result_<id>.json, then bench.h5 and bench.csv. [bench] seeds = k trains each k times
// (every network's seed 1 first, then seed 2, ...; seed s >= 2 into result_<id>_seed<s>.json);
// the truth is the mean, and the seed noise is reported against the spread between networks.
#include "io/bench.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/arch.h"
#include "io/files.h"
#include "io/fingerprint.h"
#include "io/teacher.h"
#include "par/par.h"
#include "stages/seeds.h"
#include "stages/stages.h"
#include "train/archnet.h"

// Seed 1: the weights from STREAM_BENCH_INIT, data order and dropout from STREAM_BENCH. Seed
// s >= 2: STREAM_BENCH_SEEDS + 2s and + 2s + 1 (all of the run seed).
enum { STREAM_BENCH_INIT = 701, STREAM_BENCH = 702, STREAM_BENCH_SEEDS = 7000 };

static void file_digest(const char *path, char hex[17]) {
    char *text = text_read(path);
    DNA_CHECK(text, "rerun `dna bench CFG`", "bench: cannot read '%s'", path);
    snprintf(hex, 17, "%016llx", (unsigned long long)fnv1a(FNV1A_INIT, text, strlen(text)));
    free(text);
}

// The result file's top-1 and seconds when it belongs to this architecture file; 0 when there
// is none or it is of another architecture (trained again). One made with other settings
// (another fingerprint) is an error naming them.
static int result_read(const RunCtx *ctx, const Config *cfg, const char *path, const char *arch_hex,
                       double *top1, double *secs) {
    char *text = text_read(path);
    if (!text) return 0;
    cJSON *o = cJSON_Parse(text);
    free(text);
    const cJSON *a = cJSON_GetObjectItem(o, "arch_digest"),
                *r = cJSON_GetObjectItem(o, "fingerprint"),
                *k = cJSON_GetObjectItem(o, "fingerprint_keys");
    const cJSON *t = cJSON_GetObjectItem(o, "top1"), *s = cJSON_GetObjectItem(o, "seconds");
    int ok = cJSON_IsString(a) && cJSON_IsNumber(t) && cJSON_IsNumber(s) &&
             !strcmp(a->valuestring, arch_hex);
    if (ok && !(cJSON_IsString(r) && !strcmp(r->valuestring, ctx->fingerprint)))
        stage_mismatch(&STAGE_BENCH, cfg, path, cJSON_IsString(k) ? k->valuestring : NULL,
                       ctx->fingerprint_keys);
    if (ok) *top1 = t->valuedouble, *secs = s->valuedouble;
    cJSON_Delete(o);
    return ok;
}

// bench/<kind>_<id>.json, or for seed s >= 2 bench/<kind>_<id>_seed<s>.json.
static void bench_path(const Config *cfg, const char *kind, int id, long seed, char *buf,
                       size_t n) {
    char stem[64], name[80];
    snprintf(stem, sizeof stem, "bench/%s_%03d", kind, id);
    seed_stem(stem, seed, name, sizeof name - 5);
    strcat(name, ".json");
    config_run_path(cfg, name, buf, n);
}

// Trains seed `seed` of architecture file `ap` on this rank alone (ctx `one`: 1 rank, quiet)
// and writes its result file; returns 1 when stopped by a signal (checkpointed, no result).
static int train_one(const RunCtx *ctx, const RunCtx *one, const Config *cfg, const Dataset *d,
                     int id, long seed, int n, const char *ap, const char *arch_hex) {
    Arch a;
    arch_load(ap, &a);
    char ckpt[1100], stem[32], name[48], file[64], job[80];
    snprintf(stem, sizeof stem, "bench_%03d", id);
    seed_stem(stem, seed, name, sizeof name);
    snprintf(file, sizeof file, "resume/%s.h5", name);  // resume/ exists: stage_resume_path
    config_run_path(cfg, file, ckpt, sizeof ckpt);
    snprintf(job, sizeof job, "%s arch %s", name, arch_hex);
    char *id_text = stage_identity(ctx, job);
    Recipe r = {.label = "bench",
                .stream = STREAM_BENCH,
                .all_train = 1,
                .limit = cfg->bench.train_images,
                .fit = &cfg->bench.fit,
                .ckpt = ckpt,
                .identity = id_text,
                .job = name};
    uint64_t init_stream = STREAM_BENCH_INIT;
    if (seed >= 2) r.stream = STREAM_BENCH_SEEDS + 2 * (uint64_t)seed, init_stream = r.stream + 1;
    Rng root = rng_new((uint64_t)cfg->run.seed), init = rng_split(&root, init_stream);
    ArchNet net;
    archnet_init(one->be, &net, &a, d, &r, &init);
    long epochs = cfg->bench.fit.epochs;
    double *top1 = dna_calloc((size_t)epochs, sizeof(double)), t0 = timer_now();
    int stopped = 0;
    archnet_fit(one, cfg, &r, d, &net, top1, &stopped);
    double secs = timer_now() - t0;
    char which[48] = "";
    if (cfg->bench.seeds > 1) snprintf(which, sizeof which, " seed %ld", seed);
    if (stopped) {
        log_rank(ctx, "bench: arch %d/%d%s stopped by a signal; checkpointed to %s", id, n, which,
                 ckpt);
        free(top1), free(id_text);
        archnet_free(one->be, &net);
        return 1;
    }
    char rp[1100], desc[512];
    bench_path(cfg, "result", id, seed, rp, sizeof rp);
    TextOut out;
    FILE *f = textout_open(&out, rp);
    fprintf(f,
            "{\n  \"format\": \"dnafam-bench-result\", \"version\": %d, \"id\": %d,\n"
            "  \"arch\": \"%s\", \"arch_digest\": \"%s\",\n",
            BENCH_FORMAT, id, ap, arch_hex);
    fp_write_json_fields(f, ctx->fingerprint, ctx->fingerprint_keys, "  ");
    fprintf(f, "  \"params\": %ld, \"macs\": %ld, \"epochs\": %ld, \"top1_per_epoch\": [",
            arch_params(&a), arch_macs(&a), epochs);
    for (long e = 0; e < epochs; e++) fprintf(f, "%s%.6f", e ? ", " : "", top1[e]);
    fprintf(f,
            "],\n  \"top1\": %.6f, \"seconds\": %.1f, \"rank\": %d, \"seed\": %ld, "
            "\"bench_seed\": %ld,\n  \"git_rev\": \"%s\", \"dna_version\": \"%s\"\n}\n",
            net.t.top1, secs, ctx->rank, cfg->run.seed, seed, ctx->git_rev, ctx->version);
    textout_commit(&out);
    arch_describe(&a, desc, sizeof desc);
    log_rank(ctx, "bench: arch %d/%d%s  %ld params  %.2fM MACs  test top-1 %.2f%%  %.0f s  %s", id,
             n, which, arch_params(&a), arch_macs(&a) / 1e6, 100.0 * net.t.top1, secs, desc);
    fit_done(one, &r);
    free(top1), free(id_text);
    archnet_free(one->be, &net);
    return 0;
}

// bench.h5 and bench.csv; top1 is the mean over the k seeds of seed_top1 (n rows of k), and
// with k >= 2 the CSV shows each seed's top-1 and their sd before the architecture.
static void bench_save(const RunCtx *ctx, const Config *cfg, const Bench *b,
                       const double *seed_top1, int k) {
    char path[1100], hash[17];
    config_run_path(cfg, "bench.h5", path, sizeof path);
    H5Prov prov = h5_prov_of_run(ctx, cfg, BENCH_FORMAT, hash);
    bench_save_h5(path, b, &prov, ctx->fingerprint);
    config_run_path(cfg, "bench.csv", path, sizeof path);
    TextOut out;
    FILE *c = textout_open(&out, path);
    fprintf(c, "id,params,macs,top1,seconds");
    if (k > 1) {
        fprintf(c, ",top1_sd");
        for (int s = 1; s <= k; s++) fprintf(c, ",top1_seed%d", s);
    }
    fprintf(c, ",arch\n");
    for (int i = 0; i < b->n; i++) {
        char ap[1100];
        bench_path(cfg, "arch", i + 1, 1, ap, sizeof ap);
        Arch a;
        arch_load(ap, &a);
        char desc[512];
        arch_describe(&a, desc, sizeof desc);
        fprintf(c, "%d,%.0f,%.0f,%.6f,%.1f", i + 1, b->params[i], b->macs[i], b->top1[i],
                b->seconds[i]);
        const double *t = seed_top1 + (size_t)i * k;
        if (k > 1) {
            fprintf(c, ",%.6f", sample_sd(t, k));
            for (int s = 0; s < k; s++) fprintf(c, ",%.6f", t[s]);
        }
        fprintf(c, ",%s\n", desc);
    }
    textout_commit(&out);
}

static int run(const RunCtx *stage_ctx, const Config *cfg, int force) {
    // The result files and checkpoints record the stage's fingerprint without bench.seeds: how
    // many seeds are trained changes no single seed's training, so raising [bench] seeds keeps
    // the results already made and trains only the new seeds. bench.h5 records the whole one.
    Fingerprint fp;
    fp_make_without(&fp, stage_ctx->fingerprint_keys ? stage_ctx->fingerprint_keys : "",
                    "bench.seeds");
    RunCtx c = *stage_ctx;
    c.fingerprint = fp.hex, c.fingerprint_keys = fp.keys;
    const RunCtx *ctx = &c;
    int n = (int)cfg->bench.n, k = (int)cfg->bench.seeds;
    DNA_CHECK(n >= 3, "set [bench] n >= 3 (30 or more for a ranking study)", "bench: n = %d", n);
    DNA_CHECK(cfg->bench.fit.epochs >= 1, "set [bench] epochs >= 1", "bench: epochs = %ld",
              cfg->bench.fit.epochs);
    Space sp;
    EffNetCfg teacher;
    int in_hw;
    stage_space_any(ctx, cfg, &sp, &teacher, &in_hw);
    Bench b;
    bench_sample(&sp, &teacher, in_hw, n, (uint64_t)cfg->run.seed, &b);
    char dir[1100], path[1100];
    config_run_path(cfg, "bench", dir, sizeof dir);
    if (ctx->rank == 0) {
        make_dirs(dir);
        for (int i = 0; i < n; i++) {
            Arch a;
            arch_from_choice(&sp, &teacher, in_hw, b.cell + (size_t)i * b.nblocks,
                             b.code + (size_t)i * b.nblocks, &a);
            char extra[256];
            snprintf(extra, sizeof extra,
                     "{\"source\": \"dna bench\", \"id\": %d, \"n\": %d, "
                     "\"seed\": %ld}",
                     i + 1, n, cfg->run.seed);
            bench_path(cfg, "arch", i + 1, 1, path, sizeof path);
            arch_save(&a, extra, path);  // the same bytes on every rerun: digests stay valid
        }
    }
    stage_resume_path(ctx, cfg, "bench", path, sizeof path);  // creates resume/ (collective)
    Dataset d;
    stage_dataset(cfg, &d);
    long imgs = cfg->bench.train_images > 0 && cfg->bench.train_images < d.train.n
                    ? cfg->bench.train_images
                    : d.train.n;
    char seeds[48] = "";
    if (k > 1) snprintf(seeds, sizeof seeds, " x %d seeds", k);
    log_info(ctx,
             "bench: %d architectures%s, %.0f to %.0f params, [bench] recipe %ld epoch(s) on "
             "%ld training images, one per rank at a time (%d rank(s)) -> %s",
             n, seeds, b.params[0], b.params[n - 1], cfg->bench.fit.epochs, imgs, ctx->nranks, dir);
    RunCtx one = *ctx;
    one.rank = 0, one.nranks = 1, one.verbose = 0;
    Progress pr;
    long jobs = (long)n * k;
    progress_init(&pr, ctx, "bench (handed out)", k > 1 ? "training" : "arch", jobs);
    ParCounter *ctr = par_counter_new();
    int trained = 0, stopped = 0;  // on this rank
    for (long j; !stopped && !par_stop_requested() && (j = par_counter_next(ctr)) < jobs;) {
        int id = n - (int)(j % n);  // largest first; every network's seed 1 before any seed 2
        long seed = j / n + 1;
        char ap[1100], rp[1100], ahex[17];
        bench_path(cfg, "arch", id, 1, ap, sizeof ap);
        bench_path(cfg, "result", id, seed, rp, sizeof rp);
        file_digest(ap, ahex);
        double top1, secs;
        if (force || !result_read(ctx, cfg, rp, ahex, &top1, &secs)) {
            stopped = train_one(ctx, &one, cfg, &d, id, seed, n, ap, ahex);
            trained += !stopped;
        }
        progress_update(&pr, j + 1, NULL);
    }
    progress_end(&pr, NULL);
    par_counter_free(ctr);
    double now[2] = {trained, stopped || par_stop_requested()};
    par_allreduce_sum_f64(now, 2);
    if (now[1] != 0) {
        dataset_free(&d);
        bench_free(&b);
        fp_free(&fp);
        return stage_stopped(ctx,
                             "bench: stopped by a signal; %.0f result(s) kept, the "
                             "architectures in training checkpointed",
                             now[0]);
    }
    if (ctx->rank == 0) {
        double *seed_top1 = dna_malloc((size_t)jobs * sizeof(double));
        for (int i = 0; i < n; i++) {
            char ap[1100], rp[1100], ahex[17];
            bench_path(cfg, "arch", i + 1, 1, ap, sizeof ap);
            file_digest(ap, ahex);
            b.top1[i] = b.seconds[i] = 0;
            for (int s = 1; s <= k; s++) {
                double top1, secs;
                bench_path(cfg, "result", i + 1, s, rp, sizeof rp);
                DNA_CHECK(result_read(ctx, cfg, rp, ahex, &top1, &secs), "rerun `dna bench CFG`",
                          "bench: '%s' is missing or belongs to another architecture or recipe",
                          rp);
                seed_top1[(size_t)i * k + s - 1] = top1;
                b.top1[i] += top1 / k, b.seconds[i] += secs;
            }
        }
        bench_save(stage_ctx, cfg, &b, seed_top1, k);
        config_run_path(cfg, "bench.h5", path, sizeof path);
        log_info(ctx, "bench: %d architectures%s (%.0f trained now) -> %s and bench.csv", n, seeds,
                 now[0], path);
        if (k > 1) {
            BenchNoise z = bench_noise(seed_top1, n, k);
            log_info(ctx,
                     "bench: seed noise sd %.3f points within a network (pooled over %d "
                     "networks x %d seeds); spread between networks sd %.3f with seed 1 alone "
                     "(%.2f x the seed sd), %.3f for the means, the truth (%.2f x their noise "
                     "sd %.3f); the networks' expected top-1 spread sd %.3f",
                     100 * z.seed_sd, n, k, 100 * z.one_sd, z.one_sd / z.seed_sd, 100 * z.mean_sd,
                     z.mean_sd / z.mean_noise, 100 * z.mean_noise, 100 * z.true_sd);
        }
        free(seed_top1);
    }
    par_barrier();
    dataset_free(&d);
    bench_free(&b);
    fp_free(&fp);
    return STAGE_RAN;
}

const Stage STAGE_BENCH = {
    .name = "bench",
    .help = "--n N: train N sampled architectures from scratch (ground truth) -> bench.h5/.csv",
    .run = run,
    .reads = {"dataset.h5", "teacher.h5"},
    .writes = "bench.h5",
    .partial = "bench",
    .sections = "data bench",
    .flags = {{"--n", "bench.n"}},
    .decides = 1,
    .checkpoints = 1,
    .metrics = 1,
};
