// The one-shot weight-sharing supernet of `dna spos` (SPOS, Guo et al., 2020): the run's
// search space end to end — block k holds all of block k's cells (the same cells DNA
// trains, each reading the teacher's block-(k-1) width and writing its block-k width) —
// then the teacher's head. A path is one cell per block and one op per layer; forward,
// backward and the parameter list go through the current path only. On a ViT space block k
// is its one slimmable ViT supernet (nas/vitcell.h) and a path one subnet per block; its
// parameter list is every parameter, the weight entanglement DNA's ViT training uses
// (doc/design.md §4.4), so that the two ratings differ only in their supervision.
#pragma once
#include "nas/cell.h"
#include "nas/space.h"
#include "nn/effnet.h"

typedef struct OneShot {
    const Space *sp;
    Cell cell[SPACE_MAX_BLOCKS][SPACE_MAX_CELLS];
    VitCell vit[SPACE_MAX_BLOCKS];  // ViT spaces
    Head head;
    HeadCache head_c;
    int pick[SPACE_MAX_BLOCKS];                  // the cell of each block on the current path
    int ops[SPACE_MAX_BLOCKS][CELL_MAX_LAYERS];  // and its layers' ops
    int64_t code[SPACE_MAX_BLOCKS];              // ViT spaces: each block's subnet
} OneShot;

void oneshot_init(const Backend *be, OneShot *s, const Space *sp, const EffNetCfg *teacher,
                  float dropout, Rng *rng);
void oneshot_free(const Backend *be, OneShot *s);
// Every parameter (all cells', then the head's), and every BN's running statistics (cells in
// order, then the head's): what a checkpoint holds. Returns the statistics' count.
void oneshot_all_params(OneShot *s, ParamList *l);
int oneshot_stats(OneShot *s, Tensor **stats, int max);
// Draws the current path uniformly: per block a cell, per layer an op (ViT: a subnet).
void oneshot_draw(OneShot *s, Rng *r);
// The current path's parameters (ViT: all of them; the list is emptied first).
void oneshot_path_params(OneShot *s, ParamList *l);
// Sets the current path to architecture (cell[k], code[k]) of the space.
void oneshot_set(OneShot *s, const int *cell, const int64_t *code);
// `drop` draws the head's dropout and, on ViT spaces, DropPath (NULL: neither).
const Tensor *oneshot_forward(const Backend *be, OneShot *s, const Tensor *x, BNMode mode,
                              Rng *drop);
void oneshot_backward(const Backend *be, OneShot *s, const Tensor *dlogits);
