// Transformer kernels: LayerNorm over rows (forward, backward), column sums for the
// parameter gradients (LayerNorm's gamma/beta, a token-wise linear layer's bias), the
// attention softmax and its backward over rows of T scores, the per-image transpose, the
// broadcast add and the strided block copy of a weight slice. Same formulas as
// src/backend/cpu/cpu_vit.c. Row kernels give one warp to a row and sum in double across
// its lanes with a butterfly, so every lane holds the same sum; column sums go in two passes
// (partial sums per chunk of rows in double, then the chunks in order), never atomics, so
// results repeat bit for bit.
#include "common.cuh"

enum { COL_TILE = 32, COL_LANES = DK_BLOCK / COL_TILE };

__device__ __forceinline__ double warp_allsum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_allmax(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Warp-per-row loop: every lane of a warp gets the same row, so the warp's shuffles match.
#define WARP_ROW_LOOP(r, rows)                                                             \
    for (size_t r = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < (rows); \
         r += (size_t)gridDim.x * (blockDim.x / 32))

// y = (x - mean) invstd gamma + beta per row of d values; mean/invstd written when not NULL,
// y skipped when NULL (statistics only). gamma/beta NULL: 1 and 0.
__global__ void k_ln_fwd(const float *x, const float *gamma, const float *beta, float *y,
                         float *mean, float *invstd, size_t rows, int d, float eps) {
    int lane = threadIdx.x & 31;
    WARP_ROW_LOOP(r, rows) {
        const float *p = x + r * d;
        double s = 0.0;
        for (int i = lane; i < d; i += 32) s += p[i];
        double mu = warp_allsum(s) / d;
        double q = 0.0;
        for (int i = lane; i < d; i += 32) {
            double dv = (double)p[i] - mu;
            q += dv * dv;
        }
        double var = warp_allsum(q) / d;
        float m = (float)mu, is = (float)(1.0 / sqrt(var + (double)eps));
        if (lane == 0) {
            if (mean) mean[r] = m;
            if (invstd) invstd[r] = is;
        }
        if (y) {
            __syncwarp();  // every lane has read its part of the row (y may alias x)
            float *q2 = y + r * d;
            for (int i = lane; i < d; i += 32) {
                float v = (p[i] - m) * is;
                q2[i] = v * (gamma ? gamma[i] : 1.0f) + (beta ? beta[i] : 0.0f);
            }
        }
    }
}

// dx = invstd (g dy - mean(g dy) - xhat mean(g dy xhat)) per row, overwritten; the sums come
// before any write, so dx may alias dy or x.
__global__ void k_ln_bwd_dx(const float *x, const float *gamma, const float *mean,
                            const float *invstd, const float *dy, float *dx, size_t rows, int d) {
    int lane = threadIdx.x & 31;
    WARP_ROW_LOOP(r, rows) {
        const float *p = x + r * d, *e = dy + r * d;
        float m = mean[r], is = invstd[r];
        double a = 0.0, b = 0.0;
        for (int i = lane; i < d; i += 32) {
            float gd = e[i] * (gamma ? gamma[i] : 1.0f);
            a += gd;
            b += (double)gd * ((p[i] - m) * is);
        }
        float ma = (float)(warp_allsum(a) / d), mb = (float)(warp_allsum(b) / d);
        __syncwarp();
        float *q = dx + r * d;
        for (int i = lane; i < d; i += 32) {
            float gd = e[i] * (gamma ? gamma[i] : 1.0f), xh = (p[i] - m) * is;
            q[i] = is * (gd - ma - xh * mb);
        }
    }
}

// Pass 1 of the column sums of a [rows, cols]: block (bx, by) covers columns bx*32 .. +31 and
// rows by*chunk .. +chunk-1, eight row lanes of 32 columns, and writes part[by][0][j] = sum
// of a and, with x, part[by][1][j] = sum of a (x - mean[r]) invstd[r] (double).
__global__ void k_col_part(const float *a, const float *x, const float *mean, const float *invstd,
                           int rows, int cols, int chunk, double *part) {
    __shared__ double sh[2][COL_LANES][COL_TILE];
    int tx = threadIdx.x % COL_TILE, ty = threadIdx.x / COL_TILE;
    int j = blockIdx.x * COL_TILE + tx;
    int r0 = blockIdx.y * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
    double s0 = 0.0, s1 = 0.0;
    if (j < cols)
        for (int r = r0 + ty; r < r1; r += COL_LANES) {
            float v = a[(size_t)r * cols + j];
            s0 += v;
            if (x) s1 += (double)v * ((x[(size_t)r * cols + j] - mean[r]) * invstd[r]);
        }
    sh[0][ty][tx] = s0;
    sh[1][ty][tx] = s1;
    __syncthreads();
    if (ty == 0 && j < cols) {
        double t0 = 0.0, t1 = 0.0;
        for (int l = 0; l < COL_LANES; l++) t0 += sh[0][l][tx], t1 += sh[1][l][tx];
        double *o = part + (size_t)blockIdx.y * 2 * cols;
        o[j] = t0;
        o[cols + j] = t1;
    }
}

// Pass 2: acc0[j] += sum over chunks of part[.][0][j], acc1 likewise with part[.][1][j]
// (either may be NULL).
__global__ void k_col_finish(const double *part, int parts, int cols, float *acc0, float *acc1) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    double t0 = 0.0, t1 = 0.0;
    for (int p = 0; p < parts; p++) {
        t0 += part[(size_t)p * 2 * cols + j];
        t1 += part[(size_t)p * 2 * cols + cols + j];
    }
    if (acc0) acc0[j] += (float)t0;
    if (acc1) acc1[j] += (float)t1;
}

// Rows of t values: row r is at base + (r / t) stride + (r % t) t (the t query rows of one
// image's [t, t] block, images `stride` floats apart).
__device__ __forceinline__ size_t att_row(size_t r, int t, size_t stride) {
    return (r / t) * stride + (r % t) * (size_t)t;
}

// In place: p = softmax of each row (the row's maximum subtracted)
__global__ void k_softmax_rows(float *p, size_t rows, int t, size_t stride) {
    int lane = threadIdx.x & 31;
    WARP_ROW_LOOP(r, rows) {
        float *q = p + att_row(r, t, stride);
        float mx = -INFINITY;
        for (int i = lane; i < t; i += 32) mx = fmaxf(mx, q[i]);
        mx = warp_allmax(mx);
        double s = 0.0;
        for (int i = lane; i < t; i += 32) {
            float e = expf(q[i] - mx);
            q[i] = e;
            s += e;
        }
        float inv = (float)(1.0 / warp_allsum(s));
        for (int i = lane; i < t; i += 32) q[i] *= inv;
    }
}

// In place on dp: ds = p (dp - sum(dp p)) per row; p and dp rows are laid out as att_row
// says, each with its own image stride.
__global__ void k_softmax_bwd_rows(const float *p, size_t pstride, float *dp, size_t dstride,
                                   size_t rows, int t) {
    int lane = threadIdx.x & 31;
    WARP_ROW_LOOP(r, rows) {
        const float *a = p + att_row(r, t, pstride);
        float *q = dp + att_row(r, t, dstride);
        double s = 0.0;
        for (int i = lane; i < t; i += 32) s += (double)q[i] * a[i];
        float dot = (float)warp_allsum(s);
        __syncwarp();
        for (int i = lane; i < t; i += 32) q[i] = a[i] * (q[i] - dot);
    }
}

// y [n, b, a] = x [n, a, b] per image, through a 32 x 32 tile (padded against bank conflicts):
// eight rows of 32 threads, four passes each way. grid.x walks the tiles, grid.y the images.
__global__ void k_transpose(const float *x, float *y, int n, int a, int b) {
    __shared__ float tile[32][33];
    int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
    int ta = (a + 31) / 32, tb = (b + 31) / 32;
    size_t tiles = (size_t)ta * tb, img = (size_t)a * b;
    for (size_t im = blockIdx.y; im < (size_t)n; im += gridDim.y)
        for (size_t tl = blockIdx.x; tl < tiles; tl += gridDim.x) {
            int i0 = (int)(tl / tb) * 32, j0 = (int)(tl % tb) * 32;
            const float *xs = x + im * img;
            float *ys = y + im * img;
            for (int k = ty; k < 32; k += 8) {
                int i = i0 + k, j = j0 + tx;
                if (i < a && j < b) tile[k][tx] = xs[(size_t)i * b + j];
            }
            __syncthreads();
            for (int k = ty; k < 32; k += 8) {
                int j = j0 + k, i = i0 + tx;
                if (j < b && i < a) ys[(size_t)j * a + i] = tile[tx][k];
            }
            __syncthreads();  // the tile is rewritten next
        }
}

// y[i] = x[i] + b[i % per]; y may alias x
__global__ void k_bcast_add(const float *x, const float *b, float *y, size_t n, size_t per) {
    DK_FLAT_LOOP(i, n) y[i] = x[i] + b[i % per];
}

// dst[r ldd + c] = src[r lds + c] (acc 0) or += it (acc 1): grid.y walks the rows
__global__ void k_copy2d(float *dst, int ldd, const float *src, int lds, size_t rows, int cols,
                         int acc) {
    DK_PLANE_LOOP(r, rows) {
        float *d = dst + r * ldd;
        const float *q = src + r * lds;
        if (acc)
            DK_IN_PLANE_LOOP(c, cols) d[c] += q[c];
        else
            DK_IN_PLANE_LOOP(c, cols) d[c] = q[c];
    }
}

// blocks for warp-per-row kernels
static unsigned row_blocks(size_t rows) {
    size_t b = (rows + DK_BLOCK / 32 - 1) / (DK_BLOCK / 32);
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

// chunks of rows of the column sums: at least 64 rows each, at most 256 chunks; fixed by the
// shape alone, so the sums' order does not depend on the GPU
static int col_parts(int rows) {
    int p = (rows + 63) / 64;
    return p < 1 ? 1 : p > 256 ? 256 : p;
}

extern "C" {

cudaError_t dk_layernorm_fwd(const float *x, const float *gamma, const float *beta, float *y,
                             float *mean, float *invstd, size_t rows, int d, float eps,
                             cudaStream_t s) {
    if (rows && d > 0)
        k_ln_fwd<<<row_blocks(rows), DK_BLOCK, 0, s>>>(x, gamma, beta, y, mean, invstd, rows, d,
                                                       eps);
    return cudaGetLastError();
}

cudaError_t dk_layernorm_bwd_dx(const float *x, const float *gamma, const float *mean,
                                const float *invstd, const float *dy, float *dx, size_t rows, int d,
                                cudaStream_t s) {
    if (rows && d > 0)
        k_ln_bwd_dx<<<row_blocks(rows), DK_BLOCK, 0, s>>>(x, gamma, mean, invstd, dy, dx, rows, d);
    return cudaGetLastError();
}

size_t dk_col_sums_scratch_bytes(int rows, int cols) {
    return sizeof(double) * 2 * (size_t)col_parts(rows) * (size_t)(cols > 0 ? cols : 0);
}

cudaError_t dk_col_sums_acc(const float *a, const float *x, const float *mean, const float *invstd,
                            int rows, int cols, float *acc0, float *acc1, void *scratch,
                            cudaStream_t s) {
    if (rows <= 0 || cols <= 0 || (!acc0 && !acc1)) return cudaGetLastError();
    int parts = col_parts(rows), chunk = (rows + parts - 1) / parts;
    dim3 grid((unsigned)((cols + COL_TILE - 1) / COL_TILE), (unsigned)parts);
    k_col_part<<<grid, DK_BLOCK, 0, s>>>(a, acc1 ? x : NULL, mean, invstd, rows, cols, chunk,
                                         (double *)scratch);
    k_col_finish<<<(cols + DK_BLOCK - 1) / DK_BLOCK, DK_BLOCK, 0, s>>>((const double *)scratch,
                                                                       parts, cols, acc0, acc1);
    return cudaGetLastError();
}

cudaError_t dk_softmax_rows(float *p, size_t rows, int t, size_t stride, cudaStream_t s) {
    if (rows && t > 0) k_softmax_rows<<<row_blocks(rows), DK_BLOCK, 0, s>>>(p, rows, t, stride);
    return cudaGetLastError();
}

cudaError_t dk_softmax_bwd_rows(const float *p, size_t pstride, float *dp, size_t dstride,
                                size_t rows, int t, cudaStream_t s) {
    if (rows && t > 0)
        k_softmax_bwd_rows<<<row_blocks(rows), DK_BLOCK, 0, s>>>(p, pstride, dp, dstride, rows, t);
    return cudaGetLastError();
}

cudaError_t dk_transpose(const float *x, float *y, int n, int a, int b, cudaStream_t s) {
    if (n <= 0 || a <= 0 || b <= 0) return cudaGetLastError();
    size_t tiles = (size_t)((a + 31) / 32) * (size_t)((b + 31) / 32);
    unsigned gx = (unsigned)(tiles < 8192 ? tiles : 8192);
    unsigned gy = (unsigned)(n < 65535 ? n : 65535);
    k_transpose<<<dim3(gx, gy), DK_BLOCK, 0, s>>>(x, y, n, a, b);
    return cudaGetLastError();
}

cudaError_t dk_bcast_add(const float *x, const float *b, float *y, size_t n, size_t per,
                         cudaStream_t s) {
    if (n && per) k_bcast_add<<<dk_flat_blocks(n), DK_BLOCK, 0, s>>>(x, b, y, n, per);
    return cudaGetLastError();
}

cudaError_t dk_copy2d(float *dst, int ldd, const float *src, int lds, int rows, int cols, int acc,
                      cudaStream_t s) {
    if (rows > 0 && cols > 0) {
        DkPlaneGrid pg = dk_plane_grid((size_t)rows, cols);
        k_copy2d<<<pg.grid, pg.block, 0, s>>>(dst, ldd, src, lds, (size_t)rows, cols, acc);
    }
    return cudaGetLastError();
}

}  // extern "C"
