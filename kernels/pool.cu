// Global average pooling (SE's squeeze, the head's pool): forward one warp per plane,
// backward accumulating into dx as the CPU backend does (the pooled branch always joins
// another one).
#include "common.cuh"

__global__ void k_gap_fwd(const float *x, float *y, size_t planes, int hw) {
    size_t warps = (size_t)gridDim.x * (blockDim.x / 32);
    int lane = threadIdx.x & 31;
    for (size_t pl = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; pl < planes;
         pl += warps) {
        const float *p = x + pl * hw;
        float s = 0.0f;
        for (int i = lane; i < hw; i += 32) s += p[i];
        s = dk_warp_sum(s);
        if (lane == 0) y[pl] = s / (float)hw;
    }
}

__global__ void k_gap_bwd(const float *dy, float *dx, size_t planes, int hw) {
    DK_PLANE_LOOP(pl, planes) {
        float v = dy[pl] / (float)hw, *q = dx + pl * hw;
        DK_IN_PLANE_LOOP(i, hw) q[i] += v;
    }
}

extern "C" {

cudaError_t dk_gap_fwd(const float *x, float *y, size_t planes, int hw, cudaStream_t s) {
    if (planes && hw > 0) {
        size_t b = (planes + DK_BLOCK / 32 - 1) / (DK_BLOCK / 32);
        k_gap_fwd<<<(unsigned)(b > 65535 ? 65535 : b), DK_BLOCK, 0, s>>>(x, y, planes, hw);
    }
    return cudaGetLastError();
}

cudaError_t dk_gap_bwd(const float *dy, float *dx, size_t planes, int hw, cudaStream_t s) {
    if (planes && hw > 0) {
        DkPlaneGrid pg = dk_plane_grid(planes, hw);
        k_gap_bwd<<<pg.grid, pg.block, 0, s>>>(dy, dx, planes, hw);
    }
    return cudaGetLastError();
}

}  // extern "C"
