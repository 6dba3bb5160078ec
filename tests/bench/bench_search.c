// Benchmark search: the paper's ImageNet space (inputs/imagenet_b7.cfg: 6 blocks, 16 cells,
// 1.96e17 architectures) with the cost model's real params/MACs and random scores (seeded),
// under a MAC budget and a parameter budget, solved by the traversal search and the exact
// solver (top 10 and the frontier). Prints one "bench search ..." line per budget.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "core/config.h"
#include "core/rng.h"
#include "core/timer.h"
#include "io/potentials.h"
#include "nas/problem.h"

int main(void) {
    Config cfg;
    config_load(&cfg, "inputs/imagenet_b7.cfg", NULL, 0);
    EffNetCfg t;
    effnet_cfg_from_config(&cfg, (int)cfg.data.channels, &t);
    int in_hw = (int)cfg.data.image_size;
    Space sp;
    space_from_config(&cfg, &t, in_hw, &sp);
    Potentials pot = {.nblocks = sp.nblocks};
    Rng r = rng_new(7);
    for (int k = 0; k < sp.nblocks; k++) {
        pot.ncells[k] = sp.block[k].ncells;
        for (int c = 0; c < sp.block[k].ncells; c++) {
            CellScores *cs = &pot.cell[k][c];
            cs->npaths = cell_path_count(&sp.block[k].cell[c]);
            cs->score = malloc(sizeof(double) * (size_t)cs->npaths);
            for (long i = 0; i < cs->npaths; i++) cs->score[i] = 0.2 + 0.1 * rng_uniform(&r);
        }
    }
    double budgets[2][2] = {{INFINITY, 400e6}, {8e6, INFINITY}};
    for (int b = 0; b < 2; b++) {
        SpaceProblem q;
        problem_build(&sp, &t, in_hw, &pot, budgets[b], &q);
        double t0 = timer_now();
        SearchArch tr, top[10];
        long visited = 0;
        int ok = search_traverse(&q.p, &tr, &visited);
        double t_tr = timer_now() - t0;
        t0 = timer_now();
        int ntop = 0;
        SearchFront fr;
        ok &= search_exact(&q.p, 10, top, &ntop, b == 0 ? 1 : 0, &fr);
        double t_ex = timer_now() - t0;
        printf("bench search space=imagenet_b7 archs=%.3g budget=%s traverse_s=%.3f nodes=%ld "
               "exact_top10_s=%.3f frontier=%d agree=%d best_score=%.6f params=%.0f macs=%.0f "
               "peak_rss_MB=%.0f\n",
               space_total(&sp), b == 0 ? "macs<=400M" : "params<=8M", t_tr, visited, t_ex, fr.n,
               ok && search_arch_cmp(&tr, &top[0], q.p.nblocks) == 0, top[0].score, top[0].cost[0],
               top[0].cost[1], bench_peak_rss_mb());
        search_arch_free(&tr);
        for (int i = 0; i < ntop; i++) search_arch_free(&top[i]);
        search_front_free(&fr);
        problem_free(&q);
    }
    return 0;
}
