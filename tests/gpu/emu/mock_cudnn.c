// Host stand-in for cuDNN (tests/gpu/emu/run.sh): direct convolution from the descriptors,
// accumulated in float as a GPU does, queued on the handle's stream (emu.h) with copies of
// the descriptors and of alpha/beta, as cuDNN reads them at the call; the heuristics offer a
// nondeterministic and a TF32 algorithm before the usable one, so the backend's choice is
// exercised. EMU_CUDNN_NONDET_ONLY takes the usable deterministic one away, so the backend's
// fallback runs: 1 = not supported (only the nondeterministic one remains), big = it needs
// more workspace than the backend's limit.
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"

struct cudnnContext {
    cudaStream_t stream;
};
struct cudnnTensorStruct {
    int n, c, h, w, set;
};
struct cudnnFilterStruct {
    int k, c, h, w, set;
};
struct cudnnConvolutionStruct {
    int pad, stride, groups, math, set;
};
static struct cudnnContext the_handle;
cudnnStatus_t cudnnCreate(cudnnHandle_t *h) {
    *h = &the_handle;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) {
    h->stream = s;
    return CUDNN_STATUS_SUCCESS;
}
size_t cudnnGetVersion(void) {
    return 91900;
}
const char *cudnnGetErrorString(cudnnStatus_t s) {
    (void)s;
    return "mock cudnn error";
}
void cudnnGetLastErrorString(char *m, size_t n) {
    if (n) m[0] = 0;
}
cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d) {
    *d = calloc(1, sizeof **d);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d) {
    *d = calloc(1, sizeof **d);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d) {
    *d = calloc(1, sizeof **d);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t f,
                                         cudnnDataType_t t, int n, int c, int h, int w) {
    if (f != CUDNN_TENSOR_NCHW || t != CUDNN_DATA_FLOAT) return CUDNN_STATUS_BAD_PARAM;
    *d = (struct cudnnTensorStruct){n, c, h, w, 1};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t t,
                                         cudnnTensorFormat_t f, int k, int c, int h, int w) {
    if (f != CUDNN_TENSOR_NCHW || t != CUDNN_DATA_FLOAT) return CUDNN_STATUS_BAD_PARAM;
    *d = (struct cudnnFilterStruct){k, c, h, w, 1};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int ph, int pw, int u,
                                              int v, int dh, int dw, cudnnConvolutionMode_t m,
                                              cudnnDataType_t t) {
    if (ph != pw || u != v || dh != 1 || dw != 1 || m != CUDNN_CROSS_CORRELATION ||
        t != CUDNN_DATA_FLOAT)
        return CUDNN_STATUS_BAD_PARAM;
    d->pad = ph, d->stride = u, d->groups = 1, d->set = 1;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int g) {
    d->groups = g;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m) {
    d->math = m;
    return CUDNN_STATUS_SUCCESS;
}
static int osz(int in, int k, int s, int p) {
    return (in + 2 * p - k) / s + 1;
}
static int check(cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                 cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t y) {
    if (!x->set || !w->set || !c->set || !y->set || c->math != CUDNN_FMA_MATH) return 0;
    return x->c == w->c * c->groups && y->c == w->k && y->n == x->n && w->k % c->groups == 0 &&
           y->h == osz(x->h, w->h, c->stride, c->pad) && y->w == osz(x->w, w->w, c->stride, c->pad);
}
cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(cudnnConvolutionDescriptor_t c,
                                                    cudnnTensorDescriptor_t x,
                                                    cudnnFilterDescriptor_t w, int *n, int *ch,
                                                    int *h, int *wo) {
    *n = x->n, *ch = w->k, *h = osz(x->h, w->h, c->stride, c->pad),
    *wo = osz(x->w, w->w, c->stride, c->pad);
    return CUDNN_STATUS_SUCCESS;
}
const int emu_cudnn = 1;  // tests/gpu look for it (weak) to know they run on this stand-in

enum { OFFER_ALL, OFFER_NONDET, OFFER_DET_BIG };  // EMU_CUDNN_NONDET_ONLY unset/0, 1, big
static int offer(void) {  // read at each call, so a test can switch it
    const char *e = getenv("EMU_CUDNN_NONDET_ONLY");
    return !e || !strcmp(e, "0") ? OFFER_ALL : !strcmp(e, "big") ? OFFER_DET_BIG : OFFER_NONDET;
}
// workspace of an algorithm: algo 2's 4 KiB, or just over the backend's 512 MiB limit
static size_t ws_need(int algo) {
    return algo != 2 ? 0 : offer() == OFFER_DET_BIG ? ((size_t)512 << 20) + 4096 : 4096;
}
// three results: a nondeterministic one, a TF32 one, then the usable one (algo 2)
#define FILL(perf, n)                                                                         \
    do {                                                                                      \
        memset(perf, 0, 3 * sizeof *perf);                                                    \
        perf[0].status = CUDNN_STATUS_SUCCESS, perf[0].determinism = CUDNN_NON_DETERMINISTIC, \
        perf[0].algo = 0, perf[0].mathType = CUDNN_FMA_MATH;                                  \
        perf[1].status = CUDNN_STATUS_SUCCESS, perf[1].determinism = CUDNN_DETERMINISTIC,     \
        perf[1].algo = 1, perf[1].mathType = CUDNN_TENSOR_OP_MATH;                            \
        perf[2].status = offer() == OFFER_NONDET ? CUDNN_STATUS_NOT_SUPPORTED                 \
                                                 : CUDNN_STATUS_SUCCESS;                      \
        perf[2].determinism = CUDNN_DETERMINISTIC, perf[2].algo = 2;                          \
        perf[2].mathType = CUDNN_FMA_MATH, perf[2].memory = ws_need(2);                       \
        *n = 3;                                                                               \
    } while (0)
cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                     cudnnFilterDescriptor_t w,
                                                     cudnnConvolutionDescriptor_t c,
                                                     cudnnTensorDescriptor_t y, int req, int *n,
                                                     cudnnConvolutionFwdAlgoPerf_t *perf) {
    (void)h;
    if (req < 3 || !check(x, w, c, y)) return CUDNN_STATUS_BAD_PARAM;
    FILL(perf, n);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(
    cudnnHandle_t h, cudnnFilterDescriptor_t w, cudnnTensorDescriptor_t dy,
    cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t dx, int req, int *n,
    cudnnConvolutionBwdDataAlgoPerf_t *perf) {
    (void)h;
    if (req < 3 || !check(dx, w, c, dy)) return CUDNN_STATUS_BAD_PARAM;
    FILL(perf, n);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(
    cudnnHandle_t h, cudnnTensorDescriptor_t x, cudnnTensorDescriptor_t dy,
    cudnnConvolutionDescriptor_t c, cudnnFilterDescriptor_t dw, int req, int *n,
    cudnnConvolutionBwdFilterAlgoPerf_t *perf) {
    (void)h;
    if (req < 3 || !check(x, dw, c, dy)) return CUDNN_STATUS_BAD_PARAM;
    FILL(perf, n);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                      cudnnFilterDescriptor_t w,
                                                      cudnnConvolutionDescriptor_t c,
                                                      cudnnTensorDescriptor_t y,
                                                      cudnnConvolutionFwdAlgo_t a, size_t *s) {
    (void)h, (void)x, (void)w, (void)c, (void)y;
    *s = ws_need(a);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(
    cudnnHandle_t h, cudnnFilterDescriptor_t w, cudnnTensorDescriptor_t dy,
    cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t dx, cudnnConvolutionBwdDataAlgo_t a,
    size_t *s) {
    (void)h, (void)w, (void)dy, (void)c, (void)dx;
    *s = ws_need(a);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(
    cudnnHandle_t h, cudnnTensorDescriptor_t x, cudnnTensorDescriptor_t dy,
    cudnnConvolutionDescriptor_t c, cudnnFilterDescriptor_t dw, cudnnConvolutionBwdFilterAlgo_t a,
    size_t *s) {
    (void)h, (void)x, (void)dy, (void)c, (void)dw;
    *s = ws_need(a);
    return CUDNN_STATUS_SUCCESS;
}
// dir 0: y = a conv(x, w) + b y; 1: dx = a conv^T(dy, w) + b dx; 2: dw = a corr(x, dy) + b dw.
// Every output element sums its products in one fixed order (n, oy, ox, ci, ky, kx of the
// loops below, out-of-image taps skipped), one float add at a time.
static inline __attribute__((always_inline)) void conv_dir(
    const int dir, const struct cudnnTensorStruct *xd, float *x, const struct cudnnFilterStruct *wd,
    float *w, const struct cudnnConvolutionStruct *c, const struct cudnnTensorStruct *yd, float *y,
    float *acc) {
    const int G = c->groups, Cg = xd->c / G, Og = yd->c / G, k = wd->h, H = xd->h, W = xd->w,
              st = c->stride, pad = c->pad;
    for (int n = 0; n < xd->n; n++)
        for (int g = 0; g < G; g++)
            for (int o = 0; o < Og; o++) {
                int co = g * Og + o;
                for (int oy = 0; oy < yd->h; oy++) {
                    int y0 = oy * st - pad;  // the input row of tap ky: y0 + ky
                    int ky0 = y0 < 0 ? -y0 : 0, ky1 = H - y0 < k ? H - y0 : k;
                    for (int ox = 0; ox < yd->w; ox++) {
                        int x0 = ox * st - pad;
                        int kx0 = x0 < 0 ? -x0 : 0, kx1 = W - x0 < k ? W - x0 : k;
                        size_t yi = (((size_t)n * yd->c + co) * yd->h + oy) * yd->w + ox;
                        float yv = dir == 0 ? 0.0f : y[yi];
                        for (int ci = 0; ci < Cg; ci++) {
                            size_t xc = ((size_t)n * xd->c + g * Cg + ci) * H,
                                   wc = ((size_t)co * Cg + ci) * k;
                            for (int ky = ky0; ky < ky1; ky++) {
                                size_t xr = (xc + y0 + ky) * W + x0, wr = (wc + ky) * k;
                                for (int kx = kx0; kx < kx1; kx++) {
                                    if (dir == 0)
                                        acc[yi] += x[xr + kx] * w[wr + kx];
                                    else if (dir == 1)
                                        acc[xr + kx] += yv * w[wr + kx];
                                    else
                                        acc[wr + kx] += yv * x[xr + kx];
                                }
                            }
                        }
                    }
                }
            }
}
static void conv(int dir, const struct cudnnTensorStruct *xd, float *x,
                 const struct cudnnFilterStruct *wd, float *w,
                 const struct cudnnConvolutionStruct *c, const struct cudnnTensorStruct *yd,
                 float *y, float a, float b) {
    size_t nx = (size_t)xd->n * xd->c * xd->h * xd->w, ny = (size_t)yd->n * yd->c * yd->h * yd->w,
           nw = (size_t)wd->k * wd->c * wd->h * wd->w;
    size_t nout = dir == 0 ? ny : dir == 1 ? nx : nw;
    float *out = dir == 0 ? y : dir == 1 ? x : w;
    float *acc = calloc(nout, sizeof(float));
    if (!acc) abort();
    if (dir == 0)
        conv_dir(0, xd, x, wd, w, c, yd, y, acc);
    else if (dir == 1)
        conv_dir(1, xd, x, wd, w, c, yd, y, acc);
    else
        conv_dir(2, xd, x, wd, w, c, yd, y, acc);
    for (size_t i = 0; i < nout; i++) out[i] = a * acc[i] + (b != 0.0f ? b * out[i] : 0.0f);
    free(acc);
}
typedef struct {
    int dir;
    struct cudnnTensorStruct xd, yd;
    struct cudnnFilterStruct wd;
    struct cudnnConvolutionStruct c;
    float *x, *w, *y, a, b;
} Conv;
static void run_conv(void *arg) {
    Conv *q = arg;
    conv(q->dir, &q->xd, q->x, &q->wd, q->w, &q->c, &q->yd, q->y, q->a, q->b);
    free(q);
}
static void enqueue_conv(cudnnHandle_t h, int dir, cudnnTensorDescriptor_t xd, const void *x,
                         cudnnFilterDescriptor_t wd, const void *w, cudnnConvolutionDescriptor_t c,
                         cudnnTensorDescriptor_t yd, const void *y, const void *alpha,
                         const void *beta) {
    Conv *q = malloc(sizeof *q);
    if (!q) abort();
    *q = (Conv){dir,
                *xd,
                *yd,
                *wd,
                *c,
                (float *)x,
                (float *)w,
                (float *)y,
                *(const float *)alpha,
                *(const float *)beta};
    emu_enqueue(h->stream, run_conv, q);
}
// the algorithm offered as usable, with its workspace (the nondeterministic one: only when
// the deterministic one is taken away)
static int ws_ok(int algo, void *ws, size_t bytes) {
    return algo == 2 ? offer() != OFFER_NONDET && ws && bytes >= ws_need(2)
                     : algo == 0 && offer() != OFFER_ALL;
}
cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void *alpha,
                                      cudnnTensorDescriptor_t xd, const void *x,
                                      cudnnFilterDescriptor_t wd, const void *w,
                                      cudnnConvolutionDescriptor_t c,
                                      cudnnConvolutionFwdAlgo_t algo, void *ws, size_t wsb,
                                      const void *beta, cudnnTensorDescriptor_t yd, void *y) {
    if (!check(xd, wd, c, yd) || !ws_ok(algo, ws, wsb)) return CUDNN_STATUS_BAD_PARAM;
    enqueue_conv(h, 0, xd, x, wd, w, c, yd, y, alpha, beta);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void *alpha,
                                           cudnnFilterDescriptor_t wd, const void *w,
                                           cudnnTensorDescriptor_t dyd, const void *dy,
                                           cudnnConvolutionDescriptor_t c,
                                           cudnnConvolutionBwdDataAlgo_t algo, void *ws, size_t wsb,
                                           const void *beta, cudnnTensorDescriptor_t dxd,
                                           void *dx) {
    if (!check(dxd, wd, c, dyd) || !ws_ok(algo, ws, wsb)) return CUDNN_STATUS_BAD_PARAM;
    enqueue_conv(h, 1, dxd, dx, wd, w, c, dyd, dy, alpha, beta);
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void *alpha,
                                             cudnnTensorDescriptor_t xd, const void *x,
                                             cudnnTensorDescriptor_t dyd, const void *dy,
                                             cudnnConvolutionDescriptor_t c,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void *ws,
                                             size_t wsb, const void *beta,
                                             cudnnFilterDescriptor_t dwd, void *dw) {
    if (!check(xd, dwd, c, dyd) || !ws_ok(algo, ws, wsb)) return CUDNN_STATUS_BAD_PARAM;
    enqueue_conv(h, 2, xd, x, dwd, dw, c, dyd, dy, alpha, beta);
    return CUDNN_STATUS_SUCCESS;
}
