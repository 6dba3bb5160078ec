// The bench's architecture sample (see bench.h).
#include "nas/bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nas/arch.h"

enum { STREAM_BENCH_SAMPLE = 700, BENCH_POOL = 200 };

void bench_alloc(Bench *b, int n, int nblocks) {
    *b = (Bench){.n = n, .nblocks = nblocks};
    b->cell = dna_calloc((size_t)n * nblocks, sizeof(int));
    b->code = dna_calloc((size_t)n * nblocks, sizeof(int64_t));
    b->params = dna_calloc((size_t)n, sizeof(double));
    b->macs = dna_calloc((size_t)n, sizeof(double));
    b->top1 = dna_calloc((size_t)n, sizeof(double));
    b->seconds = dna_calloc((size_t)n, sizeof(double));
    for (int i = 0; i < n; i++) b->top1[i] = NAN;
}

void bench_free(Bench *b) {
    free(b->cell), free(b->code), free(b->params), free(b->macs), free(b->top1), free(b->seconds);
    *b = (Bench){0};
}

// One uniform draw over the space: per block, one (cell, path) of all its paths.
static void draw(const Space *sp, Rng *r, int *cell, int64_t *code) {
    for (int k = 0; k < sp->nblocks; k++) {
        int64_t u = rng_below(r, (uint32_t)space_block_paths(sp, k));
        int c = 0;
        while (u >= space_cell_paths(sp, k, c)) u -= space_cell_paths(sp, k, c++);
        cell[k] = c, code[k] = u;
    }
}

void bench_sample(const Space *sp, const EffNetCfg *t, int in_hw, int n, uint64_t seed, Bench *b) {
    int B = sp->nblocks;
    for (int k = 0; k < B; k++)
        DNA_CHECK(space_block_paths(sp, k) <= UINT32_MAX, "use fewer paths per block",
                  "bench: block %d has %lld paths, more than a 32-bit draw covers", k + 1,
                  (long long)space_block_paths(sp, k));
    long m = (long)n * BENCH_POOL;
    int *pc = dna_malloc(sizeof(int) * (size_t)m * B);
    int64_t *pk = dna_malloc(sizeof(int64_t) * (size_t)m * B);
    double *pp = dna_malloc(sizeof(double) * (size_t)m), lo = INFINITY, hi = -INFINITY;
    char *used = dna_calloc((size_t)m, 1);
    Rng root = rng_new(seed), r = rng_split(&root, STREAM_BENCH_SAMPLE);
    for (long i = 0; i < m; i++) {
        draw(sp, &r, pc + i * B, pk + i * B);
        Arch a;
        arch_from_choice(sp, t, in_hw, pc + i * B, pk + i * B, &a);
        pp[i] = (double)arch_params(&a);
        lo = fmin(lo, pp[i]), hi = fmax(hi, pp[i]);
    }
    bench_alloc(b, n, B);
    double w = (hi - lo) / n;
    for (int s = 0; s < n; s++) {
        double a0 = lo + s * w, a1 = s == n - 1 ? INFINITY : a0 + w, mid = a0 + 0.5 * w;
        long count = 0, pick = -1;
        for (long i = 0; i < m; i++) count += !used[i] && pp[i] >= a0 && pp[i] < a1;
        if (count > 0) {
            long j = (long)rng_below(&r, (uint32_t)count);
            for (long i = 0; i < m && pick < 0; i++)
                if (!used[i] && pp[i] >= a0 && pp[i] < a1 && j-- == 0) pick = i;
        } else {
            for (long i = 0; i < m; i++)
                if (!used[i] && (pick < 0 || fabs(pp[i] - mid) < fabs(pp[pick] - mid))) pick = i;
        }
        DNA_CHECK(pick >= 0, "lower [bench] n",
                  "bench: the space has fewer than %d distinct "
                  "architectures in %ld draws",
                  n, m);
        for (long i = 0; i < m; i++)  // every copy of the pick is used up
            if (!memcmp(pc + i * B, pc + pick * B, sizeof(int) * B) &&
                !memcmp(pk + i * B, pk + pick * B, sizeof(long) * B))
                used[i] = 1;
        memcpy(b->cell + (size_t)s * B, pc + pick * B, sizeof(int) * B);
        memcpy(b->code + (size_t)s * B, pk + pick * B, sizeof(int64_t) * B);
    }
    for (int s = 0; s < n; s++) {  // strata ascend, but the nearest-unused fallback may not
        Arch a;
        arch_from_choice(sp, t, in_hw, b->cell + (size_t)s * B, b->code + (size_t)s * B, &a);
        b->params[s] = (double)arch_params(&a), b->macs[s] = (double)arch_macs(&a);
    }
    free(pc), free(pk), free(pp), free(used);
}
