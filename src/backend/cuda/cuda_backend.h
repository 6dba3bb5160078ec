// The CUDA backend (built with `make CUDA=1`): every op of src/tensor/ops.h on the memory of
// one GPU, with cuDNN convolutions, cuBLAS GEMMs and the kernels of kernels/. Tensors it
// allocates live on the device; move data with tensor_upload / tensor_download.
#pragma once
#include "tensor/ops.h"

// The backend on CUDA device `device` (an index among the visible ones), set up on first
// use. One device per process: asking for another one later is a fatal error. Ops run on
// one stream in call order and return before the GPU finishes, except those whose result
// the host reads (download, the losses): those wait for it.
const Backend *backend_cuda(int device);
// Devices visible to this process; 0 (not an error) without a device or driver.
int cuda_device_count(void);
