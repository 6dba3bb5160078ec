// The ranking benchmark (see bench.h).
#include "train/bench.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/dataset.h"
#include "io/h5.h"
#include "io/textout.h"
#include "nas/arch.h"
#include "par/par.h"
#include "train/stage.h"
#include "train/stages.h"
#include "train/teacher.h"

enum { STREAM_BENCH_SAMPLE = 700, STREAM_BENCH_INIT = 701, STREAM_BENCH = 702, BENCH_POOL = 200 };

static void bench_alloc(Bench *b, int n, int nblocks) {
    *b = (Bench){.n = n, .nblocks = nblocks};
    b->cell = dna_calloc((size_t)n * nblocks, sizeof(int));
    b->code = dna_calloc((size_t)n * nblocks, sizeof(long));
    b->params = dna_calloc((size_t)n, sizeof(double));
    b->macs = dna_calloc((size_t)n, sizeof(double));
    b->top1 = dna_calloc((size_t)n, sizeof(double));
    b->seconds = dna_calloc((size_t)n, sizeof(double));
    for (int i = 0; i < n; i++) b->top1[i] = NAN;
}

void bench_free(Bench *b) {
    free(b->cell), free(b->code), free(b->params), free(b->macs), free(b->top1), free(b->seconds);
    *b = (Bench){0};
}

// One uniform draw over the space: per block, one (cell, path) of all its paths.
static void draw(const Space *sp, Rng *r, int *cell, long *code) {
    for (int k = 0; k < sp->nblocks; k++) {
        const SpaceBlock *b = &sp->block[k];
        uint32_t u = rng_below(r, (uint32_t)space_block_paths(sp, k));
        int c = 0;
        while (u >= (uint32_t)cell_path_count(&b->cell[c])) u -= (uint32_t)cell_path_count(&b->cell[c++]);
        cell[k] = c, code[k] = u;
    }
}

void bench_sample(const Space *sp, const EffNetCfg *t, int in_hw, int n, uint64_t seed, Bench *b) {
    int B = sp->nblocks;
    for (int k = 0; k < B; k++)
        DNA_CHECK(space_block_paths(sp, k) < 4294967296.0, "use fewer paths per block",
                  "bench: block %d has %.3g paths, more than a 32-bit draw covers", k + 1,
                  space_block_paths(sp, k));
    long m = (long)n * BENCH_POOL;
    int *pc = dna_malloc(sizeof(int) * (size_t)m * B);
    long *pk = dna_malloc(sizeof(long) * (size_t)m * B);
    double *pp = dna_malloc(sizeof(double) * (size_t)m), lo = INFINITY, hi = -INFINITY;
    char *used = dna_calloc((size_t)m, 1);
    Rng root = rng_new(seed), r = rng_split(&root, STREAM_BENCH_SAMPLE);
    for (long i = 0; i < m; i++) {
        draw(sp, &r, pc + i * B, pk + i * B);
        Arch a;
        arch_from_choice(sp, t, in_hw, pc + i * B, pk + i * B, &a);
        pp[i] = (double)arch_params(&a);
        lo = fmin(lo, pp[i]), hi = fmax(hi, pp[i]);
    }
    bench_alloc(b, n, B);
    double w = (hi - lo) / n;
    for (int s = 0; s < n; s++) {
        double a0 = lo + s * w, a1 = s == n - 1 ? INFINITY : a0 + w, mid = a0 + 0.5 * w;
        long count = 0, pick = -1;
        for (long i = 0; i < m; i++) count += !used[i] && pp[i] >= a0 && pp[i] < a1;
        if (count > 0) {
            long j = (long)rng_below(&r, (uint32_t)count);
            for (long i = 0; i < m && pick < 0; i++)
                if (!used[i] && pp[i] >= a0 && pp[i] < a1 && j-- == 0) pick = i;
        } else {
            for (long i = 0; i < m; i++)
                if (!used[i] && (pick < 0 || fabs(pp[i] - mid) < fabs(pp[pick] - mid))) pick = i;
        }
        DNA_CHECK(pick >= 0, "lower [bench] n", "bench: the space has fewer than %d distinct "
                  "architectures in %ld draws", n, m);
        for (long i = 0; i < m; i++)  // every copy of the pick is used up
            if (!memcmp(pc + i * B, pc + pick * B, sizeof(int) * B) &&
                !memcmp(pk + i * B, pk + pick * B, sizeof(long) * B))
                used[i] = 1;
        memcpy(b->cell + (size_t)s * B, pc + pick * B, sizeof(int) * B);
        memcpy(b->code + (size_t)s * B, pk + pick * B, sizeof(long) * B);
    }
    for (int s = 0; s < n; s++) {  // strata ascend, but the nearest-unused fallback may not
        Arch a;
        arch_from_choice(sp, t, in_hw, b->cell + (size_t)s * B, b->code + (size_t)s * B, &a);
        b->params[s] = (double)arch_params(&a), b->macs[s] = (double)arch_macs(&a);
    }
    free(pc), free(pk), free(pp), free(used);
}

// What a result depends on besides its architecture: the data, the recipe and the seed.
static void recipe_hash(const Config *cfg, char hex[17]) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    DNA_CHECK(f, "", "bench: out of memory");
    config_dump(cfg, f);
    fclose(f);
    uint64_t h = FNV1A_INIT;
    int keep = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '[') keep = !strcmp(line, "[data]") || !strcmp(line, "[bench]");
        if (keep || !strncmp(line, "seed", 4)) h = fnv1a(h, line, strlen(line));
    }
    free(buf);
    snprintf(hex, 17, "%016llx", (unsigned long long)h);
}

static void file_digest(const char *path, char hex[17]) {
    char *text = text_read(path);
    DNA_CHECK(text, "rerun `dna bench CFG`", "bench: cannot read '%s'", path);
    snprintf(hex, 17, "%016llx", (unsigned long long)fnv1a(FNV1A_INIT, text, strlen(text)));
    free(text);
}

// The result file's top-1 and seconds when it belongs to this architecture file and recipe.
static int result_read(const char *path, const char *arch_hex, const char *recipe_hex,
                       double *top1, double *secs) {
    char *text = text_read(path);
    if (!text) return 0;
    cJSON *o = cJSON_Parse(text);
    free(text);
    const cJSON *a = cJSON_GetObjectItem(o, "arch_digest"), *r = cJSON_GetObjectItem(o, "recipe_hash");
    const cJSON *t = cJSON_GetObjectItem(o, "top1"), *s = cJSON_GetObjectItem(o, "seconds");
    int ok = cJSON_IsString(a) && cJSON_IsString(r) && cJSON_IsNumber(t) && cJSON_IsNumber(s) &&
             !strcmp(a->valuestring, arch_hex) && !strcmp(r->valuestring, recipe_hex);
    if (ok) *top1 = t->valuedouble, *secs = s->valuedouble;
    cJSON_Delete(o);
    return ok;
}

static void bench_path(const Config *cfg, const char *kind, int id, char *buf, size_t n) {
    char name[64];
    snprintf(name, sizeof name, "bench/%s_%03d.json", kind, id);
    config_run_path(cfg, name, buf, n);
}

// Trains architecture file `ap` on this rank alone (ctx `one`: 1 rank, quiet) and writes its
// result file.
static void train_one(const RunCtx *ctx, const RunCtx *one, const Config *cfg, const Dataset *d,
                      int id, int n, const char *ap, const char *arch_hex, const char *recipe_hex) {
    Arch a;
    arch_load(ap, &a);
    EffNetCfg ec;
    arch_to_effnet(&a, &ec);
    ec.dropout = (float)cfg->bench.fit.dropout;
    Teacher t = {.in_hw = a.in_hw, .top1 = -1};
    memcpy(t.mean, d->mean, sizeof t.mean);
    memcpy(t.std, d->std, sizeof t.std);
    Rng root = rng_new((uint64_t)cfg->run.seed), init = rng_split(&root, STREAM_BENCH_INIT);
    effnet_init(one->be, &t.net, &ec, a.in_hw, &init);
    Recipe r = {.label = "bench", .stream = STREAM_BENCH, .all_train = 1,
                .limit = cfg->bench.train_images, .fit = &cfg->bench.fit};
    long epochs = cfg->bench.fit.epochs;
    double *top1 = dna_calloc((size_t)epochs, sizeof(double)), t0 = timer_now();
    teacher_train(one, cfg, &r, d, &t, top1);
    double secs = timer_now() - t0;
    char rp[1100], desc[512];
    bench_path(cfg, "result", id, rp, sizeof rp);
    TextOut out;
    FILE *f = textout_open(&out, rp);
    fprintf(f, "{\n  \"format\": \"dnafam-bench-result\", \"version\": %d, \"id\": %d,\n"
               "  \"arch\": \"%s\", \"arch_digest\": \"%s\", \"recipe_hash\": \"%s\",\n"
               "  \"params\": %ld, \"macs\": %ld, \"epochs\": %ld, \"top1_per_epoch\": [",
            BENCH_FORMAT, id, ap, arch_hex, recipe_hex, arch_params(&a), arch_macs(&a), epochs);
    for (long e = 0; e < epochs; e++) fprintf(f, "%s%.6f", e ? ", " : "", top1[e]);
    fprintf(f, "],\n  \"top1\": %.6f, \"seconds\": %.1f, \"rank\": %d, \"seed\": %ld,\n"
               "  \"git_rev\": \"%s\", \"dna_version\": \"%s\"\n}\n",
            t.top1, secs, ctx->rank, cfg->run.seed, ctx->git_rev, ctx->version);
    textout_commit(&out);
    arch_describe(&a, desc, sizeof desc);
    log_rank(ctx, "bench: arch %d/%d  %ld params  %.2fM MACs  test top-1 %.2f%%  %.0f s  %s",
             id, n, arch_params(&a), arch_macs(&a) / 1e6, 100.0 * t.top1, secs, desc);
    free(top1);
    teacher_free(one->be, &t);
}

static void bench_save(const RunCtx *ctx, const Config *cfg, const Bench *b, const char *rhash) {
    char path[1100], tmp[1024], hash[17];
    config_run_path(cfg, "bench.h5", path, sizeof path);
    hid_t f = h5_create_tmp(path, tmp);
    H5Prov prov = stage_prov(ctx, cfg, BENCH_FORMAT, hash);
    h5_attr_prov(f, &prov, tmp);
    h5_attr_str(f, "recipe_hash", rhash, tmp);
    long d1[1] = {b->n}, d2[2] = {b->n, b->nblocks};
    h5_write(f, "cell", H5T_NATIVE_INT, b->cell, 2, d2, tmp);
    h5_write(f, "code", H5T_NATIVE_LONG, b->code, 2, d2, tmp);
    h5_write(f, "params", H5T_NATIVE_DOUBLE, b->params, 1, d1, tmp);
    h5_write(f, "macs", H5T_NATIVE_DOUBLE, b->macs, 1, d1, tmp);
    h5_write(f, "top1", H5T_NATIVE_DOUBLE, b->top1, 1, d1, tmp);
    h5_write(f, "seconds", H5T_NATIVE_DOUBLE, b->seconds, 1, d1, tmp);
    h5_commit(f, tmp, path);
    config_run_path(cfg, "bench.csv", path, sizeof path);
    TextOut out;
    FILE *c = textout_open(&out, path);
    fprintf(c, "id,params,macs,top1,seconds,arch\n");
    for (int i = 0; i < b->n; i++) {
        char ap[1100];
        bench_path(cfg, "arch", i + 1, ap, sizeof ap);
        Arch a;
        arch_load(ap, &a);
        char desc[512];
        arch_describe(&a, desc, sizeof desc);
        fprintf(c, "%d,%.0f,%.0f,%.6f,%.1f,%s\n", i + 1, b->params[i], b->macs[i], b->top1[i],
                b->seconds[i], desc);
    }
    textout_commit(&out);
}

int stage_bench(const RunCtx *ctx, const Config *cfg, int force) {
    int n = (int)cfg->bench.n;
    DNA_CHECK(n >= 3, "set [bench] n >= 3 (30 or more for a ranking study)", "bench: n = %d", n);
    DNA_CHECK(cfg->bench.fit.epochs >= 1, "set [bench] epochs >= 1", "bench: epochs = %ld",
              cfg->bench.fit.epochs);
    Space sp;
    EffNetCfg teacher;
    int in_hw;
    stage_space(ctx, cfg, &sp, &teacher, &in_hw);
    Bench b;
    bench_sample(&sp, &teacher, in_hw, n, (uint64_t)cfg->run.seed, &b);
    char dir[1100], path[1100], rhash[17];
    config_run_path(cfg, "bench", dir, sizeof dir);
    recipe_hash(cfg, rhash);
    if (ctx->rank == 0) {
        stage_mkdir(dir);
        for (int i = 0; i < n; i++) {
            Arch a;
            arch_from_choice(&sp, &teacher, in_hw, b.cell + (size_t)i * b.nblocks,
                             b.code + (size_t)i * b.nblocks, &a);
            char extra[256];
            snprintf(extra, sizeof extra, "{\"source\": \"dna bench\", \"id\": %d, \"n\": %d, "
                     "\"seed\": %ld}", i + 1, n, cfg->run.seed);
            bench_path(cfg, "arch", i + 1, path, sizeof path);
            arch_save(&a, extra, path);  // the same bytes on every rerun: digests stay valid
        }
    }
    par_barrier();
    config_run_path(cfg, "dataset.h5", path, sizeof path);
    DNA_CHECK(stage_done(path), "run `dna data CFG` first", "no dataset file '%s'", path);
    Dataset d;
    dataset_load(path, &d);
    long imgs = cfg->bench.train_images > 0 && cfg->bench.train_images < d.train.n
                    ? cfg->bench.train_images : d.train.n;
    log_info(ctx, "bench: %d architectures, %.0f to %.0f params, [bench] recipe %ld epoch(s) on "
             "%ld training images, one per rank at a time (%d rank(s)) -> %s", n, b.params[0],
             b.params[n - 1], cfg->bench.fit.epochs, imgs, ctx->nranks, dir);
    RunCtx one = *ctx;
    one.rank = 0, one.nranks = 1, one.verbose = 0;
    Progress pr;
    progress_init(&pr, ctx, "bench (handed out)", "arch", n);
    ParCounter *ctr = par_counter_new();
    int trained = 0;  // on this rank
    for (long j; (j = par_counter_next(ctr)) < n;) {
        int id = n - (int)j;  // largest first
        char ap[1100], rp[1100], ahex[17];
        bench_path(cfg, "arch", id, ap, sizeof ap);
        bench_path(cfg, "result", id, rp, sizeof rp);
        file_digest(ap, ahex);
        double top1, secs;
        if (force || !result_read(rp, ahex, rhash, &top1, &secs)) {
            train_one(ctx, &one, cfg, &d, id, n, ap, ahex, rhash);
            trained++;
        }
        progress_update(&pr, j + 1, NULL);
    }
    progress_end(&pr, NULL);
    par_counter_free(ctr);
    double now = trained;
    par_allreduce_sum_f64(&now, 1);
    if (ctx->rank == 0) {
        for (int i = 0; i < n; i++) {
            char ap[1100], rp[1100], ahex[17];
            bench_path(cfg, "arch", i + 1, ap, sizeof ap);
            bench_path(cfg, "result", i + 1, rp, sizeof rp);
            file_digest(ap, ahex);
            DNA_CHECK(result_read(rp, ahex, rhash, &b.top1[i], &b.seconds[i]), "rerun `dna bench CFG`",
                      "bench: '%s' is missing or belongs to another architecture or recipe", rp);
        }
        bench_save(ctx, cfg, &b, rhash);
        config_run_path(cfg, "bench.h5", path, sizeof path);
        log_info(ctx, "bench: %d architectures (%.0f trained now) -> %s and bench.csv", n, now, path);
    }
    par_barrier();
    dataset_free(&d);
    bench_free(&b);
    return STAGE_RAN;
}

void bench_load(const char *path, Bench *b) {
    hid_t f = h5_open_read(path);
    size_t n = 0, nc = 0, nk = 0, nx;
    double *cell = h5_read_f64(f, path, "cell", &nc), *code = h5_read_f64(f, path, "code", &nk);
    double *params = h5_read_f64(f, path, "params", &n);
    DNA_CHECK(n > 0 && nc == nk && nc % n == 0, "rerun `dna bench CFG`",
              "'%s': cell/code/params shapes do not match", path);
    bench_alloc(b, (int)n, (int)(nc / n));
    for (size_t i = 0; i < nc; i++) b->cell[i] = (int)cell[i], b->code[i] = (long)code[i];
    memcpy(b->params, params, sizeof(double) * n);
    const char *rest[] = {"macs", "top1", "seconds"};
    double *dst[] = {b->macs, b->top1, b->seconds};
    for (int q = 0; q < 3; q++) {
        double *v = h5_read_f64(f, path, rest[q], &nx);
        DNA_CHECK(nx == n, "rerun `dna bench CFG`", "'%s': %s has %zu values, params %zu", path,
                  rest[q], nx, n);
        memcpy(dst[q], v, sizeof(double) * n);
        free(v);
    }
    free(cell), free(code), free(params);
    h5_close(f);
}
