// CPU convolutions. Three paths: 1x1 stride-1 as one GEMM per image; depthwise as direct
// loops over a zero-padded copy of each plane; everything else (stem 3x3, grouped) as
// im2col + GEMM per image and group. Images are spread over OpenMP threads; weight
// gradients are summed from per-thread partials.
#include <cblas.h>
#include <omp.h>

#include "backend/cpu/cpu.h"
#include "core/error.h"

static int out_size(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

static void check_shapes(const Tensor *x, const Tensor *w, const Tensor *y, ConvSpec s) {
    int k = w->h;
    DNA_CHECK(w->h == w->w && s.groups > 0 && x->c % s.groups == 0 && y->c % s.groups == 0 &&
                  w->c == x->c / s.groups && w->n == y->c && y->n == x->n &&
                  y->h == out_size(x->h, k, s.stride, s.pad) &&
                  y->w == out_size(x->w, k, s.stride, s.pad),
              "a layer was built with shapes that do not chain; check the layer configuration",
              "conv2d shapes do not match: x [%d,%d,%d,%d] w [%d,%d,%d,%d] y [%d,%d,%d,%d] "
              "stride %d pad %d groups %d",
              x->n, x->c, x->h, x->w, w->n, w->c, w->h, w->w, y->n, y->c, y->h, y->w, s.stride,
              s.pad, s.groups);
}

static int is_pointwise(const Tensor *w, ConvSpec s) {
    return w->h == 1 && s.stride == 1 && s.pad == 0 && s.groups == 1;
}
static int is_depthwise(const Tensor *x, const Tensor *w, const Tensor *y, ConvSpec s) {
    return s.groups == x->c && x->c == y->c && w->c == 1;
}

// ---------------------------------------------------------------- depthwise
// Copy plane x [H,W] into pad [(H+2p),(W+2p)] with a zero border.
static void pad_plane(const float *x, int H, int W, int p, float *pad) {
    int Wp = W + 2 * p;
    memset(pad, 0, sizeof(float) * (size_t)Wp * p);
    for (int i = 0; i < H; i++) {
        float *r = pad + (size_t)(i + p) * Wp;
        for (int j = 0; j < p; j++) r[j] = r[p + W + j] = 0.0f;
        memcpy(r + p, x + (size_t)i * W, sizeof(float) * W);
    }
    memset(pad + (size_t)(H + p) * Wp, 0, sizeof(float) * (size_t)Wp * p);
}

static void dw_plane_fwd(const float *pad, int Wp, const float *w, int k, int s, float *y, int Ho,
                         int Wo) {
    for (int oy = 0; oy < Ho; oy++) {
        float acc[256];
        for (int ox = 0; ox < Wo; ox++) acc[ox] = 0.0f;
        for (int ky = 0; ky < k; ky++) {
            const float *pr = pad + (size_t)(oy * s + ky) * Wp;
            for (int kx = 0; kx < k; kx++) {
                float wv = w[ky * k + kx];
                const float *q = pr + kx;
                if (s == 1)
                    for (int ox = 0; ox < Wo; ox++) acc[ox] += wv * q[ox];
                else
                    for (int ox = 0; ox < Wo; ox++) acc[ox] += wv * q[ox * s];
            }
        }
        memcpy(y + (size_t)oy * Wo, acc, sizeof(float) * Wo);
    }
}

static void dw_fwd(const Tensor *x, const Tensor *w, Tensor *y, ConvSpec s) {
    int C = x->c, H = x->h, W = x->w, k = w->h, p = s.pad, Ho = y->h, Wo = y->w;
    DNA_CHECK(Wo <= 256, "use a smaller image width or the general path", "depthwise width %d > 256", Wo);
    int Wp = W + 2 * p, Hp = H + 2 * p;
#pragma omp parallel for schedule(static)
    for (long nc = 0; nc < (long)x->n * C; nc++) {
        int c = (int)(nc % C);
        float *pad = cpu_scratch(0, (size_t)Hp * Wp);
        pad_plane(x->data + (size_t)nc * H * W, H, W, p, pad);
        dw_plane_fwd(pad, Wp, w->data + (size_t)c * k * k, k, s.stride,
                     y->data + (size_t)nc * Ho * Wo, Ho, Wo);
    }
}

// dx and dw together, parallel over channels so each thread owns its dw[c].
static void dw_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                   ConvSpec s) {
    int N = x->n, C = x->c, H = x->h, W = x->w, k = w->h, p = s.pad, st = s.stride;
    int Ho = dy->h, Wo = dy->w, Wp = W + 2 * p, Hp = H + 2 * p;
    DNA_CHECK(k <= 14, "use depthwise kernels of at most 14x14", "depthwise kernel %d too large", k);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float *pad = cpu_scratch(0, (size_t)Hp * Wp);
        float *dpad = cpu_scratch(1, (size_t)Hp * Wp);
        const float *wc = w->data + (size_t)c * k * k;
        float gw[196] = {0};  // k <= 14, checked below
        for (int n = 0; n < N; n++) {
            size_t plane = ((size_t)n * C + c);
            const float *g = dy->data + plane * Ho * Wo;
            if (dw) {
                pad_plane(x->data + plane * H * W, H, W, p, pad);
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        float acc = 0.0f;
                        for (int oy = 0; oy < Ho; oy++) {
                            const float *q = pad + (size_t)(oy * st + ky) * Wp + kx;
                            const float *gr = g + (size_t)oy * Wo;
                            if (st == 1)
                                for (int ox = 0; ox < Wo; ox++) acc += gr[ox] * q[ox];
                            else
                                for (int ox = 0; ox < Wo; ox++) acc += gr[ox] * q[ox * st];
                        }
                        gw[ky * k + kx] += acc;
                    }
            }
            if (dx) {
                memset(dpad, 0, sizeof(float) * (size_t)Hp * Wp);
                for (int oy = 0; oy < Ho; oy++) {
                    const float *gr = g + (size_t)oy * Wo;
                    for (int ky = 0; ky < k; ky++) {
                        float *q = dpad + (size_t)(oy * st + ky) * Wp;
                        for (int kx = 0; kx < k; kx++) {
                            float wv = wc[ky * k + kx];
                            if (st == 1)
                                for (int ox = 0; ox < Wo; ox++) q[kx + ox] += wv * gr[ox];
                            else
                                for (int ox = 0; ox < Wo; ox++) q[kx + ox * st] += wv * gr[ox];
                        }
                    }
                }
                float *dxp = dx->data + plane * H * W;
                for (int i = 0; i < H; i++)
                    memcpy(dxp + (size_t)i * W, dpad + (size_t)(i + p) * Wp + p, sizeof(float) * W);
            }
        }
        if (dw)
            for (int i = 0; i < k * k; i++) dw->data[(size_t)c * k * k + i] += gw[i];
    }
}

// ---------------------------------------------------------------- pointwise (GEMM)
static void pw_fwd(const Tensor *x, const Tensor *w, Tensor *y) {
    int Ci = x->c, Co = y->c, HW = x->h * x->w;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < x->n; n++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Co, HW, Ci, 1.0f, w->data, Ci,
                    x->data + (size_t)n * Ci * HW, HW, 0.0f, y->data + (size_t)n * Co * HW, HW);
}

// Sums per-thread partial weight gradients (slot 3 of each thread's scratch) into dw.
static void reduce_partials(float **part, int nt, float *dw, size_t len) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < len; i++) {
        float s = 0.0f;
        for (int t = 0; t < nt; t++) s += part[t][i];
        dw[i] += s;
    }
}

static void pw_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw) {
    int Ci = x->c, Co = dy->c, HW = x->h * x->w, nt = cpu_nthreads();
    size_t wl = (size_t)Co * Ci;
    float *part[256];
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        float *pw = dw ? cpu_scratch(3, wl) : NULL;
        part[t] = pw;
        if (pw) memset(pw, 0, sizeof(float) * wl);
#pragma omp for schedule(static)
        for (int n = 0; n < x->n; n++) {
            const float *g = dy->data + (size_t)n * Co * HW;
            if (dx)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Ci, HW, Co, 1.0f, w->data, Ci,
                            g, HW, 0.0f, dx->data + (size_t)n * Ci * HW, HW);
            if (pw)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Co, Ci, HW, 1.0f, g, HW,
                            x->data + (size_t)n * Ci * HW, HW, 1.0f, pw, Ci);
        }
    }
    if (dw) reduce_partials(part, nt, dw->data, wl);
}

// ---------------------------------------------------------------- general (im2col)
// col [(Cg*k*k), Ho*Wo] for channels [c0, c0+Cg) of image plane block x [C,H,W]
static void im2col(const float *x, int H, int W, int Cg, int k, int s, int p, int Ho, int Wo,
                   float *col) {
    for (int c = 0; c < Cg; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float *r = col + ((size_t)(c * k + ky) * k + kx) * Ho * Wo;
                for (int oy = 0; oy < Ho; oy++) {
                    int iy = oy * s - p + ky;
                    for (int ox = 0; ox < Wo; ox++) {
                        int ix = ox * s - p + kx;
                        r[oy * Wo + ox] = (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                              ? x[((size_t)c * H + iy) * W + ix]
                                              : 0.0f;
                    }
                }
            }
}

static void col2im(const float *col, int H, int W, int Cg, int k, int s, int p, int Ho, int Wo,
                   float *x) {
    memset(x, 0, sizeof(float) * (size_t)Cg * H * W);
    for (int c = 0; c < Cg; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const float *r = col + ((size_t)(c * k + ky) * k + kx) * Ho * Wo;
                for (int oy = 0; oy < Ho; oy++) {
                    int iy = oy * s - p + ky;
                    if (iy < 0 || iy >= H) continue;
                    for (int ox = 0; ox < Wo; ox++) {
                        int ix = ox * s - p + kx;
                        if (ix >= 0 && ix < W) x[((size_t)c * H + iy) * W + ix] += r[oy * Wo + ox];
                    }
                }
            }
}

static void gen_fwd(const Tensor *x, const Tensor *w, Tensor *y, ConvSpec s) {
    int G = s.groups, Cg = x->c / G, Og = y->c / G, k = w->h, HoWo = y->h * y->w;
    int K = Cg * k * k;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < x->n; n++) {
        float *col = cpu_scratch(0, (size_t)K * HoWo);
        for (int g = 0; g < G; g++) {
            im2col(x->data + ((size_t)n * x->c + (size_t)g * Cg) * x->h * x->w, x->h, x->w, Cg, k,
                   s.stride, s.pad, y->h, y->w, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Og, HoWo, K, 1.0f,
                        w->data + (size_t)g * Og * K, K, col, HoWo, 0.0f,
                        y->data + ((size_t)n * y->c + (size_t)g * Og) * HoWo, HoWo);
        }
    }
}

static void gen_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                    ConvSpec s) {
    int G = s.groups, Cg = x->c / G, Og = dy->c / G, k = w->h, HoWo = dy->h * dy->w;
    int K = Cg * k * k, nt = cpu_nthreads();
    size_t wl = tensor_numel(w), HW = (size_t)x->h * x->w;
    float *part[256];
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        float *pw = dw ? cpu_scratch(3, wl) : NULL;
        part[t] = pw;
        if (pw) memset(pw, 0, sizeof(float) * wl);
        float *col = cpu_scratch(0, (size_t)K * HoWo);
#pragma omp for schedule(static)
        for (int n = 0; n < x->n; n++)
            for (int g = 0; g < G; g++) {
                const float *gy = dy->data + ((size_t)n * dy->c + (size_t)g * Og) * HoWo;
                const float *wg = w->data + (size_t)g * Og * K;
                size_t xoff = ((size_t)n * x->c + (size_t)g * Cg) * HW;
                if (pw) {
                    im2col(x->data + xoff, x->h, x->w, Cg, k, s.stride, s.pad, dy->h, dy->w, col);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Og, K, HoWo, 1.0f, gy,
                                HoWo, col, HoWo, 1.0f, pw + (size_t)g * Og * K, K);
                }
                if (dx) {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, HoWo, Og, 1.0f, wg, K,
                                gy, HoWo, 0.0f, col, HoWo);
                    col2im(col, x->h, x->w, Cg, k, s.stride, s.pad, dy->h, dy->w, dx->data + xoff);
                }
            }
    }
    if (dw) reduce_partials(part, nt, dw->data, wl);
}

void cpu_conv2d_fwd(const Tensor *x, const Tensor *w, Tensor *y, ConvSpec s) {
    check_shapes(x, w, y, s);
    if (is_pointwise(w, s))
        pw_fwd(x, w, y);
    else if (is_depthwise(x, w, y, s))
        dw_fwd(x, w, y, s);
    else
        gen_fwd(x, w, y, s);
}

void cpu_conv2d_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                    ConvSpec s) {
    check_shapes(x, w, dy, s);
    if (is_pointwise(w, s))
        pw_bwd(x, w, dy, dx, dw);
    else if (is_depthwise(x, w, dy, s))
        dw_bwd(x, w, dy, dx, dw, s);
    else
        gen_bwd(x, w, dy, dx, dw, s);
}
