// IEEE binary16 <-> binary32 conversion for feature shards: round to nearest even, subnormals,
// inf and nan (quieted, payload's top bits kept), overflow to inf. Done here rather than by
// HDF5 because HDF5's soft float conversion is an order of magnitude slower than this loop.
// Scalar functions are the portable reference; the _n loops use F16C when the build has it.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __F16C__
#include <immintrin.h>
#endif

static inline uint32_t half_f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float half_u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// Written as selects so GCC vectorises the loops below without F16C (given the build's
// -fno-trapping-math: the float op of the unselected branch must be allowed to run).
static inline float half_to_float(uint16_t h) {
    uint32_t em = h & 0x7fffu, sign = (uint32_t)(h & 0x8000u) << 16;
    // A subnormal half is em * 2^-24, exact in float; zero falls out of the same formula.
    uint32_t sub = half_f2u((float)em * 0x1p-24f);
    uint32_t norm = (em << 13) + (112u << 23);    // rebias exponent 15 -> 127
    uint32_t special = (em << 13) | 0x7f800000u;  // inf, or nan keeping its payload
    uint32_t r = em < 0x0400u ? sub : (em >= 0x7c00u ? special : norm);
    return half_u2f(r | sign);
}

static inline uint16_t half_from_float(float x) {
    uint32_t u = half_f2u(x), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    // |x| >= 2^16 (or inf/nan): after rounding, every finite value there is inf.
    uint32_t big = a > 0x7f800000u ? (0x7e00u | ((a >> 13) & 0x3ffu)) : 0x7c00u;
    // |x| < 2^-14: adding 0.5 makes the FPU align the mantissa to the half subnormal grid and
    // round it to nearest even; the low bits then hold the half's bit pattern.
    uint32_t sub = half_f2u(half_u2f(a) + 0.5f) - 0x3f000000u;
    // Normal: rebias, then add 0xfff + the lsb that survives: ties go to even. A carry out of
    // the mantissa correctly bumps the exponent, up to inf for values >= 65520.
    uint32_t norm = (a + 0xc8000fffu + ((a >> 13) & 1u)) >> 13;
    uint32_t r = a >= 0x47800000u ? big : (a < 0x38800000u ? sub : norm);
    return (uint16_t)(r | sign);
}

static inline void half_to_float_n(const uint16_t *restrict src, float *restrict dst, size_t n) {
    size_t i = 0;
#ifdef __F16C__
    for (; i < (n & ~(size_t)7); i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < n; i++) dst[i] = half_to_float(src[i]);
}

static inline void half_from_float_n(const float *restrict src, uint16_t *restrict dst, size_t n) {
    size_t i = 0;
#ifdef __F16C__
    for (; i < (n & ~(size_t)7); i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(dst + i), h);
    }
#endif
    for (; i < n; i++) dst[i] = half_from_float(src[i]);
}
