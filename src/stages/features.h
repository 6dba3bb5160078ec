// The features stage's extraction, also timed by tests/bench/bench_features.c: the teacher t
// in eval mode over d's supernet-training split, search split and test, every rank writing
// its own shards of each (missing ones only), then the marker <run>/features/COMPLETE.
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "io/dataset.h"
#include "io/teacher.h"

void features_extract(const RunCtx *ctx, const Config *cfg, const Dataset *d, Teacher *t);
