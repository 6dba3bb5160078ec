// Optimizers over a parameter list: SGD with momentum (optionally Nesterov), Adam, AdamW,
// with PyTorch's update rules, and LARS as VICReg's code has it. Weight decay applies only to
// parameters marked as weights (Param.decay), never to BN or biases. State (momentum,
// moments) lives in each Param.
#pragma once
#include "nn/param.h"
#include "par/par.h"

typedef enum { OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW, OPTIM_RMSPROP, OPTIM_LARS } OptimKind;

typedef struct Optim {
    OptimKind kind;
    float lr, weight_decay;
    float momentum;           // SGD, LARS
    int nesterov;             // SGD
    float beta1, beta2, eps;  // Adam/AdamW; RMSprop: beta2 = alpha, eps
    float eta;                // LARS: trust coefficient
} Optim;

Optim optim_sgd(float lr, float momentum, float weight_decay, int nesterov);
Optim optim_adam(float lr, float weight_decay);  // betas (0.9, 0.999), eps 1e-8
Optim optim_adamw(float lr, float weight_decay);
Optim optim_rmsprop(float lr, float alpha, float eps, float momentum, float weight_decay);
// LARS (You, Gitman, Ginsburg 2017) as BYOL and VICReg train with it (VICReg's LARS class:
// momentum 0.9, eta 0.001). For a weight (Param.decay): d = g + wd w, scaled by the trust ratio
// q = eta ‖w‖ / ‖d‖ (1 when either norm is 0); biases and BN parameters get neither the decay
// nor the scaling (VICReg's exclude_bias_and_norm), d = g. Then m = momentum m + q d,
// w -= lr m (no Nesterov). The denominator ‖g + wd w‖ is VICReg's and optax's (BYOL); the
// 2017 paper prints ‖g‖ + wd ‖w‖, the same only when g points the way w does.
Optim optim_lars(float lr, float weight_decay, float momentum, float eta);
// One step on every parameter of the list (each counts its own steps).
void optim_step(const Backend *be, const Optim *o, const ParamList *l);
// The list's gradients summed (mean: averaged) over s's ranks in one packed allreduce; *extra
// (NULL: none) rides along, e.g. the step's loss.
void optim_sum_grads(ParSum *s, const ParamList *l, int mean, double *extra);
