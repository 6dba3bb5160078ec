// The search space with its scores as a SearchProblem (src/nas/search.h): candidates of
// block k are its cells' paths in (cell, code) order, block k's input states are block k-1's
// distinct cell widths (so every first layer is costed from the width it really reads), and
// costs are (params, MACs) from the cost model (src/nas/arch.c). Scores may be weighted per
// block (problem_weight).
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
// A calibrated predictor's block weights (src/nas/predictor.h): every candidate score of block
// k becomes w[k] * score, before any solver sees it, so the solvers, their summation order
// and their exactness are unchanged; w[k] = 1 leaves the scores bitwise as they were. Any
// finite weight is accepted (a fitted weight may be 0 or negative); fatal otherwise.
void problem_weight(SpaceProblem *q, const double *w);

// The architecture a solver's choice stands for, its score the choice's.
void problem_arch(const SpaceProblem *q, const Space *sp, const EffNetCfg *teacher, int in_hw,
                  const SearchArch *s, Arch *a);
