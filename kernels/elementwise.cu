// Elementwise kernels: fill, activations, add, axpy, a linear layer's bias and its
// gradient, and the SE channel gate. Same formulas as src/backend/cpu/cpu_elementwise.c;
// every kernel reads and writes element i only, so outputs may alias inputs.
#include "common.cuh"

__global__ void k_fill(float *d, float v, size_t n) {
    DK_FLAT_LOOP(i, n) d[i] = v;
}

__global__ void k_act_fwd(int act, const float *x, float *y, size_t n) {
    DK_FLAT_LOOP(i, n) y[i] = dk_act(act, x[i]);
}

__global__ void k_act_bwd(int act, const float *x, const float *dy, float *dx, size_t n) {
    DK_FLAT_LOOP(i, n) dx[i] = dy[i] * dk_act_grad(act, x[i]);
}

__global__ void k_add(const float *a, const float *b, float *y, size_t n) {
    DK_FLAT_LOOP(i, n) y[i] = a[i] + b[i];
}

__global__ void k_axpy(float alpha, const float *x, float *y, size_t n) {
    DK_FLAT_LOOP(i, n) y[i] += alpha * x[i];
}

__global__ void k_add_bias_rows(float *y, const float *b, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    DK_FLAT_LOOP(i, n) y[i] += b[i % (size_t)cols];
}

// one thread per column; consecutive threads read consecutive columns of a row
__global__ void k_sum_rows_acc(const float *dy, float *db, int rows, int cols) {
    int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= cols) return;
    float s = 0.0f;
    for (int n = 0; n < rows; n++) s += dy[(size_t)n * cols + o];
    db[o] += s;
}

__global__ void k_scale_ch_fwd(const float *x, const float *g, float *y, size_t planes, int hw) {
    DK_PLANE_LOOP(pl, planes) {
        float v = g[pl];
        const float *p = x + pl * hw;
        float *q = y + pl * hw;
        DK_IN_PLANE_LOOP(i, hw) q[i] = p[i] * v;
    }
}

// One warp per plane: the gate's gradient is summed before dx is written, so dx may alias x.
__global__ void k_scale_ch_bwd(const float *x, const float *g, const float *dy, float *dx,
                               float *dg, size_t planes, int hw) {
    size_t warps = (size_t)gridDim.x * (blockDim.x / 32);
    int lane = threadIdx.x & 31;
    for (size_t pl = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; pl < planes;
         pl += warps) {
        const float *p = x + pl * hw, *d = dy + pl * hw;
        if (dg) {
            float s = 0.0f;
            for (int i = lane; i < hw; i += 32) s += d[i] * p[i];
            s = dk_warp_sum(s);
            if (lane == 0) dg[pl] = s;
        }
        if (dx) {
            __syncwarp();
            float v = g[pl], *q = dx + pl * hw;
            for (int i = lane; i < hw; i += 32) q[i] = d[i] * v;
        }
    }
}

// blocks for warp-per-plane kernels
static unsigned warp_blocks(size_t planes) {
    size_t b = (planes + DK_BLOCK / 32 - 1) / (DK_BLOCK / 32);
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

extern "C" {

cudaError_t dk_fill(float *dst, float v, size_t n, cudaStream_t s) {
    if (n) k_fill<<<dk_flat_blocks(n), DK_BLOCK, 0, s>>>(dst, v, n);
    return cudaGetLastError();
}

cudaError_t dk_act_fwd(int act, const float *x, float *y, size_t n, cudaStream_t s) {
    if (n) k_act_fwd<<<dk_flat_blocks(n), DK_BLOCK, 0, s>>>(act, x, y, n);
    return cudaGetLastError();
}

cudaError_t dk_act_bwd(int act, const float *x, const float *dy, float *dx, size_t n,
                       cudaStream_t s) {
    if (n) k_act_bwd<<<dk_flat_blocks(n), DK_BLOCK, 0, s>>>(act, x, dy, dx, n);
    return cudaGetLastError();
}

cudaError_t dk_add(const float *a, const float *b, float *y, size_t n, cudaStream_t s) {
    if (n) k_add<<<dk_flat_blocks(n), DK_BLOCK, 0, s>>>(a, b, y, n);
    return cudaGetLastError();
}

cudaError_t dk_axpy(float alpha, const float *x, float *y, size_t n, cudaStream_t s) {
    if (n) k_axpy<<<dk_flat_blocks(n), DK_BLOCK, 0, s>>>(alpha, x, y, n);
    return cudaGetLastError();
}

cudaError_t dk_add_bias_rows(float *y, const float *b, int rows, int cols, cudaStream_t s) {
    size_t n = (size_t)rows * cols;
    if (n) k_add_bias_rows<<<dk_flat_blocks(n), DK_BLOCK, 0, s>>>(y, b, rows, cols);
    return cudaGetLastError();
}

cudaError_t dk_sum_rows_acc(const float *dy, float *db, int rows, int cols, cudaStream_t s) {
    if (cols > 0)
        k_sum_rows_acc<<<(cols + DK_BLOCK - 1) / DK_BLOCK, DK_BLOCK, 0, s>>>(dy, db, rows, cols);
    return cudaGetLastError();
}

cudaError_t dk_scale_ch_fwd(const float *x, const float *g, float *y, size_t planes, int hw,
                            cudaStream_t s) {
    if (planes && hw > 0) {
        DkPlaneGrid pg = dk_plane_grid(planes, hw);
        k_scale_ch_fwd<<<pg.grid, pg.block, 0, s>>>(x, g, y, planes, hw);
    }
    return cudaGetLastError();
}

cudaError_t dk_scale_ch_bwd(const float *x, const float *g, const float *dy, float *dx, float *dg,
                            size_t planes, int hw, cudaStream_t s) {
    if (planes && hw > 0 && (dx || dg))
        k_scale_ch_bwd<<<warp_blocks(planes), DK_BLOCK, 0, s>>>(x, g, dy, dx, dg, planes, hw);
    return cudaGetLastError();
}

}  // extern "C"
