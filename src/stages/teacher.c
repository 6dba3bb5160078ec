// `dna teacher`: the teacher (teacher.h5): built from [teacher] and trained with labels on
// the supernet-training split, data-parallel over the ranks (src/train/fit.c), checkpointed
// to <run>/resume/teacher.h5 so that a long training spans allocations; or imported from a
// teacher file (teacher.import) and evaluated.
#include "io/teacher.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timer.h"
#include "par/par.h"
#include "stages/stages.h"
#include "train/fit.h"

enum { STREAM_TEACHER_INIT = 101 };

static void import(const RunCtx *ctx, const Config *cfg, const Dataset *d, Teacher *t) {
    teacher_load(ctx->be, cfg->teacher.import, t);
    DNA_CHECK(t->net.cfg.classes == d->classes && t->net.cfg.cin == d->train.c,
              "import a teacher trained for this dataset's classes and channels",
              "'%s' has %d inputs channels and %d classes; the dataset %d and %d",
              cfg->teacher.import, t->net.cfg.cin, t->net.cfg.classes, d->train.c, d->classes);
    Model m = model_effnet(&t->net);
    t->top1 = fit_evaluate(ctx, &m, cfg->teacher.fit.eval_batch, &d->test, t->mean, t->std,
                           (t->in_hw - d->test.h) / 2);
    model_free(&m);
    log_info(ctx, "teacher: imported %s, test top-1 %.2f%%", cfg->teacher.import, 100.0 * t->top1);
}

static int run(const RunCtx *ctx, const Config *cfg, int force) {
    (void)force;
    char path[1100], hash[17];
    Dataset d;
    stage_dataset(cfg, &d);
    Teacher t;
    double t0 = timer_now();
    Recipe r = recipe_teacher(cfg);
    if (cfg->teacher.import[0]) {
        import(ctx, cfg, &d, &t);
    } else {
        EffNetCfg arch;
        effnet_cfg_from_config(cfg, d.train.c, &arch);
        t = (Teacher){.in_hw = d.train.h + 2 * (int)cfg->data.pad};
        memcpy(t.mean, d.mean, sizeof t.mean);
        memcpy(t.std, d.std, sizeof t.std);
        Rng root = rng_new(ctx->seed), init = rng_split(&root, STREAM_TEACHER_INIT);
        effnet_init(ctx->be, &t.net, &arch, t.in_hw, &init);
        char *id = stage_identity(ctx, "teacher");
        stage_resume_path(ctx, cfg, "teacher", path, sizeof path);
        r.ckpt = path, r.identity = id;
        int stopped = 0;
        fit_teacher(ctx, cfg, &r, &d, &t, NULL, &stopped);
        free(id);
        if (stopped) {
            teacher_free(ctx->be, &t);
            dataset_free(&d);
            return stage_stopped(ctx, "teacher: stopped by a signal; checkpointed to '%s'", path);
        }
        log_info(ctx, "teacher: test top-1 %.2f%% after %ld epochs, %.1f s", 100.0 * t.top1,
                 cfg->teacher.fit.epochs, timer_now() - t0);
    }
    char out[1100];
    config_run_path(cfg, "teacher.h5", out, sizeof out);
    H5Prov prov = h5_prov_of_run(ctx, cfg, TEACHER_FORMAT, hash);
    if (ctx->rank == 0) teacher_save(&t, ctx->be, &prov, out);
    par_barrier();
    fit_done(ctx, &r);
    teacher_free(ctx->be, &t);
    dataset_free(&d);
    return STAGE_RAN;
}

const Stage STAGE_TEACHER = {
    .name = "teacher",
    .help = "train (or import) the teacher -> <run>/teacher.h5",
    .run = run,
    .order = 2,
    .reads = {"dataset.h5"},
    .writes = "teacher.h5",
    .partial = "resume/teacher.h5",
    .sections = "data teacher",
    .checkpoints = 1,
    .metrics = 1,
};
