// Potentials (DESIGN §3): every path's rating, per block and cell, in potentials.h5 (one
// float64 dataset per block, cell and quantity: block<k>_cell<c>_score, _mse, _params,
// _macs; paths in code order, so a path's row is its code) plus one CSV per block for
// people and other tools. Params/MACs there are the cell's standalone cost read from the
// teacher's block-(k-1) width; the search recomputes the first layer's cost for every
// previous-block width.
#pragma once
#include "io/h5.h"
#include "nas/space.h"

typedef struct CellScores {
    long npaths;
    double *score, *mse, *params, *macs;  // [npaths]
} CellScores;

typedef struct Potentials {
    int nblocks, ncells[SPACE_MAX_BLOCKS];
    CellScores cell[SPACE_MAX_BLOCKS][SPACE_MAX_CELLS];
} Potentials;

#define POTENTIALS_FORMAT 1

// Writes potentials.h5 at path and potentials_block<k>.csv next to it (all atomically).
void potentials_save(const char *path, const Potentials *p, const Space *sp, const H5Prov *prov);
// Loads and checks the shape against the space (fatal naming the file on a mismatch).
void potentials_load(const char *path, const Space *sp, Potentials *p);
void potentials_free(Potentials *p);
