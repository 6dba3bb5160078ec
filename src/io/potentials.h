// potentials.h5 (doc/formats.md): src/nas/potentials.h's ratings as one float64 dataset per
// block, cell and quantity (block<k>_cell<c>_score, _mse, _params, _macs; paths in code
// order), plus one CSV per block for people and other tools. The search recomputes the
// first layer's cost for every previous-block width; the costs here are the cell's
// standalone ones.
#pragma once
#include "io/h5.h"
#include "nas/potentials.h"

#define POTENTIALS_FORMAT 1

// Writes potentials.h5 at path and potentials_block<k>.csv next to it (all atomically).
void potentials_save(const char *path, const Potentials *p, const Space *sp, const H5Prov *prov);
// Loads and checks the shape against the space (fatal naming the file on a mismatch).
void potentials_load(const char *path, const Space *sp, Potentials *p);
