// The constrained search (`dna search`, DESIGN §5.3) on rank 0: potentials.h5 and the cost
// model (src/nas/arch.c) become a SearchProblem (block k's input states are block k-1's
// distinct cell widths, so every first layer is costed from the width it really reads);
// the traversal search and the exact solver both run and must agree; the result is
// arch.json, top.csv (the K best), frontier.csv and frontier.png (score vs parameters, the
// chosen architecture marked). An impossible budget is an error stating the cheapest
// architecture's cost, and writes nothing.
#pragma once
#include "core/config.h"
#include "core/ctx.h"
#include "io/potentials.h"
#include "nas/search.h"
#include "nas/space.h"

// The search space with its scores as a SearchProblem: candidates of block k are its cells'
// paths in (cell, code) order; costs are (params, MACs) from the cost model.
typedef struct SpaceProblem {
    SearchProblem p;
    SearchBlock b[SPACE_MAX_BLOCKS];
    int nw[SPACE_MAX_BLOCKS], width[SPACE_MAX_BLOCKS][SPACE_MAX_CELLS];  // distinct widths
    int *cell[SPACE_MAX_BLOCKS];   // [ncand] candidate -> cell
    long *code[SPACE_MAX_BLOCKS];  // [ncand] candidate -> path code
    double *score[SPACE_MAX_BLOCKS], *cost[SPACE_MAX_BLOCKS], *tail;
    int *out[SPACE_MAX_BLOCKS];
} SpaceProblem;

void search_problem_build(const Space *sp, const EffNetCfg *teacher, int in_hw,
                          const Potentials *pot, const double budget[2], SpaceProblem *q);
void search_problem_free(SpaceProblem *q);

void searching_run(const RunCtx *ctx, const Config *cfg, const Space *sp, const EffNetCfg *teacher,
                   int in_hw);
