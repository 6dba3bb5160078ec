// CPU transformer ops: LayerNorm, the token-wise linear layer, the attention core, the
// per-image transpose between maps and tokens, and the broadcast add of a positional
// embedding (src/tensor/ops.def). Every reduction runs in a fixed order over a fixed
// partition (rows, images, (image, head) pairs or column blocks), never over the threads'
// share, so results do not depend on OMP_NUM_THREADS.
#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_gemm.h"
#include "core/error.h"

#define PAR_IF(n) if ((n) > 32768)

static size_t rows_of(const Tensor *x) {
    return (size_t)x->n * x->c * x->h;
}

// ---------------------------------------------------------------- LayerNorm
void cpu_layernorm_fwd(const Tensor *x, const float *gamma, const float *beta, Tensor *y,
                       float *mean, float *invstd, float eps) {
    DNA_CHECK(tensor_same_shape(x, y), "check the token widths of the layer",
              "layernorm shapes do not match: x [%d,%d,%d,%d] y [%d,%d,%d,%d]", x->n, x->c, x->h,
              x->w, y->n, y->c, y->h, y->w);
    size_t R = rows_of(x);
    int D = x->w;
#pragma omp parallel for schedule(static) PAR_IF(R *D)
    for (size_t r = 0; r < R; r++) {
        const float *p = x->data + r * D;
        float *q = y->data + r * D;
        double s = 0.0, ss = 0.0;
        for (int i = 0; i < D; i++) s += p[i];
        double mu = s / D;
        for (int i = 0; i < D; i++) ss += (p[i] - mu) * (p[i] - mu);
        float m = (float)mu, is = (float)(1.0 / sqrt(ss / D + eps));
        for (int i = 0; i < D; i++) q[i] = (p[i] - m) * is * gamma[i] + beta[i];
        if (mean) mean[r] = m;
        if (invstd) invstd[r] = is;
    }
}

enum { LN_COLS = 64 };  // columns per block of the parameter gradients

void cpu_layernorm_bwd(const Tensor *x, const float *gamma, const float *mean, const float *invstd,
                       const Tensor *dy, Tensor *dx, float *dgamma, float *dbeta) {
    DNA_CHECK(tensor_same_shape(x, dy), "check the token widths of the layer",
              "layernorm backward shapes do not match: x [%d,%d,%d,%d] dy [%d,%d,%d,%d]", x->n,
              x->c, x->h, x->w, dy->n, dy->c, dy->h, dy->w);
    size_t R = rows_of(x);
    int D = x->w;
    if (dx) {
#pragma omp parallel for schedule(static) PAR_IF(R *D)
        for (size_t r = 0; r < R; r++) {
            const float *p = x->data + r * D, *g = dy->data + r * D;
            float *q = dx->data + r * D, m = mean[r], is = invstd[r];
            double a = 0.0, b = 0.0;
            for (int i = 0; i < D; i++) {
                double gi = (double)g[i] * gamma[i];
                a += gi;
                b += gi * ((p[i] - m) * is);
            }
            float fa = (float)(a / D), fb = (float)(b / D);
            for (int i = 0; i < D; i++) q[i] = is * (g[i] * gamma[i] - fa - (p[i] - m) * is * fb);
        }
    }
    if (!dgamma && !dbeta) return;
    int blocks = (D + LN_COLS - 1) / LN_COLS;
#pragma omp parallel for schedule(static) PAR_IF(R *D)
    for (int bk = 0; bk < blocks; bk++) {
        int c0 = bk * LN_COLS, c1 = c0 + LN_COLS < D ? c0 + LN_COLS : D;
        double sg[LN_COLS] = {0}, sb[LN_COLS] = {0};
        for (size_t r = 0; r < R; r++) {
            const float *p = x->data + r * D, *g = dy->data + r * D;
            float m = mean[r], is = invstd[r];
            for (int i = c0; i < c1; i++) {
                sg[i - c0] += g[i] * ((p[i] - m) * is);
                sb[i - c0] += g[i];
            }
        }
        for (int i = c0; i < c1; i++) {
            if (dgamma) dgamma[i] += (float)sg[i - c0];
            if (dbeta) dbeta[i] += (float)sb[i - c0];
        }
    }
}

// ---------------------------------------------------------------- token-wise linear
void cpu_tok_linear_fwd(const Tensor *x, const Tensor *w, const float *b, Tensor *y) {
    tok_linear_check_shapes(x, w, y, "forward");
    int T = x->c * x->h, Ni = x->w, O = w->n;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < x->n; n++) {
        float *yn = y->data + (size_t)n * T * O;
        cpu_sgemm(GEMM_N, GEMM_T, T, O, Ni, 1.0f, x->data + (size_t)n * T * Ni, Ni, w->data, Ni,
                  0.0f, yn, O);
        if (b)
            for (int t = 0; t < T; t++)
                for (int o = 0; o < O; o++) yn[(size_t)t * O + o] += b[o];
    }
}

enum { TL_ROWS = 16 };  // rows of dw per block: a fixed partition, whatever the threads

void cpu_tok_linear_bwd(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                        float *db) {
    tok_linear_check_shapes(x, w, dy, "backward");
    int T = x->c * x->h, Ni = x->w, O = w->n;
    int R = x->n * T;
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < x->n; n++)
            cpu_sgemm(GEMM_N, GEMM_N, T, Ni, O, 1.0f, dy->data + (size_t)n * T * O, O, w->data, Ni,
                      0.0f, dx->data + (size_t)n * T * Ni, Ni);
    }
    if (!dw && !db) return;
    int blocks = (O + TL_ROWS - 1) / TL_ROWS;
#pragma omp parallel for schedule(static)
    for (int bk = 0; bk < blocks; bk++) {
        int o0 = bk * TL_ROWS, no = O - o0 < TL_ROWS ? O - o0 : TL_ROWS;
        // dw[o0 .. o0+no) += dy[:, o0 ..]^T x over all rows, summed apart first: GEMM's
        // beta = 1 would add the partial sums of its K blocks to dw's value one by one
        if (dw) {
            float *part = cpu_scratch(0, (size_t)no * Ni), *d = dw->data + (size_t)o0 * Ni;
            cpu_sgemm(GEMM_T, GEMM_N, no, Ni, R, 1.0f, dy->data + o0, O, x->data, Ni, 0.0f, part,
                      Ni);
            for (size_t i = 0; i < (size_t)no * Ni; i++) d[i] += part[i];
        }
        if (db)
            for (int o = o0; o < o0 + no; o++) {
                float s = 0.0f;
                for (int r = 0; r < R; r++) s += dy->data[(size_t)r * O + o];
                db[o] += s;
            }
    }
}

// ---------------------------------------------------------------- attention core
static void softmax_rows(float *s, int rows, int cols) {
    for (int i = 0; i < rows; i++) {
        float *r = s + (size_t)i * cols, mx = r[0], sum = 0.0f;
        for (int j = 1; j < cols; j++) mx = r[j] > mx ? r[j] : mx;
        for (int j = 0; j < cols; j++) sum += r[j] = cpu_exp(r[j] - mx);
        float inv = 1.0f / sum;
        for (int j = 0; j < cols; j++) r[j] *= inv;
    }
}

void cpu_attn_fwd(const Tensor *qkv, Tensor *y, Tensor *p, int heads) {
    int D = attn_check_shapes(qkv, y, heads, "forward"), T = y->c * y->h, dh = D / heads;
    float scale = 1.0f / sqrtf((float)dh);
    if (p)
        DNA_CHECK(p->n == y->n && p->c == heads && p->h == T && p->w == T,
                  "size the attention buffer [N, heads, T, T]",
                  "attention probabilities [%d,%d,%d,%d], want [%d,%d,%d,%d]", p->n, p->c, p->h,
                  p->w, y->n, heads, T, T);
    int jobs = y->n * heads;
#pragma omp parallel for schedule(static)
    for (int j = 0; j < jobs; j++) {
        int n = j / heads, h = j % heads;
        const float *q = qkv->data + (size_t)n * T * 3 * D + h * dh, *k = q + D, *v = q + 2 * D;
        float *s = p ? p->data + (size_t)j * T * T : cpu_scratch(0, (size_t)T * T);
        cpu_sgemm(GEMM_N, GEMM_T, T, T, dh, scale, q, 3 * D, k, 3 * D, 0.0f, s, T);
        softmax_rows(s, T, T);
        cpu_sgemm(GEMM_N, GEMM_N, T, dh, T, 1.0f, s, T, v, 3 * D, 0.0f,
                  y->data + (size_t)n * T * D + h * dh, D);
    }
}

void cpu_attn_bwd(const Tensor *qkv, const Tensor *p, const Tensor *dy, Tensor *dqkv, int heads) {
    int D = attn_check_shapes(qkv, dy, heads, "backward"), T = dy->c * dy->h, dh = D / heads;
    float scale = 1.0f / sqrtf((float)dh);
    DNA_CHECK(
        tensor_same_shape(qkv, dqkv) && p->n == dy->n && p->c == heads && p->h == T && p->w == T,
        "pass the forward's probabilities and a dqkv shaped like qkv",
        "attention backward: p [%d,%d,%d,%d] dqkv [%d,%d,%d,%d] for qkv [%d,%d,%d,%d]", p->n, p->c,
        p->h, p->w, dqkv->n, dqkv->c, dqkv->h, dqkv->w, qkv->n, qkv->c, qkv->h, qkv->w);
    int jobs = dy->n * heads;
#pragma omp parallel for schedule(static)
    for (int j = 0; j < jobs; j++) {
        int n = j / heads, h = j % heads;
        size_t off = (size_t)n * T * 3 * D + h * dh;
        const float *q = qkv->data + off, *k = q + D, *v = q + 2 * D;
        const float *pr = p->data + (size_t)j * T * T, *g = dy->data + (size_t)n * T * D + h * dh;
        float *dq = dqkv->data + off, *dk = dq + D, *dv = dq + 2 * D;
        float *ds = cpu_scratch(0, (size_t)T * T);
        // dP = dY V^T, then dS = P (dP - rowsum(dP P)), in place
        cpu_sgemm(GEMM_N, GEMM_T, T, T, dh, 1.0f, g, D, v, 3 * D, 0.0f, ds, T);
        for (int i = 0; i < T; i++) {
            float *r = ds + (size_t)i * T, dot = 0.0f;
            const float *pi = pr + (size_t)i * T;
            for (int m = 0; m < T; m++) dot += r[m] * pi[m];
            for (int m = 0; m < T; m++) r[m] = pi[m] * (r[m] - dot);
        }
        cpu_sgemm(GEMM_T, GEMM_N, T, dh, T, 1.0f, pr, T, g, D, 0.0f, dv, 3 * D);
        cpu_sgemm(GEMM_N, GEMM_N, T, dh, T, scale, ds, T, k, 3 * D, 0.0f, dq, 3 * D);
        cpu_sgemm(GEMM_T, GEMM_N, T, dh, T, scale, ds, T, q, 3 * D, 0.0f, dk, 3 * D);
    }
}

// ---------------------------------------------------------------- layout and broadcast
enum { TR_TILE = 32 };

void cpu_transpose(const Tensor *x, Tensor *y) {
    transpose_check_shapes(x, y);
    int A = x->c, B = x->h * x->w;
    int tiles_a = (A + TR_TILE - 1) / TR_TILE, tiles_b = (B + TR_TILE - 1) / TR_TILE;
    size_t jobs = (size_t)x->n * tiles_a * tiles_b;
#pragma omp parallel for schedule(static) PAR_IF((size_t)x->n *A *B)
    for (size_t j = 0; j < jobs; j++) {
        size_t n = j / ((size_t)tiles_a * tiles_b);
        int ta = (int)(j / tiles_b % tiles_a), tb = (int)(j % tiles_b);
        const float *p = x->data + n * A * B;
        float *q = y->data + n * A * B;
        int a1 = (ta + 1) * TR_TILE < A ? (ta + 1) * TR_TILE : A;
        int b1 = (tb + 1) * TR_TILE < B ? (tb + 1) * TR_TILE : B;
        for (int a = ta * TR_TILE; a < a1; a++)
            for (int b = tb * TR_TILE; b < b1; b++) q[(size_t)b * A + a] = p[(size_t)a * B + b];
    }
}

void cpu_bcast_add(const Tensor *x, const Tensor *b, Tensor *y) {
    bcast_check_shapes(x, b);
    size_t P = tensor_numel(b);
#pragma omp parallel for schedule(static) PAR_IF(P *(size_t)x->n)
    for (int n = 0; n < x->n; n++) {
        const float *p = x->data + n * P;
        float *q = y->data + n * P;
        for (size_t i = 0; i < P; i++) q[i] = p[i] + b->data[i];
    }
}

void cpu_bcast_add_bwd(const Tensor *dy, Tensor *db) {
    bcast_check_shapes(dy, db);
    size_t P = tensor_numel(db);
#pragma omp parallel for schedule(static) PAR_IF(P *(size_t)dy->n)
    for (size_t i = 0; i < P; i++) {
        float s = 0.0f;
        for (int n = 0; n < dy->n; n++) s += dy->data[n * P + i];
        db->data[i] += s;
    }
}

void cpu_copy2d(float *dst, int ldd, const float *src, int lds, int rows, int cols, int acc) {
    DNA_CHECK(rows >= 0 && cols >= 0 && cols <= ldd && cols <= lds,
              "slice a block no wider than either matrix",
              "copy2d of %d x %d between row strides %d and %d", rows, cols, lds, ldd);
#pragma omp parallel for schedule(static) PAR_IF((size_t)rows *cols)
    for (int r = 0; r < rows; r++) {
        float *d = dst + (size_t)r * ldd;
        const float *s = src + (size_t)r * lds;
        if (acc)
            for (int c = 0; c < cols; c++) d[c] += s[c];
        else
            memcpy(d, s, sizeof(float) * (size_t)cols);
    }
}
