// `dna search` (doc/design.md §5.3): on rank 0, potentials.h5 and the cost model
// become a SearchProblem (src/nas/problem.c); the traversal search and the exact solver both
// run and must agree; the result is arch.json, top.csv (the K best), frontier.csv and
// frontier.png (score vs parameters, the chosen architecture marked), and [search] random
// baselines random_<i>.json within the same budgets. An impossible budget is an error
// stating the cheapest architecture's cost, and writes nothing. Run on its own it always
// searches again (budgets are its flags); in `dna run` it skips when arch.json exists.
// With [search] predictor (--predictor FILE, `dna calibrate`'s predictor.json) block k's
// scores are weighted by the fitted w_k before the solvers see them (src/nas/problem.h), and
// arch.json's provenance records the file, its digest and the weights.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/arch.h"
#include "io/files.h"
#include "io/plot.h"
#include "io/potentials.h"
#include "io/predictor.h"
#include "nas/problem.h"
#include "par/par.h"
#include "stages/stages.h"

enum { STREAM_RANDOM = 500 };

static void plot(const RunCtx *ctx, const char *csv, const char *png, const Arch *best,
                 int weighted) {
    char body[4096], q[2300];
    snprintf(body, sizeof body,
             "set datafile separator ','\nset key top right\nset grid\n"
             "set xlabel 'parameters of the standalone network'\n"
             "set ylabel 'predicted score (%s of block scores, lower is better)'\n"
             "set title 'score-vs-parameters frontier'\n"
             "plot %s using 2:4 with linespoints pt 7 ps 0.6 title 'frontier', "
             "'-' using 1:2 with points pt 9 ps 2.5 lc rgb 'red' title 'chosen'\n%ld,%.9g\ne",
             weighted ? "predictor-weighted sum" : "sum", plot_str(q, sizeof q, csv),
             arch_params(best), best->score);
    if (plot_png(png, 900, 600, body))
        log_info(ctx,
                 "search: gnuplot (pngcairo) failed or is missing: %s not drawn "
                 "(scripts/setup.sh installs gnuplot-nox)",
                 png);
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
                      "parameters in a million draws",
                      best->cost[0]);
            for (int k = 0; k < q->p.nblocks; k++)
                a.choice[k] = (int)rng_below(&r, (uint32_t)q->b[k].ncand);
            search_eval(&q->p, a.choice, &a.score, a.cost);
            if (search_feasible(&q->p, a.cost) && a.cost[0] >= 0.9 * best->cost[0]) break;
        }
        Arch x;
        problem_arch(q, sp, t, in_hw, &a, &x);
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

// top.csv (the K best, by rank) or frontier.csv (the score-vs-cost frontier, by point).
static void write_archs(const char *path, const SpaceProblem *q, const Space *sp,
                        const EffNetCfg *t, int in_hw, const SearchArch *list, int n,
                        int frontier) {
    TextOut to;
    FILE *f = textout_open(&to, path);
    fprintf(f, frontier ? "point,params,macs,score,arch\n" : "rank,score,params,macs,arch\n");
    for (int i = 0; i < n; i++) {
        Arch a;
        char desc[512];
        problem_arch(q, sp, t, in_hw, &list[i], &a);
        arch_describe(&a, desc, sizeof desc);
        if (frontier)
            fprintf(f, "%d,%ld,%ld,%.9g,%s\n", i, arch_params(&a), arch_macs(&a), a.score, desc);
        else
            fprintf(f, "%d,%.9g,%ld,%ld,%s\n", i + 1, a.score, arch_params(&a), arch_macs(&a),
                    desc);
    }
    textout_commit(&to);
}

static void search(const RunCtx *ctx, const Config *cfg, const Space *sp, const EffNetCfg *t,
                   int in_hw) {
    char path[1100], out[1100];
    config_run_path(cfg, "potentials.h5", path, sizeof path);
    Potentials pot;
    potentials_load(path, sp, &pot);
    double budget[2] = {cfg->search.max_params > 0 ? cfg->search.max_params : INFINITY,
                        cfg->search.max_macs > 0 ? cfg->search.max_macs : INFINITY};
    int topk = (int)cfg->search.top;
    DNA_CHECK(topk >= 1, "give --top K with K >= 1", "search: top %d", topk);
    SpaceProblem q;
    problem_build(sp, t, in_hw, &pot, budget, &q);
    Predictor pred = {0};
    char pred_digest[17] = "", pot_digest[17];
    if (cfg->search.predictor[0]) {
        predictor_load(cfg->search.predictor, sp->nblocks, &pred, pred_digest);
        predictor_potentials_digest(&pot, pot_digest);
        if (pred.potentials_digest[0] && strcmp(pred.potentials_digest, pot_digest))
            log_warn(ctx,
                     "search: predictor '%s' was fitted on other ratings (potentials %s, these "
                     "%s): its weights may not suit them",
                     cfg->search.predictor, pred.potentials_digest, pot_digest);
        problem_weight(&q, pred.weight);
        char ws[256] = "";
        for (int k = 0; k < pred.nblocks; k++)
            snprintf(ws + strlen(ws), sizeof ws - strlen(ws), "%s%.4g", k ? " " : "",
                     pred.weight[k]);
        log_info(ctx, "search: block scores weighted by predictor %s (digest %s): %s",
                 cfg->search.predictor, pred_digest, ws);
    }
    potentials_free(&pot);
    double cheap[SEARCH_MAX_COST];
    search_cheapest(&q.p, cheap);
    DNA_CHECK(cheap[0] <= budget[0] && cheap[1] <= budget[1],
              "raise --max-params / --max-macs ([search] max_params / max_macs)",
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
              "multiply-adds %.0f)",
              cheap[0], cheap[1]);
    DNA_CHECK(search_arch_cmp(&trav, &top[0], q.p.nblocks) == 0,
              "report this as a bug (the solvers are tested against brute force)",
              "search: traversal found score %.9g, the exact solver %.9g", trav.score,
              top[0].score);
    Arch best;
    problem_arch(&q, sp, t, in_hw, &top[0], &best);
    char desc[512], hash[17];
    arch_describe(&best, desc, sizeof desc);
    log_info(ctx,
             "search: %.3g architectures; traversal %.3f s (%ld nodes), exact %.3f s; "
             "best score %.5f, %ld params, %ld multiply-adds: %s",
             space_total(sp), t_trav, visited, t_exact, best.score, arch_params(&best),
             arch_macs(&best), desc);
    char csv[1100], png[1100];
    config_run_path(cfg, "top.csv", out, sizeof out);
    write_archs(out, &q, sp, t, in_hw, top, ntop, 0);
    config_run_path(cfg, "frontier.csv", csv, sizeof csv);
    write_archs(csv, &q, sp, t, in_hw, front.arch, front.n, 1);
    config_run_path(cfg, "frontier.png", png, sizeof png);
    plot(ctx, csv, png, &best, pred.nblocks > 0);
    // arch.json last: its presence marks the stage complete
    config_hash(cfg, hash);
    cJSON *pv = cJSON_CreateObject();
    cJSON_AddStringToObject(pv, "config_hash", hash);
    cJSON_AddNumberToObject(pv, "seed", (double)cfg->run.seed);
    cJSON_AddStringToObject(pv, "git_rev", ctx->git_rev);
    cJSON_AddStringToObject(pv, "version", ctx->version);
    cJSON_AddNumberToObject(pv, "max_params", cfg->search.max_params);
    cJSON_AddNumberToObject(pv, "max_macs", cfg->search.max_macs);
    cJSON_AddStringToObject(pv, "solver", "exact (traversal agrees)");
    if (pred.nblocks) {  // the score is then sum_k w_k s_k
        cJSON *pj = cJSON_AddObjectToObject(pv, "predictor");
        cJSON_AddStringToObject(pj, "path", cfg->search.predictor);
        cJSON_AddStringToObject(pj, "digest", pred_digest);
        cJSON_AddItemToObject(pj, "weights", cJSON_CreateDoubleArray(pred.weight, pred.nblocks));
    }
    cJSON_AddStringToObject(pv, "fingerprint", ctx->fingerprint);
    cJSON_AddStringToObject(pv, "fingerprint_keys", ctx->fingerprint_keys);
    char *extra = cJSON_PrintUnformatted(pv);
    cJSON_Delete(pv);
    draw_random(ctx, cfg, &q, sp, t, in_hw, &top[0], extra);
    config_run_path(cfg, "arch.json", out, sizeof out);
    arch_save(&best, extra, out);
    free(extra);
    log_info(ctx, "search: %d best in top.csv, %d frontier points in frontier.csv/.png -> %s", ntop,
             front.n, out);
    search_arch_free(&trav);
    for (int i = 0; i < ntop; i++) search_arch_free(&top[i]);
    free(top);
    search_front_free(&front);
    problem_free(&q);
    predictor_free(&pred);
}

static int run(const RunCtx *ctx, const Config *cfg, int force) {
    (void)force;
    Space sp;
    EffNetCfg arch;
    int in_hw;
    stage_space_any(ctx, cfg, &sp, &arch, &in_hw);  // MBConv cells or ViT supernets
    if (ctx->rank == 0) search(ctx, cfg, &sp, &arch, in_hw);
    par_barrier();
    return STAGE_RAN;
}

const Stage STAGE_SEARCH = {
    .name = "search",
    .help =
        "best architecture under budgets (--max-params P --max-macs M --top K) "
        "[--predictor predictor.json] -> arch.json",
    .run = run,
    .order = 6,
    .reads = {"teacher.h5", "potentials.h5"},
    .writes = "arch.json",
    .sections = "data teacher features space train rate search",
    // --max-flops set multiply-adds until issue 17; "FLOPs" means MACs in some papers (DNA's,
    // EfficientNet's) and 2 x MACs in others, so it is refused rather than guessed.
    .flags = {{"--max-params", "search.max_params"},
              {"--max-macs", "search.max_macs"},
              {"--top", "search.top"},
              {"--predictor", "search.predictor"},
              {"--max-flops", NULL,
               "give --max-macs M: the budget in multiply-adds per image (the DNA paper's and "
               "EfficientNet's \"FLOPs\"; half of a FLOP count that counts multiplies and adds "
               "apart)"}},
    .redo = 1,
};
