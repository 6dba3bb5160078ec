// Projector: the MLP that maps a block's feature map to the per-image vector DNA++'s
// self-supervised loss compares (src/nas/ssl_loss.h), as BossNAS has it (OpenSelfSup's
// NonLinearNeckV2): global average pool -> linear cin->hidden -> BatchNorm1d -> ReLU ->
// linear hidden->cout. Built only from backend ops; a [N, C] vector is a [N, C, 1, 1] tensor.
// The layer holds parameters and BN running statistics; a ProjectorCache holds one forward's
// activations and the backward's buffers.
#pragma once
#include "nn/convbn.h"

typedef struct Projector {
    int cin, hidden, cout;
    // PyTorch's names of nn.Sequential(Linear, BatchNorm1d, ReLU, Linear), prefixed "mlp."
    // as in BossNAS: mlp.0.weight [hidden, cin], mlp.0.bias [hidden], mlp.1.{weight,bias} (BN),
    // mlp.3.weight [cout, hidden], mlp.3.bias [cout].
    Param fc1_w, fc1_b;
    BatchNorm bn;  // eps 1e-5, momentum 0.1 (BatchNorm1d's); sync may be set by a rank group
    Param fc2_w, fc2_b;
} Projector;

typedef struct ProjectorCache {
    const Tensor *x;  // input of the last forward (caller keeps it alive until backward)
    Tensor pooled;    // [N, cin, 1, 1]
    Tensor h;         // fc1's output, BN's input [N, hidden, 1, 1]
    Tensor a;         // relu(bn(h)) [N, hidden, 1, 1]
    Tensor out;       // [N, cout, 1, 1]
    Tensor mean, invstd;
    Tensor da, dh, dpooled, dx;  // backward buffers
    BNMode mode;
} ProjectorCache;

// Weights and biases as PyTorch's nn.Linear initialises them: U(-1/sqrt(fan_in),
// 1/sqrt(fan_in)); BN gamma 1, beta 0, running mean 0 and variance 1.
void projector_init(const Backend *be, Projector *p, int cin, int hidden, int cout, Rng *rng);
void projector_free(const Backend *be, Projector *p);
void projector_params(Projector *p, ParamList *list);
// x [N, cin, H, W] (H = W = 1: already pooled) -> [N, cout, 1, 1]. BN_TRAIN uses batch
// statistics and moves the running ones (a local batch of 2 or more: a BatchNorm1d of one
// image outputs its beta), BN_EVAL the running statistics.
const Tensor *projector_forward(const Backend *be, Projector *p, ProjectorCache *c, const Tensor *x,
                                BNMode mode);
// Accumulates parameter gradients; returns dL/dx [N, cin, H, W] (in the cache), or NULL when
// need_dx is 0. Only after a training-mode forward.
const Tensor *projector_backward(const Backend *be, Projector *p, ProjectorCache *c,
                                 const Tensor *dy, int need_dx);
void projector_cache_free(const Backend *be, ProjectorCache *c);
long projector_param_count(int cin, int hidden, int cout);
