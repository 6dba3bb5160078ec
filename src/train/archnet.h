// The standalone network of an architecture (arch.json) that `retrain` and `bench` train
// from scratch: an EffNet for an MBConv architecture, kept inside a Teacher so that
// teacher_save writes it as the next stages read teachers, or a VitNet for a ViT one. The
// recipe's dropout, drop-connect (a ViT's DropPath) and EMA apply to both.
#pragma once
#include "nas/arch.h"
#include "train/fit.h"

typedef struct ArchNet {
    int vit;
    Teacher t;          // in_hw, mean, std and top1 for both; t.net is the EffNet of an MBConv arch
    VitNet vn;          // a ViT arch's network
    long params, macs;  // the architecture's (arch_params, arch_macs)
} ArchNet;

// The network of `a` for inputs normalised by d's mean and std, its weights drawn from
// `init`; fatal, naming the recipe's section, for a drop-connect outside [0, 1).
void archnet_init(const Backend *be, ArchNet *n, const Arch *a, const Dataset *d, const Recipe *r,
                  Rng *init);
// Trains it with recipe r (fit_train; test top-1 per epoch into top1); returns the last.
double archnet_fit(const RunCtx *ctx, const Config *cfg, const Recipe *r, const Dataset *d,
                   ArchNet *n, double *top1, int *stopped);
void archnet_free(const Backend *be, ArchNet *n);
