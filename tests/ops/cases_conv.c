// Op test cases (op_test.h) of the GEMM-like ops: conv2d_fwd/bwd and linear_fwd/bwd. The
// convolution shapes reach every CPU path (pointwise GEMM, depthwise direct loops with their
// 8..32-wide blocks, tails, column phases for strides 2 and 3, unpadded; grouped and dense
// im2col) and the GPU's (planes larger than a block, N = 1, 1x1x1); forward results are
// compared with a direct 7-loop correlation in double and with hand-computed values.
#include <stdlib.h>
#include <string.h>

#include "op_test.h"

// ---------------------------------------------------------------- conv2d
enum { CX, CW, CY };                 // conv2d_fwd
enum { BX, BW, BDY, BDX, BDW, BY };  // conv2d_bwd (y: the forward's output for the loss)

static void conv_shapes(const OpParams *p, Shape *s) {
    int k = p->k, ho = conv_out_size(p->in.h, k, p->conv.stride, p->conv.pad),
        wo = conv_out_size(p->in.w, k, p->conv.stride, p->conv.pad);
    s[0] = p->in;                                           // x
    s[1] = (Shape){p->co, p->in.c / p->conv.groups, k, k};  // w
    s[2] = (Shape){p->in.n, p->co, ho, wo};                 // y (fwd), dy (bwd)
    s[3] = p->in;                                           // dx
    s[4] = s[1];                                            // dw
    s[5] = s[2];                                            // the forward's y
}

static void conv_fwd_run(const Backend *be, OpArgs *a) {
    be->conv2d_fwd(&a->t[CX], &a->t[CW], &a->t[CY], a->p->conv);
}

static void conv_bwd_run(const Backend *be, OpArgs *a) {
    be->conv2d_bwd(&a->t[BX], &a->t[BW], &a->t[BDY], op_t(a, BDX), op_t(a, BDW), a->p->conv);
}

static double conv_loss(OpArgs *a) {
    backend_cpu()->conv2d_fwd(&a->t[BX], &a->t[BW], &a->t[BY], a->p->conv);
    return op_dot(&a->t[BDY], &a->t[BY]);
}

// y = correlation of x with w (as PyTorch), in double
static void conv_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    const Tensor *x = &a->t[CX], *w = &a->t[CW], *y = &a->t[CY];
    ConvSpec s = a->p->conv;
    int G = s.groups, Cg = x->c / G, Og = w->n / G, k = w->h;
    for (int n = 0; n < x->n; n++)
        for (int o = 0; o < w->n; o++)
            for (int oy = 0; oy < y->h; oy++)
                for (int ox = 0; ox < y->w; ox++) {
                    double acc = 0;
                    int g = o / Og;
                    for (int c = 0; c < Cg; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * s.stride - s.pad + ky,
                                    ix = ox * s.stride - s.pad + kx;
                                if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w) continue;
                                acc +=
                                    (double)w->data[(((size_t)o * Cg + c) * k + ky) * k + kx] *
                                    x->data[(((size_t)n * x->c + g * Cg + c) * x->h + iy) * x->w +
                                            ix];
                            }
                    want[CY][(((size_t)n * w->n + o) * y->h + oy) * y->w + ox] = (float)acc;
                }
    *done = 1u << CY;
}

// products per output: of y (Ci/groups k^2), of dx (Co/groups k^2), of dw (N Ho Wo)
static Tol conv_fwd_tol(const OpParams *p, int slot) {
    (void)slot;
    return op_sum_tol((double)(p->in.c / p->conv.groups) * p->k * p->k);
}

static Tol conv_bwd_tol(const OpParams *p, int slot) {
    int ho = conv_out_size(p->in.h, p->k, p->conv.stride, p->conv.pad),
        wo = conv_out_size(p->in.w, p->k, p->conv.stride, p->conv.pad);
    if (slot == BDX) return op_sum_tol((double)(p->co / p->conv.groups) * p->k * p->k);
    return op_sum_tol((double)p->in.n * ho * wo);
}

#define CONV(NAME, N, CI, H, W, CO, K, S, P, G, SEED, FD) \
    { NAME, {.in = {N, CI, H, W}, .co = CO, .k = K, .conv = {S, P, G}}, SEED, FD, NULL }

// fd: coordinates per gradient checked by finite differences (0: CUDA comparison only)
static const OpInst CONV_SHAPES[] = {
    // small: finite differences; pad k/2 unless said
    CONV("pointwise 2x5x4x3>3", 2, 5, 4, 3, 3, 1, 1, 0, 1, 100, 24),
    CONV("depthwise k3s1 6x5", 2, 4, 6, 5, 4, 3, 1, 1, 4, 110, 24),
    CONV("depthwise k5s2 9x8", 2, 3, 9, 8, 3, 5, 2, 2, 3, 120, 24),
    CONV("depthwise k7s1 8x8", 2, 2, 8, 8, 2, 7, 1, 3, 2, 130, 24),
    // wide rows: the depthwise kernels' blocks of 8..32 outputs and a scalar tail (Wo 37 =
    // 32 + 5, 20 = 16 + 4, 18 = 16 + 2; at stride 1 dx is a correlation of width W), unpadded,
    // and a stride other than 1 or 2 (column phases)
    CONV("depthwise wide k3s1 4x37", 1, 2, 4, 37, 2, 3, 1, 1, 2, 132, 64),
    CONV("depthwise wide k5s2 5x40", 1, 2, 5, 40, 2, 5, 2, 2, 2, 134, 64),
    CONV("depthwise wide k7s2 7x35", 1, 2, 7, 35, 2, 7, 2, 3, 2, 136, 64),
    CONV("depthwise k3 pad0 6x20", 2, 2, 6, 20, 2, 3, 1, 0, 2, 138, 48),
    CONV("depthwise k5s3 7x26", 2, 2, 7, 26, 2, 5, 3, 2, 2, 139, 48),
    // im2col: dense 3x3 stride 2 (the stem), grouped, a strided 1x1, dense 3x3 stride 1
    CONV("dense 3x3s2 7x6", 2, 3, 7, 6, 4, 3, 2, 1, 1, 140, 24),
    CONV("grouped 3x3s2 g2 6x7", 2, 4, 6, 7, 6, 3, 2, 1, 2, 150, 24),
    CONV("grouped 3x3s1 g2 5x5", 2, 4, 5, 5, 2, 3, 1, 1, 2, 155, 24),
    CONV("pointwise s2 5x6", 2, 3, 5, 6, 4, 1, 2, 0, 1, 160, 24),
    CONV("dense 3x3s1 5x4", 3, 2, 5, 4, 3, 3, 1, 1, 1, 170, 24),
    // more rows for the direct loops
    CONV("depthwise wide k5s2 9x40 c3", 1, 3, 9, 40, 3, 5, 2, 2, 3, 803, 0),
    CONV("depthwise wide k7s1 3x70", 1, 2, 3, 70, 2, 7, 1, 3, 2, 807, 0),
    CONV("dense 3x3s1 9x33 >8", 1, 3, 9, 33, 8, 3, 1, 1, 1, 811, 0),
    // sizes of the network: planes larger than a thread block, N = 1, 1x1x1
    CONV("pointwise 24->144 16x16", 4, 24, 16, 16, 144, 1, 1, 0, 1, 1000, 0),
    CONV("pointwise 144->40 16x16", 2, 144, 16, 16, 40, 1, 1, 0, 1, 1010, 0),
    CONV("depthwise k3s1 15x13", 3, 48, 15, 13, 48, 3, 1, 1, 48, 1020, 0),
    CONV("depthwise k5s2 17x17", 2, 32, 17, 17, 32, 5, 2, 2, 32, 1030, 0),
    CONV("depthwise k7s1 9x11 N1", 1, 16, 9, 11, 16, 7, 1, 3, 16, 1040, 0),
    CONV("depthwise k7s2 32x32", 2, 24, 32, 32, 24, 7, 2, 3, 24, 1050, 0),
    CONV("depthwise k3 pad0 6x20 c8", 2, 8, 6, 20, 8, 3, 1, 0, 8, 1060, 0),
    CONV("depthwise k5s3 7x26 c4", 2, 4, 7, 26, 4, 5, 3, 2, 4, 1070, 0),
    CONV("dense 3x3s2 stem 33x31", 2, 3, 33, 31, 16, 3, 2, 1, 1, 1080, 0),
    CONV("1x1x1", 1, 1, 1, 1, 1, 1, 1, 0, 1, 1120, 0),
    {0},
};

// x = [[1,2,3],[4,5,6],[7,8,9]], pad 1, cross-correlation (as PyTorch):
//  ones kernel -> sums of the 3x3 neighbourhoods:   [[12,21,16],[27,45,33],[24,39,28]]
//  K = [[1,2,0],[0,0,0],[0,0,0]] -> y[i][j] = x[i-1][j-1] + 2 x[i-1][j]:
//    row 0 reads the zero padding; (1,0) 0 + 2*1 = 2, (1,1) 1 + 2*2 = 5, (1,2) 2 + 2*3 = 8,
//    (2,0) 0 + 2*4 = 8, (2,1) 4 + 2*5 = 14, (2,2) 5 + 2*6 = 17  -> [[0,0,0],[2,5,8],[8,14,17]]
//  (a flipped kernel, i.e. true convolution, would give x[i+1][j+1] + 2 x[i+1][j] instead).
//  Stride 2 keeps outputs (0,0), (0,2), (2,0), (2,2).
#define REF_X 1, 2, 3, 4, 5, 6, 7, 8, 9
#define REF_K_ONES 1, 1, 1, 1, 1, 1, 1, 1, 1
#define REF_K_ASYM 1, 2, 0, 0, 0, 0, 0, 0, 0
#define REF_Y_ONES 12, 21, 16, 27, 45, 33, 24, 39, 28
#define REF_Y_ASYM 0, 0, 0, 2, 5, 8, 8, 14, 17
#define CONV_REF(NAME, N, CI, CO, K, S, P, G, ...) \
    { NAME, {.in = {N, CI, 3, 3}, .co = CO, .k = K, .conv = {S, P, G}}, 0, 0, OP_REFS(__VA_ARGS__) }

static const OpInst CONV_REFS[] = {
    // Ci = Co = groups = 1: the depthwise path
    CONV_REF("values 1 channel, ones kernel", 1, 1, 1, 3, 1, 1, 1, GIVEN("x", REF_X),
             GIVEN("w", REF_K_ONES), WANT("y", 0, 0, REF_Y_ONES)),
    CONV_REF("values 1 channel, asymmetric kernel", 1, 1, 1, 3, 1, 1, 1, GIVEN("x", REF_X),
             GIVEN("w", REF_K_ASYM), WANT("y", 0, 0, REF_Y_ASYM)),
    CONV_REF("values 1 channel, asymmetric kernel, stride 2", 1, 1, 1, 3, 2, 1, 1,
             GIVEN("x", REF_X), GIVEN("w", REF_K_ASYM), WANT("y", 0, 0, 0, 0, 8, 17)),
    // Ci 1, Co 2, groups 1: the im2col path
    CONV_REF("values 2 outputs", 1, 1, 2, 3, 1, 1, 1, GIVEN("x", REF_X),
             GIVEN("w", REF_K_ONES, REF_K_ASYM), WANT("y", 0, 0, REF_Y_ONES, REF_Y_ASYM)),
    CONV_REF("values 2 outputs, stride 2", 1, 1, 2, 3, 2, 1, 1, GIVEN("x", REF_X),
             GIVEN("w", REF_K_ONES, REF_K_ASYM), WANT("y", 0, 0, 12, 16, 24, 28, 0, 0, 8, 17)),
    // groups 2: each channel with its own kernel; channel 1 = 2x: its outputs double
    CONV_REF("values depthwise 2 channels", 1, 2, 2, 3, 1, 1, 2,
             GIVEN("x", REF_X, 2, 4, 6, 8, 10, 12, 14, 16, 18), GIVEN("w", REF_K_ASYM, REF_K_ONES),
             WANT("y", 0, 0, REF_Y_ASYM, 24, 42, 32, 54, 90, 66, 48, 78, 56)),
    {0},
};

// 1x1: y0 = x0 + 2 x1 = [1+8, 2+12, 3+16], y1 = -x0 + 0.5 x1 = [-1+2, -2+3, -3+4]
static const OpInst CONV_REF_POINTWISE[] = {
    {"values pointwise",
     {.in = {1, 2, 1, 3}, .co = 2, .k = 1, .conv = {1, 0, 1}},
     0,
     0,
     OP_REFS(GIVEN("x", 1, 2, 3, 4, 6, 8), GIVEN("w", 1, 2, -1, 0.5f),
             WANT("y", 0, 0, 9, 14, 19, 1, 1, 1))},
    {0},
};

const OpCase OPCASE_conv2d_fwd = {
    .op = "conv2d_fwd",
    .slot = {{"x", SLOT_IN, -1, 1}, {"w", SLOT_IN, -1, 1}, {"y", SLOT_OUT}},
    .shapes = conv_shapes,
    .run = conv_fwd_run,
    .ref = conv_ref,
    .ref_tol = {1e-5, 1e-5},
    .gpu_tol = conv_fwd_tol,
    .lists = {CONV_SHAPES, CONV_REFS, CONV_REF_POINTWISE},
};

const OpCase OPCASE_conv2d_bwd = {
    .op = "conv2d_bwd",
    .slot = {{"x", SLOT_IN, -1, 1},
             {"w", SLOT_IN, -1, 1},
             {"dy", SLOT_IN, -1, 1},
             {"dx", SLOT_OUT, .nullable = 1, .grad_of = "x"},
             {"dw", SLOT_ACC, .nullable = 1, .grad_of = "w"},
             {"y", SLOT_AUX}},
    .shapes = conv_shapes,
    .run = conv_bwd_run,
    .loss = conv_loss,
    .gpu_tol = conv_bwd_tol,
    .lists = {CONV_SHAPES},
};

// ---------------------------------------------------------------- linear
enum { LX, LW, LB, LY };                      // linear_fwd
enum { KX, KW, KDY, KDX, KDW, KDB, KB, KY };  // linear_bwd (b, y: the forward's, for the loss)

static void linear_shapes(const OpParams *p, Shape *s) {
    int in = p->in.c * p->in.h * p->in.w;  // inputs [N, C, H, W] are flattened
    s[0] = p->in;
    s[1] = (Shape){p->co, in, 1, 1};
    s[2] = (Shape){p->co, 1, 1, 1};  // b (fwd); dy (bwd) below
    s[3] = (Shape){p->in.n, p->co, 1, 1};
}

static void linear_bwd_shapes(const OpParams *p, Shape *s) {
    linear_shapes(p, s);
    Shape b = s[2], y = s[3];
    s[KDY] = y, s[KDX] = p->in, s[KDW] = s[KW], s[KDB] = b, s[KB] = b, s[KY] = y;
}

static void linear_fwd_run(const Backend *be, OpArgs *a) {
    be->linear_fwd(&a->t[LX], &a->t[LW], op_f(a, LB), &a->t[LY]);
}

static void linear_bwd_run(const Backend *be, OpArgs *a) {
    be->linear_bwd(&a->t[KX], &a->t[KW], &a->t[KDY], op_t(a, KDX), op_t(a, KDW), op_f(a, KDB));
}

static double linear_loss(OpArgs *a) {
    backend_cpu()->linear_fwd(&a->t[KX], &a->t[KW], a->t[KB].data, &a->t[KY]);
    return op_dot(&a->t[KDY], &a->t[KY]);
}

static void linear_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    int N = a->t[LX].n, I = a->t[LW].c, O = a->t[LW].n;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double s = a->t[LB].data[o];
            for (int i = 0; i < I; i++)
                s += (double)a->t[LX].data[(size_t)n * I + i] * a->t[LW].data[(size_t)o * I + i];
            want[LY][(size_t)n * O + o] = (float)s;
        }
    *done = 1u << LY;
}

static Tol linear_fwd_tol(const OpParams *p, int slot) {
    (void)slot;
    return op_sum_tol((double)p->in.c * p->in.h * p->in.w);
}

static Tol linear_bwd_tol(const OpParams *p, int slot) {
    return op_sum_tol(slot == KDX ? p->co : p->in.n);
}

#define LIN(NAME, N, C, H, W, CO, SEED, FD) \
    { NAME, {.in = {N, C, H, W}, .co = CO}, SEED, FD, NULL }
static const OpInst LINEAR_SHAPES[] = {
    LIN("3x(2x3x1)>4", 3, 2, 3, 1, 4, 200, 24), LIN("7x37>19", 7, 37, 1, 1, 19, 3000, 0),
    LIN("1x(2x3x1)>4", 1, 2, 3, 1, 4, 3010, 0), LIN("64x144>36", 64, 144, 1, 1, 36, 3020, 0),
    LIN("3x1>1", 3, 1, 1, 1, 1, 3030, 0),       {0},
};

const OpCase OPCASE_linear_fwd = {
    .op = "linear_fwd",
    .slot = {{"x", SLOT_IN, -1, 1},
             {"w", SLOT_IN, -1, 1},
             {"b", SLOT_IN, -1, 1, .nullable = 1},
             {"y", SLOT_OUT}},
    .shapes = linear_shapes,
    .run = linear_fwd_run,
    .ref = linear_ref,
    .ref_tol = {1e-5, 1e-5},
    .gpu_tol = linear_fwd_tol,
    .lists = {LINEAR_SHAPES},
};

const OpCase OPCASE_linear_bwd = {
    .op = "linear_bwd",
    .slot = {{"x", SLOT_IN, -1, 1},
             {"w", SLOT_IN, -1, 1},
             {"dy", SLOT_IN, -1, 1},
             {"dx", SLOT_OUT, .nullable = 1, .grad_of = "x"},
             {"dw", SLOT_ACC, .nullable = 1, .grad_of = "w"},
             {"db", SLOT_ACC, .nullable = 1, .grad_of = "b"},
             {"b", SLOT_AUX, -1, 1},
             {"y", SLOT_AUX}},
    .shapes = linear_bwd_shapes,
    .run = linear_bwd_run,
    .loss = linear_loss,
    .gpu_tol = linear_bwd_tol,
    .lists = {LINEAR_SHAPES},
};
