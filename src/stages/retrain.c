// `dna retrain` (doc/design.md §5.6): the searched architecture (arch.json)
// built as a standalone network and trained from scratch with labels on the whole training
// set ([retrain] recipe, src/train/fit.c), test top-1 every epoch, checkpointed to
// <run>/resume/ so that a long retraining spans allocations. Writes retrain.h5 (teacher.h5's
// layout, so a retrained network can be the next teacher, as DNA+ does) and retrain.json
// (results and provenance); an architecture other than the run's own arch.json writes
// retrain_<name>.h5/.json. [retrain] seeds = N trains it N times: seed 1 from run.seed's
// streams (the files above), seed s >= 2 from streams of its own into <stem>_seed<s>.h5/.json.
// Without [retrain] arch it retrains arch.json (N seeds) and then the [search] random
// baselines random_<i>.json (1 seed each) with the same recipe, each file skipped when its
// .json exists and was made from the same architecture file.
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/timer.h"
#include "io/arch.h"
#include "io/ckpt.h"
#include "io/files.h"
#include "io/fingerprint.h"
#include "io/teacher.h"
#include "io/weights.h"
#include "par/par.h"
#include "stages/seeds.h"
#include "stages/stages.h"
#include "train/archnet.h"

// Seed 1: the weights from STREAM_RETRAIN_INIT, data order and dropout from fit.c's
// STREAM_RETRAIN. Seed s >= 2: STREAM_RETRAIN_SEEDS + 2s and + 2s + 1 (all of the run seed).
enum { STREAM_RETRAIN_INIT = 401, STREAM_RETRAIN_SEEDS = 4000 };

// Output stem: "retrain" for the run's arch.json, else "retrain_<file name without .json>";
// then "_seed<s>" for seed s >= 2.
static void out_stem(const Config *cfg, const char *arch, const char *own, long seed, char *buf,
                     size_t n) {
    char copy[1100], name[256], stem[300];
    snprintf(name, sizeof name, "retrain");
    if (strcmp(arch, own)) {
        snprintf(copy, sizeof copy, "%s", arch);
        snprintf(name, sizeof name, "retrain_%s", basename(copy));
        char *dot = strrchr(name, '.');
        if (dot && !strcmp(dot, ".json")) *dot = 0;
        DNA_CHECK(!seed_name_clashes(name),
                  "rename the file (a name ending in _seed<N> or seed<N> "
                  "is taken by the seed files of [retrain] seeds)",
                  "'%s': its results would be named like another network's seed", arch);
    }
    seed_stem(name, seed, stem, sizeof stem);
    config_run_path(cfg, stem, buf, n);
}

// FNV-1a of the architecture file's bytes: a result belongs to the file it was trained from,
// so a search rerun that rewrote arch.json or random_<i>.json retrains instead of skipping.
static void arch_digest(const char *path, char hex[17]) {
    char *text = text_read(path);
    DNA_CHECK(text, "run `dna search CFG` first, or give --arch FILE", "no architecture '%s'",
              path);
    snprintf(hex, 17, "%016llx", (unsigned long long)fnv1a(FNV1A_INIT, text, strlen(text)));
    free(text);
}

// 1 when results file `js` exists and was made from an architecture with digest `hex`.
static int result_matches(const char *js, const char *hex) {
    char want[64], *text = text_read(js);
    snprintf(want, sizeof want, "\"arch_digest\": \"%s\"", hex);
    int found = text && strstr(text, want);
    free(text);
    return found;
}

// Seed `seed` (1..nseeds) of the network in arch_path.
static int retrain_one(const RunCtx *ctx, const Config *cfg, const char *arch_path, long seed,
                       long nseeds, int force) {
    char own[1100], stem[1100], h5[1200], js[1200];
    config_run_path(cfg, "arch.json", own, sizeof own);
    out_stem(cfg, arch_path, own, seed, stem, sizeof stem);
    snprintf(h5, sizeof h5, "%s.h5", stem);
    snprintf(js, sizeof js, "%s.json", stem);
    char digest[17];
    arch_digest(arch_path, digest);
    int state = 0;  // rank 0 decides: 0 train, 1 complete, 2 made from another architecture
    if (ctx->rank == 0 && !force && file_exists(js)) {
        Fingerprint old;
        if (!fp_read(js, &old) || strcmp(old.hex, ctx->fingerprint))
            stage_mismatch(&STAGE_RETRAIN, cfg, js, old.keys, ctx->fingerprint_keys);
        fp_free(&old);
        state = result_matches(js, digest) ? 1 : 2;
    }
    state = par_bcast_int(state);
    if (state == 1) {
        log_info(ctx, "retrain: %s is complete; skipping (--force reruns)", js);
        return STAGE_SKIPPED;
    }
    if (state == 2)
        log_info(ctx, "retrain: %s changed since %s was written; retraining", arch_path, js);
    Arch a;
    arch_load(arch_path, &a);
    Dataset d;
    stage_dataset(cfg, &d);
    int in_hw = d.train.h + 2 * (int)cfg->data.pad;
    DNA_CHECK(a.cin == d.train.c && a.classes == d.classes && a.in_hw == in_hw,
              "retrain an architecture searched for this dataset and [data] pad",
              "'%s' is for %d channels, %d classes at %dx%d; the data has %d, %d at %dx%d",
              arch_path, a.cin, a.classes, a.in_hw, a.in_hw, d.train.c, d.classes, in_hw, in_hw);
    uint64_t init_stream = STREAM_RETRAIN_INIT;
    Recipe r = recipe_retrain(cfg);
    if (seed >= 2) r.stream = STREAM_RETRAIN_SEEDS + 2 * (uint64_t)seed, init_stream = r.stream + 1;
    Rng root = rng_new((uint64_t)cfg->run.seed), init = rng_split(&root, init_stream);
    ArchNet net;
    archnet_init(ctx->be, &net, &a, &d, &r, &init);
    char ckpt[1100], job[1200], *name = strrchr(stem, '/');
    stage_resume_path(ctx, cfg, name ? name + 1 : stem, ckpt, sizeof ckpt);
    if (force && ctx->rank == 0) ckpt_remove(ckpt);  // --force: from scratch
    par_barrier();
    snprintf(job, sizeof job, "%s arch %s", name ? name + 1 : stem, digest);
    char *id = stage_identity(ctx, job);
    r.ckpt = ckpt, r.identity = id, r.job = name ? name + 1 : stem;
    double *top1 = dna_calloc((size_t)r.fit->epochs, sizeof(double)), t0 = timer_now();
    int stopped = 0;
    archnet_fit(ctx, cfg, &r, &d, &net, top1, &stopped);
    double secs = timer_now() - t0;
    if (stopped) {
        free(top1);
        archnet_free(ctx->be, &net);
        dataset_free(&d);
        return stage_stopped(ctx, "retrain: %s stopped by a signal; checkpointed to '%s'",
                             arch_path, ckpt);
    }
    if (ctx->rank == 0) {
        char hex[17];
        H5Prov prov = h5_prov_of_run(ctx, cfg, TEACHER_FORMAT, hex);
        if (a.vit) {  // its state by name (doc/formats.md, "retrain.h5 of a ViT")
            char tmp[1024];
            hid_t f = h5_create_tmp(h5, tmp);
            weights_write(f, tmp, ctx->be, net.vn.state, net.vn.nstate);
            h5_attr_prov(f, &prov, tmp);
            h5_commit(f, tmp, h5);
        } else {
            teacher_save(&net.t, ctx->be, &prov, h5);
        }
        char hash[17];
        config_hash(cfg, hash);
        TextOut out;
        FILE *f = textout_open(&out, js);
        fprintf(f,
                "{\n  \"format\": \"dnafam-retrain\", \"version\": 1,\n  \"arch\": \"%s\", "
                "\"arch_digest\": \"%s\",\n",
                arch_path, digest);
        fp_write_json_fields(f, ctx->fingerprint, ctx->fingerprint_keys, "  ");
        char score[32];  // null for a network no search scored (a bench or scaled one)
        fprintf(f,
                "  \"params\": %ld, \"macs\": %ld, \"predicted_score\": %s,\n"
                "  \"epochs\": %ld, \"top1_per_epoch\": [",
                arch_params(&a), arch_macs(&a), json_num(score, a.score, 9), r.fit->epochs);
        for (long e = 0; e < r.fit->epochs; e++) fprintf(f, "%s%.6f", e ? ", " : "", top1[e]);
        fprintf(f,
                "],\n  \"top1\": %.6f, \"seconds\": %.1f, \"ranks\": %d,\n"
                "  \"seed\": %ld, \"retrain_seed\": %ld, \"config_hash\": \"%s\", \"git_rev\": "
                "\"%s\", \"dna_version\": \"%s\"\n}\n",
                net.t.top1, secs, ctx->nranks, cfg->run.seed, seed, hash, ctx->git_rev,
                ctx->version);
        textout_commit(&out);
    }
    par_barrier();
    fit_done(ctx, &r);
    char which[64] = "";
    if (nseeds > 1) snprintf(which, sizeof which, " (seed %ld of %ld)", seed, nseeds);
    log_info(ctx,
             "retrain: %s: %ld params, %.2fM MACs, test top-1 %.2f%% after %ld epochs%s, "
             "%.0f s -> %s",
             arch_path, arch_params(&a), arch_macs(&a) / 1e6, 100.0 * net.t.top1, r.fit->epochs,
             which, secs, js);
    free(top1), free(id);
    archnet_free(ctx->be, &net);
    dataset_free(&d);
    return STAGE_RAN;
}

// The network's seeds 1..[retrain] seeds (arch.json or --arch), then, for arch.json, the
// random networks, 1 seed each: a seed more of every random network would cost as many
// retrainings as there are random networks, and the default run has time for one more
// (doc/guide.md, "Reading the report"); their spread is shown beside their mean instead.
static int run(const RunCtx *ctx, const Config *cfg, int force) {
    // The retrained files record the stage's fingerprint without retrain.seeds: how many seeds
    // are trained changes no single seed's training, so raising [retrain] seeds keeps the files
    // (and checkpoints) already made and trains only the new seeds; with seeds = 1 the files
    // are those of a dna without the key.
    Fingerprint fp;
    fp_make_without(&fp, ctx->fingerprint_keys ? ctx->fingerprint_keys : "", "retrain.seeds");
    RunCtx c = *ctx;
    c.fingerprint = fp.hex, c.fingerprint_keys = fp.keys;
    char path[1100];
    if (cfg->retrain.arch[0])
        snprintf(path, sizeof path, "%s", cfg->retrain.arch);
    else
        config_run_path(cfg, "arch.json", path, sizeof path);
    int rc = STAGE_SKIPPED, ran = 0;
    for (long s = 1; s <= cfg->retrain.seeds && rc != STAGE_STOPPED; s++)
        ran |= (rc = retrain_one(&c, cfg, path, s, cfg->retrain.seeds, force)) == STAGE_RAN;
    for (long i = 1; !cfg->retrain.arch[0] && i <= cfg->search.random && rc != STAGE_STOPPED; i++) {
        char name[64];
        snprintf(name, sizeof name, "random_%ld.json", i);
        config_run_path(cfg, name, path, sizeof path);
        ran |= (rc = retrain_one(&c, cfg, path, 1, 1, force)) == STAGE_RAN;
    }
    fp_free(&fp);
    return rc == STAGE_STOPPED ? rc : ran ? STAGE_RAN : STAGE_SKIPPED;
}

const Stage STAGE_RETRAIN = {
    .name = "retrain",
    .help =
        "train the searched network from scratch (--arch FILE; [retrain] seeds) -> "
        "retrain.h5/.json",
    .run = run,
    .order = 7,
    .reads = {"dataset.h5"},
    .writes = "retrain.json",
    .partial = "resume/retrain.h5",
    .sections = "data retrain",
    .flags = {{"--arch", "retrain.arch"}},
    .decides = 1,
    .checkpoints = 1,
    .metrics = 1,
};
