// Op test cases (op_test.h) of the transformer ops: layernorm_fwd/bwd, tok_linear_fwd/bwd,
// attn_fwd/bwd, transpose, bcast_add and bcast_add_bwd. Token tensors are [N, T, 1, D].
// Shapes: small ones for finite differences, the default ViT space's (64 tokens, widths
// 32..64, 1..2 heads), the paper's (197 tokens, 14 heads of 32), widths that are not a
// multiple of a vector or a column block, single tokens and single heads.
#include <math.h>
#include <stdlib.h>

#include "../unit/harness.h"
#include "op_test.h"

static Tol sum_tol_w(const OpParams *p, int slot) {
    (void)slot;
    return op_sum_tol(p->in.w);
}

// ---------------------------------------------------------------- LayerNorm
enum { NX, NG, NB, NY, NM, NI };                         // layernorm_fwd
enum { BX, BG, BM, BI, BDY, BDX, BDG, BDB, BBETA, BY };  // layernorm_bwd

static size_t ln_rows(const OpParams *p) {
    return (size_t)p->in.n * p->in.c * p->in.h;
}

static void ln_shapes(const OpParams *p, Shape *s) {
    Shape d = {p->in.w, 1, 1, 1}, r = {(int)ln_rows(p), 1, 1, 1};
    s[NX] = p->in, s[NG] = d, s[NB] = d, s[NY] = p->in, s[NM] = r, s[NI] = r;
}
static void ln_bwd_shapes(const OpParams *p, Shape *s) {
    Shape d = {p->in.w, 1, 1, 1}, r = {(int)ln_rows(p), 1, 1, 1};
    s[BX] = p->in, s[BG] = d, s[BM] = r, s[BI] = r, s[BDY] = p->in, s[BDX] = p->in;
    s[BDG] = d, s[BDB] = d, s[BBETA] = d, s[BY] = p->in;
}

static void ln_fwd_run(const Backend *be, OpArgs *a) {
    be->layernorm_fwd(&a->t[NX], op_f(a, NG), op_f(a, NB), &a->t[NY], op_f(a, NM), op_f(a, NI),
                      a->p->eps);
}

// in double: mean, biased variance, y
static void ln_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    int D = a->t[NX].w;
    for (size_t r = 0; r < ln_rows(a->p); r++) {
        const float *x = a->t[NX].data + r * D;
        double mu = 0, var = 0;
        for (int i = 0; i < D; i++) mu += x[i];
        mu /= D;
        for (int i = 0; i < D; i++) var += (x[i] - mu) * (x[i] - mu);
        double is = 1.0 / sqrt(var / D + a->p->eps);
        for (int i = 0; i < D; i++)
            want[NY][r * D + i] = (float)((x[i] - mu) * is * a->t[NG].data[i] + a->t[NB].data[i]);
        want[NM][r] = (float)mu, want[NI][r] = (float)is;
    }
    *done = 1u << NY | 1u << NM | 1u << NI;
}

// the saved statistics of x, as the forward leaves them
static void ln_bwd_prepare(OpArgs *a) {
    backend_cpu()->layernorm_fwd(&a->t[BX], a->t[BG].data, a->t[BBETA].data, &a->t[BY],
                                 a->t[BM].data, a->t[BI].data, a->p->eps);
}
static void ln_bwd_run(const Backend *be, OpArgs *a) {
    be->layernorm_bwd(&a->t[BX], op_f(a, BG), op_f(a, BM), op_f(a, BI), &a->t[BDY], op_t(a, BDX),
                      op_f(a, BDG), op_f(a, BDB));
}
static double ln_loss(OpArgs *a) {
    backend_cpu()->layernorm_fwd(&a->t[BX], a->t[BG].data, a->t[BBETA].data, &a->t[BY], NULL, NULL,
                                 a->p->eps);
    return op_dot(&a->t[BDY], &a->t[BY]);
}

static Tol ln_tol(const OpParams *p, int slot) {
    (void)p, (void)slot;
    return (Tol){2e-5, 2e-5};
}
// dgamma, dbeta: sums over the rows
static Tol ln_bwd_tol(const OpParams *p, int slot) {
    if (slot == BDG || slot == BDB) return (Tol){2e-5 + 1e-8 * ln_rows(p), 2e-5};
    return (Tol){2e-5, 2e-5};
}

#define TOK(NAME, N, T, D, K, SEED, FD) \
    { NAME, {.in = {N, T, 1, D}, .k = K, .eps = 1e-5f}, SEED, FD, NULL }
static const OpInst LN_SHAPES[] = {
    TOK("2x3x5 fd", 2, 3, 5, 0, 9000, 30),
    TOK("64x64x48 (default space)", 64, 64, 48, 0, 9010, 0),
    TOK("2x197x448 (paper's widest)", 2, 197, 448, 0, 9020, 0),
    TOK("3x1x67 (one token)", 3, 1, 67, 0, 9030, 0),
    {0},
};

// a row of x = 1, 2, 3, 4 (mean 2.5, variance 1.25) with gamma 2 and beta 1:
// y = 2 (x - 2.5) / sqrt(1.25 + 1e-5) + 1
static const OpInst LN_REFS[] = {
    {"values 1x1x4",
     {.in = {1, 1, 1, 4}, .eps = 1e-5f},
     0,
     0,
     OP_REFS(GIVEN("x", 1, 2, 3, 4), GIVEN("gamma", 2, 2, 2, 2), GIVEN("beta", 1, 1, 1, 1),
             WANT("y", 1e-6, 1e-6, -1.6832708f, 0.1055764f, 1.8944236f, 3.6832708f),
             WANT("mean", 0, 0, 2.5f), WANT("invstd", 1e-7, 1e-6, 0.8944236f))},
    {0},
};

const OpCase OPCASE_layernorm_fwd = {
    .op = "layernorm_fwd",
    .slot = {{"x", SLOT_IN, -2, 3},
             {"gamma", SLOT_IN, 0.5, 1.5},
             {"beta", SLOT_IN, -1, 1},
             {"y", SLOT_OUT},
             {"mean", SLOT_OUT, .nullable = 1},
             {"invstd", SLOT_OUT, .nullable = 1}},
    .shapes = ln_shapes,
    .run = ln_fwd_run,
    .ref = ln_ref,
    .ref_tol = {2e-6, 2e-6},
    .gpu_tol = ln_tol,
    .lists = {LN_SHAPES, LN_REFS},
};

const OpCase OPCASE_layernorm_bwd = {
    .op = "layernorm_bwd",
    .slot = {{"x", SLOT_IN, -2, 3},
             {"gamma", SLOT_IN, 0.5, 1.5},
             {"mean", SLOT_IN},
             {"invstd", SLOT_IN},
             {"dy", SLOT_IN, -1, 1},
             {"dx", SLOT_OUT, .nullable = 1, .grad_of = "x"},
             {"dgamma", SLOT_ACC, .nullable = 1, .grad_of = "gamma"},
             {"dbeta", SLOT_ACC, .nullable = 1, .grad_of = "beta"},
             {"beta", SLOT_AUX, -1, 1},
             {"y", SLOT_AUX}},
    .shapes = ln_bwd_shapes,
    .run = ln_bwd_run,
    .prepare = ln_bwd_prepare,
    .loss = ln_loss,
    .gpu_tol = ln_bwd_tol,
    .lists = {LN_SHAPES},
};

// ---------------------------------------------------------------- token-wise linear
enum { LX, LW, LB, LY };                      // tok_linear_fwd
enum { KX, KW, KDY, KDX, KDW, KDB, KB, KY };  // tok_linear_bwd (b, y: the forward's)

// in.w inputs to co outputs per token
static void tl_shapes(const OpParams *p, Shape *s) {
    s[LX] = p->in, s[LW] = (Shape){p->co, p->in.w, 1, 1}, s[LB] = (Shape){p->co, 1, 1, 1};
    s[LY] = (Shape){p->in.n, p->in.c, p->in.h, p->co};
}
static void tl_bwd_shapes(const OpParams *p, Shape *s) {
    Shape y = {p->in.n, p->in.c, p->in.h, p->co}, b = {p->co, 1, 1, 1};
    s[KX] = p->in, s[KW] = (Shape){p->co, p->in.w, 1, 1}, s[KDY] = y, s[KDX] = p->in;
    s[KDW] = s[KW], s[KDB] = b, s[KB] = b, s[KY] = y;
}
static void tl_fwd_run(const Backend *be, OpArgs *a) {
    be->tok_linear_fwd(&a->t[LX], &a->t[LW], op_f(a, LB), &a->t[LY]);
}
static void tl_bwd_run(const Backend *be, OpArgs *a) {
    be->tok_linear_bwd(&a->t[KX], &a->t[KW], &a->t[KDY], op_t(a, KDX), op_t(a, KDW), op_f(a, KDB));
}
static double tl_loss(OpArgs *a) {
    backend_cpu()->tok_linear_fwd(&a->t[KX], &a->t[KW], a->t[KB].data, &a->t[KY]);
    return op_dot(&a->t[KDY], &a->t[KY]);
}
static void tl_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    size_t R = (size_t)a->t[LX].n * a->t[LX].c * a->t[LX].h;
    int I = a->t[LX].w, O = a->p->co;
    for (size_t r = 0; r < R; r++)
        for (int o = 0; o < O; o++) {
            double s = a->t[LB].data[o];
            for (int i = 0; i < I; i++)
                s += (double)a->t[LX].data[r * I + i] * a->t[LW].data[(size_t)o * I + i];
            want[LY][r * O + o] = (float)s;
        }
    *done = 1u << LY;
}
static Tol tl_bwd_tol(const OpParams *p, int slot) {
    return op_sum_tol(slot == KDX ? p->co : (double)p->in.n * p->in.c * p->in.h);
}

#define TL(NAME, N, T, I, O, SEED, FD) \
    { NAME, {.in = {N, T, 1, I}, .co = O}, SEED, FD, NULL }
static const OpInst TL_SHAPES[] = {
    TL("2x3x4>5 fd", 2, 3, 4, 5, 9100, 24),
    TL("64x64x48>144 (default MLP)", 64, 64, 48, 144, 9110, 0),
    TL("2x197x64>192 (QKV)", 2, 197, 64, 192, 9120, 0),
    TL("3x1x37>19 (one token, 19 not a block)", 3, 1, 37, 19, 9130, 0),
    {0},
};

const OpCase OPCASE_tok_linear_fwd = {
    .op = "tok_linear_fwd",
    .slot = {{"x", SLOT_IN, -1, 1},
             {"w", SLOT_IN, -1, 1},
             {"b", SLOT_IN, -1, 1, .nullable = 1},
             {"y", SLOT_OUT}},
    .shapes = tl_shapes,
    .run = tl_fwd_run,
    .ref = tl_ref,
    .ref_tol = {1e-5, 1e-5},
    .gpu_tol = sum_tol_w,
    .lists = {TL_SHAPES},
};

const OpCase OPCASE_tok_linear_bwd = {
    .op = "tok_linear_bwd",
    .slot = {{"x", SLOT_IN, -1, 1},
             {"w", SLOT_IN, -1, 1},
             {"dy", SLOT_IN, -1, 1},
             {"dx", SLOT_OUT, .nullable = 1, .grad_of = "x"},
             {"dw", SLOT_ACC, .nullable = 1, .grad_of = "w"},
             {"db", SLOT_ACC, .nullable = 1, .grad_of = "b"},
             {"b", SLOT_AUX, -1, 1},
             {"y", SLOT_AUX}},
    .shapes = tl_bwd_shapes,
    .run = tl_bwd_run,
    .loss = tl_loss,
    .gpu_tol = tl_bwd_tol,
    .lists = {TL_SHAPES},
};

// ---------------------------------------------------------------- attention core
enum { AQ, AY, AP };            // attn_fwd
enum { GQ, GP, GDY, GDQ, GY };  // attn_bwd (y: the forward's, for the loss)

// in = {N, T, 1, D}, k = heads
static void attn_shapes(const OpParams *p, Shape *s) {
    s[AQ] = (Shape){p->in.n, p->in.c, 1, 3 * p->in.w}, s[AY] = p->in;
    s[AP] = (Shape){p->in.n, p->k, p->in.c, p->in.c};
}
static void attn_bwd_shapes(const OpParams *p, Shape *s) {
    Shape qkv = {p->in.n, p->in.c, 1, 3 * p->in.w};
    s[GQ] = qkv, s[GP] = (Shape){p->in.n, p->k, p->in.c, p->in.c}, s[GDY] = p->in;
    s[GDQ] = qkv, s[GY] = p->in;
}
static void attn_fwd_run(const Backend *be, OpArgs *a) {
    be->attn_fwd(&a->t[AQ], &a->t[AY], op_t(a, AP), a->p->k);
}
static void attn_bwd_prepare(OpArgs *a) {
    backend_cpu()->attn_fwd(&a->t[GQ], &a->t[GY], &a->t[GP], a->p->k);
}
static void attn_bwd_run(const Backend *be, OpArgs *a) {
    be->attn_bwd(&a->t[GQ], &a->t[GP], &a->t[GDY], &a->t[GDQ], a->p->k);
}
static double attn_loss(OpArgs *a) {
    backend_cpu()->attn_fwd(&a->t[GQ], &a->t[GY], NULL, a->p->k);
    return op_dot(&a->t[GDY], &a->t[GY]);
}

// softmax(q k^T / sqrt(dh)) v per image and head, in double
static void attn_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    int N = a->p->in.n, T = a->p->in.c, D = a->p->in.w, H = a->p->k, dh = D / H;
    double *s = malloc(sizeof(double) * T);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const float *q = a->t[AQ].data + ((size_t)n * T + i) * 3 * D + h * dh;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    const float *k = a->t[AQ].data + ((size_t)n * T + j) * 3 * D + D + h * dh;
                    double d = 0;
                    for (int c = 0; c < dh; c++) d += (double)q[c] * k[c];
                    s[j] = d / sqrt(dh);
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (int j = 0; j < T; j++) sum += s[j] = exp(s[j] - mx);
                float *pr = want[AP] + (((size_t)n * H + h) * T + i) * T;
                for (int j = 0; j < T; j++) pr[j] = (float)(s[j] / sum);
                for (int c = 0; c < dh; c++) {
                    double v = 0;
                    for (int j = 0; j < T; j++)
                        v += s[j] / sum *
                             a->t[AQ].data[((size_t)n * T + j) * 3 * D + 2 * D + h * dh + c];
                    want[AY][((size_t)n * T + i) * D + h * dh + c] = (float)v;
                }
            }
    free(s);
    *done = 1u << AY | 1u << AP;
}
static Tol attn_fwd_tol(const OpParams *p, int slot) {
    return slot == AP ? op_sum_tol(p->in.w / p->k) : op_sum_tol(p->in.c + p->in.w / p->k);
}
static Tol attn_bwd_tol(const OpParams *p, int slot) {
    (void)slot;
    return op_sum_tol(2.0 * (p->in.c + p->in.w / p->k));
}

#define ATT(NAME, N, T, D, H, SEED, FD) \
    { NAME, {.in = {N, T, 1, D}, .k = H}, SEED, FD, NULL }
static const OpInst ATTN_SHAPES[] = {
    ATT("2x3x4 2 heads fd", 2, 3, 4, 2, 9200, 30),
    ATT("1x5x3 1 head fd", 1, 5, 3, 1, 9210, 30),
    ATT("8x64x64 2 heads (default space)", 8, 64, 64, 2, 9220, 0),
    ATT("1x197x448 14 heads (paper's widest)", 1, 197, 448, 14, 9230, 0),
    ATT("3x1x32 1 token", 3, 1, 32, 1, 9240, 0),
    {0},
};

// q = 0: uniform attention, y = the mean of v over the tokens (2 tokens, 1 head of 2)
static const OpInst ATTN_REFS[] = {
    {"values uniform 1x2x2",
     {.in = {1, 2, 1, 2}, .k = 1},
     0,
     0,
     OP_REFS(GIVEN("qkv", 0, 0, 1, 2, 1, 3, 0, 0, -1, 5, 5, 7), WANT("y", 1e-7, 1e-6, 3, 5, 3, 5),
             WANT("p", 1e-7, 1e-6, 0.5, 0.5, 0.5, 0.5))},
    {0},
};

const OpCase OPCASE_attn_fwd = {
    .op = "attn_fwd",
    .slot = {{"qkv", SLOT_IN, -2, 2}, {"y", SLOT_OUT}, {"p", SLOT_OUT, .nullable = 1}},
    .shapes = attn_shapes,
    .run = attn_fwd_run,
    .ref = attn_ref,
    .ref_tol = {2e-6, 2e-5},
    .gpu_tol = attn_fwd_tol,
    .lists = {ATTN_SHAPES, ATTN_REFS},
};

const OpCase OPCASE_attn_bwd = {
    .op = "attn_bwd",
    .slot = {{"qkv", SLOT_IN, -2, 2},
             {"p", SLOT_IN},
             {"dy", SLOT_IN, -1, 1},
             {"dqkv", SLOT_OUT, .grad_of = "qkv"},
             {"y", SLOT_AUX}},
    .shapes = attn_bwd_shapes,
    .run = attn_bwd_run,
    .prepare = attn_bwd_prepare,
    .loss = attn_loss,
    .gpu_tol = attn_bwd_tol,
    .lists = {ATTN_SHAPES},
};

// ---------------------------------------------------------------- transpose
enum { TX, TY };

// style 0: a map in = [N, C, H, W] to tokens [N, HW, 1, C]; style 1: tokens in = [N, T, 1, D]
// to a map [N, D, k, T/k]
static void tr_shapes(const OpParams *p, Shape *s) {
    s[TX] = p->in;
    if (p->style == 0)
        s[TY] = (Shape){p->in.n, p->in.h * p->in.w, 1, p->in.c};
    else
        s[TY] = (Shape){p->in.n, p->in.w, p->k, p->in.c / p->k};
}
static void tr_run(const Backend *be, OpArgs *a) {
    be->transpose(&a->t[TX], &a->t[TY]);
}
static void tr_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    const Tensor *x = &a->t[TX];
    int A = x->c, B = x->h * x->w;
    for (int n = 0; n < x->n; n++)
        for (int i = 0; i < A; i++)
            for (int j = 0; j < B; j++)
                want[TY][((size_t)n * B + j) * A + i] = x->data[((size_t)n * A + i) * B + j];
    *done = 1u << TY;
}
static Tol exact(const OpParams *p, int slot) {
    (void)p, (void)slot;
    return OP_EXACT;
}

static const OpInst TR_SHAPES[] = {
    {"map 2x5x3x7 to tokens", {.in = {2, 5, 3, 7}}, 9300, 0, NULL},
    {"map 3x48x8x8 to tokens", {.in = {3, 48, 8, 8}}, 9310, 0, NULL},
    {"map 2x40x33x35 to tokens (partial tiles)", {.in = {2, 40, 33, 35}}, 9320, 0, NULL},
    {"tokens 2x64x1x48 to a map 8x8", {.in = {2, 64, 1, 48}, .k = 8, .style = 1}, 9330, 0, NULL},
    {"tokens 1x1x1x9 to a map 1x1", {.in = {1, 1, 1, 9}, .k = 1, .style = 1}, 9340, 0, NULL},
    {0},
};

const OpCase OPCASE_transpose = {
    .op = "transpose",
    .slot = {{"x", SLOT_IN, -1, 1}, {"y", SLOT_OUT}},
    .shapes = tr_shapes,
    .run = tr_run,
    .ref = tr_ref,
    .gpu_tol = exact,
    .lists = {TR_SHAPES},
};

// ---------------------------------------------------------------- broadcast add
enum { CX, CB, CY };              // bcast_add
enum { DDY, DDB, DB, DXX, DYY };  // bcast_add_bwd (b, x, y: the forward's, for the loss)

static void bc_shapes(const OpParams *p, Shape *s) {
    s[CX] = p->in, s[CB] = (Shape){1, p->in.c, p->in.h, p->in.w}, s[CY] = p->in;
}
static void bc_bwd_shapes(const OpParams *p, Shape *s) {
    Shape b = {1, p->in.c, p->in.h, p->in.w};
    s[DDY] = p->in, s[DDB] = b, s[DB] = b, s[DXX] = p->in, s[DYY] = p->in;
}
static void bc_run(const Backend *be, OpArgs *a) {
    be->bcast_add(&a->t[CX], &a->t[CB], &a->t[CY]);
}
static void bc_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    size_t P = tensor_numel(&a->t[CB]);
    for (int n = 0; n < a->t[CX].n; n++)
        for (size_t i = 0; i < P; i++)
            want[CY][n * P + i] = a->t[CX].data[n * P + i] + a->t[CB].data[i];
    *done = 1u << CY;
}
static void bc_bwd_run(const Backend *be, OpArgs *a) {
    be->bcast_add_bwd(&a->t[DDY], &a->t[DDB]);
}
static double bc_loss(OpArgs *a) {
    backend_cpu()->bcast_add(&a->t[DXX], &a->t[DB], &a->t[DYY]);
    return op_dot(&a->t[DDY], &a->t[DYY]);
}
static Tol bc_bwd_tol(const OpParams *p, int slot) {
    (void)slot;
    return op_sum_tol(p->in.n);
}

static const OpInst BC_SHAPES[] = {
    {"2x3x1x4 fd", {.in = {2, 3, 1, 4}}, 9400, 24, NULL},
    {"64x64x1x48 (positional embedding)", {.in = {64, 64, 1, 48}}, 9410, 0, NULL},
    {"1x5x3x7 (one image)", {.in = {1, 5, 3, 7}}, 9420, 0, NULL},
    {0},
};

const OpCase OPCASE_bcast_add = {
    .op = "bcast_add",
    .slot = {{"x", SLOT_IN, -1, 1}, {"b", SLOT_IN, -1, 1}, {"y", SLOT_OUT}},
    .shapes = bc_shapes,
    .run = bc_run,
    .ref = bc_ref,
    .gpu_tol = exact,
    .alias = {{"x", {"y"}}},
    .lists = {BC_SHAPES},
};

const OpCase OPCASE_bcast_add_bwd = {
    .op = "bcast_add_bwd",
    .slot = {{"dy", SLOT_IN, -1, 1},
             {"db", SLOT_ACC, .grad_of = "b"},
             {"b", SLOT_AUX, -1, 1},
             {"x", SLOT_AUX, -1, 1},
             {"y", SLOT_AUX}},
    .shapes = bc_bwd_shapes,
    .run = bc_bwd_run,
    .loss = bc_loss,
    .gpu_tol = bc_bwd_tol,
    .lists = {BC_SHAPES},
};

// ---------------------------------------------------------------- copy2d
enum { SS, SD };  // src [rows_src, lds], dst [rows_dst, ldd]

// in = {rows, cols, lds, ldd}; style: acc
static void c2_shapes(const OpParams *p, Shape *s) {
    s[SS] = (Shape){p->in.n + 1, p->in.h, 1, 1}, s[SD] = (Shape){p->in.n + 2, p->in.w, 1, 1};
}
static void c2_run(const Backend *be, OpArgs *a) {
    const Shape *in = &a->p->in;
    be->copy2d(a->t[SD].data, in->w, a->t[SS].data, in->h, in->n, in->c, a->p->style);
}
static void c2_ref(const OpArgs *a, float **want, double *ret, unsigned *done) {
    (void)ret;
    const Shape *in = &a->p->in;
    for (size_t i = 0; i < tensor_numel(&a->t[SD]); i++) want[SD][i] = a->t[SD].data[i];
    for (int r = 0; r < in->n; r++)
        for (int c = 0; c < in->c; c++) {
            float *d = &want[SD][(size_t)r * in->w + c];
            float s = a->t[SS].data[(size_t)r * in->h + c];
            *d = a->p->style ? *d + s : s;
        }
    *done = 1u << SD;
}

// a supernet's QKV weight rows to a subnet's and back; a block as wide as both; one row;
// an empty block (dst unchanged)
static const OpInst C2_SHAPES[] = {
    {"copy 32x48 of 64 into 48", {.in = {32, 48, 64, 48}}, 9500, 0, NULL},
    {"acc 32x48 of 48 into 64", {.in = {32, 48, 48, 64}, .style = 1}, 9510, 0, NULL},
    {"copy 7x9 of 9 into 9", {.in = {7, 9, 9, 9}}, 9520, 0, NULL},
    {"acc 1x5 of 6 into 8", {.in = {1, 5, 6, 8}, .style = 1}, 9530, 0, NULL},
    {"copy 0x0 of 4 into 4", {.in = {0, 0, 4, 4}}, 9540, 0, NULL},
    {0},
};

const OpCase OPCASE_copy2d = {
    .op = "copy2d",
    .slot = {{"src", SLOT_IN, -1, 1}, {"dst", SLOT_STATE, -1, 1}},
    .shapes = c2_shapes,
    .run = c2_run,
    .ref = c2_ref,
    .gpu_tol = exact,
    .lists = {C2_SHAPES},
};
