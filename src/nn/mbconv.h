// MBConv (inverted residual, doc/design.md §4): 1x1 expand -> BN -> swish -> kxk depthwise
// (stride s) -> BN -> swish -> SE (reduce to int(se_ratio * cin)) -> 1x1 project -> BN
// (+ input when stride 1 and cin == cout). Expansion 1 has no expand conv (EfficientNet's
// MB1). Also the stem (3x3 conv-BN-swish) and the classifier head, with their counts.
#pragma once
#include "nn/convbn.h"
#include "nn/se.h"

typedef struct MBConvCfg {
    int cin, cout, k, expand, stride;
    float se_ratio;  // 0: no SE
} MBConvCfg;

typedef struct MBConv {
    MBConvCfg cfg;
    int mid, se_dim, has_expand, has_se, has_res;
    // drop-connect (stochastic depth) rate of the residual branch in training; a training
    // setting, not architecture (effnet_set_drop_connect); 0 after init
    float drop_connect;
    ConvBN expand, dw, proj;
    SE se;
} MBConv;

typedef struct MBConvCache {
    ConvBNCache ex, dw, pj;
    SECache se;
    Tensor keep, dbranch;  // drop-connect: per-sample branch factor [N,C] and scaled dy
    int dropped;           // the last forward applied drop-connect
} MBConvCache;

void mbconv_init(const Backend *be, MBConv *l, MBConvCfg cfg, Rng *rng);
void mbconv_free(const Backend *be, MBConv *l);
void mbconv_params(MBConv *l, ParamList *list);  // in PyTorch's state_dict order
int mbconv_out_size(const MBConv *l, int in);
// `drop`: the stream drop-connect draws from in BN_TRAIN mode (NULL: never drop).
const Tensor *mbconv_forward(const Backend *be, MBConv *l, MBConvCache *c, const Tensor *x,
                             BNMode mode, Rng *drop);
const Tensor *mbconv_backward(const Backend *be, MBConv *l, MBConvCache *c, const Tensor *dy,
                              int need_dx);
void mbconv_cache_free(const Backend *be, MBConvCache *c);
long mbconv_param_count(MBConvCfg cfg);
long mbconv_macs(MBConvCfg cfg, int h, int w);  // per image at input h x w

// Stem: 3x3 conv (stride s) -> BN -> swish.
void stem_init(const Backend *be, ConvBN *l, int cin, int cout, int stride, Rng *rng);

// Head: 1x1 conv -> BN -> swish -> global average pool -> dropout -> linear classifier.
typedef struct Head {
    int cin, ch, classes;
    float dropout;  // probability of zeroing a pooled feature in training (0 = off)
    ConvBN conv;
    Param fc_w, fc_b;
} Head;

typedef struct HeadCache {
    ConvBNCache conv;
    Tensor pooled, logits, dpooled, dfeat;
    Tensor mask, dropped, ddropped;  // dropout: kept features scaled by 1/(1-p)
    int dropped_out;                 // the last forward applied dropout
} HeadCache;

void head_init(const Backend *be, Head *l, int cin, int ch, int classes, Rng *rng);
void head_free(const Backend *be, Head *l);
void head_params(Head *l, ParamList *list);
// Dropout applies when `drop` is given and the mode is BN_TRAIN; its mask comes from `drop`.
const Tensor *head_forward(const Backend *be, Head *l, HeadCache *c, const Tensor *x, BNMode mode,
                           Rng *drop);
const Tensor *head_backward(const Backend *be, Head *l, HeadCache *c, const Tensor *dlogits);
void head_cache_free(const Backend *be, HeadCache *c);
long head_param_count(int cin, int ch, int classes);
long head_macs(int cin, int ch, int classes, int h, int w);
