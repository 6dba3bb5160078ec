// Squeeze-excitation: gate = sigmoid(W_e swish(W_r mean_hw(x) + b_r) + b_e); y = x * gate.
// The reduced width is chosen by the caller (MBConv: int(ratio * block input channels)).
#pragma once
#include "nn/param.h"

typedef struct SE {
    int c, r;
    Param rw, rb, ew, eb;  // reduce [r,c] + [r], expand [c,r] + [c]
} SE;

typedef struct SECache {
    const Tensor *x;
    Tensor s, r, rs, e, g;  // pooled [N,c], reduced pre/post swish [N,r], expanded, gate [N,c]
    Tensor out;             // x * gate
    Tensor dg, de, drs, dr, ds, dx;
} SECache;

void se_init(const Backend *be, SE *l, int c, int r, Rng *rng);
void se_free(const Backend *be, SE *l);
void se_params(SE *l, ParamList *list);
const Tensor *se_forward(const Backend *be, SE *l, SECache *c, const Tensor *x);
const Tensor *se_backward(const Backend *be, SE *l, SECache *c, const Tensor *dy);
void se_cache_free(const Backend *be, SECache *c);
long se_param_count(int c, int r);
long se_macs(int c, int r);  // the two FC layers, per image
