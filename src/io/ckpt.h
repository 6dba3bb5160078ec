// Training checkpoints (DESIGN §3): parameters with their optimizer state (Adam moments,
// per-parameter step counts), BN running statistics, and integer progress attributes
// (epoch, data cursor, step, done), written atomically (temporary name + rename), so a
// killed run resumes from the last complete checkpoint and ends bitwise where an
// uninterrupted run would.
#pragma once
#include "io/h5.h"
#include "nn/convbn.h"

typedef struct CkptMeta {
    long long epoch, cursor, step, done;  // cursor: next batch of `epoch`
    // The loss curves, in caller-owned arrays: training loss of every step so far (`step`
    // values, room for `cap_steps`) and validation loss of the first `nval` epochs (room for
    // `cap_epochs`). Either array may be NULL (then not stored).
    float *loss, *val;
    long long nval, cap_steps, cap_epochs;
} CkptMeta;

void ckpt_save(const char *path, const Backend *be, const ParamList *pl, BatchNorm **bns, int nbn,
               const CkptMeta *meta, const H5Prov *prov);
// 0 when the file does not exist; else loads everything (fatal on any mismatch) and returns 1.
int ckpt_load(const char *path, const Backend *be, const ParamList *pl, BatchNorm **bns, int nbn,
              CkptMeta *meta);
