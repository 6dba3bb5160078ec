// `dna report` (the last stage of `dna run`): the run's report and record, made from the
// files the other stages left in the run directory, on rank 0, regenerated every time.
//   report.md          results (teacher, searched and random networks retrained: top-1,
//                      its spread over [retrain] seeds, params, multiply-adds, predicted
//                      score; the searched-vs-random verdict against that spread, see
//                      stages/seeds.h), time per stage, figures, the searched architecture,
//                      the run record's essentials
//   report/loss.png    every (block, cell) job's distillation loss per step, a panel per block
//   report/frontier.png  the score-vs-parameters frontier, the chosen and the random networks
//   report/arch.png    the searched network drawn layer by layer (the paper's Fig. 13)
//   run.json           the run record: config hash, seed, versions of dna and its libraries,
//                      git revision, ranks x threads, every stage's wall time (stages.csv)
// Missing inputs (a stage not run yet) leave their rows or figures out, with a note.

#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "io/arch.h"
#include "io/files.h"
#include "io/h5.h"
#include "io/plot.h"
#include "io/teacher.h"
#include "par/par.h"
#include "stages/plus.h"
#include "stages/seeds.h"
#include "stages/stages.h"
#include "tensor/ops.h"
#include "train/cotrain.h"

enum { MAX_RANDOM = 16, MAX_STAGES = 256 };
static const char *STAGE_ORDER[] = {"data", "teacher", "features", "train",
                                    "rate", "search",  "retrain",  "report"};
enum { NSTAGE_ORDER = sizeof STAGE_ORDER / sizeof STAGE_ORDER[0] };

// One retrained (or only searched) network's row of the results table: its seeds' files
// <res>.json, <res>_seed<s>.json (s <= [retrain] seeds), those present and made from the
// same architecture file as the first.
typedef struct Row {
    char label[64], arch[1100];
    int have_arch, retrained, stale;   // stale: seed files of another architecture, left out
    double params, macs, score, secs;  // secs: summed over the seeds
    double top1;                       // the mean over the seeds (NAN: not retrained)
    double seed_top1[MAX_SEEDS];
    SeedSpread seeds;
    long epochs;
} Row;

typedef struct StageTime {
    char name[32], when[32], rev[48];
    double secs;
    int ranks, threads;
} StageTime;

static double jnum(const cJSON *o, const char *key, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    DNA_CHECK(cJSON_IsNumber(v), "rerun `dna retrain CFG --force` to rewrite it",
              "'%s' has no number '%s'", path, key);
    return v->valuedouble;
}

// The row of architecture file `arch` (run-relative name) and its retrain results, the seed
// files of run-relative stem `res` ("retrain", "retrain_random_1").
static void load_row(const Config *cfg, const char *label, const char *arch, const char *res,
                     Row *r) {
    char path[1100], stem[300], digest[64] = "";
    *r = (Row){.top1 = NAN, .secs = NAN, .score = NAN};
    snprintf(r->label, sizeof r->label, "%s", label);
    config_run_path(cfg, arch, r->arch, sizeof r->arch);
    if (file_exists(r->arch)) {
        Arch a;
        arch_load(r->arch, &a);
        r->have_arch = 1;
        r->params = (double)arch_params(&a), r->macs = (double)arch_macs(&a), r->score = a.score;
    }
    for (long s = 1; s <= cfg->retrain.seeds; s++) {
        seed_stem(res, s, stem, sizeof stem);
        snprintf(stem + strlen(stem), sizeof stem - strlen(stem), ".json");
        config_run_path(cfg, stem, path, sizeof path);
        char *txt = text_read(path);
        if (!txt) continue;
        cJSON *o = cJSON_Parse(txt);
        DNA_CHECK(o, "delete it and rerun `dna retrain CFG`", "'%s' is not valid JSON", path);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "arch_digest");
        const char *dig = cJSON_IsString(d) ? d->valuestring : "";
        if (!r->retrained) snprintf(digest, sizeof digest, "%s", dig);
        if (strcmp(dig, digest)) {
            r->stale++;  // an older architecture's seed: `dna retrain` retrains it
        } else {
            r->seed_top1[r->seeds.n] = jnum(o, "top1", path);
            r->secs = (r->retrained ? r->secs : 0) + jnum(o, "seconds", path);
            r->params = jnum(o, "params", path), r->macs = jnum(o, "macs", path);
            r->epochs = (long)jnum(o, "epochs", path);
            r->retrained = 1, r->seeds.n++;
        }
        cJSON_Delete(o);
        free(txt);
    }
    if (r->retrained) r->seeds = seed_spread(r->seed_top1, r->seeds.n), r->top1 = r->seeds.mean;
}

// stages.csv -> the last entry of every stage (a stage rerun with --force replaces its time).
static int load_times(const Config *cfg, StageTime *st, StageTime *all, int *nall) {
    char path[1100], line[512];
    config_run_path(cfg, "stages.csv", path, sizeof path);
    int n = 0;
    *nall = 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        StageTime t = {0};
        if (sscanf(line, "%31[^,],%lf,%d,%d,%31[^,],%47[^,\n]", t.name, &t.secs, &t.ranks,
                   &t.threads, t.when, t.rev) != 6)
            continue;  // the header
        if (*nall < MAX_STAGES) all[(*nall)++] = t;
        int j = 0;
        while (j < n && strcmp(st[j].name, t.name)) j++;
        if (j == n && n == MAX_STAGES) continue;
        if (j == n) n++;
        st[j] = t;
    }
    fclose(f);
    return n;
}

// Per-step MSE of every job, smoothed by a moving mean, one panel per block.
static int plot_loss(const Config *cfg, const char *dir, int nblocks) {
    char png[1200], path[1100], *body;
    size_t len;
    FILE *g = open_memstream(&body, &len);  // a script of any length
    fprintf(g,
            "set multiplot layout 1,%d title 'block-wise distillation: "
            "training MSE per step (moving mean)'\nset grid\nset logscale y\n"
            "set xlabel 'step'\n",
            nblocks);
    int any = 0;
    for (int k = 0; k < nblocks; k++) {
        fprintf(g, "set title 'block %d'\nplot ", k + 1);
        int drawn = 0;
        for (int c = 0; c < SPACE_MAX_CELLS; c++) {
            char name[64], dat[1200];
            snprintf(name, sizeof name, "ckpt/block%d_cell%d.h5", k + 1, c + 1);
            config_run_path(cfg, name, path, sizeof path);
            if (!file_exists(path)) continue;
            hid_t f = h5_open_read(path);
            if (!h5_has(f, "loss")) {
                h5_close(f);
                continue;
            }
            size_t n;
            int nd;
            long dims[8];
            float *l = h5_read_f32(f, path, "loss", &n, &nd, dims);
            h5_close(f);
            snprintf(dat, sizeof dat, "%s/loss_b%d_c%d.dat", dir, k + 1, c + 1);
            TextOut out;
            FILE *o = textout_open(&out, dat);
            long w = n / 50 > 1 ? (long)n / 50 : 1;
            double run = 0;
            for (long i = 0; i < (long)n; i++) {
                run += l[i] - (i >= w ? l[i - w] : 0);
                if (i >= w - 1) fprintf(o, "%ld %.6g\n", i + 1, run / (double)w);
            }
            textout_commit(&out);
            free(l);
            char q[2300];
            fprintf(g, "%s%s using 1:2 with lines lw 1.5 title 'cell %d'", drawn ? ", " : "",
                    plot_str(q, sizeof q, dat), c + 1);
            drawn = any = 1;
        }
        fprintf(g, "%s\n", drawn ? "" : "NaN notitle");
    }
    fprintf(g, "unset multiplot\n");
    snprintf(png, sizeof png, "%s/loss.png", dir);
    fclose(g);
    int ok = any && plot_png(png, 420 * nblocks, 420, body) == 0;
    free(body);
    return ok;
}

static int plot_frontier(const Config *cfg, const char *dir, const Row *rows, int nrows) {
    char csv[1100], png[1200], q[2300], *body;
    size_t len;
    config_run_path(cfg, "frontier.csv", csv, sizeof csv);
    if (!file_exists(csv) || !rows[0].have_arch) return 0;
    FILE *g = open_memstream(&body, &len);
    fprintf(g,
            "set datafile separator ','\nset key top right\nset grid\n"
            "set xlabel 'parameters of the standalone network'\n"
            "set ylabel 'predicted score (sum of block scores, lower is better)'\n"
            "set title 'score-vs-parameters frontier, the searched and the random networks'\n"
            "plot %s using 2:4 with linespoints pt 7 ps 0.6 title 'frontier', "
            "'-' using 1:2 with points pt 9 ps 2.5 lc rgb 'red' title 'searched'",
            plot_str(q, sizeof q, csv));
    int nrand = 0;
    for (int i = 1; i < nrows; i++) nrand += rows[i].have_arch;
    if (nrand)
        fprintf(g,
                ", '-' using 1:2 with points pt 5 ps 1.5 lc rgb 'gray40' "
                "title 'random'");
    fprintf(g, "\n%.0f,%.9g\ne\n", rows[0].params, rows[0].score);
    if (nrand) {
        for (int i = 1; i < nrows; i++)
            if (rows[i].have_arch) fprintf(g, "%.0f,%.9g\n", rows[i].params, rows[i].score);
        fprintf(g, "e\n");
    }
    snprintf(png, sizeof png, "%s/frontier.png", dir);
    fclose(g);
    int ok = plot_png(png, 900, 600, body) == 0;
    free(body);
    return ok;
}

// A ViT architecture's blocks as boxes: the embedding, one box per transformer block
// (height: MLP ratio / 4, labelled with the width and heads), the output projection; the
// block's stride and teacher-shaped output underneath.
static void vit_boxes(FILE *g, const Arch *a, double *x, int *obj) {
    for (int k = 0; k < a->nblocks; k++) {
        const VitStageCfg *v = &a->block[k].vs;
        double x0 = *x, r = (double)v->hidden / v->dim;
        fprintf(g,
                "set object %d rect from %.2f,0 to %.2f,0.4 fc rgb '#bbbbbb' fs solid 0.8 border "
                "lc rgb 'black'\nset label 'embed %dx%d' at %.2f,0.2 center rotate by 90\n",
                (*obj)++, *x, *x + 0.8, v->in_hw / v->out_hw, v->in_hw / v->out_hw, *x + 0.4);
        *x += 1.0;
        for (int l = 0; l < v->depth; l++, *x += 1.0)
            fprintf(g,
                    "set object %d rect from %.2f,0 to %.2f,%.3f fc rgb '#377eb8' fs solid 0.75 "
                    "border lc rgb 'black'\nset label 'd%d h%d r%g' at %.2f,%.3f center rotate by "
                    "90 front\n",
                    (*obj)++, *x, *x + 0.8, r / 4, v->dim, v->dim / v->head_dim, r, *x + 0.4,
                    r / 8);
        fprintf(g,
                "set object %d rect from %.2f,0 to %.2f,0.4 fc rgb '#bbbbbb' fs solid 0.8 border "
                "lc rgb 'black'\nset label 'out %d' at %.2f,0.2 center rotate by 90\n",
                (*obj)++, *x, *x + 0.8, v->cout, *x + 0.4);
        *x += 1.0;
        fprintf(g,
                "set label 'block %d: %s' at %.2f,-0.12 center\nset label '%dx%d -> %dx%dx%d' at "
                "%.2f,-0.24 center\n",
                k + 1, "ViT", (x0 + *x - 0.2) / 2, v->in_hw, v->in_hw, v->cout, v->out_hw,
                v->out_hw, (x0 + *x - 0.2) / 2);
        *x += 0.6;
    }
}

// The searched network as boxes: one per layer (height: expansion, colour: kernel), grouped by
// block with the block's cell, width and stride underneath; stem and head at the ends.
static int plot_arch(const char *dir, const Arch *a) {
    static const char *KCOL[] = {"#4daf4a", "#377eb8", "#e41a1c", "#984ea3"};
    char png[1200], *body;
    size_t len;
    FILE *g = open_memstream(&body, &len);
    double x = 0;
    int obj = 1;
    if (a->vit) {
        vit_boxes(g, a, &x, &obj);
    } else {
        fprintf(g,
                "set object %d rect from %.2f,0 to %.2f,0.5 fc rgb '#bbbbbb' fs solid 0.8 border "
                "lc rgb "
                "'black'\nset label 'stem %d s%d' at %.2f,0.25 center rotate by 90\n",
                obj++, x, x + 0.8, a->stem, a->stem_stride, x + 0.4);
        x += 1.4;
        for (int k = 0; k < a->nblocks; k++) {
            const ArchBlock *b = &a->block[k];
            double x0 = x;
            for (int l = 0; l < b->depth; l++) {
                double h = b->op[l].expand / 6.0;
                int kc = b->op[l].k <= 3 ? 0 : b->op[l].k <= 5 ? 1 : b->op[l].k <= 7 ? 2 : 3;
                fprintf(
                    g,
                    "set object %d rect from %.2f,0 to %.2f,%.3f fc rgb '%s' fs solid 0.75 border "
                    "lc "
                    "rgb 'black'\nset label 'MB%d %dx%d' at %.2f,%.3f center rotate by 90 front\n",
                    obj++, x, x + 0.8, h, KCOL[kc], b->op[l].expand, b->op[l].k, b->op[l].k,
                    x + 0.4, h / 2);
                x += 1.0;
            }
            fprintf(g,
                    "set label 'block %d: cell %d' at %.2f,-0.12 center\nset label 'c%d s%d' at "
                    "%.2f,-0.24 "
                    "center\n",
                    k + 1, b->cell + 1, (x0 + x - 0.2) / 2, b->width, b->stride,
                    (x0 + x - 0.2) / 2);
            x += 0.6;
        }
    }
    fprintf(
        g,
        "set object %d rect from %.2f,0 to %.2f,0.5 fc rgb '#bbbbbb' fs solid 0.8 border lc rgb "
        "'black'\nset label 'head %d, fc %d' at %.2f,0.25 center rotate by 90\n",
        obj++, x, x + 0.8, a->head, a->classes, x + 0.4);
    x += 0.8;
    fprintf(g,
            "set title 'searched network, %ld parameters, %.2fM multiply-adds %s'\n"
            "unset border\nunset tics\nunset key\nset xrange [-0.3:%.2f]\nset yrange [-0.35:1.1]\n"
            "plot NaN notitle\n",
            arch_params(a), arch_macs(a) / 1e6,
            a->vit ? "(box height: MLP ratio / 4; grey: embedding and output projection)"
                   : "(box height: expansion; colour: kernel 3 green, 5 blue, 7 red)",
            x + 0.3);
    snprintf(png, sizeof png, "%s/arch.png", dir);
    int w = (int)(60 * x) + 120;
    fclose(g);
    int ok = plot_png(png, w > 1000 ? w : 1000, 420, body) == 0;
    free(body);
    return ok;
}

static void write_record(const RunCtx *ctx, const Config *cfg, const StageTime *all, int nall) {
    char path[1100], hash[17], buf[512], host[256] = "";
    config_hash(cfg, hash);
    gethostname(host, sizeof host - 1);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "dnafam-run-record");
    cJSON_AddNumberToObject(o, "version", 1);
    cJSON_AddStringToObject(o, "run", cfg->run.name);
    cJSON_AddStringToObject(o, "config", cfg->path[0] ? cfg->path : "(built-in defaults)");
    cJSON_AddStringToObject(o, "config_hash", hash);
    cJSON_AddNumberToObject(o, "seed", (double)cfg->run.seed);
    cJSON *v = cJSON_AddObjectToObject(o, "versions");
    cJSON_AddStringToObject(v, "dna", ctx->version);
    cJSON_AddStringToObject(v, "git_rev", ctx->git_rev);
    cJSON_AddStringToObject(v, "backend", ctx->be->name);
    cJSON_AddStringToObject(v, "backend_library",
                            ctx->be->lib_version ? ctx->be->lib_version() : "");
    par_library_version(buf, sizeof buf);
    cJSON_AddStringToObject(v, "mpi", buf);
    h5_library_version(buf, sizeof buf);
    cJSON_AddStringToObject(v, "hdf5", buf);
#if defined(__clang__)
    cJSON_AddStringToObject(v, "compiler", "clang " __VERSION__);
#elif defined(__GNUC__)
    cJSON_AddStringToObject(v, "compiler", "gcc " __VERSION__);
#endif
    cJSON_AddStringToObject(o, "host", host);
    cJSON_AddNumberToObject(o, "ranks", ctx->nranks);
    cJSON_AddNumberToObject(o, "threads_per_rank", omp_get_max_threads());
    cJSON *arr = cJSON_AddArrayToObject(o, "stages");
    for (int i = 0; i < nall; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "stage", all[i].name);
        cJSON_AddNumberToObject(s, "seconds", all[i].secs);
        cJSON_AddNumberToObject(s, "ranks", all[i].ranks);
        cJSON_AddNumberToObject(s, "threads", all[i].threads);
        cJSON_AddStringToObject(s, "finished_utc", all[i].when);
        cJSON_AddStringToObject(s, "git_rev", all[i].rev);
        cJSON_AddItemToArray(arr, s);
    }
    char *js = cJSON_Print(o);
    config_run_path(cfg, "run.json", path, sizeof path);
    TextOut out;
    FILE *f = textout_open(&out, path);
    fprintf(f, "%s\n", js);
    textout_commit(&out);
    free(js);
    cJSON_Delete(o);
}

// "87.09%", or over several seeds "86.92% (2 seeds: 86.75–87.09, spread 0.34[, std 0.18])".
static void fmt_top1(const Row *r, char *buf, size_t n) {
    const SeedSpread *s = &r->seeds;
    if (!r->retrained) {
        snprintf(buf, n, "not retrained");
        return;
    }
    int len = snprintf(buf, n, "%.2f%%", 100.0 * s->mean);
    if (s->n >= 2)
        len += snprintf(buf + len, n - (size_t)len, " (%d seeds: %.2f–%.2f, spread %.2f", s->n,
                        100.0 * s->min, 100.0 * s->max, 100.0 * s->spread);
    if (s->n >= 3) len += snprintf(buf + len, n - (size_t)len, ", std %.2f", 100.0 * s->std);
    if (s->n >= 2) snprintf(buf + len, n - (size_t)len, ")");
}

// The budgets the search ran under, from arch.json's provenance (`dna search --max-params`
// may have differed from this config); the config's when the file does not say.
static void search_budget(const Config *cfg, const Row *searched, double *params, double *macs) {
    *params = cfg->search.max_params, *macs = cfg->search.max_macs;
    char *txt = searched->have_arch ? text_read(searched->arch) : NULL;
    cJSON *o = txt ? cJSON_Parse(txt) : NULL;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "provenance");
    const cJSON *mp = cJSON_GetObjectItemCaseSensitive(p, "max_params");
    const cJSON *mm = cJSON_GetObjectItemCaseSensitive(p, "max_macs");
    if (cJSON_IsNumber(mp)) *params = mp->valuedouble;
    if (cJSON_IsNumber(mm)) *macs = mm->valuedouble;
    cJSON_Delete(o);
    free(txt);
}

// DNA++: the collapse guard's curves of ckpt/ssl.h5 (per epoch and block: the loss terms and
// the mean std of Z and Z-hat, train/cotrain.h) as a table of the last epoch and a figure of
// the stds against gamma/10, the guard's threshold. Returns 1 when the figure was drawn.
static int ssl_section(FILE *f, const Config *cfg, const char *dir, int K) {
    char path[1100];
    config_run_path(cfg, "ckpt/ssl.h5", path, sizeof path);
    if (!config_ssl(cfg) || !file_exists(path)) return 0;
    hid_t h = h5_open_read(path);
    size_t n;
    int nd;
    long dims[8];
    float *c = h5_read_f32(h, path, "shared0", &n, &nd, dims);  // flat [epochs, K, T]
    h5_close(h);
    int T = COTRAIN_TERMS, E = (int)(n / ((size_t)K * T)), last = -1;
    for (int e = 0; e < E; e++)
        if (isfinite(c[(size_t)e * K * T])) last = e;
    fprintf(f,
            "## DNA++ co-training\n\nThe teacher and the students were co-trained "
            "self-supervised (Eqns 10-11, `[train] mode = ssl`, `[ssl] init = %s`); paths are "
            "rated on projected features. The last epoch's loss terms and the mean std of the "
            "projections per block (collapse: below gamma/10 = %g):\n\n"
            "| block | distance | covariance | variance | std Z | std Z-hat |\n"
            "|---:|---:|---:|---:|---:|---:|\n",
            cfg->ssl.init, cfg->ssl.gamma / 10);
    for (int k = 0; last >= 0 && k < K; k++) {
        const float *v = c + ((size_t)last * K + k) * T;
        fprintf(f, "| %d | %.4f | %.4f | %.4f | %.3f | %.3f |\n", k + 1, v[0], v[1], v[2], v[3],
                v[4]);
    }
    fprintf(f, "\n");
    char dat[1200], png[1200], q[2300];
    snprintf(dat, sizeof dat, "%s/ssl_std.dat", dir);
    TextOut out;
    FILE *o = textout_open(&out, dat);
    for (int e = 0; e <= last; e++) {
        fprintf(o, "%d", e + 1);
        for (int k = 0; k < K; k++)
            fprintf(o, " %.6g %.6g", c[((size_t)e * K + k) * T + 3],
                    c[((size_t)e * K + k) * T + 4]);
        fprintf(o, "\n");
    }
    textout_commit(&out);
    free(c);
    char *body;
    size_t len;
    FILE *g = open_memstream(&body, &len);
    fprintf(g,
            "set grid\nset xlabel 'epoch'\nset ylabel 'mean std over channels'\n"
            "set title 'DNA++ collapse guard'\nset key outside right\nplot ");
    for (int k = 0; k < K; k++)
        fprintf(g,
                "%s using 1:%d with linespoints title 'block %d Z', '' using 1:%d with "
                "linespoints dt 2 title 'block %d Z-hat', ",
                plot_str(q, sizeof q, dat), 2 + 2 * k, k + 1, 3 + 2 * k, k + 1);
    fprintf(g, "%g with lines lc rgb 'red' title 'gamma/10'\n", cfg->ssl.gamma / 10);
    fclose(g);
    snprintf(png, sizeof png, "%s/ssl_std.png", dir);
    int ok = last >= 0 && plot_png(png, 720, 420, body) == 0;
    free(body);
    if (ok) fprintf(f, "![collapse guard](report/ssl_std.png)\n\n");
    return ok;
}

static void results_table(FILE *f, const Config *cfg, const Teacher *t, const Row *rows,
                          int nrows) {
    fprintf(f,
            "## Results\n\n| network | parameters | multiply-adds | predicted score | test top-1 "
            "| retrain time |\n|---|---:|---:|---:|---:|---:|\n");
    if (t && t->top1 >= 0)
        fprintf(f, "| teacher (teacher.h5) | %ld | %ld | | %.2f%% | |\n",
                effnet_param_count(&t->net.cfg), effnet_macs(&t->net.cfg, t->in_hw),
                100.0 * t->top1);
    else if (t)  // DNA++ from random weights: the teacher never saw a label
        fprintf(f, "| teacher (co-trained, DNA++) | %ld | %ld | | no labels | |\n",
                effnet_param_count(&t->net.cfg), effnet_macs(&t->net.cfg, t->in_hw));
    double sum[3] = {0}, rtop1[MAX_RANDOM];
    int nr = 0, stale = 0;
    for (int i = 0; i < nrows; i++) {
        const Row *r = &rows[i];
        stale += r->stale;
        if (!r->have_arch) continue;
        char top1[128], secs[64] = "";
        fmt_top1(r, top1, sizeof top1);
        if (r->retrained && r->seeds.n > 1)
            snprintf(secs, sizeof secs, "%.0f s for %d seeds, %ld ep. each", r->secs, r->seeds.n,
                     r->epochs);
        else if (r->retrained)
            snprintf(secs, sizeof secs, "%.0f s, %ld ep.", r->secs, r->epochs);
        fprintf(f, "| %s | %.0f | %.0f | %.4f | %s | %s |\n", r->label, r->params, r->macs,
                r->score, top1, secs);
        if (i > 0 && r->retrained && nr < MAX_RANDOM)
            sum[0] += r->params, sum[1] += r->macs, sum[2] += r->score, rtop1[nr++] = r->top1;
    }
    SeedSpread rs = seed_spread(rtop1, nr);
    if (nr > 1)
        fprintf(f,
                "| **mean of %d random** | %.0f | %.0f | %.4f | %.2f%% (%d networks: %.2f–%.2f, "
                "spread %.2f) | |\n",
                nr, sum[0] / nr, sum[1] / nr, sum[2] / nr, 100.0 * rs.mean, nr, 100.0 * rs.min,
                100.0 * rs.max, 100.0 * rs.spread);
    else if (nr == 1)
        fprintf(f, "| **mean of 1 random** | %.0f | %.0f | %.4f | %.2f%% | |\n", sum[0], sum[1],
                sum[2], 100.0 * rs.mean);
    double bp, bm;
    search_budget(cfg, &rows[0], &bp, &bm);
    fprintf(
        f,
        "\nBudget of the search (arch.json): max_params = %.0f, max_macs = %.0f (0 = none). Every "
        "network is "
        "retrained from scratch with the same [retrain] recipe (batch %ld, lr %g, the "
        "epochs in the table) and seed %ld; the random networks are uniform draws within the "
        "budget with at "
        "least 90%% of the searched network's parameters ([search] random = %ld, seed %ld). "
        "[retrain] seeds = %ld: the searched network is retrained with %ld seed%s (seed 1 draws "
        "from the streams every random network is retrained with), its top-1 is the mean over "
        "them; a spread is max - min, in points.\n\n",
        bp, bm, cfg->retrain.fit.batch, cfg->retrain.fit.lr, cfg->run.seed, cfg->search.random,
        cfg->run.seed, cfg->retrain.seeds, cfg->retrain.seeds, cfg->retrain.seeds > 1 ? "s" : "");
    if (stale)
        fprintf(f,
                "%d seed file(s) made from an earlier version of their architecture file are left "
                "out: `dna retrain CFG` retrains them.\n\n",
                stale);
    if (nr > 0 && rows[0].retrained) {
        char text[1500];
        seed_verdict_text(text, sizeof text, &rows[0].seeds, rtop1, nr, cfg->retrain.seeds);
        fprintf(f, "%s Its predicted score is %.4f against their mean %.4f (lower is better).\n\n",
                text, rows[0].score, sum[2] / nr);
    }
}

static void times_table(FILE *f, const StageTime *st, int n) {
    if (n == 0) {
        fprintf(f, "## Time per stage\n\nNo stage times recorded (stages.csv is missing).\n\n");
        return;
    }
    fprintf(f,
            "## Time per stage\n\n| stage | wall time | ranks x threads | finished (UTC) |\n"
            "|---|---:|---|---|\n");
    double total = 0;
    for (int o = 0; o < NSTAGE_ORDER; o++)
        for (int i = 0; i < n; i++)
            if (!strcmp(st[i].name, STAGE_ORDER[o])) {
                fprintf(f, "| %s | %.1f s | %d x %d | %s |\n", st[i].name, st[i].secs, st[i].ranks,
                        st[i].threads, st[i].when);
                total += st[i].secs;
            }
    fprintf(f,
            "| **sum** | %.1f s (%.1f min) | | |\n\nThe last run of each stage (all runs: "
            "stages.csv and run.json). A stage skipped because its output was complete keeps "
            "the time of the run that made it.\n\n",
            total, total / 60);
}

// A ViT architecture as a table: per block its stage.
static void vit_section(FILE *f, const Arch *a) {
    fprintf(f,
            "## Searched architecture\n\nA ViT (doc/design.md §4.4): per block an embedding "
            "with kernel = stride, transformer blocks, an output projection to the teacher's "
            "width; then the head.\n\n| block | width | heads | MLP ratio | depth | embedding "
            "| input | output |\n|---:|---:|---:|---:|---:|---|---|---|\n");
    for (int k = 0; k < a->nblocks; k++) {
        const VitStageCfg *v = &a->block[k].vs;
        fprintf(f, "| %d | %d | %d | %g | %d | %dx%d | %dx%dx%d | %dx%dx%d |\n", k + 1, v->dim,
                v->dim / v->head_dim, (double)v->hidden / v->dim, v->depth, v->in_hw / v->out_hw,
                v->in_hw / v->out_hw, v->cin, v->in_hw, v->in_hw, v->cout, v->out_hw, v->out_hw);
    }
    fprintf(f, "\nHead: 1x1 conv to %d, BN, swish, global average pool, classifier to %d.\n",
            a->head, a->classes);
}

// The searched architecture as a table and as timm's arch_def.
static void arch_section(FILE *f, const Arch *a) {
    if (a->vit) {
        vit_section(f, a);
        return;
    }
    fprintf(f,
            "## Searched architecture\n\n| block | cell | width | stride | layers |\n"
            "|---:|---:|---:|---:|---|\n");
    for (int k = 0; k < a->nblocks; k++) {
        fprintf(f, "| %d | %d | %d | %d | ", k + 1, a->block[k].cell + 1, a->block[k].width,
                a->block[k].stride);
        for (int l = 0; l < a->block[k].depth; l++)
            fprintf(f, "%sMB%d %dx%d", l ? ", " : "", a->block[k].op[l].expand, a->block[k].op[l].k,
                    a->block[k].op[l].k);
        fprintf(f, " |\n");
    }
    char *timm = arch_to_timm(a);
    fprintf(f,
            "\nAs timm's `arch_def` (`dna export arch.json --format timm`):\n\n```python\n%s```\n",
            timm);
    free(timm);
}

static int run(const RunCtx *ctx, const Config *cfg, int force) {
    (void)force;
    if (ctx->rank != 0) {
        par_barrier();
        return STAGE_RAN;
    }
    char dir[1100], path[1100], hash[17];
    config_run_path(cfg, "report", dir, sizeof dir);
    make_dirs(dir);
    config_hash(cfg, hash);

    Row rows[1 + MAX_RANDOM];
    int nrows = 1;
    load_row(cfg, "searched (arch.json)", "arch.json", "retrain", &rows[0]);
    for (long i = 1; i <= cfg->search.random && nrows <= MAX_RANDOM; i++, nrows++) {
        char label[64], arch[64], res[64];
        snprintf(label, sizeof label, "random %ld (random_%ld.json)", i, i);
        snprintf(arch, sizeof arch, "random_%ld.json", i);
        snprintf(res, sizeof res, "retrain_random_%ld", i);
        load_row(cfg, label, arch, res, &rows[nrows]);
    }
    Teacher t, *tp = NULL;
    config_run_path(cfg, "teacher.h5", path, sizeof path);
    if (file_exists(path)) teacher_load(ctx->be, path, &t), tp = &t;
    StageTime st[MAX_STAGES], all[MAX_STAGES];
    int nall, nst = load_times(cfg, st, all, &nall);
    write_record(ctx, cfg, all, nall);

    int have_loss = tp && plot_loss(cfg, dir, tp->net.cfg.nblocks);
    int have_front = plot_frontier(cfg, dir, rows, nrows);
    Arch a;
    int have_arch = rows[0].have_arch;
    if (have_arch) arch_load(rows[0].arch, &a);
    int have_draw = have_arch && plot_arch(dir, &a);

    config_run_path(cfg, "report.md", path, sizeof path);
    TextOut out;
    FILE *f = textout_open(&out, path);
    time_t now = time(NULL);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fprintf(f,
            "# dnafam run report: %s\n\nConfig `%s` (hash %s), seed %ld; dna %s, git %s; "
            "generated %s. The run record (versions, ranks, every stage's time) is `run.json`, "
            "the effective config `config.ini`.\n\n",
            cfg->run.name, cfg->path[0] ? cfg->path : "built-in defaults", hash, cfg->run.seed,
            ctx->version, ctx->git_rev, when);
    results_table(f, cfg, tp, rows, nrows);
    if (tp) ssl_section(f, cfg, dir, tp->net.cfg.nblocks);
    plus_report(ctx, cfg, dir, f);
    times_table(f, st, nst);
    fprintf(f, "## Figures\n\n");
    fprintf(f, have_loss ? "Per-job distillation loss (training MSE per step, moving mean over 2%% "
                           "of the steps):\n\n![loss](report/loss.png)\n\n"
                         : "No loss curves: no checkpoints yet, or gnuplot failed.\n\n");
    fprintf(f, have_front ? "Score-vs-parameters frontier of the exact search, the searched "
                            "network (red) and the random ones (gray):\n\n"
                            "![frontier](report/frontier.png)\n\n"
                          : "No frontier figure: no search yet, or gnuplot failed.\n\n");
    fprintf(f, have_draw ? "The searched network:\n\n![architecture](report/arch.png)\n\n"
                         : "No architecture drawing: no arch.json yet, or gnuplot failed.\n\n");
    if (have_arch) arch_section(f, &a);
    textout_commit(&out);
    if (tp) teacher_free(ctx->be, tp);
    log_info(ctx, "report: %s (figures in %s/), run record run.json", path, dir);
    par_barrier();
    return STAGE_RAN;
}

const Stage STAGE_REPORT = {
    .name = "report",
    .help = "report.md, figures (report/*.png) and the run record run.json of a run",
    .run = run,
    .order = 8,
    .writes = "report.md",
    .decides = 1,
};
