// Which backend a run uses, and which device: `[run] backend` (or --backend) is cpu, cuda or
// auto. Auto takes CUDA when this binary was built with it (make CUDA=1) and a device is
// visible, else the CPU. A rank drives the device local_rank mod the visible count
// (doc/design.md §6), so a node running as many ranks as it has GPUs gives each rank its own.
#pragma once
#include "core/ctx.h"

// The CPU backend's op table (src/backend/cpu): always built, the reference for the others.
const Backend *backend_cpu(void);

// Sets ctx->be and ctx->device (-1 on the CPU). Fatal, naming the fix, for an unknown name or
// for "cuda" in a binary without CUDA or on a node without a visible device. Calling it
// again with the same answer is a no-op; a rank cannot move to another device.
void backend_use(RunCtx *ctx, const char *name);
