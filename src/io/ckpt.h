// Training checkpoints (doc/formats.md): a trainee's parameters with whatever optimizer state
// the optimizer allocated (momentum, moments, per-parameter step counts), tensors that are
// the same on every rank of its team ("shared": an EMA of the weights), every member's own
// values as one row per member ("rows": BN running statistics and running sums, which
// differ per rank in data-parallel training), sequential random streams, the progress
// counters and the curves. Written atomically (temporary name + rename), so a killed run
// resumes from the last complete checkpoint. Knows nothing of what the rows mean.
#pragma once
#include "io/h5.h"
#include "nn/param.h"

typedef struct Ckpt {
    // Tensors, the caller's: saved from and loaded into in place.
    const ParamList *params;
    Tensor *const *shared;
    int nshared;
    // Rows: save writes members x row values; load allocates them (caller frees) and sets
    // members to what the file holds, so a team of another size can decide what to do.
    double *rows;
    int members;
    long row;
    void *rng;  // sequential random streams as bytes (rng_bytes of them; 0: none)
    size_t rng_bytes;
    // Progress and curves. loss[nloss]: per-step values (room for cap_loss on load);
    // val[nval]: one figure per epoch (room for cap_val on load). NULL: not kept.
    long long epochs, per_epoch;  // the training's length (for `dna status`)
    long long epoch, cursor, step, done, nval, nloss;
    float *loss;
    double *val;
    long long cap_loss, cap_val;
    const char *identity;  // what the state belongs to (settings, architecture); NULL: none
} Ckpt;

// Writes path atomically and durably (h5_commit); the checkpoint it replaces is kept as
// "<path>.prev", so a newest file damaged after the fact (a disk, a copy) leaves one to
// resume from.
void ckpt_save(const char *path, const Backend *be, const Ckpt *c, const H5Prov *prov);
// The file to resume from: path when it can be read in full; else its previous generation
// prev ("<path>.prev", set here) when that can, with *fell_back = 1; NULL when neither
// exists. Fatal, naming both, when path exists and neither can be read.
const char *ckpt_choose(const char *path, char prev[1100], int *fell_back);
// Deletes a checkpoint and its previous generation (once the output holds the result).
void ckpt_remove(const char *path);
// 0 when the file does not exist; else loads everything into c and returns 1. Fatal, naming
// the file and the fix, when it does not fit: another parameter list, tensor shape, row
// length or random-stream size, or more progress than the caps hold.
int ckpt_load(const char *path, const Backend *be, Ckpt *c);
// The identity a checkpoint was saved with ("" without one), NULL when there is no file
// (caller frees).
char *ckpt_identity(const char *path);
