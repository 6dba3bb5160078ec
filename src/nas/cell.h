// A student supernet cell (doc/design.md §4): L layers, each holding every candidate op (an MBConv
// of its own kernel and expansion). Layer 0 maps cin -> width with the cell's stride, the
// last layer width -> cout (the teacher's width, for the loss), the others width -> width. A path picks one op per layer; only that path's
// parameters take part in a step. Activations are cached per layer position, not per op,
// so memory does not grow with the number of candidates.
#pragma once
#include <stdint.h>

#include "nn/mbconv.h"

enum { CELL_MAX_OPS = 16, CELL_MAX_LAYERS = 16 };

typedef struct CellOp {
    int k, expand;
} CellOp;

typedef struct CellCfg {
    int cin, cout, layers, stride, nops;
    int width;  // inner width: layer 0 maps cin -> width, the last width -> cout (0: = cout)
    // Block-1 cells read images: a 3x3 stem (conv-BN-swish, cin -> stem, stride stem_stride)
    // runs before layer 0 and trains with every path. 0: no stem.
    int stem, stem_stride;
    CellOp ops[CELL_MAX_OPS];
    float se_ratio;
} CellCfg;

typedef struct Cell {
    CellCfg cfg;
    ConvBN stem;
    ConvBNCache stem_c;
    MBConv *ops;         // [layers * nops], op j of layer i at i * nops + j
    MBConvCache *cache;  // [layers]
} Cell;

// The paper's default candidates: MBConv e{6,3} x k{3,5,7}, in the reference's order.
CellCfg cell_cfg_default(int cin, int cout, int layers, int stride);
// The MBConv of op `op` at layer `layer` (widths, stride) as the cell builds it.
MBConvCfg cell_layer_cfg(const CellCfg *cfg, int layer, int op);
void cell_init(const Backend *be, Cell *c, CellCfg cfg, Rng *rng);
void cell_free(const Backend *be, Cell *c);
MBConv *cell_op(Cell *c, int layer, int op);
const Tensor *cell_forward(const Backend *be, Cell *c, const int *path, const Tensor *x,
                           BNMode mode);
// Backward of the last forward along the same path: accumulates the path's (and the stem's)
// parameter gradients; returns dL/dx when need_dx (a one-shot supernet chains cells), else
// NULL (in DNA a cell's input is data).
const Tensor *cell_backward(const Backend *be, Cell *c, const int *path, const Tensor *dy,
                            int need_dx);
void cell_path_params(Cell *c, const int *path, ParamList *l);
int64_t cell_path_count(const CellCfg *cfg);  // nops^layers (fatal on 64-bit overflow)
// Everything a checkpoint holds: every parameter of the stem and of every op (fixed order),
// and every batch norm (for its running statistics). Returns the BN count written to bns.
void cell_all_params(Cell *c, ParamList *l);
int cell_bns(Cell *c, BatchNorm **bns, int max);
enum { CELL_MAX_BNS = CELL_MAX_LAYERS * CELL_MAX_OPS * 3 + 1 };
// The running statistics of every batch norm (mean, var, in cell_bns order): what each rank
// keeps of its own in a checkpoint. Returns the count written to stats (2 per BN).
int cell_stats(Cell *c, Tensor **stats, int max);
