// ConvBN: convolution (no bias) -> batch norm -> activation, the unit every CNN layer of
// the search spaces is built from (stem, MBConv's expand / depthwise / project, head).
// The layer holds parameters; a ConvBNCache holds one forward's activations and the
// backward's buffers, so one layer can serve several positions (or one position several
// candidate layers, as in a supernet cell).
#pragma once
#include "nn/param.h"

typedef enum {
    BN_TRAIN,        // batch statistics; running stats move by momentum
    BN_EVAL,         // running statistics
    BN_RECALIBRATE,  // batch statistics, and running stats := this batch's (rating)
} BNMode;

typedef struct BatchNorm {
    Param gamma, beta;
    Tensor run_mean, run_var;  // [C]
    float eps, momentum;
    const BnSync *sync;  // set while a rank group trains the layer together; NULL: local
} BatchNorm;

typedef struct ConvBN {
    int cin, cout, k, stride, groups;
    Act act;
    Param w;  // [cout, cin/groups, k, k]
    BatchNorm bn;
} ConvBN;

typedef struct ConvBNCache {
    const Tensor *x;      // input of the last forward (caller keeps it alive until backward)
    Tensor a, out;        // conv output (pre-BN), layer output
    Tensor mean, invstd;  // saved batch statistics [C]
    Tensor da, dx;        // backward buffers
    BNMode mode;
} ConvBNCache;

void bn_init(const Backend *be, BatchNorm *bn, int c, float eps, float momentum);
void bn_free(const Backend *be, BatchNorm *bn);
void bn_params(BatchNorm *bn, ParamList *l);

// Padding is k/2 (same-size output at stride 1, as EfficientNet's "same" for odd k).
void convbn_init(const Backend *be, ConvBN *l, int cin, int cout, int k, int stride, int groups,
                 Act act, Rng *rng);
void convbn_free(const Backend *be, ConvBN *l);
void convbn_params(ConvBN *l, ParamList *list);
int convbn_out_size(const ConvBN *l, int in);
const Tensor *convbn_forward(const Backend *be, ConvBN *l, ConvBNCache *c, const Tensor *x,
                             BNMode mode);
// Accumulates parameter gradients; returns dL/dx (in the cache) unless need_dx is 0.
const Tensor *convbn_backward(const Backend *be, ConvBN *l, ConvBNCache *c, const Tensor *dy,
                              int need_dx);
void convbn_cache_free(const Backend *be, ConvBNCache *c);
// Per image, at input size h x w: parameters and multiply-adds of the conv (BN not counted
// in MACs; its 2 per channel are in the parameters).
long convbn_param_count(int cin, int cout, int k, int groups);
long convbn_macs(int cin, int cout, int k, int groups, int ho, int wo);
