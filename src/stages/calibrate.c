// `dna calibrate CFG [--calib N] [--folds F] [--ridge R]` (doc/design.md §5.7): fits the
// block weights of a predictor (src/nas/predictor.h) on N benchmarked networks and
// cross-validates it: the run's bench (bench.h5, generation 1's, as `dna rank` reads it)
// shuffled with run.seed and cut into folds of N, a fit on each fold, Kendall tau and
// Spearman rho on all the other networks, beside plain DNA's (uniform weights) on the same
// networks. Prints the table and writes <run>/predictor.json: the weights fitted on the first
// fold, its calibration ids, the cross-validation, the digests of the bench and ratings it was
// fitted on, config hash, seed, version and git revision. Rank 0 does the work.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/bench.h"
#include "io/files.h"
#include "io/potentials.h"
#include "io/predictor.h"
#include "stages/plus.h"
#include "stages/stages.h"

#define USAGE "usage: dna calibrate [CFG] [key=value ...] [--calib N] [--folds F] [--ridge R]"

enum { CALIB_DEFAULT = 10 };

static long integer(const char *flag, const char *s, long lo) {
    char *end;
    long v = strtol(s, &end, 10);
    DNA_CHECK(end != s && !*end && v >= lo && v <= 1000000, USAGE,
              "calibrate: %s '%s' is not an integer in %ld..1000000", flag, s, lo);
    return v;
}

// The block scores s[n][nblocks] of the bench's networks under the run's potentials.
static double *block_scores(const Bench *b, const Space *sp, const Potentials *pot,
                            const char *bench, const char *pots) {
    DNA_CHECK(sp->nblocks == b->nblocks, "calibrate on a bench made in this run's space",
              "calibrate: '%s' has %d blocks, the space %d", bench, b->nblocks, sp->nblocks);
    double *s = dna_malloc(sizeof(double) * (size_t)b->n * b->nblocks);
    for (int i = 0; i < b->n; i++) {
        DNA_CHECK(isfinite(b->top1[i]), "train every bench network first (`dna bench CFG`)",
                  "calibrate: bench architecture %d of '%s' has no top-1", i + 1, bench);
        for (int k = 0; k < b->nblocks; k++) {
            int c = b->cell[(size_t)i * b->nblocks + k];
            int64_t code = b->code[(size_t)i * b->nblocks + k];
            DNA_CHECK(
                c >= 0 && c < sp->block[k].ncells && code >= 0 && code < pot->cell[k][c].npaths,
                "calibrate on a bench made in this run's space",
                "calibrate: bench architecture %d is not in the space of '%s'", i + 1, pots);
            s[(size_t)i * b->nblocks + k] = pot->cell[k][c].score[code];
        }
    }
    return s;
}

static void calibrate(const RunCtx *ctx, const Config *cfg, int calib, int folds, double ridge) {
    char bench[1100], pots[1100], out[1100], hash[17];
    Config root = plus_at(cfg, 1);
    config_run_path(&root, "bench.h5", bench, sizeof bench);
    config_run_path(cfg, "potentials.h5", pots, sizeof pots);
    DNA_CHECK(file_exists(bench), "run `dna bench CFG` first", "calibrate: no bench '%s'", bench);
    DNA_CHECK(file_exists(pots), "run `dna rate CFG` first", "calibrate: no ratings '%s'", pots);
    Space sp;
    stage_space_any(ctx, cfg, &sp, NULL, NULL);
    Bench b;
    bench_load(bench, &b);
    Potentials pot;
    potentials_load(pots, &sp, &pot);
    double *s = block_scores(&b, &sp, &pot, bench, pots);
    PredictorCV cv;
    predictor_cv(s, b.top1, b.n, b.nblocks, calib, folds, ridge, (uint64_t)cfg->run.seed, &cv);
    Predictor *p = &cv.first;
    predictor_bench_digest(&b, p->bench_digest);
    predictor_potentials_digest(&pot, p->potentials_digest);

    log_info(ctx,
             "calibrate: %d networks of %s, %d fold(s) of %d (shuffled with seed %ld), ridge %g; "
             "each fold fitted, then rated on all the other networks:",
             b.n, bench, cv.nfolds, calib, cfg->run.seed, ridge);
    log_plain(ctx, "  fold  held-out  tau(fitted)  tau(DNA)  rho(fitted)  rho(DNA)");
    for (int f = 0; f < cv.nfolds; f++) {
        const PredictorFold *d = &cv.fold[f];
        log_plain(ctx, "  %4d  %8d  %11.3f  %8.3f  %11.3f  %8.3f", f + 1, d->nheld, d->tau,
                  d->tau_dna, d->rho, d->rho_dna);
    }
    log_plain(ctx, "  mean            %11.3f  %8.3f", cv.tau_mean, cv.dna_mean);
    log_plain(ctx, "  min             %11.3f  %8.3f", cv.tau_min, cv.dna_min);
    log_plain(ctx, "  max             %11.3f  %8.3f", cv.tau_max, cv.dna_max);

    cJSON *x = cJSON_CreateObject(), *c = cJSON_AddObjectToObject(x, "cv"),
          *fl = cJSON_AddArrayToObject(c, "folds");
    cJSON_AddNumberToObject(c, "calib", calib);
    cJSON_AddNumberToObject(c, "n", b.n);
    cJSON_AddStringToObject(c, "statistic",
                            "Kendall tau / Spearman rho of -score against top-1 on the networks "
                            "outside the fold; *_dna: uniform weights on the same networks");
    for (int f = 0; f < cv.nfolds; f++) {
        const PredictorFold *d = &cv.fold[f];
        cJSON *o = cJSON_CreateObject();
        int *ids = dna_malloc(sizeof(int) * (size_t)calib);
        for (int i = 0; i < calib; i++) ids[i] = cv.order[f * calib + i] + 1;
        cJSON_AddItemToObject(o, "ids", cJSON_CreateIntArray(ids, calib));
        free(ids);
        cJSON_AddNumberToObject(o, "n_heldout", d->nheld);
        // cJSON writes a NaN (a tau undefined on tied truths) as null
        cJSON_AddNumberToObject(o, "tau", d->tau);
        cJSON_AddNumberToObject(o, "tau_dna", d->tau_dna);
        cJSON_AddNumberToObject(o, "rho", d->rho);
        cJSON_AddNumberToObject(o, "rho_dna", d->rho_dna);
        cJSON_AddItemToArray(fl, o);
    }
    static const char *K[6] = {"tau_mean",     "tau_min",     "tau_max",
                               "tau_dna_mean", "tau_dna_min", "tau_dna_max"};
    double v[6] = {cv.tau_mean, cv.tau_min, cv.tau_max, cv.dna_mean, cv.dna_min, cv.dna_max};
    for (int i = 0; i < 6; i++) cJSON_AddNumberToObject(c, K[i], v[i]);
    config_hash(cfg, hash);
    cJSON_AddStringToObject(x, "bench", bench);
    cJSON_AddStringToObject(x, "potentials", pots);
    cJSON_AddStringToObject(x, "config_hash", hash);
    cJSON_AddNumberToObject(x, "seed", (double)cfg->run.seed);
    cJSON_AddStringToObject(x, "git_rev", ctx->git_rev);
    cJSON_AddStringToObject(x, "dna_version", ctx->version);
    char *extra = cJSON_PrintUnformatted(x);
    cJSON_Delete(x);
    config_run_path(cfg, "predictor.json", out, sizeof out);
    predictor_save(p, extra, out);
    free(extra);

    char ws[256] = "", ids[512] = "";
    for (int k = 0; k < p->nblocks; k++)
        snprintf(ws + strlen(ws), sizeof ws - strlen(ws), "%s%.4g", k ? " " : "", p->weight[k]);
    for (int i = 0; i < p->ncalib && strlen(ids) + 12 < sizeof ids; i++)
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%d", i ? " " : "", p->calib[i]);
    double mw = 0;
    for (int k = 0; k < p->nblocks; k++) mw += p->weight[k] / p->nblocks;
    if (mw < 0)
        log_warn(ctx,
                 "calibrate: the fit reverses DNA's order (mean weight %.3g): on these networks "
                 "a higher block score went with a higher top-1",
                 mw);
    log_info(ctx, "calibrate: weights %s (fold 1: bench ids %s); top-1 ~ %.4g - %.4g x score -> %s",
             ws, ids, p->intercept, p->scale, out);
    predictor_cv_free(&cv);
    free(s);
    potentials_free(&pot);
    bench_free(&b);
}

static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    (void)all;
    int calib = CALIB_DEFAULT, folds = 0;
    double ridge = PREDICTOR_RIDGE;
    char **rest = dna_calloc((size_t)argc + 1, sizeof(char *));
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int valued =
            i > 0 && (!strcmp(a, "--calib") || !strcmp(a, "--folds") || !strcmp(a, "--ridge"));
        if (!valued) {
            rest[n++] = argv[i];
            continue;
        }
        DNA_CHECK(i + 1 < argc, USAGE, "calibrate: %s needs a value", a);
        const char *val = argv[++i];
        if (!strcmp(a, "--calib")) {
            calib = (int)integer(a, val, PREDICTOR_MIN_CALIB);
        } else if (!strcmp(a, "--folds")) {
            folds = (int)integer(a, val, 0);
        } else {
            char *end;
            ridge = strtod(val, &end);
            DNA_CHECK(end != val && !*end && ridge >= 0 && ridge <= 1e6, USAGE,
                      "calibrate: --ridge '%s' is not a number in [0, 1e6]", val);
        }
    }
    Config cfg;
    runner_args(ctx, NULL, n, rest, &cfg);
    free(rest);
    char dir[1100];
    config_run_path(&cfg, NULL, dir, sizeof dir);
    if (file_exists(dir)) runner_open_logs(ctx, dir, "calibrate", 0);
    if (ctx->rank == 0) calibrate(ctx, &cfg, calib, folds, ridge);
    runner_close_logs(ctx);
    return 0;
}

const Stage STAGE_CALIB = {
    .name = "calibrate",
    .help =
        "[CFG] [--calib N] [--folds F] [--ridge R]: fit block weights on N bench networks, "
        "cross-validate -> predictor.json",
    .command = command,
};
