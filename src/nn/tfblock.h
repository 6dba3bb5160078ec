// The pre-norm transformer block of a ViT (DeiT's and timm's Block): LayerNorm -> multi-head
// self-attention (QKV projection, attention core, output projection) -> DropPath -> + input,
// then LayerNorm -> MLP (fc1 -> GELU -> fc2) -> DropPath -> + that. Tokens are [N, T, 1, D]
// (tensor/ops.def). Parameters keep timm's names, so a state_dict maps one to one. The
// block holds parameters; a TfBlockCache holds one forward's activations and the backward's
// buffers, as ConvBNCache does for the CNN layers.
#pragma once
#include "nn/param.h"

typedef struct TfBlockCfg {
    int dim, heads, hidden;  // token width, attention heads (dim / heads each), MLP width
} TfBlockCfg;

typedef struct TfBlock {
    TfBlockCfg cfg;
    float eps;        // LayerNorm's (1e-6, timm's ViT default)
    float drop_path;  // probability of dropping a residual branch per sample in training
    Param norm1_w, norm1_b, qkv_w, qkv_b, proj_w, proj_b;
    Param norm2_w, norm2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} TfBlock;

typedef struct TfBlockCache {
    const Tensor *x;  // input of the last forward (the caller keeps it alive until backward)
    Tensor n1, mean1, istd1, qkv, att, p, a;  // attention half: LN1, QKV, core, softmax, proj
    Tensor h, n2, mean2, istd2, f1, g, out;   // h = x + a; MLP half: LN2, fc1, GELU, fc2 (+ h)
    Tensor keep;                              // DropPath: per-sample factors [N, 2]
    int dropped;                              // the last forward applied DropPath
    Tensor dh, d1, d2, dqkv, dx;              // backward buffers
} TfBlockCache;

// Weights N(0, 0.02) (timm's trunc_normal_(std=.02) without the truncation at 2 sigma, which
// moves nothing measurable at that std), biases 0, LayerNorm 1 and 0.
void tfblock_init(const Backend *be, TfBlock *l, TfBlockCfg cfg, Rng *rng);
void tfblock_free(const Backend *be, TfBlock *l);
void tfblock_params(TfBlock *l, ParamList *list);  // in timm's state_dict order
// `drop`: the stream DropPath draws from (NULL: never drop, as in evaluation). x [N, T, 1, D].
const Tensor *tfblock_forward(const Backend *be, TfBlock *l, TfBlockCache *c, const Tensor *x,
                              Rng *drop);
// Accumulates parameter gradients; returns dL/dx (in the cache).
const Tensor *tfblock_backward(const Backend *be, TfBlock *l, TfBlockCache *c, const Tensor *dy);
void tfblock_cache_free(const Backend *be, TfBlockCache *c);
long tfblock_param_count(TfBlockCfg cfg);
// Per image of `tokens` tokens: the linear layers, q k^T and (softmax) v (tokens^2 dim each)
// and the LayerNorms' affine (one per element); softmax, GELU and the adds are not counted.
long tfblock_macs(TfBlockCfg cfg, int tokens);

// Slimmable blocks (the ViT supernet, DS-ViT style): a subnet of width d <= D, MLP width
// h <= H and d / head_dim heads uses the first d channels everywhere (LayerNorms, the first
// d rows of each of q, k and v, which are its first heads, the projection), the first h
// hidden units, and the same head width as the full block. tfblock_slice copies those
// weights of `full` into `sub` (a block initialised at full's shape: its tensors shrink in
// place, no allocation); tfblock_unslice_grads adds sub's gradients back into full's at the
// same places. Fatal, naming the rule, for a width beyond full's or another head width.
void tfblock_slice(const Backend *be, const TfBlock *full, TfBlock *sub, TfBlockCfg cfg);
void tfblock_unslice_grads(const Backend *be, const TfBlock *sub, TfBlock *full);
