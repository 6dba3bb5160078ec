// Checked 64-bit arithmetic for counts that grow as products (a cell's paths are ops^layers):
// an overflow is a fatal error naming what was counted, never a wrapped count.
#pragma once
#include <stdint.h>

#include "core/error.h"

// a * b, or fatal naming `what` when it does not fit in int64_t.
static inline int64_t checked_mul_i64(int64_t a, int64_t b, const char *what) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        dna_fatal(__FILE__, __LINE__, "use a smaller search space",
                  "%s: %lld x %lld does not fit in 64 bits", what, (long long)a, (long long)b);
    return r;
}

static inline int64_t checked_add_i64(int64_t a, int64_t b, const char *what) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        dna_fatal(__FILE__, __LINE__, "use a smaller search space",
                  "%s: %lld + %lld does not fit in 64 bits", what, (long long)a, (long long)b);
    return r;
}

// base^exp when it is at most `cap`, else -1 (no overflow on the way: stops past cap).
static inline int64_t checked_pow_capped(int64_t base, int exp, int64_t cap) {
    int64_t r = 1;
    for (int i = 0; i < exp; i++)
        if (__builtin_mul_overflow(r, base, &r) || r > cap) return -1;
    return r;
}
