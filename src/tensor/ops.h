// The op interface: one table of functions per backend (CPU, CUDA), all taking tensors whose
// data lives on that backend. Layers call only these, so a backend can keep every byte on
// its device. The ops themselves are listed, one line each, in ops.def; the memory, input
// pipeline and collective members below are written by hand. Conventions:
//  - forward ops overwrite their output; backward ops overwrite input gradients (dx) and
//    ACCUMULATE parameter gradients (dw, db, dgamma, dbeta), so the caller zeroes those;
//  - a NULL output gradient means "not needed" and is skipped;
//  - scalar results (losses) come back to the host as double.
#pragma once
#include <stdint.h>

#include "tensor/tensor.h"

// ACT_GELU: PyTorch's default GELU, the erf form x/2 (1 + erf(x/sqrt 2))
typedef enum { ACT_NONE = 0, ACT_RELU, ACT_SWISH, ACT_SIGMOID, ACT_GELU } Act;

typedef struct ConvSpec {
    int stride, pad, groups;
} ConvSpec;

static inline int conv_out_size(int in, int k, int stride, int pad) {
    return (in + 2 * pad - k) / stride + 1;
}
// Fatal, with every shape, unless y = conv(x, w) under s chains (every backend checks this).
void conv_check_shapes(const Tensor *x, const Tensor *w, const Tensor *y, ConvSpec s);
// The same for the transformer ops (ops.def): fatal, with every shape, unless they chain.
// attn_check_shapes returns the width D of y (qkv is 3D wide); `what` names the direction.
void tok_linear_check_shapes(const Tensor *x, const Tensor *w, const Tensor *y, const char *what);
int attn_check_shapes(const Tensor *qkv, const Tensor *y, int heads, const char *what);
void transpose_check_shapes(const Tensor *x, const Tensor *y);
void bcast_check_shapes(const Tensor *x, const Tensor *b);

// Synchronised batch norm (a data-parallel rank group training one job): `sum` adds n
// doubles in place over the group. Ops given NULL keep their statistics local.
typedef struct BnSync {
    void (*sum)(void *ctx, double *buf, size_t n);
    void *ctx;
} BnSync;

// Bytes of the id that names a device communicator (NCCL's unique id), and of a device's
// UUID (the one nvidia-smi -L shows).
enum { BACKEND_COMM_ID_BYTES = 128, BACKEND_UUID_BYTES = 16 };

typedef struct AdamHyper {
    float lr, beta1, beta2, eps, weight_decay;
    int decoupled;  // 1: AdamW (decay applied to the weights), 0: Adam (L2 added to the grad)
} AdamHyper;

struct Backend {
    const char *name;
    const char *(*lib_version)(void);  // the numerical library underneath, for run records
    // memory: byte sizes; alloc returns zeroed memory
    void *(*alloc)(size_t bytes);
    void (*free)(void *p);
    void (*upload)(void *dst, const void *host, size_t bytes);
    void (*download)(void *host, const void *src, size_t bytes);
    void (*copy)(void *dst, const void *src, size_t bytes);
    void (*fill)(float *dst, float v, size_t n);
    // Input pipelines: host_alloc gives host memory the device copies from without staging
    // (pinned on CUDA); upload_async copies from it on a second stream, overlapping the ops
    // already queued (the last step's backward), and the ops queued after it wait for it.
    // dst must not be in use by queued ops (double-buffer it); the host buffer must stay as
    // it is until upload_wait returns.
    void *(*host_alloc)(size_t bytes);
    void (*host_free)(void *p);
    void (*upload_async)(void *dst, const void *host, size_t bytes);
    void (*upload_wait)(void);

    // The ops, one field per line of ops.def (where each is documented)
#define OP(kind, ret, op, params) ret(*op) params;
#include "tensor/ops.def"
#undef OP

    // Device collectives among ranks (NCCL on CUDA): NULL where there are none, and par_sum
    // goes through host memory and MPI. One member makes the id, every member passes the
    // same id to comm_new (collective over the members); comm_sum adds in place, ordered
    // with the other ops like any op.
    void (*comm_id)(unsigned char id[BACKEND_COMM_ID_BYTES]);
    void *(*comm_new)(const unsigned char id[BACKEND_COMM_ID_BYTES], int nranks, int rank);
    void (*comm_sum)(void *comm, float *buf, size_t n);
    void (*comm_free)(void *comm);
    // The UUID of the device this process drives, which tells whether two ranks of a host
    // share one (NCCL refuses that); NULL on a backend without devices (the CPU).
    void (*device_uuid)(unsigned char uuid[BACKEND_UUID_BYTES]);
};

