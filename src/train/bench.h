// `dna bench` (DESIGN §5.6): the ground truth a rating is judged by. [bench] n architectures
// are sampled from the search space, stratified by parameter count so they span its cost
// range, and each is trained from scratch as a standalone network with the one [bench]
// recipe on the whole training set; its test top-1 is the truth. One architecture per rank
// at a time, handed out dynamically (largest first, so the last ones to finish are small);
// every result is its own file, so an interrupted bench resumes where it stopped. Writes
// bench/arch_<id>.json and bench/result_<id>.json, then bench.h5 and bench.csv.
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "nas/space.h"
#include "nn/effnet.h"

enum { BENCH_FORMAT = 1 };

// The sampled architectures, in ascending cost (id = index + 1).
typedef struct Bench {
    int n, nblocks;
    int *cell;    // [n * nblocks] cell index per block
    long *code;   // [n * nblocks] path code per block
    double *params, *macs, *top1, *seconds;  // [n]; top1 NAN until trained
} Bench;

// n architectures from a pool of uniform draws (seeded): the pool's parameter range cut into
// n equal intervals, one distinct architecture drawn from each (or, for an empty interval,
// the unused one nearest its middle). Fills cell, code, params and macs; fatal when the
// space holds fewer than n distinct architectures.
void bench_sample(const Space *sp, const EffNetCfg *teacher, int in_hw, int n, uint64_t seed,
                  Bench *b);
int stage_bench(const RunCtx *ctx, const Config *cfg, int force);
void bench_load(const char *path, Bench *b);  // bench.h5; fatal naming the file
void bench_free(Bench *b);
