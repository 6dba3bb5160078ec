// The search space with its scores as a SearchProblem (see problem.h).
#include "nas/problem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nas/arch.h"

static int width_index(const SpaceProblem *q, int k, int w) {
    for (int i = 0; i < q->nw[k]; i++)
        if (q->width[k][i] == w) return i;
    return -1;
}

// The width a cell's standalone layers output: its own (MBConv); a ViT stage maps back to
// the teacher's, so a ViT block has one output state and costs that do not depend on the
// block before.
static int cell_out_width(const Space *sp, int k, int c) {
    return sp->vit ? sp->block[k].out_c : sp->block[k].cell[c].width;
}

static void cell_cost(const Space *sp, int k, int c, int64_t code, int cin, long *pa, long *ma) {
    const SpaceBlock *b = &sp->block[k];
    if (sp->vit) {
        VitStageCfg v = vitcell_stage(&b->vit, code);
        *pa = vitstage_param_count(v), *ma = vitstage_macs(v);
    } else {
        arch_block_cost(&b->cell[c], code, cin, b->cell_hw, pa, ma);
    }
}

void problem_build(const Space *sp, const EffNetCfg *t, int in_hw, const Potentials *pot,
                   const double budget[2], SpaceProblem *q) {
    memset(q, 0, sizeof *q);
    for (int k = 0; k < sp->nblocks; k++)
        for (int c = 0; c < sp->block[k].ncells; c++)
            if (width_index(q, k, cell_out_width(sp, k, c)) < 0)
                q->width[k][q->nw[k]++] = cell_out_width(sp, k, c);
    for (int k = 0; k < sp->nblocks; k++) {
        const SpaceBlock *b = &sp->block[k];
        int nin = k ? q->nw[k - 1] : 1;
        int64_t all = 0;
        for (int c = 0; c < b->ncells; c++) all += pot->cell[k][c].npaths;
        // The solvers index a block's candidates with int; the space parser's limit
        // (SPACE_MAX_PATHS) keeps every block far below.
        DNA_CHECK(all <= SPACE_MAX_PATHS, "use a smaller search space",
                  "search: block %d has %lld candidate paths, more than %lld", k + 1,
                  (long long)all, (long long)SPACE_MAX_PATHS);
        int n = (int)all;
        q->cell[k] = dna_malloc(sizeof(int) * (size_t)n);
        q->code[k] = dna_malloc(sizeof(int64_t) * (size_t)n);
        q->score[k] = dna_malloc(sizeof(double) * (size_t)n);
        q->out[k] = dna_malloc(sizeof(int) * (size_t)n);
        q->cost[k] = dna_malloc(sizeof(double) * (size_t)n * nin * 2);
        int j = 0;
        for (int c = 0; c < b->ncells; c++)
            for (int64_t i = 0; i < pot->cell[k][c].npaths; i++, j++) {
                q->cell[k][j] = c, q->code[k][j] = i, q->score[k][j] = pot->cell[k][c].score[i];
                q->out[k][j] = width_index(q, k, cell_out_width(sp, k, c));
                for (int s = 0; s < nin; s++) {
                    long pa, ma;
                    cell_cost(sp, k, c, i, k ? q->width[k - 1][s] : sp->stem, &pa, &ma);
                    q->cost[k][((size_t)j * nin + s) * 2] = (double)pa;
                    q->cost[k][((size_t)j * nin + s) * 2 + 1] = (double)ma;
                }
            }
        q->b[k] = (SearchBlock){.ncand = n,
                                .nin = nin,
                                .nout = q->nw[k],
                                .score = q->score[k],
                                .out = q->out[k],
                                .cost = q->cost[k]};
    }
    int K = sp->nblocks - 1;
    q->tail = dna_malloc(sizeof(double) * (size_t)q->nw[K] * 2);
    for (int s = 0; s < q->nw[K]; s++) {
        long pa, ma;
        arch_tail_cost(q->width[K][s], t->head, t->classes, sp->block[K].out_hw, &pa, &ma);
        q->tail[2 * s] = (double)pa, q->tail[2 * s + 1] = (double)ma;
    }
    long pa = 0, ma = 0;  // a ViT has no stem: block 1's stage embeds the image
    if (!sp->vit) arch_base_cost(t->cin, sp->stem, effnet_stem_hw(t, in_hw), &pa, &ma);
    q->p = (SearchProblem){.nblocks = sp->nblocks,
                           .ncost = 2,
                           .block = q->b,
                           .base = {(double)pa, (double)ma},
                           .tail = q->tail,
                           .budget = {budget[0], budget[1]}};
}

void problem_weight(SpaceProblem *q, const double *w) {
    for (int k = 0; k < q->p.nblocks; k++) {
        DNA_CHECK(isfinite(w[k]), "give finite block weights", "search: block %d weight %g", k + 1,
                  w[k]);
        for (int j = 0; j < q->b[k].ncand; j++) {
            q->score[k][j] = w[k] * q->score[k][j];
            DNA_CHECK(isfinite(q->score[k][j]), "give block weights of a sane size",
                      "search: block %d weight %g overflows a score", k + 1, w[k]);
        }
    }
}

void problem_free(SpaceProblem *q) {
    for (int k = 0; k < q->p.nblocks; k++)
        free(q->cell[k]), free(q->code[k]), free(q->score[k]), free(q->out[k]), free(q->cost[k]);
    free(q->tail);
}

void problem_arch(const SpaceProblem *q, const Space *sp, const EffNetCfg *t, int in_hw,
                  const SearchArch *s, Arch *a) {
    int cell[SPACE_MAX_BLOCKS];
    int64_t code[SPACE_MAX_BLOCKS];
    for (int k = 0; k < sp->nblocks; k++)
        cell[k] = q->cell[k][s->choice[k]], code[k] = q->code[k][s->choice[k]];
    arch_from_choice(sp, t, in_hw, cell, code, a);
    a->score = s->score;
}
