// The runner: every command of `dna` is a Stage (one file each in src/stages/), and this file
// carries them out. For a pipeline stage it parses the arguments, prepares the run directory
// (config.ini, the stage's log files), checks the stage's inputs ("stage X needs FILE, made by
// stage Y"), skips a stage whose output is complete, installs the stop signals for stages
// that checkpoint, times the stage and records it in stages.csv. `dna run` runs the pipeline
// stages in order. Also here: what every stage shares (the run's space, its dataset).
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "io/dataset.h"
#include "nas/space.h"
#include "nn/effnet.h"

// What a pipeline stage's function returns. STAGE_STOPPED: a stop signal came, every rank
// agreed and checkpointed; the command exits with DNA_EXIT_REQUEUE (stage_stopped says so).
enum { STAGE_RAN = 0, STAGE_SKIPPED = 1, STAGE_STOPPED = 2 };
typedef int (*StageFn)(const RunCtx *ctx, const Config *cfg, int force);

enum { RUNNER_MAX_FLAGS = 5 };  // flags a stage may have

typedef struct FlagKey {
    const char *flag, *key;  // "--max-params" stands for "search.max_params=VALUE"
    const char *refused;     // key NULL: the flag is an error, and this is its fix
} FlagKey;

typedef struct Stage Stage;
typedef struct Commands {  // every command, in `dna help` order (main.c's table)
    const Stage *const *stage;
    int n;
} Commands;

struct Stage {
    const char *name, *help;
    // A pipeline stage: `dna NAME [CFG] [section.key=value ...] [--backend B] [--force]` plus
    // `flags`, each standing for a config key (so config.ini records it).
    StageFn run;
    int order;             // its place in `dna run` (1, 2, ...); 0: not part of it
    const char *reads[4];  // run-relative inputs, each made by another stage
    const char *writes;    // its output: when it exists the stage is complete
    const char *partial;   // what exists while it is partly done (`dna status`)
    const char *sections;  // config sections its output depends on: "data teacher"
    void (*keys)(const Config *cfg, FILE *f);  // more fingerprint lines (may be NULL)
    FlagKey flags[RUNNER_MAX_FLAGS];
    int decides;      // the stage decides itself whether to skip (the runner never skips it)
    int redo;         // run on its own (not by `dna run`) it always redoes its work
    int checkpoints;  // it checkpoints: SIGTERM/SIGUSR1 checkpoint it and stop the run
    int metrics;      // it trains: its metrics go to <run>/log/<name>.jsonl
    // Any other command: its own arguments, no run directory of its own.
    int (*command)(RunCtx *ctx, const Commands *all, int argc, char **argv);
};

// Runs `dna NAME ARGS...`: argv[0] is the command's name.
int runner_dispatch(RunCtx *ctx, const Commands *all, int argc, char **argv);
// Arguments of a stage: [CFG] [section.key=value ...] [--backend B] [--force] and the
// flags; without CFG the defaults hold. Sets ctx's seed and backend. Returns --force.
int runner_args(RunCtx *ctx, const FlagKey *flags, int argc, char **argv, Config *cfg);
// Creates the run directory (rank 0), takes the run lock (<run>/.lock, held until the process
// ends; fatal, naming the holder, when another command holds it; a DNA+ generation's command
// takes the run's, as `dna run` covers every generation) and appends this invocation (time,
// command line, hash, effective config) to config.ini of its directory; all ranks return
// after that.
void runner_prepare(RunCtx *ctx, const Config *cfg, int argc, char **argv);
void runner_unlock(RunCtx *ctx);  // the command is over: releases the run lock
// Opens <run_dir>/log/<name>.log (and .jsonl with metrics) for appending on every rank,
// creating log/: the log lines and fatal errors go there too. runner_close_logs ends that.
void runner_open_logs(RunCtx *ctx, const char *run_dir, const char *name, int metrics);
void runner_close_logs(RunCtx *ctx);
// Runs one pipeline stage as described above; returns STAGE_RAN, STAGE_SKIPPED or
// STAGE_STOPPED (also when a stop signal came after the stage's last look at it). Rank 0
// makes every decision (skip, inputs present) and the other ranks follow it. The stage's
// fingerprint (the keys of its sections and its inputs' fingerprints) is in ctx while it
// runs, and its output records it; an output of another fingerprint is an error naming the
// changed keys, and --force first removes the stage's partial work.
int runner_stage(RunCtx *ctx, const Commands *all, const Config *cfg, const Stage *st, int force);
// Logs (rank 0) "<what>; rerun the same command to resume (exit 75)" and returns
// STAGE_STOPPED: what a stage that stopped on a signal returns, on every rank.
int stage_stopped(const RunCtx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// The command of `name`, or NULL.
const Stage *runner_find(const Commands *all, const char *name);
// The pipeline stage at place `order` of `dna run` (1, 2, ...), or NULL past the last.
const Stage *runner_at(const Commands *all, int order);
// The stage whose output is `file` (run-relative), or NULL.
const Stage *runner_maker(const Commands *all, const char *file);

// The space as the run's teacher.h5 defines it (block widths and sizes), and the teacher's
// architecture and input size when asked for (arch, in_hw may be NULL).
void stage_space(const RunCtx *ctx, const Config *cfg, Space *sp, EffNetCfg *arch, int *in_hw);
// The same for a stage that runs on ViT spaces too (stage_space refuses them).
void stage_space_any(const RunCtx *ctx, const Config *cfg, Space *sp, EffNetCfg *arch, int *in_hw);
// The run's dataset.h5, checked against [data] classes.
void stage_dataset(const Config *cfg, Dataset *d);
// What a training loop's checkpoint belongs to: the running stage's fingerprint keys and a
// "job = <job>" line (which network; caller frees). A checkpoint of another identity is an
// error naming what changed.
char *stage_identity(const RunCtx *ctx, const char *job);
// Fatal: `what` of stage st was made with other settings; names each key whose value differs
// (old_keys NULL: none recorded) and the fixes (--force, a new run.name).
void stage_mismatch(const Stage *st, const Config *cfg, const char *what, const char *old_keys,
                    const char *new_keys);
// Fingerprint lines of DNA++'s mode for the stages before `train` whose output it changes
// (the teacher's initial weights, no shards): nothing in distillation's mode, so a DNA run's
// fingerprints stay as they were. A Stage's `keys`.
void stage_mode_keys(const Config *cfg, FILE *f);
// <run>/resume/<name>.h5, where a training loop's checkpoint lives until the stage's output
// holds its result; collective: rank 0 creates the directory.
void stage_resume_path(const RunCtx *ctx, const Config *cfg, const char *name, char *buf, size_t n);
