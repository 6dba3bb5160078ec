// A searched architecture (doc/formats.md, arch.json): the stem, one chosen cell path per block and
// the head, as the standalone network `retrain` builds. In the standalone network every layer
// of block k's cell outputs the cell's own width (the supernet's last layer mapped to the
// teacher's width only so that the loss could be taken), so block k+1's first layer reads
// block k's chosen width. Owns the JSON form, the EffNetCfg it becomes (consecutive identical
// layers merged into stages), its cost (parameters and multiply-adds) and the timm export.
// Pure computation: the file itself is src/io/arch.c's.
#pragma once
#include "nas/space.h"
#include "nn/vitnet.h"

typedef struct ArchBlock {
    int cell;      // cell index in the block
    int64_t code;  // path code (layer 0 most significant digit; a ViT subnet's code)
    int width, depth, stride;
    CellOp op[CELL_MAX_LAYERS];
    VitStageCfg vs;  // ViT architectures: the block's stage (width = vs.dim, depth = vs.depth)
} ArchBlock;

// A ViT architecture (vit = 1; doc/design.md §4.4) is the chain of its blocks' ViT stages,
// each from the teacher's map at the block's input to one shaped like its output, then the
// head (as an MBConv architecture's); it has no stem (block 1's stage embeds the image).
typedef struct Arch {
    int vit;
    int cin, in_hw, classes;  // image channels, network input size, classes
    int stem, stem_stride, head;
    float se_ratio;
    int nblocks;
    ArchBlock block[SPACE_MAX_BLOCKS];
    double score;  // predicted: sum of the blocks' path scores (NAN when not rated)
} Arch;

// The architecture of path `code` of cell `cell[k]` in every block k; head and classes from
// the teacher.
void arch_from_choice(const Space *sp, const EffNetCfg *teacher, int in_hw, const int *cell,
                      const int64_t *code, Arch *a);
// The layer ops of path `code` in a cell of `layers` layers with `nops` candidates.
void arch_decode_path(int64_t code, int layers, int nops, int *ops);
// The standalone network's config: one stage per run of identical layers; block k ends
// after the stages of cell k. Fatal for a ViT architecture.
void arch_to_effnet(const Arch *a, EffNetCfg *cfg);
// A ViT architecture's network config (its stages, the head); dropout and DropPath 0.
void arch_to_vitnet(const Arch *a, VitNetCfg *cfg);
long arch_params(const Arch *a);
long arch_macs(const Arch *a);  // per image at in_hw: convolutions and linear layers

// Cost of one block's layers in the standalone network, read from input width `cin` at
// resolution `hw` (the block's input size): what the search adds up per block.
void arch_block_cost(const CellCfg *cell, int64_t code, int cin, int hw, long *params, long *macs);
// Cost outside the blocks: the stem (base) and the head reading width `last` (tail).
void arch_base_cost(int cin, int stem, int stem_hw, long *params, long *macs);
void arch_tail_cost(int last, int head, int classes, int hw, long *params, long *macs);

// "c3:e6k3-e3k5 | c1:..." (cell, 1-based, and ops per block) for CSVs and logs.
void arch_describe(const Arch *a, char *buf, size_t n);
char *arch_to_json(const Arch *a, const char *extra_json);  // extra: provenance object or NULL
void arch_from_json(const char *json, const char *path, Arch *a);  // fatal naming path
// timm's arch_def (a list per block of strings like "ir_r2_k5_s2_e6_c40_se0.25") with the
// stem/head arguments, as Python source (caller frees).
char *arch_to_timm(const Arch *a);
