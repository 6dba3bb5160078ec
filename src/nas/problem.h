// The search space with its scores as a SearchProblem (src/nas/search.h): candidates of
// block k are its cells' paths in (cell, code) order, block k's input states are block k-1's
// distinct cell widths (so every first layer is costed from the width it really reads), and
// costs are (params, MACs) from the cost model (src/nas/arch.c).
#pragma once
#include "nas/arch.h"
#include "nas/potentials.h"
#include "nas/search.h"

typedef struct SpaceProblem {
    SearchProblem p;
    SearchBlock b[SPACE_MAX_BLOCKS];
    int nw[SPACE_MAX_BLOCKS], width[SPACE_MAX_BLOCKS][SPACE_MAX_CELLS];  // distinct widths
    int *cell[SPACE_MAX_BLOCKS];   // [ncand] candidate -> cell
    int64_t *code[SPACE_MAX_BLOCKS];  // [ncand] candidate -> path code
    double *score[SPACE_MAX_BLOCKS], *cost[SPACE_MAX_BLOCKS], *tail;
    int *out[SPACE_MAX_BLOCKS];
} SpaceProblem;

void problem_build(const Space *sp, const EffNetCfg *teacher, int in_hw, const Potentials *pot,
                   const double budget[2], SpaceProblem *q);
void problem_free(SpaceProblem *q);

// The architecture a solver's choice stands for, its score the choice's.
void problem_arch(const SpaceProblem *q, const Space *sp, const EffNetCfg *teacher, int in_hw,
                  const SearchArch *s, Arch *a);
