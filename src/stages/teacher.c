// `dna teacher`: the teacher (teacher.h5): built from [teacher] and trained with labels on
// the supernet-training split, data-parallel over the ranks (src/train/fit.c), checkpointed
// to <run>/resume/teacher.h5 so that a long training spans allocations; or imported from a
// teacher file (teacher.import) and evaluated. In DNA+ generation m >= 2 it is generation
// m-1's searched network, scaled (src/nas/scale.h), trained with the same recipe.
#include "io/teacher.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/timer.h"
#include "io/arch.h"
#include "io/files.h"
#include "io/fingerprint.h"
#include "nas/scale.h"
#include "par/par.h"
#include "stages/plus.h"
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

// DNA+: generation m's teacher is generation m-1's searched network, scaled; the file it
// comes from and the multipliers are part of the teacher's fingerprint.
static void prev_arch_path(const Config *cfg, char *buf, size_t n) {
    Config prev = plus_at(cfg, cfg->plus.generation - 1);
    config_run_path(&prev, "arch.json", buf, n);
}

// DNA++'s mode (the initial teacher) and DNA+'s generation m: the rest of the fingerprint.
static void teacher_keys(const Config *cfg, FILE *f) {
    stage_mode_keys(cfg, f);
    if (cfg->plus.generation < 2) return;
    char path[1100], hex[17];
    double w, d;
    plus_coef(cfg, cfg->plus.generation, &w, &d);
    prev_arch_path(cfg, path, sizeof path);
    fp_read_hex(path, hex);
    fprintf(f,
            "plus.generation = %ld\nscaled width = %.17g\nscaled depth = %.17g\n"
            "input generation %ld arch.json = %s\n",
            cfg->plus.generation, w, d, cfg->plus.generation - 1, hex);
}

// The architecture of generation m's teacher: generation m-1's arch.json scaled. Its blocks
// must meet the students' spatial sizes, i.e. the previous teacher's block maps, which the
// space's strides were resolved against.
static void scaled_arch(const RunCtx *ctx, const Config *cfg, int in_hw, EffNetCfg *out) {
    long m = cfg->plus.generation;
    char path[1100];
    prev_arch_path(cfg, path, sizeof path);
    DNA_CHECK(
        file_exists(path),
        "run generation m-1 to its search first (`dna plus CFG` runs the generations in order)",
        "teacher: generation %ld needs generation %ld's searched network '%s'", m, m - 1, path);
    Arch a, s;
    arch_load(path, &a);
    double w, d;
    plus_coef(cfg, m, &w, &d);
    arch_scale(&a, (ScaleCoef){.width = w, .depth = d}, &s);
    arch_to_effnet(&s, out);
    out->dropout = (float)cfg->teacher.fit.dropout;
    out->bn_eps = (float)cfg->teacher.bn_eps, out->bn_momentum = (float)cfg->teacher.bn_momentum;
    char err[256];
    DNA_CHECK(!effnet_cfg_validate(out, err, sizeof err), "scale it less (plus.width, plus.depth)",
              "teacher: generation %ld's scaled network: %s", m, err);
    Config prev = plus_at(cfg, m - 1);
    EffNetCfg pt;
    int prev_hw;
    Space sp;
    stage_space(ctx, &prev, &sp, &pt, &prev_hw);
    DNA_CHECK(a.in_hw == in_hw && prev_hw == in_hw && s.nblocks == sp.nblocks,
              "search generation m-1 in this run's space (an arch.json from another space cannot "
              "teach it)",
              "teacher: generation %ld: '%s' has %d blocks at input %d; the space has %d blocks, "
              "the students' input is %d",
              m, path, s.nblocks, a.in_hw, sp.nblocks, in_hw);
    int c0[EFFNET_MAX_BLOCKS], h0[EFFNET_MAX_BLOCKS], c1[EFFNET_MAX_BLOCKS], h1[EFFNET_MAX_BLOCKS];
    effnet_block_shapes(&pt, in_hw, c0, h0);
    effnet_block_shapes(out, in_hw, c1, h1);
    for (int k = 0; k < sp.nblocks; k++)
        DNA_CHECK(h0[k] == h1[k], "search generation m-1 in this run's space",
                  "teacher: generation %ld's scaled teacher ends block %d at %dx%d, the students' "
                  "block %d at %dx%d (the strides of '%s' do not match the space)",
                  m, k + 1, h1[k], h1[k], k + 1, h0[k], h0[k], path);
    log_info(ctx,
             "teacher: generation %ld: '%s' scaled x width %.3g, depth %.3g: %ld -> %ld params, "
             "block widths %d..%d",
             m, path, w, d, arch_params(&a), effnet_param_count(out), c1[0], c1[sp.nblocks - 1]);
}

static int run(const RunCtx *ctx, const Config *cfg, int force) {
    (void)force;
    char path[1100], hash[17];
    Dataset d;
    stage_dataset(cfg, &d);
    Teacher t;
    double t0 = timer_now();
    Recipe r = recipe_teacher(cfg);
    if (cfg->teacher.import[0] && cfg->plus.generation < 2) {
        import(ctx, cfg, &d, &t);
    } else {
        EffNetCfg arch;
        t = (Teacher){.in_hw = d.train.h + 2 * (int)cfg->data.pad};
        if (cfg->plus.generation > 1)
            scaled_arch(ctx, cfg, t.in_hw, &arch);
        else
            effnet_cfg_from_config(cfg, d.train.c, &arch);
        memcpy(t.mean, d.mean, sizeof t.mean);
        memcpy(t.std, d.std, sizeof t.std);
        Rng root = rng_new(ctx->seed), init = rng_split(&root, STREAM_TEACHER_INIT);
        effnet_init(ctx->be, &t.net, &arch, t.in_hw, &init);
        char *id = stage_identity(ctx, "teacher");
        stage_resume_path(ctx, cfg, "teacher", path, sizeof path);
        r.ckpt = path, r.identity = id;
        int stopped = 0;
        if (config_ssl(cfg) && !strcmp(cfg->ssl.init, "random")) {
            // DNA++ from scratch: the teacher trains online with the students, no label read
            t.top1 = -1;
            log_info(ctx,
                     "teacher: [train] mode = ssl, [ssl] init = random: teacher.h5 holds "
                     "the online teacher's initial weights (co-trained in `train`)");
        } else {
            fit_teacher(ctx, cfg, &r, &d, &t, NULL, &stopped);
        }
        free(id);
        if (stopped) {
            teacher_free(ctx->be, &t);
            dataset_free(&d);
            return stage_stopped(ctx, "teacher: stopped by a signal; checkpointed to '%s'", path);
        }
        if (t.top1 >= 0)
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
    .keys = teacher_keys,
    .checkpoints = 1,
    .metrics = 1,
};
