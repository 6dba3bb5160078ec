// Input pipeline: batches of normalised, padded, optionally augmented float images from an
// in-memory Split, made on a helper thread into a double buffer. What a batch holds is a
// function of (seed, epoch, batch index, part) alone, never of thread timing or rank count.
// Reads the Split but never owns or changes it.
#pragma once
#include <stdint.h>

#include "io/dataset.h"

typedef struct LoaderCfg {
    int batch;         // global batch size
    int part, nparts;  // data-parallel share: part p takes global batch positions
                       // [p*B/P, (p+1)*B/P), B this batch's size (smaller for a last partial one)
    int pad;           // zero padding on each side after normalisation (28 -> 32 with pad 2)
    int crop_pad;      // random crop: pad by crop_pad more (zeros), crop back at a random offset
    int flip;          // random horizontal flip, p = 0.5 (applied after the crop)
    int shuffle;       // seeded shuffle per epoch; 0 = index order
    int drop_last;     // drop the last incomplete global batch
    unsigned long long seed;
} LoaderCfg;

typedef struct Loader Loader;

// index NULL: all s->n samples; else the subset index[0..n). s must outlive the loader;
// index is copied. Fatal when a part would get an empty share of some batch (batch < nparts,
// or a last partial batch smaller than nparts without drop_last): every part must see the
// same batch count, and 0 is reserved for "end of epoch".
Loader *loader_new(const Split *s, const int32_t *index, int n, const double *mean,
                   const double *std, LoaderCfg cfg);
void loader_out_shape(const Loader *l, int *c, int *h, int *w);
int loader_batches(const Loader *l);  // global batches per epoch
// Sample order depends only on (seed, epoch); start_batch lets a resumed run continue
// mid-epoch. Stops any epoch in progress (pointers from loader_next become invalid) and
// starts prefetching.
void loader_start_epoch(Loader *l, int epoch, int start_batch);
// Returns this part's batch size, 0 at the end of the epoch. x: [b, c, H, W], y: labels,
// ids: sample indices into the Split. Pointers stay valid until the next call.
int loader_next(Loader *l, const float **x, const int32_t **y, const int64_t **ids);
void loader_free(Loader *l);
