// The student search space (doc/design.md §4) resolved against the teacher: per block, its cells as
// CellCfgs (input width and stride from the teacher's block boundaries, inner width and depth from
// [space], output width = the teacher's), block 1's stem, and the counts a plan needs:
// architectures per block and in total, per-sample MACs of a training step, parameters.
#pragma once
#include "core/config.h"
#include "nas/cell.h"
#include "nas/vitcell.h"
#include "nn/effnet.h"

enum { SPACE_MAX_CELLS = 8 };
// The most paths a cell, and the whole space, may have: rating gathers two doubles per path
// to rank 0 in one MPI_Gatherv (int counts: 2 x 2^29 plus a value per unit stays below
// INT_MAX), and the search indexes a block's candidates with int. At the limit rank 0 holds
// 16 GiB of potentials (4 doubles per path). Checked when the space is parsed.
#define SPACE_MAX_PATHS ((int64_t)1 << 29)

typedef struct SpaceBlock {
    int ncells;
    CellCfg cell[SPACE_MAX_CELLS];  // MBConv spaces
    VitCellCfg vit;                 // ViT spaces: the block's one supernet (ncells = 1)
    int in_c, in_hw, out_c, out_hw;  // teacher maps: input (block 1: the image) and target
    int cell_hw;                     // layer 0's input size (block 1: after the stem)
} SpaceBlock;

typedef struct Space {
    int vit;  // [space] kind = vit
    int nblocks;
    SpaceBlock block[SPACE_MAX_BLOCKS];
    int stem, stem_stride;  // block 1's cells start with stem conv 3x3 (image -> stem width)
} Space;

// Fatal, naming the config key, when the space does not fit the teacher: block count,
// cell syntax, a resolution step other than 1 or 2 per block, unknown ops; and when a cell,
// or the whole space, has more than SPACE_MAX_PATHS paths. ViT spaces: a width that is not a
// multiple of head_dim, an MLP width that is not whole, candidates out of order, a teacher
// map whose resolution the block's input does not tile (the embedding's stride).
void space_from_config(const Config *cfg, const EffNetCfg *teacher, int in_hw, Space *sp);
int64_t space_block_paths(const Space *sp, int k);  // sum over the block's cells of nops^layers
int64_t space_cell_paths(const Space *sp, int k, int c);  // one cell's (a ViT block: its one)
// A path of cell c in words, for CSVs: its layers, width and ops ("e6k3-e3k5"; a ViT
// subnet: "d48-r3-n2", its width, MLP ratio and depth).
void space_path_describe(const Space *sp, int k, int c, int64_t code, int *layers, int *width,
                         char *ops, size_t n);
// Product over blocks: the architectures, a figure for people (it outgrows 64 bits easily).
double space_total(const Space *sp);
int64_t space_total_paths(const Space *sp);  // sum over blocks (what rating scores)
// Per sample, forward: the stem (block 1) plus each layer's MACs averaged over its ops,
// which is the expected cost of a uniformly sampled path.
double space_cell_macs(const Space *sp, int k, int c);
long space_cell_params(const Space *sp, int k, int c);  // every op of every layer (+ stem)
// Floats per sample a training step holds (the largest subnet's, for ViT cells; 8 buffers
// of the largest activation per layer for MBConv cells): `dna plan`'s memory estimate.
double space_cell_train_floats(const Space *sp, int k, int c);
// Fatal unless the space is MBConv: on ViT spaces the pipeline (plan, data .. report) and
// the ranking tools (bench, spos, proxy, rank, calibrate) run; DNA+ not yet.
void space_require_mbconv(const Space *sp, const char *what);
