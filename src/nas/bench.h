// The architectures of a ranking benchmark (`dna bench`, `dna spos`, `dna rank`): n
// architectures sampled from the search space, stratified by parameter count so that they
// span its cost range, with their costs and (once trained) their test top-1. Pure
// computation; bench.h5 is src/io/bench.c's.
#pragma once
#include <stdint.h>

#include "nas/space.h"
#include "nn/effnet.h"

// The sampled architectures, in ascending cost (id = index + 1).
typedef struct Bench {
    int n, nblocks;
    int *cell;                               // [n * nblocks] cell index per block
    int64_t *code;                           // [n * nblocks] path code per block
    double *params, *macs, *top1, *seconds;  // [n]; top1 NAN until trained
} Bench;

// n architectures from a pool of uniform draws (seeded): the pool's parameter range cut into
// n equal intervals, one distinct architecture drawn from each (or, for an empty interval,
// the unused one nearest its middle). Fills cell, code, params and macs; fatal when the
// space holds fewer than n distinct architectures.
void bench_sample(const Space *sp, const EffNetCfg *teacher, int in_hw, int n, uint64_t seed,
                  Bench *b);
void bench_alloc(Bench *b, int n, int nblocks);  // top1 NAN
void bench_free(Bench *b);
