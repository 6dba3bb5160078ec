// A ViT search block (doc/design.md §4.4): one slimmable supernet per teacher block, whose
// subnets are every (width, MLP ratio, depth) of the [space] candidates. A subnet's code
// enumerates them with the depth as the last digit, so the subnets that differ only in
// depth are neighbours (rating shares their common prefix of layers). VitCell is the
// supernet: the largest stage's weights, and a working stage the subnet of a step is sliced
// into (nn/vitstage.h). DNA++ rates on projected features, the projector's BN recalibrated
// per subnet (depth), as rating recalibrates every path's BNs (see the rating section).
#pragma once
#include <stdint.h>

#include "nn/projector.h"
#include "nn/vitstage.h"

enum { VIT_MAX_CHOICES = 16 };

typedef struct VitChoices {
    int ndims, dims[VIT_MAX_CHOICES];
    int nratios;
    double ratios[VIT_MAX_CHOICES];
    int ndepths, depths[VIT_MAX_CHOICES];
    int head_dim;
} VitChoices;

typedef struct VitCellCfg {
    int cin, in_hw, cout, out_hw;  // the teacher's maps at the block's ends
    VitChoices ch;
} VitCellCfg;

int64_t vitcell_path_count(const VitCellCfg *c);  // ndims x nratios x ndepths
// The stage of subnet `code` (0 .. count-1), and the supernet's (the largest of each).
VitStageCfg vitcell_stage(const VitCellCfg *c, int64_t code);
VitStageCfg vitcell_max(const VitCellCfg *c);
// Means over all subnets, per image: multiply-adds and parameters (what `dna plan` shows).
double vitcell_mean_macs(const VitCellCfg *c);
long vitcell_max_params(const VitCellCfg *c);

typedef struct VitCell {
    VitCellCfg cfg;
    VitStage full, sub;  // the supernet's weights; the subnet of the last forward
    VitStageCache cache;
} VitCell;

// The supernet's weights from `rng` (the sub stage draws nothing from it).
void vitcell_init(const Backend *be, VitCell *c, VitCellCfg cfg, Rng *rng);
void vitcell_free(const Backend *be, VitCell *c);
void vitcell_params(VitCell *c, ParamList *l);  // the supernet's
// Subnet `code` sliced out of the supernet and run (drop: DropPath's stream, NULL: none).
const Tensor *vitcell_forward(const Backend *be, VitCell *c, int64_t code, const Tensor *x,
                              Rng *drop);
// Backward of the last forward: the subnet's gradients are ADDED to the supernet's (zero
// them before the forward), at the places its weights came from. Returns dL/dx unless
// need_dx is 0 (then NULL).
const Tensor *vitcell_backward(const Backend *be, VitCell *c, const Tensor *dy, int need_dx);

// Rating with sharing (Alg. 1 for ViT supernets): unit u (0 .. vitcell_units - 1) holds the
// subnets of one (width, MLP ratio), one per depth: codes u ndepths .. u ndepths + ndepths - 1.
// Depth is a prefix, so one pass through the deepest one's blocks rates them all: the head
// reads each candidate depth's output on the way (the same ops on the same values as each
// subnet run alone, so the same scores, bitwise). vitcell_rate_slice slices the unit's
// deepest subnet out once; vitcell_rate_batch adds, per depth i, the batch's relative L1
// (Eqn 7) to rel[i] and its squared-error sum (MSE x samples) to sq[i].
int64_t vitcell_units(const VitCellCfg *c);
void vitcell_rate_slice(const Backend *be, VitCell *c, int64_t unit);
void vitcell_rate_batch(const Backend *be, VitCell *c, const Tensor *x, const Tensor *y,
                        double *rel, double *sq);
// DNA++ (issue 20) rates on projected features: depth i scores rel_l1(P(output at depth i),
// Z) against the teacher's projected vector z [N, cout of p, 1, 1]. The projector's
// BatchNorm1d was trained on random subnets, so its running statistics fit none of them;
// as the MBConv cells' BNs are (nas/rate.h), it is recalibrated per subnet, i.e. per depth:
// vitcell_rate_recalibrate_proj slices unit's deepest subnet (as vitcell_rate_slice), runs
// it once on the recalibration batch xr and keeps the projector's statistics at each depth
// (host floats; it leaves the projector's running statistics changed); with p == NULL it
// only slices and returns NULL (a ViT has LayerNorms only). vitcell_rate_batch_proj loads
// depth i's statistics before projecting depth i's output; with s and p NULL it is
// vitcell_rate_batch, bitwise. It must follow the recalibration of the same unit and
// projector.
typedef struct VitRateStats VitRateStats;
VitRateStats *vitcell_rate_recalibrate_proj(const Backend *be, VitCell *c, int64_t unit,
                                            const Tensor *xr, Projector *p);
void vitcell_rate_batch_proj(const Backend *be, VitCell *c, const VitRateStats *s, const Tensor *x,
                             const Tensor *z, Projector *p, double *rel, double *sq);
void vitcell_rate_stats_free(VitRateStats *s);
