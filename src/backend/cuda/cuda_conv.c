// CUDA convolutions through cuDNN: dense, grouped and depthwise (group count = channels).
// Descriptors, algorithms and workspace sizes are set up once per shape (a plan, kept in a
// hash table for the life of the process). Algorithms come from cuDNN's heuristics, not
// from timing them (cudnnFind*): timings vary from run to run and rank to rank, and so would
// the choice and the rounding of results. Deterministic algorithms and FMA math only (no
// TF32), as the CPU backend computes in FP32.
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "core/error.h"
#include "core/hash.h"

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

// Workspace an algorithm may need: fixed, so that the choice does not depend on free memory.
static const size_t WS_LIMIT = (size_t)512 << 20;

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

// Index of the first usable result (cuDNN sorts them by expected speed): succeeded,
// deterministic, no tensor-op (TF32) math, within the workspace limit; failing that, the
// first nondeterministic one (atomics: sums in varying order); -1 if none.
#define DEFINE_PICK(name, Perf)                                              \
    static int name##_if(const Perf *perf, int n, size_t lim, int det) {     \
        for (int i = 0; i < n; i++)                                          \
            if (perf[i].status == CUDNN_STATUS_SUCCESS &&                    \
                (!det || perf[i].determinism == CUDNN_DETERMINISTIC) &&      \
                perf[i].mathType != CUDNN_TENSOR_OP_MATH &&                  \
                perf[i].mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION && \
                perf[i].memory <= lim)                                       \
                return i;                                                    \
        return -1;                                                           \
    }                                                                        \
    static int name(const Perf *perf, int n, size_t lim) {                   \
        int i = name##_if(perf, n, lim, 1);                                  \
        return i >= 0 ? i : name##_if(perf, n, lim, 0);                      \
    }
DEFINE_PICK(pick_fwd, cudnnConvolutionFwdAlgoPerf_t)
DEFINE_PICK(pick_data, cudnnConvolutionBwdDataAlgoPerf_t)
DEFINE_PICK(pick_filter, cudnnConvolutionBwdFilterAlgoPerf_t)

static void no_algorithm(const ConvPlan *p, const char *dir) {
    const ConvKey *k = &p->key;
    DNA_FAIL("cuDNN offers no FP32 algorithm for this shape; report it",
             "conv2d %s: x [%d,%d,%d,%d] co %d k %d stride %d pad %d groups %d", dir, k->n, k->ci,
             k->h, k->w, k->co, k->k, k->stride, k->pad, k->groups);
}

// The three algorithms from cuDNN's heuristics: a function of the shape and the GPU only,
// so every run and every rank computes a shape the same way.
static void choose_algorithms(ConvPlan *p) {
    CudaCtx *g = cuda_ctx();
    int n = 0, b;
    cudnnConvolutionFwdAlgoPerf_t pf[16];
    CUDNN_CHECK(
        cudnnGetConvolutionForwardAlgorithm_v7(g->cudnn, p->x, p->w, p->conv, p->y, 16, &n, pf));
    if ((b = pick_fwd(pf, n, WS_LIMIT)) < 0) no_algorithm(p, "forward");
    p->fwd = pf[b].algo;
    CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(g->cudnn, p->x, p->w, p->conv, p->y, p->fwd,
                                                        &p->fwd_ws));
    cudnnConvolutionBwdDataAlgoPerf_t pd[16];
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(g->cudnn, p->w, p->y, p->conv, p->x, 16,
                                                            &n, pd));
    if ((b = pick_data(pd, n, WS_LIMIT)) < 0) no_algorithm(p, "backward data");
    p->data = pd[b].algo;
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(g->cudnn, p->w, p->y, p->conv, p->x,
                                                             p->data, &p->data_ws));
    cudnnConvolutionBwdFilterAlgoPerf_t pw[16];
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(g->cudnn, p->x, p->y, p->conv, p->w,
                                                              16, &n, pw));
    if ((b = pick_filter(pw, n, WS_LIMIT)) < 0) no_algorithm(p, "backward filter");
    p->filter = pw[b].algo;
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(g->cudnn, p->x, p->y, p->conv, p->w,
                                                               p->filter, &p->filter_ws));
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
