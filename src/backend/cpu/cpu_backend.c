// The CPU backend's table, its memory functions and per-thread scratch. OpenBLAS runs on
// one thread per call: parallelism comes from OpenMP loops around the calls, so that the
// two thread pools never fight over the cores.
#include <omp.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "backend/backend.h"
#include "backend/cpu/cpu.h"
#include "backend/cpu/cpu_gemm.h"
#include "core/error.h"

enum { MAX_THREADS = CPU_MAX_THREADS, SCRATCH_SLOTS = 4 };

typedef struct {
    float *p;
    size_t n;
} Scratch;

// Per-thread scratch buffers are the backend's only state; they are sized by use and
// released at exit.
static Scratch scratch[MAX_THREADS][SCRATCH_SLOTS];

static void scratch_release(void) {
    for (int t = 0; t < MAX_THREADS; t++)
        for (int s = 0; s < SCRATCH_SLOTS; s++) free(scratch[t][s].p);
}

float *cpu_scratch(int slot, size_t floats) {
    int t = omp_get_thread_num();
    DNA_CHECK(t < MAX_THREADS && slot < SCRATCH_SLOTS, "set OMP_NUM_THREADS to at most 256",
              "thread %d / scratch slot %d out of range", t, slot);
    Scratch *s = &scratch[t][slot];
    if (s->n < floats) {
        free(s->p);
        s->p = dna_malloc(floats * sizeof(float));
        s->n = floats;
    }
    return s->p;
}

int cpu_nthreads(void) {
    int n = omp_get_max_threads();
    return n < CPU_MAX_THREADS ? n : CPU_MAX_THREADS;
}

static void *cpu_alloc(size_t bytes) {
    // 64-byte alignment for AVX loads; zeroed as the interface promises.
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    DNA_CHECK(p, "reduce the batch size or the model", "out of memory allocating %zu bytes", bytes);
    memset(p, 0, rounded);
    return p;
}
static void cpu_free(void *p) {
    free(p);
}
static void cpu_memcpy(void *dst, const void *src, size_t bytes) {
    if (dst != src) memcpy(dst, src, bytes);
}
static void cpu_upload_wait(void) {}  // cpu_memcpy is done when it returns
static void cpu_fill(float *dst, float v, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dst[i] = v;
}

static const char *cpu_lib_version(void) {
    return cpu_gemm_library();
}

static const Backend CPU = {
    .name = "cpu",
    .lib_version = cpu_lib_version,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .copy = cpu_memcpy,
    .fill = cpu_fill,
    .host_alloc = cpu_alloc,
    .host_free = cpu_free,
    .upload_async = cpu_memcpy,
    .upload_wait = cpu_upload_wait,
#define OP(kind, ret, op, params) .op = cpu_##op,
#include "tensor/ops.def"
#undef OP
};

// Denormal floats are flushed to zero (FTZ) and read as zero (DAZ) on every thread of the
// backend, as TensorFlow's thread pools and Intel's compilers do. A vectorised swish computes
// the clamped branch of cpu_exp for all lanes and blends it away; that branch multiplies by
// a denormal constant, and each such vector costs a microcode assist: BN + swish ran 8x
// slower (doc/benchmarks.md, "Rating, second pass"). Results below 1.2e-38 in magnitude
// become 0, which no stage depends on. MXCSR is per thread and threads inherit it, so the
// calling thread and the OpenMP pool (started here if not yet) are both set.
static void flush_denormals(void) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ (bit 15) | DAZ (bit 6)
#pragma omp parallel num_threads(cpu_nthreads())
    _mm_setcsr(_mm_getcsr() | 0x8040);
#endif
}

const Backend *backend_cpu(void) {
    static int ready;  // one-time library set-up, not program state
    if (!ready) {
        flush_denormals();
        cpu_gemm_single_thread();
        atexit(scratch_release);
        ready = 1;
    }
    return &CPU;
}
