// Parameters: value, gradient and optimizer state of one weight tensor, plus the list type
// layers use to expose theirs (to optimizers, checkpoints, gradient averaging, counting).
#pragma once
#include "core/rng.h"
#include "tensor/ops.h"

typedef struct Param {
    char name[64];  // e.g. "bn1.weight": layers prefix it when they export their list
    Tensor w, g;    // value and gradient, same shape
    Tensor m, v;    // optimizer state, allocated by the optimizer on first use
    int step;       // optimizer steps taken on this parameter (Adam's bias correction)
    int decay;      // 1 for conv/linear weights (weight decay applies), 0 for BN and biases
} Param;

void param_init(const Backend *be, Param *p, const char *name, int n, int c, int h, int w,
                int decay);
// A linear layer's pair, "<name>.weight" [out, in] (decayed) and "<name>.bias" [out], as
// PyTorch names them; their values are the caller's to draw.
void param_init_linear_pair(const Backend *be, Param *w, Param *b, const char *name, int out,
                            int in);
void param_free(const Backend *be, Param *p);
void param_zero_grad(const Backend *be, Param *p);
// Initialisers (host RNG, then upload): conv weights N(0, 2/fan_out) as EfficientNet does,
// linear weights U(-1/sqrt(fan_out), 1/sqrt(fan_out)), or a constant.
void param_init_conv(const Backend *be, Param *p, int fan_out, Rng *rng);
void param_init_linear(const Backend *be, Param *p, int fan_out, Rng *rng);
void param_fill(const Backend *be, Param *p, float v);

typedef struct ParamList {
    Param **p;
    int n, cap;
} ParamList;

void params_push(ParamList *l, Param *p);
void params_free(ParamList *l);  // frees the list, not the parameters
size_t params_numel(const ParamList *l);
void params_zero_grad(const Backend *be, const ParamList *l);
