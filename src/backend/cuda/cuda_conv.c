// CUDA convolutions through cuDNN: dense, grouped and depthwise (group count = channels).
// Descriptors, algorithms and workspace sizes are set up once per shape (a plan, kept in a
// hash table for the life of the process). Algorithms come from cuDNN's heuristics, not
// from timing them (cudnnFind*): timings vary from run to run and rank to rank, and so would
// the choice and the rounding of results. Deterministic algorithms and FMA math only (no
// TF32), as the CPU backend computes in FP32; where cuDNN has no deterministic one, a warning
// or, under [run] strict_determinism, an error (choose).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/log.h"

typedef struct ConvKey {  // ints only, no padding: hashed and compared as bytes
    int n, ci, h, w, co, k, stride, pad, groups;
} ConvKey;

typedef struct ConvPlan {
    ConvKey key;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t data;
    cudnnConvolutionBwdFilterAlgo_t filter;
    size_t fwd_ws, data_ws, filter_ws;  // workspace bytes of the chosen algorithms
} ConvPlan;

// Workspace an algorithm may need: fixed, so that the choice does not depend on free memory
// (only a deterministic algorithm that strict_determinism asks for may exceed it: choose).
static const size_t WS_LIMIT = (size_t)512 << 20;

// The run context warnings go through and whose strict_determinism is followed (cuda_conv_ctx);
// NULL: plain stderr, not strict.
static const RunCtx *run;

// Plans by shape: one table per process, like the backend's context.
static struct {
    ConvPlan **slot;
    size_t cap, n;
} plans;

static size_t key_slot(const ConvKey *k, size_t cap) {
    return (size_t)fnv1a(FNV1A_INIT, k, sizeof *k) & (cap - 1);
}

static void plans_grow(void) {
    size_t cap = plans.cap ? 2 * plans.cap : 64;
    ConvPlan **slot = dna_calloc(cap, sizeof *slot);
    for (size_t i = 0; i < plans.cap; i++) {
        if (!plans.slot[i]) continue;
        size_t j = key_slot(&plans.slot[i]->key, cap);
        while (slot[j]) j = (j + 1) & (cap - 1);
        slot[j] = plans.slot[i];
    }
    free(plans.slot);
    plans.slot = slot, plans.cap = cap;
}

static void choose_algorithms(ConvPlan *p);

static ConvPlan *plan_new(const ConvKey *k) {
    ConvPlan *p = dna_calloc(1, sizeof *p);
    p->key = *k;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    int ho = conv_out_size(k->h, k->k, k->stride, k->pad);
    int wo = conv_out_size(k->w, k->k, k->stride, k->pad);
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k->n, k->ci,
                                           k->h, k->w));
    CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k->n, k->co, ho, wo));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k->co,
                                           k->ci / k->groups, k->k, k->k));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, k->pad, k->pad, k->stride, k->stride, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionGroupCount(p->conv, k->groups));
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH));
    int n, c, h, w;  // cuDNN must agree with our output size
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w));
    DNA_CHECK(n == k->n && c == k->co && h == ho && w == wo, "internal: report this shape",
              "cuDNN's output [%d,%d,%d,%d] differs from [%d,%d,%d,%d]", n, c, h, w, k->n, k->co,
              ho, wo);
    choose_algorithms(p);
    return p;
}

static ConvPlan *plan_for(const Tensor *x, const Tensor *w, const Tensor *y, ConvSpec s) {
    ConvKey k = {x->n, x->c, x->h, x->w, y->c, w->h, s.stride, s.pad, s.groups};
    if (2 * (plans.n + 1) > plans.cap) plans_grow();
    size_t i = key_slot(&k, plans.cap);
    for (; plans.slot[i]; i = (i + 1) & (plans.cap - 1))
        if (!memcmp(&plans.slot[i]->key, &k, sizeof k)) return plans.slot[i];
    plans.n++;
    return plans.slot[i] = plan_new(&k);
}

// One result of cuDNN's heuristics, whichever direction it is for.
typedef struct Algo {
    int algo, usable, det;  // usable: succeeded, FP32 math (no TF32 tensor ops)
    size_t memory;          // workspace bytes
} Algo;

#define ALGOS(perf, n, a)                                                              \
    for (int i_ = 0; i_ < (n); i_++) {                                                 \
        (a)[i_].algo = (int)(perf)[i_].algo;                                           \
        (a)[i_].usable = (perf)[i_].status == CUDNN_STATUS_SUCCESS &&                  \
                         (perf)[i_].mathType != CUDNN_TENSOR_OP_MATH &&                \
                         (perf)[i_].mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION; \
        (a)[i_].det = (perf)[i_].determinism == CUDNN_DETERMINISTIC;                   \
        (a)[i_].memory = (perf)[i_].memory;                                            \
    }

static size_t mib(size_t bytes) {  // rounded up: just over the limit must not read as it
    return (bytes + ((size_t)1 << 20) - 1) >> 20;
}

static void shape_text(const ConvPlan *p, char *buf, size_t n) {
    const ConvKey *k = &p->key;
    snprintf(buf, n, "x [%d,%d,%d,%d] co %d k %d stride %d pad %d groups %d", k->n, k->ci, k->h,
             k->w, k->co, k->k, k->stride, k->pad, k->groups);
}

// The index of one direction's algorithm among cuDNN's results (sorted by expected speed), -1
// if none:
// - the first deterministic one within WS_LIMIT;
// - failing that, under [run] strict_determinism, the deterministic one needing the least
//   workspace beyond the limit (the run asked for reproducibility over memory; a failed
//   allocation is reported as such), and an error if there is none;
// - otherwise the first nondeterministic one within the limit (atomics: sums in varying order,
//   so the last bits differ from run to run), with a warning: once per plan and direction, as
//   a plan is made once per shape; and if there is none, the deterministic one beyond it.
// The limit is not raised by default: it bounds the scratch whatever the GPU's memory.
static int choose(const ConvPlan *p, const char *dir, const Algo *a, int n) {
    int det = -1, big = -1, nondet = -1;
    for (int i = n - 1; i >= 0; i--) {  // backwards: the first of each kind wins
        if (!a[i].usable) continue;
        if (a[i].det && a[i].memory <= WS_LIMIT) det = i;
        if (!a[i].det && a[i].memory <= WS_LIMIT) nondet = i;
        if (a[i].det && a[i].memory > WS_LIMIT && (big < 0 || a[i].memory <= a[big].memory))
            big = i;
    }
    if (det >= 0) return det;
    char shape[160], over[96] = "";
    shape_text(p, shape, sizeof shape);
    if (big >= 0)
        snprintf(over, sizeof over, " (algorithm %d is, with %zu MiB)", a[big].algo,
                 mib(a[big].memory));
    if (run && run->strict_determinism) {
        DNA_CHECK(big >= 0,
                  "set [run] strict_determinism = 0 to run this shape nondeterministically "
                  "(results then differ in the last bits from run to run), or report the shape",
                  "conv2d %s %s: cuDNN offers no deterministic FP32 algorithm and [run] "
                  "strict_determinism = 1",
                  dir, shape);
        log_warn(run,
                 "conv2d %s %s: no deterministic FP32 algorithm within the %zu MiB workspace "
                 "limit; [run] strict_determinism = 1 takes algorithm %d, with %zu MiB",
                 dir, shape, mib(WS_LIMIT), a[big].algo, mib(a[big].memory));
        return big;
    }
    if (nondet < 0) return big;
    log_warn(run,
             "conv2d %s %s: no deterministic FP32 cuDNN algorithm within the %zu MiB workspace "
             "limit%s; using nondeterministic algorithm %d, so results may differ in the last "
             "bits from run to run. Fix: set [run] strict_determinism = 1 to %s",
             dir, shape, mib(WS_LIMIT), big >= 0 ? over : " (nor beyond it)", a[nondet].algo,
             big >= 0 ? "take the deterministic one" : "make this an error");
    return nondet;
}

static void no_algorithm(const ConvPlan *p, const char *dir) {
    char shape[160];
    shape_text(p, shape, sizeof shape);
    DNA_FAIL("cuDNN offers no FP32 algorithm for this shape; report it", "conv2d %s: %s", dir,
             shape);
}

// The three algorithms from cuDNN's heuristics: a function of the shape and the GPU only,
// so every run and every rank computes a shape the same way.
static void choose_algorithms(ConvPlan *p) {
    CudaCtx *g = cuda_ctx();
    int n = 0, b;
    Algo a[16];
    cudnnConvolutionFwdAlgoPerf_t pf[16];
    CUDNN_CHECK(
        cudnnGetConvolutionForwardAlgorithm_v7(g->cudnn, p->x, p->w, p->conv, p->y, 16, &n, pf));
    ALGOS(pf, n, a);
    if ((b = choose(p, "forward", a, n)) < 0) no_algorithm(p, "forward");
    p->fwd = pf[b].algo;
    CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(g->cudnn, p->x, p->w, p->conv, p->y, p->fwd,
                                                        &p->fwd_ws));
    cudnnConvolutionBwdDataAlgoPerf_t pd[16];
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(g->cudnn, p->w, p->y, p->conv, p->x, 16,
                                                            &n, pd));
    ALGOS(pd, n, a);
    if ((b = choose(p, "backward data", a, n)) < 0) no_algorithm(p, "backward data");
    p->data = pd[b].algo;
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(g->cudnn, p->w, p->y, p->conv, p->x,
                                                             p->data, &p->data_ws));
    cudnnConvolutionBwdFilterAlgoPerf_t pw[16];
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(g->cudnn, p->x, p->y, p->conv, p->w,
                                                              16, &n, pw));
    ALGOS(pw, n, a);
    if ((b = choose(p, "backward filter", a, n)) < 0) no_algorithm(p, "backward filter");
    p->filter = pw[b].algo;
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(g->cudnn, p->x, p->y, p->conv, p->w,
                                                               p->filter, &p->filter_ws));
}

void cuda_conv_ctx(const RunCtx *ctx) {
    run = ctx;
}

void cuda_conv2d_fwd(const Tensor *x, const Tensor *w, Tensor *y, ConvSpec s) {
    conv_check_shapes(x, w, y, s);
    CudaCtx *g = cuda_ctx();
    ConvPlan *p = plan_for(x, w, y, s);
    const float one = 1.0f, zero = 0.0f;
    void *ws = p->fwd_ws ? cuda_scratch(p->fwd_ws) : NULL;
    CUDNN_CHECK(cudnnConvolutionForward(g->cudnn, &one, p->x, x->data, p->w, w->data, p->conv,
                                        p->fwd, ws, p->fwd_ws, &zero, p->y, y->data));
}

// dx is overwritten, dw accumulated into (ops.h); either may be NULL.
void cuda_conv2d_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                     ConvSpec s) {
    conv_check_shapes(x, w, dy, s);
    CudaCtx *g = cuda_ctx();
    ConvPlan *p = plan_for(x, w, dy, s);
    const float one = 1.0f, zero = 0.0f;
    if (dx) {
        void *ws = p->data_ws ? cuda_scratch(p->data_ws) : NULL;
        CUDNN_CHECK(cudnnConvolutionBackwardData(g->cudnn, &one, p->w, w->data, p->y, dy->data,
                                                 p->conv, p->data, ws, p->data_ws, &zero, p->x,
                                                 dx->data));
    }
    if (dw) {
        void *ws = p->filter_ws ? cuda_scratch(p->filter_ws) : NULL;
        CUDNN_CHECK(cudnnConvolutionBackwardFilter(g->cudnn, &one, p->x, x->data, p->y, dy->data,
                                                   p->conv, p->filter, ws, p->filter_ws, &one, p->w,
                                                   dw->data));
    }
}
