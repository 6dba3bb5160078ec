// A ViT stage: one block of a ViT student (doc/design.md §4.4), from the teacher's map at the
// block's input to a map shaped like the teacher's at its output, so that stages chain in a
// standalone network exactly as the student cells were trained:
//   map [N, cin, H, W] -> embedding: a conv with kernel = stride = s = H / out_hw, no bias
//   (block 1: the patch embedding; later blocks: s = 1, or 2 where the teacher halves the
//   resolution) -> tokens [N, T = out_hw^2, 1, dim] + a learned positional embedding
//   -> `depth` pre-norm transformer blocks (nn/tfblock.h)
//   -> LayerNorm -> token-wise linear dim -> cout (bias) -> map [N, cout, out_hw, out_hw].
// The positional embedding absorbs the embedding conv's bias (the same function class).
// Slimmable: a subnet of width d, MLP width h and n layers uses the first d filters of the
// embedding, the first d channels of the positional embedding and of the output LayerNorm,
// the first d inputs of the output linear, and the first n blocks, each sliced as
// tfblock_slice does.
#pragma once
#include "nn/tfblock.h"

enum { VIT_MAX_DEPTH = 16 };

typedef struct VitStageCfg {
    int cin, in_hw, cout, out_hw;      // the teacher's maps at the block's ends
    int dim, hidden, depth, head_dim;  // width, MLP width, transformer blocks, head width
} VitStageCfg;

typedef struct VitStage {
    VitStageCfg cfg;
    int stride;          // the embedding conv's kernel and stride: in_hw / out_hw
    Param embed_w, pos;  // [dim, cin, s, s], [1, T, 1, dim]
    TfBlock blk[VIT_MAX_DEPTH];
    Param norm_w, norm_b, out_w, out_b;  // output LayerNorm [dim], linear [cout, dim], [cout]
} VitStage;

typedef struct VitStageCache {
    const Tensor *x;
    Tensor e, t0;  // embedding conv output (a map), its tokens + pos
    TfBlockCache blk[VIT_MAX_DEPTH];
    Tensor n, mean, istd, u, out;  // output LayerNorm, linear (tokens), as a map
    Tensor du, dn, dt, de, dx;     // backward buffers
} VitStageCache;

// Fatal, naming the rule, when in_hw is not a multiple of out_hw, dim not of head_dim, or the
// depth is out of 1..VIT_MAX_DEPTH.
void vitstage_init(const Backend *be, VitStage *l, VitStageCfg cfg, Rng *rng);
void vitstage_free(const Backend *be, VitStage *l);
void vitstage_params(VitStage *l, ParamList *list);  // embed, pos, blocks, norm, out
// `drop`: DropPath's stream (NULL: none). Returns the output map (in the cache).
const Tensor *vitstage_forward(const Backend *be, VitStage *l, VitStageCache *c, const Tensor *x,
                               Rng *drop);
// The forward's pieces, for rating, which reads the output after each depth of one run
// through the blocks: the embedding (map -> tokens + pos), then tfblock_forward on blocks
// 0, 1, ... (caches c->blk[i]), and the head (LayerNorm -> linear -> map) on any block's
// output. vitstage_forward is embed, every block, head; a backward follows only that.
const Tensor *vitstage_embed(const Backend *be, VitStage *l, VitStageCache *c, const Tensor *x);
const Tensor *vitstage_head(const Backend *be, VitStage *l, VitStageCache *c, const Tensor *t);
// Accumulates parameter gradients; returns dL/dx unless need_dx is 0 (then NULL).
const Tensor *vitstage_backward(const Backend *be, VitStage *l, VitStageCache *c, const Tensor *dy,
                                int need_dx);
void vitstage_cache_free(const Backend *be, VitStageCache *c);

// Slimming: `sub` was initialised with full's cfg; it takes full's slices for (dim, hidden,
// depth) (cfg's other fields must be full's) and gives its gradients back.
void vitstage_slice(const Backend *be, const VitStage *full, VitStage *sub, VitStageCfg cfg);
void vitstage_unslice_grads(const Backend *be, const VitStage *sub, VitStage *full);

// Per image: parameters and multiply-adds of what vitstage_forward computes. MACs count the
// embedding conv, every linear layer, attention's q k^T and (softmax) v products (T^2 dim
// each), and one per element for each LayerNorm's affine; softmax, GELU, the residual and
// positional adds are not multiply-adds and are not counted.
long vitstage_param_count(VitStageCfg cfg);
long vitstage_macs(VitStageCfg cfg);
