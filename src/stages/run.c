// `dna run`: every pipeline stage in order (those with an `order`: data, teacher, features,
// train, rate, search, retrain, report); each skips itself when its output is complete, so a
// rerun after a crash or a time limit continues where the last one stopped. --force applies
// to none of them (delete the run directory to start over). Every stage logs to its own
// <run>/log/<stage>.log; the run's own lines go to log/run.log.
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/timer.h"
#include "stages/plus.h"
#include "stages/stages.h"

static int command(RunCtx *ctx, const Commands *all, int argc, char **argv) {
    Config cfg;
    DNA_CHECK(!runner_args(ctx, NULL, argc, argv, &cfg),
              "rerun single stages with --force, or delete the run directory",
              "run: --force is not supported");
    // DNA+ scales the searched network into the next teacher: an EfficientNet (before data
    // and teacher spend minutes)
    DNA_CHECK(strcmp(cfg.space.kind, "vit") || cfg.plus.generations <= 1,
              "set plus.generations = 1 on a ViT space",
              "run: DNA+ (plus.generations = %ld) scales an MBConv network into the next teacher; "
              "a ViT space has none",
              cfg.plus.generations);
    runner_prepare(ctx, &cfg, argc, argv);
    char dir[1100], names[256] = "";
    config_run_path(&cfg, NULL, dir, sizeof dir);
    double t0 = timer_now();
    for (int order = 1;; order++) {
        const Stage *st = runner_at(all, order);
        if (!st) break;
        runner_open_logs(ctx, dir, st->name, st->metrics);
        log_info(ctx, "run: stage %d, %s", order, st->name);
        if (runner_stage(ctx, all, &cfg, st, 0) == STAGE_STOPPED) {  // the stages done are kept
            runner_close_logs(ctx);
            runner_unlock(ctx);
            return DNA_EXIT_REQUEUE;
        }
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", order > 1 ? ", " : "",
                 st->name);
    }
    if (cfg.plus.generations > 1 && plus_run(ctx, all, &cfg) == STAGE_STOPPED) {
        runner_close_logs(ctx);
        runner_unlock(ctx);
        return DNA_EXIT_REQUEUE;
    }
    runner_open_logs(ctx, dir, "run", 0);
    log_info(ctx, "run: stages %s%s complete in %s (%.1f s); see %s/report.md", names,
             cfg.plus.generations > 1 ? " of every DNA+ generation" : "", dir, timer_now() - t0,
             dir);
    runner_close_logs(ctx);
    runner_unlock(ctx);
    return 0;
}

const Stage STAGE_RUN = {
    .name = "run",
    .help = "the whole pipeline data -> ... -> retrain -> report, each stage skipped when complete",
    .command = command,
};
