// `dna compare RUN_A RUN_B` (also `dna rank --compare`): how alike two runs rate the same
// search space (e.g. seeds 0/41/42 or data fractions, the paper's Tables 8 and 9): per block,
// Kendall's tau-b and Spearman's rho between the two runs' scores of every path (read from
// each run's potentials.h5), and where each run's searched architecture (arch.json) ranks in
// the other run's ratings. Rank 0 prints a table; rank_compare.csv in RUN_A records it, and
// the log goes to RUN_A/log/compare.log.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/arch.h"
#include "io/files.h"
#include "io/h5.h"
#include "nas/rankstat.h"
#include "stages/stages.h"

typedef struct RunScores {
    int nblocks, ncells[SPACE_MAX_BLOCKS];
    long n[SPACE_MAX_BLOCKS],
        first[SPACE_MAX_BLOCKS][SPACE_MAX_CELLS];  // block paths, cell offsets
    double *score[SPACE_MAX_BLOCKS];               // all cells' paths of a block, cell by cell
} RunScores;

// Reads every block<k>_cell<c>_score of a potentials.h5 without needing the config.
static void load_scores(const char *run, RunScores *s) {
    char path[1100], name[64];
    snprintf(path, sizeof path, "%s/potentials.h5", run);
    DNA_CHECK(file_exists(path), "give two run directories that `dna rate` finished",
              "no potentials '%s'", path);
    hid_t f = h5_open_read(path);
    memset(s, 0, sizeof *s);
    s->nblocks = (int)h5_read_attr_i64(f, "nblocks", path);
    for (int k = 0; k < s->nblocks; k++) {
        for (int c = 0;; c++) {
            snprintf(name, sizeof name, "block%d_cell%d_score", k + 1, c + 1);
            if (!h5_has(f, name)) break;
            size_t n;
            double *v = h5_read_f64(f, path, name, &n);
            s->score[k] = realloc(s->score[k], sizeof(double) * (size_t)(s->n[k] + (long)n));
            DNA_CHECK(s->score[k], "free memory", "out of memory");
            memcpy(s->score[k] + s->n[k], v, sizeof(double) * n);
            s->first[k][c] = s->n[k];
            s->n[k] += (long)n;
            s->ncells[k] = c + 1;
            free(v);
        }
    }
    h5_close(f);
}

// 1-based position of item i in the run's block ranking (best = 1; ties share the best place).
static long place(const RunScores *s, int k, long i) {
    long p = 1;
    for (long j = 0; j < s->n[k]; j++) p += s->score[k][j] < s->score[k][i];
    return p;
}

static void compare(const RunCtx *ctx, const char *run_a, const char *run_b) {
    RunScores a, b;
    load_scores(run_a, &a);
    load_scores(run_b, &b);
    DNA_CHECK(a.nblocks == b.nblocks, "compare runs of the same search space",
              "'%s' has %d blocks, '%s' %d", run_a, a.nblocks, run_b, b.nblocks);
    for (int k = 0; k < a.nblocks; k++)
        DNA_CHECK(a.ncells[k] == b.ncells[k] && a.n[k] == b.n[k],
                  "compare runs of the same search space",
                  "block %d: %d cells / %ld paths in '%s', %d / %ld in '%s'", k + 1, a.ncells[k],
                  a.n[k], run_a, b.ncells[k], b.n[k], run_b);
    Arch aa, ab;
    char pa[1100], pb[1100];
    snprintf(pa, sizeof pa, "%s/arch.json", run_a);
    snprintf(pb, sizeof pb, "%s/arch.json", run_b);
    int archs = file_exists(pa) && file_exists(pb);
    if (archs) arch_load(pa, &aa), arch_load(pb, &ab);
    char out[1100];
    snprintf(out, sizeof out, "%s/rank_compare.csv", run_a);
    TextOut to;
    FILE *f = textout_open(&to, out);
    fprintf(f, "block,paths,kendall_tau,spearman_rho,a_choice_place_in_b,b_choice_place_in_a\n");
    log_plain(ctx, "rank --compare A=%s B=%s (lower score = better in both)", run_a, run_b);
    log_plain(ctx, "%5s %7s %12s %12s %14s %14s", "block", "paths", "Kendall tau", "Spearman rho",
              "A's pick in B", "B's pick in A");
    for (int k = 0; k < a.nblocks; k++) {
        double tau = rank_kendall_tau(a.score[k], b.score[k], a.n[k]);
        double rho = rank_spearman(a.score[k], b.score[k], a.n[k]);
        long pab = 0, pba = 0;
        if (archs) {
            long ia = a.first[k][aa.block[k].cell] + aa.block[k].code;
            long ib = b.first[k][ab.block[k].cell] + ab.block[k].code;
            pab = place(&b, k, ia), pba = place(&a, k, ib);
        }
        log_plain(ctx, "%5d %7ld %12.4f %12.4f %14ld %14ld", k + 1, a.n[k], tau, rho, pab, pba);
        fprintf(f, "%d,%ld,%.6f,%.6f,%ld,%ld\n", k + 1, a.n[k], tau, rho, pab, pba);
        free(a.score[k]), free(b.score[k]);
    }
    if (archs) {
        int same = aa.nblocks == ab.nblocks;
        for (int k = 0; same && k < aa.nblocks; k++)
            same = aa.block[k].cell == ab.block[k].cell && aa.block[k].code == ab.block[k].code;
        log_plain(ctx, "searched architectures: %s", same ? "identical" : "different");
    } else {
        log_plain(ctx, "searched architectures: not compared (an arch.json is missing)");
    }
    textout_commit(&to);
    log_info(ctx, "compare: -> %s", out);
}

static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    (void)all;
    DNA_CHECK(argc == 3, "usage: dna compare RUN_A RUN_B", "compare: give two run directories");
    if (file_exists(argv[1])) runner_open_logs(ctx, argv[1], "compare", 0);  // else: named below
    if (ctx->rank == 0) compare(ctx, argv[1], argv[2]);
    runner_close_logs(ctx);
    return 0;
}

const Stage STAGE_COMPARE = {
    .name = "compare",
    .help =
        "RUN_A RUN_B: how alike two runs rate every path (tau/rho per block; also rank --compare)",
    .command = command,
};
