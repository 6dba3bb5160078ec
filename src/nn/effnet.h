// EffNet: the EfficientNet-style teacher (doc/design.md §4): stem, stages of MBConv, head,
// dropout, classifier, built from an EffNetCfg, plus the block boundaries that cut it into
// the student supernet's blocks. Owns its forward/backward over the whole network, its
// parameter and state lists in timm's state_dict names, and the architecture's JSON form.
#pragma once
#include "core/config.h"
#include "nn/mbconv.h"

#define EFFNET_MAX_STAGES 32
#define EFFNET_MAX_BLOCKS 8
// Limits an architecture must stay within (effnet_cfg_validate): beyond them a config or a
// file is damaged, and counting or building the network would overflow or exhaust memory.
// EfficientNet-B7 has 66M parameters, widths up to 2560 and 55 layers.
#define EFFNET_MAX_LAYERS (EFFNET_MAX_STAGES * 64)
#define EFFNET_MAX_WIDTH 65536
#define EFFNET_MAX_EXPAND 64
#define EFFNET_MAX_KERNEL 31
#define EFFNET_MAX_PARAMS 1000000000L

typedef struct StageCfg {
    int repeats, k, stride, expand, cout;
    float se_ratio;  // SE width = int(se_ratio * layer input channels); 0 = no SE
} StageCfg;

typedef struct EffNetCfg {
    int cin, stem, stem_stride;  // image channels, stem width and stride
    int nstages;
    StageCfg stage[EFFNET_MAX_STAGES];
    int head, classes;
    float dropout, bn_eps, bn_momentum;
    // Block k (0-based here, /block<k+1> in files) ends after stage block_end[k]; the blocks
    // partition the stages, the stem belongs to the first.
    int nblocks;
    int block_end[EFFNET_MAX_BLOCKS];
} EffNetCfg;

// Stages as timm's arch_def strings separated by spaces or commas: "ir_r2_k3_s2_e6_c24_se0.25"
// (r repeats, k kernel, s stride of the first layer, e expansion, c width, se ratio).
// Returns 0 on success, else writes a message naming the bad token into err.
int effnet_parse_stages(const char *spec, EffNetCfg *cfg, char *err, size_t errlen);
// Checks ranges (NaN included), the limits above and block boundaries; returns 0 or writes a
// message.
int effnet_cfg_validate(const EffNetCfg *cfg, char *err, size_t errlen);
// The teacher's architecture from the config's [teacher] section (and [data] classes) for
// images of `cin` channels; fatal naming the file and key on errors.
void effnet_cfg_from_config(const Config *cfg, int cin, EffNetCfg *out);
char *effnet_cfg_to_json(const EffNetCfg *cfg);  // caller frees
int effnet_cfg_from_json(const char *json, EffNetCfg *cfg, char *err, size_t errlen);

// A named tensor of the network's state: parameters and BN running statistics.
typedef struct NamedTensor {
    char name[80];
    Tensor *t;
} NamedTensor;

typedef struct EffNet {
    EffNetCfg cfg;
    int nlayers;
    int layer_stage[EFFNET_MAX_STAGES * 64];
    ConvBN stem;
    MBConv *layers;
    Head head;
    ParamList params;
    NamedTensor *state;  // every parameter and running statistic, in state_dict order
    int nstate;
    // activations of the last forward
    ConvBNCache stem_c;
    MBConvCache *layer_c;
    HeadCache head_c;
    const Tensor *block_out[EFFNET_MAX_BLOCKS];  // feature maps at the block boundaries
    int block_c[EFFNET_MAX_BLOCKS], block_hw[EFFNET_MAX_BLOCKS];  // at the configured input
    Tensor dbound;  // effnet_backward_blocks: the gradient below a boundary, summed
} EffNet;

// Batch norms of the blocks at most: the stem's and three per layer.
enum { EFFNET_MAX_BNS = 1 + 3 * EFFNET_MAX_LAYERS };

void effnet_init(const Backend *be, EffNet *net, const EffNetCfg *cfg, int in_hw, Rng *rng);
void effnet_free(const Backend *be, EffNet *net);
// Drop-connect for training: layer l (0-based of L) drops its residual branch with rate
// rate * l / L, as EfficientNet and timm scale drop_path_rate with depth.
void effnet_set_drop_connect(EffNet *net, float rate);
// Returns the logits [N, classes]; block_out[] point at the block-boundary feature maps.
// `drop` (may be NULL) draws the dropout mask in BN_TRAIN mode.
const Tensor *effnet_forward(const Backend *be, EffNet *net, const Tensor *x, BNMode mode,
                             Rng *drop);
// The output of every activation layer (swish) of the last forward, in network order: the
// stem, each layer's expand, depthwise and SE-reduce, the head. Read-only over the forward's
// caches, so the forward pays nothing for it. A unit's output is > 0 exactly when its
// pre-activation is (swish(z) = z sigmoid(z), short of underflow for 0 < z < 1e-44), which is
// what NASWOT reads (src/nas/naswot.h).
typedef void (*EffNetActFn)(const Tensor *act, void *user);
void effnet_each_activation(const EffNet *net, EffNetActFn fn, void *user);
// Accumulates parameter gradients from dL/dlogits (the input gradient is not formed).
void effnet_backward(const Backend *be, EffNet *net, const Tensor *dlogits);

// DNA++ trains the teacher self-supervised on its block-boundary maps; the head is unused.
// effnet_forward_blocks runs the stem and the layers up to the last block's end, sets
// block_out[] bit for bit as effnet_forward does (the same drop-connect draws from `drop`
// for those layers; the head's dropout draws are not made) and returns block_out[nblocks-1].
const Tensor *effnet_forward_blocks(const Backend *be, EffNet *net, const Tensor *x, BNMode mode,
                                    Rng *drop);
// After effnet_forward_blocks in BN_TRAIN: accumulates parameter gradients from dblock[k] =
// dL/d block_out[k] (NULL: zero), added at each boundary on the way down to the stem. The
// input gradient is not formed. Layers above the highest non-NULL entry are not visited, so
// ranks of a synchronised-BN group must pass the same NULL entries.
void effnet_backward_blocks(const Backend *be, EffNet *net, const Tensor *const *dblock);
// What effnet_forward_blocks uses: the parameters (appended in net->params order, so none
// of the head's), the batch norms (stem's, then each layer's expand/dw/proj; for setting
// BatchNorm.sync) and their running statistics (mean, var per BN in that order). The two
// counts return what they wrote; more than max is fatal.
void effnet_block_params(EffNet *net, ParamList *l);
int effnet_block_bns(EffNet *net, BatchNorm **bns, int max);
int effnet_block_stats(EffNet *net, Tensor **stats, int max);

int effnet_stem_hw(const EffNetCfg *cfg, int in_hw);  // stem output size
// Widths and sizes of the block-boundary maps at input in_hw, without building the network.
void effnet_block_shapes(const EffNetCfg *cfg, int in_hw, int *c, int *hw);
long effnet_param_count(const EffNetCfg *cfg);
long effnet_macs(const EffNetCfg *cfg, int in_hw);  // per image, conv and linear layers
