// DNA+ generations (see plus.h) and `dna plus CFG`, the generation loop alone.
#include "stages/plus.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/arch.h"
#include "io/files.h"
#include "io/plot.h"
#include "io/potentials.h"
#include "io/teacher.h"
#include "nas/rankstat.h"
#include "par/par.h"
#include "stages/seeds.h"
#include "stages/stages.h"

enum { PLUS_MAX_GENERATIONS = 16 };

// "1.1 1.2" -> v[]; returns the count, -1 on a token that is not a number in (0, 8].
static int parse_list(const char *s, double *v, int max) {
    char buf[CFG_STR], *save = NULL;
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    for (char *t = strtok_r(buf, " ,\t", &save); t; t = strtok_r(NULL, " ,\t", &save)) {
        char *end;
        double x = strtod(t, &end);
        if (*end || !(x > 0 && x <= 8) || n == max) return -1;
        v[n++] = x;
    }
    return n;
}

static void check_list(const Config *cfg, const char *key, const char *s) {
    double v[PLUS_MAX_GENERATIONS];
    int n = parse_list(s, v, PLUS_MAX_GENERATIONS);
    long want = cfg->plus.generations - 1;
    DNA_CHECK(n == 0 || n == 1 || n == want,
              "give one multiplier in (0, 8] for every generation, or one per generation 2..G "
              "(or leave it empty for alpha^phi / beta^phi)",
              "plus.%s = '%s': %s", key, s,
              n < 0 ? "not a list of numbers in (0, 8]"
                    : "the count is neither 1 nor plus.generations - 1");
}

void plus_check(const Config *cfg) {
    const PlusCfg *p = &cfg->plus;
    DNA_CHECK(p->generations >= 1 && p->generations <= PLUS_MAX_GENERATIONS,
              "set plus.generations in 1..16", "plus.generations = %ld is out of range",
              p->generations);
    DNA_CHECK(p->generation >= 1 && p->generation <= p->generations,
              "set plus.generation in 1..plus.generations (and plus.generations to the run's)",
              "plus.generation = %ld is outside 1..%ld", p->generation, p->generations);
    // a generation's teacher is the previous searched network retrained with labels, which
    // DNA++'s co-training (a teacher trained online, without labels) does not combine with
    DNA_CHECK(!config_ssl(cfg) || p->generations == 1,
              "set plus.generations = 1 with [train] mode = ssl, or mode = distill for DNA+",
              "%s: DNA+ generations (plus.generations = %ld) distil from a retrained teacher; "
              "[train] mode = ssl co-trains its own",
              cfg->path[0] ? cfg->path : "config", p->generations);
    DNA_CHECK(p->phi >= 0 && p->phi <= 8, "set plus.phi in [0, 8]", "plus.phi = %g is out of range",
              p->phi);
    DNA_CHECK(p->alpha >= 1 && p->alpha <= 2 && p->beta >= 1 && p->beta <= 2,
              "set plus.alpha and plus.beta in [1, 2] (EfficientNet: 1.2 and 1.1)",
              "plus.alpha = %g, plus.beta = %g: out of range", p->alpha, p->beta);
    check_list(cfg, "width", p->width);
    check_list(cfg, "depth", p->depth);
    DNA_CHECK(isfinite(p->min_gain) && p->max_tau >= -1 && p->max_tau <= 1,
              "set plus.min_gain to a number of points and plus.max_tau in [-1, 1]",
              "plus.min_gain = %g, plus.max_tau = %g: out of range", p->min_gain, p->max_tau);
    DNA_CHECK(strcmp(p->teacher_resolution, "scaled"),
              "use plus.teacher_resolution = student (the teachers run at the students' input "
              "size, as the paper's distillation did)",
              "plus.teacher_resolution = scaled is not implemented (the dataset would have to be "
              "resized for the teacher)");
}

static double coef(const char *list, long m, double base, double phi) {
    double v[PLUS_MAX_GENERATIONS];
    int n = parse_list(list, v, PLUS_MAX_GENERATIONS);
    if (n <= 0) return pow(base, phi);
    return n == 1 ? v[0] : v[m - 2];
}

void plus_coef(const Config *cfg, long m, double *width, double *depth) {
    *width = coef(cfg->plus.width, m, cfg->plus.beta, cfg->plus.phi);
    *depth = coef(cfg->plus.depth, m, cfg->plus.alpha, cfg->plus.phi);
}

Config plus_at(const Config *cfg, long m) {
    Config g = *cfg;
    g.plus.generation = m;
    return g;
}

// The retrained top-1 of generation m: the mean over its searched network's [retrain] seeds
// (retrain.json, retrain_seed<s>.json) made from the same architecture as seed 1, as the
// report's results table counts them; NAN when it has no retrain.json.
static double retrained_top1(const Config *cfg, long m) {
    Config g = plus_at(cfg, m);
    char stem[64], path[1100], digest[64] = "";
    double sum = 0;
    int n = 0;
    for (long s = 1; s <= cfg->retrain.seeds; s++) {
        seed_stem("retrain", s, stem, sizeof stem - 5);
        strcat(stem, ".json");
        config_run_path(&g, stem, path, sizeof path);
        char *txt = text_read(path);
        if (!txt) {
            if (s == 1) return NAN;
            continue;
        }
        cJSON *o = cJSON_Parse(txt);
        const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, "top1") : NULL;
        const cJSON *d = o ? cJSON_GetObjectItemCaseSensitive(o, "arch_digest") : NULL;
        double top1 = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        const char *dig = cJSON_IsString(d) ? d->valuestring : "";
        DNA_CHECK(isfinite(top1), "delete it and rerun that generation's retrain",
                  "'%s' has no number 'top1'", path);
        if (s == 1) snprintf(digest, sizeof digest, "%s", dig);
        if (!strcmp(dig, digest)) sum += top1, n++;  // else an older architecture's seed
        cJSON_Delete(o);
        free(txt);
    }
    return sum / n;
}

double plus_tau(const RunCtx *ctx, const Config *cfg, long a, long b, double *tau, int *nblocks) {
    Config ga = plus_at(cfg, a), gb = plus_at(cfg, b);
    char pa[1100], pb[1100], ta[1100], tb[1100];
    config_run_path(&ga, "potentials.h5", pa, sizeof pa);
    config_run_path(&gb, "potentials.h5", pb, sizeof pb);
    config_run_path(&ga, "teacher.h5", ta, sizeof ta);
    config_run_path(&gb, "teacher.h5", tb, sizeof tb);
    *nblocks = 0;
    if (!file_exists(pa) || !file_exists(pb) || !file_exists(ta) || !file_exists(tb)) return NAN;
    Space sa, sb;
    stage_space(ctx, &ga, &sa, NULL, NULL);
    stage_space(ctx, &gb, &sb, NULL, NULL);
    Potentials xa, xb;
    potentials_load(pa, &sa, &xa);
    potentials_load(pb, &sb, &xb);
    double mean = 0;
    for (int k = 0; k < xa.nblocks; k++) {
        long n = 0;
        for (int c = 0; c < xa.ncells[k]; c++) n += (long)xa.cell[k][c].npaths;
        double *x = dna_malloc((size_t)n * sizeof *x), *y = dna_malloc((size_t)n * sizeof *y);
        long i = 0;
        for (int c = 0; c < xa.ncells[k]; c++)
            for (int64_t p = 0; p < xa.cell[k][c].npaths; p++, i++)
                x[i] = xa.cell[k][c].score[p], y[i] = xb.cell[k][c].score[p];
        tau[k] = rank_kendall_tau(x, y, n);
        mean += tau[k] / xa.nblocks;
        free(x), free(y);
    }
    *nblocks = xa.nblocks;
    potentials_free(&xa), potentials_free(&xb);
    return mean;
}

// Did generation j (>= 2) end the run by the stop rule? Reads generation j's and j-1's results.
static int ended_after(const RunCtx *ctx, const Config *cfg, long j, char *why, size_t n) {
    const PlusCfg *p = &cfg->plus;
    if (!strcmp(p->stop, "top1")) {
        double a = retrained_top1(cfg, j - 1), b = retrained_top1(cfg, j);
        DNA_CHECK(isfinite(a) && isfinite(b),
                  "run the earlier generations' retrain first (`dna plus CFG` runs them in order)",
                  "plus.stop = top1 needs the retrained top-1 of generations %ld and %ld", j - 1,
                  j);
        snprintf(
            why, n,
            "generation %ld retrained to %.2f%%, %+.2f points on generation %ld (plus.min_gain %g)",
            j, 100 * b, 100 * (b - a), j - 1, p->min_gain);
        return 100 * (b - a) < p->min_gain;
    }
    if (!strcmp(p->stop, "tau")) {
        double tau[SPACE_MAX_BLOCKS];
        int nb;
        double t = plus_tau(ctx, cfg, j - 1, j, tau, &nb);
        DNA_CHECK(isfinite(t) || nb > 0,
                  "run the earlier generations' rate first (`dna plus CFG` runs them in order)",
                  "plus.stop = tau needs the path ratings of generations %ld and %ld", j - 1, j);
        snprintf(why, n,
                 "generation %ld's path ratings agree with generation %ld's at mean tau %.3f "
                 "(plus.max_tau %g)",
                 j, j - 1, t, p->max_tau);
        return t >= p->max_tau;
    }
    return 0;
}

int plus_ended_before(const RunCtx *ctx, const Config *cfg, long m, char *why, size_t n) {
    int ended = 0;
    why[0] = 0;
    if (ctx->rank == 0)
        for (long j = 2; j < m && !ended; j++) ended = ended_after(ctx, cfg, j, why, n);
    ended = par_bcast_int(ended);
    char *text = par_bcast_text(ctx->rank == 0 ? why : NULL);
    snprintf(why, n, "%s", text);
    free(text);
    return ended;
}

int plus_run(RunCtx *ctx, const Commands *all, const Config *cfg) {
    char dir[1100];
    for (long m = 2; m <= cfg->plus.generations; m++) {
        Config g = plus_at(cfg, m);
        char why[512];
        if (plus_ended_before(ctx, &g, m, why, sizeof why)) {
            log_info(ctx, "plus: generations end before %ld: %s", m, why);
            break;
        }
        config_run_path(&g, NULL, dir, sizeof dir);
        if (ctx->rank == 0) make_dirs(dir);
        par_barrier();
        for (int order = 2;; order++) {  // data (order 1) is generation 1's, shared
            const Stage *st = runner_at(all, order);
            if (!st) break;
            runner_open_logs(ctx, dir, st->name, st->metrics);
            log_info(ctx, "plus: generation %ld, stage %s", m, st->name);
            if (runner_stage(ctx, all, &g, st, 0) == STAGE_STOPPED) return STAGE_STOPPED;
        }
    }
    // the root report again: its generations table covers them all
    config_run_path(cfg, NULL, dir, sizeof dir);
    runner_open_logs(ctx, dir, STAGE_REPORT.name, 0);
    return runner_stage(ctx, all, cfg, &STAGE_REPORT, 0);
}

// `dna plus CFG [section.key=value ...]`: generations 2..plus.generations of a run whose
// generation 1 is complete (or runs it first with `dna run`).
static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    Config cfg;
    DNA_CHECK(!runner_args(ctx, NULL, argc, argv, &cfg),
              "rerun single stages with --force (plus.generation=M selects the generation)",
              "plus: --force is not supported");
    DNA_CHECK(cfg.plus.generation == 1, "leave plus.generation out: `dna plus` runs them all",
              "plus: plus.generation = %ld", cfg.plus.generation);
    runner_prepare(ctx, &cfg, argc, argv);
    char dir[1100], arch[1100];
    config_run_path(&cfg, NULL, dir, sizeof dir);
    config_run_path(&cfg, "arch.json", arch, sizeof arch);
    runner_open_logs(ctx, dir, "plus", 0);
    DNA_CHECK(par_bcast_int(ctx->rank == 0 && file_exists(arch)),  // rank 0 decides
              "run generation 1 first: `dna run CFG` (with plus.generations it runs every "
              "generation)",
              "plus: generation 1 has no searched network '%s'", arch);
    int rc = plus_run(ctx, all, &cfg);
    runner_close_logs(ctx);
    runner_unlock(ctx);
    return rc == STAGE_STOPPED ? DNA_EXIT_REQUEUE : 0;
}

const Stage STAGE_PLUS = {
    .name = "plus",
    .help =
        "DNA+: generations 2..plus.generations (scaled teacher, train, rate, search, "
        "retrain) in <run>/gen<m>/, after generation 1",
    .command = command,
};

// ---------------------------------------------------------------- report

typedef struct GenRow {
    double t_params, t_macs, t_top1, params, macs, score, top1, tau, tau_bench;
    double tau_block[SPACE_MAX_BLOCKS];
    int nblocks;
} GenRow;

static void gen_row(const RunCtx *ctx, const Config *cfg, long m, GenRow *r) {
    Config g = plus_at(cfg, m);
    char path[1100];
    *r = (GenRow){.t_params = NAN,
                  .t_macs = NAN,
                  .t_top1 = NAN,
                  .params = NAN,
                  .macs = NAN,
                  .score = NAN,
                  .top1 = NAN,
                  .tau = NAN,
                  .tau_bench = NAN};
    config_run_path(&g, "teacher.h5", path, sizeof path);
    if (file_exists(path)) {
        Teacher t;
        teacher_load(ctx->be, path, &t);
        r->t_params = (double)effnet_param_count(&t.net.cfg);
        r->t_macs = (double)effnet_macs(&t.net.cfg, t.in_hw);
        r->t_top1 = t.top1 >= 0 ? t.top1 : NAN;
        teacher_free(ctx->be, &t);
    }
    config_run_path(&g, "arch.json", path, sizeof path);
    if (file_exists(path)) {
        Arch a;
        arch_load(path, &a);
        r->params = (double)arch_params(&a), r->macs = (double)arch_macs(&a), r->score = a.score;
    }
    r->top1 = retrained_top1(cfg, m);
    config_run_path(&g, "rank_dna.json", path, sizeof path);
    char *txt = text_read(path);
    cJSON *o = txt ? cJSON_Parse(txt) : NULL, *k = o ? cJSON_GetObjectItem(o, "kendall_tau") : NULL;
    const cJSON *v = k ? cJSON_GetObjectItem(k, "value") : NULL;
    if (cJSON_IsNumber(v)) r->tau_bench = v->valuedouble;
    cJSON_Delete(o);
    free(txt);
    if (m > 1) r->tau = plus_tau(ctx, cfg, m - 1, m, r->tau_block, &r->nblocks);
}

static void cell(FILE *f, const char *fmt, double v, double scale) {
    if (isfinite(v))
        fprintf(f, fmt, v * scale);
    else
        fprintf(f, " – |");
}

void plus_report(const RunCtx *ctx, const Config *cfg, const char *dir, FILE *f) {
    Config root = plus_at(cfg, 1);
    long n = 1;
    for (char path[1100];; n++) {
        Config g = plus_at(&root, n + 1);
        config_run_path(&g, NULL, path, sizeof path);
        if (n == PLUS_MAX_GENERATIONS || !file_exists(path)) break;
    }
    if (n < 2 && cfg->plus.generations < 2) return;
    GenRow rows[PLUS_MAX_GENERATIONS];
    for (long m = 1; m <= n; m++) gen_row(ctx, &root, m, &rows[m - 1]);
    fprintf(
        f,
        "## DNA+ generations\n\n"
        "Generation 1 is this run; generation m >= 2 (`gen<m>/`) trained generation m-1's "
        "searched network, scaled, as its teacher, then searched again (plus.stop = %s). "
        "τ vs bench: Kendall's τ of the generation's predicted scores against the bench's "
        "true top-1 (`dna rank CFG plus.generation=M`, when a bench exists); τ vs previous: "
        "of every path's rating against the previous generation's, per block.\n\n"
        "| generation | scaling (width, depth) | teacher params | teacher MACs | teacher top-1 | "
        "searched params | searched MACs | predicted score | retrained top-1 | τ vs bench | "
        "τ vs previous (mean; per block) "
        "|\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        cfg->plus.stop);
    for (long m = 1; m <= n; m++) {
        const GenRow *r = &rows[m - 1];
        double w, d;
        if (m > 1)
            plus_coef(cfg, m, &w, &d), fprintf(f, "| %ld | %.3g, %.3g |", m, w, d);
        else
            fprintf(f, "| 1 | the given teacher |");
        cell(f, " %.0f |", r->t_params, 1);
        cell(f, " %.2fM |", r->t_macs, 1e-6);
        cell(f, " %.2f%% |", r->t_top1, 100);
        cell(f, " %.0f |", r->params, 1);
        cell(f, " %.2fM |", r->macs, 1e-6);
        cell(f, " %.4f |", r->score, 1);
        cell(f, " %.2f%% |", r->top1, 100);
        cell(f, " %.3f |", r->tau_bench, 1);
        if (r->nblocks) {
            fprintf(f, " %.3f;", r->tau);
            for (int k = 0; k < r->nblocks; k++) fprintf(f, " %.3f", r->tau_block[k]);
            fprintf(f, " |\n");
        } else {
            fprintf(f, " – |\n");
        }
    }
    char *body = NULL, png[1200], title[160];
    size_t len = 0;
    FILE *g = open_memstream(&body, &len);
    fprintf(g, "$d << EOD\n");
    for (long m = 1; m <= n; m++)
        fprintf(g, "%ld %.4f %.4f\n", m, 100 * rows[m - 1].t_top1, 100 * rows[m - 1].top1);
    snprintf(title, sizeof title, "DNA+: test top-1 per generation");
    fprintf(g,
            "EOD\nset title '%s'\nset xlabel 'generation'\nset ylabel 'test top-1 (%%)'\n"
            "set xtics 1\nset grid\nset key bottom right\nset datafile missing 'nan'\n"
            "plot $d using 1:2 with linespoints title 'teacher', "
            "$d using 1:3 with linespoints title 'searched network, retrained'\n",
            title);
    fclose(g);
    snprintf(png, sizeof png, "%s/generations.png", dir);
    int drawn = plot_png(png, 640, 400, body) == 0;
    free(body);
    fprintf(f, drawn ? "\n![top-1 per generation](report/generations.png)\n\n"
                     : "\nNo generations figure: gnuplot failed.\n\n");
}
