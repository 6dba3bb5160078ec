// `dna rank` (doc/design.md §5.6): how well a rating ranks architectures. An
// architecture's predicted score is the sum of its blocks' path scores (potentials.h5; lower
// is better); its truth is the test top-1 it reached when trained from scratch (bench.h5).
// Reports Kendall's tau, Spearman's rho and Pearson's R between -score and top-1 (so +1 means
// the rating orders the architectures exactly as their accuracies do) with 95% bootstrap
// intervals, and writes <out>.csv (id, score, top1), <out>.json and <out>.png (top-1 against
// score, as the paper's Fig. 7). Scores and truths can also come from CSV files (a column
// "id" plus "score" or "top1"), so rankings of other tools, e.g. `dna spos`, are judged on
// the same bench. `dna rank --compare RUN_A RUN_B` is `dna compare`. Truths may be fractions
// or percent (--truth-units); they are ranked, written and drawn as fractions. With
// --predictor FILE (`dna calibrate`'s predictor.json) only the bench networks outside its
// calibration set count, rated twice: by the fitted weights (rank_predictor.*) and by plain
// DNA (rank_dna_heldout.*).
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "io/bench.h"
#include "io/csvcol.h"
#include "io/files.h"
#include "io/plot.h"
#include "io/potentials.h"
#include "io/predictor.h"
#include "nas/rankstat.h"
#include "stages/plus.h"
#include "stages/stages.h"

typedef struct RankArgs {
    const Config *cfg;        // the run (bench.h5, potentials.h5, output directory); may be NULL
    const char *potentials;   // ratings from another potentials.h5 on this run's space, or NULL
    const char *scores;       // CSV of scores instead of potentials, or NULL
    const char *truth;        // CSV of truths instead of the run's bench.h5, or NULL
    const char *name;         // label of the rating ("dna", "spos", "seed41", ...)
    const char *out;          // output path without extension, or NULL: <run>/rank_<name>
    const char *truth_units;  // "auto", "fraction" or "percent": the truth's top-1
    const Predictor *pred;    // only the bench networks outside its calibration set, or NULL
    int weighted;             // with pred: scores are its weighted sums (else plain sums)
} RankArgs;

enum { RANK_FORMAT = 1, RANK_BOOTSTRAP = 2000, RANK_ID = CSV_ID };

// The run's bench.h5: generation 1's, the truth for every DNA+ generation's ratings (the
// bench's networks are trained from scratch, whatever the teacher).
static void bench_path(const Config *cfg, char *buf, size_t n) {
    Config root = plus_at(cfg, 1);
    config_run_path(&root, "bench.h5", buf, n);
}

// Truth (top-1) and DNA's predicted scores of the run's bench, in id order.
static void from_bench(const RunCtx *ctx, const Config *cfg, const char *pot_path, CsvColumn *truth,
                       CsvColumn *score, const RankArgs *a) {
    char path[1100];
    bench_path(cfg, path, sizeof path);
    DNA_CHECK(file_exists(path), "run `dna bench CFG` first (or give --truth CSV)",
              "rank: no bench '%s'", path);
    Bench b;
    bench_load(path, &b);
    if (a->pred) {  // the held-out networks: the bench it was calibrated on, less its own
        char hex[17];
        predictor_bench_digest(&b, hex);
        DNA_CHECK(!a->pred->bench_digest[0] || !strcmp(hex, a->pred->bench_digest),
                  "give the predictor this run's `dna calibrate CFG` wrote",
                  "rank: the predictor was calibrated on another bench than '%s' (digest %s, "
                  "this one %s): its held-out set is unknown",
                  path, a->pred->bench_digest, hex);
        DNA_CHECK(a->pred->nblocks == b.nblocks, "give a predictor calibrated in this space",
                  "rank: the predictor has %d block weights, '%s' %d blocks", a->pred->nblocks,
                  path, b.nblocks);
    }
    int *keep = dna_malloc(sizeof(int) * (size_t)(b.n ? b.n : 1)), m = 0;
    for (int i = 0; i < b.n; i++)
        if (!a->pred || !predictor_in_calib(a->pred, i + 1)) keep[m++] = i;
    *truth = (CsvColumn){.n = m,
                         .id = dna_calloc((size_t)b.n, RANK_ID),
                         .v = dna_calloc((size_t)b.n, sizeof(double))};
    for (int j = 0; j < m; j++) {
        snprintf(truth->id[j], RANK_ID, "%d", keep[j] + 1);
        truth->v[j] = b.top1[keep[j]];
    }
    if (score) {
        Space sp;
        stage_space_any(ctx, cfg, &sp, NULL, NULL);
        DNA_CHECK(sp.nblocks == b.nblocks, "rank a bench made in this run's space",
                  "rank: '%s' has %d blocks, the space %d", path, b.nblocks, sp.nblocks);
        Potentials pot;
        potentials_load(pot_path, &sp, &pot);
        *score = (CsvColumn){.n = m,
                             .id = dna_calloc((size_t)b.n, RANK_ID),
                             .v = dna_calloc((size_t)b.n, sizeof(double))};
        for (int j = 0; j < m; j++) {
            int i = keep[j];
            snprintf(score->id[j], RANK_ID, "%d", i + 1);
            double s = 0, bs[SPACE_MAX_BLOCKS];
            for (int k = 0; k < b.nblocks; k++) {
                int c = b.cell[(size_t)i * b.nblocks + k];
                int64_t code = b.code[(size_t)i * b.nblocks + k];
                DNA_CHECK(c < sp.block[k].ncells && code < pot.cell[k][c].npaths,
                          "rank a bench made in this run's space",
                          "rank: bench architecture %d is not in the space of '%s'", i + 1,
                          pot_path);
                s += bs[k] = pot.cell[k][c].score[code];
            }
            score->v[j] = a->pred && a->weighted ? predictor_score(a->pred, bs) : s;
        }
        potentials_free(&pot);
    }
    free(keep);
    bench_free(&b);
}

// Truth top-1 as fractions: percent when told, or in auto when any value exceeds 1 (said in
// the log, since a run of accuracies below 1% would read as fractions). Values outside the
// unit's range are an error naming the file and the id. Returns the unit read.
static const char *truth_to_fractions(const RunCtx *ctx, CsvColumn *t, const char *src,
                                      const char *units) {
    double hi = -INFINITY;
    for (long i = 0; i < t->n; i++) hi = fmax(hi, t->v[i]);
    int auto_units = !strcmp(units, "auto");
    int percent = !strcmp(units, "percent") || (auto_units && hi > 1);
    if (auto_units)
        log_info(ctx, "rank: top-1 in %s read as %s (%s; --truth-units says otherwise)", src,
                 percent ? "percent" : "fractions", percent ? "a value above 1" : "none above 1");
    const double max = percent ? 100 : 1;
    for (long i = 0; i < t->n; i++) {
        DNA_CHECK(t->v[i] >= 0 && t->v[i] <= max,
                  percent ? "give top-1 in percent, 0 to 100"
                          : "give top-1 as fractions, 0 to 1, or --truth-units percent",
                  "rank: top-1 %g of id '%s' in %s is outside [0, %g] (--truth-units %s)", t->v[i],
                  t->id[i], src, max, percent && auto_units ? "auto: percent" : units);
        if (percent) t->v[i] /= 100;
    }
    return percent ? "percent" : "fraction";
}

// The directory of the output prefix, made now (mkdir -p), so that a prefix that cannot be
// written fails before any work.
static void out_dir_ready(const char *prefix) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", prefix);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return;  // the working directory or /
    *slash = 0;
    for (char *p = dir + 1;; p++) {
        if (*p && *p != '/') continue;
        char c = *p;
        *p = 0;
        DNA_CHECK(mkdir(dir, 0775) == 0 || errno == EEXIST,
                  "give --out a prefix in a directory that can be created (a missing one is made)",
                  "rank: cannot create directory '%s' for the outputs %s.*: %s", dir, prefix,
                  strerror(errno));
        if (!(*p = c)) break;
    }
}

typedef struct IdRef {
    const char *id;
    long i;
} IdRef;

static int by_id(const void *a, const void *b) {
    const IdRef *u = a, *v = b;
    int c = strcmp(u->id, v->id);
    return c ? c : (u->i > v->i) - (u->i < v->i);
}

// c's ids sorted (O(n log n)); an id given twice is an error naming the file.
static IdRef *sorted_ids(const CsvColumn *c, const char *src) {
    IdRef *r = dna_malloc(sizeof(IdRef) * (size_t)(c->n ? c->n : 1));
    for (long i = 0; i < c->n; i++) r[i] = (IdRef){c->id[i], i};
    qsort(r, (size_t)c->n, sizeof(IdRef), by_id);
    for (long i = 1; i < c->n; i++)
        DNA_CHECK(strcmp(r[i - 1].id, r[i].id), "give each id once",
                  "rank: id '%s' appears twice in %s", r[i].id, src);
    return r;
}

// which[i]: the row of score holding truth row i's id; every truth id needs a score.
static void join_ids(const CsvColumn *truth, const CsvColumn *score, const char *src_t,
                     const char *src_s, long *which) {
    IdRef *t = sorted_ids(truth, src_t), *s = sorted_ids(score, src_s);
    for (long i = 0; i < truth->n; i++) {
        IdRef key = {truth->id[i], -1};
        long lo = 0, hi = score->n;  // the first score id >= key
        while (lo < hi) {
            long mid = lo + (hi - lo) / 2;
            if (strcmp(s[mid].id, key.id) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        DNA_CHECK(lo < score->n && !strcmp(s[lo].id, key.id),
                  "give a score for every architecture of the truth",
                  "rank: no score for id '%s' in %s", truth->id[i], src_s);
        which[i] = s[lo].i;
    }
    free(t), free(s);
}

static void plot(const RunCtx *ctx, const char *csv, const char *png, const char *name, long n,
                 const double st[3]) {
    char body[8192], xl[600], title[800], qx[1300], qt[1700], qc[2300];
    snprintf(xl, sizeof xl, "predicted score (%s; lower is better)", name);
    snprintf(title, sizeof title,
             "%s: %ld architectures, Kendall tau %.3f, Spearman rho %.3f, Pearson R %.3f", name, n,
             st[0], st[1], st[2]);
    snprintf(body, sizeof body,
             "set datafile separator ','\nset key off\nset grid\n"
             "set xlabel %s\nset ylabel 'test top-1 (%%)'\nset title %s\n"
             "plot %s every ::1 using 2:($3*100) with points pt 7 ps 1.0 lc rgb '#1f77b4'\n",
             plot_str(qx, sizeof qx, xl), plot_str(qt, sizeof qt, title),
             plot_str(qc, sizeof qc, csv));
    if (plot_png(png, 800, 600, body))
        log_info(ctx, "rank: gnuplot (pngcairo) failed or is missing: %s not drawn", png);
}

static void rank_run(const RunCtx *ctx, const RankArgs *a) {
    DNA_CHECK(a->cfg || (a->scores && a->truth),
              "give a config (its run's bench) or both --scores and --truth",
              "rank: nothing to rank");
    DNA_CHECK(!(a->scores && a->potentials), "give --scores or --potentials, not both",
              "rank: two sources of scores");
    char pot[1100], prefix[1100], src_s[1200], src_t[1100];
    if (a->cfg) config_run_path(a->cfg, "potentials.h5", pot, sizeof pot);
    if (a->potentials) snprintf(pot, sizeof pot, "%s", a->potentials);
    if (a->out && *a->out && a->out[strlen(a->out) - 1] == '/')  // a directory
        snprintf(prefix, sizeof prefix, "%srank_%s", a->out, a->name);
    else if (a->out)
        snprintf(prefix, sizeof prefix, "%s", a->out);
    else if (a->cfg) {
        char name[300];
        snprintf(name, sizeof name, "rank_%s", a->name);
        config_run_path(a->cfg, name, prefix, sizeof prefix);
    } else {
        snprintf(prefix, sizeof prefix, "%s", a->scores);
        char *dot = strrchr(prefix, '.');
        if (dot && !strcmp(dot, ".csv")) *dot = 0;
        strncat(prefix, "_rank", sizeof prefix - strlen(prefix) - 1);
    }
    out_dir_ready(prefix);
    CsvColumn truth = {0}, score = {0}, unused = {0};
    if (!a->truth || !a->scores)
        from_bench(ctx, a->cfg, pot, a->truth ? &unused : &truth, a->scores ? NULL : &score, a);
    csv_column_free(&unused);
    if (a->truth) {
        csv_column_read(a->truth, "top1", &truth);
        snprintf(src_t, sizeof src_t, "%s", a->truth);
    } else {
        bench_path(a->cfg, src_t, sizeof src_t);
    }
    if (a->scores) {
        csv_column_read(a->scores, "score", &score);
        snprintf(src_s, sizeof src_s, "%s", a->scores);
    } else {
        snprintf(src_s, sizeof src_s, "%s block path scores in %s",
                 a->pred && a->weighted ? "predictor-weighted sum of" : "sum of", pot);
    }
    const char *units = truth_to_fractions(ctx, &truth, src_t, a->truth_units);
    long n = truth.n, *which = dna_malloc(sizeof(long) * (size_t)n);
    join_ids(&truth, &score, src_t, src_s, which);
    double *x = dna_malloc(sizeof(double) * (size_t)n), *s = dna_malloc(sizeof(double) * (size_t)n);
    for (long i = 0; i < n; i++) s[i] = score.v[which[i]], x[i] = -s[i];
    free(which);
    char csv[1200], js[1200], png[1200];
    snprintf(csv, sizeof csv, "%s.csv", prefix);
    snprintf(js, sizeof js, "%s.json", prefix);
    snprintf(png, sizeof png, "%s.png", prefix);
    // Both outputs are opened (as temporaries) before the statistics: a prefix that cannot be
    // written fails now, not after the bootstrap.
    TextOut out, jout;
    FILE *f = textout_open(&out, csv);
    fprintf(f, "id,score,top1\n");
    for (long i = 0; i < n; i++) fprintf(f, "%s,%.9g,%.6f\n", truth.id[i], s[i], truth.v[i]);
    FILE *jf = textout_open(&jout, js);
    double st[3] = {rank_kendall_tau(x, truth.v, n), rank_spearman(x, truth.v, n),
                    rank_pearson(x, truth.v, n)};
    double ci[3][2];
    rank_bootstrap(x, truth.v, n, RANK_BOOTSTRAP, a->cfg ? (uint64_t)a->cfg->run.seed : 0, ci);
    textout_commit(&out);
    f = jf;
    static const char *KEYS[3] = {"kendall_tau", "spearman_rho", "pearson_r"};
    fprintf(f,
            "{\n  \"format\": \"dnafam-rank\", \"version\": %d, \"name\": \"%s\",\n"
            "  \"scores\": \"%s\",\n  \"truth\": \"%s\", \"truth_units\": \"%s\",\n"
            "  \"n\": %ld, \"bootstrap\": %d,\n"
            "  \"sign\": \"statistics of -score against top-1: +1 = the rating orders the "
            "architectures as their accuracies do\",\n",
            RANK_FORMAT, a->name, src_s, src_t, units, n, RANK_BOOTSTRAP);
    for (int q = 0; q < 3; q++)
        fprintf(f, "  \"%s\": {\"value\": %.6f, \"ci95\": [%.6f, %.6f]},\n", KEYS[q], st[q],
                ci[q][0], ci[q][1]);
    fprintf(f, "  \"git_rev\": \"%s\", \"dna_version\": \"%s\"\n}\n", ctx->git_rev, ctx->version);
    textout_commit(&jout);
    plot(ctx, csv, png, a->name, n, st);
    log_info(ctx, "rank %s: %ld architectures; -score vs top-1 (95%% bootstrap CI):", a->name, n);
    log_plain(ctx, "  Kendall tau  %6.3f  [%6.3f, %6.3f]", st[0], ci[0][0], ci[0][1]);
    log_plain(ctx, "  Spearman rho %6.3f  [%6.3f, %6.3f]", st[1], ci[1][0], ci[1][1]);
    log_plain(ctx, "  Pearson R    %6.3f  [%6.3f, %6.3f]", st[2], ci[2][0], ci[2][1]);
    log_info(ctx, "rank %s -> %s, %s, %s", a->name, csv, js, png);
    free(x), free(s);
    csv_column_free(&truth), csv_column_free(&score);
}

// rank: --compare RUN_A RUN_B (two runs' path ratings), or a rating against a bench:
// [CFG] [--potentials FILE | --scores CSV] [--truth CSV] [--name NAME] [--out PREFIX]
// [--truth-units auto|fraction|percent], or CFG --predictor FILE [--potentials FILE] (see the
// top of this file).
static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--compare")) {
        DNA_CHECK(argc == 4, "usage: dna rank --compare RUN_A RUN_B",
                  "rank: --compare takes two run directories");
        return STAGE_COMPARE.command(ctx, all, argc - 1, argv + 1);
    }
    static const char *FLAGS[] = {"--potentials", "--scores", "--truth",
                                  "--name",       "--out",    "--truth-units", "--predictor"};
    enum { NFLAGS = sizeof FLAGS / sizeof *FLAGS };
    const char *val[NFLAGS] = {0};
    char **rest = dna_calloc((size_t)argc + 1, sizeof(char *));
    int n = 0, positional = 0;
    for (int i = 0; i < argc; i++) {
        int f = -1;
        for (int j = 0; j < NFLAGS; j++)
            if (!strcmp(argv[i], FLAGS[j])) f = j;
        if (f < 0) {
            positional += i > 0;
            rest[n++] = argv[i];
            continue;
        }
        DNA_CHECK(i + 1 < argc, "give a value after the flag", "%s needs a value", argv[i]);
        val[f] = argv[++i];
    }
    const char *units = val[5] ? val[5] : "auto";
    DNA_CHECK(!strcmp(units, "auto") || !strcmp(units, "fraction") || !strcmp(units, "percent"),
              "give --truth-units auto, fraction or percent",
              "rank: --truth-units '%s' is not auto, fraction or percent", units);
    char name[256];
    if (val[3]) {
        snprintf(name, sizeof name, "%s", val[3]);
    } else if (val[1]) {  // the scores file's name without directory and .csv
        const char *base = strrchr(val[1], '/');
        snprintf(name, sizeof name, "%s", base ? base + 1 : val[1]);
        char *dot = strrchr(name, '.');
        if (dot && !strcmp(dot, ".csv")) *dot = 0;
    } else {
        snprintf(name, sizeof name, "dna");
    }
    RankArgs ra = {.potentials = val[0],
                   .scores = val[1],
                   .truth = val[2],
                   .name = name,
                   .out = val[4],
                   .truth_units = units};
    Config cfg;
    if (positional || !(val[1] && val[2])) {
        runner_args(ctx, NULL, n, rest, &cfg);
        ra.cfg = &cfg;
        char dir[1100];
        config_run_path(&cfg, NULL, dir, sizeof dir);
        if (file_exists(dir)) runner_open_logs(ctx, dir, "rank", 0);
    }
    free(rest);
    if (ctx->rank == 0 && val[6]) {  // the held-out networks, by the predictor and by plain DNA
        DNA_CHECK(!val[1] && !val[2] && !val[4] && !val[3],
                  "give --predictor with a config only (and --potentials if need be)",
                  "rank: --predictor ranks the run's bench under set names and outputs");
        Predictor pred;
        predictor_load(val[6], 0, &pred, NULL);
        ra.pred = &pred, ra.weighted = 1, ra.name = "predictor";
        rank_run(ctx, &ra);
        ra.weighted = 0, ra.name = "dna_heldout";
        rank_run(ctx, &ra);
        log_info(ctx,
                 "rank: predictor and plain DNA on the same bench networks: those outside the "
                 "%d that %s was calibrated on",
                 pred.ncalib, val[6]);
        predictor_free(&pred);
    } else if (ctx->rank == 0) {
        rank_run(ctx, &ra);
    }
    runner_close_logs(ctx);
    return 0;
}

const Stage STAGE_RANK = {
    .name = "rank",
    .help =
        "[CFG] [--potentials F | --scores CSV] [--truth CSV] [--truth-units auto|fraction|percent] "
        "[--name N] [--out PREFIX|DIR/] [--predictor predictor.json]: tau/rho/R of a rating "
        "against the bench, with CIs",
    .command = command,
};
