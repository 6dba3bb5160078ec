// Every command of `dna`, one per file of src/stages/ (main.c's table lists them in `dna help`
// order). A pipeline stage's descriptor names its inputs, its output and the config sections
// its output depends on; src/stages/runner.c carries it out.
#pragma once
#include "stages/runner.h"

extern const Stage STAGE_RUN;       // run.c       the whole pipeline
extern const Stage STAGE_DATA;      // data.c      dataset.h5
extern const Stage STAGE_TEACHER;   // teacher.c   teacher.h5
extern const Stage STAGE_FEATURES;  // features.c  features/
extern const Stage STAGE_PLAN;      // plan.c      sizes, no files
extern const Stage STAGE_TRAIN;     // distill.c   ckpt/
extern const Stage STAGE_RATE;      // rate.c      potentials.h5
extern const Stage STAGE_SEARCH;    // search.c    arch.json
extern const Stage STAGE_EXPORT;    // export.c    timm arch_def
extern const Stage STAGE_SCALE;     // scale.c     a scaled arch.json
extern const Stage STAGE_RETRAIN;   // retrain.c   retrain.json
extern const Stage STAGE_PLUS;      // plus.c      DNA+ generations gen<m>/
extern const Stage STAGE_REPORT;    // report.c    report.md, run.json
extern const Stage STAGE_BENCH;     // bench.c     bench.h5
extern const Stage STAGE_SPOS;      // spos.c      spos.csv
extern const Stage STAGE_RANK;      // rank.c      rank_<name>.*
extern const Stage STAGE_CALIB;     // calibrate.c predictor.json
extern const Stage STAGE_PROXY;     // proxy.c     proxy_<name>.csv
extern const Stage STAGE_COMPARE;   // compare.c   rank_compare.csv
extern const Stage STAGE_STATUS;    // status.c    every stage's state
extern const Stage STAGE_SHARDS;    // shards.c    shard digests
extern const Stage STAGE_CHECK;     // check.c     a few steps of a cell
