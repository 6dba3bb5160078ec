// bench.h5 (doc/formats.md): a ranking benchmark's architectures (src/nas/bench.h) with their
// costs, trained top-1 and seconds, and the hash of the recipe that trained them.
#pragma once
#include "io/h5.h"
#include "nas/bench.h"

enum { BENCH_FORMAT = 1 };

void bench_save_h5(const char *path, const Bench *b, const H5Prov *prov, const char *recipe_hash);
void bench_load(const char *path, Bench *b);  // fatal naming the file
