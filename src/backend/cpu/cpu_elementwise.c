// CPU elementwise ops, global average pool and the SE channel gate.
#include "backend/cpu/cpu.h"
#include "core/error.h"

#define PAR_IF(n) if ((n) > 32768)

void cpu_act_fwd(Act act, const Tensor *x, Tensor *y) {
    size_t n = tensor_numel(x);
    const float *p = x->data;
    float *q = y->data;
    switch (act) {
        case ACT_RELU:
#pragma omp parallel for simd schedule(static) PAR_IF(n)
            for (size_t i = 0; i < n; i++) q[i] = p[i] > 0.0f ? p[i] : 0.0f;
            break;
        case ACT_SWISH:
#pragma omp parallel for simd schedule(static) PAR_IF(n)
            for (size_t i = 0; i < n; i++) q[i] = p[i] * cpu_sigmoid(p[i]);
            break;
        case ACT_SIGMOID:
#pragma omp parallel for simd schedule(static) PAR_IF(n)
            for (size_t i = 0; i < n; i++) q[i] = cpu_sigmoid(p[i]);
            break;
        case ACT_GELU:
#pragma omp parallel for schedule(static) PAR_IF(n)
            for (size_t i = 0; i < n; i++) q[i] = cpu_act(ACT_GELU, p[i]);
            break;
        default:
            memmove(q, p, n * sizeof(float));
    }
}

void cpu_act_bwd(Act act, const Tensor *x, const Tensor *dy, Tensor *dx) {
    size_t n = tensor_numel(x);
    const float *p = x->data, *g = dy->data;
    float *d = dx->data;
    switch (act) {
        case ACT_SWISH:
#pragma omp parallel for simd schedule(static) PAR_IF(n)
            for (size_t i = 0; i < n; i++) {
                float s = cpu_sigmoid(p[i]);
                d[i] = g[i] * s * (1.0f + p[i] * (1.0f - s));
            }
            break;
        default:
#pragma omp parallel for schedule(static) PAR_IF(n)
            for (size_t i = 0; i < n; i++) d[i] = g[i] * cpu_act_grad(act, p[i]);
    }
}

void cpu_add(const Tensor *a, const Tensor *b, Tensor *y) {
    size_t n = tensor_numel(a);
    const float *p = a->data, *q = b->data;
    float *r = y->data;
#pragma omp parallel for simd schedule(static) PAR_IF(n)
    for (size_t i = 0; i < n; i++) r[i] = p[i] + q[i];
}

void cpu_axpy(float alpha, const Tensor *x, Tensor *y) {
    size_t n = tensor_numel(x);
    const float *p = x->data;
    float *q = y->data;
#pragma omp parallel for simd schedule(static) PAR_IF(n)
    for (size_t i = 0; i < n; i++) q[i] += alpha * p[i];
}

void cpu_gap_fwd(const Tensor *x, Tensor *y) {
    size_t HW = (size_t)x->h * x->w, planes = (size_t)x->n * x->c;
#pragma omp parallel for schedule(static) PAR_IF(planes *HW)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *p = x->data + pl * HW;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (size_t i = 0; i < HW; i++) s += p[i];
        y->data[pl] = s / (float)HW;
    }
}

void cpu_gap_bwd(const Tensor *dy, Tensor *dx) {
    size_t HW = (size_t)dx->h * dx->w, planes = (size_t)dx->n * dx->c;
#pragma omp parallel for schedule(static) PAR_IF(planes *HW)
    for (size_t pl = 0; pl < planes; pl++) {
        float v = dy->data[pl] / (float)HW, *q = dx->data + pl * HW;
        for (size_t i = 0; i < HW; i++) q[i] += v;
    }
}

void cpu_scale_ch_fwd(const Tensor *x, const Tensor *g, Tensor *y) {
    size_t HW = (size_t)x->h * x->w, planes = (size_t)x->n * x->c;
    DNA_CHECK(tensor_numel(g) == planes, "the gate must be [N,C]",
              "scale_ch: gate has %zu values, "
              "x has %zu planes",
              tensor_numel(g), planes);
#pragma omp parallel for schedule(static) PAR_IF(planes *HW)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *p = x->data + pl * HW;
        float v = g->data[pl], *q = y->data + pl * HW;
        for (size_t i = 0; i < HW; i++) q[i] = p[i] * v;
    }
}

void cpu_scale_ch_bwd(const Tensor *x, const Tensor *g, const Tensor *dy, Tensor *dx, Tensor *dg) {
    size_t HW = (size_t)x->h * x->w, planes = (size_t)x->n * x->c;
#pragma omp parallel for schedule(static) PAR_IF(planes *HW)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *p = x->data + pl * HW, *gr = dy->data + pl * HW;
        float v = g->data[pl], s = 0.0f;
        if (dg) {
#pragma omp simd reduction(+ : s)
            for (size_t i = 0; i < HW; i++) s += gr[i] * p[i];
            dg->data[pl] = s;
        }
        if (dx) {
            float *q = dx->data + pl * HW;
            for (size_t i = 0; i < HW; i++) q[i] = gr[i] * v;
        }
    }
}
