// Potentials: every path's rating, per block and cell (the rating's result and the search's
// input): score (relative L1, Eqn 7), MSE, and the cell's standalone cost read from the
// teacher's block-(k-1) width. Paths are in code order, so a path's row is its code. The
// file (potentials.h5 and its CSVs) is src/io/potentials.c's.
#pragma once
#include "nas/space.h"

typedef struct CellScores {
    int64_t npaths;
    double *score, *mse, *params, *macs;  // [npaths]
} CellScores;

typedef struct Potentials {
    int nblocks, ncells[SPACE_MAX_BLOCKS];
    CellScores cell[SPACE_MAX_BLOCKS][SPACE_MAX_CELLS];
} Potentials;

void potentials_free(Potentials *p);
