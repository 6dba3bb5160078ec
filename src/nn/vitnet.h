// The standalone ViT network a searched ViT architecture stands for (doc/design.md §4.4):
// its blocks' ViT stages chained, each from a map shaped like the teacher's at the block's
// input to one shaped like its output (the first reads the image), then the head of the
// CNN networks (1x1 conv-BN-swish, global pool, dropout, classifier). DropPath rises
// linearly over all transformer blocks to `drop_path` (timm's rule). The state list names
// every parameter "stages.<k>.<name>" (a stage's own names inside), then the head's, with
// its BN running statistics, for weights files and the EMA.
#pragma once
#include "nn/effnet.h"
#include "nn/vitstage.h"

typedef struct VitNetCfg {
    int nblocks;
    VitStageCfg stage[EFFNET_MAX_BLOCKS];
    int head, classes;
    float dropout, drop_path;
} VitNetCfg;

typedef struct VitNet {
    VitNetCfg cfg;
    VitStage st[EFFNET_MAX_BLOCKS];
    VitStageCache sc[EFFNET_MAX_BLOCKS];
    Head head;
    HeadCache hc;
    ParamList params;
    NamedTensor *state;
    int nstate;
} VitNet;

// Fatal, naming the rule, when the stages do not chain (a stage's input is not the last's
// output) or a stage is malformed (nn/vitstage.h).
void vitnet_init(const Backend *be, VitNet *net, const VitNetCfg *cfg, Rng *rng);
void vitnet_free(const Backend *be, VitNet *net);
// Logits [N, classes]. `drop` draws DropPath and dropout in BN_TRAIN mode (NULL: neither).
const Tensor *vitnet_forward(const Backend *be, VitNet *net, const Tensor *x, BNMode mode,
                             Rng *drop);
// Accumulates every parameter's gradient from dlogits.
void vitnet_backward(const Backend *be, VitNet *net, const Tensor *dlogits);
long vitnet_param_count(const VitNetCfg *cfg);
// The output of every activation layer of the last forward, in network order: each
// transformer block's GELU (its MLP's hidden units, [N, T, 1, hidden]), then the head's
// swish. Read-only over the forward's caches. GELU(z) = z Phi(z) is > 0 exactly when z is,
// so a unit's sign is its pre-activation's, what NASWOT reads (as effnet_each_activation).
void vitnet_each_activation(const VitNet *net, EffNetActFn fn, void *user);
