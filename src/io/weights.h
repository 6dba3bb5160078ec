// Named weights in HDF5: one dataset per state tensor (parameters and BN running stats)
// at the file root, named as PyTorch's state_dict (timm's EfficientNet names; a ViT's as
// nn/vitnet.h names them), with PyTorch's shapes (conv [out, in/g, k, k], linear [out, in],
// a positional embedding [1, T, D], vectors [C]).
#pragma once
#include <hdf5.h>

#include "nn/effnet.h"

void weights_write(hid_t f, const char *path, const Backend *be, const NamedTensor *st, int n);
// Reads every tensor of st; a missing name or a shape that differs is fatal, naming the file,
// the tensor, and the expected and found shapes.
void weights_read(hid_t f, const char *path, const Backend *be, NamedTensor *st, int n);
