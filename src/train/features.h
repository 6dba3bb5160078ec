// The features stage: run the frozen teacher in eval mode over the supernet-training split
// (train minus search), the search split and test, and write the feature shards of DESIGN §3
// under <run>/features/<split>/. Every rank writes its own files for its slice of each split
// (src/io/shard.c plans the slices), so the shards do not depend on the rank count.
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "io/dataset.h"
#include "train/teacher.h"

enum { FEATURES_NSPLITS = 3 };
extern const char *const FEATURES_SPLITS[FEATURES_NSPLITS];  // "train", "search", "test"

// Writes every missing shard (a rerun continues), then the marker <run>/features/COMPLETE.
void features_extract(const RunCtx *ctx, const Config *cfg, const Dataset *d, Teacher *t);
