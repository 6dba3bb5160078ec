// CPU convolutions. Three paths: 1x1 stride-1 as one GEMM per image; depthwise as direct
// loops over a zero-padded copy of each plane; everything else (stem 3x3, grouped) as
// im2col + GEMM per image and group. Images are spread over OpenMP threads; weight
// gradients are summed from per-thread partials.
#include <omp.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_gemm.h"
#include "core/error.h"

static int is_pointwise(const Tensor *w, ConvSpec s) {
    return w->h == 1 && s.stride == 1 && s.pad == 0 && s.groups == 1;
}
static int is_depthwise(const Tensor *x, const Tensor *w, const Tensor *y, ConvSpec s) {
    return s.groups == x->c && x->c == y->c && w->c == 1;
}

// ---------------------------------------------------------------- depthwise
// A plane is copied into a zero-padded buffer split into `s` column phases: phase r holds
// padded columns r, r+s, r+2s, ... so that for stride s the tap (ky, kx) of output column
// ox reads phase kx % s at column ox + kx / s: every inner loop is contiguous and
// vectorises, whatever the stride.
typedef struct {
    int Hp, Wq, s, p;  // padded rows, columns per phase, stride, padding
} Phased;

static Phased phased_dims(int H, int W, int k, int s, int p, int Wo) {
    int Wq = Wo + (k - 1) / s + 1;  // covers ox + kx / s for every tap
    int need = (W + 2 * p + s - 1) / s;
    return (Phased){H + 2 * p, Wq > need ? Wq : need, s, p};
}

static float *phase_at(float *buf, const Phased *d, int r) {
    return buf + (size_t)r * d->Hp * d->Wq;
}

static void phase_in(const float *x, int H, int W, const Phased *d, float *buf) {
    if (d->s == 1) {  // only the border is zeroed: the plane's copy covers the rest
        size_t Wq = d->Wq, right = Wq - d->p - W;
        memset(buf, 0, sizeof(float) * d->p * Wq);
        for (int i = 0; i < H; i++) {  // loops, not memset: a few floats a side
            float *r = buf + (size_t)(i + d->p) * Wq;
            for (int j = 0; j < d->p; j++) r[j] = 0.0f;
            memcpy(r + d->p, x + (size_t)i * W, sizeof(float) * W);
            for (size_t j = d->p + W; j < d->p + W + right; j++) r[j] = 0.0f;
        }
        memset(buf + (size_t)(H + d->p) * Wq, 0, sizeof(float) * (d->Hp - H - d->p) * Wq);
        return;
    }
    memset(buf, 0, sizeof(float) * (size_t)d->s * d->Hp * d->Wq);
    for (int i = 0; i < H; i++) {
        const float *xr = x + (size_t)i * W;
        for (int j = 0; j < W; j++) {
            int c = j + d->p;
            phase_at(buf, d, c % d->s)[(size_t)(i + d->p) * d->Wq + c / d->s] = xr[j];
        }
    }
}

static void phase_out(const float *buf, int H, int W, const Phased *d, float *x) {
    if (d->s == 1) {
        for (int i = 0; i < H; i++)
            memcpy(x + (size_t)i * W, buf + (size_t)(i + d->p) * d->Wq + d->p, sizeof(float) * W);
        return;
    }
    for (int i = 0; i < H; i++) {
        float *xr = x + (size_t)i * W;
        for (int j = 0; j < W; j++) {
            int c = j + d->p;
            xr[j] = phase_at((float *)buf, d, c % d->s)[(size_t)(i + d->p) * d->Wq + c / d->s];
        }
    }
}

// Output columns are processed 16 at a time in 16-wide vectors, the rest 8 at a time
// (GCC vector extensions: AVX-512 or AVX2 here, plain SSE or scalar code elsewhere).
typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
static inline v16 ld16(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline v16 bc16(float x) {
    return (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}
static inline v8 ld8(const float *p) {
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st8(float *p, v8 v) {
    memcpy(p, &v, sizeof v);
}
static inline v8 bc8(float x) {
    return (v8){x, x, x, x, x, x, x, x};
}

// base[kx]: where tap kx of output column 0 reads, row 0 (see Phased)
static void tap_bases(float *buf, const Phased *d, int k, float **base) {
    for (int kx = 0; kx < k; kx++) base[kx] = phase_at(buf, d, kx % d->s) + kx / d->s;
}

// Output rows [oy0, oy0 + R) at columns [o, o + ns), ns <= the vector's width: one sum per
// row, so R independent chains hide the latency of the adds (a single row's chain left the
// vector units 3/4 idle). Each output adds its taps in (ky, kx) order whichever block holds
// it, so the blocking does not change a bit. A block narrower than the vector reads past
// its row, into the next row or the buffer's slack (DW_SLACK), and stores only ns lanes.
enum { DW_ROWS = 8, DW_SLACK = 16 };
#define DW_BLOCK(NAME, V, LD, BC)                                                              \
    static inline __attribute__((always_inline)) void NAME(                                    \
        int R, float *const *base, size_t Wq, int st, const float *wc, int k, int oy0, int o,  \
        int ns, float *out, int Wo) {                                                          \
        V acc[DW_ROWS];                                                                        \
        for (int j = 0; j < R; j++) acc[j] = BC(0);                                            \
        for (int ky = 0; ky < k; ky++)                                                         \
            for (int kx = 0; kx < k; kx++) {                                                   \
                V wv = BC(wc[ky * k + kx]);                                                    \
                const float *q = base[kx] + (size_t)(oy0 * st + ky) * Wq + o;                  \
                for (int j = 0; j < R; j++) acc[j] += wv * LD(q + (size_t)j * st * Wq);        \
            }                                                                                  \
        for (int j = 0; j < R; j++) memcpy(out + (size_t)(oy0 + j) * Wo + o, &acc[j], 4 * ns); \
    }
DW_BLOCK(dw_block16, v16, ld16, bc16)
DW_BLOCK(dw_block8, v8, ld8, bc8)

// out = depthwise correlation of one plane: in [H,W] -> out [Ho,Wo], taps wc [k,k]
static void dw_plane_conv(const float *in, int H, int W, const float *wc, int k, int st, int p,
                          float *out, int Ho, int Wo, float *buf) {
    Phased d = phased_dims(H, W, k, st, p, Wo);
    float *base[14];
    phase_in(in, H, W, &d, buf);
    memset(buf + (size_t)st * d.Hp * d.Wq, 0, sizeof(float) * DW_SLACK);
    tap_bases(buf, &d, k, base);
    for (int oy0 = 0; oy0 < Ho; oy0 += DW_ROWS) {
        int R = Ho - oy0 < DW_ROWS ? Ho - oy0 : DW_ROWS, o = 0;
        for (; o + 16 <= Wo; o += 16)  // full blocks get R as a constant
            if (R == DW_ROWS)
                dw_block16(DW_ROWS, base, d.Wq, st, wc, k, oy0, o, 16, out, Wo);
            else
                dw_block16(R, base, d.Wq, st, wc, k, oy0, o, 16, out, Wo);
        for (; o < Wo; o += 8)
            dw_block8(R, base, d.Wq, st, wc, k, oy0, o, Wo - o < 8 ? Wo - o : 8, out, Wo);
    }
}

static size_t dw_buf_len(int H, int W, int k, int st, int p, int Wo) {
    Phased d = phased_dims(H, W, k, st, p, Wo);
    return (size_t)st * d.Hp * d.Wq + DW_SLACK;
}

static void dw_fwd(const Tensor *x, const Tensor *w, Tensor *y, ConvSpec s) {
    int C = x->c, H = x->h, W = x->w, k = w->h;
    DNA_CHECK(k <= 14, "use depthwise kernels of at most 14x14", "depthwise kernel %d too large",
              k);
    size_t len = dw_buf_len(H, W, k, s.stride, s.pad, y->w);
#pragma omp parallel for schedule(static) num_threads(cpu_nthreads())
    for (long nc = 0; nc < (long)x->n * C; nc++)
        dw_plane_conv(x->data + (size_t)nc * H * W, H, W, w->data + (size_t)(nc % C) * k * k, k,
                      s.stride, s.pad, y->data + (size_t)nc * y->h * y->w, y->h, y->w,
                      cpu_scratch(0, len));
}

// dw[c] += sum over the plane of dy * (input under each tap). For one kernel row and 8
// output columns, the K taps of that row keep their sums in K vector registers while the
// rows of dy stream past: K is a constant in each instantiation so the sums stay in registers.
static inline __attribute__((always_inline)) void dw_taps_row(int K, float *const *base, size_t Wq,
                                                              int st, const float *g, int Ho,
                                                              int Wo, int ky, int o, double *gw) {
    v8 acc[K];
    for (int kx = 0; kx < K; kx++) acc[kx] = bc8(0);
    for (int oy = 0; oy < Ho; oy++) {
        v8 gv = ld8(g + (size_t)oy * Wo + o);
        size_t ro = (size_t)(oy * st + ky) * Wq + o;
        for (int kx = 0; kx < K; kx++) acc[kx] += gv * ld8(base[kx] + ro);
    }
    for (int kx = 0; kx < K; kx++) {
        float t = 0.0f;
        for (int i = 0; i < 8; i++) t += acc[kx][i];
        gw[ky * K + kx] += t;
    }
}

static void dw_plane_dw(float *const *base, const Phased *d, const float *g, int Ho, int Wo, int k,
                        double *gw) {
    int st = d->s, o = 0;
    for (; o + 8 <= Wo; o += 8)
        for (int ky = 0; ky < k; ky++) switch (k) {
                case 3:
                    dw_taps_row(3, base, d->Wq, st, g, Ho, Wo, ky, o, gw);
                    break;
                case 5:
                    dw_taps_row(5, base, d->Wq, st, g, Ho, Wo, ky, o, gw);
                    break;
                case 7:
                    dw_taps_row(7, base, d->Wq, st, g, Ho, Wo, ky, o, gw);
                    break;
                default:
                    dw_taps_row(k, base, d->Wq, st, g, Ho, Wo, ky, o, gw);
            }
    for (; o < Wo; o++)  // tail columns
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float t = 0.0f;
                for (int oy = 0; oy < Ho; oy++)
                    t += g[(size_t)oy * Wo + o] * base[kx][(size_t)(oy * st + ky) * d->Wq + o];
                gw[ky * k + kx] += t;
            }
}

// input gradient of one plane, scattered into the phased buffer
static void dw_plane_dx(float *const *base, const Phased *d, const float *g, int Ho, int Wo,
                        const float *wc, int k) {
    int st = d->s;
    for (int oy = 0; oy < Ho; oy++) {
        const float *gr = g + (size_t)oy * Wo;
        for (int ky = 0; ky < k; ky++) {
            size_t ro = (size_t)(oy * st + ky) * d->Wq;
            for (int kx = 0; kx < k; kx++) {
                float *q = base[kx] + ro, wsc = wc[ky * k + kx];
                v8 wv = bc8(wsc);
                int o = 0;
                for (; o + 8 <= Wo; o += 8) st8(q + o, ld8(q + o) + wv * ld8(gr + o));
                for (; o < Wo; o++) q[o] += wsc * gr[o];
            }
        }
    }
}

// dx and dw together, parallel over channels so each thread owns its dw[c].
static void dw_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                   ConvSpec s) {
    int N = x->n, C = x->c, H = x->h, W = x->w, k = w->h, st = s.stride, Ho = dy->h, Wo = dy->w;
    DNA_CHECK(k <= 14, "use depthwise kernels of at most 14x14", "depthwise kernel %d too large",
              k);
    Phased d = phased_dims(H, W, k, st, s.pad, Wo);
    size_t plen = (size_t)st * d.Hp * d.Wq, glen = dw_buf_len(Ho, Wo, k, 1, k - 1 - s.pad, W);
#pragma omp parallel for schedule(static) num_threads(cpu_nthreads())
    for (int c = 0; c < C; c++) {
        float *buf = cpu_scratch(0, plen), *dbuf = cpu_scratch(1, plen), *base[14], *dbase[14];
        tap_bases(buf, &d, k, base);
        tap_bases(dbuf, &d, k, dbase);
        const float *wc = w->data + (size_t)c * k * k;
        float wf[196];  // flipped taps: at stride 1, dx is dy correlated with them
        for (int i = 0; i < k * k; i++) wf[i] = wc[k * k - 1 - i];
        double gw[196] = {0};
        for (int n = 0; n < N; n++) {
            size_t plane = (size_t)n * C + c;
            const float *g = dy->data + plane * Ho * Wo;
            if (dw) {
                phase_in(x->data + plane * H * W, H, W, &d, buf);
                dw_plane_dw(base, &d, g, Ho, Wo, k, gw);
            }
            if (dx && st == 1) {
                dw_plane_conv(g, Ho, Wo, wf, k, 1, k - 1 - s.pad, dx->data + plane * H * W, H, W,
                              cpu_scratch(2, glen));
            } else if (dx) {  // strided: scatter into the phased buffer
                memset(dbuf, 0, sizeof(float) * plen);
                dw_plane_dx(dbase, &d, g, Ho, Wo, wc, k);
                phase_out(dbuf, H, W, &d, dx->data + plane * H * W);
            }
        }
        if (dw)
            for (int i = 0; i < k * k; i++) dw->data[(size_t)c * k * k + i] += (float)gw[i];
    }
}

// ---------------------------------------------------------------- pointwise (GEMM)
static void pw_fwd(const Tensor *x, const Tensor *w, Tensor *y) {
    int Ci = x->c, Co = y->c, HW = x->h * x->w;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < x->n; n++)
        cpu_sgemm(GEMM_N, GEMM_N, Co, HW, Ci, 1.0f, w->data, Ci, x->data + (size_t)n * Ci * HW, HW,
                  0.0f, y->data + (size_t)n * Co * HW, HW);
}

// Sums per-thread partial weight gradients (slot 3 of each thread's scratch) into dw.
// part[t] is NULL for threads the runtime did not start (OMP_DYNAMIC, thread limits).
// nt <= CPU_MAX_THREADS (cpu_nthreads), the size of part.
static void reduce_partials(float **part, int nt, float *dw, size_t len) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < len; i++) {
        float s = 0.0f;
        for (int t = 0; t < nt; t++)
            if (part[t]) s += part[t][i];
        dw[i] += s;
    }
}

static void pw_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw) {
    int Ci = x->c, Co = dy->c, HW = x->h * x->w, nt = cpu_nthreads();
    size_t wl = (size_t)Co * Ci;
    float *part[CPU_MAX_THREADS] = {0};
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        // num_threads(nt) bounds the team; checked before part[t] all the same
        DNA_CHECK(t < CPU_MAX_THREADS, "set OMP_NUM_THREADS to at most 256",
                  "conv backward: thread %d, at most %d", t, CPU_MAX_THREADS);
        float *pw = dw ? cpu_scratch(3, wl) : NULL;
        part[t] = pw;
        if (pw) memset(pw, 0, sizeof(float) * wl);
#pragma omp for schedule(static)
        for (int n = 0; n < x->n; n++) {
            const float *g = dy->data + (size_t)n * Co * HW;
            if (dx)
                cpu_sgemm(GEMM_T, GEMM_N, Ci, HW, Co, 1.0f, w->data, Ci, g, HW, 0.0f,
                          dx->data + (size_t)n * Ci * HW, HW);
            if (pw)
                cpu_sgemm(GEMM_N, GEMM_T, Co, Ci, HW, 1.0f, g, HW, x->data + (size_t)n * Ci * HW,
                          HW, 1.0f, pw, Ci);
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
#pragma omp parallel for schedule(static) num_threads(cpu_nthreads())
    for (int n = 0; n < x->n; n++) {
        float *col = cpu_scratch(0, (size_t)K * HoWo);
        for (int g = 0; g < G; g++) {
            im2col(x->data + ((size_t)n * x->c + (size_t)g * Cg) * x->h * x->w, x->h, x->w, Cg, k,
                   s.stride, s.pad, y->h, y->w, col);
            cpu_sgemm(GEMM_N, GEMM_N, Og, HoWo, K, 1.0f, w->data + (size_t)g * Og * K, K, col, HoWo,
                      0.0f, y->data + ((size_t)n * y->c + (size_t)g * Og) * HoWo, HoWo);
        }
    }
}

static void gen_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                    ConvSpec s) {
    int G = s.groups, Cg = x->c / G, Og = dy->c / G, k = w->h, HoWo = dy->h * dy->w;
    int K = Cg * k * k, nt = cpu_nthreads();
    size_t wl = tensor_numel(w), HW = (size_t)x->h * x->w;
    float *part[CPU_MAX_THREADS] = {0};
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        // num_threads(nt) bounds the team; checked before part[t] all the same
        DNA_CHECK(t < CPU_MAX_THREADS, "set OMP_NUM_THREADS to at most 256",
                  "conv backward: thread %d, at most %d", t, CPU_MAX_THREADS);
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
                    cpu_sgemm(GEMM_N, GEMM_T, Og, K, HoWo, 1.0f, gy, HoWo, col, HoWo, 1.0f,
                              pw + (size_t)g * Og * K, K);
                }
                if (dx) {
                    cpu_sgemm(GEMM_T, GEMM_N, K, HoWo, Og, 1.0f, wg, K, gy, HoWo, 0.0f, col, HoWo);
                    col2im(col, x->h, x->w, Cg, k, s.stride, s.pad, dy->h, dy->w, dx->data + xoff);
                }
            }
    }
    if (dw) reduce_partials(part, nt, dw->data, wl);
}

void cpu_conv2d_fwd(const Tensor *x, const Tensor *w, Tensor *y, ConvSpec s) {
    conv_check_shapes(x, w, y, s);
    if (is_pointwise(w, s))
        pw_fwd(x, w, y);
    else if (is_depthwise(x, w, y, s))
        dw_fwd(x, w, y, s);
    else
        gen_fwd(x, w, y, s);
}

void cpu_conv2d_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                    ConvSpec s) {
    conv_check_shapes(x, w, dy, s);
    if (is_pointwise(w, s))
        pw_bwd(x, w, dy, dx, dw);
    else if (is_depthwise(x, w, dy, s))
        dw_bwd(x, w, dy, dx, dw, s);
    else
        gen_bwd(x, w, dy, dx, dw, s);
}
