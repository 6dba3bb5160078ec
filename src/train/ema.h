// Exponential moving average of a network's whole state (weights and BN running statistics,
// as timm's ModelEmaV2): after every optimizer step shadow = decay * shadow + (1 - decay) *
// value. Evaluation and the saved network use the shadow: ema_swap exchanges it with the
// live state, and swapping again restores the live state to keep training.
#pragma once
#include "nn/effnet.h"

typedef struct Ema {
    float decay;
    int n;
    Tensor *shadow;  // [n], same shapes as net->state
    Tensor **live;   // [n], the network's state tensors
} Ema;

// shadow := state[0..n)
void ema_init(const Backend *be, Ema *e, const NamedTensor *state, int n, float decay);
void ema_update(const Backend *be, Ema *e);
void ema_swap(const Backend *be, Ema *e);
void ema_free(const Backend *be, Ema *e);
