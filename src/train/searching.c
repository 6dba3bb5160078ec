// Search driver (see searching.h).
#include "train/searching.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/potentials.h"
#include "io/plot.h"
#include "io/textout.h"
#include "nas/arch.h"
#include "train/stage.h"

enum { STREAM_RANDOM = 500 };

static int width_index(const SpaceProblem *q, int k, int w) {
    for (int i = 0; i < q->nw[k]; i++)
        if (q->width[k][i] == w) return i;
    return -1;
}

void search_problem_build(const Space *sp, const EffNetCfg *t, int in_hw, const Potentials *pot,
                  const double budget[2], SpaceProblem *q) {
    memset(q, 0, sizeof *q);
    for (int k = 0; k < sp->nblocks; k++)
        for (int c = 0; c < sp->block[k].ncells; c++)
            if (width_index(q, k, sp->block[k].cell[c].width) < 0)
                q->width[k][q->nw[k]++] = sp->block[k].cell[c].width;
    for (int k = 0; k < sp->nblocks; k++) {
        const SpaceBlock *b = &sp->block[k];
        int n = 0, nin = k ? q->nw[k - 1] : 1;
        for (int c = 0; c < b->ncells; c++) n += (int)pot->cell[k][c].npaths;
        q->cell[k] = dna_malloc(sizeof(int) * (size_t)n);
        q->code[k] = dna_malloc(sizeof(long) * (size_t)n);
        q->score[k] = dna_malloc(sizeof(double) * (size_t)n);
        q->out[k] = dna_malloc(sizeof(int) * (size_t)n);
        q->cost[k] = dna_malloc(sizeof(double) * (size_t)n * nin * 2);
        int j = 0;
        for (int c = 0; c < b->ncells; c++)
            for (long i = 0; i < pot->cell[k][c].npaths; i++, j++) {
                q->cell[k][j] = c, q->code[k][j] = i, q->score[k][j] = pot->cell[k][c].score[i];
                q->out[k][j] = width_index(q, k, b->cell[c].width);
                for (int s = 0; s < nin; s++) {
                    long pa, ma;
                    arch_block_cost(&b->cell[c], i, k ? q->width[k - 1][s] : sp->stem, b->cell_hw, &pa, &ma);
                    q->cost[k][((size_t)j * nin + s) * 2] = (double)pa;
                    q->cost[k][((size_t)j * nin + s) * 2 + 1] = (double)ma;
                }
            }
        q->b[k] = (SearchBlock){.ncand = n, .nin = nin, .nout = q->nw[k], .score = q->score[k],
                                .out = q->out[k], .cost = q->cost[k]};
    }
    int K = sp->nblocks - 1;
    q->tail = dna_malloc(sizeof(double) * (size_t)q->nw[K] * 2);
    for (int s = 0; s < q->nw[K]; s++) {
        long pa, ma;
        arch_tail_cost(q->width[K][s], t->head, t->classes, sp->block[K].out_hw, &pa, &ma);
        q->tail[2 * s] = (double)pa, q->tail[2 * s + 1] = (double)ma;
    }
    long pa, ma;
    arch_base_cost(t->cin, sp->stem, effnet_stem_hw(t, in_hw), &pa, &ma);
    q->p = (SearchProblem){.nblocks = sp->nblocks, .ncost = 2, .block = q->b,
                           .base = {(double)pa, (double)ma}, .tail = q->tail,
                           .budget = {budget[0], budget[1]}};
}

void search_problem_free(SpaceProblem *q) {
    for (int k = 0; k < q->p.nblocks; k++)
        free(q->cell[k]), free(q->code[k]), free(q->score[k]), free(q->out[k]), free(q->cost[k]);
    free(q->tail);
}

static void to_arch(const SpaceProblem *q, const Space *sp, const EffNetCfg *t, int in_hw,
                    const SearchArch *s, Arch *a) {
    int cell[SPACE_MAX_BLOCKS];
    long code[SPACE_MAX_BLOCKS];
    for (int k = 0; k < sp->nblocks; k++)
        cell[k] = q->cell[k][s->choice[k]], code[k] = q->code[k][s->choice[k]];
    arch_from_choice(sp, t, in_hw, cell, code, a);
    a->score = s->score;
}

static void plot(const RunCtx *ctx, const char *csv, const char *png, const Arch *best) {
    char body[2048];
    snprintf(body, sizeof body,
             "set datafile separator ','\nset key top right\nset grid\n"
             "set xlabel 'parameters of the standalone network'\n"
             "set ylabel 'predicted score (sum of block scores, lower is better)'\n"
             "set title 'score-vs-parameters frontier'\n"
             "plot '%s' using 2:4 with linespoints pt 7 ps 0.6 title 'frontier', "
             "'-' using 1:2 with points pt 9 ps 2.5 lc rgb 'red' title 'chosen'\n%ld,%.9g\ne",
             csv, arch_params(best), best->score);
    if (plot_png(png, 900, 600, body))
        log_info(ctx, "search: gnuplot (pngcairo) failed or is missing: %s not drawn "
                 "(scripts/setup.sh installs gnuplot-nox)", png);
}

// Random baselines: uniform draws of one candidate per block (seeded), kept when they meet the
// budgets and have at least 90% of the searched network's parameters, so that "random at the
// same budget" is not a much smaller network.
static void draw_random(const RunCtx *ctx, const Config *cfg, const SpaceProblem *q,
                        const Space *sp, const EffNetCfg *t, int in_hw, const SearchArch *best,
                        const char *extra) {
    Rng root = rng_new((uint64_t)cfg->run.seed), r = rng_split(&root, STREAM_RANDOM);
    SearchArch a = {.choice = dna_malloc(sizeof(int) * (size_t)q->p.nblocks)};
    for (long i = 0; i < cfg->search.random; i++) {
        for (long tries = 0;; tries++) {
            DNA_CHECK(tries < 1000000, "raise the budgets or set [search] random = 0",
                      "search: no random architecture within the budgets and >= 90%% of %.0f "
                      "parameters in a million draws", best->cost[0]);
            for (int k = 0; k < q->p.nblocks; k++)
                a.choice[k] = (int)rng_below(&r, (uint32_t)q->b[k].ncand);
            search_eval(&q->p, a.choice, &a.score, a.cost);
            if (search_feasible(&q->p, a.cost) && a.cost[0] >= 0.9 * best->cost[0]) break;
        }
        Arch x;
        to_arch(q, sp, t, in_hw, &a, &x);
        char name[64], path[1100], desc[512];
        snprintf(name, sizeof name, "random_%ld.json", i + 1);
        config_run_path(cfg, name, path, sizeof path);
        arch_save(&x, extra, path);
        arch_describe(&x, desc, sizeof desc);
        log_info(ctx, "search: random %ld: score %.5f, %ld params, %ld multiply-adds: %s -> %s",
                 i + 1, x.score, arch_params(&x), arch_macs(&x), desc, path);
    }
    search_arch_free(&a);
}

void searching_run(const RunCtx *ctx, const Config *cfg, const Space *sp, const EffNetCfg *t,
                   int in_hw) {
    if (ctx->rank != 0) return;
    char path[1100], out[1100];
    config_run_path(cfg, "potentials.h5", path, sizeof path);
    DNA_CHECK(stage_done(path), "run `dna rate CFG` first", "no potentials '%s'", path);
    Potentials pot;
    potentials_load(path, sp, &pot);
    double budget[2] = {cfg->search.max_params > 0 ? cfg->search.max_params : INFINITY,
                        cfg->search.max_macs > 0 ? cfg->search.max_macs : INFINITY};
    int topk = (int)cfg->search.top;
    DNA_CHECK(topk >= 1, "give --top K with K >= 1", "search: top %d", topk);
    SpaceProblem q;
    search_problem_build(sp, t, in_hw, &pot, budget, &q);
    potentials_free(&pot);
    double cheap[SEARCH_MAX_COST];
    search_cheapest(&q.p, cheap);
    DNA_CHECK(cheap[0] <= budget[0] && cheap[1] <= budget[1],
              "raise --max-params / --max-flops ([search] max_params / max_macs)",
              "impossible constraint (max params %.0f, max multiply-adds %.0f): the cheapest "
              "architecture in this space has %.0f parameters and the cheapest %.0f multiply-adds",
              budget[0], budget[1], cheap[0], cheap[1]);
    double t0 = timer_now();
    SearchArch trav;
    long visited = 0;
    int ok1 = search_traverse(&q.p, &trav, &visited);
    double t_trav = timer_now() - t0;
    t0 = timer_now();
    SearchArch *top = dna_calloc((size_t)topk, sizeof(SearchArch));
    int ntop = 0, dim = isfinite(budget[1]) && !isfinite(budget[0]) ? 1 : 0;
    SearchFront front;
    int ok2 = search_exact(&q.p, topk, top, &ntop, dim, &front);
    double t_exact = timer_now() - t0;
    DNA_CHECK(ok1 && ok2, "raise the budgets",
              "no architecture meets both budgets together (each alone can be met: params %.0f, "
              "multiply-adds %.0f)", cheap[0], cheap[1]);
    DNA_CHECK(search_arch_cmp(&trav, &top[0], q.p.nblocks) == 0,
              "report this as a bug (the solvers are tested against brute force)",
              "search: traversal found score %.9g, the exact solver %.9g", trav.score, top[0].score);
    Arch best;
    to_arch(&q, sp, t, in_hw, &top[0], &best);
    char desc[512], hash[17];
    arch_describe(&best, desc, sizeof desc);
    log_info(ctx, "search: %.3g architectures; traversal %.3f s (%ld nodes), exact %.3f s; "
             "best score %.5f, %ld params, %ld multiply-adds: %s", space_total(sp), t_trav,
             visited, t_exact, best.score, arch_params(&best), arch_macs(&best), desc);
    // top.csv
    config_run_path(cfg, "top.csv", out, sizeof out);
    TextOut to;
    FILE *f = textout_open(&to, out);
    fprintf(f, "rank,score,params,macs,arch\n");
    for (int i = 0; i < ntop; i++) {
        Arch a;
        to_arch(&q, sp, t, in_hw, &top[i], &a);
        arch_describe(&a, desc, sizeof desc);
        fprintf(f, "%d,%.9g,%ld,%ld,%s\n", i + 1, a.score, arch_params(&a), arch_macs(&a), desc);
    }
    textout_commit(&to);
    // frontier.csv + png
    char csv[1100], png[1100];
    config_run_path(cfg, "frontier.csv", csv, sizeof csv);
    f = textout_open(&to, csv);
    fprintf(f, "point,params,macs,score,arch\n");
    for (int i = 0; i < front.n; i++) {
        Arch a;
        to_arch(&q, sp, t, in_hw, &front.arch[i], &a);
        arch_describe(&a, desc, sizeof desc);
        fprintf(f, "%d,%ld,%ld,%.9g,%s\n", i, arch_params(&a), arch_macs(&a), a.score, desc);
    }
    textout_commit(&to);
    config_run_path(cfg, "frontier.png", png, sizeof png);
    plot(ctx, csv, png, &best);
    // arch.json last: its presence marks the stage complete
    config_hash(cfg, hash);
    char extra[512];
    snprintf(extra, sizeof extra,
             "{\"config_hash\": \"%s\", \"seed\": %ld, \"git_rev\": \"%s\", \"version\": \"%s\", "
             "\"max_params\": %.0f, \"max_macs\": %.0f, \"solver\": \"exact (traversal agrees)\"}",
             hash, cfg->run.seed, ctx->git_rev, ctx->version, cfg->search.max_params,
             cfg->search.max_macs);
    draw_random(ctx, cfg, &q, sp, t, in_hw, &top[0], extra);
    config_run_path(cfg, "arch.json", out, sizeof out);
    arch_save(&best, extra, out);
    log_info(ctx, "search: %d best in top.csv, %d frontier points in frontier.csv/.png -> %s",
             ntop, front.n, out);
    search_arch_free(&trav);
    for (int i = 0; i < ntop; i++) search_arch_free(&top[i]);
    free(top);
    search_front_free(&front);
    search_problem_free(&q);
}
